"""A village kept for offline use (issue 15 item 3): the plan the 离线 panel downloads.

``GET /map/offline-plan?village=`` lists the z14–z19 vector tiles of every layer of the page,
the orthophoto tiles of the latest two flights (up to their native zoom) and the patch chips
over the village's extent, with a size estimate from rendered sample tiles, and refuses a plan
over the limits with a Chinese message.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.routers.map import MAP_ROUTES, WORKER_DATA
from geo_enforce.settings import MapSettings, Settings
from geo_enforce.tiles.mvt import tiles_covering
from geo_enforce.tiles.ortho import FlightImage
from geo_enforce.webmap.builder import LAYER_ORDER
from geo_enforce.webmap.data import Village
from geo_enforce.webmap.village_pack import (
    Source,
    TileRange,
    VillagePack,
    plan_village,
    tile_range,
)
from tests.conftest import open_to_viewers
from tests.support.mapdata import X0, Y0, seed_ledger

VILLAGE = (X0, Y0, X0 + 0.01, Y0 + 0.01)  # 大任庄村 in tests/support/mapdata.py


@pytest.fixture
def seeded(sessions, settings):
    return seed_ledger(sessions, settings.data_dir)


def _client(settings: Settings, **map_settings) -> TestClient:
    s = settings.model_copy(update={"map": MapSettings(**map_settings)})
    return TestClient(create_app(s))


def test_the_plan_lists_every_layer_and_the_latest_flights_with_an_estimate(settings, seeded):
    with _client(settings) as client:
        assert client.get("/map/offline-plan", params={"village": "大任庄村"}).status_code == 401
        open_to_viewers(client)
        r = client.get("/map/offline-plan", params={"village": "大任庄村"})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert plan["village"]["code"] == "120111100001" and plan["zooms"] == [14, 19]
        vector = [s for s in plan["sources"] if s["kind"] == "vector"]
        ortho = [s for s in plan["sources"] if s["kind"] == "ortho"]
        assert [s["name"] for s in vector] == [name for name, _ in LAYER_ORDER]
        assert [s["name"] for s in ortho] == [str(f) for f in seeded.flight_ids]
        for s in vector:
            assert [r["z"] for r in s["ranges"]] == [14, 15, 16, 17, 18, 19]
            assert s["template"] == MAP_ROUTES.tile.replace("{layer}", s["name"])
            for rg in s["ranges"]:
                # the same tiles the offline export would cut (tiles_covering)
                assert rg["count"] == len(tiles_covering(tuple(plan["village"]["bbox"]), rg["z"]))
        # 2 m flights: tiles up to their native zoom 16 (Leaflet scales them up beyond)
        for s in ortho:
            assert [r["z"] for r in s["ranges"]] == [14, 15, 16]
        assert plan["chips"] == [
            f"/map/chips/{seeded.patch_id}/before",
            f"/map/chips/{seeded.patch_id}/after",
        ]
        assert plan["tiles"] == sum(s["tiles"] for s in plan["sources"]) + 2
        # measured: structures at z14 are not empty, orthophoto tiles are real PNGs
        structure = next(s for s in vector if s["name"] == "structure")
        assert structure["mean_bytes"]["14"] > 50
        assert all(s["mean_bytes"]["14"] > 500 for s in ortho)
        assert plan["bytes"] == pytest.approx(sum(s["bytes"] for s in plan["sources"]), abs=10)
        assert plan["allowed"] is True and plan["limits"] == {"mb": 200, "tiles": 40_000}
        msg = plan["message"]
        assert msg.startswith("大任庄村：z14–z19 瓦片 ") and f"{plan['tiles']:,}" in msg
        assert f"约 {plan['mb']:.1f} MB" in msg and "实测平均每张" in msg
        # what the page will fetch answers (first and last tile of every source, the chips)
        for s in plan["sources"]:
            for rg in (s["ranges"][0], s["ranges"][-1]):
                for x, y in ((rg["x0"], rg["y0"]), (rg["x1"], rg["y1"])):
                    url = s["template"].format(z=rg["z"], x=x, y=y)
                    assert any(url.startswith(p) for p in WORKER_DATA), url
                    assert client.get(url).status_code == 200, url
        for url in plan["chips"]:
            assert client.get(url).status_code == 200, url
        # by code too; an unknown village is named with the choices
        assert (
            client.get("/map/offline-plan", params={"village": "120111100002"}).status_code == 200
        )
        r = client.get("/map/offline-plan", params={"village": "无此村"})
        assert r.status_code == 404 and "大任庄村" in r.json()["error"]["message"]


def test_a_plan_over_the_limits_is_refused_with_a_clear_message(settings, seeded):
    with _client(settings, offline_max_tiles=100) as client:
        open_to_viewers(client)
        plan = client.get("/map/offline-plan", params={"village": "大任庄村"}).json()
    assert plan["allowed"] is False and plan["tiles"] > 100
    assert "超过离线下载上限（100 张），不能下载" in plan["message"]
    assert "geo-enforce map --village" in plan["message"]
    # over the MB limit: 1,000 tiles of 300 KB
    v = Village("1", "大村", "village", VILLAGE, X0, Y0)
    big = Source(
        "ortho", "1", "正射影像", "/tiles/ortho/1/{z}/{x}/{y}.png", [TileRange(19, 0, 9, 0, 99)]
    )
    big.mean_bytes[19] = 300 * 1024
    pack = VillagePack(v, [big], [], max_mb=200, max_tiles=40_000)
    assert pack.tiles == 1000 and round(pack.mb) == 293 and not pack.allowed
    assert "预计约 293.0 MB" in pack.message() and "超过离线下载上限（200 MB）" in pack.message()


def test_tile_ranges_spread_and_flights_outside_the_village(sessions, seeded, tmp_path: Path):
    r = tile_range(VILLAGE, 17)
    assert r.count == len(tiles_covering(VILLAGE, 17))
    picks = r.spread(3)
    assert picks[0] == (r.x0, r.y0) and picks[-1] == (r.x1, r.y1) and len(picks) == 3
    assert TileRange(14, 5, 5, 7, 7).spread(3) == [(5, 7)]
    # only flights meeting the village, the latest two
    far = (X0 + 1, Y0 + 1, X0 + 1.01, Y0 + 1.01)
    flights = [
        FlightImage(i, f"F{i}", dt.date(2020 + i, 1, 1), tmp_path / "none.tif", b, 2.0)
        for i, b in ((1, VILLAGE), (2, VILLAGE), (3, VILLAGE), (4, far))
    ]
    with sessions() as s:
        pack = plan_village(
            s, "大任庄村", flights=flights, routes=MAP_ROUTES, max_mb=200, max_tiles=40_000,
            measure=False,
        )  # fmt: skip
    assert [src.name for src in pack.sources if src.kind == "ortho"] == ["2", "3"]
