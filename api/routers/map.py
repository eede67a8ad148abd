"""The squad's field map page, its search and evidence chips, and the local web assets.

``/static/vendor/…`` (Leaflet and plugins, installed from npm at set-up) and
``/static/webmap/…`` (the map's own script and style) carry no ledger data and are open like
``/health``: a browser loads them through ``<script>`` tags, which send no bearer token.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel

from api.deps import ReadDB, Viewer, get_settings
from api.guards import page_csp
from geo_enforce.errors import NotFound
from geo_enforce.settings import Settings
from geo_enforce.storage.scope import narrow
from geo_enforce.webmap import MapRoutes, pwa, served_map_html
from geo_enforce.webmap.assets import OWN_DIR, VENDOR_DIR
from geo_enforce.webmap.data import chip_file, load_context, search
from geo_enforce.webmap.pages import login_html
from geo_enforce.webmap.village_pack import plan_village

router = APIRouter(tags=["map"])

ASSET_CACHE = "public, max-age=86400"

#: Where the served map page fetches its data: this router's chips and search, and the tiles
#: router's vector and orthophoto tiles (``api/routers/tiles.py``).
MAP_ROUTES = MapRoutes(
    tile="/tiles/{layer}/{z}/{x}/{y}.pbf",
    ortho="/tiles/ortho/{flight}/{z}/{x}/{y}.png",
    chip="/map/chips/{id}/{which}",
    search="/map/search",
    worker="/map/sw.js",
    worker_scope="/map",
    manifest="/map/manifest.webmanifest",
    icon="/map/icons/{size}.png",
    field_overdue="/field/overdue",
    field_patches="/field/patches",
    field_route="/field/route.gpx",
    field_patrols="/field/patrols",
    field_vocabularies="/field/vocabularies",
    field_evidence="/structures/{id}/evidence",
    offline_plan="/map/offline-plan",
)
#: Map data the service worker keeps as it is fetched (answered from the cache offline).
WORKER_DATA = ["/tiles/", "/map/search", "/map/chips/"]


class SearchHit(BaseModel):
    kind: str
    label: str
    #: (west, south, east, north), degrees (EPSG:4490)
    bbox: list[float]


@router.get("/map", response_class=HTMLResponse, summary="违法建设外业图 (field map page)")
def map_page(
    session: ReadDB,
    settings: Annotated[Settings, Depends(get_settings)],
    _: Viewer,
    village: Annotated[str | None, Query(description="village code or name")] = None,
    township: Annotated[
        str | None, Query(max_length=40, description="one of your townships (town code)")
    ] = None,
) -> HTMLResponse:
    routes = MAP_ROUTES
    if township:  # that township's extent, villages, flights and tiles only
        code = narrow(session, township)
        routes = replace(routes, tile=f"{routes.tile}?township={quote(code)}")
    html = served_map_html(
        session,
        village=village,
        data_dir=Path(settings.data_dir),
        map_settings=settings.map,
        catalogue=settings.catalogue,
        routes=routes,
    )
    # only this origin and the page's own inline scripts; basemap tiles only when configured
    tiles = []
    if settings.map.osm_basemap:
        tiles.append("https://*.tile.openstreetmap.org")
    if settings.map.tianditu_key is not None:
        tiles.append("https://*.tianditu.gov.cn")
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "private, no-cache",
            "Content-Security-Policy": page_csp(html, img_src=tiles),
        },
    )


@router.get(
    "/map/login", response_class=HTMLResponse, summary="外业图登录 (keep a token as the cookie)"
)
def map_login() -> HTMLResponse:
    # open like /health: the page holds no data; its own script checks the token against /me
    html = login_html()
    return HTMLResponse(
        html,
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": page_csp(html)},
    )


@router.get("/map/sw.js", summary="Service worker of the field map (app shell, offline)")
def map_worker() -> Response:
    # scope /map (the page itself), wider than the script's folder: Service-Worker-Allowed
    js = pwa.service_worker_js(page="/map", data_prefixes=WORKER_DATA)
    return Response(
        js,
        media_type="text/javascript",
        headers={
            "Cache-Control": "no-cache",
            "Service-Worker-Allowed": "/map",
            # a worker runs under its script's policy: it may fetch from this origin only
            "Content-Security-Policy": "default-src 'none'; connect-src 'self'",
        },
    )


@router.get("/map/manifest.webmanifest", summary="Web app manifest of the field map")
def map_manifest() -> Response:
    body = pwa.manifest(start_url="/map", scope="/map", icon_url=MAP_ROUTES.icon or "")
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": ASSET_CACHE},
    )


@router.get("/map/icons/{size}.png", summary="App icon of the field map (192 or 512 px)")
def map_icon(size: int) -> Response:
    if size not in pwa.ICON_SIZES:
        raise NotFound(f"no {size} px icon: use one of {', '.join(map(str, pwa.ICON_SIZES))}")
    return Response(
        pwa.icon_png(size), media_type="image/png", headers={"Cache-Control": ASSET_CACHE}
    )


@router.get("/map/search", response_model=list[SearchHit], summary="Search case numbers, villages")
def map_search(
    session: ReadDB, _: Viewer, q: Annotated[str, Query(max_length=100)] = ""
) -> list[SearchHit]:
    return [SearchHit(**hit) for hit in search(session, q)]


@router.get(
    "/map/offline-plan",
    summary="Tiles and size estimate of a village kept for offline use (离线, z14–z19)",
)
def map_offline_plan(
    session: ReadDB,
    settings: Annotated[Settings, Depends(get_settings)],
    _: Viewer,
    village: Annotated[str, Query(min_length=1, max_length=100, description="code or name")],
) -> dict:
    """The vector and orthophoto tile ranges (and patch chips) of the village, the estimate
    (tile counts × the measured mean size of sample tiles) and whether the limits allow it
    (``allowed``, ``message`` in Chinese). The page's service worker fetches the tiles."""
    flights = load_context(session, data_dir=Path(settings.data_dir)).flights
    pack = plan_village(
        session,
        village,
        flights=flights,
        routes=MAP_ROUTES,
        max_mb=settings.map.offline_max_mb,
        max_tiles=settings.map.offline_max_tiles,
    )
    return pack.as_dict()


@router.get("/map/chips/{patch_id}/{which}", summary="Before/after evidence chip of a patch")
def map_chip(
    patch_id: int,
    which: str,
    session: ReadDB,
    settings: Annotated[Settings, Depends(get_settings)],
    _: Viewer,
) -> FileResponse:
    path = chip_file(session, patch_id, which, Path(settings.data_dir))
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


def _asset(base: Path, path: str) -> FileResponse:
    root = base.resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise NotFound(f"static file '{path}' not found (run scripts/install_web_assets.sh?)")
    media = "image/svg+xml" if target.suffix == ".svg" else None
    return FileResponse(target, media_type=media, headers={"Cache-Control": ASSET_CACHE})


@router.get("/static/vendor/{path:path}", include_in_schema=False)
def vendor_asset(path: str) -> FileResponse:
    return _asset(VENDOR_DIR, path)


@router.get("/static/webmap/{path:path}", include_in_schema=False)
def webmap_asset(path: str) -> FileResponse:
    return _asset(OWN_DIR, path)
