"""Feature queries in the shape of OGC API Features (collections, items, one item).

GeoJSON is rendered by PostGIS (``ST_AsGeoJSON``) so large pages do not round-trip through
shapely. Coordinates are CGCS2000 lon/lat (EPSG:4490), which agrees with WGS 84 to centimetres,
so clients that assume CRS84 place them correctly. Retired records are never listed. Personal
data of parties is included only when the caller asks for it (editor and above in the API).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.storage.models import LAYER_MODELS

#: Layer titles shown to users (Chinese) and in the collection list.
LAYER_TITLES: dict[str, str] = {
    "admin_area": "行政区划",
    "red_line": "规划红线",
    "structure": "违法建设",
    "cleared_parcel": "治理违法占地地块",
    "farmland_parcel": "农用地图斑",
    "change_patch": "变化图斑",
}

PERSONAL_FIELDS = frozenset({"party_name", "party_id_no", "party_phone"})
#: never rendered as properties
_HIDDEN = frozenset({"geom"})
#: columns a client may filter on by equality (?status=demolished&village_code=...)
FILTERABLE = frozenset(
    {
        "code",
        "level",
        "parent_code",
        "kind",
        "case_no",
        "village_code",
        "category",
        "status",
        "parcel_no",
        "restored_use",
        "patch_code",
        "land_class",
        "is_permanent_basic",
        "ruling",
        "suggested_ruling",
        "change_kind",
    }
)


@dataclass(frozen=True)
class Page:
    features: list[dict[str, Any]]
    number_matched: int
    limit: int
    offset: int

    @property
    def number_returned(self) -> int:
        return len(self.features)


def collection_ids() -> list[str]:
    return list(LAYER_MODELS)


def _model(collection: str):
    try:
        return LAYER_MODELS[collection]
    except KeyError:
        raise NotFound(
            f"collection '{collection}' does not exist; use one of {', '.join(LAYER_MODELS)}"
        ) from None


def property_columns(collection: str, *, personal: bool = False) -> list[str]:
    table = _model(collection).__table__
    return [
        c.name
        for c in table.columns
        if c.name not in _HIDDEN and (personal or c.name not in PERSONAL_FIELDS)
    ]


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` in lon/lat degrees."""
    if bbox is None or bbox == "":
        return None
    try:
        parts = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise InvalidInput(
            f"bbox '{bbox}' must be four numbers: minLon,minLat,maxLon,maxLat"
        ) from None
    if len(parts) != 4:
        raise InvalidInput(f"bbox '{bbox}' must have four numbers, got {len(parts)}")
    minx, miny, maxx, maxy = parts
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput(
            f"bbox '{bbox}' is not a lon/lat box (min ≤ max, lon within ±180, lat within ±90)"
        )
    return minx, miny, maxx, maxy


def _coerce(column, value: str):
    py = column.type.python_type
    if py is bool:
        if value.lower() in ("true", "1", "yes", "是"):
            return True
        if value.lower() in ("false", "0", "no", "否"):
            return False
        raise InvalidInput(f"filter {column.name}='{value}' must be true or false")
    if py is int:
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"filter {column.name}='{value}' must be an integer") from None
    return value


def _filtered(collection: str, bbox, filters: dict[str, str]) -> Select:
    model = _model(collection)
    table = model.__table__
    stmt = select(table).where(table.c.retired_at.is_(None))
    if bbox is not None:
        env = func.ST_MakeEnvelope(*bbox, 4490)
        stmt = stmt.where(table.c.geom.op("&&")(env), func.ST_Intersects(table.c.geom, env))
    for key, value in filters.items():
        if key not in FILTERABLE or key not in table.c:
            raise InvalidInput(
                f"'{key}' is not a filter of collection '{collection}'; filters: "
                + ", ".join(sorted(k for k in FILTERABLE if k in table.c))
            )
        stmt = stmt.where(table.c[key] == _coerce(table.c[key], value))
    return stmt


def _feature(row, columns: list[str]) -> dict[str, Any]:
    props = {}
    for name in columns:
        value = row._mapping[name]
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        props[name] = value
    return {
        "type": "Feature",
        "id": row._mapping["id"],
        "geometry": json.loads(row._mapping["geojson"]),
        "properties": props,
    }


def items(
    session: Session,
    collection: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    filters: dict[str, str] | None = None,
    limit: int = 100,
    offset: int = 0,
    personal: bool = False,
) -> Page:
    """One page of current features of ``collection`` intersecting ``bbox`` (lon/lat)."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be ≥ 1 and offset ≥ 0")
    filters = filters or {}
    base = _filtered(collection, bbox, filters).subquery()
    matched = session.execute(select(func.count()).select_from(base)).scalar_one()
    columns = property_columns(collection, personal=personal)
    stmt = (
        select(*[base.c[c] for c in columns], func.ST_AsGeoJSON(base.c.geom, 8).label("geojson"))
        .order_by(base.c.id)
        .limit(limit)
        .offset(offset)
    )
    rows = session.execute(stmt).all()
    return Page([_feature(r, columns) for r in rows], matched, limit, offset)


def item(session: Session, collection: str, item_id: int, *, personal: bool = False) -> dict:
    model = _model(collection)
    table = model.__table__
    columns = property_columns(collection, personal=personal)
    row = session.execute(
        select(
            *[table.c[c] for c in columns], func.ST_AsGeoJSON(table.c.geom, 8).label("geojson")
        ).where(table.c.id == item_id, table.c.retired_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(f"{collection} {item_id} does not exist or was retired")
    return _feature(row, columns)


def extent(session: Session, collection: str) -> list[float] | None:
    table = _model(collection).__table__
    ext = (
        select(func.ST_Extent(table.c.geom).label("b"))
        .where(table.c.retired_at.is_(None))
        .subquery()
    )
    box = session.execute(
        select(
            func.ST_XMin(ext.c.b),
            func.ST_YMin(ext.c.b),
            func.ST_XMax(ext.c.b),
            func.ST_YMax(ext.c.b),
        )
    ).one()
    return None if box[0] is None else [float(v) for v in box]
