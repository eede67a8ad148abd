"""``geo-enforce audit``: who changed what and when (the audit trail, read-only)."""

from __future__ import annotations

import datetime as dt
import json

import typer
from rich.table import Table

from geo_enforce.cli.common import app, out, sessions

audit_app = typer.Typer(help="The audit trail (执法全过程记录): history of records, filters.")
app.add_typer(audit_app, name="audit")


def _fmt(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


def _table(entries) -> Table:
    table = Table("at (UTC)", "actor", "action", "record", "v", "changes")
    for e in entries:
        changes = "; ".join(
            f"{k}: {_fmt(c['old'])} → {_fmt(c['new'])}" for k, c in e.changes.items()
        )
        table.add_row(
            f"{e.at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.action,
            f"{e.table_name} {e.record_id}",
            str(e.version or ""),
            changes if e.action != "insert" else f"({len(e.changes)} fields)",
        )
    return table


@audit_app.command("history")
def history_cmd(
    table: str = typer.Argument(..., help="structure, cleared_parcel, farmland_parcel, …"),
    record_id: int = typer.Argument(..., help="the record's id"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """The whole history of one record, oldest first."""
    from geo_enforce.storage import audit

    with sessions()() as session:
        entries = audit.record_history(session, table, record_id)
    if as_json:
        out.print_json(data=[_json(e) for e in entries])
    else:
        out.print(_table(entries))


@audit_app.command("log")
def log_cmd(
    table: str | None = typer.Option(None, "--table", help="only this table"),
    actor: str | None = typer.Option(None, "--actor", help="api:<user>, cli:<login> or a name"),
    action: str | None = typer.Option(None, "--action", help="insert, update or retire"),
    since: dt.datetime | None = typer.Option(None, "--since", help="from (inclusive)"),
    until: dt.datetime | None = typer.Option(None, "--until", help="to (exclusive)"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Audit entries, newest first, filtered by table, user, action and period."""
    from geo_enforce.storage import audit

    def aware(t: dt.datetime | None) -> dt.datetime | None:
        return t.replace(tzinfo=dt.UTC) if t is not None and t.tzinfo is None else t

    with sessions()() as session:
        entries, total = audit.history(
            session,
            table=table,
            actor=actor,
            action=action,
            since=aware(since),
            until=aware(until),
            limit=limit,
        )
    if as_json:
        out.print_json(data={"total": total, "items": [_json(e) for e in entries]})
    else:
        out.print(_table(entries))
        out.print(f"{len(entries)} of {total} entries")


def _json(e) -> dict:
    return {
        "id": e.id,
        "table": e.table_name,
        "record_id": e.record_id,
        "action": e.action,
        "actor": e.actor,
        "at": e.at.isoformat(),
        "version": e.version,
        "changes": e.changes,
    }
