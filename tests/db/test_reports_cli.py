"""``geo-enforce report …``: the CLI prints the same totals as the library and writes files."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from geo_enforce.cli import app, common
from geo_enforce.storage.engine import make_engine, make_sessionmaker
from tests.support import reports_ledger as L


@pytest.fixture(scope="module")
def cli(module_db_url):
    engine = make_engine(module_db_url)
    records = L.build_records()
    L.load(make_sessionmaker(engine), records)
    engine.dispose()
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", module_db_url)
    common.settings.cache_clear()
    common.engine.cache_clear()
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, list(args))
        return result

    yield run, records
    common.engine().dispose()
    common.settings.cache_clear()
    common.engine.cache_clear()
    mp.undo()


def test_areas_json_equals_independent(cli):
    run, records = cli
    res = run("report", "areas", "--year", "2024", "--status", "demolished",
              "--group-by", "village", "--format", "json")  # fmt: skip
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    exp = L.expected_totals(
        records["structure"],
        lambda r: r["status"] == "demolished" and L.in_year("demolished_on", 2024)(r),
        lambda r: (r["village_code"],),
    )
    for g in body["groups"]:
        e = exp[(g["key"]["village"],)]
        assert g["count"] == e["count"]
        assert g["area_m2"] == pytest.approx(e["area_m2"], abs=0.0051)
        assert g["dissolved_m2"] == pytest.approx(e["dissolved_m2"], abs=0.0051)
    assert body["total"]["area_mu"] == pytest.approx(
        exp[("__total__",)]["area_m2"] * 3 / 2000, abs=0.0051
    )


def test_areas_csv_and_table(cli):
    run, records = cli
    res = run("report", "areas", "--category", "villa", "--group-by", "village", "-f", "csv")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("\ufeff")  # every CSV carries the BOM Excel needs
    rows = list(csv.reader(io.StringIO(res.stdout.removeprefix("\ufeff"))))
    assert rows[0][:3] == ["村/社区", "数量", "户数"]
    assert rows[-1][0] == "合计"
    villas = [r for r in records["structure"] if r["category"] == "villa" and not r.get("retired")]
    assert int(rows[-1][1]) == len(villas)
    assert int(rows[-1][2]) == sum(r["households"] for r in villas)
    res = run("report", "cleared", "--year", "2024", "--group-by", "village")
    assert res.exit_code == 0, res.output
    assert "合计" in res.stdout and "周庄子村" in res.stdout


def test_bad_option_is_one_clear_line(cli):
    run, _ = cli
    res = run("report", "areas", "--group-by", "ruling")
    assert res.exit_code != 0
    assert "group_by 'ruling'" in str(res.exception)


def test_annual_writes_every_format(cli, tmp_path):
    run, _ = cli
    res = run("report", "annual", "--year", "2024", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"annual-2024.xlsx", "annual-2024.docx", "annual-2024.json"} <= names
    assert "annual-2024-chart_by_village.png" in names
    assert "annual-2024-demolished_by_village.csv" in names
    assert "2024年，全镇拆除违法建设" in res.stdout
