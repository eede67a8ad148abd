-- What ge_app may do, granted by ge_owner (or a superuser) after every migration; idempotent.
--
-- DML on every application table (records are never deleted: the tables' triggers refuse
-- DELETE and TRUNCATE), SELECT and INSERT only on audit_log, SELECT only on alembic_version.
-- ALTER DEFAULT PRIVILEGES gives tables added by later migrations the same grants the moment
-- ge_owner creates them; the loop below covers tables that already exist. Skipped when the
-- database has no ge_app role (a single-role deployment).
DO $grants$
DECLARE
  t record;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ge_app') THEN
    RAISE NOTICE 'no role ge_app in this cluster: grants skipped';
    RETURN;
  END IF;
  GRANT USAGE ON SCHEMA public TO ge_app;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ge_owner') THEN
    ALTER DEFAULT PRIVILEGES FOR ROLE ge_owner IN SCHEMA public
      GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ge_app;
    ALTER DEFAULT PRIVILEGES FOR ROLE ge_owner IN SCHEMA public
      GRANT USAGE, SELECT ON SEQUENCES TO ge_app;
  END IF;
  FOR t IN
    SELECT c.oid::regclass AS obj, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    IF t.relkind = 'S' THEN
      EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO ge_app', t.obj);
    ELSIF t.obj::text = 'audit_log' THEN
      EXECUTE format('REVOKE ALL ON TABLE %s FROM ge_app', t.obj);
      EXECUTE format('GRANT SELECT, INSERT ON TABLE %s TO ge_app', t.obj);
    ELSIF t.obj::text = 'alembic_version' THEN
      EXECUTE format('REVOKE ALL ON TABLE %s FROM ge_app', t.obj);
      EXECUTE format('GRANT SELECT ON TABLE %s TO ge_app', t.obj);
    ELSE
      EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON TABLE %s FROM ge_app', t.obj);
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %s TO ge_app', t.obj);
    END IF;
  END LOOP;
END
$grants$;
