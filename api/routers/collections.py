"""OGC API Features (Part 1 Core, GeoJSON; Part 2 CRS by reference), so QGIS and GDAL can add
each layer directly.

What is declared in ``/conformance`` is what is implemented: Core, GeoJSON and CRS. Not
claimed: HTML encoding and the OpenAPI 3.0 class (the service description is OpenAPI 3.1).
Bad parameters (unknown names, malformed values) are answered 400, as Part 1 requires; a
``limit`` above the maximum page size is capped, not refused.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from api.deps import ReadDB, Viewer, get_settings
from geo_enforce.errors import BadQuery, InvalidInput, NotFound
from geo_enforce.ledger import features
from geo_enforce.settings import Settings
from geo_enforce.storage.locking import etag

GEOJSON = "application/geo+json"
JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
#: query parameters of /items besides the property filters (features.FILTERABLE)
ITEMS_PARAMS = frozenset({"bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "f"})
ITEM_PARAMS = frozenset({"crs", "f"})
FORMATS = frozenset({"json", "geojson", "application/geo+json", "application/json"})


class OGCRoute(APIRoute):
    """A route whose malformed query (unknown parameter, bad bbox, non-integer limit) is a
    400 Bad Request, as OGC API Features requires, rather than the rest of the API's 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                msgs = "; ".join(
                    f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
                    for err in exc.errors()
                )
                raise BadQuery(f"invalid request parameter ({msgs})") from None
            except InvalidInput as exc:
                if isinstance(exc, BadQuery):
                    raise
                raise BadQuery(str(exc)) from None

        return route


router = APIRouter(
    tags=["collections"],
    route_class=OGCRoute,
    responses={400: {"description": "unknown parameter or malformed value"}},
)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _check_params(request: Request, allowed: frozenset[str], *, filters: bool = False) -> None:
    for key in request.query_params:
        if key in allowed or (filters and key in features.FILTERABLE):
            continue
        raise BadQuery(
            f"unknown query parameter '{key}'; this endpoint takes: "
            + ", ".join(sorted(allowed) + (["<property>=<value> filters"] if filters else []))
        )
    f = request.query_params.get("f")
    if f is not None and f.lower() not in FORMATS:
        raise BadQuery(f"f='{f}' is not offered: only GeoJSON (f=json)")


@router.get("/", summary="Landing page")
def landing(request: Request, _: Viewer) -> dict[str, Any]:
    base = _base(request)
    version = request.app.openapi().get("openapi", "3.1.0")
    return {
        "title": "geo-enforce 违法建设台账",
        "description": "违法建设、治理违法占地、规划红线、农用地图斑与变化图斑",
        "links": [
            {"rel": "self", "href": f"{base}/", "type": JSON, "title": "本页"},
            {
                "rel": "conformance",
                "href": f"{base}/conformance",
                "type": JSON,
                "title": "符合的标准类别",
            },
            {"rel": "data", "href": f"{base}/collections", "type": JSON, "title": "图层"},
            {
                "rel": "service-desc",
                "href": f"{base}/openapi.json",
                "type": f"application/vnd.oai.openapi+json;version={version.rsplit('.', 1)[0]}",
                "title": f"OpenAPI {version}",
            },
            {"rel": "service-doc", "href": f"{base}/docs", "type": "text/html", "title": "文档"},
        ],
    }


@router.get("/api", summary="Service description (the OpenAPI document, as /openapi.json)")
def service_description(request: Request, _: Viewer) -> JSONResponse:
    doc = request.app.openapi()
    version = ".".join(str(doc.get("openapi", "3.1.0")).split(".")[:2])
    return JSONResponse(doc, media_type=f"application/vnd.oai.openapi+json;version={version}")


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
        "crs": list(features.SUPPORTED_CRS),
        "storageCrs": features.STORAGE_CRS,
        "links": [
            {"rel": "self", "href": f"{base}/collections/{cid}", "type": JSON},
            {"rel": "items", "href": f"{base}/collections/{cid}/items", "type": GEOJSON},
            {
                "rel": "describedBy",  # rel is case-insensitive (RFC 8288); GDAL 3.6 wants this
                "href": f"{base}/collections/{cid}/schema",
                "type": SCHEMA_JSON,
                "title": "属性结构 (JSON Schema)",
            },
        ],
    }
    extent: dict[str, Any] = {}
    if bbox:
        extent["spatial"] = {"bbox": [bbox], "crs": features.CRS84}
    when = features.temporal_extent(session, cid)
    if when is not None:
        extent["temporal"] = {
            "interval": [when],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    if extent:
        out["extent"] = extent
    return out


@router.get("/collections", summary="List collections")
def list_collections(request: Request, session: ReadDB, _: Viewer) -> dict[str, Any]:
    _check_params(request, frozenset({"f"}))
    base = _base(request)
    return {
        "collections": [_collection(request, session, c) for c in features.collection_ids()],
        "links": [{"rel": "self", "href": f"{base}/collections", "type": JSON}],
        "crs": list(features.SUPPORTED_CRS),
    }


@router.get("/collections/{collection_id}", summary="One collection")
def get_collection(
    collection_id: str, request: Request, session: ReadDB, _: Viewer
) -> dict[str, Any]:
    features.property_columns(collection_id)  # NotFound for unknown ids
    _check_params(request, frozenset({"f"}))
    return _collection(request, session, collection_id)


@router.get(
    "/collections/{collection_id}/schema",
    response_class=JSONResponse,
    responses={200: {"content": {SCHEMA_JSON: {}}}},
    summary="JSON Schema of a collection's features",
)
def get_schema(collection_id: str, request: Request, principal: Viewer) -> JSONResponse:
    _check_params(request, frozenset({"f"}))
    body = features.feature_schema(collection_id, personal=principal.has("editor"))
    return JSONResponse(body, media_type=SCHEMA_JSON)


def _crs_header(crs: features.OutputCrs) -> dict[str, str]:
    return {"Content-Crs": f"<{crs.uri}>"}


@router.get("/collections/{collection_id}/items", summary="Features (GeoJSON), paged")
def get_items(
    collection_id: str,
    request: Request,
    session: ReadDB,
    principal: Viewer,
    settings: Annotated[Settings, Depends(get_settings)],
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs axis order (CRS84: lon/lat)"),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (default CRS84)")
    ] = None,
    crs: Annotated[str | None, Query(description="CRS of the geometries (default CRS84)")] = None,
    datetime: Annotated[
        str | None,
        Query(description="instant or interval (start/end, '..' open) of the main date"),
    ] = None,
    limit: Annotated[int, Query(ge=1, description="page size; capped at the maximum")] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    f: Annotated[str | None, Query(description="json (GeoJSON), the only encoding")] = None,
) -> JSONResponse:
    """Equality filters on listed properties are accepted as query parameters
    (e.g. ``?status=demolished&village_code=120111100201``)."""
    features.property_columns(collection_id)  # NotFound before any parameter check
    _check_params(request, ITEMS_PARAMS, filters=True)
    limit = min(limit, settings.limits.max_page_size)
    out_crs = features.resolve_crs(crs)
    filters = {k: v for k, v in request.query_params.items() if k not in ITEMS_PARAMS}
    page = features.items(
        session,
        collection_id,
        bbox=features.parse_bbox_crs(bbox, bbox_crs),
        filters=filters,
        limit=limit,
        offset=offset,
        personal=principal.has("editor"),
        crs=out_crs,
        when=features.parse_datetime(datetime),
    )
    base = _base(request)
    links = [
        {"rel": "self", "href": str(request.url), "type": GEOJSON},
        {"rel": "collection", "href": f"{base}/collections/{collection_id}", "type": JSON},
    ]
    if offset + page.number_returned < page.number_matched:
        links.append({"rel": "next", "href": _page_url(request, offset + limit), "type": GEOJSON})
    if offset > 0:
        links.append(
            {"rel": "prev", "href": _page_url(request, max(0, offset - limit)), "type": GEOJSON}
        )
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "links": links,
    }
    return JSONResponse(body, media_type=GEOJSON, headers=_crs_header(out_crs))


def _page_url(request: Request, offset: int) -> str:
    return str(request.url.include_query_params(offset=offset))


@router.get("/collections/{collection_id}/items/{item_id}", summary="One feature (GeoJSON)")
def get_item(
    collection_id: str,
    item_id: str,
    request: Request,
    session: ReadDB,
    principal: Viewer,
    crs: Annotated[str | None, Query(description="CRS of the geometry (default CRS84)")] = None,
    f: Annotated[str | None, Query(description="json (GeoJSON), the only encoding")] = None,
) -> JSONResponse:
    features.property_columns(collection_id)
    if not (item_id.isascii() and item_id.isdigit() and 0 < int(item_id) < 2**63):
        raise NotFound(f"{collection_id} {item_id} does not exist (ids are positive integers)")
    _check_params(request, ITEM_PARAMS)
    out_crs = features.resolve_crs(crs)
    feat, version = features.item_with_version(
        session, collection_id, int(item_id), personal=principal.has("editor"), crs=out_crs
    )
    base = _base(request)
    feat["links"] = [
        {"rel": "self", "href": f"{base}/collections/{collection_id}/items/{item_id}"},
        {"rel": "collection", "href": f"{base}/collections/{collection_id}", "type": JSON},
    ]
    feat["links"][0]["type"] = GEOJSON
    headers = _crs_header(out_crs)
    if version is not None:
        headers["ETag"] = etag(version)
    return JSONResponse(feat, media_type=GEOJSON, headers=headers)
