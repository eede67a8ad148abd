"""Line features with safety distances (管线/线路/河堤) and the rule 占压<kind>.

The lines themselves are a collection (``/collections/pipeline/items``) and are imported like
every layer (``geo-enforce import pipeline FILE``); this router lists the rules with their
distances and the structures or change patches within them (distances in metres on the
CGCS2000 ellipsoid).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.deps import ReadDB, Viewer
from geo_enforce.io.catalogue import get_catalogue
from geo_enforce.ledger import pipelines
from geo_enforce.ledger.vocab import PIPELINE_KINDS

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


class RuleOut(BaseModel):
    rule: str
    label: str
    kind: str
    kind_label: str
    safety_distance_m: float | None


class HitOut(BaseModel):
    target: str
    target_id: int
    target_code: str
    village_code: str | None
    status: str | None
    status_label: str
    area_m2: float
    rule: str
    label: str
    line_code: str
    line_kind: str
    line_name: str | None
    distance_m: float
    safety_distance_m: float


class HitsOut(BaseModel):
    target: str
    count: int
    hits: list[HitOut]


def _catalogue(request: Request):
    return get_catalogue(request.app.state.settings.catalogue)


@router.get("/rules", response_model=list[RuleOut], summary="占压 rules and safety distances (m)")
def rules(request: Request, _: Viewer) -> list[RuleOut]:
    distances = pipelines.safety_distances(_catalogue(request))
    return [
        RuleOut(rule=f"encroach_{k}", label=pipelines.LINE_RULES[f"encroach_{k}"], kind=k,
                kind_label=v, safety_distance_m=distances.get(k))
        for k, v in PIPELINE_KINDS.items()
    ]  # fmt: skip


@router.get("/hits", response_model=HitsOut, summary="Structures or patches within the distance")
def hits(
    request: Request,
    session: ReadDB,
    _: Viewer,
    target: Annotated[str, Query(pattern="^(structure|change_patch)$")] = "structure",
    kind: Annotated[
        list[str] | None, Query(description="gas, oil, power, dyke (repeatable)")
    ] = None,
    village_code: Annotated[str | None, Query(max_length=40)] = None,
) -> HitsOut:
    found = pipelines.hits(
        session, target=target, kinds=kind, village_code=village_code,
        catalogue=_catalogue(request),
    )  # fmt: skip
    out = [HitOut(**h.as_dict(), status_label=pipelines.status_label(h)) for h in found]
    return HitsOut(target=target, count=len(found), hits=out)
