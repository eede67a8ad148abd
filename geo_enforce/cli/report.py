"""``geo-enforce report …``: area totals and the annual report's files.

geo-enforce report areas --year 2024 --status demolished --group-by village,category
geo-enforce report cleared --year 2024 --group-by village
geo-enforce report patches --year 2024 --group-by ruling
geo-enforce report annual --year 2024 --out reports/2024
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from geo_enforce.cli.common import app, out, parse_date, sessions

report_app = typer.Typer(
    help="面积统计与年度报告 — area totals (m², 亩) and the annual report (XLSX/DOCX/CSV).",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

_FORMAT = typer.Option("table", "--format", "-f", help="table (rich), json or csv")
_TOWNSHIP = typer.Option(None, help="one township only (town code, 乡镇/街道)")


def _date(value: str | None, name: str) -> dt.date | None:
    return None if value is None else parse_date(value, f"--{name}")


def _run(fmt: str, **kw) -> None:
    from geo_enforce.errors import InvalidInput
    from geo_enforce.reports.console import report_csv, report_table
    from geo_enforce.reports.query import LIST_FILTERS, AreaQuery, area_totals, parse_list

    for name in (*LIST_FILTERS, "group_by"):
        if name in kw:
            kw[name] = parse_list(kw[name])
    q = AreaQuery(**kw)
    with sessions()() as session:
        rep = area_totals(session, q)
    if fmt == "json":
        typer.echo(json.dumps(rep.as_dict(), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        typer.echo("\ufeff" + report_csv(rep), nl=False)  # BOM: Excel reads the Chinese
    elif fmt == "table":
        out.print(report_table(rep))
        for note in rep.notes:
            out.print(f"[yellow]注[/] {note}")
    else:
        raise InvalidInput(f"--format '{fmt}' is unknown; use table, json or csv")


@report_app.command("areas")
def areas(
    year: int | None = typer.Option(None, help="calendar year of the chosen date"),
    date_from: str | None = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
    date_to: str | None = typer.Option(None, "--to", help="last day (inclusive), YYYY-MM-DD"),
    date_by: str = typer.Option(
        "demolished", help="discovered, demolished, closed, halted or notice"
    ),
    status: list[str] = typer.Option([], help="e.g. demolished (repeat or comma-separate)"),
    category: list[str] = typer.Option([], help="villa, factory, steel_shed, wall, …"),
    stock_class: list[str] = typer.Option([], help="stock (存量) or increment (增量)"),
    admin: str | None = typer.Option(None, help="admin area code: town, village, community, grid"),
    township: str | None = _TOWNSHIP,
    red_line_kind: str | None = typer.Option(None, help="e.g. basic_farmland"),
    clip: bool = typer.Option(False, "--clip", help="measure only the part inside the red lines"),
    group_by: list[str] = typer.Option(
        [], help="township, village, category, status, stock_class, year, month"
    ),
    measure: str = typer.Option("footprint", help="footprint (占地) or floor (建筑面积)"),
    dissolve: bool = typer.Option(True, help="also compute the dissolved footprint"),
    fmt: str = _FORMAT,
) -> None:
    """违法建设面积: count, households, m², 亩 and dissolved footprint per group."""
    _run(
        fmt, layer="structure", year=year, date_from=_date(date_from, "from"),
        date_to=_date(date_to, "to"), date_by=date_by, status=status, category=category,
        stock_class=stock_class, admin_code=admin, township=township, red_line_kind=red_line_kind,
        red_line_clip=clip, group_by=group_by, measure=measure, dissolve=dissolve,
    )  # fmt: skip


@report_app.command("cleared")
def cleared(
    year: int | None = typer.Option(None, help="calendar year of the cleared date"),
    date_from: str | None = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
    date_to: str | None = typer.Option(None, "--to", help="last day (inclusive), YYYY-MM-DD"),
    restored_use: list[str] = typer.Option([], help="reclaimed, greened, vacant, other"),
    admin: str | None = typer.Option(None, help="admin area code"),
    township: str | None = _TOWNSHIP,
    red_line_kind: str | None = typer.Option(None, help="e.g. basic_farmland"),
    clip: bool = typer.Option(False, "--clip", help="measure only the part inside the red lines"),
    group_by: list[str] = typer.Option([], help="township, village, restored_use, year, month"),
    dissolve: bool = typer.Option(True, help="also compute the dissolved footprint"),
    fmt: str = _FORMAT,
) -> None:
    """治理违法占地: 宗数, m², 亩 per group."""
    _run(
        fmt, layer="cleared_parcel", year=year, date_from=_date(date_from, "from"),
        date_to=_date(date_to, "to"), restored_use=restored_use, admin_code=admin,
        township=township, red_line_kind=red_line_kind, red_line_clip=clip, group_by=group_by,
        dissolve=dissolve,
    )  # fmt: skip


@report_app.command("patches")
def patches(
    year: int | None = typer.Option(None, help="calendar year of the detection date"),
    date_from: str | None = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
    date_to: str | None = typer.Option(None, "--to", help="last day (inclusive), YYYY-MM-DD"),
    ruling: list[str] = typer.Option([], help="legal, illegal, other, false_change"),
    status: list[str] = typer.Option([], help="new, under_review, ruled, closed"),
    change_kind: list[str] = typer.Option([], help="new, enlarged, rebuilt, still_standing, …"),
    admin: str | None = typer.Option(None, help="admin area code"),
    township: str | None = _TOWNSHIP,
    red_line_kind: str | None = typer.Option(None, help="e.g. basic_farmland"),
    clip: bool = typer.Option(False, "--clip", help="measure only the part inside the red lines"),
    group_by: list[str] = typer.Option(
        [], help="township, village, ruling, status, change_kind, month"
    ),
    dissolve: bool = typer.Option(True, help="also compute the dissolved footprint"),
    fmt: str = _FORMAT,
) -> None:
    """变化图斑: count, m², 亩 per ruling/status/village/date."""
    _run(
        fmt, layer="change_patch", year=year, date_from=_date(date_from, "from"),
        date_to=_date(date_to, "to"), ruling=ruling, status=status, change_kind=change_kind,
        admin_code=admin, township=township,
        red_line_kind=red_line_kind, red_line_clip=clip, group_by=group_by, dissolve=dissolve,
    )  # fmt: skip


@report_app.command("annual")
def annual(
    year: int = typer.Option(..., help="report year"),
    out_dir: Path = typer.Option(..., "--out", help="folder to write the files into"),
    formats: list[str] = typer.Option(
        [], "--format", "-f", help="xlsx, docx, csv, json (default: all)"
    ),
    township: str | None = _TOWNSHIP,
) -> None:
    """年度报告数据: XLSX, DOCX (paragraphs, tables, charts), CSV per table, JSON (of one
    township with --township; of every township together without it)."""
    from geo_enforce.reports.annual import build_annual
    from geo_enforce.reports.export import FORMATS, write_annual
    from geo_enforce.reports.query import parse_list

    with sessions()() as session:
        rep = build_annual(session, year, township=township)
    written = write_annual(rep, out_dir, parse_list(formats) or FORMATS)
    for p in rep.paragraphs:
        out.print(p)
    for path in written:
        typer.echo(str(path))
