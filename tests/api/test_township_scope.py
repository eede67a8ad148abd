"""Several townships in one deployment through the API (issue 16 item 7): a user of township A
reads and writes nothing of township B by any route — records, OGC features, STAC, search,
audit, reports, tiles (whose cache keeps each scope apart) — and reports per township add up.
"""

from __future__ import annotations

import datetime as dt

import mapbox_vector_tile
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box

from geo_enforce.ledger import stock
from geo_enforce.storage import models as m
from geo_enforce.storage.engine import transaction
from geo_enforce.tiles.mvt import tiles_covering
from tests.conftest import bearer_headers, grant_townships
from tests.support.township_seed import (
    A_NAME,
    B_NAME,
    X0,
    Y0,
    A,
    B,
    seed_towns,
    seed_two_townships,
)


def _flight(name: str, x: float) -> m.Flight:
    fp = from_shape(MultiPolygon([box(x, Y0, x + 0.004, Y0 + 0.004)]), srid=4490)
    return m.Flight(name=name, flown_on=dt.date(2024, 6, 1), gsd_m=0.1, ortho_path=f"{name}.tif",
                    crs="EPSG:4548", width=10, height=10, band_count=3, footprint=fp)  # fmt: skip


@pytest.fixture
def two(client, sessions):
    seeded = seed_two_townships(sessions)
    with transaction(sessions, "test") as s:
        s.add_all([_flight("FA", X0 - 0.006), _flight("FB", X0 + 0.002)])
        stock.set_base_date(s, A, dt.date(2022, 12, 31))
        stock.set_base_date(s, B, dt.date(2023, 6, 30))
    a, b, boss, lost, a_admin = bearer_headers(
        sessions, ("a-ed", "editor"), ("b-vw", "viewer"), ("boss", "admin"), ("lost", "viewer"),
        ("a-admin", "admin"),
    )  # fmt: skip
    grant_townships(sessions, "a-ed", A)
    grant_townships(sessions, "b-vw", B)
    grant_townships(sessions, "a-admin", A)
    return {"ids": seeded.ids, "a": a, "b": b, "boss": boss, "lost": lost, "a_admin": a_admin}


def _features(client, url: str, headers) -> set[str]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return {
        f["properties"].get("case_no") or f["properties"].get("parcel_no") or f["id"]
        for f in r.json()["features"]
    }


def test_a_user_reads_only_their_township(client, two):
    a, b, boss, ids = two["a"], two["b"], two["boss"], two["ids"]
    assert client.get(f"/structures/{ids['SB-1']}", headers=a).status_code == 404
    assert client.get(f"/structures/{ids['SB-1']}", headers=b).status_code == 200
    assert client.get(f"/structures/{ids['SA-1']}", headers=b).status_code == 404
    assert _features(client, "/collections/structure/items", a) == {"SA-1", "SA-2"}
    assert _features(client, "/collections/structure/items", b) == {"SB-1", "SB-2"}
    assert len(_features(client, "/collections/structure/items", boss)) == 4
    assert _features(client, "/collections/cleared_parcel/items", a) == {"CA-1"}
    assert _features(client, "/collections/change_patch/items", a) == set()
    r = client.get(f"/collections/structure/items/{ids['SB-1']}", headers=a)
    assert r.status_code == 404
    assert [f["name"] for f in client.get("/flights", headers=a).json()] == ["FA"]
    stac = client.get("/stac/search", headers=a).json()
    assert [f["properties"]["title"] for f in stac["features"]] == ["FA"]
    assert client.get("/map/search?q=SB-1", headers=a).json() == []
    assert client.get("/map/search?q=SB-1", headers=b).json() != []
    assert [t["code"] for t in client.get("/townships", headers=a).json()] == [A]
    audit = client.get("/audit?table=structure&limit=1000", headers=a).json()
    assert {i["record_id"] for i in audit["items"]} == {ids["SA-1"], ids["SA-2"]}
    r = client.get("/me", headers=a)
    assert r.json() == {"name": "a-ed", "role": "editor", "townships": [A]}
    assert client.get("/me", headers=boss).json()["townships"] is None


def test_a_user_writes_only_their_township(client, two):
    a, ids = two["a"], two["ids"]

    def square(x: float) -> dict:
        ring = [[x, Y0], [x + 0.0003, Y0], [x + 0.0003, Y0 + 0.0003], [x, Y0 + 0.0003], [x, Y0]]
        return {"type": "Polygon", "coordinates": [ring]}

    body = {"case_no": "NEW-B", "category": "wall", "geometry": square(X0 + 0.004)}
    r = client.post("/structures", json=body, headers=a)
    assert r.status_code == 403, r.text
    assert f"belongs to township {B} {B_NAME}" in r.json()["error"]["message"]
    body = {"case_no": "NEW-B2", "category": "wall", "geometry": square(X0 - 0.004),
            "township_code": B}  # fmt: skip
    assert client.post("/structures", json=body, headers=a).status_code == 403
    body = {"case_no": "FAR", "category": "wall", "geometry": square(X0 + 0.5)}
    r = client.post("/structures", json=body, headers=a)
    assert r.status_code == 422
    assert "lies outside every township" in r.json()["error"]["message"]
    assert f"{A} {A_NAME}" in r.json()["error"]["message"]
    body = {"case_no": "NEW-A", "category": "wall", "geometry": square(X0 - 0.004)}
    assert client.post("/structures", json=body, headers=a).status_code == 201
    edit = {"notes": "x", "version": 1}
    assert client.patch(f"/structures/{ids['SB-2']}", json=edit, headers=a).status_code == 404
    move = {"to_status": "verified", "reason": "x", "version": 1}
    r = client.post(f"/structures/{ids['SB-2']}/transitions", json=move, headers=a)
    assert r.status_code == 404
    # A's own case moved into B: refused, nothing changed
    etag = client.get(f"/structures/{ids['SA-1']}", headers=a).headers["ETag"]
    r = client.patch(
        f"/structures/{ids['SA-1']}",
        json={"geometry": square(X0 + 0.004)},
        headers={**a, "If-Match": etag},
    )
    assert r.status_code == 403
    assert client.get(f"/structures/{ids['SA-1']}", headers=a).headers["ETag"] == etag


def test_a_user_without_a_township_in_a_deployment_of_several(client, two):
    lost = two["lost"]
    r = client.get(f"/structures/{two['ids']['SA-1']}", headers=lost)
    assert r.status_code == 403
    assert "geo-enforce user grant lost" in r.json()["error"]["message"]
    assert client.get("/me", headers=lost).json()["townships"] == []


def _total(client, url: str, headers) -> tuple[int, float]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    t = r.json()["total"]
    return t["count"], t["area_m2"]


def test_reports_per_township_add_up(client, two):
    a, b, boss = two["a"], two["b"], two["boss"]
    url = "/reports/areas?year=2024"
    n_all, m2_all = _total(client, url, boss)
    n_a, m2_a = _total(client, f"{url}&township={A}", boss)
    n_b, m2_b = _total(client, f"{url}&township={B}", boss)
    assert (n_all, n_a, n_b) == (3, 2, 1)
    assert m2_a + m2_b == pytest.approx(m2_all, abs=0.02)
    assert _total(client, url, a) == (n_a, m2_a)  # a user of one township: theirs by default
    assert _total(client, url, b) == (n_b, m2_b)
    r = client.get(f"{url}&group_by=township", headers=boss).json()
    assert [(g["labels"]["township"], g["count"]) for g in r["groups"]] == [
        (A_NAME, 2), (B_NAME, 1)
    ]  # fmt: skip
    assert client.get(f"{url}&township={B}", headers=a).status_code == 403
    assert client.get(f"{url}&township=999", headers=boss).status_code == 404
    assert _total(client, "/reports/cleared-parcels?year=2024", a)[0] == 1
    assert _total(client, f"/reports/cleared-parcels?year=2024&township={B}", boss)[0] == 1
    # the annual report of one township, in its own words (街道: 全街道)
    rep = client.get(f"/reports/annual?year=2024&township={B}", headers=boss).json()
    assert rep["title"].startswith(B_NAME)
    assert rep["paragraphs"][0].startswith("2024年，全街道拆除违法建设1处")
    rep = client.get("/reports/annual?year=2024", headers=a).json()
    assert rep["title"].startswith(A_NAME)
    assert rep["paragraphs"][0].startswith("2024年，全镇拆除违法建设2处")
    rep = client.get("/reports/annual?year=2024", headers=boss).json()
    assert rep["title"].startswith(f"{A_NAME}、{B_NAME}")
    assert rep["paragraphs"][0].startswith("2024年，全区拆除违法建设3处")
    r = client.get(f"/reports/annual?year=2024&township={B}&format=xlsx", headers=boss)
    assert r.status_code == 200
    assert f"annual-2024-{B}.xlsx" in r.headers["content-disposition"]


def _tile_cases(r) -> set[str]:
    decoded = mapbox_vector_tile.decode(r.content)
    return {f["properties"]["case_no"] for f in decoded.get("structure", {}).get("features", [])}


def test_the_tile_cache_never_serves_one_townships_tile_to_another(client, two):
    a, b, boss = two["a"], two["b"], two["boss"]
    z, x, y = tiles_covering((X0, Y0 + 0.0012, X0, Y0 + 0.0012), 15)[0]
    url = f"/tiles/structure/{z}/{x}/{y}.pbf"
    r = client.get(url, headers=a)
    assert (r.headers["x-tile-cache"], _tile_cases(r)) == ("miss", {"SA-1", "SA-2"})
    r = client.get(url, headers=b)  # the same tile, another township: drawn for B
    assert (r.headers["x-tile-cache"], _tile_cases(r)) == ("miss", {"SB-1"})
    r = client.get(url, headers=a)
    assert (r.headers["x-tile-cache"], _tile_cases(r)) == ("hit", {"SA-1", "SA-2"})
    r = client.get(url, headers=boss)
    assert (r.headers["x-tile-cache"], _tile_cases(r)) == ("miss", {"SA-1", "SA-2", "SB-1"})
    r = client.get(f"{url}?township={B}", headers=boss)  # one township of an admin's: B's
    assert (r.headers["x-tile-cache"], _tile_cases(r)) == ("hit", {"SB-1"})
    assert client.get(f"{url}?township={B}", headers=a).status_code == 403
    # the village names the tiles join are the caller's township's too
    decoded = mapbox_vector_tile.decode(client.get(url, headers=b).content)
    names = {f["properties"].get("village_name") for f in decoded["structure"]["features"]}
    assert names == {"天润社区"}


def test_the_map_of_one_township(client, two):
    boss, a = two["boss"], two["a"]
    r = client.get(f"/map?township={B}", headers=boss)
    assert r.status_code == 200, r.text
    assert f"township={B}" in r.text
    assert client.get(f"/map?township={B}", headers=a).status_code == 403


def test_grants_through_the_api(client, two):
    boss, lost, a_admin, ids = two["boss"], two["lost"], two["a_admin"], two["ids"]
    r = client.post("/users/lost/townships", json={"township": A}, headers=boss)
    assert r.status_code == 201 and r.json()["townships"] == [A]
    assert client.get(f"/structures/{ids['SA-1']}", headers=lost).status_code == 200
    assert client.post("/users/lost/townships", json={"township": A}, headers=boss).status_code == (
        409
    )
    # an admin of township A grants only A
    r = client.post("/users/lost/townships", json={"township": B}, headers=a_admin)
    assert r.status_code == 403
    assert [u["townships"] for u in client.get("/users", headers=boss).json()
            if u["name"] == "lost"] == [[A]]  # fmt: skip
    r = client.post(f"/users/lost/townships/{A}/revoke", json={"reason": "调岗"}, headers=boss)
    assert r.status_code == 200 and r.json()["townships"] == []
    assert client.get(f"/structures/{ids['SA-1']}", headers=lost).status_code == 403


def test_a_single_township_deployment_needs_no_grants(client, sessions):
    seed_towns(sessions, only_a=True)
    with transaction(sessions, "test") as s:
        far = from_shape(MultiPolygon([box(X0 + 0.5, Y0, X0 + 0.5004, Y0 + 0.0004)]), srid=4490)
        s.add(m.Structure(case_no="OUT-1", category="wall", geom=far))
    (vw,) = bearer_headers(sessions, ("vw", "viewer"))
    assert _features(client, "/collections/structure/items", vw) == {"OUT-1"}
    assert client.get("/me", headers=vw).json()["townships"] is None
