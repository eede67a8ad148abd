"""Vector tiles from PostGIS: library calls and the /tiles endpoint (real PostGIS)."""

from __future__ import annotations

import mapbox_vector_tile
import pytest

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.ledger import vocab
from geo_enforce.tiles.mvt import MVT_LAYERS, render_mvt, tiles_covering
from tests.conftest import open_to_viewers
from tests.support.mapdata import CLICK_BOX, CLICK_CASE, X0, Y0, seed_ledger


@pytest.fixture
def seeded(sessions, tmp_path):
    return seed_ledger(sessions, tmp_path / "var", flights=False)


def _tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    return tiles_covering((lon, lat, lon, lat), z)[0]


def test_structure_tile_carries_popup_fields(sessions, seeded):
    lon, lat = (CLICK_BOX[0] + CLICK_BOX[2]) / 2, (CLICK_BOX[1] + CLICK_BOX[3]) / 2
    z, x, y = _tile_at(lon, lat, 16)
    with sessions() as s:
        data = render_mvt(s, "structure", z, x, y)
    decoded = mapbox_vector_tile.decode(data)
    feats = {f["properties"]["case_no"]: f for f in decoded["structure"]["features"]}
    assert CLICK_CASE in feats
    props = feats[CLICK_CASE]["properties"]
    assert feats[CLICK_CASE]["id"] == seeded.structure_ids[CLICK_CASE]
    assert props["status"] == "notice_served"
    assert props["village_name"] == "大任庄村"
    # the Chinese label beside each code, as in the features and exports (QGIS labels with it)
    assert props["status_label"] == "责令限期拆除"
    assert props["category_label"] == vocab.STRUCTURE_CATEGORIES[props["category"]]
    assert props["notice_on"] == "2024-09-01"
    # ellipsoidal area from the trigger, two floors → floor area is twice the footprint
    assert props["area_m2"] > 1000
    assert props["floor_area_m2"] == pytest.approx(2 * props["area_m2"], rel=1e-6)
    assert props["area_mu"] == pytest.approx(props["area_m2"] * 3 / 2000, rel=1e-3)


@pytest.mark.parametrize("layer", sorted(MVT_LAYERS))
def test_every_layer_has_features_over_the_township(sessions, seeded, layer):
    z, x, y = _tile_at(X0 + 0.01, Y0 + 0.005, 13)
    with sessions() as s:
        decoded = mapbox_vector_tile.decode(render_mvt(s, layer, z, x, y))
    assert decoded[layer]["features"], layer


def test_retired_records_are_not_drawn(sessions, seeded):
    from sqlalchemy import text

    from geo_enforce.storage.engine import transaction

    with transaction(sessions, "test:retire") as s:
        s.execute(
            text("UPDATE structure SET retired_at = now(), retired_by = 't' WHERE case_no = :c"),
            {"c": CLICK_CASE},
        )
    lon, lat = (CLICK_BOX[0] + CLICK_BOX[2]) / 2, (CLICK_BOX[1] + CLICK_BOX[3]) / 2
    with sessions() as s:
        decoded = mapbox_vector_tile.decode(render_mvt(s, "structure", *_tile_at(lon, lat, 16)))
    cases = {f["properties"]["case_no"] for f in decoded.get("structure", {}).get("features", [])}
    assert CLICK_CASE not in cases


def test_empty_tile_far_away_and_bad_requests(sessions, seeded):
    with sessions() as s:
        assert render_mvt(s, "structure", 10, 0, 0) == b""
        with pytest.raises(NotFound, match="no vector-tile layer 'audit_log'"):
            render_mvt(s, "audit_log", 10, 0, 0)
        with pytest.raises(InvalidInput, match=r"x and y must be in 0\.\.3"):
            render_mvt(s, "structure", 2, 4, 0)


def test_tile_endpoint_headers_etag_and_roles(client, sessions, seeded, settings):
    z, x, y = _tile_at(X0 + 0.004, Y0 + 0.004, 15)
    # no token, no anonymous role: refused
    r = client.get(f"/tiles/structure/{z}/{x}/{y}.pbf")
    assert r.status_code == 401
    open_to_viewers(client)
    r = client.get(f"/tiles/structure/{z}/{x}/{y}.pbf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "max-age=60" in r.headers["cache-control"]
    assert mapbox_vector_tile.decode(r.content)["structure"]["features"]
    again = client.get(
        f"/tiles/structure/{z}/{x}/{y}.pbf", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert client.get(f"/tiles/nope/{z}/{x}/{y}.pbf").status_code == 404
    assert client.get(f"/tiles/structure/{z}/{x + 10**6}/{y}.pbf").status_code == 422


def test_pipeline_tiles_carry_the_popup_fields_and_follow_edits(client, sessions, seeded):
    """The line layer is tiled with its safety distance, owner and Chinese kind; an edit to a
    line is drawn at once (the layer has its version and change extents like the others)."""
    from pyproj import Geod
    from sqlalchemy import text

    from geo_enforce.storage.engine import transaction

    open_to_viewers(client)
    z, x, y = _tile_at(X0 + 0.01, Y0 - 0.002, 15)
    url = f"/tiles/pipeline/{z}/{x}/{y}.pbf"
    r = client.get(url)
    assert r.status_code == 200
    (feat,) = mapbox_vector_tile.decode(r.content)["pipeline"]["features"]
    assert feat["geometry"]["type"] in ("LineString", "MultiLineString")
    props = feat["properties"]
    assert (props["code"], props["kind"], props["kind_label"]) == ("GAS-1", "gas", "燃气管线")
    assert props["name"] == "燃气干管" and "safety_distance_m" not in props  # NULL: by kind
    length = Geod(ellps="GRS80").line_length([X0, X0 + 0.02], [Y0 - 0.002, Y0 - 0.002])
    assert props["length_m"] == pytest.approx(length, rel=1e-6)
    with transaction(sessions, "test:edit") as s:
        s.execute(
            text(
                "UPDATE pipeline SET owner = '津西燃气公司', safety_distance_m = 8 "
                "WHERE code = 'GAS-1'"
            )
        )
    after = mapbox_vector_tile.decode(client.get(url).content)["pipeline"]["features"][0]
    assert after["properties"]["owner"] == "津西燃气公司"
    assert after["properties"]["safety_distance_m"] == 8.0
