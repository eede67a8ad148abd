"""STAC of the flights, from a live server: catalogue → collection → items → assets, item search
by bbox and datetime, every document checked by stac-validator against the STAC 1.1.0 schemas
shipped in tests/support/stac_schemas (copied from the pystac package; no network), and the
orthophoto read remotely through GDAL /vsicurl/ with HTTP range requests."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import httpx
import pytest
import rasterio
from rasterio.windows import Window

from geo_enforce.storage.engine import make_engine, make_sessionmaker
from tests.conftest import bearer_headers
from tests.support.live_server import live_api
from tests.support.mapdata import X0, Y0, seed_ledger

SCHEMAS = Path(__file__).resolve().parents[1] / "support" / "stac_schemas"
SPEC = "https://schemas.stacspec.org/v1.1.0"


def schema_map() -> dict[str, str]:
    out = {
        f"{SPEC}/item-spec/json-schema/item.json": "item.json",
        f"{SPEC}/collection-spec/json-schema/collection.json": "collection.json",
        f"{SPEC}/catalog-spec/json-schema/catalog.json": "catalog.json",
        "https://geojson.org/schema/Feature.json": "Feature.json",
        "https://geojson.org/schema/Geometry.json": "Geometry.json",
    }
    for name in ("bands", "basics", "common", "data-values", "datetime", "instrument"):
        out[f"{SPEC}/item-spec/json-schema/{name}.json"] = f"{name}.json"
    for name in ("licensing", "provider"):
        out[f"{SPEC}/item-spec/json-schema/{name}.json"] = f"{name}.json"
    return {url: str(SCHEMAS / f) for url, f in out.items()}


def validate(doc: dict, tmp_path: Path) -> dict:
    """stac-validator (core schemas, local) on ``doc``; its report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from stac_validator.validate import StacValidate

    path = tmp_path / f"{doc.get('id', 'doc')}-{doc['type']}.json"
    path.write_text(json.dumps(doc))
    v = StacValidate(str(path), core=True, schema_map=schema_map())
    v.run()
    return v.message[0]


@pytest.fixture(scope="module")
def server(module_db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stac")
    engine = make_engine(module_db_url)
    factory = make_sessionmaker(engine)
    seeded = seed_ledger(factory, tmp / "var", flights=True)
    (viewer,) = bearer_headers(factory, ("stac_viewer", "viewer"))
    header_file = tmp / "headers.txt"
    header_file.write_text(f"Authorization: {viewer['Authorization']}\n")
    with live_api(module_db_url, tmp / "var") as base:
        with httpx.Client(base_url=base, headers=viewer, timeout=30) as http:
            yield {"base": base, "http": http, "headers": header_file, "seeded": seeded}
    engine.dispose()


def test_catalogue_collection_items_validate(server, tmp_path):
    http, base = server["http"], server["base"]
    landing = http.get("/stac").json()
    assert validate(landing, tmp_path)["valid_stac"] is True
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels["child"] == f"{base}/stac/collections/flights"
    assert rels["search"] == f"{base}/stac/search"
    assert "https://api.stacspec.org/v1.0.0/item-search" in landing["conformsTo"]

    col = http.get(rels["child"]).json()
    report = validate(col, tmp_path)
    assert report["valid_stac"] is True, report
    assert col["extent"]["temporal"]["interval"] == [
        ["2023-10-01T12:00:00Z", "2024-10-01T12:00:00Z"]
    ]
    items_url = next(link["href"] for link in col["links"] if link["rel"] == "items")
    page = http.get(items_url).json()
    assert [f["id"] for f in page["features"]] == ["F2023", "F2024"]
    for item in page["features"]:
        report = validate(item, tmp_path)
        assert report["valid_stac"] is True, report
        links = {link["rel"]: link["href"] for link in item["links"]}
        assert links["self"] == f"{base}/stac/collections/flights/items/{item['id']}"
        assert links["parent"] == links["collection"] == rels["child"]
        assert http.get(links["self"]).json() == item
        assert item["assets"]["ortho"]["href"].startswith(f"{base}/stac/")

    # the validator does reject a broken item (the test can fail)
    broken = dict(page["features"][0], properties={"gsd": 2.0})
    assert validate(broken, tmp_path)["valid_stac"] is False


def test_no_server_path_anywhere(server):
    http = server["http"]
    data_dir = str(server["seeded"].data_dir)
    listed = http.get("/flights")
    assert listed.status_code == 200
    flights = listed.json()
    assert all(
        f["stac"] and f["stac"]["assets"]["ortho"]["href"].startswith("http") for f in flights
    )
    for url in ("/flights", "/flights/F2023", "/stac/search", "/stac/collections/flights/items"):
        body = http.get(url).text
        assert data_dir not in body and "flights/F20" not in body.replace("items/F20", "")


def test_search_by_bbox_and_datetime(server):
    http = server["http"]

    def ids(**params) -> list[str]:
        r = http.get("/stac/search", params=params)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]

    inside = f"{X0},{Y0},{X0 + 0.001},{Y0 + 0.001}"
    assert ids(bbox=inside) == ["F2023", "F2024"]
    assert ids(bbox="100,20,100.1,20.1") == []
    assert ids(datetime="2024-01-01T00:00:00Z/..") == ["F2024"]
    assert ids(datetime="../2023-12-31") == ["F2023"]
    assert ids(bbox=inside, datetime="2023-10-01") == ["F2023"]
    assert ids(ids="F2024") == ["F2024"]
    assert ids(collections="other") == []
    page = http.get("/stac/search", params={"limit": 1}).json()
    assert page["numberMatched"] == 2 and page["numberReturned"] == 1
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert [f["id"] for f in http.get(nxt).json()["features"]] == ["F2024"]
    assert http.get("/stac/search", params={"bbox": "1,2,3"}).status_code == 400
    assert http.get("/stac/search", params={"datetime": "yesterday"}).status_code == 400


def test_asset_ranges_vsicurl_and_roles(server):
    http = server["http"]
    item = http.get("/stac/collections/flights/items/F2024").json()
    href = item["assets"]["ortho"]["href"]
    local = server["seeded"].data_dir / "flights" / "F2024.tif"
    head = http.get(href, headers={"Range": "bytes=0-99"})
    assert head.status_code == 206 and head.content == local.read_bytes()[:100]
    assert head.headers["accept-ranges"] == "bytes"
    assert httpx.get(href).status_code == 401  # the same roles as the API
    assert http.get(href.replace("ortho.tif", "dsm.tif")).status_code == 404

    env = {"GDAL_HTTP_HEADER_FILE": str(server["headers"]), "GDAL_DISABLE_READDIR_ON_OPEN": "YES"}
    with rasterio.Env(**env), rasterio.open(f"/vsicurl/{href}") as remote:
        with rasterio.open(local) as src:
            assert remote.crs == src.crs and remote.shape == src.shape
            assert remote.overviews(1) == src.overviews(1)
            win = Window(10, 10, 64, 64)
            assert (remote.read(window=win) == src.read(window=win)).all()
        assert list(remote.shape) == item["properties"]["proj:shape"]
        assert remote.crs.to_epsg() == item["properties"]["proj:epsg"]
