"""The audit trail (执法全过程记录): who changed what, when, old → new.

Rows are written only by the ``ge_audit`` trigger (see migration 0001), so no write path can
skip them, and ``audit_log`` refuses UPDATE, DELETE and TRUNCATE. This module reads them:
:func:`history` with filters (table, record, actor, action, period) and :func:`changes` for the
field-by-field difference of one entry. Times are timestamptz (UTC in the API).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.storage.models import AUDITED_TABLES, AuditLog

ACTIONS = ("insert", "update", "retire")
GEOMETRY_FIELDS = frozenset({"geom", "footprint", "location"})
#: fields that change on every write and say nothing by themselves
NOISE_FIELDS = frozenset({"updated_at", "version"})
GEOMETRY_MARK = "<几何图形 geometry>"


def api_actor(user: str) -> str:
    """The audit actor of a write made through the API by ``user``: ``api:<user>``.

    Every actor is ``<channel>:<name>`` (see also :func:`cli_actor`), so :func:`history` can
    filter by the exact actor or by the user name over all channels.
    """
    return f"api:{user}"


def cli_actor(login: str) -> str:
    """The audit actor of a write made on the command line by ``login``: ``cli:<login>``."""
    return f"cli:{login}"


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log row: who changed which record how and when, field by field."""

    id: int
    table_name: str
    record_id: int
    action: str
    actor: str
    at: dt.datetime
    txid: int
    version: int | None
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


def changes(
    old: dict[str, Any] | None, new: dict[str, Any] | None, *, include_geometry: bool = False
) -> dict[str, dict[str, Any]]:
    """Field → {"old", "new"} for every field that differs (all fields of an insert).

    Geometry values (hex EWKB) are replaced by a marker unless ``include_geometry``; the area
    fields show the effect of a geometry edit in m² and mu.
    """
    old = old or {}
    new = new or {}
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(old) | set(new)):
        if key in NOISE_FIELDS:
            continue
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in GEOMETRY_FIELDS and not include_geometry:
            a = GEOMETRY_MARK if a is not None else None
            b = GEOMETRY_MARK if b is not None else None
        out[key] = {"old": a, "new": b}
    return out


def _check_table(table: str | None) -> None:
    if table is not None and table not in AUDITED_TABLES:
        raise InvalidInput(
            f"table '{table[:60]}' is not audited; use one of {', '.join(AUDITED_TABLES)}"
        )


def history(
    session: Session,
    *,
    table: str | None = None,
    record_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
    include_geometry: bool = False,
) -> tuple[list[AuditEntry], int]:
    """Audit entries matching the filters and the total count of matches.

    ``since`` is inclusive, ``until`` exclusive. ``actor`` matches exactly (``api:wang.li``,
    ``cli:root``) or, without a ``:``, any channel of that user name.
    """
    _check_table(table)
    if action is not None and action not in ACTIONS:
        raise InvalidInput(f"action '{action[:20]}' is unknown; use one of {', '.join(ACTIONS)}")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("'until' must be later than 'since'")
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be ≥ 1 and offset ≥ 0")
    conds = []
    if table is not None:
        conds.append(AuditLog.table_name == table)
    if record_id is not None:
        conds.append(AuditLog.record_id == record_id)
    if actor is not None:
        if ":" in actor:
            conds.append(AuditLog.actor == actor)
        else:
            conds.append(func.split_part(AuditLog.actor, ":", 2) == actor)
    if action is not None:
        conds.append(AuditLog.action == action)
    if since is not None:
        conds.append(AuditLog.at >= since)
    if until is not None:
        conds.append(AuditLog.at < until)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(*conds)) or 0
    order = (AuditLog.at.desc(), AuditLog.id.desc()) if newest_first else (AuditLog.at, AuditLog.id)
    rows = session.scalars(
        select(AuditLog).where(*conds).order_by(*order).limit(limit).offset(offset)
    )
    return [_entry(r, include_geometry) for r in rows], int(total)


def record_history(
    session: Session, table: str, record_id: int, *, include_geometry: bool = False
) -> list[AuditEntry]:
    """Every entry of one record, oldest first; NotFound when it never existed."""
    _check_table(table)
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.table_name == table, AuditLog.record_id == record_id)
        .order_by(AuditLog.at, AuditLog.id)
        .limit(10_000)
    )
    entries = [_entry(r, include_geometry) for r in rows]
    if not entries:
        raise NotFound(f"{table} {record_id} has no history (it never existed)")
    return entries


def _entry(row: AuditLog, include_geometry: bool) -> AuditEntry:
    version = (row.new_row or {}).get("version")
    return AuditEntry(
        id=row.id,
        table_name=row.table_name,
        record_id=row.record_id,
        action=row.action,
        actor=row.actor,
        at=row.at,
        txid=row.txid,
        version=int(version) if version is not None else None,
        changes=changes(row.old_row, row.new_row, include_geometry=include_geometry),
    )
