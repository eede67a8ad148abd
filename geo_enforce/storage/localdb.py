"""The embedded local PostGIS: a private PostgreSQL cluster in a project folder.

There is no Docker engine on the bureau's laptops or on CI, so ``geo-enforce db start`` installs
``postgresql-15-postgis-3`` from Debian's packages when it is missing, creates a cluster in
``LocalDbSettings.dir`` listening on a free loopback port, and creates the database with the
postgis extension. PostgreSQL refuses to run as root, so when invoked as root the server runs as
the ``postgres`` system user. Every step is idempotent: a second start reuses a running cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_enforce.errors import DatabaseUnavailable
from geo_enforce.settings import LocalDbSettings

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")
APT_PACKAGES = (f"postgresql-{PG_VERSION}", f"postgresql-{PG_VERSION}-postgis-3")
SUPERUSER = "postgres"


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    port: int | None
    data_dir: Path
    url: str | None


def postgis_installed() -> bool:
    return (PG_BIN / "pg_ctl").exists() and POSTGIS_CONTROL.exists()


def ensure_postgis_installed(echo=print) -> None:
    """Install PostgreSQL 15 and PostGIS 3 from Debian's packages when missing (needs root)."""
    if postgis_installed():
        return
    if os.geteuid() != 0:
        raise DatabaseUnavailable(
            "PostGIS is not installed and this user cannot install it: run "
            f"'sudo apt-get update && sudo apt-get install -y {' '.join(APT_PACKAGES)}' "
            "or set DATABASE_URL to an existing PostGIS"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    echo(f"installing {' '.join(APT_PACKAGES)} from Debian's packages (apt-get) ...")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DatabaseUnavailable(
                f"'{' '.join(cmd)}' failed ({proc.returncode}): {proc.stderr.strip()[-800:]}"
            )
    if not postgis_installed():
        raise DatabaseUnavailable(f"apt-get finished but {POSTGIS_CONTROL} is still missing")


def _as_server_user(cmd: list[str]) -> list[str]:
    """Wrap a server command so it runs as ``postgres`` when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *cmd]
    return cmd


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise DatabaseUnavailable(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-1200:]}")
    return proc.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_file(data_dir: Path) -> Path:
    return data_dir / "geo_enforce.port"


def _read_port(data_dir: Path) -> int | None:
    f = _port_file(data_dir)
    return int(f.read_text().strip()) if f.exists() else None


def url_for(port: int, dbname: str) -> str:
    return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}/{dbname}"


def _is_running(data_dir: Path) -> bool:
    if not (data_dir / "PG_VERSION").exists():
        return False
    proc = subprocess.run(
        _as_server_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(data_dir)]),
        capture_output=True,
        text=True,
    )
    return proc.returncode == 0


def status(cfg: LocalDbSettings) -> ClusterStatus:
    data_dir = cfg.dir.resolve()
    running = postgis_installed() and _is_running(data_dir)
    port = _read_port(data_dir)
    return ClusterStatus(
        running=running,
        port=port,
        data_dir=data_dir,
        url=url_for(port, cfg.dbname) if running and port else None,
    )


def _prepare_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, SUPERUSER, SUPERUSER)
        # the server user must be able to reach the folder through its parents
        for parent in data_dir.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
    data_dir.chmod(0o700)


def _wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
        )
        if proc.returncode == 0:
            return
        time.sleep(0.2)
    raise DatabaseUnavailable(f"PostgreSQL on 127.0.0.1:{port} did not become ready in {timeout}s")


def start(cfg: LocalDbSettings, echo=print) -> str:
    """Start (or reuse) the local cluster and return the SQLAlchemy URL of the database."""
    ensure_postgis_installed(echo)
    data_dir = cfg.dir.resolve()
    if not (data_dir / "PG_VERSION").exists():
        _prepare_dir(data_dir)
        echo(f"creating PostgreSQL cluster in {data_dir}")
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ],
            "initdb",
        )
    if _is_running(data_dir):
        port = _read_port(data_dir)
        if port is None:
            raise DatabaseUnavailable(f"cluster in {data_dir} runs but its port file is missing")
    else:
        port = cfg.port or _read_port(data_dir) or _free_port()
        if not cfg.port and not _port_free(port):
            port = _free_port()
        log = data_dir / "server.log"
        _run(
            [
                str(PG_BIN / "pg_ctl"),
                "start",
                "-w",
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-o",
                f"-c listen_addresses=127.0.0.1 -c port={port} "
                f"-c unix_socket_directories='{data_dir}' -c max_connections=200 "
                "-c shared_buffers=256MB -c max_wal_size=2GB",
            ],
            "pg_ctl start",
        )
        _port_file(data_dir).write_text(str(port))
        if os.geteuid() == 0:
            shutil.chown(_port_file(data_dir), SUPERUSER, SUPERUSER)
    _wait_ready(port)
    ensure_database(port, cfg.dbname)
    return url_for(port, cfg.dbname)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def superuser_cursor(port: int, dbname: str = "postgres") -> Iterator[Any]:
    """A psycopg2 cursor as the superuser on an autocommit connection, closed afterwards."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def ensure_database(port: int, dbname: str, *, fresh: bool = False) -> str:
    """Create ``dbname`` with the postgis extension (dropping it first when ``fresh``)."""
    from psycopg2 import sql

    with superuser_cursor(port) as cur:
        if fresh:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with superuser_cursor(port, dbname) as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url_for(port, dbname)


def drop_database(port: int, dbname: str) -> None:
    from psycopg2 import sql

    with superuser_cursor(port) as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def stop(cfg: LocalDbSettings) -> bool:
    """Stop the cluster if it runs; return whether it was running."""
    data_dir = cfg.dir.resolve()
    if not postgis_installed() or not _is_running(data_dir):
        return False
    _run([str(PG_BIN / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(data_dir)], "pg_ctl stop")
    return True
