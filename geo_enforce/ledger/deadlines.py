"""Deadlines of 责令限期拆除 notices: what is overdue and what falls due soon.

A notice served by the ``notice_served`` transition records its deadline (``deadline_on``). A
case is **overdue on day d** when its deadline is before d and it was still open on d: it is
``notice_served`` now, or it was closed (demolished, rectified, legalized) only after d. The
same condition serves today's list (the API, CLI, map filter and the daily digest) and the
annual report's count at year end.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, or_, select
from sqlalchemy.orm import Session

from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger.vocab import STRUCTURE_CATEGORIES, label
from geo_enforce.storage.models import AdminArea, Structure


def overdue_condition(t: Table, as_of: dt.date) -> ColumnElement[bool]:
    """Rows of structure table ``t`` whose notice deadline had passed, still open, on ``as_of``."""
    return and_(
        t.c.retired_at.is_(None),
        t.c.deadline_on.is_not(None),
        t.c.deadline_on < as_of,
        or_(t.c.status == "notice_served", t.c.closed_on > as_of),
    )


def due_condition(t: Table, as_of: dt.date, within_days: int) -> ColumnElement[bool]:
    """Open notices whose deadline falls in ``as_of`` … ``as_of + within_days``."""
    return and_(
        t.c.retired_at.is_(None),
        t.c.status == "notice_served",
        t.c.deadline_on.between(as_of, as_of + dt.timedelta(days=within_days)),
    )


@dataclass(frozen=True)
class DeadlineCase:
    """One case with a notice deadline, as the lists and the digest show it."""

    id: int
    case_no: str
    village_code: str | None
    village: str
    category: str
    category_label: str
    address: str | None
    notice_on: dt.date | None
    deadline_on: dt.date
    #: days past the deadline on ``as_of`` (negative: days left)
    days_overdue: int
    area_m2: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (dates as ISO text)."""
        return {
            "id": self.id,
            "case_no": self.case_no,
            "village_code": self.village_code,
            "village": self.village,
            "category": self.category,
            "category_label": self.category_label,
            "address": self.address,
            "notice_on": self.notice_on.isoformat() if self.notice_on else None,
            "deadline_on": self.deadline_on.isoformat(),
            "days_overdue": self.days_overdue,
            "area_m2": round(self.area_m2, 2),
        }


def _cases(
    session: Session,
    cond: ColumnElement[bool],
    as_of: dt.date,
    village_code: str | None,
    township: str | None = None,
) -> list[DeadlineCase]:
    t = Structure.__table__
    admin = AdminArea.__table__
    stmt = (
        select(
            t.c.id, t.c.case_no, t.c.village_code, admin.c.name.label("village"), t.c.category,
            t.c.address, t.c.notice_on, t.c.deadline_on, t.c.area_m2,
        )
        .select_from(
            t.outerjoin(
                admin, and_(admin.c.code == t.c.village_code, admin.c.retired_at.is_(None))
            )
        )
        .where(cond)
        .order_by(t.c.deadline_on, t.c.case_no)
    )  # fmt: skip
    if village_code is not None:
        stmt = stmt.where(t.c.village_code == village_code)
    if township is not None:
        stmt = stmt.where(t.c.township_code == township)
    return [
        DeadlineCase(
            id=r.id,
            case_no=r.case_no,
            village_code=r.village_code,
            village=r.village or r.village_code or "未划定村",
            category=r.category,
            category_label=label(STRUCTURE_CATEGORIES, r.category),
            address=r.address,
            notice_on=r.notice_on,
            deadline_on=r.deadline_on,
            days_overdue=(as_of - r.deadline_on).days,
            area_m2=float(r.area_m2),
        )
        for r in session.execute(stmt)
    ]


def overdue(
    session: Session,
    as_of: dt.date | None = None,
    *,
    village_code: str | None = None,
    township: str | None = None,
) -> list[DeadlineCase]:
    """Cases overdue on ``as_of`` (default today), longest overdue first (of one township's
    records with ``township``; the session sees its own townships' only anyway)."""
    day = as_of or beijing_today()
    cond = overdue_condition(Structure.__table__, day)  # type: ignore[arg-type]
    return _cases(session, cond, day, village_code, township)


def due_soon(
    session: Session,
    as_of: dt.date | None = None,
    *,
    within_days: int = 7,
    village_code: str | None = None,
) -> list[DeadlineCase]:
    """Open notices falling due within ``within_days`` of ``as_of`` (default today)."""
    day = as_of or beijing_today()
    cond = due_condition(Structure.__table__, day, within_days)  # type: ignore[arg-type]
    return _cases(session, cond, day, village_code)


def overdue_geojson(
    session: Session, as_of: dt.date | None = None, *, village_code: str | None = None
) -> dict[str, Any]:
    """:func:`overdue` as a GeoJSON FeatureCollection (CRS84 lon/lat) for the map."""
    day = as_of or beijing_today()
    cases = overdue(session, day, village_code=village_code)
    t = Structure.__table__
    geoms = dict(
        session.execute(
            select(t.c.id, func.ST_AsGeoJSON(t.c.geom, 8)).where(t.c.id.in_([c.id for c in cases]))
        ).all()
    )
    return {
        "type": "FeatureCollection",
        "as_of": day.isoformat(),
        "features": [
            {
                "type": "Feature",
                "id": c.id,
                "geometry": json.loads(geoms[c.id]),
                "properties": c.as_dict(),
            }
            for c in cases
        ],
    }
