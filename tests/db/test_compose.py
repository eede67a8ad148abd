"""docker-compose's database roles are the embedded cluster's: the same SQL, the same roles.

There is no Docker engine here, so the compose file is checked for its wiring, and its init
script is run for real with psql against a fresh database of the test cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from geo_enforce.storage import localdb

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "docker" / "initdb" / "20-geo-enforce-roles.sh"
SQL_DIR = ROOT / "geo_enforce" / "storage" / "sql"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_mounts_the_sql_the_embedded_cluster_runs():
    db = _compose()["services"]["db"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in db["volumes"] if m.startswith("./")}
    sql_dir = db["environment"]["GE_SQL_DIR"]
    assert (ROOT / mounts[sql_dir]).resolve() == SQL_DIR
    assert (ROOT / mounts[f"/docker-entrypoint-initdb.d/{INIT.name}"]).resolve() == INIT
    script = INIT.read_text()
    assert '"$sql_dir/roles.sql"' in script and '"$sql_dir/database.sql"' in script
    # and those are the files localdb binds and runs
    for name in ("roles.sql", "database.sql", "grants.sql"):
        assert localdb.sql_file(name) == (SQL_DIR / name).read_text()
    assert "--auth-host=scram-sha-256" in db["environment"]["POSTGRES_INITDB_ARGS"]


def test_compose_api_is_the_app_role_and_migrations_the_owner():
    services = _compose()["services"]
    api_url = make_url(services["api"]["environment"]["DATABASE_URL"])
    migrate = services["migrate"]
    assert api_url.username == localdb.APP_ROLE
    assert make_url(migrate["environment"]["DATABASE_URL"]).username == localdb.OWNER_ROLE
    assert migrate["command"] == ["geo-enforce", "db", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    owner = make_url(services["api"]["environment"]["OWNER_DATABASE_URL"])
    assert owner.username == localdb.OWNER_ROLE  # for `geo-enforce db restore` only
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements-runtime.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    (cmd,) = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    assert "serve" in cmd and "migrate" not in cmd  # the API container never migrates


def test_init_script_creates_the_roles_with_psql(pg_port, tmp_path):
    """Run the compose init script as the image would (psql as the superuser on the new
    database), with the cluster's own passwords so the shared roles stay as they are."""
    data_dir, _ = localdb._clusters[pg_port]
    creds = json.loads((data_dir / localdb.AUTH_FILE).read_text())
    name = f"ge_c_{uuid.uuid4().hex[:10]}"
    with localdb.superuser_cursor(pg_port) as cur:
        cur.execute(f'CREATE DATABASE "{name}"')  # owned by the superuser, as in the image
    try:
        env = {
            **os.environ,
            "PATH": f"{localdb.PG_BIN}:{os.environ['PATH']}",
            "PGHOST": str(data_dir),
            "PGPORT": str(pg_port),
            "POSTGRES_USER": localdb.SUPERUSER,
            "POSTGRES_DB": name,
            "GE_SQL_DIR": str(SQL_DIR),
            "GE_OWNER_PASSWORD": creds[localdb.OWNER_ROLE],
            "GE_APP_PASSWORD": creds[localdb.APP_ROLE],
        }
        for _ in range(2):  # idempotent: a second run changes nothing and does not fail
            r = subprocess.run(["bash", str(INIT)], env=env, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        with localdb.superuser_cursor(pg_port, name) as cur:
            cur.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            )
            assert cur.fetchone() == (localdb.OWNER_ROLE,)
            cur.execute(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, "
                "rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                "WHERE rolname IN ('ge_app', 'ge_owner') ORDER BY 1"
            )
            assert cur.fetchall() == [
                ("ge_app", False, False, False, True),
                ("ge_owner", False, False, False, True),
            ]
        # missing passwords are named, not silently empty
        env.pop("GE_APP_PASSWORD")
        r = subprocess.run(["bash", str(INIT)], env=env, capture_output=True, text=True)
        assert r.returncode != 0 and "GE_APP_PASSWORD" in r.stderr
    finally:
        localdb.drop_database(pg_port, name)
