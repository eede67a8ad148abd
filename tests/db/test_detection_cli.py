"""``geo-enforce flight …`` and ``geo-enforce detect`` against PostGIS (CLI in process)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from geo_enforce.cli import common
from geo_enforce.cli.common import app, run_guarded
from geo_enforce.demo.synthetic import synthetic_pair


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:test")
    common.settings.cache_clear()
    common.engine.cache_clear()
    yield
    common.engine().dispose()
    common.settings.cache_clear()
    common.engine.cache_clear()


def _run(argv, capsys) -> tuple[int, str, str]:
    code = 0
    try:
        run_guarded(app, argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_flight_add_list_detect_resume_retire(cli, tmp_path, capsys):
    pair = synthetic_pair(tmp_path / "p", seed=61, size_px=(480, 480))
    for name, ortho, dsm, day in (
        ("b", pair.before_ortho, pair.before_dsm, "2024-04-01"),
        ("a", pair.after_ortho, pair.after_dsm, "2024-06-01"),
    ):
        code, out, err = _run(
            ["flight", "add", str(ortho), "--dsm", str(dsm), "--date", day, "--name", name], capsys
        )
        assert code == 0, err
        assert json.loads(out)["has_dsm"] is True
    code, out, _ = _run(["flight", "list", "--json"], capsys)
    assert [f["name"] for f in json.loads(out)] == ["b", "a"]
    code, out, err = _run(["flight", "show", "a", "--base-url", "http://gis.example:8000/"], capsys)
    assert code == 0, err
    hrefs = [a["href"] for a in json.loads(out)["stac"]["assets"].values()]
    assert len(hrefs) == 2 and all(h.startswith("http://gis.example:8000/") for h in hrefs)
    assert str(tmp_path) not in out  # no server path in what a user may paste on

    code, out, err = _run(["detect", "b", "a", "--tile", "256"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["complete"] and summary["windows"] == 4 and summary["patches"] >= 3
    code, out, _ = _run(["detect", "--resume", str(summary["run_id"]), "b", "a"], capsys)
    assert json.loads(out)["patches"] == summary["patches"]

    code, out, err = _run(["flight", "retire", "b", "--reason", "重飞"], capsys)
    assert code == 0 and "retired" in out
    code, out, err = _run(["detect", "b", "a"], capsys)
    assert code == 2 and "not found" in err


def test_flight_add_refuses_a_plain_photo(cli, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
    code, _, err = _run(["flight", "add", str(photo), "--date", "2024-04-01"], capsys)
    assert code == 2 and "错误" in err and "no georeference" in err
    code, _, err = _run(["flight", "add", str(photo), "--date", "April"], capsys)
    assert code == 2 and "YYYY-MM-DD" in err


@pytest.mark.parametrize("columns", ["40", "400"])
def test_cli_error_is_never_wrapped(db_url, tmp_path, columns):
    """The real command, not a terminal, narrow COLUMNS, a long path: the message stays whole."""
    import os
    import subprocess
    import sys

    deep = tmp_path.joinpath(*(["a_rather_long_folder_name_[x]"] * 6))
    deep.mkdir(parents=True)
    photo = deep / "photo.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
    env = {
        **os.environ,
        "COLUMNS": columns,
        "DATABASE_URL": db_url,
        "GEO_ENFORCE_DATA_DIR": str(tmp_path / "var"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geo_enforce.cli",
            "flight",
            "add",
            str(photo),
            "--date",
            "2024-04-01",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("错误 ")]
    # one line, the path printed exactly (brackets are not read as markup), the phrase unbroken
    assert len(errors) == 1, proc.stderr
    assert str(photo) in errors[0] and "no georeference (CRS and geotransform missing)" in errors[0]
