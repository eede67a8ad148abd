"""End to end on the sample township: the demo step, and overlay areas on realistic shapes."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Geod
from shapely import wkb
from sqlalchemy import text

from api.farmland_out import OverlayOut
from geo_enforce.demo.farmland import demo_farmland
from geo_enforce.demo.sample import load_township
from geo_enforce.farmland.overlay import overlay_report

GEOD = Geod(a=6378137.0, f=1 / 298.257222101)


def geodesic_area(g) -> float:
    return 0.0 if g.is_empty else abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(g))[0])


def test_demo_and_overlay_on_sample(sessions, settings, tmp_path):
    load_township(sessions)
    res = demo_farmland(sessions, settings, out_dir=tmp_path)
    assert len(res["verification_ids"]) == 2 and len(res["photo_ids"]) == 3
    assert any("超过" in w for w in res["photo_warnings"])
    assert [p.rsplit(".", 1)[1] for p in res["sheets"]] == ["pdf", "docx"]
    assert all((tmp_path / p.rsplit("/", 1)[1]).stat().st_size > 10_000 for p in res["sheets"])

    code = res["occupied_patch_code"]
    with sessions() as s:
        rep = OverlayOut.of(overlay_report(s, patch_code=code)).model_dump()
        target = wkb.loads(
            bytes(
                s.execute(
                    text("SELECT ST_AsBinary(geom) FROM farmland_parcel WHERE patch_code = :c"),
                    {"c": code},
                ).scalar_one()
            )
        )
        rows = s.execute(
            text(
                "SELECT case_no, ST_AsBinary(geom) FROM structure WHERE retired_at IS NULL "
                "AND ST_Intersects(geom, ST_GeomFromWKB(:t, 4490))"
            ),
            {"t": target.wkb},
        ).all()
    expected = {
        c: geodesic_area(shapely.intersection(target, wkb.loads(bytes(g)))) for c, g in rows
    }
    got = {r["code"]: r["overlap_m2"] for r in rep["overlaps"]["structure"]}
    assert got and set(got) == {c for c, a in expected.items() if a >= 0.01}
    for c, a in got.items():
        assert a == pytest.approx(expected[c], abs=0.01), c
    assert rep["target"]["area_m2"] == pytest.approx(geodesic_area(target), abs=0.01)
    assert len(rep["verifications"]) >= 1
