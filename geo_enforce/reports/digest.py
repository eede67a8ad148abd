"""The daily digest (每日提示) of the enforcement ledger: overdue notices, notices falling due,
and cases stopped on site (制止) still waiting for their next step.

``geo-enforce structure digest`` prints it or writes it as a UTF-8 text file for the squad's
group chat or mail; :func:`digest_text` is the same text for other callers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger.deadlines import DeadlineCase, due_soon, overdue
from geo_enforce.ledger.vocab import STRUCTURE_CATEGORIES, label
from geo_enforce.reports.phrasing import cn_date, m2_text
from geo_enforce.storage.models import Structure


def _line(n: int, c: DeadlineCase, as_of: dt.date) -> str:
    where = c.village + (f"{c.address}" if c.address else "")
    if c.days_overdue > 0:
        when = f"期限{cn_date(c.deadline_on)}，已逾期{c.days_overdue}天"
    elif c.days_overdue == 0:
        when = f"期限{cn_date(c.deadline_on)}，今日到期"
    else:
        when = f"期限{cn_date(c.deadline_on)}，还剩{-c.days_overdue}天"
    return f"  {n}. {c.case_no} {where} {c.category_label}{m2_text(c.area_m2)}，{when}"


def digest_text(session: Session, as_of: dt.date | None = None, *, within_days: int = 7) -> str:
    """The digest for ``as_of`` (default today) as Chinese text, one case per line."""
    day = as_of or beijing_today()
    late = overdue(session, day)
    soon = due_soon(session, day, within_days=within_days)
    halted = session.scalars(
        select(Structure)
        .where(Structure.retired_at.is_(None), Structure.status == "halted")
        .order_by(Structure.halted_on, Structure.case_no)
    ).all()
    lines = [f"违法建设台账每日提示（{cn_date(day)}）", ""]
    lines.append(f"一、逾期未拆除{len(late)}处" + ("：" if late else "。"))
    lines += [_line(i, c, day) for i, c in enumerate(late, start=1)]
    lines.append(f"二、{within_days}日内到期{len(soon)}处" + ("：" if soon else "。"))
    lines += [_line(i, c, day) for i, c in enumerate(soon, start=1)]
    lines.append(f"三、已制止待处理{len(halted)}处" + ("：" if halted else "。"))
    for i, st in enumerate(halted, start=1):
        since = f"{cn_date(st.halted_on)}制止" if st.halted_on else "已制止"
        lines.append(
            f"  {i}. {st.case_no} {label(STRUCTURE_CATEGORIES, st.category)}"
            f"{m2_text(st.area_m2)}，{since}"
        )
    return "\n".join(lines) + "\n"
