"""OGC API Features-style collections, so QGIS and GDAL can add each layer directly."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import ReadDB, Viewer, get_settings
from geo_enforce.ledger import features
from geo_enforce.settings import Settings

router = APIRouter(tags=["collections"])

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
RESERVED = {"bbox", "limit", "offset", "f", "token"}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/", summary="Landing page")
def landing(request: Request, _: Viewer) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": "geo-enforce 违法建设台账",
        "description": "违法建设、治理违法占地、规划红线、农用地图斑与变化图斑",
        "links": [
            {"rel": "self", "href": f"{base}/", "type": "application/json"},
            {"rel": "conformance", "href": f"{base}/conformance", "type": "application/json"},
            {"rel": "data", "href": f"{base}/collections", "type": "application/json"},
            {
                "rel": "service-desc",
                "href": f"{base}/openapi.json",
                "type": "application/vnd.oai.openapi+json;version=3.0",
            },
        ],
    }


@router.get("/conformance", summary="Conformance classes")
def conformance(_: Viewer) -> dict[str, list[str]]:
    return {"conformsTo": CONFORMANCE}


def _collection(request: Request, session, cid: str) -> dict[str, Any]:
    base = _base(request)
    bbox = features.extent(session, cid)
    out: dict[str, Any] = {
        "id": cid,
        "title": features.LAYER_TITLES.get(cid, cid),
        "itemType": "feature",
        "crs": [CRS84, CGCS2000],
        "storageCrs": CGCS2000,
        "links": [
            {"rel": "self", "href": f"{base}/collections/{cid}", "type": "application/json"},
            {"rel": "items", "href": f"{base}/collections/{cid}/items", "type": GEOJSON},
        ],
    }
    if bbox:
        out["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return out


@router.get("/collections", summary="List collections")
def list_collections(request: Request, session: ReadDB, _: Viewer) -> dict[str, Any]:
    base = _base(request)
    return {
        "collections": [_collection(request, session, c) for c in features.collection_ids()],
        "links": [{"rel": "self", "href": f"{base}/collections", "type": "application/json"}],
    }


@router.get("/collections/{collection_id}", summary="One collection")
def get_collection(
    collection_id: str, request: Request, session: ReadDB, _: Viewer
) -> dict[str, Any]:
    features.property_columns(collection_id)  # NotFound for unknown ids
    return _collection(request, session, collection_id)


@router.get("/collections/{collection_id}/items", summary="Features (GeoJSON), paged")
def get_items(
    collection_id: str,
    request: Request,
    session: ReadDB,
    principal: Viewer,
    settings: Annotated[Settings, Depends(get_settings)],
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """Equality filters on listed properties are accepted as query parameters
    (e.g. ``?status=demolished&village_code=120111100201``)."""
    limit = min(limit, settings.limits.max_page_size)
    filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    page = features.items(
        session,
        collection_id,
        bbox=features.parse_bbox(bbox),
        filters=filters,
        limit=limit,
        offset=offset,
        personal=principal.has("editor"),
    )
    url = str(request.url.remove_query_params(["offset"]))
    sep = "&" if "?" in url else "?"
    links = [{"rel": "self", "href": str(request.url), "type": GEOJSON}]
    if offset + page.number_returned < page.number_matched:
        links.append({"rel": "next", "href": f"{url}{sep}offset={offset + limit}", "type": GEOJSON})
    if offset > 0:
        links.append(
            {"rel": "prev", "href": f"{url}{sep}offset={max(0, offset - limit)}", "type": GEOJSON}
        )
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "links": links,
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items/{item_id}", summary="One feature (GeoJSON)")
def get_item(collection_id: str, item_id: int, session: ReadDB, principal: Viewer) -> JSONResponse:
    feat = features.item(session, collection_id, item_id, personal=principal.has("editor"))
    return JSONResponse(feat, media_type=GEOJSON)
