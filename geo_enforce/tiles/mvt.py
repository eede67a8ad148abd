"""Mapbox vector tiles (MVT) of the ledger layers, made by PostGIS (``ST_AsMVT``).

One packaged SQL template (``sql/layer_tile.sql``) filled with each layer's table, feature
properties and village join (:data:`_PROPERTIES`); tile coordinates always bound as parameters.
Tiles are in Web Mercator (EPSG:3857, XYZ scheme, 4096 extent, 64-unit buffer); the layers are
stored in CGCS2000 (EPSG:4490), filtered through the spatial index with the tile envelope
transformed to EPSG:4490. Only current records (``retired_at IS NULL``) are drawn.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.io.catalogue import LayerTitles

#: Layers served as vector tiles: name → Chinese title (the catalogue's ``zh``).
MVT_LAYERS = LayerTitles(
    (
        "structure",
        "cleared_parcel",
        "red_line",
        "farmland_parcel",
        "change_patch",
        "admin_area",
        "pipeline",
    )
)

#: Join giving ``v.name``, the village of a layer's record.
_VILLAGE = "LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL"

#: Per layer: the tile features' properties (over ``t``, the layer's table) and the join they
#: need. Areas are in m² and mu (ellipsoidal, CGCS2000, as stored by the database trigger).
_PROPERTIES: dict[str, tuple[str, str]] = {
    "structure": (
        """t.id, t.case_no, t.village_code, v.name AS village_name, t.address, t.category,
         t.status, t.floors, t.area_m2, t.area_mu, t.floor_area_m2,
         t.discovered_on::text AS discovered_on, t.notice_on::text AS notice_on,
         t.demolished_on::text AS demolished_on, t.closed_on::text AS closed_on,
         t.halted_on::text AS halted_on, t.deadline_on::text AS deadline_on""",
        _VILLAGE,
    ),
    "cleared_parcel": (
        """t.id, t.parcel_no, t.village_code, v.name AS village_name, t.prior_use,
         t.cleared_on::text AS cleared_on, t.restored_use, t.area_m2, t.area_mu""",
        _VILLAGE,
    ),
    "red_line": (
        """t.id, t.code, t.kind, t.name, t.approval_no,
         t.valid_from::text AS valid_from, t.valid_to::text AS valid_to, t.area_m2, t.area_mu""",
        "",
    ),
    "farmland_parcel": (
        """t.id, t.patch_code, t.land_class, t.is_permanent_basic, t.village_code,
         v.name AS village_name, t.area_m2, t.area_mu""",
        _VILLAGE,
    ),
    "change_patch": (
        """t.id, t.code, t.village_code, v.name AS village_name, t.change_kind,
         COALESCE(t.ruling, t.suggested_ruling) AS ruling_shown, t.ruling, t.status,
         t.confidence, t.height_gain_max_m, t.rule_hits::text AS rule_hits,
         t.before_flight_id, t.after_flight_id, t.detected_on::text AS detected_on,
         (t.chip_before IS NOT NULL) AS has_chip_before,
         (t.chip_after IS NOT NULL) AS has_chip_after, t.area_m2, t.area_mu""",
        _VILLAGE,
    ),
    "admin_area": (
        "t.id, t.code, t.name, t.level, t.parent_code, t.area_m2, t.area_mu",
        "",
    ),
    # lines: the line's own safety distance (m) or NULL, the map falls back to its kind's
    # (the catalogue's); length in m, geodesic on the CGCS2000 ellipsoid
    "pipeline": (
        """t.id, t.code, t.kind, t.name, t.spec, t.owner, t.safety_distance_m, t.length_m""",
        "",
    ),
}


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _label_columns(layer: str) -> str:
    """``CASE`` columns giving each coded property's Chinese label (``status_label`` beside
    ``status``), built from the same vocabularies the features and exports use; the codes and
    labels are the project's constants, quoted as SQL literals."""
    from geo_enforce.ledger.features import CODE_LABELS

    labels = dict(CODE_LABELS.get(layer, {}))
    if layer == "change_patch":  # the ruling shown: the ruling, else the suggestion
        labels = {**labels, "ruling_shown": labels["ruling"]}
    names = _field_names(layer, False)
    cols = []
    for name, vocab in labels.items():
        if name not in names:
            continue
        source = "COALESCE(t.ruling, t.suggested_ruling)" if name == "ruling_shown" else f"t.{name}"
        whens = " ".join(f"WHEN {_sql_text(k)} THEN {_sql_text(v)}" for k, v in vocab.items())
        cols.append(f"CASE {source} {whens} END AS {name}_label")
    return "".join(f",\n         {c}" for c in cols)


MAX_ZOOM = 24


def layer_dependencies(layer: str) -> tuple[str, ...]:
    """The tables a tile of ``layer`` is drawn from: its own and, when its features carry their
    village's name, ``admin_area`` (an edit to either changes the tile)."""
    check_layer(layer)
    join = _PROPERTIES[layer][1]
    return (layer, "admin_area") if "admin_area" in join and layer != "admin_area" else (layer,)


@cache
def _sql(layer: str) -> str:
    template = resources.files("geo_enforce.tiles").joinpath("sql", "layer_tile.sql")
    properties, join = _PROPERTIES[layer]
    properties += _label_columns(layer)
    return template.read_text("utf-8").format(layer=layer, properties=properties, join=join)


def tile_fields(layer: str, *, labels: bool = True) -> list[str]:
    """The property names of ``layer``'s tile features (for TileJSON ``vector_layers``), the
    Chinese label columns (``<code>_label``) included unless ``labels`` is False."""
    check_layer(layer)
    return list(_field_names(layer, labels))


@cache
def _field_names(layer: str, labels: bool) -> tuple[str, ...]:
    """:func:`tile_fields`, parsed once per layer (the properties are constants)."""
    text = _PROPERTIES[layer][0] + (_label_columns(layer) if labels else "")
    items, depth, cur, quoted = [], 0, "", False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if not quoted:
            depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0 and not quoted:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    # "t.status" → status; "… AS village_name" → village_name
    return tuple(item.split()[-1].split(".")[-1] for item in items)


def check_layer(layer: str) -> None:
    """Raise :class:`NotFound` unless ``layer`` is served as vector tiles."""
    if layer not in MVT_LAYERS:
        raise NotFound(
            f"no vector-tile layer '{layer}': choose one of {', '.join(sorted(MVT_LAYERS))}"
        )


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`InvalidInput` unless z/x/y address a tile of the XYZ pyramid."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"tile zoom {z} out of range 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidInput(f"tile {z}/{x}/{y} does not exist: x and y must be in 0..{n - 1}")


def render_mvt(session: Session | Connection, layer: str, z: int, x: int, y: int) -> bytes:
    """The MVT (protobuf bytes) of ``layer`` for XYZ tile z/x/y; empty bytes when no feature.

    Feature ids are the records' ids; properties carry the fields the map's popups show, areas
    in m² and mu (ellipsoidal, CGCS2000, as stored by the database trigger).
    """
    check_layer(layer)
    check_tile(z, x, y)
    data = session.execute(text(_sql(layer)), {"z": z, "x": x, "y": y}).scalar()
    return bytes(data) if data else b""


def tile_bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of XYZ tile z/x/y (spherical Web Mercator)."""
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y))


def tiles_covering(
    bounds: tuple[float, float, float, float], zoom: int
) -> list[tuple[int, int, int]]:
    """XYZ tiles at ``zoom`` covering lon/lat ``bounds`` (west, south, east, north)."""
    west, south, east, north = bounds
    n = 1 << zoom

    def col(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))

    def row(lat_deg: float) -> int:
        r = math.radians(lat_deg)
        v = (1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n
        return min(n - 1, max(0, int(v)))

    return [
        (zoom, tx, ty)
        for tx in range(col(west), col(east) + 1)
        for ty in range(row(north), row(south) + 1)
    ]
