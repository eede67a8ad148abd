"""Campaigns (专项治理): targets, scope, tagged cases and progress.

Editors register and edit campaigns and tag cases (by the scope's rules or by hand with a
reason); admins retire them; viewers read progress (JSON, or a PNG chart of every campaign).
Edits carry the version they were based on (If-Match or ``version``), as every ledger edit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import Admin, Editor, ReadDB, Viewer, WriteDB
from geo_enforce.ledger import campaigns as camp
from geo_enforce.ledger import lifecycle
from geo_enforce.ledger.vocab import CAMPAIGN_TAG_METHODS, STRUCTURE_STATUSES, label
from geo_enforce.reports.phrasing import round_m2
from geo_enforce.storage.campaigns import Campaign
from geo_enforce.storage.locking import etag, expected_version

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

_RULES_HELP = "; ".join(f"{k} {v}" for k, v in camp.SCOPE_RULES.items())


class CampaignFields(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200, examples=["违建别墅专项治理"])
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    target_m2: float | None = Field(None, gt=0, lt=1e10, description="target area, m²")
    target_count: int | None = Field(None, gt=0, lt=10**9, description="target count")
    count_unit: str | None = Field(None, pattern="^(case|household)$", description="处 or 户")
    scope_villages: list[str] | None = Field(None, max_length=500, description="village codes")
    scope_categories: list[str] | None = Field(None, max_length=20, description="categories")
    scope_rules: list[str] | None = Field(None, max_length=20, description=_RULES_HELP)
    notes: str | None = Field(None, max_length=5000)


class CampaignCreate(CampaignFields):
    code: str = Field(min_length=1, max_length=60, examples=["WJBS-2024"])
    name: str = Field(min_length=1, max_length=200, examples=["违建别墅专项治理"])
    starts_on: dt.date
    ends_on: dt.date
    township: str | None = Field(
        None,
        max_length=40,
        description="town code (乡镇/街道) whose cases it takes; empty: your one township",
    )


class CampaignUpdate(CampaignFields):
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class TagIn(ReasonIn):
    case_no: str = Field(min_length=1, max_length=60, description="案件编号")


class RetireIn(ReasonIn):
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class VillageDoneOut(BaseModel):
    village_code: str | None
    village: str
    count: int
    households: int
    area_m2: float


class ProgressOut(BaseModel):
    as_of: dt.date
    target_m2: float | None
    target_count: int | None
    count_unit: str
    tagged_count: int
    tagged_households: int
    tagged_m2: float
    done_count: int
    done_households: int
    done_m2: float
    done_units: int
    share_m2: float | None
    share_count: float | None
    share: float
    met: bool
    state: str
    state_label: str
    by_village: list[VillageDoneOut]


class CampaignOut(BaseModel):
    id: int
    code: str
    name: str
    starts_on: dt.date
    ends_on: dt.date
    target_m2: float | None
    target_count: int | None
    count_unit: str
    scope_villages: list[str]
    scope_categories: list[str]
    scope_rules: list[str]
    scope_rule_labels: list[str]
    notes: str | None
    version: int
    progress: ProgressOut


class TaggedOut(BaseModel):
    structure_id: int
    case_no: str
    village: str
    category: str
    status: str
    status_label: str
    households: int
    area_m2: float
    demolished_on: dt.date | None
    method: str
    method_label: str
    tagged_by: str
    tagged_at: dt.datetime
    reason: str


class TagResultOut(BaseModel):
    added: list[str]
    already: int
    untagged_by_hand: int


_STATE_LABELS = {"met": "已完成", "running": "进行中", "ended": "未完成", "not_started": "未开始"}


def _progress(p: camp.CampaignProgress) -> ProgressOut:
    d = p.as_dict()
    for k in ("tagged_m2", "done_m2"):
        d[k] = round_m2(d[k])
    d["by_village"] = [
        VillageDoneOut(**{**v, "area_m2": round_m2(v["area_m2"])}) for v in d["by_village"]
    ]
    return ProgressOut(**d, state_label=_STATE_LABELS[p.state])


def _out(session, c: Campaign, as_of: dt.date | None = None) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        code=c.code,
        name=c.name,
        starts_on=c.starts_on,
        ends_on=c.ends_on,
        target_m2=c.target_m2,
        target_count=c.target_count,
        count_unit=c.count_unit,
        scope_villages=list(c.scope_villages or []),
        scope_categories=list(c.scope_categories or []),
        scope_rules=list(c.scope_rules or []),
        scope_rule_labels=[camp.SCOPE_RULES.get(r, r) for r in c.scope_rules or []],
        notes=c.notes,
        version=c.version,
        progress=_progress(camp.progress(session, c, as_of)),
    )


def _tagged(t: camp.TaggedCase) -> TaggedOut:
    return TaggedOut(
        **{k: v for k, v in t.as_dict().items() if k != "village_code"},
        status_label=label(STRUCTURE_STATUSES, t.status),
        method_label=label(CAMPAIGN_TAG_METHODS, t.method),
    )


AsOf = Annotated[dt.date | None, Query(description="progress on this day (default today)")]


@router.get("", response_model=list[CampaignOut], summary="专项治理: campaigns with progress")
def list_campaigns(session: ReadDB, _: Viewer, as_of: AsOf = None) -> list[CampaignOut]:
    return [_out(session, c, as_of) for c in camp.campaigns(session)]


@router.get(
    "/progress.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "bar chart (PNG)"}},
    summary="专项治理任务完成情况 (PNG chart of every campaign)",
)
def progress_chart(session: ReadDB, _: Viewer, as_of: AsOf = None) -> Response:
    from geo_enforce.reports.campaigns import progress_label
    from geo_enforce.reports.charts import bar_campaign_progress

    items = [(p.name, p.share, progress_label(p)) for p in camp.all_progress(session, as_of)]
    png = bar_campaign_progress(items, title="专项治理任务完成情况")
    return Response(content=bytes(png), media_type="image/png")


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=CampaignOut, summary="Register one"
)
def create(body: CampaignCreate, session: WriteDB, _: Editor, response: Response) -> CampaignOut:
    c = camp.create_campaign(
        session,
        code=body.code,
        name=body.name,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        target_m2=body.target_m2,
        target_count=body.target_count,
        count_unit=body.count_unit or "case",
        villages=body.scope_villages or (),
        categories=body.scope_categories or (),
        rules=body.scope_rules or (),
        notes=body.notes,
        township=body.township,
    )
    response.headers["ETag"] = etag(c.version)
    return _out(session, c)


@router.get("/{ref}", response_model=CampaignOut, summary="One campaign (code or id), ETag")
def get_one(ref: str, session: ReadDB, _: Viewer, response: Response, as_of: AsOf = None):
    c = camp.find_campaign(session, ref)
    response.headers["ETag"] = etag(c.version)
    return _out(session, c, as_of)


@router.patch("/{ref}", response_model=CampaignOut, summary="Edit a campaign (If-Match)")
def update(
    ref: str,
    body: CampaignUpdate,
    session: WriteDB,
    _: Editor,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> CampaignOut:
    c = camp.find_campaign(session, ref)
    values: dict[str, Any] = body.model_dump(exclude={"version"}, exclude_unset=True)
    camp.update_campaign(
        session, c, values, expected_version=expected_version(if_match, body.version)
    )
    response.headers["ETag"] = etag(c.version)
    return _out(session, c)


@router.post("/{ref}/retire", response_model=CampaignOut, summary="Retire a campaign (If-Match)")
def retire(
    ref: str,
    body: RetireIn,
    session: WriteDB,
    _: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> CampaignOut:
    from geo_enforce.storage.locking import check_version

    c = camp.find_campaign(session, ref)
    check_version(c, expected_version(if_match, body.version), f"campaign {c.code}")
    camp.retire_campaign(session, c, reason=body.reason)
    return _out(session, c)


@router.get("/{ref}/cases", response_model=list[TaggedOut], summary="The campaign's cases")
def cases(ref: str, session: ReadDB, _: Viewer) -> list[TaggedOut]:
    c = camp.find_campaign(session, ref)
    return [_tagged(t) for t in camp.tagged_cases(session, c)]


@router.post(
    "/{ref}/apply-scope",
    response_model=TagResultOut,
    summary="Tag every case the scope takes (by rule)",
)
def apply_scope(ref: str, session: WriteDB, _: Editor) -> TagResultOut:
    c = camp.find_campaign(session, ref)
    return TagResultOut(**camp.apply_scope(session, c).as_dict())


@router.post(
    "/{ref}/cases",
    status_code=status.HTTP_201_CREATED,
    response_model=TaggedOut,
    summary="Tag a case by hand (with a reason)",
)
def tag_case(ref: str, body: TagIn, session: WriteDB, _: Editor) -> TaggedOut:
    c = camp.find_campaign(session, ref)
    st = lifecycle.find_structure(session, case_no=body.case_no)
    camp.tag(session, c, st, reason=body.reason)
    return _tagged(next(t for t in camp.tagged_cases(session, c) if t.structure_id == st.id))


@router.post(
    "/{ref}/cases/{case_no}/untag",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take a case out of the campaign (with a reason)",
)
def untag_case(ref: str, case_no: str, body: ReasonIn, session: WriteDB, _: Editor) -> Response:
    c = camp.find_campaign(session, ref)
    st = lifecycle.find_structure(session, case_no=case_no)
    camp.untag(session, c, st, reason=body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
