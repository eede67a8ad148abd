"""Change-patch rulings (变化图斑认定) and the farmland figures they decide.

Liaison rules a patch; Viewer reads the counts, areas and the illegal share of farmland taken.
(Listing patches and their chips lives in ``api/routers/patches.py``.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Liaison, ReadDB, Viewer, WriteDB
from geo_enforce.farmland import rulings
from geo_enforce.ledger.vocab import RULINGS

router = APIRouter(prefix="/rulings", tags=["farmland"])


class RulingIn(BaseModel):
    ruling: str = Field(description=", ".join(f"{k} {v}" for k, v in RULINGS.items()))
    approval_no: str | None = Field(None, max_length=100, description="required when legal")
    note: str | None = Field(None, max_length=5000)
    evidence_verification_ids: list[int] = Field(default_factory=list)


class SummaryRow(BaseModel):
    ruling: str
    label: str
    count: int
    area_m2: float
    area_mu: float
    farmland_m2: float
    farmland_mu: float


class ShareRow(BaseModel):
    period: str
    construction_patches: int
    pending_patches: int
    farmland_taken_m2: float
    farmland_taken_mu: float
    legal_farmland_m2: float
    illegal_farmland_m2: float
    illegal_farmland_mu: float
    illegal_share_pct: float | None


@router.get("/summary", response_model=list[SummaryRow], summary="Counts and areas by ruling")
def summary(
    session: ReadDB,
    _: Viewer,
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> list[dict]:
    return rulings.ruling_summary(session, since=since, until=until, village_code=village_code)


@router.get(
    "/farmland-share",
    response_model=list[ShareRow],
    summary="Share of farmland taken by new construction that was taken illegally, per period",
)
def farmland_share(
    session: ReadDB,
    _: Viewer,
    period: Literal["year", "quarter", "month"] = "year",
    since: dt.date | None = None,
    until: dt.date | None = None,
    village_code: str | None = None,
) -> list[dict]:
    return rulings.farmland_share(
        session, period=period, since=since, until=until, village_code=village_code
    )


@router.get("/{patch_code}", summary="A patch's ruling with its evidence")
def get(patch_code: str, session: ReadDB, _: Viewer) -> dict[str, Any]:
    return rulings.patch_ruling_dict(session, rulings.get_patch(session, code=patch_code))


@router.post("/{patch_code}", summary="Rule a change patch (legal needs an approval number)")
def rule(patch_code: str, body: RulingIn, session: WriteDB, principal: Liaison) -> dict[str, Any]:
    p = rulings.rule_patch(
        session,
        code=patch_code,
        ruling=body.ruling,
        actor=principal.name,
        note=body.note,
        approval_no=body.approval_no,
        evidence_verification_ids=body.evidence_verification_ids,
    )
    return rulings.patch_ruling_dict(session, p)
