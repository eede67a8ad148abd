"""GET /reports/*: totals through HTTP equal the independent totals; roles; annual files."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.routers.reports import AreaReportOut
from geo_enforce.settings import Settings
from tests.conftest import bearer_headers
from tests.support import reports_ledger as L


@pytest.fixture(scope="module")
def api(module_sessions, module_db_url, tmp_path_factory):
    records = L.build_records()
    L.load(module_sessions, records)
    (headers,) = bearer_headers(module_sessions, ("squad", "viewer"))
    settings = Settings(database_url=module_db_url, data_dir=tmp_path_factory.mktemp("var"))
    with TestClient(create_app(settings)) as client:
        client.headers.update(headers)
        yield client, records


def _groups(body):
    return {tuple(g["key"].values()): g for g in body["groups"]}


def test_areas_need_a_token(api):
    client, _ = api
    r = client.get("/reports/areas", headers={"Authorization": ""})
    assert r.status_code == 401


def test_areas_grouped_equal_independent(api):
    client, records = api
    r = client.get(
        "/reports/areas",
        params={"year": 2024, "status": "demolished", "group_by": "village,category"},
    )
    assert r.status_code == 200, r.text
    body = AreaReportOut.model_validate(r.json()).model_dump()
    exp = L.expected_totals(
        records["structure"],
        lambda r: r["status"] == "demolished" and L.in_year("demolished_on", 2024)(r),
        lambda r: (r["village_code"], r["category"]),
    )
    got = _groups(body)
    assert set(got) == set(exp) - {("__total__",)}
    for k, g in [*got.items(), (("__total__",), body["total"])]:
        e = exp[k]
        assert g["count"] == e["count"]
        assert g["area_m2"] == pytest.approx(e["area_m2"], abs=0.0051)
        assert g["area_mu"] == pytest.approx(e["area_m2"] * 3 / 2000, abs=0.0051)
        assert g["dissolved_m2"] == pytest.approx(e["dissolved_m2"], abs=0.0051)
        assert g["households"] == e["households"]
    assert body["total"]["differs"] is True
    assert body["total"]["text"]["m2"] == f"{round(body['total']['area_m2'])}平方米"


def test_areas_repeated_list_params_and_floor_measure(api):
    client, records = api
    r = client.get(
        "/reports/areas",
        params=[("status", "demolished"), ("status", "rectified"), ("measure", "floor"),
                ("group_by", "status")],
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    exp = L.expected_totals(
        records["structure"], lambda r: r["status"] in ("demolished", "rectified"),
        lambda r: (r["status"],), measure="floor",
    )  # fmt: skip
    assert body["measure_label"] == "建筑面积"
    assert body["total"]["area_m2"] == pytest.approx(exp[("__total__",)]["area_m2"], abs=0.0051)
    assert body["total"]["dissolved_m2"] is None


def test_cleared_parcels_endpoint(api):
    client, records = api
    r = client.get("/reports/cleared-parcels", params={"year": 2024, "group_by": "village"})
    assert r.status_code == 200, r.text
    body = r.json()
    exp = L.expected_totals(
        records["cleared_parcel"], L.in_year("cleared_on", 2024), lambda r: (r["village_code"],)
    )
    assert body["total"]["count"] == exp[("__total__",)]["count"]
    assert body["total"]["dissolved_m2"] == pytest.approx(
        exp[("__total__",)]["dissolved_m2"], abs=0.0051
    )
    assert body["unit"] == "宗"


def test_change_patches_endpoint_on_farmland(api):
    client, records = api
    r = client.get(
        "/reports/change-patches", params={"red_line_kind": "basic_farmland", "group_by": "ruling"}
    )
    assert r.status_code == 200, r.text
    exp = L.expected_totals(records["change_patch"], L.on_farmland, lambda r: (r["ruling"],))
    assert r.json()["total"]["count"] == exp[("__total__",)]["count"]
    clipped = client.get(
        "/reports/change-patches",
        params={"red_line_kind": "basic_farmland", "red_line_clip": "true"},
    ).json()
    inside = sum(
        L.geod_area(r["geom"].intersection(L.FARMLAND_BOX))
        for r in records["change_patch"]
        if L.on_farmland(r)
    )
    assert clipped["total"]["area_m2"] == pytest.approx(inside, abs=0.0051)
    assert clipped["filters"]["red_line_clip"] is True


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/reports/areas", {"group_by": "ruling"}, 422),
        ("/reports/areas", {"measure": "volume"}, 422),
        ("/reports/areas", {"admin_code": "NOPE"}, 404),
        ("/reports/annual", {"year": 2024, "format": "pdf"}, 422),
    ],
)
def test_bad_parameters_are_client_errors(api, path, params, status):
    client, _ = api
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"]["status"] == status


def test_annual_json_and_files(api):
    client, _ = api
    r = client.get("/reports/annual", params={"year": 2024})
    assert r.status_code == 200, r.text
    body = r.json()
    areas = client.get(
        "/reports/areas", params={"year": 2024, "status": "demolished", "group_by": "village"}
    ).json()
    assert body["figures"]["demolished_m2"] == areas["total"]["area_m2"]
    assert body["paragraphs"][0].startswith("2024年，全镇拆除违法建设")

    x = client.get("/reports/annual", params={"year": 2024, "format": "xlsx"})
    assert x.status_code == 200 and x.content[:2] == b"PK"
    assert "annual-2024.xlsx" in x.headers["content-disposition"]
    d = client.get("/reports/annual", params={"year": 2024, "format": "docx"})
    assert d.status_code == 200 and d.content[:2] == b"PK"
    c = client.get("/reports/annual", params={"year": 2024, "format": "csv"})
    names = zipfile.ZipFile(io.BytesIO(c.content)).namelist()
    assert "2024_demolished_by_village.csv" in names and len(names) == len(body["tables"])


@pytest.mark.parametrize("path", ["/reports/areas", "/reports/cleared-parcels"])
def test_totals_as_csv_with_bom(api, path):
    """format=csv: the same groups as the JSON, UTF-8 with a BOM so Excel shows the Chinese."""
    import csv

    client, _ = api
    params = {"group_by": "village"}
    body = client.get(path, params=params).json()
    r = client.get(path, params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + len(body["groups"]) + 1  # header, groups, 合计
    assert rows[-1][0] == "合计"
    assert client.get(path, params={"format": "xml"}).status_code == 422
