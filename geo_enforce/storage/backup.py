"""Backups: the database (pg_dump custom format) and the stored files in one archive.

``backup`` writes a tar archive holding

- ``manifest.json``: format, time, schema heads, row counts of every table, the audit log's
  row count and last id, area totals (m², summed per table, current records) and the SHA-256
  of every stored file;
- ``database.dump``: ``pg_dump --format=custom`` of the whole database (schema, triggers,
  data, audit log);
- ``files/…``: everything under ``settings.data_dir`` (orthophoto COGs, evidence chips,
  verification photos), stored under their generated names;
- ``external/…``: orthophotos and DSMs the database refers to outside ``data_dir`` (flights
  registered in place), restored to their recorded paths.

The summary in the manifest and the dump describe the same moment: both are read in one
REPEATABLE READ transaction whose snapshot is exported (``pg_export_snapshot``) and handed to
``pg_dump --snapshot``, the transaction kept open until the dump is done. The stored files are
archived after that: a file is written before the row naming it commits, so every file the
dump refers to is in the archive (extra files are harmless).

The archive is created with mode 0600 and holds no secret in plain text: ``api_token`` rows
keep only SHA-256 hashes of 256-bit random tokens (kept, so users can still log in after a
restore), and the demo admin token is written outside the data directory (a ``demo-token``
left in an old data directory is left out of the archive).

``restore`` first checks every byte it is going to use: the dump's and every file's SHA-256
are compared with the manifest while the files are unpacked into a staging folder beside
``data_dir``; only then is the database loaded (into an empty database, or with ``force`` one
it empties first, as the schema owner: the PostGIS extension itself is the database's, not the
archive's), the app role's grants applied, and the files moved into place. Finally the result
is checked against the manifest: the same row counts, audit log, area totals and file hashes.
Any difference raises, so a restore that "worked" but lost something never passes silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from geo_enforce.errors import (
    ConfigError,
    Conflict,
    DatabaseUnavailable,
    GeoEnforceError,
    InvalidInput,
)

FORMAT = "geo-enforce-backup/1"
MANIFEST = "manifest.json"
DUMP = "database.dump"
FILES = "files/"
EXTERNAL = "external/"
#: secrets an older demo wrote into the data directory: never archived
SECRET_FILES = ("demo-token",)

Echo = Callable[[str], None]
#: progress callback: (bytes of stored files done, bytes in total)
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


class RestoreMismatch(GeoEnforceError):
    """A restored database or file differs from what the backup recorded."""


@dataclass(frozen=True)
class BackupResult:
    """Where a backup was written and what it holds."""

    path: Path
    manifest: dict[str, Any]


def _tool(name: str) -> str:
    from geo_enforce.storage.localdb import PG_BIN

    local = PG_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise DatabaseUnavailable(
            f"'{name}' is not installed: apt-get install postgresql-client-15 (or the version of "
            "your server)"
        )
    return found


def _conn_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments and environment for ``url`` (the password goes in the environment)."""
    u = make_url(url)
    args = ["--dbname", u.database or "postgres"]
    if u.host:
        args += ["--host", u.host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return args, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DatabaseUnavailable(
            f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def _connect(url: str, **engine_kw: Any) -> Iterator[Connection]:
    """A connection on a short-lived engine for ``url``, disposed of afterwards."""
    engine = create_engine(url, **engine_kw)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _user_tables(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'spatial_ref_sys' ORDER BY tablename"
            )
        ).scalars()
    )


def database_summary(url: str) -> dict[str, Any]:
    """Row counts of every table, the audit log's fingerprint and area totals.

    The audit fingerprint is the md5 of all audit rows in id order, so two databases with the
    same fingerprint hold the same audit log exactly. Area totals sum ``area_m2`` of current
    (unretired) records per measured table, as the reports do.
    """
    with _connect(url) as conn:
        return _summary(conn)


def _summary(conn: Connection) -> dict[str, Any]:
    """:func:`database_summary` on an open connection (in the caller's snapshot)."""
    from geo_enforce.storage.models import MEASURED_TABLES

    tables = _user_tables(conn)
    counts = {
        t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()) for t in tables
    }
    summary: dict[str, Any] = {"row_counts": counts}
    if "alembic_version" in tables:
        summary["schema_heads"] = sorted(
            conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        )
    if "audit_log" in tables:
        row = conn.execute(
            text(
                "SELECT count(*), coalesce(max(id), 0), "
                "md5(coalesce(string_agg(a::text, E'\\n' ORDER BY id), '')) "
                "FROM audit_log a"
            )
        ).one()
        summary["audit_log"] = {"rows": row[0], "last_id": row[1], "md5": row[2]}
    # summed as numeric: exact, whatever order the rows come back in
    summary["area_m2"] = {
        t: conn.execute(
            text(
                f'SELECT coalesce(sum(area_m2::numeric), 0)::text FROM "{t}" '
                "WHERE retired_at IS NULL"
            )
        ).scalar_one()
        for t in MEASURED_TABLES
        if t in tables
    }
    return summary


def external_files(url: str, data_dir: Path) -> list[Path]:
    """Files the database refers to that live outside ``data_dir`` (flights registered in
    place from the command line)."""
    with _connect(url) as conn:
        return _external_files(conn, data_dir)


def _external_files(conn: Connection, data_dir: Path) -> list[Path]:
    from geo_enforce.storage.paths import resolve_stored

    root = Path(data_dir).resolve()
    has_flight = conn.execute(text("SELECT to_regclass('public.flight')")).scalar()
    if has_flight is None:
        return []
    rows = conn.execute(
        text("SELECT ortho_path, dsm_path FROM flight WHERE retired_at IS NULL")
    ).all()
    out: list[Path] = []
    for row in rows:
        for value in row:
            if not value:
                continue
            p = resolve_stored(value, data_dir).resolve()
            if not p.is_relative_to(root) and p.is_file() and p not in out:
                out.append(p)
    return sorted(out)


@contextmanager
def _exported_snapshot(url: str) -> Iterator[tuple[Connection, str]]:
    """A REPEATABLE READ, read-only transaction and its exported snapshot id, open until the
    block ends: whatever reads it or ``pg_dump --snapshot=<id>`` sees the same moment."""
    with _connect(url) as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            yield conn, str(snapshot)


@contextmanager
def _archive_file(path: Path) -> Iterator[tarfile.TarFile]:
    """A new tar file at ``path`` readable by its owner only (0600 from creation on)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
        yield tar


def backup(
    url: str,
    data_dir: Path,
    archive: Path,
    *,
    include_external: bool = True,
    echo: Echo = lambda _: None,
    progress: Progress = _no_progress,
) -> BackupResult:
    """Write a backup archive of the database at ``url`` and the files under ``data_dir``.

    Files the database refers to outside ``data_dir`` (orthophotos registered in place) are
    added under ``external/`` with their original path, unless ``include_external`` is False;
    then they are only listed in the manifest and a warning is echoed. The archive is written
    to a temporary name beside ``archive`` and renamed when complete, so an interrupted backup
    never leaves a truncated file under the final name.
    """
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir)
    args, env = _conn_args(url)
    with tempfile.TemporaryDirectory(prefix="ge-backup-") as tmp:
        dump = Path(tmp) / DUMP
        echo("pg_dump (custom format) …")
        with _exported_snapshot(url) as (conn, snapshot):
            summary = _summary(conn)
            outside = _external_files(conn, data_dir)
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    # the township policies apply to ge_app: without a township setting they
                    # admit every row, but pg_dump refuses RLS tables unless told to run them
                    "--enable-row-security",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    "--file",
                    str(dump),
                    *args,
                ],
                env,
                "pg_dump",
            )
        files = _stored_files(data_dir, echo)
        if outside and not include_external:
            echo(
                f"warning: {len(outside)} file(s) the database refers to live outside "
                f"{data_dir} and are NOT in this backup, e.g. {outside[0]}"
            )
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "database": make_url(url).database,
            "dump_sha256": _sha256(dump),
            **summary,
            "files": [
                {
                    "path": p.relative_to(data_dir).as_posix(),
                    "size": p.stat().st_size,
                    "sha256": _sha256(p),
                }
                for p in files
            ],
            "external_files": [
                {
                    "path": str(p),
                    "size": p.stat().st_size,
                    "sha256": _sha256(p),
                    "included": include_external,
                }
                for p in outside
            ],
        }
        part = archive.with_name(f".{archive.name}.part")
        echo(f"writing {archive} ({len(files)} stored files) …")
        with _archive_file(part) as tar:
            raw = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(raw)
            info.mtime = int(dt.datetime.now().timestamp())
            tar.addfile(info, io.BytesIO(raw))
            tar.add(dump, arcname=DUMP)
            total = sum(e["size"] for e in manifest["files"])
            if include_external:
                total += sum(e["size"] for e in manifest["external_files"])
            done = 0
            for p, entry in zip(files, manifest["files"], strict=True):
                tar.add(p, arcname=FILES + entry["path"])
                done += entry["size"]
                progress(done, total)
            if include_external:
                for i, p in enumerate(outside):
                    tar.add(p, arcname=f"{EXTERNAL}{i}/{p.name}")
                    done += p.stat().st_size
                    progress(done, total)
        os.replace(part, archive)
    return BackupResult(path=archive, manifest=manifest)


def _stored_files(data_dir: Path, echo: Echo) -> list[Path]:
    """Every file under ``data_dir`` except partial writes and known secrets."""
    if not data_dir.exists():
        return []
    found = []
    for p in sorted(data_dir.rglob("*")):
        if not p.is_file() or p.name.endswith(".part"):
            continue
        if p.relative_to(data_dir).as_posix() in SECRET_FILES:
            echo(
                f"left out of the backup: {p} holds a secret (delete it; the demo now keeps "
                "its token outside the data directory)"
            )
            continue
        found.append(p)
    return found


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of a backup archive; InvalidInput when the file is not one."""
    try:
        with tarfile.open(archive, "r") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read())
    except (tarfile.TarError, KeyError, json.JSONDecodeError, OSError) as exc:
        raise InvalidInput(f"{archive} is not a geo-enforce backup archive ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{archive} has format {manifest.get('format')!r}, expected {FORMAT}")
    return manifest


#: drop every table, view, sequence, function and type in schema public that is not part of an
#: extension: the owner role may, and PostGIS stays installed
_EMPTY_SQL = """
DO $empty$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
             AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                     WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.obj);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS obj FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.prokind = 'f'
             AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                             AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.obj);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS obj FROM pg_type t
           JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND t.typrelid = 0
             AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                             AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.obj);
  END LOOP;
END $empty$;
"""


def _empty_database(url: str) -> None:
    """Drop the application's objects in schema public, keeping the PostGIS extension."""
    with _connect(url, isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(_EMPTY_SQL))


def _ensure_postgis(url: str) -> None:
    """The target database must have PostGIS before the dump is loaded (the owner role may
    not create the extension: a superuser does, and ``geo-enforce db start`` did)."""
    with _connect(url, isolation_level="AUTOCOMMIT") as conn:
        if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first():
            return
        try:
            conn.execute(text("CREATE EXTENSION postgis"))
        except DBAPIError as exc:
            raise DatabaseUnavailable(
                f"database {make_url(url).database} has no PostGIS and this role cannot add "
                "it: run 'CREATE EXTENSION postgis' there as a superuser (or create the "
                "database with 'geo-enforce db start'), then restore again"
            ) from exc


def _restore_list(dump: Path, env: dict[str, str], tmp: Path) -> Path:
    """pg_restore's table of contents without the extension's entries: CREATE/COMMENT ON
    EXTENSION and the rows of PostGIS's ``spatial_ref_sys`` need the extension's owner, and
    the target database has PostGIS with its own reference systems already (the project adds
    none: CGCS2000 and its zones are standard EPSG codes)."""
    proc = subprocess.run(
        [_tool("pg_restore"), "--list", str(dump)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RestoreMismatch(f"the database dump cannot be read: {proc.stderr.strip()[-500:]}")
    keep = [
        line
        for line in proc.stdout.splitlines()
        if " EXTENSION " not in line and " TABLE DATA public spatial_ref_sys " not in line
    ]
    listing = tmp / "restore.list"
    listing.write_text("\n".join(keep) + "\n")
    return listing


def _stage_and_verify(
    tar: tarfile.TarFile, manifest: dict[str, Any], staging: Path, progress: Progress
) -> None:
    """Unpack the dump and every file into ``staging``, checking each SHA-256 against the
    manifest; RestoreMismatch names the first file that is missing or differs."""

    def unpack(member_name: str, target: Path, expected: str, label: str) -> None:
        try:
            member = tar.getmember(member_name)
        except KeyError:
            raise RestoreMismatch(f"{label} is missing from the archive") from None
        if not member.isfile():
            raise RestoreMismatch(f"{label} is not a regular file in the archive")
        source = tar.extractfile(member)
        assert source is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        with source, open(target, "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != expected:
            raise RestoreMismatch(
                f"{label} in the archive is damaged or was altered (SHA-256 differs); "
                "nothing was restored"
            )

    unpack(DUMP, staging / DUMP, manifest["dump_sha256"], "the database dump")
    total = sum(e["size"] for e in manifest["files"])
    done = 0
    for entry in manifest["files"]:
        rel = Path(entry["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise RestoreMismatch(f"stored file path {entry['path']!r} leaves the data directory")
        unpack(
            FILES + entry["path"],
            staging / "files" / rel,
            entry["sha256"],
            f"stored file {entry['path']}",
        )
        done += entry["size"]
        progress(done, total)
    for i, entry in enumerate(manifest.get("external_files", [])):
        if entry.get("included"):
            name = Path(entry["path"]).name
            unpack(
                f"{EXTERNAL}{i}/{name}",
                staging / "external" / str(i) / name,
                entry["sha256"],
                f"external file {entry['path']}",
            )


def restore(
    archive: Path,
    url: str,
    data_dir: Path,
    *,
    force: bool = False,
    echo: Echo = lambda _: None,
    progress: Progress = _no_progress,
) -> dict[str, Any]:
    """Restore a backup archive into the database at ``url`` and the files into ``data_dir``.

    The database must hold no tables (a fresh ``geo-enforce db start`` database is fine)
    unless ``force``, which drops everything in it first. After loading, the database and the
    files are compared with the manifest; RestoreMismatch names the first difference.
    Returns the manifest.
    """
    archive = Path(archive)
    manifest = read_manifest(archive)
    with _connect(url) as conn:
        existing = _user_tables(conn)
        owns = conn.execute(
            text(
                "SELECT pg_has_role(current_user, d.datdba, 'USAGE') OR r.rolsuper "
                "FROM pg_database d, pg_roles r "
                "WHERE d.datname = current_database() AND r.rolname = current_user"
            )
        ).scalar_one()
    if not owns:
        raise ConfigError(
            f"restore creates tables, so it needs the schema owner: connect as the owner of "
            f"database {make_url(url).database} (OWNER_DATABASE_URL, or the embedded "
            f"cluster's ge_owner, which 'geo-enforce db restore' uses), not as "
            f"{make_url(url).username}"
        )
    if existing and not force:
        raise Conflict(
            f"database {make_url(url).database} is not empty ({len(existing)} tables); restore "
            "into a new database or pass --force to replace its contents"
        )
    data_dir = Path(data_dir)
    clashes = [f["path"] for f in manifest["files"] if (data_dir / f["path"]).exists()]
    if clashes and not force:
        raise Conflict(
            f"{len(clashes)} files already exist under {data_dir} (e.g. {clashes[0]}); pass "
            "--force to overwrite them"
        )
    external = [e for e in manifest.get("external_files", []) if e.get("included")]
    # orthophotos can be large: each is hashed once here, and those in place are not restored
    in_place = {
        e["path"]
        for e in external
        if Path(e["path"]).exists() and _sha256(Path(e["path"])) == e["sha256"]
    }
    differing = [
        e["path"] for e in external if e["path"] not in in_place and Path(e["path"]).exists()
    ]
    if differing and not force:
        raise Conflict(
            f"{len(differing)} orthophoto/DSM files outside {data_dir} exist with other content "
            f"(e.g. {differing[0]}); pass --force to overwrite them"
        )
    args, env = _conn_args(url)
    data_dir.mkdir(parents=True, exist_ok=True)
    # staged beside data_dir (same file system): files are renamed into place, not copied
    with tempfile.TemporaryDirectory(prefix=".ge-restore-", dir=data_dir.parent) as tmp:
        staging = Path(tmp)
        echo(f"checking {len(manifest['files'])} stored files and the dump (SHA-256) …")
        with tarfile.open(archive) as tar:
            _stage_and_verify(tar, manifest, staging, progress)
        dump = staging / DUMP
        listing = _restore_list(dump, env, staging)
        _ensure_postgis(url)
        if existing:
            echo(f"emptying database {make_url(url).database} …")
            _empty_database(url)
        echo("pg_restore …")
        _run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--use-list={listing}",
                *args,
                str(dump),
            ],
            env,
            "pg_restore",
        )
        from geo_enforce.storage.migrate import apply_grants

        apply_grants(url)
        echo(f"restoring {len(manifest['files'])} stored files into {data_dir} …")
        for entry in manifest["files"]:
            target = data_dir / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / "files" / entry["path"], target)
        for i, entry in enumerate(manifest.get("external_files", [])):
            target = Path(entry["path"])
            if not entry.get("included") or entry["path"] in in_place:
                continue
            echo(f"restoring {target} (outside {data_dir}, where the database refers to it)")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / "external" / str(i) / target.name, target)
    verify(manifest, url, data_dir)
    return manifest


def verify(manifest: dict[str, Any], url: str, data_dir: Path) -> None:
    """Raise RestoreMismatch unless the database and files match the backup's manifest."""
    now = database_summary(url)
    for key in ("row_counts", "audit_log", "area_m2", "schema_heads"):
        if key in manifest and manifest[key] != now.get(key):
            raise RestoreMismatch(
                f"restored {key} differs from the backup: expected {manifest[key]}, "
                f"found {now.get(key)}"
            )
    for entry in manifest.get("external_files", []):
        if entry.get("included") and (
            not Path(entry["path"]).exists() or _sha256(Path(entry["path"])) != entry["sha256"]
        ):
            raise RestoreMismatch(f"external file {entry['path']} is missing or differs")
    for entry in manifest["files"]:
        p = Path(data_dir) / entry["path"]
        if not p.exists() or _sha256(p) != entry["sha256"]:
            raise RestoreMismatch(
                f"stored file {entry['path']} is missing or differs after restore"
            )
