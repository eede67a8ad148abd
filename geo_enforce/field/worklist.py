"""Today's work in the field: patches awaiting a field check nearest first, today's overdue
cases, and a route list exported as GPX 1.1.

Distances are geodesic on the CGCS2000 ellipsoid (PostGIS ``geography`` over SRID 4490: GRS 1980,
GeographicLib), metres, 0 inside a polygon. "Today" is the calendar day in Beijing time.
Positions are lon/lat in EPSG:4490, which GPS receivers (WGS 84) read to within centimetres.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, null, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.geometry import crs as gcrs
from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger import deadlines
from geo_enforce.storage.models import ChangePatch, Structure

GPX_NS = "http://www.topografix.com/GPX/1/1"
#: change-patch statuses still waiting for someone to look on site (待核查, 核查中)
AWAITING_STATUSES = ("new", "under_review")
MAX_STOPS = 200


def check_position(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    """The device position (both or neither given, inside China)."""
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        raise InvalidInput("位置须同时给出经度 lon 和纬度 lat (give both lon and lat)")
    if not gcrs.in_china(lon, lat):
        raise InvalidInput(f"位置 lon {lon}, lat {lat} 不在中国境内 (position outside China)")
    return lon, lat


def _distance(geom: Any, at: tuple[float, float] | None) -> Any:
    if at is None:
        return None
    here = func.ST_SetSRID(func.ST_MakePoint(at[0], at[1]), 4490)
    return func.ST_Distance(func.Geography(geom), func.Geography(here))


@dataclass(frozen=True)
class PatchStop:
    """A change patch awaiting a field check, with its representative point and distance."""

    id: int
    code: str
    village_code: str | None
    status: str
    change_kind: str
    confidence: float
    area_m2: float
    detected_on: dt.date | None
    lon: float
    lat: float
    #: geodesic metres from the given position (None without one)
    distance_m: float | None


def awaiting_check(
    session: Session,
    *,
    near: tuple[float, float] | None = None,
    village_code: str | None = None,
    limit: int = 50,
) -> list[PatchStop]:
    """Current change patches awaiting a field check (status 待核查/核查中, no ruling, not set
    aside as a likely false change, no case opened), nearest first from ``near`` (lon, lat),
    else the most confident first."""
    t = ChangePatch
    dist = _distance(t.geom, near)
    point = func.ST_PointOnSurface(t.geom)
    q: Select = select(
        t.id, t.code, t.village_code, t.status, t.change_kind, t.confidence, t.area_m2,
        t.detected_on, func.ST_X(point).label("lon"), func.ST_Y(point).label("lat"),
        (dist if dist is not None else null()).label("distance_m"),
    ).where(
        t.retired_at.is_(None),
        t.status.in_(AWAITING_STATUSES),
        t.ruling.is_(None),
        t.set_aside.is_(False),
        t.structure_id.is_(None),
    )  # fmt: skip
    if village_code is not None:
        q = q.where(t.village_code == village_code)
    order = [dist, t.id] if dist is not None else [t.confidence.desc(), t.id]
    rows = session.execute(q.order_by(*order).limit(limit)).all()
    return [
        PatchStop(
            id=r.id,
            code=r.code,
            village_code=r.village_code,
            status=r.status,
            change_kind=r.change_kind,
            confidence=float(r.confidence),
            area_m2=round(float(r.area_m2), 2),
            detected_on=r.detected_on,
            lon=round(r.lon, 8),
            lat=round(r.lat, 8),
            distance_m=None if r.distance_m is None else round(float(r.distance_m), 1),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class OverdueStop:
    """A case overdue today, with its representative point and distance."""

    case: deadlines.DeadlineCase
    lon: float
    lat: float
    distance_m: float | None


def overdue_today(
    session: Session,
    *,
    near: tuple[float, float] | None = None,
    village_code: str | None = None,
    as_of: dt.date | None = None,
) -> list[OverdueStop]:
    """Cases overdue today (Beijing time; :func:`deadlines.overdue`), nearest first from
    ``near``, else longest overdue first."""
    day = as_of or beijing_today()
    cases = deadlines.overdue(session, day, village_code=village_code)
    if not cases:
        return []
    point = func.ST_PointOnSurface(Structure.geom)
    dist = _distance(Structure.geom, near)
    cols = [Structure.id, func.ST_X(point), func.ST_Y(point)]
    geo = {
        r[0]: r[1:]
        for r in session.execute(
            select(*cols, *([dist] if dist is not None else [])).where(
                Structure.id.in_([c.id for c in cases])
            )
        ).all()
    }
    out = [
        OverdueStop(
            case=c,
            lon=round(geo[c.id][0], 8),
            lat=round(geo[c.id][1], 8),
            distance_m=round(float(geo[c.id][2]), 1) if dist is not None else None,
        )
        for c in cases
    ]
    if near is not None:
        out.sort(key=lambda s: (s.distance_m, s.case.id))
    return out


@dataclass(frozen=True)
class RouteStop:
    """One stop of a route list: a case or a patch at its representative point."""

    kind: str  # structure | change_patch
    id: int
    name: str
    description: str
    lon: float
    lat: float


def parse_stops(value: str) -> list[tuple[str, int]]:
    """``structure:12,change_patch:7`` → [("structure", 12), ("change_patch", 7)], in order."""
    stops: list[tuple[str, int]] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        kind, _, ident = part.partition(":")
        if kind not in ("structure", "change_patch") or not re.fullmatch(r"[0-9]{1,18}", ident):
            raise InvalidInput(
                f"路线点 '{part[:40]}' 无效：写作 structure:<案件id> 或 change_patch:<图斑id>，"
                "以逗号分隔 (stops=structure:12,change_patch:7)"
            )
        stops.append((kind, int(ident)))
    if not stops:
        raise InvalidInput("路线为空：stops 至少给出一个点 (no stops)")
    if len(stops) > MAX_STOPS:
        raise InvalidInput(f"路线点过多（{len(stops)} 个），最多 {MAX_STOPS} 个")
    return stops


def route_stops(session: Session, stops: list[tuple[str, int]]) -> list[RouteStop]:
    """The stops in the order given, each at the representative point of its outline."""
    found: dict[tuple[str, int], RouteStop] = {}
    s_ids = [i for k, i in stops if k == "structure"]
    p_ids = [i for k, i in stops if k == "change_patch"]
    s_point = func.ST_PointOnSurface(Structure.geom)
    p_point = func.ST_PointOnSurface(ChangePatch.geom)
    queries = [
        (
            "structure",
            select(
                Structure.id, Structure.case_no, Structure.address,
                func.ST_X(s_point), func.ST_Y(s_point),
            ).where(and_(Structure.id.in_(s_ids), Structure.retired_at.is_(None))),
        ),
        (
            "change_patch",
            select(
                ChangePatch.id, ChangePatch.code, ChangePatch.village_code,
                func.ST_X(p_point), func.ST_Y(p_point),
            ).where(and_(ChangePatch.id.in_(p_ids), ChangePatch.retired_at.is_(None))),
        ),
    ]  # fmt: skip
    for kind, q in queries:
        for r in session.execute(q).all():
            if kind == "structure":
                desc = f"违建案件 {r[1]}" + (f"，{r[2]}" if r[2] else "")
            else:
                desc = f"待核查变化图斑 {r[1]}"
            found[(kind, r[0])] = RouteStop(kind, r[0], r[1], desc, round(r[3], 8), round(r[4], 8))
    missing = [f"{k}:{i}" for k, i in stops if (k, i) not in found]
    if missing:
        raise NotFound(f"路线点 {', '.join(missing[:10])} 不存在或已撤销 (stop does not exist)")
    return [found[s] for s in stops]


def gpx(stops: list[RouteStop], *, name: str, when: dt.datetime | None = None) -> bytes:
    """A GPX 1.1 document: one waypoint per stop and one route through them in order
    (lon/lat from EPSG:4490, read as WGS 84)."""
    ET.register_namespace("", GPX_NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        e = ET.SubElement(parent, f"{{{GPX_NS}}}{tag}", attrs)
        if text is not None:
            e.text = text
        return e

    root = ET.Element(f"{{{GPX_NS}}}gpx", {"version": "1.1", "creator": "geo-enforce"})
    meta = el(root, "metadata")
    el(meta, "name", name)
    stamp = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    el(meta, "time", stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for s in stops:
        w = el(root, "wpt", lat=f"{s.lat:.8f}", lon=f"{s.lon:.8f}")
        el(w, "name", s.name)
        el(w, "desc", s.description)
        el(w, "type", s.kind)
    rte = el(root, "rte")
    el(rte, "name", name)
    for i, s in enumerate(stops, 1):
        p = el(rte, "rtept", lat=f"{s.lat:.8f}", lon=f"{s.lon:.8f}")
        el(p, "name", f"{i}. {s.name}")
        el(p, "type", s.kind)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
