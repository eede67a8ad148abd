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

``restore`` loads the dump into an empty database (or, with ``force``, one it empties first),
puts the files back under ``data_dir`` and then checks the result against the manifest: the
same row counts, the same audit log, the same area totals, the same file hashes. Any
difference raises, so a restore that "worked" but lost something never passes silently.

The dump is taken first and the files after it: a file is written before the row naming it
commits, so every file the dump refers to is in the archive (extra files are harmless).
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

from geo_enforce.errors import Conflict, DatabaseUnavailable, GeoEnforceError, InvalidInput

FORMAT = "geo-enforce-backup/1"
MANIFEST = "manifest.json"
DUMP = "database.dump"
FILES = "files/"
EXTERNAL = "external/"

Echo = Callable[[str], None]
#: progress callback: (bytes of stored files done, bytes in total)
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


class RestoreMismatch(GeoEnforceError):
    """A restored database or file differs from what the backup recorded."""


@dataclass(frozen=True)
class BackupResult:
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
    from geo_enforce.storage.models import MEASURED_TABLES

    with _connect(url) as conn:
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
    place from the command line). Relative paths are taken from the working directory, as the
    flight catalogue writes them."""
    root = Path(data_dir).resolve()
    with _connect(url) as conn:
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
            p = Path(value).resolve()
            if not p.is_relative_to(root) and p.is_file() and p not in out:
                out.append(p)
    return sorted(out)


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
        summary = database_summary(url)
        _run(
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--file",
                str(dump),
                *args,
            ],
            env,
            "pg_dump",
        )
        files = (
            sorted(p for p in data_dir.rglob("*") if p.is_file() and not p.name.endswith(".part"))
            if data_dir.exists()
            else []
        )
        outside = external_files(url, data_dir)
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
        with tarfile.open(part, "w") as tar:
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


def _empty_database(url: str) -> None:
    """Drop everything in schema public (tables, functions, the postgis extension)."""
    with _connect(url, isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


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
    with tempfile.TemporaryDirectory(prefix="ge-restore-") as tmp, tarfile.open(archive) as tar:
        dump_member = tar.getmember(DUMP)
        tar.extract(dump_member, tmp, filter="data")
        dump = Path(tmp) / DUMP
        if _sha256(dump) != manifest["dump_sha256"]:
            raise RestoreMismatch(f"{archive}: the database dump is damaged (SHA-256 differs)")
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
                *args,
                str(dump),
            ],
            env,
            "pg_restore",
        )
        echo(f"restoring {len(manifest['files'])} stored files into {data_dir} …")
        data_dir.mkdir(parents=True, exist_ok=True)
        total = sum(e["size"] for e in manifest["files"])
        done = 0
        for entry in manifest["files"]:
            member = tar.getmember(FILES + entry["path"])
            member.name = entry["path"]
            tar.extract(member, data_dir, filter="data")
            done += entry["size"]
            progress(done, total)
        for i, entry in enumerate(manifest.get("external_files", [])):
            target = Path(entry["path"])
            if not entry.get("included") or entry["path"] in in_place:
                continue
            echo(f"restoring {target} (outside {data_dir}, where the database refers to it)")
            target.parent.mkdir(parents=True, exist_ok=True)
            member = tar.getmember(f"{EXTERNAL}{i}/{target.name}")
            member.name = target.name
            tar.extract(member, target.parent, filter="data")
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
