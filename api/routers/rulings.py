"""Change-patch rulings (变化图斑认定) and the farmland figures they decide.

Liaison rules a patch; Viewer reads the counts, areas and the illegal share of farmland taken.
(Listing patches and their chips lives in ``api/routers/patches.py``.)
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import Liaison, ReadDB, Viewer, WriteDB, get_settings
from api.farmland_out import PatchRulingOut, SummaryRow
from geo_enforce.farmland import rulings
from geo_enforce.farmland.results import FarmlandShare
from geo_enforce.ledger.vocab import RULINGS

router = APIRouter(prefix="/rulings", tags=["farmland"])


class RulingIn(BaseModel):
    ruling: str = Field(description=", ".join(f"{k} {v}" for k, v in RULINGS.items()))
    approval_no: str | None = Field(None, max_length=100, description="required when legal")
    note: str | None = Field(None, max_length=5000)
    evidence_verification_ids: list[int] = Field(default_factory=list)


@router.get("/summary", response_model=list[SummaryRow], summary="Counts and areas by ruling")
def summary(
    session: ReadDB,
    _: Viewer,
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> list[SummaryRow]:
    totals = rulings.ruling_summary(session, since=since, until=until, village_code=village_code)
    return [SummaryRow.of(t) for t in totals]


@router.get(
    "/farmland-share",
    response_model=list[FarmlandShare],
    summary="Share of farmland taken by new construction that was taken illegally, per period",
)
def farmland_share(
    session: ReadDB,
    _: Viewer,
    period: Literal["year", "quarter", "month"] = "year",
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> list[FarmlandShare]:
    return rulings.farmland_share(
        session, period=period, since=since, until=until, village_code=village_code
    )


@router.get("/{patch_code}", summary="A patch's ruling with its evidence")
def get(patch_code: str, request: Request, session: ReadDB, _: Viewer) -> PatchRulingOut:
    patch = rulings.get_patch(session, code=patch_code)
    return PatchRulingOut.of(
        rulings.patch_ruling(session, patch, config=get_settings(request).farmland)
    )


@router.post("/{patch_code}", summary="Rule a change patch (legal needs an approval number)")
def rule(
    patch_code: str, body: RulingIn, request: Request, session: WriteDB, principal: Liaison
) -> PatchRulingOut:
    p = rulings.rule_patch(
        session,
        code=patch_code,
        ruling=body.ruling,
        actor=principal.actor,
        note=body.note,
        approval_no=body.approval_no,
        evidence_verification_ids=body.evidence_verification_ids,
    )
    return PatchRulingOut.of(
        rulings.patch_ruling(session, p, config=get_settings(request).farmland)
    )
