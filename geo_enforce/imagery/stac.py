"""STAC (1.0) of the flight catalogue: a landing catalogue, one ``flights`` collection, one item
per current flight and an item search by bbox and datetime.

Documents are built from the ``flight`` rows for a given base URL (the API's address as the
client reached it), so every link and asset href is an HTTP URL served by the API behind the
same roles, and no server path ever leaves it. The stored ``flight.stac`` column is not served.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.imagery.flights import COG_MEDIA_TYPE
from geo_enforce.storage.models import Flight

STAC_VERSION = "1.1.0"
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
COLLECTION_ID = "flights"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
]
GEOJSON = "application/geo+json"
JSON = "application/json"


def _when(flown_on: dt.date) -> str:
    return dt.datetime.combine(flown_on, dt.time(12), dt.UTC).isoformat().replace("+00:00", "Z")


def _epsg(crs: str) -> int | None:
    tail = crs.upper().removeprefix("EPSG:")
    return int(tail) if tail.isdigit() else None


def asset_href(base: str, flight: Flight, asset: str) -> str:
    """The URL of ``asset`` of ``flight`` under ``base``."""
    return f"{base}/stac/collections/{COLLECTION_ID}/items/{flight.name}/{asset}.tif"


def item(flight: Flight, base: str) -> dict[str, Any]:
    """The STAC item of ``flight`` (geometry: footprint in EPSG:4490 lon/lat)."""
    footprint = to_shape(flight.footprint) if flight.footprint is not None else None
    stored = (flight.stac or {}).get("properties", {})
    props: dict[str, Any] = {
        "datetime": _when(flight.flown_on),
        "title": flight.name,
        "gsd": flight.gsd_m,
        "proj:epsg": _epsg(flight.crs),
        "proj:shape": [flight.height, flight.width],
    }
    if stored.get("proj:transform"):
        props["proj:transform"] = stored["proj:transform"]
    assets = {
        "ortho": {
            "href": asset_href(base, flight, "ortho"),
            "type": COG_MEDIA_TYPE,
            "title": "正射影像 orthophoto",
            "roles": ["data", "visual"],
        }
    }
    if flight.dsm_path:
        assets["dsm"] = {
            "href": asset_href(base, flight, "dsm"),
            "type": COG_MEDIA_TYPE,
            "title": "数字表面模型 DSM (m)",
            "roles": ["data", "elevation"],
        }
    col = f"{base}/stac/collections/{COLLECTION_ID}"
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [PROJECTION],
        "id": flight.name,
        "collection": COLLECTION_ID,
        "geometry": mapping(footprint) if footprint is not None else None,
        "bbox": list(footprint.bounds) if footprint is not None else None,
        "properties": props,
        "assets": assets,
        "links": [
            {"rel": "self", "href": f"{col}/items/{flight.name}", "type": GEOJSON},
            {"rel": "parent", "href": col, "type": JSON},
            {"rel": "collection", "href": col, "type": JSON},
            {"rel": "root", "href": f"{base}/stac", "type": JSON},
        ],
    }


def _current(session: Session | None = None):
    return select(Flight).where(Flight.retired_at.is_(None))


def collection(session: Session, base: str) -> dict[str, Any]:
    """The ``flights`` collection with the spatial and temporal extent of the current flights."""
    ext = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(Flight.footprint)),
            func.ST_YMin(func.ST_Extent(Flight.footprint)),
            func.ST_XMax(func.ST_Extent(Flight.footprint)),
            func.ST_YMax(func.ST_Extent(Flight.footprint)),
            func.min(Flight.flown_on),
            func.max(Flight.flown_on),
        ).where(Flight.retired_at.is_(None))
    ).one()
    bbox = [float(v) for v in ext[:4]] if ext[0] is not None else [-180.0, -90.0, 180.0, 90.0]
    interval = [_when(ext[4]) if ext[4] else None, _when(ext[5]) if ext[5] else None]
    col = f"{base}/stac/collections/{COLLECTION_ID}"
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": COLLECTION_ID,
        "title": "无人机航拍 drone flights",
        "description": "正射影像与数字表面模型 (COG): orthophotos and DSMs of the township's "
        "drone flights, one item per flight.",
        "license": "proprietary",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}},
        "links": [
            {"rel": "self", "href": col, "type": JSON},
            {"rel": "root", "href": f"{base}/stac", "type": JSON},
            {"rel": "parent", "href": f"{base}/stac", "type": JSON},
            {"rel": "items", "href": f"{col}/items", "type": GEOJSON},
        ],
    }


def landing(base: str) -> dict[str, Any]:
    """The STAC API landing page: a catalogue with the ``flights`` child and item search."""
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": "geo-enforce",
        "title": "geo-enforce 影像目录",
        "description": "无人机航拍影像 (STAC): the drone flights of the enforcement ledger.",
        "conformsTo": CONFORMANCE,
        "links": [
            {"rel": "self", "href": f"{base}/stac", "type": JSON},
            {"rel": "root", "href": f"{base}/stac", "type": JSON},
            {"rel": "conformance", "href": f"{base}/stac/conformance", "type": JSON},
            {"rel": "data", "href": f"{base}/stac/collections", "type": JSON},
            {"rel": "child", "href": f"{base}/stac/collections/{COLLECTION_ID}", "type": JSON},
            {"rel": "search", "href": f"{base}/stac/search", "type": GEOJSON, "method": "GET"},
            {"rel": "service-desc", "href": f"{base}/openapi.json", "type": JSON},
        ],
    }


def current_flight(session: Session, name: str) -> Flight:
    """The current flight named ``name`` (an item id)."""
    flight = session.scalar(_current(session).where(Flight.name == name))
    if flight is None:
        raise NotFound(f"flight item '{name}' not found (or retired)")
    return flight


def search(
    session: Session,
    base: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    when: tuple[dt.date | None, dt.date | None] | None = None,
    ids: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Items intersecting ``bbox`` (lon/lat) flown within ``when``; a FeatureCollection page."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be ≥ 1 and offset ≥ 0")
    q = _current(session)
    if bbox is not None:
        q = q.where(func.ST_Intersects(Flight.footprint, func.ST_MakeEnvelope(*bbox, 4490)))
    if when is not None:
        lo, hi = when
        if lo is not None:
            q = q.where(Flight.flown_on >= lo)
        if hi is not None:
            q = q.where(Flight.flown_on <= hi)
    if ids:
        q = q.where(Flight.name.in_(ids))
    matched = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    flights = session.scalars(q.order_by(Flight.flown_on, Flight.id).limit(limit).offset(offset))
    feats = [item(f, base) for f in flights]
    return {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": matched,
        "numberReturned": len(feats),
        "context": {"returned": len(feats), "limit": limit, "matched": matched},
    }
