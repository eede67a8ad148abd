"""Line features with safety distances (管线/线路/河堤) and the rule 占压<kind>: import from SHP,
GeoJSON and DXF, lengths kept by the database, hits inside and just outside the distance
measured in metres on the ellipsoid, on real PostGIS."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, box
from sqlalchemy import func, select, text

from geo_enforce.errors import InvalidInput
from geo_enforce.geometry.crs import GK39_CM117
from geo_enforce.io.catalogue import load_catalogue
from geo_enforce.io.exporter import export_layer
from geo_enforce.io.importer import import_layer
from geo_enforce.ledger import edits as ledger
from geo_enforce.ledger import pipelines
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AuditLog, ChangePatch, Pipeline
from tests.support.geometries import X0, Y0

#: the CGCS2000 ellipsoid (GRS 1980 parameters)
GEOD = Geod(ellps="GRS80")
#: a meridian segment (a geodesic, so the distance to it is exact along the parallel)
LON = X0 + 0.01
YMID = Y0 + 0.005


def east_of_line(distance_m: float, size_m: float = 8.0) -> Polygon:
    """A square whose west edge lies ``distance_m`` metres east of the line at YMID."""
    west, _, _ = GEOD.fwd(LON, YMID, 90.0, distance_m)
    east, _, _ = GEOD.fwd(LON, YMID, 90.0, distance_m + size_m)
    _, north, _ = GEOD.fwd(LON, YMID, 0.0, size_m / 2)
    _, south, _ = GEOD.fwd(LON, YMID, 180.0, size_m / 2)
    return box(west, south, east, north)


def line_frame(rows: list[dict], crs: int = 4490) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "geometry"} for r in rows],
        geometry=[r["geometry"] for r in rows],
        crs=crs,
    )


def write_shp(tmp_path, rows: list[dict]):
    path = tmp_path / "管线.shp"
    pyogrio.write_dataframe(line_frame(rows), path, encoding="UTF-8")
    return path


# shapefile columns hold at most 10 bytes: surveyors' files use pinyin initials (aliases)
GAS_MAIN = {
    "GXBH": "RQ-001",
    "GXLX": "燃气管线",  # the Chinese label is accepted for the code
    "MC": "示范路中压燃气管",
    "AQJL": 10.0,  # this line's own distance (the catalogue's gas default is 5 m)
    "geometry": LineString([(LON, Y0), (LON, Y0 + 0.01)]),
}
GAS_BRANCH = {
    "GXBH": "RQ-002",
    "GXLX": "gas",
    "MC": "支线",
    "AQJL": None,
    "geometry": LineString([(LON - 0.004, Y0), (LON - 0.004, Y0 + 0.01)]),
}


def test_catalogue_gives_the_distances_per_kind():
    spec = load_catalogue().layer("pipeline")
    assert spec.geometry_type == "MultiLineString"
    assert pipelines.safety_distances() == {"gas": 5.0, "oil": 5.0, "power": 10.0, "dyke": 20.0}
    assert pipelines.LINE_RULES["encroach_gas"] == "占压燃气管线"


def test_import_from_shapefile_keeps_lines_and_the_database_measures_them(sessions, tmp_path):
    shp = write_shp(tmp_path, [GAS_MAIN, GAS_BRANCH])
    with transaction(sessions, "test:import") as s:
        rep = import_layer(s, "pipeline", shp, check_offset=False)
    assert (rep.inserted, rep.updated, rep.unchanged) == (2, 0, 0)
    with sessions() as s:
        main = s.scalar(select(Pipeline).where(Pipeline.code == "RQ-001"))
        assert main is not None
        assert (main.kind, main.name, main.safety_distance_m) == ("gas", "示范路中压燃气管", 10.0)
        geom_type = s.scalar(select(func.ST_GeometryType(Pipeline.geom)).limit(1))
        assert geom_type == "ST_MultiLineString"
        # length by the trigger: geodesic on the CGCS2000 ellipsoid
        expected = GEOD.line_length([LON, LON], [Y0, Y0 + 0.01])
        assert main.length_m == pytest.approx(expected, rel=1e-9)
        branch = s.scalar(select(Pipeline).where(Pipeline.code == "RQ-002"))
        assert branch is not None and branch.safety_distance_m is None
        audit = s.scalar(
            select(func.count()).where(
                AuditLog.table_name == "pipeline", AuditLog.actor == "test:import"
            )
        )
        assert audit == 2
    # idempotent, and it round-trips through an export
    with transaction(sessions, "test:import") as s:
        again = import_layer(s, "pipeline", shp, check_offset=False)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    out = tmp_path / "export.geojson"
    with sessions() as s:
        assert export_layer(s, "pipeline", out) == 2
    exported = gpd.read_file(out)
    assert set(exported.geom_type) == {"MultiLineString"}
    assert "length_m" in exported and "area_m2" not in exported
    with transaction(sessions, "test:import") as s:
        back = import_layer(s, "pipeline", out, check_offset=False)
    assert (back.inserted, back.updated, back.unchanged) == (0, 0, 2)


def test_import_refuses_polygons_and_names_the_feature(sessions, tmp_path):
    bad = {**GAS_BRANCH, "GXBH": "RQ-BAD", "geometry": box(LON, Y0, LON + 0.001, Y0 + 0.001)}
    path = tmp_path / "mixed.geojson"
    pyogrio.write_dataframe(line_frame([GAS_MAIN, bad]), path)
    with transaction(sessions, "test") as s:
        with pytest.raises(InvalidInput, match=r"needs lines.*feature 2 \(GXBH=RQ-BAD\)"):
            import_layer(s, "pipeline", path, check_offset=False)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Pipeline)) == 0


def test_import_from_dxf_with_layer_names_as_kinds(sessions, tmp_path):
    """CAD drawings carry no attributes: the DXF layer name says the kind (GAS, POWER), the
    entity handle is the key, the CRS is given (Gauss-Krüger zone 39, no zone prefix)."""
    geo = gpd.GeoSeries([GAS_MAIN["geometry"], GAS_BRANCH["geometry"]], crs=4490).to_crs(GK39_CM117)
    frame = gpd.GeoDataFrame({"Layer": ["GAS", "POWER"]}, geometry=geo.values, crs=None)
    path = tmp_path / "管线.dxf"
    pyogrio.write_dataframe(frame, path, driver="DXF")
    with transaction(sessions, "test") as s:
        rep = import_layer(
            s, "pipeline", path, crs=GK39_CM117, field_map="Layer=kind,EntityHandle=code",
            check_offset=False,
        )  # fmt: skip
    assert rep.inserted == 2
    with sessions() as s:
        kinds = sorted(s.scalars(select(Pipeline.kind)))
        lengths = sorted(s.scalars(select(Pipeline.length_m)))
    assert kinds == ["gas", "power"]
    assert lengths[0] == pytest.approx(GEOD.line_length([LON, LON], [Y0, Y0 + 0.01]), rel=1e-5)


def _lines(factory, tmp_path) -> None:
    with transaction(factory, "test:seed") as s:
        import_layer(s, "pipeline", write_shp(tmp_path, [GAS_MAIN, GAS_BRANCH]), check_offset=False)


@pytest.mark.parametrize(
    ("line", "inside_m", "outside_m"),
    [("main", 9.5, 10.5), ("branch", 4.5, 5.5)],  # own 10 m; the catalogue's gas 5 m
)
def test_structures_inside_and_just_outside_the_distance(
    sessions, tmp_path, line, inside_m, outside_m
):
    _lines(sessions, tmp_path)
    shift = 0.0 if line == "main" else -0.004  # the branch runs 0.004° west of the main line
    with transaction(sessions, "test") as s:
        for no, d in (("IN", inside_m), ("OUT", outside_m)):
            g = east_of_line(d)
            if shift:
                g = Polygon([(x + shift, y) for x, y in g.exterior.coords])
            ledger.create_structure(s, case_no=no, geometry=g, category="courtyard")
    with sessions() as s:
        found = pipelines.hits(s, target="structure")
    assert [(h.target_code, h.line_code) for h in found] == [
        ("IN", "RQ-001" if line == "main" else "RQ-002")
    ]
    hit = found[0]
    assert (hit.rule, hit.label, hit.line_kind) == ("encroach_gas", "占压燃气管线", "gas")
    assert hit.safety_distance_m == (10.0 if line == "main" else 5.0)
    # metres on the ellipsoid: PostGIS agrees with the GRS 1980 geodesic to well under a mm
    assert hit.distance_m == pytest.approx(inside_m, abs=1e-3)
    with sessions() as s:
        assert pipelines.hits(s, kinds=["power"]) == []
        with pytest.raises(InvalidInput, match="line kind 'pipe' is unknown"):
            pipelines.hits(s, kinds=["pipe"])


def test_change_patches_are_checked_and_retired_lines_are_not(sessions, tmp_path):
    _lines(sessions, tmp_path)
    with transaction(sessions, "test") as s:
        for code, d in (("P-NEAR", 3.0), ("P-FAR", 30.0)):
            s.add(ChangePatch(code=code, geom=from_shape(MultiPolygon([east_of_line(d)]), 4490)))
    with sessions() as s:
        found = pipelines.hits(s, target="change_patch")
        assert [h.target_code for h in found] == ["P-NEAR"]
        assert found[0].distance_m == pytest.approx(3.0, abs=1e-3)
    with transaction(sessions, "test") as s:
        s.execute(text("UPDATE pipeline SET retired_at = now(), retire_reason = '已迁改'"))
    with sessions() as s:
        assert pipelines.hits(s, target="change_patch") == []
        with pytest.raises(InvalidInput, match="target 'parcel' is unknown"):
            pipelines.hits(s, target="parcel")


def test_the_database_refuses_what_a_line_cannot_be(sessions):
    from sqlalchemy.exc import IntegrityError

    line = from_shape(MultiLineString([[(LON, Y0), (LON, Y0 + 0.001)]]), 4490)
    for values in ({"kind": "water"}, {"kind": "gas", "safety_distance_m": -1.0}):
        with pytest.raises(IntegrityError), transaction(sessions, "test") as s:
            s.add(Pipeline(code="X", geom=line, **values))
    with pytest.raises(Exception, match="retired, never deleted"), transaction(sessions, "t") as s:
        s.add(Pipeline(code="Y", kind="oil", geom=line))
        s.flush()
        s.execute(text("DELETE FROM pipeline"))


def test_geography_of_srid_4490_measures_on_the_cgcs2000_ellipsoid(sessions):
    """PostGIS measures a geography on its SRID's spheroid: for 4490 that is GRS 1980 (the
    CGCS2000 ellipsoid), not the default WGS 84. Over 5500 km the two differ by 15 µm; the
    4490 distance is the GRS 1980 geodesic to the micrometre."""
    q = (
        "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(80, 20), :s)::geography, "
        "ST_SetSRID(ST_MakePoint(130, 50), :s)::geography)"
    )
    with sessions() as s:
        on_4490 = s.execute(text(q), {"s": 4490}).scalar_one()
        on_4326 = s.execute(text(q), {"s": 4326}).scalar_one()
    grs80 = GEOD.inv(80, 20, 130, 50)[2]
    wgs84 = Geod(ellps="WGS84").inv(80, 20, 130, 50)[2]
    assert abs(on_4490 - grs80) < 2e-6 and abs(on_4326 - wgs84) < 2e-6
    assert abs(on_4490 - on_4326) > 1e-5


def test_patch_rules_store_the_line_hit_with_its_distance(sessions, tmp_path):
    """A change region within a line's safety distance gets the 占压 rule hit in the shape of
    the other rule hits, with its distance and the part inside the safety zone."""
    from geo_enforce.detection import rules
    from geo_enforce.ledger.features import rule_hits_text

    _lines(sessions, tmp_path)
    with sessions() as s:
        near = rules.evaluate(s, east_of_line(3.0))  # RQ-001: its own 10 m
        far = rules.evaluate(s, east_of_line(10.5))
    hit = {h["code"]: h for h in near.hits}["encroach_gas"]
    assert hit["label"] == "占压燃气管线" and hit["line_code"] == "RQ-001"
    assert hit["line_name"] == "示范路中压燃气管" and hit["safety_distance_m"] == 10.0
    assert hit["distance_m"] == pytest.approx(3.0, abs=0.01)
    # the 8 m square from 3 to 11 m east of the line: 7 m x 8 m inside the 10 m zone
    assert hit["area_m2"] == pytest.approx(56.0, rel=2e-3)
    assert near.suggested_ruling == "illegal"
    assert "encroach_gas" not in {h["code"] for h in far.hits}
    assert "占压燃气管线 " in rule_hits_text(near.hits)
    assert "距线 3.0 m（安全距离 10.0 m）" in rule_hits_text(near.hits)


def test_ministry_patches_near_a_line_store_the_hit(sessions, tmp_path):
    """MNR imports (and their re-check) write the 占压 hit into ``rule_hits``; the OGC item
    gives it as readable text."""
    from geo_enforce.ledger import features
    from geo_enforce.mnr import imports
    from tests.support import mnr_files as mf

    _lines(sessions, tmp_path)
    rows = mf.gbk_rows()
    path = mf.write_patches(
        tmp_path / "wp.shp", rows, [east_of_line(2.0), east_of_line(40.0)], encoding="GBK"
    )
    with transaction(sessions, "cli:tester") as s:
        report = imports.import_patches(s, path)
    assert report.inserted == 2 and report.rule_hits.get("encroach_gas") == 1
    with sessions() as s:
        got = {n: h for n, h in s.execute(select(ChangePatch.source_no, ChangePatch.rule_hits))}
        near_no = rows[0]["图斑编号"]
        near_id = s.scalar(select(ChangePatch.id).where(ChangePatch.source_no == near_no))
        assert near_id is not None
        item = features.item(s, "change_patch", near_id)
    near = [h for h in got[rows[0]["图斑编号"]] if h["code"] == "encroach_gas"]
    assert len(near) == 1 and near[0]["distance_m"] == pytest.approx(2.0, abs=0.01)
    assert near[0]["area_m2"] == pytest.approx(64.0, rel=2e-3)  # wholly inside the 10 m zone
    assert [h["code"] for h in got[rows[1]["图斑编号"]]] == ["outside_construction_land"]
    assert "占压燃气管线 64" in item["properties"]["rule_hits_text"]
    # the line retired: the re-check of unruled patches drops the hit
    with transaction(sessions, "test") as s:
        s.execute(text("UPDATE pipeline SET retired_at = now(), retire_reason = '已迁改'"))
        assert imports.rerun_rules(s) == 2
    with sessions() as s:
        hits = s.scalar(select(ChangePatch.rule_hits).where(ChangePatch.id == near_id))
    assert "encroach_gas" not in [h["code"] for h in hits]
