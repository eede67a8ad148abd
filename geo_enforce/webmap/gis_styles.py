"""The map's layer styles for other GIS clients: a QGIS layer style (``.qml``), a MapLibre style
JSON and a TileJSON per layer.

All are built from :func:`geo_enforce.webmap.styles.load_styles` — the built-in styles with the
layer catalogue's ``style`` entries on top, exactly what ``/map`` draws — so QGIS, MapLibre and
the web map show the same colours. A style is keyed by one property (``by``); QGIS reads the
features of the OGC API (where a change patch has ``ruling`` and ``suggested_ruling``), the
vector tiles carry ``ruling_shown`` (the ruling, else the suggested one): the QML uses the same
expression.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from geo_enforce.tiles.mvt import MAX_ZOOM, MVT_LAYERS

#: the property a style's ``by`` names, as an expression over the OGC API features
_QGIS_EXPRESSIONS = {"ruling_shown": 'coalesce("ruling", "suggested_ruling")'}
TILE_MAX_ZOOM = 22


def _rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _entry(style: dict[str, Any], value: str | None) -> dict[str, Any]:
    """The Leaflet path style of ``value`` (the default when None)."""
    out = dict(style["default"])
    if value is not None:
        out.update({k: v for k, v in style["values"][value].items() if k != "label"})
    out.setdefault("color", "#3388ff")
    out.setdefault("fillColor", out["color"])
    return out


def _fill_opacity(path: dict[str, Any]) -> float:
    return float(path.get("fillOpacity", 0.2)) if path.get("fill", True) else 0.0


# --- TileJSON -------------------------------------------------------------------------------


def tilejson(
    layer: str,
    base: str,
    *,
    title: str,
    fields: dict[str, str],
    bounds: list[float] | None,
) -> dict[str, Any]:
    """TileJSON 3.0.0 of ``layer``'s vector tiles, served under ``base``/tiles/."""
    west, south, east, north = bounds or [-180.0, -85.0511, 180.0, 85.0511]
    return {
        "tilejson": "3.0.0",
        "name": title,
        "description": f"{title} ({layer}): 违法建设台账矢量瓦片",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf"],
        "minzoom": 0,
        "maxzoom": min(TILE_MAX_ZOOM, MAX_ZOOM),
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 14],
        "vector_layers": [{"id": layer, "description": title, "fields": fields}],
    }


# --- MapLibre ---------------------------------------------------------------------------------


def _match(by: str | None, style: dict[str, Any], key: str) -> Any:
    """A MapLibre ``match`` expression over ``by`` picking ``key`` per value, else the default."""
    default = _entry(style, None)[key]
    pairs: list[Any] = []
    for value in style["values"]:
        v = _entry(style, value)[key]
        if value != "" and v != default:
            pairs += [value, v]
    if not by or not pairs:
        return default
    return ["match", ["to-string", ["get", by]], *pairs, default]


def maplibre_layers(layer: str, style: dict[str, Any]) -> list[dict[str, Any]]:
    """The fill and line layers of one ledger layer (source id = layer id)."""
    by = style.get("by")
    default = _entry(style, None)
    out: list[dict[str, Any]] = []
    if _fill_opacity(default) > 0 or any(
        _fill_opacity(_entry(style, v)) > 0 for v in style["values"]
    ):
        out.append(
            {
                "id": f"{layer}-fill",
                "type": "fill",
                "source": layer,
                "source-layer": layer,
                "metadata": {"title": style.get("title", layer)},
                "paint": {
                    "fill-color": _match(by, style, "fillColor"),
                    "fill-opacity": _fill_opacity(default),
                },
            }
        )
    line: dict[str, Any] = {
        "id": f"{layer}-line",
        "type": "line",
        "source": layer,
        "source-layer": layer,
        "metadata": {"title": style.get("title", layer)},
        "paint": {
            "line-color": _match(by, style, "color"),
            "line-width": _match(by, style, "weight"),
            "line-opacity": float(default.get("opacity", 1.0)),
        },
    }
    if default.get("dashArray"):
        line["paint"]["line-dasharray"] = _dashes(default["dashArray"], default.get("weight", 1))
    if default.get("lineCap"):
        line["layout"] = {"line-cap": default["lineCap"], "line-join": "round"}
    out.append(line)
    return out


def _dashes(pattern: str, weight: float) -> list[float]:
    """A Leaflet dash pattern (pixels) as MapLibre's (multiples of the line width)."""
    w = max(float(weight), 0.5)
    return [round(float(p) / w, 3) for p in str(pattern).replace(",", " ").split()]


def maplibre_style(
    styles: dict[str, dict[str, Any]], base: str, layers: list[str] | None = None
) -> dict[str, Any]:
    """A MapLibre style (version 8) of ``layers`` (all vector-tile layers by default), each
    source the layer's tiles on this server; drawn bottom-up as the web map stacks them."""
    order = ["admin_area", "farmland_parcel", "red_line", "cleared_parcel", "change_patch"]
    order += ["pipeline", "structure"]
    names = [n for n in order if n in (layers or list(MVT_LAYERS)) and n in styles]
    return {
        "version": 8,
        "name": "geo-enforce 违法建设台账",
        "sources": {
            n: {
                "type": "vector",
                "tiles": [f"{base}/tiles/{n}/{{z}}/{{x}}/{{y}}.pbf"],
                "minzoom": 0,
                "maxzoom": TILE_MAX_ZOOM,
            }
            for n in names
        },
        "layers": [lyr for n in names for lyr in maplibre_layers(n, styles[n])],
    }


# --- QGIS -------------------------------------------------------------------------------------


def _qgis_line_symbol(name: str, path: dict[str, Any]) -> str:
    r, g, b = _rgb(path["color"])
    alpha = round(255 * float(path.get("opacity", 1.0)))
    props = {
        "line_color": f"{r},{g},{b},{alpha}",
        "line_style": "dash" if path.get("dashArray") else "solid",
        "line_width": f"{float(path.get('weight', 1)):g}",
        "line_width_unit": "Pixel",
        "capstyle": "round" if path.get("lineCap") == "round" else "square",
        "joinstyle": "round",
    }
    body = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return (
        f'<symbol type="line" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="SimpleLine" enabled="1" locked="0" pass="0">{body}</layer></symbol>'
    )


def _qgis_symbol(name: str, path: dict[str, Any], geometry: str = "polygon") -> str:
    if geometry == "line":
        return _qgis_line_symbol(name, path)
    r, g, b = _rgb(path["fillColor"])
    fill_alpha = round(255 * _fill_opacity(path))
    lr, lg, lb = _rgb(path["color"])
    line_alpha = round(255 * float(path.get("opacity", 1.0)))
    props = {
        "color": f"{r},{g},{b},{fill_alpha}",
        "style": "solid" if fill_alpha > 0 else "no",
        "outline_color": f"{lr},{lg},{lb},{line_alpha}",
        "outline_style": "dash" if path.get("dashArray") else "solid",
        "outline_width": f"{float(path.get('weight', 1)):g}",
        "outline_width_unit": "Pixel",
        "joinstyle": "round",
    }
    body = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return (
        f'<symbol type="fill" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="SimpleFill" enabled="1" locked="0" pass="0">{body}</layer></symbol>'
    )


def qml(layer: str, style: dict[str, Any]) -> str:
    """A QGIS layer style (symbology) of ``layer``: categorized by ``by`` with the Chinese
    labels, the other values drawn with the default; a single symbol when not keyed. Line
    layers get line symbols (a fill symbol does not draw a line in QGIS)."""
    by = style.get("by")
    geometry = style.get("geometry", "polygon")
    head = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
    open_tag = '<qgis version="3.22.0" styleCategories="Symbology">'
    if not by:
        symbol = _qgis_symbol("0", _entry(style, None), geometry)
        renderer = (
            '<renderer-v2 type="singleSymbol" forceraster="0" symbollevels="0" '
            f'enableorderby="0"><symbols>{symbol}</symbols></renderer-v2>'
        )
        return f"{head}{open_tag}{renderer}</qgis>\n"
    cats, symbols = [], []
    values = [v for v in style["values"] if v != ""]
    for i, value in enumerate(values):
        label = style["values"][value].get("label", value)
        cats.append(
            f'<category render="true" symbol="{i}" value={quoteattr(value)} '
            f"label={quoteattr(label)}/>"
        )
        symbols.append(_qgis_symbol(str(i), _entry(style, value), geometry))
    other = style["values"].get("", {}).get("label", "其他")
    cats.append(
        f'<category render="true" symbol="{len(values)}" value="" label={quoteattr(other)}/>'
    )
    symbols.append(_qgis_symbol(str(len(values)), _entry(style, None), geometry))
    attr = _QGIS_EXPRESSIONS.get(by, by)
    renderer = (
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(attr)} forceraster="0" '
        'symbollevels="0" enableorderby="0">'
        f"<categories>{''.join(cats)}</categories><symbols>{''.join(symbols)}</symbols>"
        "</renderer-v2>"
    )
    return f"{head}{open_tag}{renderer}</qgis>\n"
