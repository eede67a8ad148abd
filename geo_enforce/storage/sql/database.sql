-- Hand the current database to ge_owner. Run as a superuser in each application database,
-- after roles.sql and after CREATE EXTENSION postgis; idempotent.
--
-- A database created by an older geo-enforce (everything owned by the superuser) is adopted:
-- its tables, views, sequences, functions and types in schema public, except those belonging
-- to an extension (PostGIS), are given to ge_owner so that migrations run as ge_owner.
DO $database$
DECLARE
  r record;
BEGIN
  EXECUTE format('ALTER DATABASE %I OWNER TO ge_owner', current_database());
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO ge_app', current_database());
  FOR r IN
    SELECT c.oid::regclass AS obj,
           CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                          WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND pg_get_userbyid(c.relowner) <> 'ge_owner'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO ge_owner', r.kind, r.obj);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS obj, CASE p.prokind WHEN 'p' THEN 'PROCEDURE'
                                                      WHEN 'a' THEN 'AGGREGATE'
                                                      ELSE 'FUNCTION' END AS kind
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> 'ge_owner'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO ge_owner', r.kind, r.obj);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS obj
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
      AND pg_get_userbyid(t.typowner) <> 'ge_owner'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                      AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO ge_owner', r.obj);
  END LOOP;
END
$database$;
