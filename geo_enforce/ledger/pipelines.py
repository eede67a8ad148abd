"""Line features with a safety distance and the rule 占压<kind> ("占压燃气管线").

The ``pipeline`` layer holds gas and oil pipelines, power lines and river dykes
(``MULTILINESTRING``, EPSG:4490). Each kind has a safety distance in metres in the layer
catalogue (``safety_distances_m`` of layer ``pipeline``); a line may carry its own
(``safety_distance_m``), which wins. A structure or change patch whose outline comes within the
distance of a current line of that kind hits the rule ``encroach_<kind>``:

======================  ==================
``encroach_gas``        占压燃气管线
``encroach_oil``        占压输油管线
``encroach_power``      占压电力线路
``encroach_dyke``       占压河堤
======================  ==================

**Distance on the ellipsoid.** The test is PostGIS ``ST_DWithin(line::geography,
outline::geography, d)`` and the reported distance ``ST_Distance`` on the same geographies, both
with ``use_spheroid`` (the default). A geography cast from EPSG:4490 keeps SRID 4490, and PostGIS
computes geography distances on the spheroid of the geography's SRID, i.e. GRS 1980 parameters
(a = 6378137 m, 1/f = 298.257222101) — exactly the CGCS2000 ellipsoid. (A geography without an
SRID would be WGS 84, 1/f = 298.257223563; over a safety distance of metres the two ellipsoids
differ by far less than a millimetre, so even that would not matter.) Edges between vertices are
taken as geodesics, as ``area_m2`` is. Nothing is computed in Python: the rule is SQL, so
``hits`` and the campaign scope (:mod:`geo_enforce.ledger.campaigns`) agree, and a line imported
after the cases flags them at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput
from geo_enforce.io.catalogue import Catalogue, get_catalogue
from geo_enforce.ledger import vocab
from geo_enforce.ledger.vocab import PIPELINE_KINDS

#: rule code → Chinese label, one rule per kind
LINE_RULES: dict[str, str] = {f"encroach_{k}": f"占压{v}" for k, v in PIPELINE_KINDS.items()}
#: what the rules are checked on
TARGETS = ("structure", "change_patch")
#: metres per degree at least (longitude at 57°N): the index pre-filter's box is never too small
_M_PER_DEG_MIN = 60_000.0


def rule_kind(rule: str) -> str:
    """The line kind of rule ``rule`` (``encroach_gas`` → ``gas``); InvalidInput otherwise."""
    kind = rule.removeprefix("encroach_")
    if rule not in LINE_RULES:
        raise InvalidInput(
            f"rule '{rule[:40]}' is unknown; line rules: "
            + ", ".join(f"{k} ({v})" for k, v in LINE_RULES.items())
        )
    return kind


def safety_distances(catalogue: Catalogue | None = None) -> dict[str, float]:
    """Safety distance in metres per line kind, from the catalogue (layer ``pipeline``)."""
    spec = (catalogue or get_catalogue()).layer("pipeline")
    known = spec.safety_distances_m
    return {k: float(known[k]) for k in PIPELINE_KINDS if k in known}


def _distance_sql(
    distances: Mapping[str, float], alias: str = "p", prefix: str = ""
) -> tuple[str, dict[str, Any]]:
    """SQL of a line's effective safety distance (its own, else its kind's) with its params
    (named ``<prefix>_k0``, ``<prefix>_d0``, …)."""
    params: dict[str, Any] = {}
    whens = []
    for i, (kind, d) in enumerate(sorted(distances.items())):
        params[f"{prefix}_k{i}"], params[f"{prefix}_d{i}"] = kind, float(d)
        whens.append(f"WHEN :{prefix}_k{i} THEN CAST(:{prefix}_d{i} AS double precision)")
    case = f"CASE {alias}.kind {' '.join(whens)} END" if whens else "NULL::double precision"
    return f"coalesce({alias}.safety_distance_m, {case})", params


def _kinds(kinds: Iterable[str] | None) -> list[str]:
    out = list(PIPELINE_KINDS) if kinds is None else list(kinds)
    bad = [k for k in out if k not in PIPELINE_KINDS]
    if bad:
        raise InvalidInput(
            f"line kind '{bad[0][:20]}' is unknown; use "
            + ", ".join(f"{k} ({v})" for k, v in PIPELINE_KINDS.items())
        )
    return out


def near_line_sql(
    outline: str, kinds: Iterable[str], distances: Mapping[str, float], *, tag: str = "nl"
) -> tuple[str, dict[str, Any]]:
    """SQL ``EXISTS`` (with its params, named after ``tag``) true when ``outline`` (an SQL
    geometry expression in EPSG:4490) lies within the safety distance of a current line of one
    of ``kinds``; distances in metres on the ellipsoid."""
    dist, params = _distance_sql(distances, "p", tag)
    params[f"{tag}_kinds"] = _kinds(kinds)
    sql = (
        "EXISTS (SELECT 1 FROM pipeline p WHERE p.retired_at IS NULL "
        f"AND p.kind = ANY(:{tag}_kinds) "
        f"AND ST_Expand(p.geom, {dist} / {_M_PER_DEG_MIN}) && {outline} "
        f"AND ST_DWithin(p.geom::geography, ({outline})::geography, {dist}))"
    )
    return sql, params


@dataclass(frozen=True)
class LineHit:
    """One structure or change patch within the safety distance of one line (metres)."""

    target: str  # structure | change_patch
    target_id: int
    target_code: str  # case_no or patch code
    village_code: str | None
    status: str | None  # the structure's status, the patch's ruling
    area_m2: float
    rule: str
    label: str
    line_code: str
    line_kind: str
    line_name: str | None
    distance_m: float
    safety_distance_m: float

    def as_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready values."""
        return asdict(self)


def status_label(hit: LineHit) -> str:
    """The Chinese label of a hit's status: the case's status (已拆除 …) or the patch's ruling
    (违法 …; 待认定 before a ruling)."""
    if hit.target == "structure":
        return vocab.label(vocab.STRUCTURE_STATUSES, hit.status)
    return vocab.label(vocab.RULINGS, hit.status) if hit.status else "待认定"


_TARGET_SQL = {
    "structure": ("structure", "case_no", "status"),
    "change_patch": ("change_patch", "code", "ruling"),
}


def hits(
    session: Session,
    *,
    target: str = "structure",
    kinds: Iterable[str] | None = None,
    village_code: str | None = None,
    catalogue: Catalogue | None = None,
) -> list[LineHit]:
    """Current structures (or change patches) within the safety distance of a current line of
    ``kinds`` (every kind by default): one hit per (record, line), nearest first per rule.

    Distances in metres on the CGCS2000 ellipsoid (see the module doc)."""
    if target not in _TARGET_SQL:
        raise InvalidInput(f"target '{target[:30]}' is unknown; use structure or change_patch")
    table, code_col, status_col = _TARGET_SQL[target]
    dist, params = _distance_sql(safety_distances(catalogue), "p", "h")
    params["kinds"] = _kinds(kinds)
    where = ""
    if village_code is not None:
        where = "AND t.village_code = :village"
        params["village"] = village_code
    rows = session.execute(
        text(
            f"""
            WITH lines AS (
              SELECT p.code, p.kind, p.name, p.geom, {dist} AS d
              FROM pipeline p WHERE p.retired_at IS NULL AND p.kind = ANY(:kinds)
            )
            SELECT t.id, t.{code_col} AS code, t.village_code, t.{status_col} AS status,
                   t.area_m2, l.code AS line_code, l.kind, l.name, l.d,
                   ST_Distance(l.geom::geography, t.geom::geography) AS distance_m
            FROM lines l JOIN {table} t
              ON t.geom && ST_Expand(l.geom, l.d / {_M_PER_DEG_MIN})
             AND ST_DWithin(l.geom::geography, t.geom::geography, l.d)
            WHERE t.retired_at IS NULL AND l.d IS NOT NULL {where}
            ORDER BY l.kind, distance_m, t.{code_col}, l.code
            """
        ),
        params,
    ).all()
    return [
        LineHit(
            target=target,
            target_id=int(r.id),
            target_code=r.code,
            village_code=r.village_code,
            status=r.status,
            area_m2=float(r.area_m2),
            rule=f"encroach_{r.kind}",
            label=LINE_RULES[f"encroach_{r.kind}"],
            line_code=r.line_code,
            line_kind=r.kind,
            line_name=r.name,
            distance_m=round(float(r.distance_m), 3),
            safety_distance_m=float(r.d),
        )
        for r in rows
    ]


def outline_hits(
    session: Session, outline: BaseGeometry, *, catalogue: Catalogue | None = None
) -> list[dict[str, Any]]:
    """Rule hits of one outline (EPSG:4490, a change region or patch) against the current lines,
    in the shape of the other rule hits (:mod:`geo_enforce.detection.rules`): one per rule
    (line kind) the outline is within the safety distance of, in the order of
    :data:`LINE_RULES`, each ``{"code", "label", "area_m2", "distance_m",
    "safety_distance_m", "line_code", "line_name"}``.

    ``distance_m`` is to the nearest such line of the kind (``line_code``, ``line_name``,
    ``safety_distance_m`` are that line's), in metres on the CGCS2000 ellipsoid, as
    :func:`hits`. ``area_m2`` is the part of the outline inside the safety zones of the kind's
    lines, in ellipsoidal m² (the zone is PostGIS's geography buffer, drawn in a metric
    projection fitted to the line: its edge is within millimetres of the true distance)."""
    dist, params = _distance_sql(safety_distances(catalogue), "p", "o")
    params["g"] = shapely.to_wkb(outline)
    rows = session.execute(
        text(
            f"""
            WITH g AS (SELECT ST_GeomFromWKB(:g, 4490) AS geom),
            near AS (
              SELECT p.code, p.kind, p.name, p.geom, {dist} AS d
              FROM pipeline p, g
              WHERE p.retired_at IS NULL
                AND ST_Expand(p.geom, {dist} / {_M_PER_DEG_MIN}) && g.geom
                AND ST_DWithin(p.geom::geography, g.geom::geography, {dist})
            ),
            measured AS (
              SELECT n.*, ST_Distance(n.geom::geography, g.geom::geography) AS distance_m
              FROM near n, g
            ),
            nearest AS (
              SELECT DISTINCT ON (kind) kind, code, name, d, distance_m
              FROM measured ORDER BY kind, distance_m, code
            ),
            zone AS (
              -- a geography buffer comes back in SRID 4326: the same coordinates (PROJ's
              -- CGCS2000 to WGS 84 is the null transform), so it is relabelled 4490
              SELECT m.kind,
                     ST_Area(ST_Intersection(g.geom, ST_SetSRID(ST_Union(
                       ST_Buffer(m.geom::geography, m.d)::geometry), 4490))::geography) AS area_m2
              FROM measured m, g GROUP BY m.kind, g.geom
            )
            SELECT n.kind, n.code, n.name, n.d, n.distance_m, z.area_m2
            FROM nearest n JOIN zone z USING (kind)
            """
        ),
        params,
    ).all()
    by_rule = {f"encroach_{r.kind}": r for r in rows}
    return [
        {
            "code": rule,
            "label": label,
            "area_m2": round(float(r.area_m2 or 0.0), 2),
            "distance_m": round(float(r.distance_m), 2),
            "safety_distance_m": float(r.d),
            "line_code": r.code,
            "line_name": r.name,
        }
        for rule, label in LINE_RULES.items()
        if (r := by_rule.get(rule)) is not None
    ]
