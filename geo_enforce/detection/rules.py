"""Rules: each change region checked against the stored layers (red lines, parcels, structures,
lines with safety distances).

A rule hit is ``{"code", "label" (Chinese), "area_m2", ...}``: the overlap (or, for approved
construction land, the part outside it) in ellipsoidal m² on CGCS2000. Geometries in EPSG:4490.
The 占压 rules (:data:`geo_enforce.ledger.pipelines.LINE_RULES`, ``encroach_gas`` …) add
``distance_m`` to the nearest line of the kind and its ``safety_distance_m`` (metres on the
ellipsoid); their ``area_m2`` is the part inside the safety zone.
The suggested ruling is only a suggestion: the ruling itself is the liaison's (issue 6).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.geometry.areas import ellipsoidal_area_m2
from geo_enforce.ledger.pipelines import LINE_RULES, outline_hits
from geo_enforce.storage.models import AdminArea, ClearedParcel, FarmlandParcel, RedLine, Structure

RULES: dict[str, str] = {
    "outside_construction_land": "新增建设占用非建设用地",
    "basic_farmland": "占用永久基本农田",
    "ecological": "占用生态保护红线",
    "road": "占用道路红线",
    "river_blue": "占用河道蓝线",
    "cleared_parcel_rebuilt": "腾退地块复建",
    "demolished_still_standing": "已拆除违建仍存在",
    "structure_enlarged": "登记违建扩建",
    "structure_removed": "登记违建已拆除",
}

#: Every rule's Chinese label: the rules above and the 占压 rules of the line layer.
ALL_RULES: dict[str, str] = {**RULES, **LINE_RULES}

#: Hits that make a suggested ruling of 违法 (illegal): building inside a line's safety zone is
#: forbidden (城镇燃气管理条例, 电力设施保护条例, 河道管理条例) as well.
ILLEGAL_RULES = frozenset(ALL_RULES) - {"structure_removed"}

#: An overlap smaller than this (m²) is edge noise, not a hit.
MIN_HIT_M2 = 1.0


@dataclass
class RuleResult:
    """The rule hits of one patch and the ruling they suggest."""

    hits: list[dict] = field(default_factory=list)
    structure_id: int | None = None
    change_kind: str = "new"
    suggested_ruling: str = "other"
    village_code: str | None = None


def _hit(code: str, area: float, **extra) -> dict:
    return {"code": code, "label": RULES[code], "area_m2": round(area, 2), **extra}


def _intersecting(session: Session, model, geom: BaseGeometry, *extra_where):
    g = from_shape(geom, srid=4490)
    q = select(model).where(
        model.retired_at.is_(None), func.ST_Intersects(model.geom, g), *extra_where
    )
    return list(session.scalars(q))


def _overlap(geom: BaseGeometry, others: list[BaseGeometry]) -> float:
    if not others:
        return 0.0
    return ellipsoidal_area_m2(shapely.intersection(geom, shapely.union_all(others)))


def evaluate(session: Session, geom: BaseGeometry, *, kind: str = "new") -> RuleResult:
    """Rule hits of one change region (EPSG:4490) of ``kind`` ``new`` or ``demolished``."""
    res = RuleResult(change_kind=kind)
    centroid = geom.representative_point()
    village = session.scalar(
        select(AdminArea.code).where(
            AdminArea.retired_at.is_(None),
            AdminArea.level == "village",
            func.ST_Intersects(AdminArea.geom, from_shape(centroid, srid=4490)),
        )
    )
    res.village_code = village
    structures = _intersecting(session, Structure, geom)
    best = None
    best_area = 0.0
    for s in structures:
        a = ellipsoidal_area_m2(shapely.intersection(geom, to_shape(s.geom)))
        if a > best_area:
            best, best_area = s, a
    if kind == "demolished":
        if best is not None and best_area >= MIN_HIT_M2:
            res.structure_id = best.id
            res.hits.append(_hit("structure_removed", best_area, case_no=best.case_no))
        res.suggested_ruling = "other"
        return res

    total = ellipsoidal_area_m2(geom)
    construction = [
        to_shape(r.geom)
        for r in _intersecting(session, RedLine, geom)
        if r.kind == "construction_land"
    ]
    inside = _overlap(geom, construction)
    if total - inside >= MIN_HIT_M2:
        res.hits.append(_hit("outside_construction_land", total - inside))
    red = _intersecting(
        session,
        RedLine,
        geom,
        RedLine.kind.in_(["basic_farmland", "ecological", "road", "river_blue"]),
    )
    farmland = [
        to_shape(f.geom)
        for f in _intersecting(session, FarmlandParcel, geom, FarmlandParcel.is_permanent_basic)
    ]
    for code in ("basic_farmland", "ecological", "road", "river_blue"):
        geoms = [to_shape(r.geom) for r in red if r.kind == code]
        if code == "basic_farmland":
            geoms += farmland
        a = _overlap(geom, geoms)
        if a >= MIN_HIT_M2:
            res.hits.append(_hit(code, a))
    cleared = _intersecting(session, ClearedParcel, geom)
    a = _overlap(geom, [to_shape(c.geom) for c in cleared])
    if a >= MIN_HIT_M2:
        res.hits.append(_hit("cleared_parcel_rebuilt", a, parcel_no=cleared[0].parcel_no))

    # linked registered structure: touching counts (an extension shares an edge)
    near = _intersecting(session, Structure, geom.buffer(1e-5))  # ≈ 1 m
    if best is None and near:
        best = near[0]
    if best is not None:
        res.structure_id = best.id
        added = ellipsoidal_area_m2(shapely.difference(geom, to_shape(best.geom)))
        if best.status == "demolished":
            res.change_kind = "rebuilt"
            res.hits.append(
                _hit("demolished_still_standing", max(best_area, added), case_no=best.case_no)
            )
        elif added >= MIN_HIT_M2:
            res.change_kind = "enlarged"
            res.hits.append(_hit("structure_enlarged", added, case_no=best.case_no))
    res.hits.extend(outline_hits(session, geom))
    res.suggested_ruling = suggest(res.hits, inside_construction=total - inside < MIN_HIT_M2)
    return res


def suggest(hits: list[dict], *, inside_construction: bool) -> str:
    """违法 on an illegal rule hit; 合法 if wholly inside approved land, no hits; else 其他."""
    if any(h["code"] in ILLEGAL_RULES for h in hits):
        return "illegal"
    if inside_construction and not hits:
        return "legal"
    return "other"


def demolished_structures(
    session: Session, area: BaseGeometry, *, as_of: dt.date
) -> list[Structure]:
    """Current structures marked demolished on or before ``as_of`` inside ``area`` (EPSG:4490)."""
    return [
        s
        for s in _intersecting(session, Structure, area, Structure.status == "demolished")
        if s.demolished_on is None or s.demolished_on <= as_of
    ]
