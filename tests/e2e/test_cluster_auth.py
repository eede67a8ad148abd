"""A new embedded cluster: SCRAM passwords over TCP, no superuser over TCP, a port that stays.

One private cluster for the module (its own folder, never the shared ``.pgdata``), created by
``localdb.start`` exactly as ``geo-enforce db start`` does on a fresh machine.
"""

from __future__ import annotations

import json
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from geo_enforce.cli import app, common
from geo_enforce.errors import DatabaseUnavailable
from geo_enforce.settings import LocalDbSettings
from geo_enforce.storage import localdb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    # not under pytest's tmp_path: its base folder is 0700, which the postgres user cannot cross
    base = Path(tempfile.mkdtemp(prefix="ge-auth-"))
    cfg = LocalDbSettings(dir=base / "pg", dbname="ge_auth")
    try:
        url = localdb.start(cfg, echo=lambda *_: None)
        yield cfg, url
    finally:
        localdb.stop(cfg)
        shutil.rmtree(base, ignore_errors=True)


def _connect(port: int, user: str, password: str | None) -> str:
    """'' when the login works, else the server's refusal."""
    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=port, user=user, password=password, dbname="ge_auth"
        )
    except psycopg2.OperationalError as exc:
        return str(exc)
    conn.close()
    return ""


def test_tcp_logins_need_scram_passwords(cluster):
    cfg, url = cluster
    u = make_url(url)
    port = int(u.port or 0)
    assert u.username == localdb.APP_ROLE and u.password
    creds = json.loads((cfg.dir / localdb.AUTH_FILE).read_text())
    assert stat.S_IMODE((cfg.dir / localdb.AUTH_FILE).stat().st_mode) == 0o600
    assert _connect(port, localdb.APP_ROLE, creds[localdb.APP_ROLE]) == ""
    assert _connect(port, localdb.OWNER_ROLE, creds[localdb.OWNER_ROLE]) == ""
    assert "password authentication failed" in _connect(port, localdb.APP_ROLE, "wrong")
    assert "password" in _connect(port, localdb.APP_ROLE, None)
    # the superuser has no password and is let in only through the socket in the 0700 folder
    assert "password" in _connect(port, localdb.SUPERUSER, None)
    assert "password authentication failed" in _connect(port, localdb.SUPERUSER, "postgres")
    eng = create_engine(url)
    with eng.connect() as conn:
        verifier = conn.execute(text("SELECT current_setting('password_encryption')")).scalar()
    eng.dispose()
    assert verifier == "scram-sha-256"
    with localdb.superuser_cursor(port) as cur:
        cur.execute(
            "SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
            "WHERE rolname IN ('ge_app', 'ge_owner') ORDER BY 1"
        )
        assert cur.fetchall() == [("ge_app", True), ("ge_owner", True)]


def test_cli_url_is_the_app_role_and_migrate_runs_as_the_owner(cluster, monkeypatch):
    cfg, url = cluster
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GEO_ENFORCE_LOCAL_DB__DIR", str(cfg.dir))
    monkeypatch.setenv("GEO_ENFORCE_LOCAL_DB__DBNAME", cfg.dbname)
    common.settings.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(app, ["db", "migrate"])
        assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["db", "url"])
        assert res.output.strip() == url
    finally:
        common.settings.cache_clear()
    eng = create_engine(url)
    with eng.connect() as conn:
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'structure'")
        ).scalar()
        writable = conn.execute(text("SELECT has_table_privilege('structure', 'INSERT')")).scalar()
    eng.dispose()
    assert (owner, writable) == (localdb.OWNER_ROLE, True)


def test_cli_backup_as_the_app_and_restore_as_the_owner(cluster, monkeypatch, tmp_path):
    """On the embedded cluster the CLI backs up with the app role and restores with the
    owner role (restoring creates tables), with no URL given."""
    cfg, url = cluster
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GEO_ENFORCE_LOCAL_DB__DIR", str(cfg.dir))
    monkeypatch.setenv("GEO_ENFORCE_LOCAL_DB__DBNAME", cfg.dbname)
    monkeypatch.setenv("GEO_ENFORCE_DATA_DIR", str(tmp_path / "var"))
    common.settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["db", "migrate"]).exit_code == 0
        res = runner.invoke(app, ["user", "add", "kept.user", "--role", "viewer"])
        assert res.exit_code == 0, res.output
        archive = tmp_path / "b.tar"
        res = runner.invoke(app, ["db", "backup", str(archive)])
        assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["db", "restore", str(archive), "--force"])
        assert res.exit_code == 0, res.output
    finally:
        common.settings.cache_clear()
    eng = create_engine(url)
    with eng.connect() as conn:
        names = set(conn.execute(text("SELECT name FROM app_user")).scalars())
    eng.dispose()
    assert "kept.user" in names


def test_port_is_remembered_across_stop_and_start(cluster):
    """Queries in flight at the stop leave the server's side of their connections in TIME_WAIT
    on the port; the next start must still come back on it (it used to pick another port,
    stranding a running API: issue 13, item 3)."""
    cfg, url = cluster
    u = make_url(url)
    conns = [
        psycopg2.connect(
            host="127.0.0.1", port=u.port, user=u.username, password=u.password, dbname=u.database
        )
        for _ in range(3)
    ]

    def busy(conn) -> None:
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(30)")
        except psycopg2.Error:
            pass  # terminated by the shutdown, as intended

    threads = [threading.Thread(target=busy, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    time.sleep(0.5)
    localdb.stop(cfg)
    for t in threads:
        t.join(30)
    for c in conns:
        c.close()
    assert localdb.start(cfg, echo=lambda *_: None) == url
    assert localdb.status(cfg).port == u.port
    localdb.stop(cfg)
    assert localdb.start(cfg, echo=lambda *_: None) == url


def test_a_taken_port_fails_clearly_instead_of_moving(cluster):
    cfg, url = cluster
    port = int(make_url(url).port or 0)
    localdb.stop(cfg)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAITs
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(DatabaseUnavailable, match=f"port {port} .* is taken"):
            localdb.start(cfg, echo=lambda *_: None)
    finally:
        squatter.close()
    assert localdb.start(cfg, echo=lambda *_: None) == url
