"""Map styles per layer, built from the layer catalogue (``layers/catalogue.yaml``).

A style is ``{"title", "by", "default", "values", "geometry"}``: ``by`` names the property whose
value picks an entry of ``values`` (each a Leaflet path style with a Chinese ``label``) on top of
``default``; ``geometry`` is ``polygon`` or ``line``. A line layer with safety distances
(``pipeline``) also carries ``safety_distances_m`` (metres per kind, from the catalogue) for the
safety zone the map draws around each line. Titles, the property styled by and every colour,
opacity and weight come from the catalogue (read by the one strict loader,
:mod:`geo_enforce.io.catalogue`); this module only adds what the catalogue's style cannot say:
line patterns (so red-line kinds stay distinct in print and for colour-blind readers), per-value
line weights, line caps and the Chinese labels of values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from geo_enforce.io.catalogue import Catalogue, LayerSpec, catalogue_path, get_catalogue
from geo_enforce.ledger import vocab

#: Per layer: line patterns and fills the catalogue's style does not describe, for the default
#: and per value of the styled property (merged under the catalogue's colours).
_PATHS: dict[str, dict[str, Any]] = {
    "admin_area": {
        "default": {"opacity": 0.9},
        "values": {
            "town": {"weight": 3},
            "village": {"weight": 1.5},
            "community": {"dashArray": "6 3"},
            "grid": {"dashArray": "2 3", "weight": 1},
        },
    },
    "red_line": {
        "default": {"opacity": 0.9},
        "values": {
            "construction_land": {"dashArray": None, "weight": 2},
            "road": {"dashArray": "8 4", "weight": 2},
            "ecological": {"dashArray": "2 4", "weight": 3},
            "basic_farmland": {"dashArray": "10 3 2 3", "weight": 3},
            "river_blue": {"dashArray": "6 2", "weight": 2},
            "urban_boundary": {"dashArray": "12 6", "weight": 3},
        },
    },
    "cleared_parcel": {"default": {"dashArray": "5 3"}, "values": {}},
    "change_patch": {"default": {"dashArray": "4 3"}, "values": {"": {"label": "待认定"}}},
    "pipeline": {"default": {"opacity": 0.95, "lineCap": "round"}, "values": {}},
}

#: Chinese labels of the values a style may be keyed by (for the legend).
_BY_LABELS: dict[str, dict[str, str]] = {
    "status": vocab.STRUCTURE_STATUSES,
    "category": vocab.STRUCTURE_CATEGORIES,
    "kind": vocab.RED_LINE_KINDS,
    "land_class": {k: f"{k} {v}" for k, v in vocab.LAND_CLASSES.items()},
    "ruling": vocab.RULINGS,
    "ruling_shown": vocab.RULINGS,
    "level": {**vocab.ADMIN_LEVELS, "grid": "网格片区"},
    "restored_use": vocab.CLEARED_RESTORED_USES,
}
#: Per layer, where a property name means something else there than in :data:`_BY_LABELS`.
_LAYER_BY_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "pipeline": {"kind": vocab.PIPELINE_KINDS},
}


def _layer_style(spec: LayerSpec) -> dict[str, Any]:
    style = spec.style
    by = style.by
    if spec.name == "change_patch" and by == "ruling":
        by = "ruling_shown"  # the tile's ruling, or the suggested one until a person rules
    paths = _PATHS.get(spec.name, {})
    default = {
        "color": style.default_color,
        "fillColor": style.default_color,
        "weight": style.weight,
        "fill": style.fill_opacity > 0,
        "fillOpacity": style.fill_opacity,
        **paths.get("default", {}),
    }
    labels = _LAYER_BY_LABELS.get(spec.name, {}).get(by or "") or _BY_LABELS.get(by or "", {})
    values: dict[str, dict[str, Any]] = {}
    if by is not None:
        for key, entry in paths.get("values", {}).items():
            values[key] = {**entry, "label": entry.get("label", labels.get(key, key))}
        for key, color in style.colors.items():
            entry = values.setdefault(key, {"label": labels.get(key, key)})
            entry.update(color=color, fillColor=color)
    out: dict[str, Any] = {"title": spec.zh, "by": by, "default": default, "values": values}
    out["geometry"] = "line" if spec.geometry_type == "MultiLineString" else "polygon"
    if spec.safety_distances_m:
        out["safety_distances_m"] = dict(spec.safety_distances_m)
    return out


def styles_of(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """The map style of every layer of ``catalogue``, keyed by layer name."""
    return {name: _layer_style(spec) for name, spec in catalogue.layers.items()}


def load_styles(catalogue: Catalogue | str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The map styles from ``catalogue`` (a loaded one, a path, or the packaged one when None).

    A path is read by the strict loader (once per path): a missing or invalid catalogue raises
    :class:`~geo_enforce.errors.ConfigError` naming the file. Each call gets its own copy.
    """
    cat = catalogue if isinstance(catalogue, Catalogue) else get_catalogue(catalogue)
    return copy.deepcopy(styles_of(cat))


def default_catalogue_path() -> Path:
    """The packaged layer catalogue (``geo_enforce/layers/catalogue.yaml``)."""
    return catalogue_path()
