"""Parcel look-up and overlay report against a real PostGIS, areas checked independently."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon

from api.farmland_out import OverlayOut
from geo_enforce.errors import CRSError, InvalidInput, NotFound
from geo_enforce.farmland import lookup, overlay
from geo_enforce.storage.engine import transaction
from tests.support import farmland_seed as fs
from tests.support.geometries import bowtie


def overlay_report(session, **kw) -> dict:
    """The report as the API serves it (typed result + labels), so labels are checked too."""
    return OverlayOut.of(overlay.overlay_report(session, **kw)).model_dump()


#: independent of geo_enforce.geometry.areas: its own Geod on the CGCS2000 ellipsoid
GEOD = Geod(a=6378137.0, f=1 / 298.257222101)


def geodesic_area(g) -> float:
    if g.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(g))
    return abs(area)


def overlap(a, b) -> float:
    return geodesic_area(shapely.intersection(a, b))


@pytest.fixture
def seeded(sessions):
    return fs.seed(sessions)


#: an irregular pentagon crossing P1, P2, P3, structures, patches, the cleared parcel and red lines
TARGET = Polygon(
    [
        (fs.X0 + 0.0004, fs.Y0 + 0.0001),
        (fs.X0 + 0.0034, fs.Y0 + 0.0004),
        (fs.X0 + 0.0037, fs.Y0 + 0.0024),
        (fs.X0 + 0.0016, fs.Y0 + 0.0029),
        (fs.X0 - 0.0001, fs.Y0 + 0.0017),
    ]
)


def test_polygon_overlay_areas_match_independent_geodesic(sessions, seeded):
    with sessions() as s:
        rep = overlay_report(s, polygon=TARGET.wkt)
    whole = geodesic_area(TARGET)
    assert rep["target"]["area_m2"] == pytest.approx(whole, abs=0.01)
    assert rep["target"]["area_mu"] == pytest.approx(whole * 3 / 2000, abs=1e-4)

    layers = {
        "farmland_parcel": {c: g for c, (g, _, _) in fs.PARCELS.items()},
        "structure": {c: g for c, (_, _, g) in fs.STRUCTURES.items()},
        "change_patch": {c: v[0] for c, v in fs.PATCHES.items()},
        "cleared_parcel": fs.CLEARED,
        "red_line": {c: g for c, (_, g, _) in fs.RED_LINES.items()},
    }
    for table, feats in layers.items():
        expected = {c: overlap(TARGET, g) for c, g in feats.items()}
        expected = {c: a for c, a in expected.items() if a >= 0.01}
        got = {r["code"]: r for r in rep["overlaps"][table]}
        assert set(got) == set(expected), table
        for code, area in expected.items():
            assert got[code]["overlap_m2"] == pytest.approx(area, abs=0.01), (table, code)
            assert got[code]["share_pct"] == pytest.approx(100 * area / whole, abs=0.01)
    # the same polygon sent in Gauss-Krüger zone 39 metres gives the same figures
    from geo_enforce.geometry.crs import transform_geometry

    with sessions() as s:
        gk = overlay_report(s, polygon=transform_geometry(TARGET, 4490, 4548).wkt)
    assert gk["target"]["area_m2"] == pytest.approx(rep["target"]["area_m2"], abs=0.01)
    assert gk["permanent_basic"] == pytest.approx(rep["permanent_basic"], abs=0.01)

    # the pentagon really does cross several of each
    assert len(rep["overlaps"]["farmland_parcel"]) == 3
    assert len(rep["overlaps"]["change_patch"]) >= 3

    # land classes: per class, from the parcels
    by_class = {r["land_class"]: r for r in rep["land_classes"]}
    for code, (g, cls, _) in fs.PARCELS.items():
        a = overlap(TARGET, g)
        if a > 0.01:
            assert by_class[cls]["area_m2"] == pytest.approx(a, abs=0.01), code
    assert by_class["0101"]["label"] == "水田"

    # permanent basic farmland = target ∩ (P1 ∪ basic-farmland red line)
    pbf = shapely.union(fs.PARCELS["P1"][0], fs.RED_LINES["RL-BF-1"][1])
    assert rep["permanent_basic"]["area_m2"] == pytest.approx(overlap(TARGET, pbf), abs=0.01)
    assert rep["permanent_basic"]["share_pct"] == pytest.approx(
        100 * overlap(TARGET, pbf) / whole, abs=0.01
    )
    cl = fs.RED_LINES["RL-CL-1"][1]
    assert rep["approved_construction"]["area_m2"] == pytest.approx(overlap(TARGET, cl), abs=0.01)
    assert rep["approved_construction"]["approvals"][0]["approval_no"] == "津规自地〔2023〕12号"
    # demolished structures are not counted as standing
    standing = shapely.union_all([g for _, st, g in fs.STRUCTURES.values() if st != "demolished"])
    assert rep["structures_dissolved"]["area_m2"] == pytest.approx(
        overlap(TARGET, standing), abs=0.01
    )


def test_parcel_report(sessions, seeded):
    with sessions() as s:
        rep = overlay_report(s, patch_code="P2")
    p2 = fs.PARCELS["P2"][0]
    whole = geodesic_area(p2)
    assert rep["target"]["kind"] == "parcel"
    assert rep["target"]["parcel"]["land_class_label"] == "水浇地"
    assert rep["target"]["area_m2"] == pytest.approx(whole, abs=0.01)
    bf = overlap(p2, fs.RED_LINES["RL-BF-1"][1])
    assert rep["permanent_basic"]["area_m2"] == pytest.approx(bf, abs=0.01)
    assert rep["permanent_basic"]["share_pct"] == pytest.approx(100 * bf / whole, abs=0.01)
    assert rep["land_classes"][0]["share_pct"] == pytest.approx(100.0)
    # its neighbours only touch it: no farmland overlaps, no slivers
    assert rep["overlaps"]["farmland_parcel"] == []
    kinds = {r["kind"] for r in rep["red_lines"]}
    assert kinds == {"basic_farmland"}
    codes = {r["code"] for r in rep["overlaps"]["change_patch"]}
    assert codes == {"BH-2025-01", "BH-2025-02"}
    assert {r["code"] for r in rep["overlaps"]["structure"]} == {"WJ-002"}

    with sessions() as s:
        p1 = overlay_report(s, patch_code="P1")
    assert p1["permanent_basic"]["share_pct"] == pytest.approx(100.0)
    assert p1["permanent_basic"]["area_mu"] == pytest.approx(
        geodesic_area(fs.PARCELS["P1"][0]) * 3 / 2000, abs=1e-4
    )


def test_lookup_by_code_point_and_polygon(sessions, seeded):
    with sessions() as s:
        assert lookup.by_code(s, "P3").land_class == "0103"
        with pytest.raises(NotFound, match="P9"):
            lookup.by_code(s, "P9")
        hits = lookup.at_point(s, fs.X0 + 0.001, fs.Y0 + 0.001)
        assert [p.patch_code for p in hits] == ["P1"]
        # the same point in both Gauss-Krüger zone-39 flavours, CRS guessed and given
        for epsg in (4548, 4527):
            x, y = Transformer.from_crs(4490, epsg, always_xy=True).transform(
                fs.X0 + 0.003, fs.Y0 + 0.001
            )
            assert [p.patch_code for p in lookup.at_point(s, x, y)] == ["P2"]
            assert [p.patch_code for p in lookup.at_point(s, x, y, crs=f"EPSG:{epsg}")] == ["P2"]
        # between parcels (inside the township): nothing, not an error
        assert lookup.at_point(s, fs.X0 + 0.008, fs.Y0 + 0.008) == []
        poly = shapely.box(fs.X0 + 0.0019, fs.Y0 + 0.0014, fs.X0 + 0.0021, fs.Y0 + 0.0016)
        assert [p.patch_code for p in lookup.in_polygon(s, poly.wkt)] == ["P1", "P2", "P3"]
        gj = {"type": "Feature", "geometry": shapely.geometry.mapping(poly), "properties": {}}
        assert len(lookup.in_polygon(s, gj)) == 3


def test_bad_lookup_input_is_refused_clearly(sessions, seeded):
    with sessions() as s:
        with pytest.raises(InvalidInput, match="outside the township"):
            lookup.at_point(s, 117.5, 39.3)
        with pytest.raises(InvalidInput, match="outside the township"):
            overlay_report(s, polygon=shapely.box(117.5, 39.3, 117.51, 39.31).wkt)
        with pytest.raises(CRSError, match="swapped"):
            lookup.at_point(s, 39.0, 117.2, crs=4490)
        with pytest.raises(CRSError):
            lookup.at_point(s, 12345678.0, 1.0)
        with pytest.raises(InvalidInput, match=r"malformed.*Self-intersection"):
            overlay_report(s, polygon=bowtie.wkt)
        with pytest.raises(InvalidInput, match="WKT does not parse"):
            lookup.in_polygon(s, "POLYGON ((117.2 39, 117.3")
        with pytest.raises(InvalidInput, match="LineString"):
            lookup.in_polygon(s, "LINESTRING (117.2 39, 117.21 39.01)")
        with pytest.raises(InvalidInput, match="GeoJSON"):
            lookup.in_polygon(s, '{"type": "Polygon", "coordinates": [[[1, 2]]')
        with pytest.raises(InvalidInput, match="exactly one"):
            overlay_report(s, patch_code="P1", polygon=TARGET.wkt)


def test_report_lists_earlier_verifications(sessions, seeded):
    from geo_enforce.farmland.verify import create_verification

    with transaction(sessions, "test:liaison") as s:
        create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=seeded["P1"],
            result="construction",
            actor="liaison1",
            notes="北侧新建彩钢房",
        )
        create_verification(
            s,
            target_kind="change_patch",
            target_id=seeded["BH-2024-01"],
            result="construction",
            actor="liaison1",
        )
    with sessions() as s:
        rep = overlay_report(s, patch_code="P1")
    hist = rep["verifications"]
    assert {h["target_kind"] for h in hist} == {"farmland_parcel", "change_patch"}
    assert hist[0]["result_label"] == "被建设占用"
