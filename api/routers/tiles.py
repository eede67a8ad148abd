"""Map tiles: vector tiles per layer (ST_AsMVT) and orthophoto XYZ tiles (rio-tiler)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.deps import ReadDB, Viewer, get_settings
from geo_enforce.settings import Settings
from geo_enforce.tiles import flight_image, render_mvt, render_ortho_tile
from geo_enforce.tiles.ortho import FORMATS

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_TYPE = "application/vnd.mapbox-vector-tile"
#: Ledger layers change during the day: browsers may reuse a tile for a minute, then revalidate.
MVT_CACHE = "private, max-age=60, must-revalidate"
#: An orthophoto never changes once registered.
ORTHO_CACHE = "private, max-age=86400"


def _cached(request: Request, body: bytes, media_type: str, cache_control: str) -> Response:
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"Cache-Control": cache_control, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT_TYPE: {}}}},
    summary="Vector tile (MVT) of a ledger layer",
)
def vector_tile(
    layer: str, z: int, x: int, y: int, request: Request, session: ReadDB, _: Viewer
) -> Response:
    return _cached(request, render_mvt(session, layer, z, x, y), MVT_TYPE, MVT_CACHE)


@router.get(
    "/ortho/{flight_id}/{z}/{x}/{y}.{fmt}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/webp": {}}}},
    summary="Orthophoto XYZ tile of a flight (PNG or WebP)",
)
def ortho_tile(
    flight_id: int,
    z: int,
    x: int,
    y: int,
    fmt: str,
    request: Request,
    session: ReadDB,
    settings: Annotated[Settings, Depends(get_settings)],
    _: Viewer,
) -> Response:
    image = flight_image(session, flight_id, data_dir=Path(settings.data_dir))
    session.rollback()  # release the connection before the raster work
    body = render_ortho_tile(image.path, z, x, y, fmt=fmt)
    return _cached(request, body, FORMATS[fmt][1], ORTHO_CACHE)
