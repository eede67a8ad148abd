"""Feature queries in the shape of OGC API Features (collections, items, one item).

GeoJSON is rendered by PostGIS (``ST_AsGeoJSON``) so large pages do not round-trip through
shapely. Coordinates are CGCS2000 lon/lat (EPSG:4490), which agrees with WGS 84 to centimetres,
so clients that assume CRS84 place them correctly. Retired records are never listed. Personal
data of parties is included only when the caller asks for it (editor and above in the API).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, not_, or_, select
from sqlalchemy.orm import Session

from geo_enforce.detection.patches import CHANGE_KINDS
from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.io.catalogue import LayerTitles
from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger import vocab
from geo_enforce.ledger.deadlines import overdue_condition
from geo_enforce.storage.models import LAYER_MODELS, AdminArea

#: Layer titles shown to users (Chinese) and in the collection list: the catalogue's ``zh``.
LAYER_TITLES = LayerTitles(
    (
        "admin_area",
        "red_line",
        "structure",
        "cleared_parcel",
        "farmland_parcel",
        "change_patch",
        "pipeline",
    )
)

PERSONAL_FIELDS = frozenset({"party_name", "party_id_no", "party_phone"})
#: never rendered as properties (retired records are never listed: their columns are empty)
_HIDDEN = frozenset({"geom", "retired_at", "retired_by", "retire_reason"})
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
        "overdue",  # structures: true|false, notices past their deadline (ledger.deadlines)
    }
)


#: Coded columns per collection → their Chinese labels; each feature carries ``<column>_label``
#: next to the code, so QGIS and exports show 已拆除 where the ledger stores ``demolished``.
CODE_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "admin_area": {"level": vocab.ADMIN_LEVELS},
    "red_line": {"kind": vocab.RED_LINE_KINDS},
    "pipeline": {"kind": vocab.PIPELINE_KINDS},
    "structure": {"category": vocab.STRUCTURE_CATEGORIES, "status": vocab.STRUCTURE_STATUSES},
    "cleared_parcel": {"restored_use": vocab.CLEARED_RESTORED_USES},
    "farmland_parcel": {"land_class": vocab.LAND_CLASSES},
    "change_patch": {
        "change_kind": CHANGE_KINDS,
        "suggested_ruling": vocab.RULINGS,
        "ruling": vocab.RULINGS,
        "status": vocab.PATCH_STATUSES,
    },
}

#: Each collection's main date (OGC ``datetime`` filter, temporal extent): (start, end) columns;
#: the same column twice for an instant. Collections without one ignore ``datetime``.
TEMPORAL: dict[str, tuple[str, str]] = {
    "structure": ("discovered_on", "discovered_on"),
    "cleared_parcel": ("cleared_on", "cleared_on"),
    "red_line": ("valid_from", "valid_to"),
    "change_patch": ("detected_on", "detected_on"),
}

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def epsg_uri(code: int) -> str:
    """The OGC URI of EPSG ``code``."""
    return f"http://www.opengis.net/def/crs/EPSG/0/{code}"


@dataclass(frozen=True)
class OutputCrs:
    """A CRS offered to clients (OGC API Features Part 2): its URI, the PostGIS SRID of the
    coordinates, whether its EPSG axis order is latitude/northing first (then coordinates are
    swapped from PostGIS's x/y) and the decimals written."""

    uri: str
    srid: int
    north_first: bool
    digits: int


#: CRS84 (lon/lat) is the stored CGCS2000 coordinates as they are: CGCS2000 and WGS 84 agree to
#: centimetres. EPSG:4490 is lat/lon (EPSG axis order); EPSG:4548/4527 (3-degree Gauss-Krüger,
#: CM 117°E without/with zone prefix) are northing/easting in metres.
SUPPORTED_CRS: dict[str, OutputCrs] = {
    CRS84: OutputCrs(CRS84, 4490, False, 8),
    epsg_uri(4490): OutputCrs(epsg_uri(4490), 4490, True, 8),
    epsg_uri(4548): OutputCrs(epsg_uri(4548), 4548, True, 3),
    epsg_uri(4527): OutputCrs(epsg_uri(4527), 4527, True, 3),
}
STORAGE_CRS = epsg_uri(4490)


def resolve_crs(value: str | None, *, param: str = "crs") -> OutputCrs:
    """The offered CRS named by ``value`` (an OGC URI, ``EPSG:4548``, ``[EPSG:4548]``, an
    ``urn:ogc:def:crs`` URN or ``OGC:CRS84``); CRS84 when empty."""
    if value is None or value.strip() == "":
        return SUPPORTED_CRS[CRS84]
    v = value.strip().strip("[]").replace("https://", "http://")
    if v.upper() in ("OGC:CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84", "URN:OGC:DEF:CRS:OGC::CRS84"):
        v = CRS84
    for prefix in ("EPSG:", "urn:ogc:def:crs:EPSG::", "urn:ogc:def:crs:EPSG:0:"):
        if v.upper().startswith(prefix.upper()) and v[len(prefix) :].isdigit():
            v = epsg_uri(int(v[len(prefix) :]))
    if v not in SUPPORTED_CRS:
        raise InvalidInput(
            f"{param} '{value}' is not offered; use one of {', '.join(SUPPORTED_CRS)}"
        )
    return SUPPORTED_CRS[v]


@dataclass(frozen=True)
class Box:
    """A bounding box in PostGIS x/y order (lon/lat or easting/northing) of SRID ``srid``."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    srid: int = 4490


def parse_bbox_crs(bbox: str | None, bbox_crs: str | None = None) -> Box | None:
    """OGC ``bbox`` (4 numbers, or 6 with heights, which are ignored) in ``bbox-crs`` axis
    order: lon/lat for CRS84, lat/lon for EPSG:4490, northing/easting for EPSG:4548/4527.
    Lon/lat boxes are checked by :func:`parse_bbox`."""
    crs = resolve_crs(bbox_crs, param="bbox-crs")
    if bbox is None or bbox == "":
        return None
    try:
        nums = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise InvalidInput(f"bbox '{bbox}' must be four numbers (or six with heights)") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4:
        raise InvalidInput(f"bbox '{bbox}' must have four numbers, got {len(nums)}")
    if crs.north_first:
        nums = [nums[1], nums[0], nums[3], nums[2]]
    if crs.srid == 4490:
        lonlat = parse_bbox(",".join(repr(n) for n in nums))
        assert lonlat is not None
        return Box(*lonlat)
    minx, miny, maxx, maxy = nums
    if not (minx <= maxx and miny <= maxy):
        raise InvalidInput(
            f"bbox '{bbox}' in {crs.uri} must be minNorthing,minEasting,maxNorthing,maxEasting"
        )
    return Box(minx, miny, maxx, maxy, crs.srid)


def _date_of(text: str, what: str) -> dt.date:
    try:
        if "T" in text or "t" in text or " " in text:
            return dt.datetime.fromisoformat(text.replace("z", "Z")).date()
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"datetime '{what}': '{text}' is not an RFC 3339 date or date-time "
            "(e.g. 2024-03-05 or 2024-03-05T00:00:00Z)"
        ) from None


def parse_datetime(value: str | None) -> tuple[dt.date | None, dt.date | None] | None:
    """OGC ``datetime``: an instant or an interval ``start/end`` (``..`` or empty = open), as
    dates (the main dates are calendar days). None when not given."""
    if value is None or value.strip() == "":
        return None
    parts = value.strip().split("/")
    if len(parts) == 1:
        if parts[0] == "..":
            raise InvalidInput("datetime '..' is only allowed as one end of an interval")
        day = _date_of(parts[0], value)
        return day, day
    if len(parts) != 2:
        raise InvalidInput(f"datetime '{value}' must be an instant or 'start/end'")
    start, end = (None if p in ("", "..") else _date_of(p, value) for p in parts)
    if start is None and end is None:
        raise InvalidInput(f"datetime '{value}': at least one end of the interval must be given")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"datetime '{value}': the start is after the end")
    return start, end


@dataclass(frozen=True)
class Page:
    """One page of features with the total that matched."""

    features: list[dict[str, Any]]
    number_matched: int
    limit: int
    offset: int

    @property
    def number_returned(self) -> int:
        """How many features this page holds."""
        return len(self.features)


def collection_ids() -> list[str]:
    """The names of the collections served as features."""
    return list(LAYER_MODELS)


def _model(collection: str):
    try:
        return LAYER_MODELS[collection]
    except KeyError:
        raise NotFound(
            f"collection '{collection}' does not exist; use one of {', '.join(LAYER_MODELS)}"
        ) from None


def property_columns(collection: str, *, personal: bool = False) -> list[str]:
    """The columns of ``collection`` given as properties (personal data when asked)."""
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


def _area(bbox: Box | tuple[float, float, float, float]) -> ColumnElement:
    """The query box as an EPSG:4490 polygon (a projected box densified before transforming,
    so its edges stay straight in its own CRS)."""
    if not isinstance(bbox, Box):
        bbox = Box(*bbox)
    env = func.ST_MakeEnvelope(bbox.minx, bbox.miny, bbox.maxx, bbox.maxy, bbox.srid)
    if bbox.srid == 4490:
        return env
    return func.ST_Transform(func.ST_Segmentize(env, 50.0), 4490)


def _during(collection: str, table, when: tuple[dt.date | None, dt.date | None]):
    """Records whose main date (or validity interval) meets ``when``; None when the collection
    has no main date (then ``datetime`` does not filter it)."""
    if collection not in TEMPORAL:
        return None
    start, end = (table.c[c] for c in TEMPORAL[collection])
    lo, hi = when
    conds = []
    if start is end:
        conds.append(start.is_not(None))
        if lo is not None:
            conds.append(start >= lo)
        if hi is not None:
            conds.append(start <= hi)
    else:  # an open end of a validity interval (NULL) is unbounded
        if hi is not None:
            conds.append(or_(start.is_(None), start <= hi))
        if lo is not None:
            conds.append(or_(end.is_(None), end >= lo))
    return and_(*conds) if conds else None


def _overdue_filter(table, value: str) -> ColumnElement[bool]:
    """``overdue=true|false`` on structures: notices past their deadline today (the map's
    逾期 filter; :mod:`geo_enforce.ledger.deadlines`)."""
    if value.lower() not in ("true", "false"):
        raise InvalidInput(f"overdue must be true or false, not '{value[:20]}'")
    cond = overdue_condition(table, beijing_today())
    return cond if value.lower() == "true" else not_(cond)


def _filtered(
    collection: str,
    bbox,
    filters: dict[str, str],
    when: tuple[dt.date | None, dt.date | None] | None = None,
) -> Select:
    model = _model(collection)
    table = model.__table__
    stmt = select(table).where(table.c.retired_at.is_(None))
    if bbox is not None:
        env = _area(bbox)
        stmt = stmt.where(table.c.geom.op("&&")(env), func.ST_Intersects(table.c.geom, env))
    if when is not None and (cond := _during(collection, table, when)) is not None:
        stmt = stmt.where(cond)
    for key, value in filters.items():
        if key == "overdue" and collection == "structure":
            stmt = stmt.where(_overdue_filter(table, value))
            continue
        if key not in FILTERABLE or key not in table.c:
            raise InvalidInput(
                f"'{key}' is not a parameter or filter of collection '{collection}'; filters: "
                + ", ".join(sorted(k for k in FILTERABLE if k in table.c))
            )
        stmt = stmt.where(table.c[key] == _coerce(table.c[key], value))
    return stmt


def _geojson(geom, crs: OutputCrs | None) -> ColumnElement:
    """GeoJSON text of ``geom`` in ``crs`` (CRS84 by default), without a ``crs`` member."""
    crs = crs or SUPPORTED_CRS[CRS84]
    if crs.srid != 4490:
        geom = func.ST_Transform(geom, crs.srid)
    if crs.north_first:
        geom = func.ST_FlipCoordinates(geom)
    return func.ST_AsGeoJSON(geom, crs.digits, 0)


def rule_hits_text(hits: Any) -> str:
    """Rule hits (a list of ``{"label", "area_m2", …}``) as one readable line; a 占压 hit
    also gives its distance to the line and the safety distance, in metres."""
    if not hits:
        return ""
    out = []
    for h in hits:
        if isinstance(h, dict):
            area = h.get("area_m2")
            entry = f"{h.get('label') or h.get('code')}" + (f" {area} m²" if area else "")
            if h.get("distance_m") is not None:
                entry += f" 距线 {h['distance_m']} m（安全距离 {h.get('safety_distance_m')} m）"
            out.append(entry)
        else:
            out.append(str(h))
    return "；".join(out)


def _feature(collection: str, row, columns: list[str]) -> dict[str, Any]:
    labels = CODE_LABELS.get(collection, {})
    m = row._mapping
    props: dict[str, Any] = {}
    for name in columns:
        value = m[name]
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        props[name] = value
        if name in labels:
            props[f"{name}_label"] = vocab.label(labels[name], value) if value else None
        if name == "village_code":
            props["village_name"] = m["village_name"]
        if name == "rule_hits":
            props["rule_hits_text"] = rule_hits_text(value)
    return {
        "type": "Feature",
        "id": m["id"],
        "geometry": json.loads(m["geojson"]),
        "properties": props,
    }


def _select(collection: str, source, columns: list[str], crs: OutputCrs | None) -> Select:
    """Properties, village name (when the layer has a village) and GeoJSON of ``source``."""
    cols: list[Any] = [source.c[c] for c in columns]
    cols.append(_geojson(source.c.geom, crs).label("geojson"))
    if "village_code" in source.c:
        village = AdminArea.__table__.alias("v")
        cols.append(village.c.name.label("village_name"))
        return select(*cols).select_from(
            source.outerjoin(
                village,
                and_(village.c.code == source.c.village_code, village.c.retired_at.is_(None)),
            )
        )
    cols.append(literal(None).label("village_name"))
    return select(*cols)


def items(
    session: Session,
    collection: str,
    *,
    bbox: Box | tuple[float, float, float, float] | None = None,
    filters: dict[str, str] | None = None,
    limit: int = 100,
    offset: int = 0,
    personal: bool = False,
    crs: OutputCrs | None = None,
    when: tuple[dt.date | None, dt.date | None] | None = None,
) -> Page:
    """One page of current features of ``collection`` intersecting ``bbox`` (a :class:`Box`,
    or a lon/lat tuple) whose main date meets ``when``; geometries in ``crs`` (CRS84)."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be ≥ 1 and offset ≥ 0")
    filters = filters or {}
    base = _filtered(collection, bbox, filters, when).subquery()
    matched = session.execute(select(func.count()).select_from(base)).scalar_one()
    columns = property_columns(collection, personal=personal)
    stmt = _select(collection, base, columns, crs).order_by(base.c.id).limit(limit).offset(offset)
    rows = session.execute(stmt).all()
    return Page([_feature(collection, r, columns) for r in rows], matched, limit, offset)


def item(
    session: Session,
    collection: str,
    item_id: int,
    *,
    personal: bool = False,
    crs: OutputCrs | None = None,
) -> dict:
    """One feature of ``collection`` by id; NotFound otherwise."""
    return item_with_version(session, collection, item_id, personal=personal, crs=crs)[0]


def item_with_version(
    session: Session,
    collection: str,
    item_id: int,
    *,
    personal: bool = False,
    crs: OutputCrs | None = None,
) -> tuple[dict, int | None]:
    """:func:`item` and, read by the same query, the feature's optimistic-locking version
    (None for tables without versions): the API sends it as the item's ``ETag``, the same one
    the ledger's own routes send."""
    table = _model(collection).__table__
    columns = property_columns(collection, personal=personal)
    row = session.execute(
        _select(collection, table, columns, crs).where(
            table.c.id == item_id, table.c.retired_at.is_(None)
        )
    ).first()
    if row is None:
        raise NotFound(f"{collection} {item_id} does not exist or was retired")
    version = row._mapping["version"] if "version" in columns else None
    return _feature(collection, row, columns), None if version is None else int(version)


def _json_type(column) -> dict[str, Any]:
    try:
        py = column.type.python_type
    except NotImplementedError:  # geometry and the like
        return {"type": "string"}
    if py is bool:
        return {"type": "boolean"}
    if py is int:
        return {"type": "integer"}
    if py is float:
        return {"type": "number"}
    if py is dt.datetime:
        return {"type": "string", "format": "date-time"}
    if py is dt.date:
        return {"type": "string", "format": "date"}
    if py in (list, dict):
        return {"type": "array" if py is list else "object"}
    return {"type": "string"}


def feature_schema(collection: str, *, personal: bool = False) -> dict[str, Any]:
    """JSON Schema of ``collection``'s GeoJSON features: every property in the order the
    features carry them, with its type (dates with ``format: date``), so clients (GDAL's OAPIF
    driver, QGIS) type fields that are empty on the first page correctly. Values may be null."""
    table = _model(collection).__table__
    labels = CODE_LABELS.get(collection, {})
    props: dict[str, Any] = {}
    for name in property_columns(collection, personal=personal):
        props[name] = _json_type(table.c[name])
        if name in labels:
            props[f"{name}_label"] = {"type": "string", "description": "中文名称"}
        if name == "village_code":
            props["village_name"] = {"type": "string", "description": "所属村名称"}
        if name == "rule_hits":
            props["rule_hits_text"] = {"type": "string", "description": "规则命中（文本）"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": collection,
        "title": LAYER_TITLES.get(collection, collection),
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer"},
            "geometry": {"type": "object", "description": "GeoJSON MultiPolygon"},
            "properties": {"type": "object", "properties": props},
        },
    }


def temporal_extent(session: Session, collection: str) -> list[str | None] | None:
    """[first, last] main date of the current records (ISO dates), None without a main date."""
    if collection not in TEMPORAL:
        return None
    table = _model(collection).__table__
    start, end = (table.c[c] for c in TEMPORAL[collection])
    lo, hi = session.execute(
        select(func.min(start), func.max(end)).where(table.c.retired_at.is_(None))
    ).one()
    return [
        None if lo is None else f"{lo.isoformat()}T00:00:00Z",
        None if hi is None else f"{hi.isoformat()}T23:59:59Z",
    ]


def extent(session: Session, collection: str) -> list[float] | None:
    """The lon/lat extent of the current features of ``collection`` (None when empty)."""
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
