"""Townships (乡镇/街道) and their base dates (基准日): stock before, increment after.

Viewers read the list; an admin sets a township's base date (it re-classes every case of the
township as 存量 or 增量, so it is a bureau decision, not a case edit). Setting it on a
township that already has one needs the version read (If-Match or ``version``), as every edit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field

from api.deps import Admin, ReadDB, Viewer, WriteDB
from geo_enforce.ledger import stock
from geo_enforce.storage.locking import etag, expected_version

router = APIRouter(prefix="/townships", tags=["townships"])


class TownshipOut(BaseModel):
    code: str = Field(description="code of the town in admin_area")
    name: str
    base_date: dt.date | None = Field(description="基准日: cases found on or before it are 存量")
    base_note: str | None
    version: int


class BaseDateIn(BaseModel):
    base_date: dt.date = Field(examples=["2022-12-31"])
    note: str | None = Field(None, max_length=2000, examples=["2022年违法建设基线调查"])
    version: int | None = Field(None, description="the version read (or send If-Match)")


def _out(t) -> TownshipOut:
    return TownshipOut(
        code=t.code, name=t.name, base_date=t.base_date, base_note=t.base_note, version=t.version
    )


@router.get("", response_model=list[TownshipOut], summary="Townships with their base dates")
def list_townships(session: ReadDB, _: Viewer) -> list[TownshipOut]:
    return [_out(t) for t in stock.townships(session)]


@router.put(
    "/{code}/base-date",
    response_model=TownshipOut,
    summary="Set a township's base date (基准日); If-Match once it has one",
    responses={404: {"description": "no current town with that code"}},
)
def set_base_date(
    code: str,
    body: BaseDateIn,
    session: WriteDB,
    _: Admin,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> TownshipOut:
    known = {t.code for t in stock.townships(session)}
    version = expected_version(if_match, body.version, required=code in known)
    t = stock.set_base_date(session, code, body.base_date, note=body.note, expected_version=version)
    response.headers["ETag"] = etag(t.version)
    return _out(t)
