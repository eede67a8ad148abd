"""The squad's field map as a folium page: served by the API or exported for offline use.

Served (``mode="served"``): the ledger layers are vector tiles from ``/tiles/<layer>/…``, the
orthophotos XYZ tiles from ``/tiles/ortho/<flight>/…``, Leaflet and the plugins from
``/static/vendor/``. Offline (``mode="offline"``): the same page with a bounded extract of the
vector tiles, downsampled orthophoto overviews, evidence chips and every script and stylesheet
inlined, so one HTML file works from ``file://`` with no network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import Fullscreen, LocateControl, SideBySideLayers
from folium.template import Template

from geo_enforce.detection.rules import ALL_RULES
from geo_enforce.ledger import vocab
from geo_enforce.settings import MapSettings
from geo_enforce.tiles.mvt import MVT_LAYERS
from geo_enforce.webmap import assets
from geo_enforce.webmap.data import MapContext

#: Drawing order, bottom to top, and whether each layer is on when the page opens.
LAYER_ORDER: list[tuple[str, bool]] = [
    ("farmland_parcel", False),
    ("red_line", True),
    ("cleared_parcel", True),
    ("admin_area", True),
    ("pipeline", True),
    ("structure", True),
    ("change_patch", True),
]
#: Below these zooms a layer is not requested (keeps tiles small with 100,000 structures).
MIN_ZOOM = {"structure": 12, "farmland_parcel": 12, "cleared_parcel": 10, "change_patch": 10}


@dataclass(frozen=True)
class MapRoutes:
    """Where the server answers the served page (the API decides: ``api/routers/map.py``).

    Templates with ``{layer}``, ``{flight}``, ``{z}``/``{x}``/``{y}``, ``{id}`` and ``{which}``
    filled in by the page's script.
    """

    #: vector tiles of a ledger layer
    tile: str
    #: orthophoto XYZ tiles of a flight
    ortho: str
    #: before/after evidence chip of a change patch
    chip: str
    #: case-number and village search
    search: str
    #: the service worker's script and its scope (None: no offline app shell)
    worker: str | None = None
    worker_scope: str | None = None
    #: the web app manifest (None: not installable)
    manifest: str | None = None
    #: an app icon (``{size}``: 192 or 512), for the home screen
    icon: str | None = None
    #: today's work (今日工作): overdue cases and patches awaiting a field check, nearest first
    #: (``?lon=&lat=``), and a route list as GPX (``?stops=structure:<id>,change_patch:<id>``)
    field_overdue: str | None = None
    field_patches: str | None = None
    field_route: str | None = None
    #: patrol capture (巡查记录, multipart POST) and the capture vocabularies, for the offline
    #: capture queue (``static/capture.js``); None: no 巡查 form
    field_patrols: str | None = None
    field_vocabularies: str | None = None
    #: evidence on a case (取证, multipart POST; ``{id}``: the case), from its popup
    field_evidence: str | None = None
    #: a village's tiles and size estimate for offline use (离线 panel, ``?village=``)
    offline_plan: str | None = None


def _script_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str).replace("</", "<\\/")


class FieldMap(folium.Map):
    """A folium map that loads only Leaflet (no jQuery, Bootstrap or icon fonts from a CDN)."""

    default_js = [("leaflet", "leaflet.js")]  # noqa: RUF012 (folium declares it so)
    default_css = [("leaflet_css", "leaflet.css")]  # noqa: RUF012


class MapSetup(JSCSSMixin, MacroElement):
    """Loads the map's own script and hands it the page configuration."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            geoEnforce.setup({{ this._parent.get_name() }}, {{ this.config_json }});
        {% endmacro %}
        """
    )
    default_js = [  # noqa: RUF012 (folium declares it so)
        ("vectorGrid", "Leaflet.VectorGrid.bundled.min.js"),
        ("proj4", "proj4.js"),
        ("geoenforce", "geoenforce.js"),
        ("geocapture", "capture.js"),
        ("geooffline", "offline.js"),
    ]
    default_css = [  # noqa: RUF012
        ("geoenforce_css", "geoenforce.css"),
        ("sidebyside_css", "layout.css"),
    ]

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self._name = "MapSetup"
        self.config_json = _script_json(config)


class OrthoRegistry(MacroElement):
    """Tells the page which Leaflet layer shows which flight, and which control swipes them."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            geoEnforce.registerOrtho({{ this.pairs_js }}, {{ this.swipe_js }});
        {% endmacro %}
        """
    )

    def __init__(self, layers: list[tuple[int, folium.map.Layer]], swipe: MacroElement | None):
        super().__init__()
        self._name = "OrthoRegistry"
        self.pairs_js = "[" + ", ".join(f"[{fid}, {lyr.get_name()}]" for fid, lyr in layers) + "]"
        self.swipe_js = swipe.get_name() if swipe is not None else "null"


class VectorTileLayer(folium.map.Layer):
    """One ledger layer drawn from vector tiles by Leaflet.VectorGrid (see geoenforce.js)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = geoEnforce.vectorLayer({{ this.layer_json }});
        {% endmacro %}
        """
    )

    def __init__(self, layer: str, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorTileLayer"
        self.layer_json = _script_json(layer)


class OrthoOverviewLayer(folium.map.Layer):
    """A downsampled orthophoto embedded in the page, cut into tiles in the browser."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = geoEnforce.orthoOverview(
                {{ this.src_json }}, {{ this.bounds_json }});
        {% endmacro %}
        """
    )

    def __init__(self, src: str, bounds: tuple[float, float, float, float], name: str, show: bool):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "OrthoOverviewLayer"
        self.src_json = _script_json(src)
        self.bounds_json = _script_json(list(bounds))


@dataclass
class OfflineData:
    """What the offline page carries instead of asking the server."""

    #: layer → {"z/x/y": base64 MVT}
    tiles: dict[str, dict[str, str]] = field(default_factory=dict)
    max_zoom: int = 16
    #: flight id → PNG data URI of the downsampled orthophoto (Web Mercator) and its bounds
    overviews: dict[int, tuple[str, tuple[float, float, float, float]]] = field(
        default_factory=dict
    )
    search_index: list[dict] = field(default_factory=list)
    #: patch id → {"before"/"after": data URI}
    chips: dict[int, dict[str, str]] = field(default_factory=dict)


def page_config(
    ctx: MapContext,
    styles: dict[str, dict[str, Any]],
    offline: OfflineData | None,
    routes: MapRoutes | None = None,
) -> dict[str, Any]:
    """The JSON handed to ``geoEnforce.setup``: vocabularies, styles, URLs, villages, data."""
    cfg: dict[str, Any] = {
        "mode": "offline" if offline else "served",
        "bounds": list(ctx.bounds),
        "vocab": {
            "category": vocab.STRUCTURE_CATEGORIES,
            "status": vocab.STRUCTURE_STATUSES,
            "red_line_kind": vocab.RED_LINE_KINDS,
            "land_class": vocab.LAND_CLASSES,
            "ruling": vocab.RULINGS,
            "patch_status": vocab.PATCH_STATUSES,
            "restored_use": vocab.CLEARED_RESTORED_USES,
            "admin_level": vocab.ADMIN_LEVELS,
            # Chinese labels of the change-detection rules (hits are stored as bare codes)
            "rule": dict(ALL_RULES),
        },
        "styles": styles,
        "legendOrder": [name for name, _ in reversed(LAYER_ORDER)],
        "minZoom": MIN_ZOOM,
        "villages": [
            {
                "code": v.code,
                "name": v.name,
                "level": v.level,
                "bbox": list(v.bbox),
                "label_lon": v.label_lon,
                "label_lat": v.label_lat,
            }
            for v in ctx.villages
        ],
        "sinceDate": ctx.since_date.isoformat() if ctx.since_date else None,
        "flights": [
            {"id": f.flight_id, "name": f.name, "flown_on": f.flown_on.isoformat()}
            for f in ctx.flights
        ],
    }
    if offline:
        cfg.update(
            offlineTiles=offline.tiles,
            offlineMaxZoom=offline.max_zoom,
            searchIndex=offline.search_index,
            chips={str(k): v for k, v in offline.chips.items()},
            tileUrl=None,
            chipUrl=None,
            searchUrl=None,
        )
    else:
        if routes is None:
            raise ValueError("a served map page needs the server's routes (MapRoutes)")
        cfg.update(tileUrl=routes.tile, chipUrl=routes.chip, searchUrl=routes.search)
        if routes.worker:
            cfg["worker"] = {"url": routes.worker, "scope": routes.worker_scope or "/"}
        if routes.field_overdue and routes.field_patches and routes.field_route:
            cfg["field"] = {
                "overdue": routes.field_overdue,
                "patches": routes.field_patches,
                "route": routes.field_route,
            }
        if routes.field_patrols and routes.field_vocabularies:
            cfg["capture"] = {
                "patrols": routes.field_patrols,
                "vocabularies": routes.field_vocabularies,
                "evidence": routes.field_evidence,
            }
        if routes.offline_plan and routes.worker:
            cfg["offline"] = {"plan": routes.offline_plan}
    return cfg


def _app_head(root: Any, routes: MapRoutes) -> None:
    """Manifest, theme colour and home-screen icon of the served page (installable app)."""
    tags = ['<meta name="theme-color" content="#1f5fae">']
    if routes.manifest:
        tags.append(f'<link rel="manifest" href="{routes.manifest}">')
    if routes.icon:
        tags.append(f'<link rel="apple-touch-icon" href="{routes.icon.replace("{size}", "192")}">')
    root.header.add_child(folium.Element("\n".join(tags)))


def _flight_title(f) -> str:
    return f"正射影像 {f.flown_on.isoformat()}（{f.name}）"


def _basemaps(m: folium.Map, settings: MapSettings) -> None:
    """Optional online basemaps, off by default (the page must work without internet)."""
    if settings.osm_basemap:
        folium.TileLayer(
            "OpenStreetMap", name="底图：OpenStreetMap", overlay=True, show=False
        ).add_to(m)
    if settings.tianditu_key is not None:
        key = settings.tianditu_key.get_secret_value()
        for layer, title in (("img", "影像"), ("vec", "矢量")):
            folium.TileLayer(
                tiles=(
                    f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                    f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                    f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
                ),
                attr="天地图",
                name=f"底图：天地图{title}",
                subdomains="01234567",
                overlay=True,
                show=False,
                max_zoom=18,
            ).add_to(m)


def build_map(
    ctx: MapContext,
    styles: dict[str, dict[str, Any]],
    *,
    offline: OfflineData | None = None,
    map_settings: MapSettings | None = None,
    routes: MapRoutes | None = None,
) -> folium.Map:
    """The folium map (not yet rendered) for ``ctx``; served unless ``offline`` data is given.

    A served page fetches tiles, chips and search results at ``routes`` (required then).
    """
    west, south, east, north = ctx.bounds
    m = FieldMap(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=14,
        tiles=None,
        max_zoom=22,
        control_scale=False,  # metric-only scale added by geoenforce.js
        prefer_canvas=False,
    )
    root: Any = m.get_root()
    root.header.add_child(folium.Element("<title>违法建设外业图 — geo-enforce</title>"))
    if offline is None and map_settings is not None:
        _basemaps(m, map_settings)
    if offline is None and routes is not None:
        _app_head(root, routes)
    MapSetup(page_config(ctx, styles, offline, routes)).add_to(m)

    ortho_layers: list[folium.map.Layer] = []
    flight_layers: list[tuple[int, folium.map.Layer]] = []
    shown = {f.flight_id for f in ctx.flights[-2:]}
    for f in ctx.flights:
        title = _flight_title(f)
        if offline is not None:
            if f.flight_id not in offline.overviews:
                continue
            src, bounds = offline.overviews[f.flight_id]
            layer: folium.map.Layer = OrthoOverviewLayer(
                src, bounds, title, show=f.flight_id in shown
            )
        else:
            assert routes is not None  # page_config refused a served page without routes
            w, s, e, n = f.bounds
            layer = folium.TileLayer(
                tiles=routes.ortho.replace("{flight}", str(f.flight_id)),
                attr=f"无人机正射影像 {f.flown_on.isoformat()}",
                name=title,
                overlay=True,
                show=f.flight_id in shown,
                max_zoom=22,
                max_native_zoom=_native_zoom(f.gsd_m),
                bounds=[[s, w], [n, e]],
            )
        layer.add_to(m)
        ortho_layers.append(layer)
        flight_layers.append((f.flight_id, layer))

    for name, show in LAYER_ORDER:
        VectorTileLayer(name, MVT_LAYERS[name], show=show).add_to(m)

    swipe = None
    if len(ortho_layers) >= 2:  # before (left) / after (right) swipe of the latest two
        swipe = SideBySideLayers(ortho_layers[-2], ortho_layers[-1])
        swipe.add_to(m)
    if flight_layers:
        OrthoRegistry(flight_layers, swipe).add_to(m)
    Fullscreen(title="全屏", title_cancel="退出全屏", position="topright").add_to(m)
    LocateControl(
        strings={"title": "定位我的位置", "popup": "您在此处 {distance} 米范围内"},
        position="topright",
    ).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m


def _native_zoom(gsd_m: float) -> int:
    """The Web Mercator zoom whose pixel at 39°N is about the flight's ground sample distance."""
    import math

    res0 = 2 * math.pi * 6378137 / 256 * math.cos(math.radians(39.0))
    return max(10, min(22, round(math.log2(res0 / max(gsd_m, 0.01)))))


def render_html(m: folium.Map, *, inline: bool = False) -> str:
    """The page's HTML with every asset local (linked, or inlined when ``inline``)."""
    figure: Any = m.get_root()
    assets.localize(figure)
    html = figure.render()
    if inline:
        html = assets.inline_assets(html)
    return html
