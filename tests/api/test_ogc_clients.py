"""OGC API Features read by real clients: GDAL ≥ 3.7 (the pyogrio wheel) and Debian's GDAL 3.6
(``ogr2ogr``), against a uvicorn server on a free loopback port, every collection whole, by
bbox, paged and in each offered CRS; counts and coordinates compared with PostGIS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from geo_enforce.geometry.crs import transform_geometry
from geo_enforce.ledger.features import LAYER_TITLES
from geo_enforce.storage.engine import make_engine, make_sessionmaker
from tests.conftest import bearer_headers
from tests.support.live_server import live_api
from tests.support.mapdata import X0, Y0, seed_ledger

COLLECTIONS = sorted(LAYER_TITLES)
#: the western half of the township: some, not all, of most layers
BBOX = (X0 - 0.0005, Y0 - 0.0005, X0 + 0.0062, Y0 + 0.0080)
OGR2OGR = shutil.which("ogr2ogr") or ""


@pytest.fixture(scope="module")
def server(module_db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ogc")
    engine = make_engine(module_db_url)
    factory = make_sessionmaker(engine)
    seed_ledger(factory, tmp / "var", flights=False)
    (header,) = bearer_headers(factory, ("gis", "viewer"))
    header_file = tmp / "headers.txt"
    header_file.write_text(f"Authorization: {header['Authorization']}\n")
    with live_api(module_db_url, tmp / "var") as base:
        yield {"base": base, "engine": engine, "headers": header_file, "tmp": tmp}
    engine.dispose()


@pytest.fixture
def gdal_auth(server):
    """GDAL sends the token from a header file (its OAPIF requests set their own headers)."""
    pyogrio.set_gdal_config_options({"GDAL_HTTP_HEADER_FILE": str(server["headers"])})
    yield
    pyogrio.set_gdal_config_options({"GDAL_HTTP_HEADER_FILE": None})


def stored(server, collection: str, bbox=None) -> dict[int, shapely.Geometry]:
    """Current records of ``collection`` (id → EPSG:4490 geometry) straight from PostGIS."""
    where = "retired_at IS NULL"
    if bbox is not None:
        where += " AND ST_Intersects(geom, ST_MakeEnvelope({}, {}, {}, {}, 4490))".format(*bbox)
    with server["engine"].connect() as conn:
        rows = conn.execute(text(f"SELECT id, ST_AsBinary(geom) FROM {collection} WHERE {where}"))
        return {r[0]: shapely.from_wkb(bytes(r[1])) for r in rows}


def assert_same(read: gpd.GeoDataFrame, expected: dict[int, shapely.Geometry], tol: float):
    assert sorted(read["id"]) == sorted(expected)
    for fid, geom in zip(read["id"], read.geometry, strict=True):
        want = expected[int(fid)]
        # same vertices, same order (no axis swap, no reprojection drift)
        got_xy = shapely.get_coordinates(geom)
        want_xy = shapely.get_coordinates(want)
        assert got_xy.shape == want_xy.shape
        assert abs(got_xy - want_xy).max() < tol, (fid, got_xy[:2], want_xy[:2])


def test_layers_listed(server, gdal_auth):
    names = {name for name, _ in pyogrio.list_layers(f"OAPIF:{server['base']}")}
    assert names == set(COLLECTIONS)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_pyogrio_reads_whole_bbox_and_pages(server, gdal_auth, collection):
    src = f"OAPIF:{server['base']}"
    whole = pyogrio.read_dataframe(src, layer=collection)
    expected = stored(server, collection)
    assert expected, "the seed has records of every layer"
    assert whole.crs.to_epsg() == 4490  # GDAL ≥ 3.7 reads the storage CRS
    assert_same(whole, expected, 1e-8)

    paged = pyogrio.read_dataframe(src, layer=collection, PAGE_SIZE=2)
    assert_same(paged, expected, 1e-8)

    boxed = pyogrio.read_dataframe(src, layer=collection, bbox=BBOX)
    assert_same(boxed, stored(server, collection, BBOX), 1e-8)


@pytest.mark.parametrize("epsg", [4326, 4490, 4548, 4527])
def test_pyogrio_reads_each_offered_crs(server, gdal_auth, epsg):
    src = f"OAPIF:{server['base']}"
    crs = "OGC:CRS84" if epsg == 4326 else f"EPSG:{epsg}"
    for collection in COLLECTIONS:
        read = pyogrio.read_dataframe(src, layer=collection, CRS=crs)
        assert read.crs.to_epsg() == epsg if epsg != 4326 else read.crs.to_string() == "OGC:CRS84"
        expected = stored(server, collection)
        if epsg in (4548, 4527):
            expected = {k: transform_geometry(g, 4490, epsg) for k, g in expected.items()}
        assert_same(read, expected, 1e-3 if epsg in (4548, 4527) else 1e-8)
        # a box in that CRS selects the same records as the lon/lat box
        if epsg in (4548, 4527):
            box = shapely.box(*BBOX).segmentize(0.0001)
            minx, miny, maxx, maxy = transform_geometry(box, 4490, epsg).bounds
            boxed = pyogrio.read_dataframe(
                src, layer=collection, CRS=crs, bbox=(minx, miny, maxx, maxy)
            )
            want = stored(
                server,
                collection,
                transform_geometry(
                    shapely.box(minx, miny, maxx, maxy).segmentize(50), epsg, 4490
                ).bounds,
            )
            assert sorted(boxed["id"]) == sorted(want)


@pytest.mark.skipif(not OGR2OGR, reason="Debian gdal-bin (ogr2ogr) not installed")
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_ogr2ogr_gdal36_whole_bbox_paged(server, collection, tmp_path):
    env = {**os.environ, "GDAL_HTTP_HEADER_FILE": str(server["headers"])}
    expected = stored(server, collection)

    def convert(*args: str) -> gpd.GeoDataFrame:
        out = tmp_path / f"{collection}-{len(list(tmp_path.iterdir()))}.gpkg"
        run = subprocess.run(
            [OGR2OGR, "-f", "GPKG", str(out), f"OAPIF:{server['base']}", collection, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return gpd.read_file(out)

    assert_same(convert(), expected, 1e-8)
    assert_same(convert("-oo", "PAGE_SIZE=2"), expected, 1e-8)
    spat = [str(v) for v in BBOX]
    assert_same(convert("-spat", *spat), stored(server, collection, BBOX), 1e-8)


@pytest.mark.skipif(not OGR2OGR, reason="Debian gdal-bin (ogr2ogr) not installed")
@pytest.mark.parametrize("epsg", [4490, 4548, 4527])
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_ogr2ogr_gdal36_items_in_each_crs(server, epsg, collection, tmp_path):
    """GDAL 3.6 has no CRS open option: it reads the items URL with ``crs`` as a GeoJSON source;
    the coordinates arrive in the EPSG axis order (lat/lon, northing/easting)."""
    url = (
        f"{server['base']}/collections/{collection}/items"
        f"?crs=http://www.opengis.net/def/crs/EPSG/0/{epsg}&limit=1000"
    )
    env = {**os.environ, "GDAL_HTTP_HEADER_FILE": str(server["headers"])}
    out = tmp_path / "s.geojson"
    run = subprocess.run(
        [OGR2OGR, "-f", "GeoJSON", "-lco", "RFC7946=NO", str(out), url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    feats = json.loads(Path(out).read_text())["features"]
    expected = stored(server, collection)
    ids = [f["properties"].get("id", f.get("id")) for f in feats]  # the writer may lift "id"
    assert sorted(ids) == sorted(expected)
    for fid, f in zip(ids, feats, strict=True):
        want = expected[fid]
        if epsg != 4490:
            want = transform_geometry(want, 4490, epsg)
        want_xy = shapely.get_coordinates(want)[:, ::-1]  # EPSG order: lat/lon, northing/easting
        got_xy = shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))
        assert abs(got_xy - want_xy).max() < (1e-3 if epsg != 4490 else 1e-8)


def test_field_types_come_from_the_schema(server, gdal_auth):
    """Fields that are empty on the first page (no structure is demolished yet in the seed)
    are still typed: both GDALs read the collection's JSON Schema (rel=describedby)."""
    info = pyogrio.read_info(f"OAPIF:{server['base']}", layer="structure")
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["demolished_on"].startswith("datetime64")
    assert types["floor_area_measured_m2"] == "float64"
    assert types["status_label"] == "object" and types["village_name"] == "object"
    if not OGR2OGR:
        return
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo is not None
    run = subprocess.run(
        [ogrinfo, "-ro", "-so", f"OAPIF:{server['base']}", "structure"],
        env={**os.environ, "GDAL_HTTP_HEADER_FILE": str(server["headers"])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "demolished_on: Date" in run.stdout
    assert "floor_area_measured_m2: Real" in run.stdout
    assert "closed_on: Date" in run.stdout
