"""Stock (存量) and increment (增量): "依据台账消除存量、遏制增量".

Each township (``township`` table, keyed by the code of its ``admin_area`` of level ``town``)
has a base date (基准日, e.g. the day of the baseline survey). A structure case is

- **stock** when it was discovered on or before the base date of the township it belongs to
  (``township_code``: the town its representative point, ``ST_PointOnSurface``, lies in, unless
  set by hand),
- **increment** when discovered after it,
- unclassified (None, 未定) when it has no discovery date or its township has no base date,

unless an editor overrode the class by hand (``stock_override`` with a reason; the audit
trigger records who and when). The class is derived in SQL (:func:`stock_class_expr`) when a
report or list asks for it, so changing a base date re-classifies every case at once; several
townships each with their own base date work the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Table, case, literal, null, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.io import sanity
from geo_enforce.ledger.vocab import STOCK_CLASSES
from geo_enforce.storage.locking import check_version
from geo_enforce.storage.models import AdminArea, Structure, Township

#: label of cases that cannot be classified (no discovery date or no base date)
UNCLASSIFIED_LABEL = "未定"


def base_date_expr(t: Table) -> ColumnElement[dt.date]:
    """Correlated subquery: the base date of the township the row belongs to (its
    ``township_code``, by default the town its representative point lies in; NULL when none)."""
    tw = Township.__table__
    return (
        select(tw.c.base_date)
        .where(tw.c.code == t.c.township_code, tw.c.retired_at.is_(None))
        .limit(1)
        .correlate(t)
        .scalar_subquery()
    )


def stock_class_expr(t: Table | None = None) -> ColumnElement[str | None]:
    """SQL expression of a structure row's class: 'stock', 'increment' or NULL (see module)."""
    t = t if t is not None else Structure.__table__  # type: ignore[assignment]
    assert t is not None
    base = base_date_expr(t)
    return case(
        (t.c.stock_override.is_not(None), t.c.stock_override),
        (t.c.discovered_on.is_(None), null()),
        (t.c.discovered_on <= base, literal("stock")),
        (t.c.discovered_on > base, literal("increment")),
        else_=null(),
    )


def set_base_date(
    session: Session,
    town_code: str,
    base_date: dt.date,
    *,
    note: str | None = None,
    expected_version: int | None = None,
) -> Township:
    """Set the base date of the township whose town ``admin_area`` has ``town_code`` (creating
    its ``township`` row on first use). Flushes; the caller commits."""
    sanity.check_date(base_date, "base_date")
    admin = session.scalar(
        select(AdminArea).where(AdminArea.code == town_code, AdminArea.retired_at.is_(None))
    )
    if admin is None or admin.level != "town":
        towns = session.scalars(
            select(AdminArea.code).where(AdminArea.level == "town", AdminArea.retired_at.is_(None))
        ).all()
        raise NotFound(
            f"'{town_code}' is not the code of a current town (乡镇) in admin_area; "
            f"towns: {', '.join(towns) or 'none loaded'}"
        )
    tw = session.scalar(select(Township).where(Township.code == town_code))
    if tw is None:
        tw = Township(code=town_code, name=admin.name)
        session.add(tw)
    else:
        check_version(tw, expected_version, f"township {town_code}")
    tw.base_date = base_date
    tw.base_note = note.strip() if note and note.strip() else tw.base_note
    session.flush()
    return tw


def townships(session: Session) -> list[Township]:
    """The current townships, by code."""
    return list(
        session.scalars(
            select(Township).where(Township.retired_at.is_(None)).order_by(Township.code)
        )
    )


def classify(session: Session, structure: Structure) -> dict[str, Any]:
    """The case's class with its grounds: ``derived`` (from the base date), ``override``,
    ``effective`` (override else derived), ``base_date`` and the Chinese ``label``."""
    t = Structure.__table__
    base = base_date_expr(t)  # type: ignore[arg-type]
    row = session.execute(
        select(base.label("base_date"), stock_class_expr().label("effective")).where(
            t.c.id == structure.id
        )
    ).one()
    base_date = row.base_date
    derived = None
    if structure.discovered_on is not None and base_date is not None:
        derived = "stock" if structure.discovered_on <= base_date else "increment"
    effective = row.effective
    return {
        "derived": derived,
        "override": structure.stock_override,
        "override_reason": structure.stock_override_reason,
        "effective": effective,
        "label": STOCK_CLASSES.get(effective, UNCLASSIFIED_LABEL),
        "base_date": base_date,
    }


def set_override(
    session: Session,
    structure: Structure,
    value: str | None,
    *,
    reason: str | None,
    expected_version: int | None = None,
) -> Structure:
    """Override the derived class with ``value`` ('stock' or 'increment', with a reason), or
    clear the override (None: back to the class derived from the base date). Flushes."""
    what = f"structure {structure.case_no}"
    check_version(structure, expected_version, what)
    if value is not None and value not in STOCK_CLASSES:
        raise InvalidInput(
            f"{what}: stock class '{value}' is unknown; use stock (存量), increment (增量) "
            "or auto (derived from the base date)"
        )
    if value is not None and (not reason or not reason.strip()):
        raise InvalidInput(f"{what}: overriding stock/increment needs a reason (认定依据)")
    structure.stock_override = value
    structure.stock_override_reason = reason.strip() if value is not None and reason else None
    session.flush()
    session.refresh(structure)
    return structure
