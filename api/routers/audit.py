"""Audit trail (执法全过程记录): who changed what and when, old → new. Editors and admins."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import Editor, ReadDB
from api.errors import ERROR_RESPONSES
from geo_enforce.storage import audit
from geo_enforce.storage.models import AUDITED_TABLES

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)

TABLE_HELP = "one of " + ", ".join(AUDITED_TABLES)


class FieldChange(BaseModel):
    old: Any = None
    new: Any = None


class AuditEntryOut(BaseModel):
    id: int
    table_name: str
    record_id: int
    action: str
    actor: str
    at: dt.datetime
    txid: int
    version: int | None
    changes: dict[str, FieldChange]


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AuditEntryOut]


def _out(e: audit.AuditEntry) -> AuditEntryOut:
    return AuditEntryOut.model_validate(e, from_attributes=True)


@router.get("", response_model=AuditPage, summary="Audit entries, newest first, with filters")
def list_entries(
    session: ReadDB,
    _: Editor,
    table: Annotated[str | None, Query(max_length=60, description=TABLE_HELP)] = None,
    record_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    actor: Annotated[
        str | None, Query(max_length=100, description="api:<user>, cli:<login>, or a user name")
    ] = None,
    action: Annotated[str | None, Query(max_length=10, description="insert|update|retire")] = None,
    since: Annotated[dt.datetime | None, Query(description="from (inclusive)")] = None,
    until: Annotated[dt.datetime | None, Query(description="to (exclusive)")] = None,
    include_geometry: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    entries, total = audit.history(
        session,
        table=table,
        record_id=record_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        include_geometry=include_geometry,
    )
    return AuditPage(total=total, limit=limit, offset=offset, items=[_out(e) for e in entries])


@router.get(
    "/{table}/{record_id}",
    response_model=list[AuditEntryOut],
    summary="The whole history of one record, oldest first",
)
def record_history(
    table: Annotated[str, Path(max_length=60, description=TABLE_HELP)],
    record_id: Annotated[int, Path(ge=1, le=2**62)],
    session: ReadDB,
    _: Editor,
    include_geometry: bool = False,
) -> list[AuditEntryOut]:
    entries = audit.record_history(session, table, record_id, include_geometry=include_geometry)
    return [_out(e) for e in entries]
