"""Vector tiles: gzip by Accept-Encoding and a cache that is never stale, across app instances
(each its own process-level cache, as separate API workers are) over one real PostGIS."""

from __future__ import annotations

import datetime as dt
import gzip

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import text

from api import create_app
from geo_enforce.ledger import edits as ledger
from geo_enforce.storage.engine import transaction
from geo_enforce.tiles.mvt import tiles_covering
from tests.conftest import bearer_headers
from tests.support.mapdata import CLICK_BOX, X0, Y0, seed_ledger

Z = 15


@pytest.fixture
def seeded(sessions, tmp_path):
    seed_ledger(sessions, tmp_path / "var", flights=False)
    (viewer,) = bearer_headers(sessions, ("tv", "viewer"))
    return viewer


def _url(layer: str, lon: float, lat: float, z: int = Z) -> str:
    z, x, y = tiles_covering((lon, lat, lon, lat), z)[0]
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf"


def _cases(r) -> set[str]:
    decoded = mapbox_vector_tile.decode(r.content)
    return {f["properties"]["case_no"] for f in decoded.get("structure", {}).get("features", [])}


def _villages(r) -> set[str]:
    decoded = mapbox_vector_tile.decode(r.content)
    return {f["properties"].get("village_name") for f in decoded["structure"]["features"]}


@pytest.fixture
def two_workers(settings, seeded):
    """Two app instances over one database: two workers, each with its own memory cache."""
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b, seeded


def test_gzip_by_accept_encoding(two_workers):
    a, _, viewer = two_workers
    url = _url("structure", *CLICK_BOX[:2])
    r = a.get(url, headers={**viewer, "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    wire = int(r.headers["content-length"])
    assert wire < len(r.content)  # httpx decoded the gzip body the server sent
    plain = a.get(url, headers={**viewer, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == r.content and _cases(plain)
    assert plain.headers["etag"] != r.headers["etag"]  # one ETag per encoding
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content
    refused = a.get(url, headers={**viewer, "Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    again = a.get(url, headers={**viewer, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_edit_is_seen_at_once_by_every_worker(two_workers, sessions):
    a, b, viewer = two_workers
    lon, lat = X0 + 0.0001, Y0 + 0.0001  # a corner of the township no structure covers
    url = _url("structure", lon, lat)
    for client in (a, b):
        assert client.get(url, headers=viewer).headers["x-tile-cache"] == "miss"
        r = client.get(url, headers=viewer)
        assert r.headers["x-tile-cache"] == "hit" and "NEW-1" not in _cases(r)

    # a committed write through the library (any process): both workers see it next request
    with transaction(sessions, "test:tiles") as s:
        ledger.create_structure(
            s,
            case_no="NEW-1",
            geometry=box(lon, lat, lon + 0.0002, lat + 0.0002),
            category="villa",
            village_code="120111100001",
            discovered_on=dt.date(2024, 5, 1),
        )
    for client in (b, a):
        r = client.get(url, headers=viewer)
        assert r.headers["x-tile-cache"] == "miss" and "NEW-1" in _cases(r)
        assert client.get(url, headers=viewer).headers["x-tile-cache"] == "hit"

    # a write that is rolled back changes nothing: the cached tile stays valid
    with pytest.raises(RuntimeError), transaction(sessions, "test:tiles") as s:
        s.execute(text("UPDATE structure SET floors = 9 WHERE case_no = 'NEW-1'"))
        raise RuntimeError("abandon")
    assert a.get(url, headers=viewer).headers["x-tile-cache"] == "hit"

    # renaming the village changes the names the structure tiles carry
    with transaction(sessions, "test:tiles") as s:
        s.execute(text("UPDATE admin_area SET name = '新名村' WHERE code = '120111100001'"))
    r = b.get(url, headers=viewer)
    assert r.headers["x-tile-cache"] == "miss" and _villages(r) == {"新名村"}
    # other layers' tiles are untouched by a structure edit
    red = _url("red_line", X0 + 0.001, Y0 + 0.007)
    a.get(red, headers=viewer)
    with transaction(sessions, "test:tiles") as s:
        s.execute(text("UPDATE structure SET floors = 2 WHERE case_no = 'NEW-1'"))
    assert a.get(red, headers=viewer).headers["x-tile-cache"] == "hit"
    assert a.get(url, headers=viewer).headers["x-tile-cache"] == "miss"


def test_disk_level_is_shared_and_versioned(settings, seeded, sessions, tmp_path):
    cached = settings.model_copy(
        update={"tiles": settings.tiles.model_copy(update={"cache_dir": tmp_path / "tiles"})}
    )
    url = _url("structure", *CLICK_BOX[:2])
    with TestClient(create_app(cached)) as a:
        first = a.get(url, headers=seeded)
        assert first.headers["x-tile-cache"] == "miss"
    assert list((tmp_path / "tiles" / "structure").rglob("*.mvt.gz"))
    with TestClient(create_app(cached)) as b:  # a fresh worker: cold memory, warm disk
        r = b.get(url, headers=seeded)
        assert r.headers["x-tile-cache"] == "hit" and r.content == first.content
        with transaction(sessions, "test:tiles") as s:
            s.execute(text("UPDATE structure SET floors = 3 WHERE case_no = 'XQ-2024-0007'"))
        r = b.get(url, headers=seeded)
        assert r.headers["x-tile-cache"] == "miss"
    files = list((tmp_path / "tiles" / "structure").rglob("*.mvt.gz"))
    assert len(files) == 1  # the superseded version was replaced, not kept


def test_an_edit_redraws_only_the_tiles_it_touches(two_workers, sessions):
    a, b, viewer = two_workers
    here = _url("structure", X0 + 0.0001, Y0 + 0.0001)
    there = _url("structure", *CLICK_BOX[:2])
    assert here != there
    first = {u: a.get(u, headers=viewer) for u in (here, there)}
    b.get(there, headers=viewer)  # the other worker has it too

    with transaction(sessions, "test:tiles") as s:
        ledger.create_structure(
            s,
            case_no="NEW-2",
            geometry=box(X0 + 0.0001, Y0 + 0.0001, X0 + 0.0003, Y0 + 0.0003),
            category="wall",
            village_code="120111100001",
        )
    for client in (a, b):  # the edit lies in another tile: kept by both workers, same bytes
        r = client.get(there, headers=viewer)
        assert r.headers["x-tile-cache"] == "revalidated" and r.content == first[there].content
        assert client.get(there, headers=viewer).headers["x-tile-cache"] == "hit"
    r = a.get(here, headers=viewer)
    assert r.headers["x-tile-cache"] == "miss" and "NEW-2" in _cases(r)

    # an attribute edit of a structure in the other tile: that tile is drawn again
    with transaction(sessions, "test:tiles") as s:
        s.execute(text("UPDATE structure SET status = 'verified' WHERE case_no = 'XQ-2024-0007'"))
    r = a.get(there, headers=viewer)
    assert r.headers["x-tile-cache"] == "miss" and r.content != first[there].content
    assert a.get(here, headers=viewer).headers["x-tile-cache"] == "revalidated"

    # a statement that writes no row changes no version
    with transaction(sessions, "test:tiles") as s:
        s.execute(text("UPDATE structure SET floors = 5 WHERE case_no = 'no such case'"))
    assert a.get(here, headers=viewer).headers["x-tile-cache"] == "hit"


def test_one_request_draws_a_tile_the_others_wait():
    """TileCache.drawing: a second request for a tile being drawn waits for the first."""
    import threading

    from geo_enforce.tiles.cache import TileCache

    cache = TileCache()
    key = ("structure", 15, 1, 1)
    order: list[str] = []
    second_in = threading.Event()

    def second() -> None:
        with cache.drawing(key):
            order.append("second")
            second_in.set()

    with cache.drawing(key):
        t = threading.Thread(target=second)
        t.start()
        while cache._drawing[key][1] < 2:  # the second request has asked for the tile
            threading.Event().wait(0.01)
        assert not second_in.is_set()  # ... and waits while the first one draws
        order.append("first")
    t.join()
    assert order == ["first", "second"] and key not in cache._drawing
    with cache.drawing(("structure", 15, 1, 2)), cache.drawing(("structure", 15, 1, 3)):
        pass  # other tiles are drawn side by side
