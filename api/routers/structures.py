"""Structure cases: register, edit, lifecycle transitions, retire, all with optimistic locking.

Reads of one case send its version as ``ETag``; every write to an existing case (edit,
transition, retire) needs that version back as ``If-Match`` (or a ``version`` field): without
it the write is refused with 428, with an older one with 409 (``current_version`` in the body),
so two editors can never both move a case from the same state.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from pydantic import BaseModel, Field
from shapely.geometry import shape

from api.deps import Admin, Editor, ReadDB, Viewer, WriteDB, get_settings
from geo_enforce.errors import InvalidInput
from geo_enforce.io.sanity import beijing_today, check_positions
from geo_enforce.ledger import deadlines, features, lifecycle, stock
from geo_enforce.ledger import edits as ledger
from geo_enforce.ledger.vocab import STRUCTURE_STATUSES, label
from geo_enforce.settings import LimitSettings
from geo_enforce.storage.locking import etag, expected_version, lock_for_update
from geo_enforce.storage.models import Structure

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
    township_code: str | None = Field(
        None,
        max_length=40,
        description="township (town code); empty: the town containing the outline",
    )


class StructureCreate(StructureFields):
    case_no: str = Field(min_length=1, max_length=60)
    category: str = Field(description="villa|factory|steel_shed|wall|gate|courtyard|carport|other")
    geometry: GeoJSONGeometry = Field(description="Polygon/MultiPolygon, lon/lat CGCS2000")


class StructureUpdate(StructureFields):
    version: int | None = Field(
        None, ge=1, le=2**31 - 1, description="version the edit is based on (or If-Match)"
    )
    geometry: GeoJSONGeometry | None = None


class TransitionIn(BaseModel):
    to_status: str = Field(description=", ".join(f"{k} {v}" for k, v in STRUCTURE_STATUSES.items()))
    reason: str = Field(min_length=1, max_length=2000)
    effective_on: dt.date | None = None
    deadline: dt.date | None = Field(
        None, description="notice_served: the notice's deadline (责令限期拆除 期限), required there"
    )
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class StockClassIn(BaseModel):
    stock_class: str | None = Field(
        description="stock (存量), increment (增量), or null to go back to the derived class"
    )
    reason: str | None = Field(None, max_length=2000, description="认定依据, required to set")
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class StockClassOut(BaseModel):
    derived: str | None
    override: str | None
    override_reason: str | None
    effective: str | None
    label: str
    base_date: dt.date | None


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
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


def _geom(g: GeoJSONGeometry | None, limits: LimitSettings):
    if g is None:
        return None
    # counted on the parsed array first: building a million-vertex polygon alone takes seconds
    check_positions(g.coordinates, limits.max_vertices, "geometry")
    try:
        geom = shape(g.model_dump())
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise InvalidInput(f"geometry is not valid GeoJSON: {exc}") from None
    return geom


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


def _read(session, st: Structure, response: Response, *, personal: bool) -> dict:
    """One case as a GeoJSON feature with its ``version``; the version also as ``ETag``."""
    response.headers["ETag"] = etag(st.version)
    out = features.item(session, "structure", st.id, personal=personal)
    out.setdefault("properties", {})["version"] = st.version
    return out


@router.get("/overdue", summary="逾期未拆除: open notices past their deadline (JSON or GeoJSON)")
def list_overdue(
    session: ReadDB,
    _: Viewer,
    as_of: Annotated[dt.date | None, Query(description="day (default today)")] = None,
    village_code: Annotated[str | None, Query(max_length=40)] = None,
    f: Annotated[str, Query(pattern="^(json|geojson)$", description="json or geojson")] = "json",
) -> dict:
    """The overdue cases, longest overdue first; ``f=geojson`` gives a FeatureCollection the
    map draws (each feature's properties are the list's fields). Collections offer the same as
    ``/collections/structure/items?overdue=true``."""
    day = as_of or beijing_today()
    if f == "geojson":
        return deadlines.overdue_geojson(session, day, village_code=village_code)
    cases = deadlines.overdue(session, day, village_code=village_code)
    return {"as_of": day.isoformat(), "count": len(cases), "cases": [c.as_dict() for c in cases]}


@router.get("/by-case/{case_no}", summary="Find a structure by case number (案件编号), with ETag")
def by_case(case_no: str, session: ReadDB, principal: Viewer, response: Response) -> dict:
    st = lifecycle.find_structure(session, case_no=case_no)
    return _read(session, st, response, personal=principal.has("editor"))


@router.get("/{structure_id}", summary="One structure case, with its version as ETag")
def get_one(structure_id: int, session: ReadDB, principal: Viewer, response: Response) -> dict:
    st = lifecycle.find_structure(session, structure_id=structure_id)
    return _read(session, st, response, personal=principal.has("editor"))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a structure case")
def create(
    body: StructureCreate, session: WriteDB, _: Editor, request: Request, response: Response
) -> dict:
    values = body.model_dump(exclude={"case_no", "geometry"}, exclude_none=True)
    st = ledger.create_structure(
        session,
        case_no=body.case_no,
        geometry=_geom(body.geometry, get_settings(request).limits),
        **values,
    )
    return _read(session, st, response, personal=True)


@router.patch("/{structure_id}", summary="Edit a structure (If-Match: its ETag)")
def update(
    structure_id: int,
    body: StructureUpdate,
    session: WriteDB,
    _: Editor,
    request: Request,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict:
    st = lifecycle.find_structure(session, structure_id=structure_id)
    changes = body.model_dump(exclude={"version", "geometry"}, exclude_unset=True)
    ledger.update_structure(
        session,
        st,
        changes,
        geometry=_geom(body.geometry, get_settings(request).limits),
        expected_version=expected_version(if_match, body.version),
    )
    return _read(session, st, response, personal=True)


@router.post(
    "/{structure_id}/transitions",
    status_code=status.HTTP_201_CREATED,
    response_model=TransitionOut,
    summary="Change the case status (with a reason; If-Match: its ETag)",
)
def add_transition(
    structure_id: int,
    body: TransitionIn,
    session: WriteDB,
    principal: Editor,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> TransitionOut:
    expected = expected_version(if_match, body.version)
    # the row stays locked to the end of the transaction: a concurrent transition from the
    # same version waits, then finds the version moved on and gets 409
    st = lock_for_update(session, Structure, structure_id, expected)
    rec = lifecycle.transition(
        session,
        st,
        body.to_status,
        actor=principal.actor,
        reason=body.reason,
        effective_on=body.effective_on,
        expected_version=expected,
        deadline=body.deadline,
    )
    response.headers["ETag"] = etag(st.version)
    return _out(rec)


@router.get(
    "/{structure_id}/transitions",
    response_model=list[TransitionOut],
    summary="Status history of a case",
)
def list_transitions(structure_id: int, session: ReadDB, _: Viewer) -> list[TransitionOut]:
    lifecycle.find_structure(session, structure_id=structure_id)
    return [_out(t) for t in lifecycle.history(session, structure_id)]


@router.get(
    "/{structure_id}/stock-class",
    response_model=StockClassOut,
    summary="存量/增量 of a case: derived from the base date, or set by hand",
)
def get_stock_class(structure_id: int, session: ReadDB, _: Viewer) -> StockClassOut:
    st = lifecycle.find_structure(session, structure_id=structure_id)
    return StockClassOut(**stock.classify(session, st))


@router.post(
    "/{structure_id}/stock-class",
    response_model=StockClassOut,
    summary="Override 存量/增量 with a reason, or clear the override (If-Match: its ETag)",
)
def set_stock_class(
    structure_id: int,
    body: StockClassIn,
    session: WriteDB,
    _: Editor,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> StockClassOut:
    expected = expected_version(if_match, body.version)
    st = lock_for_update(session, Structure, structure_id, expected)
    stock.set_override(session, st, body.stock_class, reason=body.reason, expected_version=expected)
    response.headers["ETag"] = etag(st.version)
    return StockClassOut(**stock.classify(session, st))


@router.post("/{structure_id}/retire", summary="Retire a case (never deleted; If-Match: its ETag)")
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
        actor=principal.actor,
        reason=body.reason,
        expected_version=expected_version(if_match, body.version),
    )
    return {"id": rec.id, "retired_at": rec.retired_at.isoformat(), "version": rec.version}
