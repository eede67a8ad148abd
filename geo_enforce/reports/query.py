"""Area totals over the ledger: filters, grouping, sum of records and dissolved footprint.

One query per request (SQLAlchemy Core, values bound). Each group carries the record count,
households where the category counts them (违建别墅 户), the sum of the records' areas and,
for footprints, the dissolved area: ``ST_Area(ST_Union(geom)::geography)``, so overlapping
records are counted once. Group rows and the grand total come from one statement: a CTE
aggregates per group and the total sums it; the total dissolved area is one union of all the
selected records.

Areas are ellipsoidal on the CGCS2000 ellipsoid in m² (the stored ``area_m2`` is the official
area, kept by the database trigger; ``floor_area_m2`` is measured floor area or footprint ×
floors). Rounding happens only when a result is rendered (:mod:`geo_enforce.reports.phrasing`).

Which records count:
- current records only (``retired_at IS NULL``);
- period: ``year`` and/or ``date_from``..``date_to`` (inclusive) on the date chosen by
  ``date_by`` (structures: discovered, demolished, closed, halted, notice; cleared parcels:
  cleared; change patches: detected). Records without that date are outside any period;
- admin area: a village or community matches the record's ``village_code``; a town or grid
  zone matches records whose representative point (``ST_PointOnSurface``) lies inside it, so a
  record is never counted in two grid zones;
- township (``township``): the records that belong to that township (``township_code``, see
  :mod:`geo_enforce.storage.scope`); the query's transaction is narrowed to it as well, so a
  caller can ask only for one of their own townships. Without it a caller's totals cover the
  townships they see (row-level security), all of a deployment for the CLI;
- stock/increment (structures, ``stock_class``): the class derived from the township's base
  date or set by hand (:mod:`geo_enforce.ledger.stock`), as a filter or a group key;
- red-line kind: records whose interior overlaps a current red line of that kind (e.g. only
  what lies on permanent basic farmland). The whole record is measured, or with
  ``red_line_clip`` only its part inside those red lines (the ellipsoidal area of the
  intersection, computed live).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    exists,
    extract,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from geo_enforce.detection.patches import CHANGE_KINDS
from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.io.catalogue import layer_title
from geo_enforce.ledger import vocab
from geo_enforce.ledger.stock import UNCLASSIFIED_LABEL, stock_class_expr
from geo_enforce.reports.phrasing import m2_text, mu_text, round_m2, round_mu
from geo_enforce.storage import scope
from geo_enforce.storage.models import AdminArea, ChangePatch, ClearedParcel, RedLine, Structure

LAYERS = ("structure", "cleared_parcel", "change_patch")
MEASURES = ("footprint", "floor")
#: AreaQuery fields that filter by a list of vocabulary values
LIST_FILTERS = ("status", "category", "stock_class", "restored_use", "ruling", "change_kind")
GROUP_KEY_LABELS = {
    "village": "村/社区",
    "category": "类别",
    "stock_class": "存量/增量",
    "status": "状态",
    "year": "年份",
    "month": "月份",
    "restored_use": "恢复用途",
    "ruling": "认定结果",
    "change_kind": "变化类型",
    "township": "乡镇/街道",
}
NO_VILLAGE = "未划定村"
NO_TOWNSHIP = "未划定乡镇"
NO_DATE = "未填日期"
METHOD = (
    "ellipsoidal area on the CGCS2000 ellipsoid (a=6378137, f=1/298.257222101); "
    "dissolved = area of the union of the group's polygons"
)


@dataclass(frozen=True)
class _Layer:
    name: str
    table: Table
    dates: dict[str, str]  # date_by → column name
    default_date: str
    groups: tuple[str, ...]  # non-date group keys available (column names or 'village')
    lists: dict[str, dict[str, str]]  # list filter → its vocabulary
    unit: str  # counting word: 处, 宗, 个

    @property
    def title(self) -> str:
        """The layer's Chinese title, from the catalogue (for tables)."""
        return layer_title(self.name)


_LAYERS: dict[str, _Layer] = {
    "structure": _Layer(
        "structure",
        Structure.__table__,  # type: ignore[arg-type]
        {
            "discovered": "discovered_on",
            "demolished": "demolished_on",
            "closed": "closed_on",
            "halted": "halted_on",
            "notice": "notice_on",
        },
        "demolished",
        ("township", "village", "category", "status", "stock_class"),
        {
            "status": vocab.STRUCTURE_STATUSES,
            "category": vocab.STRUCTURE_CATEGORIES,
            "stock_class": vocab.STOCK_CLASSES,
        },
        "处",
    ),
    "cleared_parcel": _Layer(
        "cleared_parcel",
        ClearedParcel.__table__,  # type: ignore[arg-type]
        {"cleared": "cleared_on"},
        "cleared",
        ("township", "village", "restored_use"),
        {"restored_use": vocab.CLEARED_RESTORED_USES},
        "宗",
    ),
    "change_patch": _Layer(
        "change_patch",
        ChangePatch.__table__,  # type: ignore[arg-type]
        {"detected": "detected_on"},
        "detected",
        ("township", "village", "ruling", "status", "change_kind"),
        {"ruling": vocab.RULINGS, "status": vocab.PATCH_STATUSES, "change_kind": CHANGE_KINDS},
        "个",
    ),
}

_VOCAB_FOR_KEY: dict[str, dict[str, str]] = {
    "category": vocab.STRUCTURE_CATEGORIES,
    "stock_class": vocab.STOCK_CLASSES,
    "restored_use": vocab.CLEARED_RESTORED_USES,
    "ruling": vocab.RULINGS,
    "change_kind": CHANGE_KINDS,
}


@dataclass(frozen=True)
class AreaQuery:
    """What to total. Every field is optional; see the module doc for what each one selects."""

    layer: str = "structure"
    year: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    date_by: str | None = None  # None: the layer's default (demolished, cleared, detected)
    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    #: structures: stock (存量) / increment (增量), see geo_enforce.ledger.stock
    stock_class: tuple[str, ...] = ()
    restored_use: tuple[str, ...] = ()
    ruling: tuple[str, ...] = ()
    change_kind: tuple[str, ...] = ()
    admin_code: str | None = None
    #: the records of one township (a town code; see the module doc)
    township: str | None = None
    red_line_kind: str | None = None
    #: with ``red_line_kind``: measure only the part of each record inside those red lines
    red_line_clip: bool = False
    group_by: tuple[str, ...] = ()
    measure: str = "footprint"
    dissolve: bool = True

    def validated(self) -> AreaQuery:
        """Check names against the layer; raise InvalidInput naming the field at fault."""
        if self.layer not in _LAYERS:
            raise InvalidInput(f"layer '{self.layer}' is unknown; use one of {', '.join(LAYERS)}")
        spec = _LAYERS[self.layer]
        date_by = self.date_by or spec.default_date
        if date_by not in spec.dates:
            raise InvalidInput(
                f"date_by '{date_by}' does not apply to {self.layer}; "
                f"use one of {', '.join(spec.dates)}"
            )
        if self.measure not in MEASURES:
            raise InvalidInput(f"measure '{self.measure}' is unknown; use footprint or floor")
        if self.measure == "floor" and self.layer != "structure":
            raise InvalidInput("measure 'floor' (建筑面积) applies to structures only")
        self._check_groups_and_lists(spec)
        if self.red_line_kind is not None and self.red_line_kind not in vocab.RED_LINE_KINDS:
            raise InvalidInput(
                f"red_line_kind '{self.red_line_kind}' is unknown; use one of "
                f"{', '.join(vocab.RED_LINE_KINDS)}"
            )
        if self.red_line_clip and self.red_line_kind is None:
            raise InvalidInput("red_line_clip needs red_line_kind (e.g. basic_farmland)")
        if self.red_line_clip and self.measure == "floor":
            raise InvalidInput("red_line_clip measures footprints only, not floor area")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInput(f"date_from {self.date_from} is after date_to {self.date_to}")
        if self.year is not None and not 1900 <= self.year <= 2999:
            raise InvalidInput(f"year {self.year} is out of range")
        return self

    def _check_groups_and_lists(self, spec: _Layer) -> None:
        allowed = (*spec.groups, "year", "month")
        for key in self.group_by:
            if key not in allowed:
                raise InvalidInput(
                    f"group_by '{key}' does not apply to {self.layer}; use any of "
                    f"{', '.join(allowed)}"
                )
        if len(set(self.group_by)) != len(self.group_by):
            raise InvalidInput(f"group_by names a key twice: {', '.join(self.group_by)}")
        for name in LIST_FILTERS:
            values = getattr(self, name)
            if not values:
                continue
            if name not in spec.lists:
                raise InvalidInput(f"filter '{name}' does not apply to {self.layer}")
            bad = [v for v in values if v not in spec.lists[name]]
            if bad:
                raise InvalidInput(
                    f"{name} {', '.join(bad)} unknown; use any of {', '.join(spec.lists[name])}"
                )

    @property
    def effective_date_by(self) -> str:
        """The date column the query's period applies to."""
        return self.date_by or _LAYERS[self.layer].default_date


@dataclass(frozen=True)
class GroupTotal:
    """Totals of one group (or of the whole selection when ``key`` is empty). Areas in m²."""

    key: dict[str, Any]
    labels: dict[str, str]
    count: int
    area_m2: float
    dissolved_m2: float | None = None
    households: int | None = None

    @property
    def overlap_m2(self) -> float | None:
        """Area counted twice by overlapping footprints (total minus dissolved), m²."""
        return None if self.dissolved_m2 is None else self.area_m2 - self.dissolved_m2

    @property
    def differs(self) -> bool:
        """True when the dissolved area differs from the sum at the reported precision."""
        return self.dissolved_m2 is not None and round_m2(self.dissolved_m2) != round_m2(
            self.area_m2
        )

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        d: dict[str, Any] = {
            "key": self.key,
            "labels": self.labels,
            "count": self.count,
            "households": self.households,
            "area_m2": round_m2(self.area_m2),
            "area_mu": round_mu(self.area_m2),
            "dissolved_m2": None,
            "dissolved_mu": None,
            "overlap_m2": None,
            "differs": self.differs,
            "text": {
                "m2": m2_text(self.area_m2),
                "mu_approx": mu_text(self.area_m2, "approx"),
                "mu_over": mu_text(self.area_m2, "over"),
            },
        }
        if self.dissolved_m2 is not None:
            d["dissolved_m2"] = round_m2(self.dissolved_m2)
            d["dissolved_mu"] = round_mu(self.dissolved_m2)
            d["overlap_m2"] = round_m2(self.area_m2 - self.dissolved_m2)
        return d


@dataclass(frozen=True)
class AreaReport:
    """Grouped totals plus the grand total of one :class:`AreaQuery`."""

    query: AreaQuery
    groups: list[GroupTotal]
    total: GroupTotal
    title: str = ""
    unit: str = "处"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        q = self.query
        return {
            "layer": q.layer,
            "title": self.title,
            "measure": q.measure,
            "measure_label": "建筑面积" if q.measure == "floor" else "占地面积",
            "date_by": q.effective_date_by,
            "group_by": list(q.group_by),
            "filters": {
                "year": q.year,
                "date_from": q.date_from.isoformat() if q.date_from else None,
                "date_to": q.date_to.isoformat() if q.date_to else None,
                "status": list(q.status),
                "category": list(q.category),
                "stock_class": list(q.stock_class),
                "restored_use": list(q.restored_use),
                "ruling": list(q.ruling),
                "change_kind": list(q.change_kind),
                "admin_code": q.admin_code,
                "township": q.township,
                "red_line_kind": q.red_line_kind,
                "red_line_clip": q.red_line_clip,
            },
            "unit": self.unit,
            "rounding": "m² and mu to 2 decimals, half up; mu from unrounded m² (1 mu = 2000/3 m²)",
            "method": METHOD,
            "groups": [g.as_dict() for g in self.groups],
            "total": self.total.as_dict(),
            "notes": self.notes,
        }


def _group_expr(t: Table, key: str, date_col: str) -> ColumnElement[Any]:
    if key == "village":
        return t.c.village_code
    if key == "township":
        return t.c.township_code
    if key == "year":
        return extract("year", t.c[date_col])
    if key == "month":
        return func.to_char(t.c[date_col], literal("YYYY-MM"))
    return t.c[key]


def _source(q: AreaQuery, spec: _Layer) -> Any:
    """The layer's table, or for a query by stock/increment the table with a derived
    ``stock_class`` column (computed per row from the townships' base dates)."""
    if "stock_class" not in q.group_by and not q.stock_class:
        return spec.table
    t = spec.table
    return select(*t.c, stock_class_expr(t).label("stock_class")).subquery("src")


def _conditions(
    session: Session, q: AreaQuery, spec: _Layer, t: Any = None
) -> list[ColumnElement[bool]]:
    t = spec.table if t is None else t
    date_col = t.c[spec.dates[q.effective_date_by]]
    cond: list[ColumnElement[bool]] = [t.c.retired_at.is_(None)]
    if q.year is not None:
        cond.append(date_col.between(dt.date(q.year, 1, 1), dt.date(q.year, 12, 31)))
    if q.date_from is not None:
        cond.append(date_col >= q.date_from)
    if q.date_to is not None:
        cond.append(date_col <= q.date_to)
    for name in LIST_FILTERS:
        values = getattr(q, name)
        if values:
            cond.append(t.c[name].in_(list(values)))
    if q.township is not None:
        cond.append(t.c.township_code == q.township)
    if q.admin_code is not None:
        admin = AdminArea.__table__
        level = session.execute(
            select(admin.c.level).where(admin.c.code == q.admin_code, admin.c.retired_at.is_(None))
        ).scalar_one_or_none()
        if level is None:
            raise NotFound(
                f"admin area '{q.admin_code}' does not exist (see GET /reports/admin-areas or "
                "the admin_area layer for codes)"
            )
        if level in ("village", "community"):
            cond.append(t.c.village_code == q.admin_code)
        else:
            area_geom = select(admin.c.geom).where(admin.c.code == q.admin_code).scalar_subquery()
            cond.append(func.ST_Within(func.ST_PointOnSurface(t.c.geom), area_geom))
    if q.red_line_kind is not None:
        rl = RedLine.__table__
        cond.append(
            exists().where(
                rl.c.kind == q.red_line_kind,
                rl.c.retired_at.is_(None),
                func.ST_Intersects(rl.c.geom, t.c.geom),
                # interiors overlap: touching along an edge is not "lying on" the red line
                func.ST_Relate(rl.c.geom, t.c.geom, literal("T********")),
            )
        )
    return cond


def village_names(session: Session) -> dict[str, str]:
    """Code → Chinese name of every current village, community, grid zone and town."""
    admin = AdminArea.__table__
    rows = session.execute(
        select(admin.c.code, admin.c.name).where(admin.c.retired_at.is_(None))
    ).all()
    return {code: name for code, name in rows}


def _label(key: str, value: Any, names: dict[str, str]) -> str:
    if key == "village":
        return NO_VILLAGE if value is None else names.get(value, value)
    if key == "township":
        return NO_TOWNSHIP if value is None else names.get(value, value)
    if key in ("year", "month"):
        return NO_DATE if value is None else str(value)
    if key == "status":
        return vocab.label({**vocab.STRUCTURE_STATUSES, **vocab.PATCH_STATUSES}, value)
    if key == "stock_class":
        return vocab.label(vocab.STOCK_CLASSES, value) or UNCLASSIFIED_LABEL
    return vocab.label(_VOCAB_FOR_KEY.get(key, {}), value) or "未填"


def build_select(session: Session, q: AreaQuery):
    """The SELECT for ``q`` (validated) as a SQLAlchemy Core statement.

    Without ``group_by``: one aggregate row. With it: a CTE aggregates per group (plain
    ``GROUP BY``, the same plan as a hand-written aggregate, ``ST_Union`` per group when
    dissolving) and the total row sums the CTE; the total dissolved area is one more union over
    the selected records (the only extra work, and only when dissolving).
    """
    spec = _LAYERS[q.layer]
    t = _source(q, spec)
    date_col = spec.dates[q.effective_date_by]
    keys = [_group_expr(t, k, date_col) for k in q.group_by]
    measure: Any = t.c.floor_area_m2 if q.measure == "floor" else t.c.area_m2
    dissolve = q.dissolve and q.measure == "footprint"
    clip: Any = None
    if q.red_line_clip:
        rl = RedLine.__table__
        clip = (
            select(func.ST_Union(rl.c.geom))
            .where(rl.c.kind == q.red_line_kind, rl.c.retired_at.is_(None))
            .scalar_subquery()
        )
        measure = _area_of(_inside(t.c.geom, clip))
    households = q.layer == "structure"
    cols: list[Any] = [k.label(f"k_{name}") for k, name in zip(keys, q.group_by, strict=True)]
    cols.append(func.count().label("n"))
    cols.append(func.coalesce(func.sum(measure), 0.0).label("area_m2"))
    if households:
        cols.append(
            func.sum(t.c.households)
            .filter(t.c.category.in_(sorted(vocab.HOUSEHOLD_CATEGORIES)))
            .label("households")
        )
    where = and_(*_conditions(session, q, spec, t))
    if not keys:
        if dissolve:
            cols.append(_area_of(_inside(func.ST_Union(t.c.geom), clip)).label("dissolved_m2"))
        return select(literal(1).label("is_total_flag"), *cols).where(where)
    if dissolve:
        cols.append(_area_of(_inside(func.ST_Union(t.c.geom), clip)).label("dissolved_m2"))
    g = select(*cols).where(where).group_by(*keys).cte("grouped")
    key_cols = [g.c[f"k_{name}"] for name in q.group_by]
    per_group: list[Any] = [literal(0).label("is_total_flag"), *key_cols, g.c.n, g.c.area_m2]
    total: list[Any] = [
        literal(1).label("is_total_flag"),
        *[null().label(c.name) for c in key_cols],
        func.coalesce(func.sum(g.c.n), 0).label("n"),
        func.coalesce(func.sum(g.c.area_m2), 0.0).label("area_m2"),
    ]
    if households:
        per_group.append(g.c.households)
        total.append(func.sum(g.c.households).label("households"))
    if dissolve:
        per_group.append(g.c.dissolved_m2)
        # one cascaded union of the records: cheaper than overlaying the groups' unions
        everything = (
            select(_area_of(_inside(func.ST_Union(t.c.geom), clip))).where(where).scalar_subquery()
        )
        total.append(everything.label("dissolved_m2"))
    return union_all(select(*per_group), select(*total))


def _inside(geom: Any, clip: Any) -> Any:
    """``geom`` itself, or its polygonal part inside ``clip`` when clipping to red lines."""
    if clip is None:
        return geom
    return func.ST_CollectionExtract(func.ST_Intersection(geom, clip), 3)


def _area_of(geom: Any) -> ColumnElement[float]:
    """Ellipsoidal area (m², CGCS2000 spheroid) of an EPSG:4490 geometry expression; 0 if NULL."""
    return func.coalesce(func.ST_Area(func.geography(geom), True), 0.0)


def _sort_key(g: GroupTotal, spec: _Layer) -> tuple:
    """Groups in the order the report speaks: coded keys in their vocabulary's (Chinese) order
    with 其他 after the named values, other keys by value; a missing value (no village, no
    date, unclassified) last."""
    out: list[Any] = []
    for name, v in g.key.items():
        vocab_of = spec.lists.get(name) or _VOCAB_FOR_KEY.get(name)
        if vocab_of is not None:
            out += [*vocab.order_key(vocab_of, v), str(v)]
        else:
            out += [v is None, v]
    return tuple(out)


def _norm_key(name: str, value: Any) -> Any:
    if name == "year" and value is not None:
        return int(value)
    return value


def area_totals(session: Session, query: AreaQuery) -> AreaReport:
    """Grouped and total areas (m², CGCS2000 ellipsoidal) of the records ``query`` selects."""
    q = query.validated()
    if q.township is not None:
        q = replace(q, township=scope.narrow(session, q.township))
    spec = _LAYERS[q.layer]
    names = village_names(session) if {"village", "township"} & set(q.group_by) else {}
    rows = session.execute(build_select(session, q)).mappings().all()
    groups: list[GroupTotal] = []
    total: GroupTotal | None = None
    for row in rows:
        key = {k: _norm_key(k, row[f"k_{k}"]) for k in q.group_by}
        g = GroupTotal(
            key=key,
            labels={k: _label(k, v, names) for k, v in key.items()},
            count=int(row["n"]),
            area_m2=float(row["area_m2"]),
            dissolved_m2=float(row["dissolved_m2"]) if "dissolved_m2" in row else None,
            households=(None if row.get("households") is None else int(row["households"])),
        )
        if row["is_total_flag"]:
            total = GroupTotal(
                key={}, labels={}, count=g.count, area_m2=g.area_m2,
                dissolved_m2=g.dissolved_m2, households=g.households,
            )  # fmt: skip
        else:
            groups.append(g)
    if total is None:  # unreachable: the total row is always there
        total = GroupTotal(key={}, labels={}, count=0, area_m2=0.0)
    groups.sort(key=lambda g: _sort_key(g, spec))
    notes = []
    if total.differs:
        dissolved = m2_text(total.dissolved_m2 or 0.0)
        notes.append(f"记录面积之和{m2_text(total.area_m2)}，扣除重叠后实际占地{dissolved}")
    return AreaReport(query=q, groups=groups, total=total, title=spec.title, unit=spec.unit,
                      notes=notes)  # fmt: skip


def parse_list(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """``["a,b", "c"]`` or ``"a,b"`` → ``("a", "b", "c")``: lists from query strings and CLI."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return tuple(out)


def layer_spec(layer: str) -> _Layer:
    """The report settings of ``layer``; InvalidInput naming the known layers otherwise."""
    if layer not in _LAYERS:
        raise InvalidInput(f"layer '{layer}' is unknown; use one of {', '.join(LAYERS)}")
    return _LAYERS[layer]


def group_keys(layer: str) -> Sequence[str]:
    """Group keys available for ``layer``."""
    return (*layer_spec(layer).groups, "year", "month")
