-- geo-enforce database roles. Run as a superuser; idempotent (every start runs it again).
--
--   ge_owner  owns the database and its tables; runs the migrations (geo-enforce db migrate).
--   ge_app    what the API and the CLI connect as: DML on ledger tables, SELECT and INSERT on
--             audit_log, nothing else (grants.sql). Not a superuser, owns nothing, so it can
--             neither change the schema nor disable triggers nor set session_replication_role.
--
-- The same file serves the embedded cluster (geo_enforce.storage.localdb binds the two
-- values) and docker-compose (docker/initdb/20-geo-enforce-roles.sh binds them with psql -v).
-- Passwords are stored as SCRAM-SHA-256 verifiers.
SET password_encryption = 'scram-sha-256';
SELECT set_config('geo_enforce.owner_password', :'owner_password', false);
SELECT set_config('geo_enforce.app_password', :'app_password', false);
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ge_owner') THEN
    CREATE ROLE ge_owner;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ge_app') THEN
    CREATE ROLE ge_app;
  END IF;
  EXECUTE format(
    'ALTER ROLE ge_owner WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
    'NOBYPASSRLS PASSWORD %L', current_setting('geo_enforce.owner_password'));
  EXECUTE format(
    'ALTER ROLE ge_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
    'NOBYPASSRLS NOINHERIT PASSWORD %L', current_setting('geo_enforce.app_password'));
  -- the app role is nobody's member and nobody is its member: no SET ROLE way out
  IF EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
             WHERE r.rolname = 'ge_app') THEN
    RAISE EXCEPTION 'role ge_app must not be a member of another role';
  END IF;
END
$roles$;
SELECT set_config('geo_enforce.owner_password', '', false);
SELECT set_config('geo_enforce.app_password', '', false);
