"""Least privilege: the API and CLI connect as ``ge_app``, which cannot get past the audit trail.

Every test here runs on ``db_url``, the app role's connection to a fresh migrated database,
exactly what the API and the CLI get. Each refusal is one the issue found possible when the
app connected as the superuser.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from geo_enforce.storage import localdb
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from tests.support.trust_seed import seed_ledger

REFUSED = [
    ("SET session_replication_role = replica", "permission denied"),
    ("ALTER TABLE audit_log DISABLE TRIGGER ALL", "must be owner"),
    ("ALTER TABLE audit_log DISABLE TRIGGER t00_append_only", "must be owner"),
    ("ALTER TABLE structure DISABLE TRIGGER t90_audit", "must be owner"),
    ("TRUNCATE structure", "permission denied"),
    ("TRUNCATE audit_log", "permission denied"),
    ("DROP TABLE structure", "must be owner"),
    ("DROP TABLE audit_log", "must be owner"),
    ("CREATE TABLE public.scratch (id int)", "permission denied"),
    ("ALTER TABLE structure ADD COLUMN x int", "must be owner"),
    ("CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "permission denied"),
    ("UPDATE audit_log SET actor = 'api:nobody'", "permission denied"),
    ("DELETE FROM audit_log", "permission denied"),
    ("UPDATE alembic_version SET version_num = 'x'", "permission denied"),
    ("SET ROLE ge_owner", "permission denied"),
    ("SET ROLE postgres", "permission denied"),
    ("ALTER ROLE ge_app SUPERUSER", "must be superuser"),
    ("CREATE DATABASE ge_escape", "permission denied"),
    (
        "INSERT INTO audit_log (table_name, record_id, action, actor, txid) "
        "VALUES ('structure', 1, 'update', 'api:boss', 1)",
        "written only by the audit triggers",
    ),
]


def _fails(url: str, statement: str) -> str:
    eng = create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE needs it
    try:
        with eng.connect() as conn:
            conn.execute(text(statement))
    except DBAPIError as exc:
        return str(exc.orig)
    finally:
        eng.dispose()
    return ""


def _table_owners(url: str) -> set[str]:
    eng = create_engine(url)
    with eng.connect() as conn:
        owners = set(
            conn.execute(
                text(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'spatial_ref_sys'"
                )
            ).scalars()
        )
    eng.dispose()
    return owners


def test_tests_and_app_connect_as_the_app_role(db_url):
    assert make_url(db_url).username == localdb.APP_ROLE
    eng = create_engine(db_url)
    with eng.connect() as conn:
        row = conn.execute(
            text(
                "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, "
                "rolreplication, (SELECT count(*) FROM pg_auth_members m "
                "WHERE m.member = r.oid) FROM pg_roles r WHERE rolname = current_user"
            )
        ).one()
    eng.dispose()
    assert row == (localdb.APP_ROLE, False, False, False, False, False, 0)
    assert _table_owners(db_url) == {localdb.OWNER_ROLE}


@pytest.mark.parametrize(("statement", "message"), REFUSED, ids=[s for s, _ in REFUSED])
def test_app_role_is_refused(module_db_url, statement, message):
    error = _fails(module_db_url, statement)
    assert message in error, f"{statement!r} was not refused as expected: {error!r}"


def test_app_role_writes_the_ledger_and_the_audit_trail(db_url, sessions):
    seed_ledger(sessions)
    with transaction(sessions, "api:wang.li") as s:
        s.execute(
            text(
                "UPDATE structure SET floors = floors + 1 "
                "WHERE id = (SELECT min(id) FROM structure)"
            )
        )
        last = s.execute(text("SELECT actor, action FROM audit_log ORDER BY id DESC LIMIT 1")).one()
    assert tuple(last) == ("api:wang.li", "update")


def test_even_the_owner_cannot_rewrite_the_audit_log(db_url, pg_port, sessions):
    """Defence in depth: the triggers hold for the owner role too (only a superuser, which
    nothing in the application uses, could disable them)."""
    seed_ledger(sessions)
    owner = localdb.url_for(pg_port, str(make_url(db_url).database), localdb.OWNER_ROLE)
    assert "append-only" in _fails(owner, "UPDATE audit_log SET actor = 'api:nobody'")
    assert "append-only" in _fails(owner, "DELETE FROM audit_log")
    assert "retired, never deleted" in _fails(owner, "DELETE FROM structure")
    assert "written only by the audit triggers" in _fails(
        owner,
        "INSERT INTO audit_log (table_name, record_id, action, actor, txid) "
        "VALUES ('structure', 1, 'update', 'api:boss', 1)",
    )


def test_tables_of_later_migrations_get_the_grants(db_url, pg_port):
    """ALTER DEFAULT PRIVILEGES: a table ge_owner creates is usable by ge_app at once, with
    DML but no TRUNCATE, and audit_log keeps only SELECT and INSERT."""
    name = str(make_url(db_url).database)
    owner = create_engine(localdb.url_for(pg_port, name, localdb.OWNER_ROLE))
    with owner.begin() as conn:
        conn.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY, v text)"))
    owner.dispose()
    eng = make_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO later_table (v) VALUES ('a')"))
        conn.execute(text("UPDATE later_table SET v = 'b'"))
        privileges = {
            table: set(
                conn.execute(
                    text(
                        "SELECT privilege_type FROM information_schema.role_table_grants "
                        "WHERE grantee = 'ge_app' AND table_name = :t"
                    ),
                    {"t": table},
                ).scalars()
            )
            for table in ("later_table", "audit_log", "structure", "alembic_version")
        }
    eng.dispose()
    assert privileges == {
        "later_table": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "audit_log": {"SELECT", "INSERT"},
        "structure": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "alembic_version": {"SELECT"},
    }
    assert "permission denied" in _fails(db_url, "TRUNCATE later_table")


def test_the_actor_named_by_the_app_is_recorded_with_the_connection_it_came_from(db_url, sessions):
    """What remains possible, by design: the app names the person (``api:<user>``) and a
    compromised app could name someone else. The database cannot know the web user; it keeps
    what it can vouch for, the transaction id and time, and refuses every way to hide a change."""
    seed_ledger(sessions)
    with make_sessionmaker(make_engine(db_url))() as s, s.begin():
        s.execute(text("SELECT set_config('geo_enforce.actor', 'api:someone.else', true)"))
        s.execute(
            text("UPDATE structure SET notes = 'x' WHERE id = (SELECT min(id) FROM structure)")
        )
        actor = s.execute(text("SELECT actor FROM audit_log ORDER BY id DESC LIMIT 1")).scalar()
    assert actor == "api:someone.else"
    # without an actor the trigger names the database login, never an empty actor
    with make_sessionmaker(make_engine(db_url))() as s, s.begin():
        s.execute(
            text("UPDATE structure SET notes = 'y' WHERE id = (SELECT min(id) FROM structure)")
        )
        actor = s.execute(text("SELECT actor FROM audit_log ORDER BY id DESC LIMIT 1")).scalar()
    assert actor == f"db:{localdb.APP_ROLE}"


def test_a_database_made_by_an_older_version_is_adopted(pg_port):
    """Before the roles existed, migrations ran as the superuser, who owned every table. The
    next start hands them to ge_owner (database.sql), so migrations and the app role work."""
    import uuid

    from geo_enforce.storage.migrate import upgrade

    name = f"ge_old_{uuid.uuid4().hex[:10]}"
    with localdb.superuser_cursor(pg_port) as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    with localdb.superuser_cursor(pg_port, name) as cur:
        cur.execute("CREATE EXTENSION postgis")
    data_dir, _ = localdb._clusters[pg_port]
    superuser = f"postgresql+psycopg2://{localdb.SUPERUSER}@/{name}?host={data_dir}&port={pg_port}"
    try:
        upgrade(superuser, "0001_initial")  # as an older version did
        owner_url = localdb.ensure_database(pg_port, name)  # what `db start` does now
        upgrade(owner_url)
        assert _table_owners(localdb.url_for(pg_port, name)) == {localdb.OWNER_ROLE}
        factory = make_sessionmaker(make_engine(localdb.url_for(pg_port, name)))
        seed_ledger(factory)
        factory.kw["bind"].dispose()
    finally:
        localdb.drop_database(pg_port, name)


def test_upgrade_as_app_role_is_a_no_op_on_a_current_schema(db_url):
    """Notebooks and tools call ``upgrade`` with the app's URL: harmless once migrated.

    CI found the notebooks failing with "must be member of role ge_owner" because ``upgrade``
    re-ran the grants as ``ge_app``; a schema at every head is now left alone.
    """
    from geo_enforce.storage.migrate import current_heads, script_heads, upgrade

    assert current_heads(db_url) == script_heads()
    upgrade(db_url)  # must not raise
    assert current_heads(db_url) == script_heads()
