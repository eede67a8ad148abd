"""Default map styles per layer, optionally overridden by the layer catalogue.

A style is ``{"title", "by", "default", "values"}``: ``by`` names the property whose value
picks an entry of ``values`` (each a Leaflet path style with a Chinese ``label``) on top of
``default``. The layer catalogue (``layers/catalogue.yaml``, when present) overrides colours,
opacity and weight with its ``style`` entries (``by``, ``colors``, ``default_color``,
``fill_opacity``, ``weight``); a mapping of this module's own shape, or a flat Leaflet path
style, is accepted too.
"""

from __future__ import annotations

import copy
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from geo_enforce.io.catalogue import catalogue_path
from geo_enforce.ledger import vocab

log = logging.getLogger(__name__)

_STATUS_COLORS = {
    "suspected": "#f4a300",
    "verified": "#e8590c",
    "notice_served": "#d00000",
    "demolished": "#6c757d",
    "rectified": "#2b8a3e",
    "legalized": "#1c7ed6",
    "dismissed": "#adb5bd",
}
_RED_LINE: dict[str, dict[str, Any]] = {
    "construction_land": {"color": "#c92a2a", "dashArray": None, "weight": 2},
    "road": {"color": "#862e9c", "dashArray": "8 4", "weight": 2},
    "ecological": {"color": "#2f9e44", "dashArray": "2 4", "weight": 3},
    "basic_farmland": {"color": "#e67700", "dashArray": "10 3 2 3", "weight": 3},
    "river_blue": {"color": "#1971c2", "dashArray": "6 2", "weight": 2},
    "urban_boundary": {"color": "#495057", "dashArray": "12 6", "weight": 3},
}
_LAND_CLASS_COLORS = {
    "0101": "#74c0fc",
    "0102": "#a9e34b",
    "0103": "#d8f5a2",
    "0201": "#ffa94d",
    "0301": "#2b8a3e",
    "0401": "#c0eb75",
    "1006": "#ced4da",
    "1104": "#4dabf7",
    "1202": "#e599f7",
    "0702": "#ffd8a8",
}
_RULING_COLORS = {
    "illegal": "#e03131",
    "legal": "#37b24d",
    "other": "#7950f2",
    "false_change": "#868e96",
}


def default_styles() -> dict[str, dict[str, Any]]:
    """The built-in styles, keyed by layer name."""
    return {
        "admin_area": {
            "title": "行政区划",
            "by": "level",
            "default": {"color": "#343a40", "weight": 1.5, "fill": False, "opacity": 0.9},
            "values": {
                "town": {"weight": 3, "label": vocab.ADMIN_LEVELS["town"]},
                "village": {"weight": 1.5, "label": vocab.ADMIN_LEVELS["village"]},
                "community": {"dashArray": "6 3", "label": vocab.ADMIN_LEVELS["community"]},
                "grid": {"color": "#868e96", "dashArray": "2 3", "weight": 1, "label": "网格片区"},
            },
        },
        "red_line": {
            "title": "红线",
            "by": "kind",
            "default": {"weight": 2, "fill": True, "fillOpacity": 0.05, "opacity": 0.9},
            "values": {
                k: {**v, "fillColor": v["color"], "label": vocab.RED_LINE_KINDS[k]}
                for k, v in _RED_LINE.items()
            },
        },
        "farmland_parcel": {
            "title": "农用地（地类）",
            "by": "land_class",
            "default": {"color": "#5c940d", "weight": 0.8, "fill": True, "fillOpacity": 0.35},
            "values": {
                k: {"fillColor": c, "label": f"{k} {vocab.LAND_CLASSES[k]}"}
                for k, c in _LAND_CLASS_COLORS.items()
            },
        },
        "cleared_parcel": {
            "title": "腾退地块",
            "by": None,
            "default": {
                "color": "#0ca678",
                "fillColor": "#63e6be",
                "weight": 2,
                "fill": True,
                "fillOpacity": 0.4,
                "dashArray": "5 3",
            },
            "values": {},
        },
        "structure": {
            "title": "违法建设（按状态）",
            "by": "status",
            "default": {"color": "#343a40", "weight": 1, "fill": True, "fillOpacity": 0.75},
            "values": {
                k: {"fillColor": c, "color": c, "label": vocab.STRUCTURE_STATUSES[k]}
                for k, c in _STATUS_COLORS.items()
            },
        },
        "change_patch": {
            "title": "变化图斑（按认定）",
            "by": "ruling_shown",
            "default": {
                "color": "#f08c00",
                "weight": 3,
                "fill": True,
                "fillOpacity": 0.15,
                "dashArray": "4 3",
            },
            "values": {
                **{
                    k: {"color": c, "fillColor": c, "label": vocab.RULINGS[k]}
                    for k, c in _RULING_COLORS.items()
                },
                "": {"label": "待认定"},
            },
        },
    }


#: Chinese labels of the values a style may be keyed by (for the legend).
_BY_LABELS: dict[str, dict[str, str]] = {
    "status": vocab.STRUCTURE_STATUSES,
    "category": vocab.STRUCTURE_CATEGORIES,
    "kind": vocab.RED_LINE_KINDS,
    "land_class": {k: f"{k} {v}" for k, v in vocab.LAND_CLASSES.items()},
    "ruling": vocab.RULINGS,
    "ruling_shown": vocab.RULINGS,
    "level": vocab.ADMIN_LEVELS,
    "restored_use": vocab.CLEARED_RESTORED_USES,
}


def _merge_catalogue(base: dict[str, Any], spec: dict[str, Any], layer: str) -> None:
    """Merge a catalogue ``StyleSpec`` (``by``, ``colors``, ``default_color``, ``fill_opacity``,
    ``weight``) into a built-in style. Dash patterns of the built-in style are kept, so red-line
    kinds stay distinct in print and for colour-blind readers."""
    by = spec.get("by")
    if layer == "change_patch" and by == "ruling":
        by = "ruling_shown"  # the tile's ruling, or the suggested one until a person rules
    if by != base.get("by"):
        base["by"] = by
        if by is None:
            base["values"] = {}
        else:
            base["values"] = {k: v for k, v in base["values"].items() if k == ""}
    if "default_color" in spec:
        base["default"].update(color=spec["default_color"], fillColor=spec["default_color"])
    if "fill_opacity" in spec:
        base["default"]["fillOpacity"] = float(spec["fill_opacity"])
        base["default"]["fill"] = float(spec["fill_opacity"]) > 0
    if "weight" in spec:
        base["default"]["weight"] = float(spec["weight"])
    labels = _BY_LABELS.get(by or "", {})
    for key, color in (spec.get("colors") or {}).items():
        entry = base["values"].setdefault(str(key), {})
        entry.update(color=color, fillColor=color)
        entry.setdefault("label", labels.get(str(key), str(key)))


def _merge(base: dict[str, Any], override: Any, layer: str, source: Path) -> None:
    if not isinstance(override, dict):
        log.warning("%s: style of layer '%s' is not a mapping; ignored", source, layer)
        return
    if any(k in override for k in ("colors", "default_color", "fill_opacity")):
        _merge_catalogue(base, override, layer)
    elif any(k in override for k in ("by", "values", "default", "title")):
        if "title" in override:
            base["title"] = str(override["title"])
        if "by" in override:
            base["by"] = override["by"]
        base["default"].update(override.get("default") or {})
        for key, val in (override.get("values") or {}).items():
            base["values"].setdefault(str(key), {}).update(val or {})
    else:  # a flat path style: the layer's default
        base["default"].update(override)


def load_styles(catalogue: Path | None = None) -> dict[str, dict[str, Any]]:
    """Built-in styles with the catalogue's ``style`` entries merged on top (when it exists).

    The catalogue may list layers as a mapping ``layers: {name: {style: ...}}`` or a list of
    ``{name: ..., style: ...}``. A catalogue that cannot be parsed is reported by name. The
    merged styles are kept per file version (path, modification time, size), so the map page
    does not parse the YAML on every request; each call gets its own copy.
    """
    if catalogue is None or not Path(catalogue).is_file():
        return default_styles()
    path = Path(catalogue)
    st = path.stat()
    return copy.deepcopy(_catalogue_styles(path.resolve(), st.st_mtime_ns, st.st_size))


@lru_cache(maxsize=8)
def _catalogue_styles(catalogue: Path, _mtime_ns: int, _size: int) -> dict[str, dict[str, Any]]:
    styles = default_styles()
    try:
        doc = yaml.safe_load(catalogue.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        log.warning(
            "layer catalogue %s is not valid YAML (%s); built-in styles used", catalogue, exc
        )
        return styles
    entries = doc.get("layers", doc) if isinstance(doc, dict) else doc
    if isinstance(entries, dict):
        items = list(entries.items())
    elif isinstance(entries, list):
        items = [(e.get("name"), e) for e in entries if isinstance(e, dict)]
    else:
        items = []
    for name, entry in items:
        if name in styles and isinstance(entry, dict) and entry.get("style") is not None:
            _merge(styles[name], copy.deepcopy(entry["style"]), name, catalogue)
    return styles


def default_catalogue_path() -> Path:
    """The layer catalogue in use (``GEO_ENFORCE_CATALOGUE`` or ``layers/catalogue.yaml``)."""
    return catalogue_path()
