"""``geo-enforce structure``: look up a case, change its status, show its history."""

from __future__ import annotations

import typer
from rich.table import Table

from geo_enforce.cli.common import actor, app, out, parse_date, sessions

structure_app = typer.Typer(help="违法建设案件: show, transition, history.")
app.add_typer(structure_app, name="structure")


@structure_app.command("transition")
def transition_cmd(
    case_no: str = typer.Argument(..., help="案件编号, e.g. JX-2023-0012"),
    to_status: str = typer.Argument(
        ..., help="verified|notice_served|demolished|rectified|legalized|dismissed"
    ),
    reason: str = typer.Option(..., "--reason", "-r", help="处理依据/原因 (required)"),
    on: str | None = typer.Option(None, help="effective date YYYY-MM-DD (default today)"),
) -> None:
    """Move a case to a new status; illegal moves are refused."""
    from geo_enforce.ledger import lifecycle
    from geo_enforce.storage.engine import transaction

    day = parse_date(on, "--on") if on else None
    who = actor()
    with transaction(sessions(), who) as session:
        st = lifecycle.find_structure(session, case_no=case_no)
        rec = lifecycle.transition(
            session, st, to_status, actor=who, reason=reason, effective_on=day
        )
        out.print(f"{case_no}: {rec.from_status} → {rec.to_status} ({rec.effective_on})")


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
