"""The quarterly table of ministry patches (卫片图斑): counts and areas by ruling.

Areas are the trigger-maintained ellipsoidal ``change_patch.area_m2``/``area_mu`` (CGCS2000),
never the ministry's reported 监测面积. A patch ruled illegal without a rectification status
(e.g. ruled through ``/rulings``) counts as 未整改.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput
from geo_enforce.geometry.areas import m2_to_mu
from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger.vocab import RECTIFICATION_STATUSES, RULINGS
from geo_enforce.reports.annual import COL_INT, COL_M2, COL_MU, COL_TEXT, ReportTable

#: Row order of the table: the rulings in the order the report speaks, then the unruled.
ROW_ORDER = ("legal", "illegal", "other", "false_change", "pending")
ROW_LABELS = {**RULINGS, "false_change": "伪变化（未变化）", "pending": "未认定"}
_CN_DIGITS = {"一": "1", "二": "2", "三": "3", "四": "4"}
_QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}
_PATTERN = re.compile(r"^\s*(\d{4})\s*(?:年|-|/|\s)?\s*(?:第)?\s*[Qq]?\s*([1-4])\s*(?:季度?)?\s*$")


def parse_quarter(value: str) -> str:
    """``2024Q3`` from ``2024Q3``, ``2024-Q3``, ``2024q3``, ``2024年第三季度`` or ``2024年3季度``.

    Raises :class:`InvalidInput` for anything else.
    """
    s = str(value).strip()
    for cn, digit in _CN_DIGITS.items():
        s = s.replace(f"第{cn}", f"第{digit}").replace(f"{cn}季", f"{digit}季")
    m = _PATTERN.match(s)
    if m is None:
        raise InvalidInput(
            f"quarter {str(value)[:40]!r} is not a quarter; write it as 2024Q3 (or 2024年第三季度)"
        )
    year = int(m.group(1))
    if not 1990 <= year <= beijing_today().year + 1:
        raise InvalidInput(f"quarter {value!r}: year {year} is not plausible")
    return f"{year}Q{m.group(2)}"


def quarter_of(day: dt.date) -> str:
    """The quarter (``2024Q3``) a day falls in."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_label(quarter: str) -> str:
    """``2024Q3`` → ``2024年第三季度``."""
    q = parse_quarter(quarter)
    return f"{q[:4]}年{_QUARTER_NAMES[int(q[-1])]}"


@dataclass(frozen=True)
class QuarterRow:
    """One ruling's patches of the quarter: count, areas (m², 亩), rectification counts."""

    ruling: str
    label: str
    count: int
    area_m2: float
    area_mu: float
    not_started: int = 0
    in_progress: int = 0
    done: int = 0


@dataclass
class QuarterTable:
    """The quarter's rows in :data:`ROW_ORDER` (every ruling listed, zero or not) and totals."""

    quarter: str
    label: str
    rows: list[QuarterRow] = field(default_factory=list)

    @property
    def total(self) -> QuarterRow:
        """The totals row (合计)."""
        area = sum(r.area_m2 for r in self.rows)
        return QuarterRow(
            ruling="total",
            label="合计",
            count=sum(r.count for r in self.rows),
            area_m2=area,
            area_mu=m2_to_mu(area),
            not_started=sum(r.not_started for r in self.rows),
            in_progress=sum(r.in_progress for r in self.rows),
            done=sum(r.done for r in self.rows),
        )

    def as_dict(self) -> dict:
        """JSON-ready values, areas rounded to 0.01 m² and 0.0001 亩."""

        def row(r: QuarterRow) -> dict:
            return {
                "ruling": r.ruling,
                "label": r.label,
                "count": r.count,
                "area_m2": round(r.area_m2, 2),
                "area_mu": round(r.area_mu, 4),
                "rectification": {
                    "not_started": r.not_started,
                    "in_progress": r.in_progress,
                    "done": r.done,
                },
            }

        return {
            "quarter": self.quarter,
            "label": self.label,
            "rows": [row(r) for r in self.rows],
            "total": row(self.total),
        }

    def report_table(self) -> ReportTable:
        """The table in the reports' shape (Chinese headers; XLSX writes ``=SUM()`` totals)."""
        columns = [
            "认定结果",
            "图斑数（个）",
            "面积（平方米）",
            "面积（亩）",
            *(f"{v}（个）" for v in RECTIFICATION_STATUSES.values()),
        ]
        kinds = [COL_TEXT, COL_INT, COL_M2, COL_MU, COL_INT, COL_INT, COL_INT]

        def cells(r: QuarterRow, digits: bool) -> list:
            m2 = round(r.area_m2, 2) if digits else r.area_m2
            mu = round(r.area_mu, 2) if digits else r.area_mu
            return [r.label, r.count, m2, mu, r.not_started, r.in_progress, r.done]

        return ReportTable(
            name=f"mnr_{self.quarter}",
            title=f"{_QUARTER_NAMES[int(self.quarter[-1])]}卫片执法图斑认定情况统计表",
            columns=columns,
            kinds=kinds,
            rows=[cells(r, True) for r in self.rows],
            total=cells(self.total, True),
            note=(
                "面积为图斑在CGCS2000椭球面上的面积；整改情况只统计认定为违法的图斑。"
                f"统计范围：{self.label}下发的卫片执法图斑。"
            ),
            exact_rows=[cells(r, False) for r in self.rows],
        )


_QUARTER_SQL = """
SELECT coalesce(p.ruling, 'pending') AS ruling,
       CASE WHEN p.ruling = 'illegal' THEN coalesce(p.rectification, 'not_started') END AS rect,
       count(*) AS n, coalesce(sum(p.area_m2), 0) AS m2
FROM change_patch p JOIN mnr_patch m ON m.change_patch_id = p.id
WHERE p.source = 'mnr' AND p.retired_at IS NULL AND m.retired_at IS NULL
  AND m.quarter = :quarter
GROUP BY 1, 2
"""


def quarter_table(session: Session, quarter: str) -> QuarterTable:
    """Counts and areas of the quarter's current ministry patches by ruling (see module doc)."""
    q = parse_quarter(quarter)
    acc: dict[str, dict] = {k: {"n": 0, "m2": 0.0} for k in ROW_ORDER}
    for r in session.execute(text(_QUARTER_SQL), {"quarter": q}):
        a = acc[r.ruling]
        a["n"] += int(r.n)
        a["m2"] += float(r.m2)
        if r.rect:
            a[r.rect] = a.get(r.rect, 0) + int(r.n)
    rows = [
        QuarterRow(
            ruling=k,
            label=ROW_LABELS[k],
            count=a["n"],
            area_m2=a["m2"],
            area_mu=m2_to_mu(a["m2"]),
            not_started=a.get("not_started", 0),
            in_progress=a.get("in_progress", 0),
            done=a.get("done", 0),
        )
        for k, a in acc.items()
    ]
    return QuarterTable(quarter=q, label=quarter_label(q), rows=rows)


def quarter_xlsx(table: QuarterTable) -> bytes:
    """The quarterly table as an XLSX workbook in the annual report's style."""
    from geo_enforce.reports.export import tables_xlsx_bytes

    return tables_xlsx_bytes(int(table.quarter[:4]), [table.report_table()])
