"""Campaigns (专项治理) in the annual report: sentences, the progress table and chart series.

For every current campaign whose period meets the year:

- a sentence in the bureaus' wording: what the campaign demolished in the year, village by
  village ("违建别墅专项治理拆除王村违建别墅29户10862平方米"), then where it stands against its
  target on the report's day: "已完成三年拆违任务" when every target is met, "累计完成目标任务的
  85%" while it runs, "未完成…任务" after its end;
- a row of the table 专项治理进展 (cumulative on the report's day);
- a bar of the progress chart (share of the target).

Counts are households (户) when the campaign counts households or its scope holds only
household categories (违建别墅), cases (处) otherwise. Areas are the stored ``area_m2`` (see
:mod:`geo_enforce.ledger.campaigns`), whole m² in prose, 2 decimals in the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from geo_enforce.ledger import vocab
from geo_enforce.ledger.campaigns import CampaignProgress, campaigns, progress
from geo_enforce.reports.annual import COL_INT, COL_M2, COL_TEXT, ReportTable
from geo_enforce.reports.phrasing import cn_date, m2_text, round_m2, whole
from geo_enforce.storage.campaigns import Campaign

COLUMNS = ("专项治理", "起止日期", "目标", "纳入(处)", "已拆除(处)", "已拆除(户)",
           "已拆除面积(平方米)", "完成率", "状态")  # fmt: skip
STATE_LABELS = {
    "met": "已完成",
    "running": "进行中",
    "ended": "未完成",
    "not_started": "未开始",
}


@dataclass
class CampaignSection:
    """The campaigns' part of one year's report."""

    paragraphs: list[str] = field(default_factory=list)
    table: ReportTable | None = None
    #: chart series: (name, share of the target, label such as "10862/15000平方米")
    chart: list[tuple[str, float, str]] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)


def _households(c: Campaign) -> bool:
    cats = set(c.scope_categories or [])
    return c.count_unit == "household" or bool(cats and cats <= vocab.HOUSEHOLD_CATEGORIES)


def _what(c: Campaign) -> str:
    cats = list(c.scope_categories or [])
    return vocab.STRUCTURE_CATEGORIES[cats[0]] if len(cats) == 1 else "违法建设"


def target_text(c: Campaign) -> str:
    """ "15000平方米、30户": the campaign's targets as the report writes them."""
    parts = []
    if c.target_m2 is not None:
        parts.append(m2_text(c.target_m2))
    if c.target_count is not None:
        parts.append(f"{c.target_count}{vocab.CAMPAIGN_COUNT_UNITS[c.count_unit]}")
    return "、".join(parts)


def progress_label(p: CampaignProgress) -> str:
    """ "10862/15000平方米" (the area target if any, else the count): for the chart."""
    if p.target_m2 is not None:
        return f"{whole(p.done_m2)}/{whole(p.target_m2)}平方米"
    unit = vocab.CAMPAIGN_COUNT_UNITS[p.count_unit]
    return f"{p.done_units}/{p.target_count}{unit}"


def campaign_sentence(c: Campaign, year: CampaignProgress, total: CampaignProgress) -> str:
    """One campaign's sentence: the year's demolitions by village, then the target."""
    unit = "户" if _households(c) else "处"
    what = _what(c)

    def n(x: Any) -> int:
        return int(x.households if unit == "户" else x.count)

    if year.done_count:
        parts = [f"{v.village}{what}{n(v)}{unit}{m2_text(v.area_m2)}" for v in year.by_village]
        s = f"{c.name}拆除" + "、".join(parts)
        if len(parts) > 1:
            done = year.done_households if unit == "户" else year.done_count
            s += f"，共计{done}{unit}{m2_text(year.done_m2)}"
    else:
        s = f"{c.name}本年度无拆除记录"
    if total.met:
        s += f"，已完成{c.name}任务"
    elif total.state == "ended":
        s += f"，未完成{c.name}任务（完成目标的{whole(100 * total.share)}%）"
    elif total.state == "running":
        s += f"，累计完成目标任务的{whole(100 * total.share)}%"
    return s + "。"


def campaign_section(
    session: Session, year: int, as_of: dt.date, *, township: str | None = None
) -> CampaignSection:
    """Sentences, table and chart series of the campaigns whose period meets ``year`` (of
    ``township`` alone when given); the year's demolitions count from 1 January, the targets
    on ``as_of`` (the report's day)."""
    out = CampaignSection()
    year_span = (dt.date(year, 1, 1), dt.date(year, 12, 31))
    active = campaigns(session, active_in=year_span, township=township)
    if not active:
        return out
    rows: list[list[Any]] = []
    exact: list[list[Any]] = []
    for c in active:
        in_year = progress(session, c, as_of, since=dt.date(year, 1, 1))
        total = progress(session, c, as_of)
        out.paragraphs.append(campaign_sentence(c, in_year, total))
        out.chart.append((c.name, total.share, progress_label(total)))
        out.figures.append({**total.as_dict(), "year_done_m2": round_m2(in_year.done_m2),
                            "year_done_count": in_year.done_count})  # fmt: skip
        row = [
            c.name, f"{cn_date(c.starts_on)}至{cn_date(c.ends_on)}", target_text(c),
            total.tagged_count, total.done_count, total.done_households,
            round_m2(total.done_m2), f"{whole(100 * total.share)}%", STATE_LABELS[total.state],
        ]  # fmt: skip
        rows.append(row)
        exact.append([*row[:6], total.done_m2, *row[7:]])
    out.table = ReportTable(
        "campaigns",
        "专项治理进展",
        list(COLUMNS),
        [COL_TEXT, COL_TEXT, COL_TEXT, COL_INT, COL_INT, COL_INT, COL_M2, COL_TEXT, COL_TEXT],
        rows,
        None,
        f"累计至{cn_date(as_of)}；完成率按目标面积或户数/处数计，两者都有时取较低者。",
        exact_rows=exact,
    )
    return out
