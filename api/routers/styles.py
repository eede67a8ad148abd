"""Layer styles for GIS clients and the TileJSON of each vector-tile layer, all from the one
style definition the web map uses (built-in styles + the layer catalogue's ``style``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import ReadDB, Viewer
from geo_enforce.errors import NotFound
from geo_enforce.io.catalogue import get_catalogue
from geo_enforce.ledger import features
from geo_enforce.tiles.mvt import MVT_LAYERS, check_layer, tile_fields
from geo_enforce.webmap import gis_styles
from geo_enforce.webmap.styles import default_catalogue_path, load_styles

router = APIRouter(tags=["styles"])

QML_TYPE = "application/xml"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _styles(request: Request) -> dict[str, dict[str, Any]]:
    return load_styles(request.app.state.settings.catalogue or default_catalogue_path())


def _field_titles(layer: str) -> dict[str, str]:
    """Tile property → Chinese field name from the catalogue (the name itself otherwise)."""
    try:
        spec = get_catalogue().layers.get(layer)
    except Exception:  # a broken catalogue must not hide the tiles' description
        spec = None
    zh = {f.name: f.zh for f in spec.fields} if spec else {}
    extra = {
        "id": "编号 (id)",
        "village_name": "所属村",
        "area_m2": "面积 (m²)",
        "area_mu": "面积 (亩)",
    }
    return {name: zh.get(name) or extra.get(name, name) for name in tile_fields(layer)}


@router.get("/tiles/{layer}.json", summary="TileJSON of a vector-tile layer")
def tilejson(layer: str, request: Request, session: ReadDB, _: Viewer) -> dict[str, Any]:
    check_layer(layer)
    return gis_styles.tilejson(
        layer,
        _base(request),
        title=MVT_LAYERS[layer],
        fields=_field_titles(layer),
        bounds=features.extent(session, layer),
    )


@router.get("/styles/{name}.json", summary="MapLibre style of one layer, or 'all' of them")
def maplibre_style(name: str, request: Request, _: Viewer) -> dict[str, Any]:
    if name != "all":
        check_layer(name)
    layers = None if name == "all" else [name]
    return gis_styles.maplibre_style(_styles(request), _base(request), layers)


@router.get(
    "/styles/{layer}.qml",
    response_class=Response,
    responses={200: {"content": {QML_TYPE: {}}}},
    summary="QGIS layer style (.qml) of a layer",
)
def qgis_style(layer: str, request: Request, _: Viewer) -> Response:
    styles = _styles(request)
    if layer not in styles:
        raise NotFound(f"no style for layer '{layer}'; styled layers: {', '.join(sorted(styles))}")
    return Response(
        gis_styles.qml(layer, styles[layer]),
        media_type=QML_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{layer}.qml"'},
    )
