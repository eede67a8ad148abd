"""``geo-enforce structure``: change a case's status, show its history, overdue notices, the
daily digest, stock/increment (存量/增量) and the townships' base dates."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from geo_enforce.cli.common import actor, app, out, parse_date, sessions

structure_app = typer.Typer(
    help="违法建设案件: transition, history, overdue, digest, stock-class, base-date."
)
app.add_typer(structure_app, name="structure")


@structure_app.command("transition")
def transition_cmd(
    case_no: str = typer.Argument(..., help="案件编号, e.g. JX-2023-0012"),
    to_status: str = typer.Argument(
        ..., help="verified|halted|notice_served|demolished|rectified|legalized|dismissed"
    ),
    reason: str = typer.Option(..., "--reason", "-r", help="处理依据/原因 (required)"),
    on: str | None = typer.Option(None, help="effective date YYYY-MM-DD (default today)"),
    deadline: str | None = typer.Option(
        None, help="notice_served: the notice's deadline (期限) YYYY-MM-DD (required there)"
    ),
) -> None:
    """Move a case to a new status; illegal moves are refused."""
    from geo_enforce.ledger import lifecycle
    from geo_enforce.storage.engine import transaction

    day = parse_date(on, "--on") if on else None
    until = parse_date(deadline, "--deadline") if deadline else None
    who = actor()
    with transaction(sessions(), who) as session:
        st = lifecycle.find_structure(session, case_no=case_no)
        rec = lifecycle.transition(
            session, st, to_status, actor=who, reason=reason, effective_on=day, deadline=until
        )
        extra = f", 期限 {st.deadline_on}" if to_status == "notice_served" else ""
        out.print(f"{case_no}: {rec.from_status} → {rec.to_status} ({rec.effective_on}{extra})")


@structure_app.command("overdue")
def overdue_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="day YYYY-MM-DD (default today)"),
    village: str | None = typer.Option(None, help="village code"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
) -> None:
    """逾期未拆除: notices past their deadline and still open, longest overdue first."""
    import csv
    import io
    import json

    from geo_enforce.errors import InvalidInput
    from geo_enforce.ledger.deadlines import overdue

    day = parse_date(as_of, "--as-of") if as_of else None
    with sessions()() as session:
        cases = overdue(session, day, village_code=village)
    if fmt == "json":
        typer.echo(json.dumps([c.as_dict() for c in cases], ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        rows = [c.as_dict() for c in cases]
        w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["case_no"])
        w.writeheader()
        w.writerows(rows)
        typer.echo("\ufeff" + buf.getvalue(), nl=False)  # BOM: Excel reads the Chinese
    elif fmt == "table":
        table = Table(title=f"逾期未拆除 {len(cases)} 处")
        for col in ("案件编号", "村/社区", "类别", "送达日期", "期限", "逾期天数", "面积(平方米)"):
            table.add_column(col)
        for c in cases:
            table.add_row(
                c.case_no, c.village, c.category_label, str(c.notice_on or ""),
                str(c.deadline_on), str(c.days_overdue), f"{c.area_m2:.2f}",
            )  # fmt: skip
        out.print(table)
    else:
        raise InvalidInput(f"--format '{fmt}' is unknown; use table, json or csv")


@structure_app.command("digest")
def digest_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="day YYYY-MM-DD (default today)"),
    within: int = typer.Option(7, help="list notices falling due within this many days"),
    out_file: Path | None = typer.Option(None, "--out", help="write to this UTF-8 text file"),
) -> None:
    """每日提示: overdue notices, notices due soon, cases stopped on site (制止)."""
    from geo_enforce.reports.digest import digest_text

    day = parse_date(as_of, "--as-of") if as_of else None
    with sessions()() as session:
        text = digest_text(session, day, within_days=within)
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text, encoding="utf-8")
        typer.echo(str(out_file))


@structure_app.command("stock-class")
def stock_class_cmd(
    case_no: str = typer.Argument(..., help="案件编号"),
    value: str | None = typer.Argument(
        None, help="stock (存量), increment (增量) or auto (clear the override); omit to show"
    ),
    reason: str | None = typer.Option(None, "--reason", "-r", help="认定依据 (required to set)"),
) -> None:
    """Show a case's stock/increment class, or override it with a reason."""
    from geo_enforce.ledger import lifecycle, stock
    from geo_enforce.storage.engine import transaction

    who = actor()
    with transaction(sessions(), who) as session:
        st = lifecycle.find_structure(session, case_no=case_no)
        if value is not None:
            stock.set_override(session, st, None if value == "auto" else value, reason=reason)
        c = stock.classify(session, st)
    by = f"人工认定：{c['override_reason']}" if c["override"] else f"基准日 {c['base_date']}"
    out.print(f"{case_no}: {c['label']} ({c['effective'] or 'unclassified'}; {by})")


@structure_app.command("base-date")
def base_date_cmd(
    town_code: str | None = typer.Argument(None, help="code of the town in admin_area"),
    day: str | None = typer.Argument(None, help="base date YYYY-MM-DD; omit to list"),
    note: str | None = typer.Option(None, help="e.g. 2023年违法建设基线调查"),
) -> None:
    """Set a township's base date (基准日: stock before, increment after) or list them."""
    from geo_enforce.ledger import stock
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        if town_code is not None and day is not None:
            stock.set_base_date(session, town_code, parse_date(day, "base date"), note=note)
        for tw in stock.townships(session):
            out.print(f"{tw.code} {tw.name}: 基准日 {tw.base_date or '未设'} {tw.base_note or ''}")


@structure_app.command("history")
def history_cmd(case_no: str) -> None:
    """Status history of a case."""
    from geo_enforce.ledger import lifecycle
    from geo_enforce.ledger.vocab import STRUCTURE_STATUSES, label

    with sessions()() as session:
        st = lifecycle.find_structure(session, case_no=case_no)
        table = Table(title=f"{case_no} 状态记录")
        for col in ("时间", "生效日期", "原状态", "新状态", "操作人", "原因"):
            table.add_column(col)
        for t in lifecycle.history(session, st.id):
            table.add_row(
                t.at.strftime("%Y-%m-%d %H:%M"),
                str(t.effective_on or ""),
                label(STRUCTURE_STATUSES, t.from_status),
                label(STRUCTURE_STATUSES, t.to_status),
                t.actor,
                t.reason,
            )
        out.print(table)
