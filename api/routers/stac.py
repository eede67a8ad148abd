"""STAC API over the flight catalogue: landing, conformance, the ``flights`` collection, its
items, item search (bbox, datetime, ids) and the COG assets themselves, served with HTTP range
requests so GDAL ``/vsicurl/`` and QGIS read them remotely. Viewer role, as the flights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from api.deps import ReadDB, Viewer
from api.routers.collections import OGCRoute
from geo_enforce.errors import NotFound
from geo_enforce.imagery import stac
from geo_enforce.imagery.flights import COG_MEDIA_TYPE
from geo_enforce.ledger.features import parse_bbox, parse_datetime
from geo_enforce.storage.paths import resolve_stored

router = APIRouter(
    prefix="/stac",
    tags=["stac"],
    route_class=OGCRoute,
    responses={400: {"description": "malformed bbox, datetime or limit"}},
)
GEOJSON = "application/geo+json"
MAX_LIMIT = 1000


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _check_collection(collection_id: str) -> None:
    if collection_id != stac.COLLECTION_ID:
        raise NotFound(f"STAC collection '{collection_id}' does not exist; use 'flights'")


@router.get("", summary="STAC landing page (catalogue)")
def landing(request: Request, _: Viewer) -> dict[str, Any]:
    return stac.landing(_base(request))


@router.get("/conformance", summary="STAC API conformance classes")
def conformance(_: Viewer) -> dict[str, list[str]]:
    return {"conformsTo": stac.CONFORMANCE}


@router.get("/collections", summary="STAC collections")
def collections(request: Request, session: ReadDB, _: Viewer) -> dict[str, Any]:
    base = _base(request)
    return {
        "collections": [stac.collection(session, base)],
        "links": [
            {"rel": "self", "href": f"{base}/stac/collections", "type": "application/json"},
            {"rel": "root", "href": f"{base}/stac", "type": "application/json"},
        ],
    }


@router.get("/collections/{collection_id}", summary="STAC collection")
def collection(collection_id: str, request: Request, session: ReadDB, _: Viewer) -> dict[str, Any]:
    _check_collection(collection_id)
    return stac.collection(session, _base(request))


def _page(request: Request, body: dict[str, Any], limit: int, offset: int) -> JSONResponse:
    base = _base(request)
    links = [
        {"rel": "self", "href": str(request.url), "type": GEOJSON},
        {"rel": "root", "href": f"{base}/stac", "type": "application/json"},
    ]
    if offset + body["numberReturned"] < body["numberMatched"]:
        nxt = request.url.include_query_params(offset=offset + limit)
        links.append({"rel": "next", "href": str(nxt), "type": GEOJSON, "method": "GET"})
    body["links"] = links
    return JSONResponse(body, media_type=GEOJSON)


Limit = Annotated[int, Query(ge=1, description=f"page size (capped at {MAX_LIMIT})")]
Offset = Annotated[int, Query(ge=0)]
BBox = Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")]
When = Annotated[str | None, Query(description="instant or interval of the flight date")]


@router.get("/collections/{collection_id}/items", summary="STAC items (flights)")
def items(
    collection_id: str,
    request: Request,
    session: ReadDB,
    _: Viewer,
    bbox: BBox = None,
    datetime: When = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> JSONResponse:
    _check_collection(collection_id)
    limit = min(limit, MAX_LIMIT)
    body = stac.search(
        session,
        _base(request),
        bbox=parse_bbox(bbox),
        when=parse_datetime(datetime),
        limit=limit,
        offset=offset,
    )
    return _page(request, body, limit, offset)


@router.get("/collections/{collection_id}/items/{item_id}", summary="STAC item (one flight)")
def item(
    collection_id: str, item_id: str, request: Request, session: ReadDB, _: Viewer
) -> JSONResponse:
    _check_collection(collection_id)
    flight = stac.current_flight(session, item_id)
    return JSONResponse(stac.item(flight, _base(request)), media_type=GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{item_id}/{asset}.tif",
    response_class=FileResponse,
    responses={200: {"content": {COG_MEDIA_TYPE: {}}}, 206: {"description": "byte range"}},
    summary="A flight's COG asset (ortho or dsm), with HTTP range requests",
)
def asset(
    collection_id: str, item_id: str, asset: str, request: Request, session: ReadDB, _: Viewer
) -> FileResponse:
    _check_collection(collection_id)
    flight = stac.current_flight(session, item_id)
    stored = {"ortho": flight.ortho_path, "dsm": flight.dsm_path}.get(asset)
    if stored is None:
        raise NotFound(f"flight '{item_id}' has no asset '{asset}' (ortho, dsm when recorded)")
    path = resolve_stored(stored, Path(request.app.state.settings.data_dir))
    if not path.is_file():
        raise NotFound(f"the {asset} file of flight '{item_id}' is missing on the server")
    return FileResponse(path, media_type=COG_MEDIA_TYPE, filename=f"{item_id}-{asset}.tif")


@router.get("/search", summary="STAC item search (bbox, datetime, ids)")
def search(
    request: Request,
    session: ReadDB,
    _: Viewer,
    bbox: BBox = None,
    datetime: When = None,
    ids: Annotated[str | None, Query(description="comma-separated item ids")] = None,
    collections: Annotated[str | None, Query(description="comma-separated ('flights')")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> JSONResponse:
    limit = min(limit, MAX_LIMIT)
    if collections is not None and stac.COLLECTION_ID not in collections.split(","):
        body = {"type": "FeatureCollection", "features": [], "numberMatched": 0}
        body["numberReturned"] = 0
        return _page(request, body, limit, offset)
    body = stac.search(
        session,
        _base(request),
        bbox=parse_bbox(bbox),
        when=parse_datetime(datetime),
        ids=[i for i in ids.split(",") if i] if ids else None,
        limit=limit,
        offset=offset,
    )
    return _page(request, body, limit, offset)


# GDAL /vsicurl/ asks HEAD first: the same handler (FileResponse sends no body for HEAD)
router.add_api_route(
    "/collections/{collection_id}/items/{item_id}/{asset}.tif",
    asset,
    methods=["HEAD"],
    include_in_schema=False,
)
