"""The year's data for the enforcement report (行政执法工作报告): tables and paragraphs.

:func:`build_annual` runs the area queries for one calendar year and returns an
:class:`AnnualReport`: the key figures, the Chinese paragraphs in the report's style
("2024年，全镇拆除违法建设共计200216平方米…其中拆除大任庄村违建168500平方米…"), and the tables
beneath them, each with a totals row (合计). Areas are CGCS2000 ellipsoidal m² (the stored
official areas); tables show m² and mu to 2 decimals, prose whole m² and approximate mu, as
:mod:`geo_enforce.reports.phrasing` defines.

Which records a year holds: structures with status ``demolished`` and a demolition date in the
year; cleared parcels cleared in the year; change patches detected in the year; new cases
discovered in the year (any status). Stock and increment (存量/增量, from the township's base
date, :mod:`geo_enforce.ledger.stock`): cases found, stopped on site (制止, ``halted_on``) and
demolished in the year per class; overdue notices (逾期未拆除) on the last day of the year (or
today, for the current year), :mod:`geo_enforce.ledger.deadlines`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from geo_enforce.geometry.areas import m2_to_mu
from geo_enforce.io.sanity import beijing_today
from geo_enforce.ledger import vocab
from geo_enforce.ledger.deadlines import DeadlineCase, overdue
from geo_enforce.ledger.stock import UNCLASSIFIED_LABEL
from geo_enforce.reports.phrasing import (
    cn_date,
    count_text,
    households_text,
    m2_text,
    mu_text,
    round_m2,
    round_mu,
)
from geo_enforce.reports.query import AreaQuery, AreaReport, GroupTotal, area_totals
from geo_enforce.storage import scope

#: column kinds drive number formats in XLSX/DOCX: text, int, m2, mu
COL_TEXT, COL_INT, COL_M2, COL_MU = "text", "int", "m2", "mu"


@dataclass
class ReportTable:
    """One table of the report: a Chinese title, headers, rows and a totals row (合计)."""

    name: str  # file-safe identifier: CSV file name, JSON key
    title: str  # Chinese title: sheet name, DOCX caption
    columns: list[str]
    kinds: list[str]
    rows: list[list[Any]]
    total: list[Any] | None = None
    note: str = ""
    #: columns whose total is not the sum of the rows (a dissolved area): XLSX writes the
    #: value there, a ``=SUM()`` formula in every other numeric column
    value_totals: tuple[str, ...] = ()
    #: the rows' numbers unrounded (same shape as ``rows``), when known: XLSX cells hold them
    #: (shown to 2 decimals), so a ``=SUM()`` total shows the same figure as the other formats
    exact_rows: list[list[Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The table (or report) as JSON-ready values."""
        return {
            "name": self.name,
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "total": self.total,
            "note": self.note,
        }


@dataclass
class AnnualReport:
    """The year's figures, paragraphs, tables (areas in m², rounded) and chart series."""

    year: int
    town_name: str
    figures: dict[str, Any]
    paragraphs: list[str]
    tables: list[ReportTable]
    by_village_m2: list[tuple[str, float]]  # chart: demolished area by village (unrounded)
    by_month_m2: list[tuple[str, float]]  # chart: demolished area month by month (unrounded)
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    #: the day overdue notices are counted on (year end, or today for the current year)
    as_of: dt.date | None = None
    #: chart: campaigns (专项治理) as (name, share of the target, "10862/15000平方米")
    campaign_progress: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def date_text(self) -> str:
        """The document's date as official documents write it: "2024年12月31日"."""
        return cn_date(dt.datetime.fromisoformat(self.generated_at).date())

    @property
    def title(self) -> str:
        """The report's Chinese title."""
        return f"{self.town_name}{self.year}年度违法建设治理情况统计"

    def table(self, name: str) -> ReportTable:
        """The table called ``name``; NotFound otherwise."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """The table (or report) as JSON-ready values."""
        return {
            "year": self.year,
            "title": self.title,
            "town_name": self.town_name,
            "generated_at": self.generated_at,
            "date_text": self.date_text,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "figures": self.figures,
            "paragraphs": self.paragraphs,
            "tables": [t.as_dict() for t in self.tables],
            "charts": {
                "by_village_m2": [(k, round_m2(v)) for k, v in self.by_village_m2],
                "by_month_m2": [(k, round_m2(v)) for k, v in self.by_month_m2],
                "campaign_progress": self.campaign_progress,
            },
            "method": "CGCS2000 ellipsoidal areas; m² and mu to 2 decimals, half up",
        }

    def to_json(self) -> str:
        """The report as JSON text (Chinese kept as is)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)


def _town_name(session: Session, township: str | None) -> str:
    """The report's 发文机关 part: the township's name; the names of the townships seen
    (several: "津西示范镇、滨海示范街道"); "全镇" when no town is loaded."""
    names = scope.town_names(session)
    if township is not None:
        return names.get(township, township)
    return "、".join(names.values()) or "全镇"


def _whole(town_name: str, several: bool) -> str:
    """How the prose names the whole area: 全镇, 全乡, 全街道 (a subdistrict), 全区 (several)."""
    if several:
        return "全区"
    for suffix in ("街道", "乡", "镇"):
        if town_name.endswith(suffix):
            return "全" + suffix
    return "全镇"


def _area_row(
    label: str, g: GroupTotal, *, households: bool, dissolved: bool, exact: bool = False
) -> list[Any]:
    """A table row of ``g``: areas rounded for display, or unrounded with ``exact``."""
    m2, mu = (float, m2_to_mu) if exact else (round_m2, round_mu)
    row: list[Any] = [label, g.count]
    if households:
        row.append(g.households or 0)
    row += [m2(g.area_m2), mu(g.area_m2)]
    if dissolved:
        row.append(m2(g.dissolved_m2 if g.dissolved_m2 is not None else g.area_m2))
    return row


def _area_table(
    name: str,
    title: str,
    rep: AreaReport,
    key: str,
    *,
    first_col: str,
    count_col: str,
    households: bool = False,
    dissolved: bool = True,
) -> ReportTable:
    cols = [first_col, count_col]
    kinds = [COL_TEXT, COL_INT]
    if households:
        cols.append("户数")
        kinds.append(COL_INT)
    cols += ["面积(平方米)", "面积(亩)"]
    kinds += [COL_M2, COL_MU]
    if dissolved:
        cols.append("扣除重叠后面积(平方米)")
        kinds.append(COL_M2)
    rows = [
        _area_row(g.labels.get(key, ""), g, households=households, dissolved=dissolved)
        for g in rep.groups
    ]
    total = _area_row("合计", rep.total, households=households, dissolved=dissolved)
    note = ""
    if dissolved and rep.total.differs:
        note = "部分图斑相互重叠：面积为各记录之和，扣除重叠后面积按图斑合并计算。"
    not_summed = ("扣除重叠后面积(平方米)",) if dissolved else ()
    exact = [
        _area_row(g.labels.get(key, ""), g, households=households, dissolved=dissolved,
                  exact=True)
        for g in rep.groups
    ]  # fmt: skip
    return ReportTable(name, title, cols, kinds, rows, total, note, not_summed, exact)


def build_annual(session: Session, year: int, *, township: str | None = None) -> AnnualReport:
    """Run the year's queries and assemble figures, paragraphs and tables (CGCS2000 m²).

    ``township`` (a town code): that township's report; the transaction is narrowed to it
    (:func:`geo_enforce.storage.scope.narrow`: one of the caller's townships only), so every
    figure, list and campaign is that township's. Without it: the one township the caller sees
    when there is one, else every township the caller sees, together (全区).
    """
    if township is not None:
        township = scope.narrow(session, township)
    else:
        township = scope.default_township(session)
    several = township is None and len(scope.visible_towns(session)) > 1
    demolished = AreaQuery(
        layer="structure", year=year, date_by="demolished", status=("demolished",),
        township=township,
    )  # fmt: skip
    by_village = area_totals(session, replace(demolished, group_by=("village",)))
    by_category = area_totals(session, replace(demolished, group_by=("category",)))
    floor_by_category = area_totals(
        session, replace(demolished, group_by=("category",), measure="floor", dissolve=False)
    )
    # the month and discovered tables show no dissolved column: no union to compute for them
    by_month = area_totals(session, replace(demolished, group_by=("month",), dissolve=False))
    villas = area_totals(session, replace(demolished, category=("villa",), group_by=("village",)))
    discovered = area_totals(
        session,
        AreaQuery(
            layer="structure", year=year, date_by="discovered", group_by=("status",),
            dissolve=False, township=township,
        ),
    )  # fmt: skip
    cleared = area_totals(
        session,
        AreaQuery(layer="cleared_parcel", year=year, group_by=("village",), township=township),
    )
    patches = area_totals(
        session,
        AreaQuery(
            layer="change_patch", year=year, group_by=("ruling",), dissolve=False,
            township=township,
        ),
    )  # fmt: skip
    town = _town_name(session, township)
    as_of = min(dt.date(year, 12, 31), beijing_today())
    stock = _stock_increment(session, year, township)
    late = overdue(session, as_of, township=township)

    tables = [
        _area_table(
            "demolished_by_village", "按村拆除违法建设", by_village, "village",
            first_col="村/社区", count_col="处数", households=True,
        ),
        _area_table(
            "demolished_by_category", "按类别拆除违法建设", by_category, "category",
            first_col="类别", count_col="处数", households=True,
        ),
        _area_table(
            "villas_by_village", "违建别墅专项治理", villas, "village",
            first_col="村/社区", count_col="处数", households=True,
        ),
        _area_table(
            "demolished_by_month", "按月拆除违法建设", by_month, "month",
            first_col="月份", count_col="处数", dissolved=False,
        ),
        _area_table(
            "cleared_by_village", "治理违法占地", cleared, "village",
            first_col="村/社区", count_col="宗数",
        ),
        _area_table(
            "patches_by_ruling", "变化图斑核查", patches, "ruling",
            first_col="认定结果", count_col="个数", dissolved=False,
        ),
        _area_table(
            "discovered_by_status", "新发现违法建设(按当前状态)", discovered, "status",
            first_col="状态", count_col="处数", dissolved=False,
        ),
        _stock_table(stock),
        _overdue_table(late, as_of),
    ]  # fmt: skip
    # floor area (建筑面积) beside the footprint in the category table
    floor = {g.key["category"]: g.area_m2 for g in floor_by_category.groups}
    cat_table = tables[1]
    cat_table.columns.insert(5, "建筑面积(平方米)")
    cat_table.kinds.insert(5, COL_M2)
    for g, row in zip(by_category.groups, cat_table.rows, strict=True):
        row.insert(5, round_m2(floor.get(g.key["category"], 0.0)))
    for g, row in zip(by_category.groups, cat_table.exact_rows or [], strict=True):
        row.insert(5, floor.get(g.key["category"], 0.0))
    assert cat_table.total is not None
    cat_table.total.insert(5, round_m2(floor_by_category.total.area_m2))

    figures = {
        "demolished_count": by_village.total.count,
        "demolished_m2": round_m2(by_village.total.area_m2),
        "demolished_mu": round_mu(by_village.total.area_m2),
        "demolished_dissolved_m2": round_m2(by_village.total.dissolved_m2 or 0.0),
        "demolished_floor_m2": round_m2(floor_by_category.total.area_m2),
        "villa_households": villas.total.households or 0,
        "villa_count": villas.total.count,
        "villa_m2": round_m2(villas.total.area_m2),
        "cleared_count": cleared.total.count,
        "cleared_m2": round_m2(cleared.total.area_m2),
        "cleared_mu": round_mu(cleared.total.area_m2),
        "cleared_dissolved_m2": round_m2(cleared.total.dissolved_m2 or 0.0),
        "patch_count": patches.total.count,
        "patch_m2": round_m2(patches.total.area_m2),
        "discovered_count": discovered.total.count,
        "discovered_m2": round_m2(discovered.total.area_m2),
        **_stock_figures(stock),
        "overdue_count": len(late),
        "overdue_m2": round_m2(sum(c.area_m2 for c in late)),
    }
    paragraphs = _paragraphs(
        year, by_village, villas, cleared, patches, discovered, whole=_whole(town, several)
    )
    paragraphs += _stock_paragraphs(stock, late, as_of)
    from geo_enforce.reports.campaigns import campaign_section  # imports this module

    campaign = campaign_section(session, year, as_of, township=township)
    paragraphs += campaign.paragraphs
    tables += [campaign.table] if campaign.table is not None else []
    figures["campaigns"] = campaign.figures
    month_area = {g.key["month"]: g.area_m2 for g in by_month.groups}
    months = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    return AnnualReport(
        year=year,
        town_name=town,
        figures=figures,
        paragraphs=paragraphs,
        tables=tables,
        by_village_m2=[(g.labels["village"], g.area_m2) for g in by_village.groups],
        by_month_m2=[(m, month_area.get(m, 0.0)) for m in months],
        as_of=as_of,
        campaign_progress=campaign.chart,
    )


#: the three stock/increment selections of a year: found, stopped on site, demolished
_STOCK_PARTS = ("discovered", "halted", "demolished")


def _stock_increment(
    session: Session, year: int, township: str | None = None
) -> dict[str, AreaReport]:
    """The year's cases found, stopped (制止) and demolished, grouped stock/increment."""
    out = {}
    for part in _STOCK_PARTS:
        out[part] = area_totals(
            session,
            AreaQuery(
                layer="structure", year=year, date_by=part, group_by=("stock_class",),
                status=("demolished",) if part == "demolished" else (), dissolve=False,
                township=township,
            ),
        )  # fmt: skip
    return out


def _by_class(rep: AreaReport) -> dict[str | None, GroupTotal]:
    return {g.key["stock_class"]: g for g in rep.groups}


def _stock_figures(stock: dict[str, AreaReport]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for part, rep in stock.items():
        groups = _by_class(rep)
        for cls in (*vocab.STOCK_CLASSES, None):
            g = groups.get(cls)
            name = f"{cls or 'unclassified'}_{part}"
            figures[f"{name}_count"] = g.count if g else 0
            figures[f"{name}_m2"] = round_m2(g.area_m2) if g else 0.0
    figures["halted_count"] = stock["halted"].total.count
    figures["halted_m2"] = round_m2(stock["halted"].total.area_m2)
    return figures


def _stock_table(stock: dict[str, AreaReport]) -> ReportTable:
    """存量与增量: per class, cases found, stopped on site and demolished (count, m², mu)."""
    found, halted, demolished = (_by_class(stock[p]) for p in _STOCK_PARTS)
    classes: list[str | None] = [*vocab.STOCK_CLASSES]
    if any(None in d for d in (found, halted, demolished)):
        classes.append(None)
    empty = GroupTotal(key={}, labels={}, count=0, area_m2=0.0)

    def row(name: str, f: GroupTotal, h: GroupTotal, d: GroupTotal) -> list[Any]:
        return [name, f.count, h.count, d.count, round_m2(d.area_m2), round_mu(d.area_m2)]

    rows = [
        row(
            vocab.STOCK_CLASSES.get(c or "", UNCLASSIFIED_LABEL),
            found.get(c, empty), halted.get(c, empty), demolished.get(c, empty),
        )
        for c in classes
    ]  # fmt: skip
    total = row("合计", *(stock[p].total for p in _STOCK_PARTS))
    return ReportTable(
        "stock_increment",
        "存量与增量",
        ["类型", "新发现(处)", "制止(处)", "拆除(处)", "拆除面积(平方米)", "拆除面积(亩)"],
        [COL_TEXT, COL_INT, COL_INT, COL_INT, COL_M2, COL_MU],
        rows,
        total,
        "存量：发现日期不晚于本镇基准日（基线调查日）的违法建设；增量：基准日之后新发现的；"
        "未定：未设基准日或未填发现日期。",
    )


def _overdue_table(cases: list[DeadlineCase], as_of: dt.date) -> ReportTable:
    """逾期未拆除: open notices past their deadline on ``as_of``, longest overdue first."""
    rows: list[list[Any]] = [
        [c.case_no, c.village, c.category_label, cn_date(c.deadline_on), c.days_overdue,
         round_m2(c.area_m2)]
        for c in cases
    ]  # fmt: skip
    total = ["合计", f"{len(cases)}处", "", "", None, round_m2(sum(c.area_m2 for c in cases))]
    return ReportTable(
        "overdue",
        "责令限期拆除逾期未拆除",
        ["案件编号", "村/社区", "类别", "拆除期限", "逾期天数", "面积(平方米)"],
        [COL_TEXT, COL_TEXT, COL_TEXT, COL_TEXT, COL_INT, COL_M2],
        rows,
        total,
        f"统计截至{cn_date(as_of)}。",
    )


def _stock_paragraphs(
    stock: dict[str, AreaReport], late: list[DeadlineCase], as_of: dt.date
) -> list[str]:
    """消除存量、遏制增量, 制止 and overdue notices in the bureaus' wording."""
    found, halted, demolished = (_by_class(stock[p]) for p in _STOCK_PARTS)
    out: list[str] = []
    classified = any(c in d for d in (found, halted, demolished) for c in vocab.STOCK_CLASSES)
    halted_n = stock["halted"].total.count
    if classified:
        s_dem = demolished.get("stock")
        i_found, i_halted, i_dem = (d.get("increment") for d in (found, halted, demolished))
        p = "依据违法建设动态台账消除存量、遏制增量："
        p += (
            f"全年消除存量违法建设{s_dem.count}处，共计{m2_text(s_dem.area_m2)}；"
            if s_dem
            else "全年无存量违法建设拆除记录；"
        )
        p += f"新发现增量违法建设{i_found.count if i_found else 0}处"
        if i_halted:
            p += f"，成功制止新建违建{i_halted.count}处"
        if i_dem:
            p += f"，拆除增量违法建设{i_dem.count}处、{m2_text(i_dem.area_m2)}"
        p += "。"
        others = halted_n - (i_halted.count if i_halted else 0)
        if others:
            p += f"另制止其他在建违法建设{others}处。"
        out.append(p)
    elif halted_n:
        out.append(f"全年成功制止新建违建{halted_n}处。")
    if late:
        area = sum(c.area_m2 for c in late)
        out.append(
            f"截至{cn_date(as_of)}，已责令限期拆除但逾期未拆除的违法建设{len(late)}处、"
            f"共计{m2_text(area)}。"
        )
    else:
        out.append(f"截至{cn_date(as_of)}，责令限期拆除的违法建设无逾期未拆除。")
    return out


def _by_area(groups: list[GroupTotal]) -> list[GroupTotal]:
    return sorted(groups, key=lambda g: (-g.area_m2, g.labels.get("village", "")))


def _paragraphs(
    year: int,
    by_village: AreaReport,
    villas: AreaReport,
    cleared: AreaReport,
    patches: AreaReport,
    discovered: AreaReport,
    *,
    whole: str = "全镇",
) -> list[str]:
    out: list[str] = []
    tot = by_village.total
    if tot.count:
        parts = [
            f"{g.labels['village']}违建{m2_text(g.area_m2)}" for g in _by_area(by_village.groups)
        ]
        p = (
            f"{year}年，{whole}拆除违法建设{tot.count}处，共计{m2_text(tot.area_m2)}"
            f"（{mu_text(tot.area_m2, 'approx')}）。其中拆除" + "，".join(parts) + "。"
        )
        if tot.differs and tot.dissolved_m2 is not None:
            p += (
                f"以上为各宗记录面积之和；部分图斑相互重叠，扣除重叠部分后实际拆除占地"
                f"{m2_text(tot.dissolved_m2)}。"
            )
        out.append(p)
    else:
        out.append(f"{year}年，{whole}无拆除违法建设记录。")
    if villas.total.count:
        parts = [
            f"{g.labels['village']}违建别墅{households_text(g.households or 0)}{m2_text(g.area_m2)}"
            for g in _by_area(villas.groups)
        ]
        p = "在违建别墅专项治理行动中，拆除" + "、".join(parts)
        if len(parts) > 1:
            vt = villas.total
            p += f"，共计{households_text(vt.households or 0)}{m2_text(vt.area_m2)}"
        out.append(p + "。")
    ct = cleared.total
    if ct.count:
        rounded = count_text(ct.count, "宗")
        exact = "" if rounded == f"{ct.count}宗" else f"共{ct.count}宗，"
        out.append(
            f"{year}年{whole}治理违法占地项目{rounded}，{mu_text(ct.area_m2, 'approx_over')}"
            f"（{exact}{m2_text(ct.area_m2)}，合{mu_text(ct.area_m2, 'exact')}）。"
        )
    pt = patches.total
    if pt.count:
        rulings = {g.key["ruling"]: g for g in patches.groups}
        parts = []
        for key, name in vocab.RULINGS.items():
            if key in rulings:
                parts.append(f"{name}{rulings[key].count}个")
        if None in rulings:
            parts.append(f"待认定{rulings[None].count}个")
        out.append(
            f"全年通过无人机航拍比对发现变化图斑{pt.count}个、面积{m2_text(pt.area_m2)}，"
            f"经核查认定" + "，".join(parts) + "。"
        )
    dt_ = discovered.total
    if dt_.count:
        out.append(f"全年新发现违法建设{dt_.count}处，占地{m2_text(dt_.area_m2)}，均已登记入台账。")
    return out
