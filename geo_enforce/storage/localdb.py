"""The embedded local PostGIS: a private PostgreSQL cluster in a project folder.

There is no Docker engine on the bureau's laptops or on CI, so ``geo-enforce db start`` installs
``postgresql-15-postgis-3`` from Debian's packages when it is missing, creates a cluster in
``LocalDbSettings.dir`` listening on a free loopback port, and creates the database with the
postgis extension. PostgreSQL refuses to run as root, so when invoked as root the server runs as
the ``postgres`` system user. Every step is idempotent: a second start reuses a running cluster.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from geo_enforce.errors import DatabaseUnavailable
from geo_enforce.settings import LocalDbSettings

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")
APT_PACKAGES = (f"postgresql-{PG_VERSION}", f"postgresql-{PG_VERSION}-postgis-3")
SUPERUSER = "postgres"
OWNER_ROLE = "ge_owner"
APP_ROLE = "ge_app"
AUTH_FILE = "geo_enforce.auth.json"
PORT_FILE = "geo_enforce.port"
#: pg_hba.conf of a geo-enforce cluster (see the module docstring)
HBA = f"""# geo-enforce: the superuser only through the socket in this 0700 folder, never over TCP;
# every other login by SCRAM-SHA-256 password.
local   all   {SUPERUSER}   trust
local   all   all           scram-sha-256
host    all   all           127.0.0.1/32   scram-sha-256
host    all   all           ::1/128        scram-sha-256
"""


def sql_file(name: str) -> str:
    """A packaged SQL file of ``geo_enforce/storage/sql`` (roles.sql, database.sql, grants.sql)."""
    return files("geo_enforce.storage").joinpath("sql", name).read_text(encoding="utf-8")


def bind_psql_variables(sql_text: str, values: dict[str, str]) -> str:
    """Replace psql's ``:'name'`` variables by quoted literals, as ``psql -v name=…`` does.

    The role SQL is written for psql so that docker-compose's init script runs the very same
    file; here the values are bound as properly quoted SQL string literals.
    """
    from psycopg2.extensions import QuotedString

    out = sql_text
    for name, value in values.items():
        literal = QuotedString(value).getquoted().decode()
        out = out.replace(f":'{name}'", literal)
    left = re.search(r":'[A-Za-z_]+'", out)
    if left:
        raise ValueError(f"psql variable {left.group(0)} is not bound")
    return out


@dataclass(frozen=True)
class Credentials:
    """Passwords of the owner and app roles of one embedded cluster."""

    owner: str
    app: str


#: clusters started or inspected in this process: port -> (cluster folder, credentials)
_clusters: dict[int, tuple[Path, Credentials]] = {}


@dataclass(frozen=True)
class ClusterStatus:
    """Whether the embedded cluster runs, and where."""

    running: bool
    port: int | None
    data_dir: Path
    url: str | None


def postgis_installed() -> bool:
    """Whether the PostgreSQL server and PostGIS extension are installed."""
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
    return data_dir / PORT_FILE


def _read_port(data_dir: Path) -> int | None:
    f = _port_file(data_dir)
    return int(f.read_text().strip()) if f.exists() else None


def _auth_file(data_dir: Path) -> Path:
    return data_dir / AUTH_FILE


def _read_credentials(data_dir: Path) -> Credentials | None:
    f = _auth_file(data_dir)
    if not f.exists():
        return None
    raw = json.loads(f.read_text())
    return Credentials(owner=raw[OWNER_ROLE], app=raw[APP_ROLE])


def _credentials(data_dir: Path) -> Credentials:
    """The cluster's role passwords, generated on first use into a 0600 file.

    Created with O_EXCL, so two processes starting the same cluster agree on one file.
    """
    found = _read_credentials(data_dir)
    if found is not None:
        return found
    creds = Credentials(owner=secrets.token_urlsafe(24), app=secrets.token_urlsafe(24))
    try:
        fd = os.open(_auth_file(data_dir), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        time.sleep(0.2)  # the other process is writing it
        return _credentials(data_dir)
    with os.fdopen(fd, "w") as fh:
        json.dump({OWNER_ROLE: creds.owner, APP_ROLE: creds.app}, fh)
    return creds


def _known(port: int) -> tuple[Path, Credentials]:
    try:
        return _clusters[port]
    except KeyError:
        raise DatabaseUnavailable(
            f"no embedded cluster on port {port} is known to this process: call "
            "localdb.start() or localdb.status() for its folder first"
        ) from None


def url_for(port: int, dbname: str, role: str = APP_ROLE) -> str:
    """SQLAlchemy URL of ``dbname`` as ``ge_app`` (default) or ``ge_owner`` (migrations)."""
    _, creds = _known(port)
    if role == APP_ROLE:
        password = creds.app
    elif role == OWNER_ROLE:
        password = creds.owner
    else:
        raise ValueError(f"role must be {APP_ROLE!r} or {OWNER_ROLE!r}, not {role!r}")
    return f"postgresql+psycopg2://{role}:{password}@127.0.0.1:{port}/{dbname}"


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
    """Whether the cluster runs, its port and the app role's URL (None until first started
    by this version, which creates the roles)."""
    data_dir = cfg.dir.resolve()
    running = postgis_installed() and _is_running(data_dir)
    port = _read_port(data_dir)
    creds = _read_credentials(data_dir) if running else None
    if running and port and creds:
        _clusters[port] = (data_dir, creds)
    return ClusterStatus(
        running=running,
        port=port,
        data_dir=data_dir,
        url=url_for(port, cfg.dbname) if running and port and creds else None,
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
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
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
        port = _choose_port(cfg, data_dir)
        _write_hba(data_dir)
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
    _wait_ready(port)
    _clusters[port] = (data_dir, _credentials(data_dir))
    ensure_roles(port)
    ensure_database(port, cfg.dbname)
    return url_for(port, cfg.dbname)


def _choose_port(cfg: LocalDbSettings, data_dir: Path) -> int:
    """The configured port, else the remembered one, else a free one (then remembered).

    A remembered port is reused even right after a stop, when the old server's connections
    still sit in TIME_WAIT (PostgreSQL binds with SO_REUSEADDR, and so does the check here).
    If something else listens there, starting elsewhere would strand every client holding the
    old address, so the start fails and says how to choose.
    """
    port = cfg.port or _read_port(data_dir)
    if port is None:
        port = _free_port()
    elif not _port_free(port):
        where = "configured" if cfg.port else f"remembered in {_port_file(data_dir)}"
        raise DatabaseUnavailable(
            f"port {port} ({where}) is taken by another program on 127.0.0.1: stop it, or "
            "set GEO_ENFORCE_LOCAL_DB__PORT to another port (clients must then use the new "
            "URL from 'geo-enforce db url')"
        )
    _port_file(data_dir).write_text(str(port))
    if os.geteuid() == 0:
        shutil.chown(_port_file(data_dir), SUPERUSER, SUPERUSER)
    return port


def _port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` (TIME_WAIT leftovers allowed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_hba(data_dir: Path) -> None:
    """Write the cluster's pg_hba.conf (also upgrading one that trusted every TCP login)."""
    hba = data_dir / "pg_hba.conf"
    if hba.exists() and hba.read_text() == HBA:
        return
    hba.write_text(HBA)
    hba.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(hba, SUPERUSER, SUPERUSER)


def ensure_roles(port: int) -> None:
    """Create or update ``ge_owner`` and ``ge_app`` with the cluster's passwords (roles.sql)."""
    _, creds = _known(port)
    script = bind_psql_variables(
        sql_file("roles.sql"), {"owner_password": creds.owner, "app_password": creds.app}
    )
    with superuser_cursor(port) as cur:
        # several test sessions may start the same cluster at once
        cur.execute("SELECT pg_advisory_lock(hashtext('geo_enforce.roles'))")
        try:
            cur.execute(script)
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtext('geo_enforce.roles'))")


@contextmanager
def superuser_cursor(port: int, dbname: str = "postgres") -> Iterator[Any]:
    """A psycopg2 cursor as the superuser on an autocommit connection, closed afterwards.

    It connects through the Unix socket in the cluster folder (the only way the superuser is
    let in), or over TCP for a cluster this process has not started (one still trusting TCP).
    """
    import psycopg2

    host = str(_clusters[port][0]) if port in _clusters else "127.0.0.1"
    conn = psycopg2.connect(host=host, port=port, user=SUPERUSER, dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def ensure_database(port: int, dbname: str, *, fresh: bool = False) -> str:
    """Create ``dbname`` owned by ``ge_owner`` with the postgis extension (dropping it first
    when ``fresh``); return the owner's URL, the one migrations and restores need."""
    from psycopg2 import sql

    with superuser_cursor(port) as cur:
        if fresh:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone() is None:
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(OWNER_ROLE)
                )
            )
    with superuser_cursor(port, dbname) as cur:
        # several test sessions start the same cluster at once: catalog updates of the same
        # database concurrently fail ("tuple concurrently updated"), so one at a time
        cur.execute("SELECT pg_advisory_lock(hashtext('geo_enforce.database'))")
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            cur.execute(sql_file("database.sql"))
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtext('geo_enforce.database'))")
    return url_for(port, dbname, OWNER_ROLE)


def clone_database(port: int, template: str, name: str) -> str:
    """Create ``name`` as a copy of ``template`` (CREATE DATABASE … TEMPLATE), owned by
    ``ge_owner``; return the app role's URL."""
    from psycopg2 import sql

    with superuser_cursor(port) as cur:
        cur.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(OWNER_ROLE)
            )
        )
    return url_for(port, name)


def drop_database(port: int, dbname: str) -> None:
    """Drop database ``dbname`` of the local cluster on ``port``."""
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
