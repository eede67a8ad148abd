"""Backup and restore: database and stored files round-trip exactly, through library and CLI."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo_enforce.errors import ConfigError, Conflict, InvalidInput
from geo_enforce.storage import backup, localdb
from tests.support.trust_seed import seed_ledger

ROOT = Path(__file__).resolve().parents[2]


def _files(data_dir: Path) -> dict[str, bytes]:
    (data_dir / "photos").mkdir(parents=True)
    (data_dir / "chips").mkdir(parents=True)
    files = {
        "photos/0123456789abcdef0123456789abcdef.jpg": b"\xff\xd8\xff\xe0" + os.urandom(5000),
        "chips/fedcba9876543210fedcba9876543210.png": b"\x89PNG\r\n\x1a\n" + os.urandom(3000),
    }
    for rel, data in files.items():
        (data_dir / rel).write_bytes(data)
    return files


def _add_flight(sessions, ortho_path: str) -> None:
    """A flight record 'f1' whose orthophoto is stored as ``ortho_path``."""
    import datetime as dt

    from geo_enforce.storage.engine import transaction
    from geo_enforce.storage.models import Flight
    from tests.support.trust_seed import square

    with transaction(sessions, "cli:test") as s:
        s.add(
            Flight(
                name="f1",
                flown_on=dt.date(2024, 5, 1),
                gsd_m=0.05,
                ortho_path=ortho_path,
                crs="EPSG:4548",
                width=10,
                height=10,
                band_count=3,
                footprint=square(0),
            )
        )


@pytest.fixture
def empty_db(pg_port: int):
    name = f"ge_r_{uuid.uuid4().hex[:10]}"
    url = localdb.ensure_database(pg_port, name)
    yield url
    localdb.drop_database(pg_port, name)


def test_round_trip_reproduces_database_and_files(db_url, sessions, tmp_path, empty_db):
    seed_ledger(sessions)
    src_dir = tmp_path / "var"
    files = _files(src_dir)
    before = backup.database_summary(db_url)
    assert before["audit_log"]["rows"] >= 16  # inserts, an update, a retirement

    ticks: list[tuple[int, int]] = []
    result = backup.backup(
        db_url, src_dir, tmp_path / "b.tar", progress=lambda d, t: ticks.append((d, t))
    )
    total = sum(len(d) for d in files.values())
    assert len(ticks) == len(files) and ticks[-1] == (total, total)
    with tarfile.open(result.path) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "database.dump"} <= names
    assert {f"files/{rel}" for rel in files} <= names

    out_dir = tmp_path / "restored"
    manifest = backup.restore(result.path, empty_db, out_dir)
    assert manifest["row_counts"] == before["row_counts"]
    after = backup.database_summary(empty_db)
    assert after == before
    for rel, data in files.items():
        assert (out_dir / rel).read_bytes() == data
    # the restored database keeps refusing deletes (triggers restored with the schema)
    eng = create_engine(empty_db)
    with eng.connect() as conn, pytest.raises(Exception, match="retired, never deleted"):
        conn.execute(text("DELETE FROM structure"))
    eng.dispose()


def _owner(url: str, pg_port: int) -> str:
    database = make_url(url).database
    assert database is not None
    return localdb.url_for(pg_port, database, localdb.OWNER_ROLE)


def test_restore_refuses_a_non_empty_database_unless_forced(db_url, sessions, tmp_path, pg_port):
    seed_ledger(sessions)
    archive = backup.backup(db_url, tmp_path / "none", tmp_path / "b.tar").path
    owner = _owner(db_url, pg_port)
    with pytest.raises(Conflict, match="not empty"):
        backup.restore(archive, owner, tmp_path / "var")
    # forced: emptied and reloaded, and still identical
    before = backup.database_summary(db_url)
    sessions.kw["bind"].dispose()  # the restore drops the schema under open connections
    backup.restore(archive, owner, tmp_path / "var", force=True)
    assert backup.database_summary(db_url) == before
    # the app role can write the reloaded tables (grants applied again after the load)
    from geo_enforce.access.auth import create_user
    from geo_enforce.storage.engine import transaction

    with transaction(sessions, "cli:after-restore") as s:
        create_user(s, "after_restore", "viewer")


def test_restore_needs_the_schema_owner(db_url, sessions, tmp_path):
    seed_ledger(sessions)
    archive = backup.backup(db_url, tmp_path / "none", tmp_path / "b.tar").path
    with pytest.raises(ConfigError, match="needs the schema owner"):
        backup.restore(archive, db_url, tmp_path / "var", force=True)


def test_archive_is_private_and_holds_no_plaintext_token(db_url, sessions, tmp_path, monkeypatch):
    """The demo admin token is kept outside the data directory (0600), a token file an older
    demo left in the data directory is not archived, and the archive is 0600."""
    from geo_enforce.cli import demo

    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "var"
    _files(data_dir)
    token = demo._demo_token(sessions)
    token_file = tmp_path / demo.DEMO_TOKEN_FILE
    assert token_file.read_text().strip() == token
    assert not token_file.resolve().is_relative_to(data_dir.resolve())
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    (data_dir / "demo-token").write_text(token + "\n")  # as older versions left it
    archive = tmp_path / "out" / "b.tar"
    archive.parent.mkdir()
    archive.write_bytes(b"")  # an existing file with the default mode is made private too
    archive.chmod(0o644)
    notes: list[str] = []
    result = backup.backup(db_url, data_dir, archive, echo=notes.append)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert any("demo-token" in n and "secret" in n for n in notes)
    with tarfile.open(result.path) as tar:
        assert "files/demo-token" not in tar.getnames()
        blobs = [tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]
    assert blobs and not any(token.encode() in b for b in blobs)


def test_manifest_describes_the_dump_under_concurrent_writes(db_url, sessions, tmp_path, empty_db):
    """Summary and dump read one exported snapshot: with writes landing all through the backup,
    the restored database still matches the manifest exactly."""
    from geo_enforce.access.auth import create_user
    from geo_enforce.storage.engine import transaction

    seed_ledger(sessions)
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            with transaction(sessions, "cli:writer") as s:
                create_user(s, f"w{written[0]}_{uuid.uuid4().hex[:6]}", "viewer")
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 5:
            time.sleep(0.01)
        result = backup.backup(db_url, tmp_path / "none", tmp_path / "b.tar")
        during = written[0]
    finally:
        stop.set()
        thread.join(30)
    assert during > 5, "no write landed during the backup"
    backup.restore(result.path, empty_db, tmp_path / "var2")  # verify() compares with the manifest
    assert backup.database_summary(empty_db)["row_counts"] == result.manifest["row_counts"]


def _tamper(archive: Path, member_name: str, out: Path) -> None:
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
            if m.name == member_name and data is not None:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            dst.addfile(m, io.BytesIO(data) if data is not None else None)


@pytest.mark.parametrize(
    "member", ["files/photos/0123456789abcdef0123456789abcdef.jpg", "database.dump"]
)
def test_a_tampered_archive_is_refused_before_the_database_is_touched(
    db_url, sessions, tmp_path, empty_db, member
):
    seed_ledger(sessions)
    _files(tmp_path / "var")
    archive = backup.backup(db_url, tmp_path / "var", tmp_path / "b.tar").path
    bad = tmp_path / "bad.tar"
    _tamper(archive, member, bad)
    out_dir = tmp_path / "restored"
    with pytest.raises(backup.RestoreMismatch, match="damaged or was altered"):
        backup.restore(bad, empty_db, out_dir)
    assert backup.database_summary(empty_db)["row_counts"] == {}  # nothing loaded
    assert not out_dir.exists() or not any(p.is_file() for p in out_dir.rglob("*"))


def test_flight_files_restore_into_another_data_dir(db_url, sessions, tmp_path, empty_db):
    """Paths under data_dir are stored relative to it: a restore elsewhere finds them."""
    from geo_enforce.storage.paths import resolve_stored, to_stored

    src = tmp_path / "machine-a" / "var"
    ortho = src / "flights" / "f1" / "ortho.tif"
    ortho.parent.mkdir(parents=True)
    ortho.write_bytes(b"II*\x00" + os.urandom(2000))
    _add_flight(sessions, to_stored(ortho, src))
    archive = backup.backup(db_url, src, tmp_path / "b.tar")
    assert archive.manifest["external_files"] == []  # nothing outside data_dir
    dst = tmp_path / "machine-b" / "data"
    backup.restore(archive.path, empty_db, dst)
    eng = create_engine(empty_db)
    with eng.connect() as conn:
        stored = conn.execute(text("SELECT ortho_path FROM flight")).scalar_one()
    eng.dispose()
    assert stored == "flights/f1/ortho.tif"
    assert resolve_stored(stored, dst).read_bytes() == ortho.read_bytes()


def test_damaged_or_foreign_archive_is_refused(tmp_path, db_url):
    bogus = tmp_path / "x.tar"
    bogus.write_bytes(b"not a tar at all")
    with pytest.raises(InvalidInput, match="not a geo-enforce backup"):
        backup.restore(bogus, db_url, tmp_path / "var")


def test_cli_backup_and_restore(db_url, sessions, tmp_path, empty_db):
    seed_ledger(sessions)
    _files(tmp_path / "var")
    exe = [str(Path(sys.executable).parent / "geo-enforce")]
    env = {**os.environ, "DATABASE_URL": db_url, "GEO_ENFORCE_DATA_DIR": str(tmp_path / "var")}
    archive = tmp_path / "cli.tar"
    r = subprocess.run(
        [*exe, "db", "backup", str(archive)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert archive.exists()

    env2 = {**env, "DATABASE_URL": empty_db, "GEO_ENFORCE_DATA_DIR": str(tmp_path / "var2")}
    r = subprocess.run(
        [*exe, "db", "restore", str(archive)], env=env2, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "verified" in r.stderr
    assert backup.database_summary(empty_db) == backup.database_summary(db_url)
    # a second restore into the now non-empty database is refused with a clear message
    r = subprocess.run(
        [*exe, "db", "restore", str(archive)], env=env2, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "--force" in r.stderr


def test_orthophotos_outside_data_dir_are_archived_and_restored(
    db_url, sessions, tmp_path, empty_db
):
    outside = tmp_path / "survey" / "2024-05" / "ortho.tif"
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"II*\x00" + os.urandom(4000))
    _add_flight(sessions, str(outside))
    data = outside.read_bytes()
    skipped = backup.backup(db_url, tmp_path / "var", tmp_path / "no.tar", include_external=False)
    assert skipped.manifest["external_files"][0]["included"] is False
    archive = backup.backup(db_url, tmp_path / "var", tmp_path / "b.tar").path
    outside.unlink()
    backup.restore(archive, empty_db, tmp_path / "var2")
    assert outside.read_bytes() == data


def test_migration_makes_written_flight_paths_relative(pg_port):
    """0011: paths the application wrote (…/flights/<name>/ortho.tif) become relative to the
    data directory; a COG registered in place keeps its absolute path; each change audited."""
    from geoalchemy2.shape import to_shape

    from geo_enforce.storage.migrate import upgrade
    from tests.support.trust_seed import square

    name = f"ge_m_{uuid.uuid4().hex[:10]}"
    owner = localdb.ensure_database(pg_port, name)
    try:
        upgrade(owner, "0004_layer_versions")
        eng = create_engine(owner)
        with eng.begin() as conn:
            for fname, ortho, dsm in (
                (
                    "f1",
                    "/old/machine/var/flights/f1/ortho.tif",
                    "/old/machine/var/flights/f1/dsm.tif",
                ),
                ("f2", "var/flights/f2/ortho.tif", None),
                ("f3", "/survey/2024/cog.tif", None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO flight (name, flown_on, gsd_m, ortho_path, dsm_path, crs, "
                        "width, height, band_count, footprint) VALUES (:n, '2024-05-01', 0.05, "
                        ":o, :d, 'EPSG:4548', 10, 10, 3, ST_GeomFromEWKT(:g))"
                    ),
                    {"n": fname, "o": ortho, "d": dsm, "g": f"SRID=4490;{to_shape(square(0)).wkt}"},
                )
        upgrade(owner)
        with eng.connect() as conn:
            rows = conn.execute(
                text("SELECT name, ortho_path, dsm_path FROM flight ORDER BY name")
            ).all()
            actors = set(
                conn.execute(
                    text(
                        "SELECT actor FROM audit_log "
                        "WHERE table_name = 'flight' AND action = 'update'"
                    )
                ).scalars()
            )
        eng.dispose()
    finally:
        localdb.drop_database(pg_port, name)
    assert [tuple(r) for r in rows] == [
        ("f1", "flights/f1/ortho.tif", "flights/f1/dsm.tif"),
        ("f2", "flights/f2/ortho.tif", None),
        ("f3", "/survey/2024/cog.tif", None),
    ]
    assert actors == {"migration:0011_relative_flight_paths"}
