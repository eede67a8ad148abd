"""End to end on the sample township: API totals, the DOCX paragraph and the XLSX totals rows."""

from __future__ import annotations

import io
import re
from collections import defaultdict

import openpyxl
import pytest
import shapely
from docx import Document
from fastapi.testclient import TestClient

from api import create_app
from geo_enforce.demo import sample
from geo_enforce.reports.annual import build_annual
from geo_enforce.reports.export import docx_bytes, xlsx_bytes
from geo_enforce.settings import Settings
from tests.conftest import bearer_headers
from tests.support.reports_ledger import geod_area


@pytest.fixture(scope="module")
def township(module_sessions, module_db_url, tmp_path_factory):
    sample.load_township(module_sessions)
    layers = sample.build_township()
    (headers,) = bearer_headers(module_sessions, ("author", "viewer"))
    settings = Settings(database_url=module_db_url, data_dir=tmp_path_factory.mktemp("var"))
    with TestClient(create_app(settings)) as client:
        client.headers.update(headers)
        yield module_sessions, layers, client


def _latest_year(structures) -> int:
    dem = structures[structures["status"] == "demolished"]
    return max(d.year for d in dem["demolished_on"] if d is not None)


def test_demolished_by_village_equals_independent(township):
    _, layers, client = township
    st = layers["structure"]
    year = _latest_year(st)
    chosen = st[
        (st["status"] == "demolished")
        & st["demolished_on"].map(lambda d: d is not None and d.year == year)
    ]
    sums: dict[str, float] = defaultdict(float)
    geoms: dict[str, list] = defaultdict(list)
    for code, g in zip(chosen["village_code"], chosen.geometry, strict=True):
        sums[code] += geod_area(g)
        geoms[code].append(g)
    body = client.get(
        "/reports/areas", params={"year": year, "status": "demolished", "group_by": "village"}
    ).json()
    got = {g["key"]["village"]: g for g in body["groups"]}
    assert set(got) == set(sums)
    for code, total in sums.items():
        assert got[code]["area_m2"] == pytest.approx(total, abs=0.011)
        assert got[code]["dissolved_m2"] == pytest.approx(
            geod_area(shapely.union_all(geoms[code])), abs=0.011
        )
    assert body["total"]["count"] == len(chosen)
    assert body["total"]["area_m2"] == pytest.approx(sum(sums.values()), abs=0.011)


def test_docx_paragraph_and_xlsx_totals(township, artifacts):
    factory, layers, client = township
    year = _latest_year(layers["structure"])
    with factory() as s:
        rep = build_annual(s, year)
    areas = client.get(
        "/reports/areas", params={"year": year, "status": "demolished", "group_by": "village"}
    ).json()
    p0 = rep.paragraphs[0]
    m = re.match(rf"{year}年，全镇拆除违法建设(\d+)处，共计(\d+)平方米（约(\d+)亩）。其中拆除", p0)
    assert m, p0
    assert int(m[1]) == areas["total"]["count"]
    assert abs(int(m[2]) - areas["total"]["area_m2"]) <= 0.5
    # every village named with its own whole m², largest first
    listing = p0.split("其中拆除", 1)[1].split("。", 1)[0]
    parts = [re.fullmatch(r"(.+)违建(\d+)平方米", part) for part in listing.split("，")]
    assert all(parts), listing
    named = [p.groups() for p in parts if p is not None]
    by_name = {g["labels"]["village"]: g["area_m2"] for g in areas["groups"]}
    assert [n for n, _ in named] == sorted(by_name, key=lambda n: -by_name[n])
    for name, m2 in named:
        assert abs(int(m2) - by_name[name]) <= 0.5
    assert "治理违法占地项目" in "".join(rep.paragraphs)

    doc = Document(io.BytesIO(docx_bytes(rep)))
    assert p0 in [p.text for p in doc.paragraphs]
    data = xlsx_bytes(rep)
    (artifacts / "reports").mkdir(exist_ok=True)
    (artifacts / "reports" / f"sample-annual-{year}.xlsx").write_bytes(data)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    totals = _evaluated_totals(wb["按村拆除违法建设"])
    assert totals[1] == areas["total"]["count"]
    assert totals[3] == pytest.approx(areas["total"]["area_m2"], abs=0.005)
    assert totals[4] == pytest.approx(areas["total"]["area_mu"], abs=0.005)
    assert totals[5] == areas["total"]["dissolved_m2"]  # a value: a union is not a sum
    cleared = client.get("/reports/cleared-parcels", params={"year": year}).json()
    ct = _evaluated_totals(wb["治理违法占地"])
    assert ct[1] == cleared["total"]["count"]
    assert ct[2] == pytest.approx(cleared["total"]["area_m2"], abs=0.005)


def _evaluated_totals(ws) -> list:
    """The 合计 row with each ``=SUM(X4:Xn)`` formula replaced by the sum of those cells."""
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    k = next(i for i, r in enumerate(rows) if r[0] == "合计")
    out = []
    for c, value in enumerate(rows[k]):
        if isinstance(value, str) and value.startswith("=SUM("):
            col = value[5]
            assert value == f"=SUM({col}4:{col}{3 + k})", value
            value = sum(r[c] for r in rows[:k])
        out.append(value)
    return out
