"""Lifecycle of a structure case: explicit transitions with who, when and why.

    suspected 疑似 → verified 已核实 → notice_served 责令限期拆除 → demolished 已拆除
                                                                  | rectified 已整改
                                                                  | legalized 补办手续
    suspected | verified → dismissed 不予立案;  verified → rectified | legalized
    suspected | verified → halted 已制止 (new building stopped on site, 制止)
                         → notice_served | demolished | rectified | legalized

``notice_served`` records the notice's deadline (责令限期拆除 期限, ``deadline_on``, required);
a case still ``notice_served`` after it is overdue (:mod:`geo_enforce.ledger.deadlines`).

Closed statuses (demolished, rectified, legalized, dismissed) have no way out: a wrong closure
is corrected by an admin retiring the case and registering it again, so the record of the
mistake stays. Each transition writes a ``structure_transition`` row and updates the dates the
report totals by (``notice_on``, ``demolished_on``, ``closed_on``); the audit trigger records
the row change as well.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import IllegalTransition, InvalidInput, NotFound
from geo_enforce.io import sanity
from geo_enforce.ledger.vocab import CLOSED_STATUSES, STRUCTURE_STATUSES, label
from geo_enforce.storage.locking import check_version
from geo_enforce.storage.models import Structure, StructureTransition

TRANSITIONS: dict[str, frozenset[str]] = {
    "suspected": frozenset({"verified", "halted", "dismissed"}),
    "verified": frozenset({"halted", "notice_served", "rectified", "legalized", "dismissed"}),
    "halted": frozenset({"notice_served", "demolished", "rectified", "legalized"}),
    "notice_served": frozenset({"demolished", "rectified", "legalized"}),
    "demolished": frozenset(),
    "rectified": frozenset(),
    "legalized": frozenset(),
    "dismissed": frozenset(),
}


def allowed_targets(status: str) -> frozenset[str]:
    """The statuses a structure in ``status`` may move to."""
    return TRANSITIONS.get(status, frozenset())


def find_structure(
    session: Session, *, structure_id: int | None = None, case_no: str | None = None
) -> Structure:
    """The current structure by id or case number; NotFound otherwise."""
    if structure_id is not None:
        st = session.get(Structure, structure_id)
    else:
        st = session.scalar(select(Structure).where(Structure.case_no == case_no))
    if st is None or st.retired_at is not None:
        raise NotFound(f"structure {case_no or structure_id} does not exist or was retired")
    return st


def transition(
    session: Session,
    structure: Structure,
    to_status: str,
    *,
    actor: str,
    reason: str,
    effective_on: dt.date | None = None,
    expected_version: int | None = None,
    deadline: dt.date | None = None,
) -> StructureTransition:
    """Move ``structure`` to ``to_status``; refuses illegal moves and stale versions.

    ``effective_on`` is the day it happened in the field (defaults to today); ``reason`` is
    required (执法全过程记录); ``deadline`` (the notice's 期限) is required for
    ``notice_served`` and refused for any other status. Flushes; the caller commits.
    """
    if to_status not in STRUCTURE_STATUSES:
        raise InvalidInput(
            f"status '{to_status}' is unknown; use one of {', '.join(STRUCTURE_STATUSES)}"
        )
    if not reason or not reason.strip():
        raise InvalidInput("a transition needs a reason (处理依据/原因)")
    check_version(structure, expected_version, f"structure {structure.case_no}")
    current = structure.status
    if to_status not in allowed_targets(current):
        allowed = ", ".join(sorted(allowed_targets(current))) or "none (case closed)"
        raise IllegalTransition(
            f"structure {structure.case_no}: cannot go from {current} "
            f"({label(STRUCTURE_STATUSES, current)}) to {to_status} "
            f"({label(STRUCTURE_STATUSES, to_status)}); allowed: {allowed}"
        )
    day = (
        sanity.check_date(effective_on, "effective_on") if effective_on else sanity.beijing_today()
    )
    if structure.discovered_on and day < structure.discovered_on:
        raise InvalidInput(
            f"effective date {day} is before the case was discovered ({structure.discovered_on})"
        )
    if to_status == "notice_served":
        if deadline is None:
            raise InvalidInput(
                f"structure {structure.case_no}: a 责令限期拆除 notice needs its deadline "
                "(期限: deadline / --deadline YYYY-MM-DD)"
            )
        deadline = sanity.check_date(deadline, "deadline")
        if deadline < day:
            raise InvalidInput(
                f"structure {structure.case_no}: deadline {deadline} is before the notice "
                f"was served ({day})"
            )
        structure.deadline_on = deadline
    elif deadline is not None:
        raise InvalidInput(
            f"structure {structure.case_no}: a deadline belongs to notice_served, "
            f"not to {to_status}"
        )
    structure.status = to_status
    if to_status == "notice_served":
        structure.notice_on = day
    if to_status == "halted":
        structure.halted_on = day
    if to_status == "demolished":
        structure.demolished_on = day
    if to_status in CLOSED_STATUSES:
        structure.closed_on = day
    record = StructureTransition(
        structure_id=structure.id,
        from_status=current,
        to_status=to_status,
        actor=actor,
        at=dt.datetime.now(dt.UTC),
        effective_on=day,
        reason=reason.strip(),
    )
    session.add(record)
    session.flush()
    return record


def history(session: Session, structure_id: int) -> list[StructureTransition]:
    """The status transitions of a structure, oldest first."""
    return list(
        session.scalars(
            select(StructureTransition)
            .where(StructureTransition.structure_id == structure_id)
            .order_by(StructureTransition.id)
        )
    )
