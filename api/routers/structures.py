"""Structure cases: register, edit (optimistic locking), lifecycle transitions, retire."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Header, status
from pydantic import BaseModel, Field
from shapely.geometry import shape

from api.deps import Admin, Editor, ReadDB, Viewer, WriteDB
from geo_enforce.errors import InvalidInput
from geo_enforce.ledger import edits as ledger
from geo_enforce.ledger import features, lifecycle
from geo_enforce.ledger.vocab import STRUCTURE_STATUSES, label
from geo_enforce.storage.locking import expected_version

router = APIRouter(prefix="/structures", tags=["structures"])


class GeoJSONGeometry(BaseModel):
    type: str = Field(examples=["Polygon"])
    coordinates: list[Any]


class StructureFields(BaseModel):
    village_code: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=300)
    category: str | None = Field(
        None, description="villa|factory|steel_shed|wall|gate|courtyard|carport|other"
    )
    floors: int | None = Field(None, ge=1, le=100)
    households: int | None = Field(None, ge=0, le=10_000)
    discovered_on: dt.date | None = None
    floor_area_measured_m2: float | None = Field(None, gt=0, lt=1e7)
    party_name: str | None = Field(None, max_length=100)
    party_id_no: str | None = Field(None, max_length=30)
    party_phone: str | None = Field(None, max_length=30)
    notes: str | None = Field(None, max_length=5000)


class StructureCreate(StructureFields):
    case_no: str = Field(min_length=1, max_length=60)
    category: str = Field(description="villa|factory|steel_shed|wall|gate|courtyard|carport|other")
    geometry: GeoJSONGeometry = Field(description="Polygon/MultiPolygon, lon/lat CGCS2000")


class StructureUpdate(StructureFields):
    version: int | None = Field(None, description="version the edit is based on (or If-Match)")
    geometry: GeoJSONGeometry | None = None


class TransitionIn(BaseModel):
    to_status: str = Field(description=", ".join(f"{k} {v}" for k, v in STRUCTURE_STATUSES.items()))
    reason: str = Field(min_length=1, max_length=2000)
    effective_on: dt.date | None = None
    version: int | None = None


class TransitionOut(BaseModel):
    id: int
    from_status: str
    to_status: str
    to_status_label: str
    actor: str
    at: dt.datetime
    effective_on: dt.date | None
    reason: str


class RetireIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    version: int | None = None


def _geom(g: GeoJSONGeometry | None):
    if g is None:
        return None
    try:
        return shape(g.model_dump())
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise InvalidInput(f"geometry is not valid GeoJSON: {exc}") from None


def _out(t) -> TransitionOut:
    return TransitionOut(
        id=t.id,
        from_status=t.from_status,
        to_status=t.to_status,
        to_status_label=label(STRUCTURE_STATUSES, t.to_status),
        actor=t.actor,
        at=t.at,
        effective_on=t.effective_on,
        reason=t.reason,
    )


@router.get("/by-case/{case_no}", summary="Find a structure by case number (案件编号)")
def by_case(case_no: str, session: ReadDB, principal: Viewer) -> dict:
    st = lifecycle.find_structure(session, case_no=case_no)
    return features.item(session, "structure", st.id, personal=principal.has("editor"))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a structure case")
def create(body: StructureCreate, session: WriteDB, _: Editor) -> dict:
    values = body.model_dump(exclude={"case_no", "geometry"}, exclude_none=True)
    st = ledger.create_structure(
        session, case_no=body.case_no, geometry=_geom(body.geometry), **values
    )
    return features.item(session, "structure", st.id, personal=True)


@router.patch("/{structure_id}", summary="Edit a structure (send its version or If-Match)")
def update(
    structure_id: int,
    body: StructureUpdate,
    session: WriteDB,
    _: Editor,
    if_match: Annotated[str | None, Header()] = None,
) -> dict:
    st = lifecycle.find_structure(session, structure_id=structure_id)
    changes = body.model_dump(exclude={"version", "geometry"}, exclude_unset=True)
    ledger.update_structure(
        session,
        st,
        changes,
        geometry=_geom(body.geometry),
        expected_version=expected_version(if_match, body.version),
    )
    return features.item(session, "structure", st.id, personal=True)


@router.post(
    "/{structure_id}/transitions",
    status_code=status.HTTP_201_CREATED,
    response_model=TransitionOut,
    summary="Change the case status (with a reason)",
)
def add_transition(
    structure_id: int,
    body: TransitionIn,
    session: WriteDB,
    principal: Editor,
    if_match: Annotated[str | None, Header()] = None,
) -> TransitionOut:
    st = lifecycle.find_structure(session, structure_id=structure_id)
    rec = lifecycle.transition(
        session,
        st,
        body.to_status,
        actor=f"api:{principal.name}",
        reason=body.reason,
        effective_on=body.effective_on,
        expected_version=expected_version(if_match, body.version, required=False),
    )
    return _out(rec)


@router.get(
    "/{structure_id}/transitions",
    response_model=list[TransitionOut],
    summary="Status history of a case",
)
def list_transitions(structure_id: int, session: ReadDB, _: Viewer) -> list[TransitionOut]:
    lifecycle.find_structure(session, structure_id=structure_id)
    return [_out(t) for t in lifecycle.history(session, structure_id)]


@router.post("/{structure_id}/retire", summary="Retire a case (never deleted)")
def retire(
    structure_id: int,
    body: RetireIn,
    session: WriteDB,
    principal: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> dict:
    rec = ledger.retire(
        session,
        "structure",
        structure_id,
        actor=f"api:{principal.name}",
        reason=body.reason,
        expected_version=expected_version(if_match, body.version, required=False),
    )
    return {"id": rec.id, "retired_at": rec.retired_at.isoformat(), "version": rec.version}
