"""Backup and restore: database and stored files round-trip exactly, through library and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geo_enforce.errors import Conflict, InvalidInput
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


def test_restore_refuses_a_non_empty_database_unless_forced(db_url, sessions, tmp_path):
    seed_ledger(sessions)
    archive = backup.backup(db_url, tmp_path / "none", tmp_path / "b.tar").path
    with pytest.raises(Conflict, match="not empty"):
        backup.restore(archive, db_url, tmp_path / "var")
    # forced: emptied and reloaded, and still identical
    before = backup.database_summary(db_url)
    sessions.kw["bind"].dispose()  # the restore drops the schema under open connections
    backup.restore(archive, db_url, tmp_path / "var", force=True)
    assert backup.database_summary(db_url) == before


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
    import datetime as dt

    from geo_enforce.storage.engine import transaction
    from geo_enforce.storage.models import Flight
    from tests.support.trust_seed import square

    outside = tmp_path / "survey" / "2024-05" / "ortho.tif"
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"II*\x00" + os.urandom(4000))
    with transaction(sessions, "cli:test") as s:
        s.add(
            Flight(
                name="f1",
                flown_on=dt.date(2024, 5, 1),
                gsd_m=0.05,
                ortho_path=str(outside),
                crs="EPSG:4548",
                width=10,
                height=10,
                band_count=3,
                footprint=square(0),
            )
        )
    data = outside.read_bytes()
    skipped = backup.backup(db_url, tmp_path / "var", tmp_path / "no.tar", include_external=False)
    assert skipped.manifest["external_files"][0]["included"] is False
    archive = backup.backup(db_url, tmp_path / "var", tmp_path / "b.tar").path
    outside.unlink()
    backup.restore(archive, empty_db, tmp_path / "var2")
    assert outside.read_bytes() == data
