"""Every bad input is refused with a message naming file, feature and problem, and the database
is left exactly as it was (rows and audit rows counted before and after)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest
import shapely.ops
from shapely.geometry import Point, box
from sqlalchemy import text

from geo_enforce.errors import CRSError, GeoEnforceError, InvalidInput, NotFound
from geo_enforce.io import import_layer
from geo_enforce.storage.engine import transaction
from tests.conftest import ROOT
from tests.support import layer_files as lf

Case = Callable[[Path], tuple[Path, dict]]


def _gpkg(gdf: gpd.GeoDataFrame, tmp: Path, name: str) -> Path:
    return lf.write(gdf, tmp / name)


def no_crs(tmp: Path):
    shp = lf.write(lf.structures(3), tmp / "nocrs.shp", encoding="GBK")
    shp.with_suffix(".prj").unlink()
    return shp, {}


def outside_china(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[1, "geometry"] = box(10.0, 50.0, 10.001, 50.001)
    return _gpkg(gdf, tmp, "abroad.gpkg"), {}


def swapped_axes(tmp: Path):
    gdf = lf.structures(3).copy()
    gdf["geometry"] = [shapely.ops.transform(lambda x, y: (y, x), g) for g in gdf.geometry]
    return _gpkg(gdf, tmp, "swapped.gpkg"), {}


def projected_declared_degrees(tmp: Path):
    gk = lf.structures(3).to_crs(4548)
    return _gpkg(gk.set_crs(4490, allow_override=True), tmp, "gk_as_degrees.gpkg"), {}


def degrees_declared_projected(tmp: Path):
    return _gpkg(lf.structures(3), tmp, "degrees.gpkg"), {"crs": "EPSG:4548"}


def zone_prefix_mixup(tmp: Path):
    zoned = lf.structures(3).to_crs(4527)
    return _gpkg(zoned.set_crs(4548, allow_override=True), tmp, "zoned.gpkg"), {}


def empty_bytes(tmp: Path):
    p = tmp / "empty.geojson"
    p.write_bytes(b"")
    return p, {}


def no_features(tmp: Path):
    return _gpkg(lf.structures(3).iloc[:0], tmp, "nofeatures.gpkg"), {}


def corrupt_gpkg(tmp: Path):
    p = tmp / "corrupt.gpkg"
    p.write_bytes(os.urandom(4096))
    return p, {}


def truncated_geojson(tmp: Path):
    p = lf.write(lf.structures(3), tmp / "cut.geojson")
    p.write_bytes(p.read_bytes()[:-200])
    return p, {}


def missing_required_field(tmp: Path):
    return _gpkg(lf.structures(3).drop(columns="违建类别"), tmp, "nocategory.gpkg"), {}


def bad_vocabulary_value(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[2, "违建类别"] = "豪宅"
    return _gpkg(gdf, tmp, "badvalue.gpkg"), {}


def empty_required_value(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[1, "案件编号"] = None
    return _gpkg(gdf, tmp, "nokey.gpkg"), {}


def out_of_range(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[0, "层数"] = 500
    return _gpkg(gdf, tmp, "floors.gpkg"), {}


def bad_date(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[2, "发现日期"] = "去年春天"
    return _gpkg(gdf, tmp, "date.gpkg"), {}


def duplicate_keys(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[2, "案件编号"] = gdf.loc[0, "案件编号"]
    return _gpkg(gdf, tmp, "dupes.gpkg"), {}


def points(tmp: Path):
    gdf = lf.structures(3)
    gdf["geometry"] = [Point(117.2, 39.0), Point(117.21, 39.0), Point(117.22, 39.0)]
    return _gpkg(gdf, tmp, "points.gpkg"), {}


def null_geometry(tmp: Path):
    gdf = lf.structures(3)
    gdf.loc[1, "geometry"] = None
    return _gpkg(gdf, tmp, "nogeom.geojson"), {}


def bad_wkt(tmp: Path):
    gdf = lf.structures(3)
    df = gdf.drop(columns="geometry")
    df["wkt"] = gdf.geometry.to_wkt()
    df.loc[1, "wkt"] = "POLYGON ((117.2 39, 117.3"
    p = tmp / "badwkt.csv"
    df.to_csv(p, index=False)
    return p, {"crs": 4490}


def both_datums(tmp: Path):
    return _gpkg(lf.structures(3), tmp, "both.gpkg"), {"from_gcj02": True, "from_bd09": True}


def two_layers(tmp: Path):
    p = _gpkg(lf.structures(3), tmp, "two.gpkg")
    lf.structures(2, prefix="X-").to_file(p, layer="other")
    return p, {}


def bad_field_map(tmp: Path):
    return _gpkg(lf.structures(3), tmp, "fmap.gpkg"), {"field_map": "地址=no_such_field"}


CASES: dict[str, tuple[Case, type[GeoEnforceError], list[str]]] = {
    "no_crs": (no_crs, CRSError, ["nocrs.shp", "no coordinate reference system", "--crs"]),
    "outside_china": (outside_china, CRSError, ["abroad.gpkg", "feature 2", "outside China"]),
    "swapped_axes": (swapped_axes, CRSError, ["swapped.gpkg", "feature 1", "axes swapped"]),
    "projected_as_degrees": (
        projected_declared_degrees,
        CRSError,
        ["gk_as_degrees.gpkg", "feature 1", "declared as degrees", "look projected"],
    ),
    "degrees_as_projected": (
        degrees_declared_projected,
        CRSError,
        ["degrees.gpkg", "feature 1", "look like degrees"],
    ),
    "zone_prefix": (zone_prefix_mixup, CRSError, ["zoned.gpkg", "zone prefix", "EPSG:4527"]),
    "empty_bytes": (empty_bytes, InvalidInput, ["empty.geojson", "empty"]),
    "no_features": (no_features, InvalidInput, ["nofeatures.gpkg", "no features"]),
    "corrupt": (corrupt_gpkg, InvalidInput, ["corrupt.gpkg", "corrupt"]),
    "truncated": (truncated_geojson, InvalidInput, ["cut.geojson", "corrupt"]),
    "missing_field": (
        missing_required_field,
        InvalidInput,
        ["nocategory.gpkg", "required field", "category (违建类别)", "--field-map"],
    ),
    "bad_value": (
        bad_vocabulary_value,
        InvalidInput,
        ["badvalue.gpkg", "feature 3 (案件编号=WJ-2024-003)", "category", "'豪宅' not allowed"],
    ),
    "empty_key": (empty_required_value, InvalidInput, ["nokey.gpkg", "feature 2", "is empty"]),
    "out_of_range": (
        out_of_range,
        InvalidInput,
        ["floors.gpkg", "feature 1 (案件编号=WJ-2024-001)", "floors", "out of range"],
    ),
    "bad_date": (bad_date, InvalidInput, ["date.gpkg", "feature 3", "not a date"]),
    "duplicate_keys": (
        duplicate_keys,
        InvalidInput,
        ["dupes.gpkg", "'WJ-2024-001'", "feature 1", "feature 3", "repeats"],
    ),
    "points": (points, InvalidInput, ["points.gpkg", "needs polygons", "feature 1", "Point"]),
    "null_geometry": (null_geometry, InvalidInput, ["nogeom.geojson", "feature 2", "no geometry"]),
    "bad_wkt": (bad_wkt, InvalidInput, ["badwkt.csv", "row 3 (feature 2)", "invalid WKT"]),
    "both_datums": (both_datums, InvalidInput, ["both.gpkg", "at most one"]),
    "two_layers": (two_layers, InvalidInput, ["two.gpkg", "2 layers", "--layer"]),
    "bad_field_map": (bad_field_map, InvalidInput, ["fmap.gpkg", "no_such_field", "not a field"]),
}


def snapshot(sessions) -> tuple[int, int, float]:
    with sessions() as s:
        n, area = s.execute(text("SELECT count(*), coalesce(sum(area_m2), 0) FROM structure")).one()
        audit = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    return int(n), int(audit), float(area)


@pytest.fixture
def seeded(sessions, tmp_path):
    """A store that already holds a few structures, so 'unchanged' means something."""
    src = lf.write(lf.structures(4, prefix="OLD-"), tmp_path / "seed.gpkg")
    with transaction(sessions, "seed") as s:
        import_layer(s, "structure", src)
    before = snapshot(sessions)
    assert before[:2] == (4, 4)
    return sessions, before


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_and_store_unchanged(seeded, tmp_path, case):
    sessions, before = seeded
    build, exc_type, fragments = CASES[case]
    path, kwargs = build(tmp_path)
    with pytest.raises(exc_type) as info, transaction(sessions, "tester") as s:
        import_layer(s, "structure", path, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert snapshot(sessions) == before


def test_layer_inside_a_multi_layer_file_is_chosen_with_source_layer(seeded, tmp_path):
    sessions, before = seeded
    path, _ = two_layers(tmp_path)
    with transaction(sessions, "t") as s:
        r = import_layer(s, "structure", path, source_layer="other")
    assert r.inserted == 2
    assert snapshot(sessions)[:2] == (before[0] + 2, before[1] + 2)


def test_unknown_layer_is_refused(seeded, tmp_path):
    sessions, before = seeded
    path = lf.write(lf.structures(2), tmp_path / "x.gpkg")
    with pytest.raises(NotFound, match="unknown layer 'houses'"), transaction(sessions, "t") as s:
        import_layer(s, "houses", path)
    assert snapshot(sessions) == before


def test_cli_refusal_is_one_line_exit_2_and_writes_nothing(seeded, db_url, tmp_path):
    sessions, before = seeded
    path, _ = bad_vocabulary_value(tmp_path)
    env = {**os.environ, "DATABASE_URL": db_url}
    exe = Path(sys.executable).with_name("geo-enforce")
    res = subprocess.run(
        [str(exe), "import", "structure", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert "错误" in res.stderr and "'豪宅' not allowed" in res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(sessions) == before
