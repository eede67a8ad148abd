"""Map tiles: vector tiles per layer (ST_AsMVT) and orthophoto XYZ tiles (rio-tiler)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import ReadDB, Viewer, get_settings, request_scope, scoped_connection
from geo_enforce.settings import Settings
from geo_enforce.storage.scope import narrow
from geo_enforce.tiles import flight_image, render_mvt, render_ortho_tile
from geo_enforce.tiles.cache import (
    CachedTile,
    TileCache,
    layer_versions,
    tile_key,
    unchanged_since,
    version_key,
)
from geo_enforce.tiles.mvt import check_layer, check_tile
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


def _tile_cache(request: Request) -> TileCache | None:
    state = request.app.state
    cache = getattr(state, "tile_cache", None)
    if cache is None:
        cfg = state.settings.tiles
        if cfg.cache_mb <= 0 and cfg.cache_dir is None:
            return None
        cache = state.tile_cache = TileCache(cfg.cache_mb * 1024 * 1024, cfg.cache_dir)
    return cache


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, q = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return q.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT_TYPE: {}}}},
    summary="Vector tile (MVT) of a ledger layer",
)
def vector_tile(
    layer: str,
    z: int,
    x: int,
    y: int,
    request: Request,
    _: Viewer,
    township: Annotated[
        str | None, Query(max_length=40, description="one of your townships only (town code)")
    ] = None,
) -> Response:
    """gzip-encoded when the client accepts it; served from the tile cache when no committed
    write since the tile was drawn touched the tile's area of the layer, nor the village names
    it shows (header ``X-Tile-Cache``: hit, revalidated after edits elsewhere, or miss). Only
    the records of the caller's townships are drawn (``township``: of one of them); the cache
    keeps each township scope's tiles apart."""
    check_layer(layer)
    check_tile(z, x, y)
    cache = _tile_cache(request)
    status = "off"
    with scoped_connection(request) as conn:
        scope = narrow(conn, township) if township else request_scope(request)
        key = tile_key(layer, z, x, y, scope)
        if cache is None:
            tile = CachedTile.of(render_mvt(conn, layer, z, x, y))
        else:
            version = version_key(layer, layer_versions(conn))
            hit = cache.get(key, version)
            status = "hit"
            if hit is None:
                older = cache.any_version(key)
                if older is not None and unchanged_since(conn, key, older[0], version):
                    cache.restamp(key, older[0], version, older[1])
                    hit, status = older[1], "revalidated"  # edits since lie elsewhere
            if hit is None:
                with cache.drawing(key):  # one request draws a tile, the others wait for it
                    hit = cache.get(key, version)
                    if hit is None:
                        status = "miss"
                        hit = cache.put(key, version, render_mvt(conn, layer, z, x, y))
            tile = hit
        conn.rollback()
    gz = _accepts_gzip(request)
    etag = f'"{tile.etag}-gz"' if gz else f'"{tile.etag}"'
    headers = {
        "Cache-Control": MVT_CACHE,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Tile-Cache": status,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if gz:
        headers["Content-Encoding"] = "gzip"
    return Response(content=tile.gz if gz else tile.raw, media_type=MVT_TYPE, headers=headers)


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
