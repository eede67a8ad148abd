"""Overlay report of a farmland parcel or any polygon against every stored layer.

All overlap areas are computed in PostGIS as
``ST_Area(ST_Intersection(target, feature)::geography)``: the ellipsoidal area on the CGCS2000
ellipsoid (geography over SRID 4490 uses its spheroid), the official figure (椭球面积). Shares
are percentages of the target's own ellipsoidal area. Totals over a kind (permanent basic
farmland, approved construction land, each red-line kind, structures) intersect the target with
the union of the features, so overlapping records are counted once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput
from geo_enforce.farmland import lookup
from geo_enforce.farmland.results import (
    Approval,
    ApprovedConstruction,
    AreaShare,
    ClearedOverlap,
    LandClassShare,
    Overlap,
    Overlaps,
    OverlayReport,
    OverlayTarget,
    ParcelInfo,
    ParcelOverlap,
    PatchOverlap,
    RedLineOverlap,
    RedLineShare,
    StructureOverlap,
    VerificationInfo,
)
from geo_enforce.farmland.verify import DEFAULT_FARMLAND, list_verifications
from geo_enforce.geometry.areas import m2_to_mu
from geo_enforce.ledger import vocab
from geo_enforce.settings import FarmlandSettings
from geo_enforce.storage.models import FarmlandParcel

METHOD = (
    "面积为 CGCS2000 椭球面积（PostGIS ST_Area(geography)，a=6378137，f=1/298.257222101）；"
    "占比为占核查范围面积的百分比"
)

_INTERSECTION = "ST_CollectionExtract(ST_Intersection(x.geom, t.g), 3)"
_OVERLAP = f"ST_Area({_INTERSECTION}::geography)"

#: table → (result type, columns selected besides id and areas; named as the type's fields)
_LAYERS: dict[str, tuple[type[Overlap], str]] = {
    "farmland_parcel": (
        ParcelOverlap,
        "x.patch_code AS code, x.land_class, x.is_permanent_basic, x.village_code",
    ),
    "structure": (
        StructureOverlap,
        "x.case_no AS code, x.category, x.status, x.floors, x.village_code",
    ),
    "change_patch": (
        PatchOverlap,
        "x.code, x.change_kind, x.ruling, x.status, x.detected_on, x.village_code",
    ),
    "cleared_parcel": (
        ClearedOverlap,
        "x.parcel_no AS code, x.prior_use, x.cleared_on, x.restored_use, x.village_code",
    ),
    "red_line": (
        RedLineOverlap,
        "x.code, x.kind, x.name, x.approval_no, x.valid_from, x.valid_to, "
        "NULL::text AS village_code",
    ),
}


def _target_sql(parcel_id: int | None) -> str:
    if parcel_id is not None:
        return "SELECT geom AS g FROM farmland_parcel WHERE id = :pid"
    return "SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), 4490) AS g"


def _params(parcel_id: int | None, geom: BaseGeometry | None) -> dict[str, Any]:
    if parcel_id is not None:
        return {"pid": parcel_id}
    assert geom is not None
    return {"wkb": shapely.to_wkb(geom)}


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0


def _area(m2: float, whole: float) -> dict[str, float]:
    return {
        "area_m2": round(m2, 2),
        "area_mu": round(m2_to_mu(m2), 4),
        "share_pct": _pct(m2, whole),
    }


def _overlaps(
    session: Session, table: str, target: str, params: dict, whole: float, sliver: float
) -> tuple[Any, ...]:
    kind, cols = _LAYERS[table]
    exclude = " AND x.id <> :pid" if (table == "farmland_parcel" and "pid" in params) else ""
    sql = (
        f"WITH t AS ({target}) SELECT x.id, {cols}, x.area_m2 AS feature_area_m2, "
        f"{_OVERLAP} AS overlap_m2 FROM {table} x, t WHERE x.retired_at IS NULL "
        f"AND ST_Intersects(x.geom, t.g){exclude} ORDER BY overlap_m2 DESC, x.id"
    )
    rows = []
    for r in session.execute(text(sql), params).mappings():
        overlap = r["overlap_m2"]
        if overlap is None or overlap < sliver:
            continue
        values = {
            **r,
            "feature_area_m2": round(r["feature_area_m2"], 2),
            "overlap_m2": round(overlap, 2),
        }
        rows.append(
            kind(**values, overlap_mu=round(m2_to_mu(overlap), 4), share_pct=_pct(overlap, whole))
        )
    return tuple(rows)


def _dissolved(session: Session, target: str, params: dict, source: str) -> float:
    """Area of target ∩ union(features of ``source``), ``source`` a SELECT of ``geom`` rows."""
    # the target as a scalar subquery (an InitPlan parameter) lets the planner use the spatial
    # index inside the UNION ALL; joined as a CTE it scans every row
    sql = (
        f"WITH t AS ({target}), u AS (SELECT ST_Union(x.geom) AS g FROM ({source}) x "
        "WHERE ST_Intersects(x.geom, (SELECT g FROM t))) "
        "SELECT coalesce(ST_Area(ST_CollectionExtract(ST_Intersection(t.g, u.g), 3)::geography)"
        ", 0) FROM t, u"
    )
    return float(session.execute(text(sql), params).scalar_one() or 0.0)


_PBF_SOURCE = (
    "SELECT geom FROM farmland_parcel WHERE retired_at IS NULL AND is_permanent_basic "
    "UNION ALL SELECT geom FROM red_line WHERE retired_at IS NULL AND kind = 'basic_farmland'"
)


def _dissolved_red_lines(session: Session, target: str, params: dict) -> dict[str, float]:
    """Per red-line kind: area of target ∩ union(red lines of that kind), one query."""
    sql = (
        f"WITH t AS ({target}), u AS (SELECT x.kind, ST_Union(x.geom) AS g FROM red_line x "
        "WHERE x.retired_at IS NULL AND ST_Intersects(x.geom, (SELECT g FROM t)) "
        "GROUP BY x.kind) "
        "SELECT u.kind, ST_Area(ST_CollectionExtract(ST_Intersection(t.g, u.g), 3)::geography) "
        "FROM t, u"
    )
    return {k: float(a or 0.0) for k, a in session.execute(text(sql), params).all()}


def resolve_target(
    session: Session,
    *,
    parcel_id: int | None = None,
    patch_code: str | None = None,
    polygon: str | dict | BaseGeometry | None = None,
    crs: int | str | None = None,
) -> tuple[FarmlandParcel | None, BaseGeometry]:
    """The parcel (or None for a free polygon) and the target geometry in EPSG:4490."""
    given = sum(v is not None for v in (parcel_id, patch_code, polygon))
    if given != 1:
        raise InvalidInput("give exactly one of parcel_id, patch_code or polygon")
    if polygon is not None:
        loc = lookup.parse_polygon(polygon, crs)
        lookup.ensure_in_township(session, loc.geom, "polygon")
        return None, loc.geom
    parcel = (
        lookup.by_id(session, parcel_id)
        if parcel_id is not None
        else lookup.by_code(session, str(patch_code))
    )
    return parcel, to_shape(parcel.geom)


def overlay_report(
    session: Session,
    *,
    parcel_id: int | None = None,
    patch_code: str | None = None,
    polygon: str | dict | BaseGeometry | None = None,
    crs: int | str | None = None,
    config: FarmlandSettings = DEFAULT_FARMLAND,
) -> OverlayReport:
    """Overlay report of a parcel (by id or patch code) or of a polygon.

    Areas are ellipsoidal m² on CGCS2000 (and 亩), shares are % of the target's area: the land
    classes, permanent basic farmland, approved construction land, red lines (dissolved overlap
    per kind), every overlapping feature per layer, standing structures (dissolved) and the
    earlier verifications of the target and of what it overlaps.
    """
    parcel, geom = resolve_target(
        session, parcel_id=parcel_id, patch_code=patch_code, polygon=polygon, crs=crs
    )
    pid = parcel.id if parcel is not None else None
    target = _target_sql(pid)
    params = _params(pid, None if pid is not None else geom)
    whole = float(
        session.execute(
            text(f"WITH t AS ({target}) SELECT ST_Area(t.g::geography) FROM t"), params
        ).scalar_one()
    )
    found = {
        table: _overlaps(session, table, target, params, whole, config.sliver_m2)
        for table in _LAYERS
    }
    overlaps = Overlaps(**found)

    classes: dict[str, float] = {}
    if parcel is not None:
        classes[parcel.land_class] = whole
    for p in overlaps.farmland_parcel:
        classes[p.land_class] = classes.get(p.land_class, 0.0) + p.overlap_m2
    land_classes = tuple(
        LandClassShare(
            **_area(m2, whole), land_class=code, cultivated=code in vocab.CULTIVATED_LAND_CLASSES
        )
        for code, m2 in sorted(classes.items(), key=lambda kv: -kv[1])
    )

    pbf = _dissolved(session, target, params, _PBF_SOURCE)
    by_kind = _dissolved_red_lines(session, target, params)
    red_lines = tuple(
        RedLineShare(**_area(by_kind[kind], whole), kind=kind)
        for kind in vocab.RED_LINE_KINDS
        if by_kind.get(kind, 0.0) >= config.sliver_m2
    )
    construction = next((r for r in red_lines if r.kind == "construction_land"), None)
    approvals = tuple(
        Approval(
            id=a.id,
            code=a.code,
            name=a.name,
            approval_no=a.approval_no,
            overlap_m2=a.overlap_m2,
            share_pct=a.share_pct,
        )
        for a in overlaps.red_line
        if a.kind == "construction_land"
    )
    structures = _dissolved(
        session,
        target,
        params,
        "SELECT geom FROM structure WHERE retired_at IS NULL "
        "AND status NOT IN ('demolished','dismissed')",
    )
    construction_area = (
        _area(0.0, whole)
        if construction is None
        else {
            "area_m2": construction.area_m2,
            "area_mu": construction.area_mu,
            "share_pct": construction.share_pct,
        }
    )
    return OverlayReport(
        target=OverlayTarget(
            kind="parcel" if parcel is not None else "polygon",
            parcel=ParcelInfo.of(parcel) if parcel is not None else None,
            area_m2=round(whole, 2),
            area_mu=round(m2_to_mu(whole), 4),
            bounds=tuple(round(v, 7) for v in geom.bounds),  # type: ignore[arg-type]
            geometry=geom,
        ),
        land_classes=land_classes,
        permanent_basic=AreaShare(**_area(pbf, whole)),
        approved_construction=ApprovedConstruction(**construction_area, approvals=approvals),
        red_lines=red_lines,
        structures_dissolved=AreaShare(**_area(structures, whole)),
        overlaps=overlaps,
        verifications=verification_history(session, overlaps, parcel_id=pid, config=config),
        method=METHOD,
        generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )


def verification_history(
    session: Session,
    overlaps: Overlaps,
    *,
    parcel_id: int | None,
    config: FarmlandSettings = DEFAULT_FARMLAND,
) -> tuple[VerificationInfo, ...]:
    """Earlier verifications of the parcel, overlapping parcels, patches and structures."""
    targets: list[tuple[str, int]] = []
    if parcel_id is not None:
        targets.append(("farmland_parcel", parcel_id))
    for table in ("farmland_parcel", "change_patch", "structure"):
        targets.extend((table, o.id) for o in getattr(overlaps, table))
    return tuple(list_verifications(session, targets=targets, config=config)) if targets else ()
