"""``geo-enforce farmland …`` end to end against a real PostGIS."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from geo_enforce.cli import app, common
from geo_enforce.errors import InvalidInput
from tests.db.test_farmland_photos import make_jpeg
from tests.support import farmland_seed as fs


@pytest.fixture
def cli(sessions, db_url, tmp_path, monkeypatch):
    fs.seed(sessions, rulings=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:liaison")
    common.settings.cache_clear()
    common.engine.cache_clear()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["farmland", *args])

    yield run
    common.engine().dispose()
    common.settings.cache_clear()
    common.engine.cache_clear()


def test_cli_flow(cli, tmp_path):
    r = cli("lookup", "--point", f"{fs.X0 + 0.003},{fs.Y0 + 0.001}")
    assert r.exit_code == 0, r.output
    assert "P2" in r.stdout and "水浇地" in r.stdout

    r = cli("report", "P1", "--json", "--pdf", str(tmp_path / "p1.pdf"))
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["permanent_basic"]["share_pct"] == pytest.approx(100.0)
    assert (tmp_path / "p1.pdf").read_bytes().startswith(b"%PDF")

    r = cli("verify", "P1", "--result", "construction", "--notes", "彩钢房")
    assert r.exit_code == 0, r.output
    vid = r.stdout.split()[1].rstrip(":")
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(make_jpeg(fs.X0 + 0.001, fs.Y0 + 0.001, heading=12.0))
    r = cli("photo", vid, str(jpg))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["heading_deg"] == 12.0
    r = cli("open-case", vid, "--category", "steel_shed")
    assert r.exit_code == 0 and "opened" in r.stdout

    r = cli("rule", "BH-2024-01", "illegal", "--note", "未批先建")
    assert r.exit_code == 0, r.output
    r = cli("rulings", "--period", "year")
    assert r.exit_code == 0 and "违法占用比例" in r.stdout and "2024" in r.stdout

    out = tmp_path / "pts.geojson"
    r = cli("photo-points", "--out", str(out))
    assert r.exit_code == 0 and len(json.loads(out.read_text())["features"]) == 1


def test_cli_refusals(cli, tmp_path):
    r = cli("lookup", "--point", "117.9,39.5")
    assert isinstance(r.exception, InvalidInput) and "outside the township" in str(r.exception)
    r = cli("rule", "BH-2024-02", "legal")
    assert isinstance(r.exception, InvalidInput) and "approval number" in str(r.exception)
