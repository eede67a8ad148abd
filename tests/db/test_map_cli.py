"""``geo-enforce map``: the offline export from the command line (a real process)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.mapdata import seed_ledger


def _cli(*args: str, db_url: str, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "GEO_ENFORCE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-c", "from geo_enforce.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_map_command_writes_the_offline_page(sessions, db_url, tmp_path):
    seeded = seed_ledger(sessions, tmp_path / "var")
    out = tmp_path / "maps" / "大任庄村.html"
    r = _cli(
        "map", "--out", str(out), "--village", "大任庄村", db_url=db_url, data_dir=seeded.data_dir
    )
    assert r.returncode == 0, r.stderr
    html = out.read_text("utf-8")
    assert '"mode": "offline"' in html and "XQ-2024-0007" in html
    assert "已写出" in r.stderr


def test_map_command_names_an_unknown_village(sessions, db_url, tmp_path):
    seed_ledger(sessions, tmp_path / "var", flights=False)
    r = _cli(
        "map",
        "--out",
        str(tmp_path / "m.html"),
        "--village",
        "王庄",
        db_url=db_url,
        data_dir=tmp_path / "var",
    )
    assert r.returncode == 2
    assert "village '王庄' not found" in r.stderr and "大任庄村" in r.stderr
    assert not (tmp_path / "m.html").exists()
