"""Area totals in the terminal (rich tables) and as CSV; the demo's summary of the township."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.reports.phrasing import round_m2, round_mu
from geo_enforce.reports.query import GROUP_KEY_LABELS, AreaQuery, AreaReport, area_totals


def _columns(rep: AreaReport) -> list[str]:
    cols = [GROUP_KEY_LABELS.get(k, k) for k in rep.query.group_by]
    cols.append("宗数" if rep.query.layer == "cleared_parcel" else "数量")
    if rep.query.layer == "structure":
        cols.append("户数")
    label = "建筑面积" if rep.query.measure == "floor" else "面积"
    cols += [f"{label}(平方米)", f"{label}(亩)"]
    if rep.total.dissolved_m2 is not None:
        cols.append("扣除重叠后(平方米)")
    return cols


def _rows(rep: AreaReport) -> list[list[str]]:
    rows = []
    for g in [*rep.groups, rep.total]:
        if g is rep.total:
            cells = ["合计"] + [""] * (len(rep.query.group_by) - 1) if rep.query.group_by else []
        else:
            cells = [g.labels[k] for k in rep.query.group_by]
        cells.append(str(g.count))
        if rep.query.layer == "structure":
            cells.append("" if g.households is None else str(g.households))
        cells += [f"{round_m2(g.area_m2):.2f}", f"{round_mu(g.area_m2):.2f}"]
        if rep.total.dissolved_m2 is not None:
            cells.append("" if g.dissolved_m2 is None else f"{round_m2(g.dissolved_m2):.2f}")
        rows.append(cells)
    return rows


def report_table(rep: AreaReport, title: str | None = None) -> Table:
    """A rich table of ``rep``: one row per group and a totals row (合计)."""
    table = Table(title=title or rep.title, show_lines=False)
    n_keys = len(rep.query.group_by)
    for i, col in enumerate(_columns(rep)):
        table.add_column(col, justify="left" if i < n_keys else "right")
    rows = _rows(rep)
    for i, cells in enumerate(rows):
        style = "bold" if i == len(rows) - 1 else None
        table.add_row(*cells, style=style, end_section=i == len(rows) - 2)
    return table


def report_csv(rep: AreaReport) -> str:
    """``rep`` as CSV text (header, groups, 合计)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_columns(rep))
    w.writerows(_rows(rep))
    return buf.getvalue()


def print_area_totals(
    factory: sessionmaker[Session],
    *,
    console: Console | None = None,
    year: int | None = None,
    township: str | None = None,
) -> int | None:
    """Print the township's area totals: all years by village and by category (m² and 亩),
    cleared parcels by year, and the report paragraphs for ``year`` (default: the latest year
    with a demolition). Areas are CGCS2000 ellipsoidal. Returns the year used for the prose.

    ``township`` (a town code): that township's totals and paragraphs, its name before each
    title; without it everything the session sees."""
    from geo_enforce.reports.annual import build_annual
    from geo_enforce.storage.scope import town_names

    console = console or Console()
    demolished = AreaQuery(
        layer="structure", status=("demolished",), date_by="demolished", township=township
    )
    with factory() as session:
        prefix = f"{town_names(session).get(township, township)} " if township else ""
        reports = [
            (
                f"{prefix}已拆除违法建设（按年份、村）",
                area_totals(session, replace(demolished, group_by=("year", "village"))),
            ),
            (
                f"{prefix}已拆除违法建设（按年份、类别）",
                area_totals(session, replace(demolished, group_by=("year", "category"))),
            ),
            (
                f"{prefix}治理违法占地（按年份）",
                area_totals(
                    session,
                    AreaQuery(layer="cleared_parcel", group_by=("year",), township=township),
                ),
            ),
        ]
        for title, rep in reports:
            console.print(report_table(rep, title=title))
            for note in rep.notes:
                console.print(f"[yellow]注[/] {note}")
        years = [g.key["year"] for g in reports[0][1].groups if g.key["year"] is not None]
        year = year or (max(years) if years else None)
        if year is None:
            console.print("台账中没有已拆除的违法建设记录。")
            return None
        annual = build_annual(session, year, township=township)
    console.rule(f"{prefix}{year}年报告段落")
    for p in annual.paragraphs:
        console.print("　　" + p)
    return year
