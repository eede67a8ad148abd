"""Field capture (issue 15): patrol records (巡查记录), evidence on cases (取证), the case
timeline, closing a demolition with its 拆除后 evidence, today's work list and GPX.

Captures are ``multipart/form-data`` POSTs by the ``inspector`` role, each with an
``Idempotency-Key`` header (or ``idempotency_key`` field): 201 when stored, 200 with the same
record when retried, 409 ``KeyReused`` when the key came with other content, 409 ``CaseClosed``
when the case was closed meanwhile (the capture is kept as an unlinked patrol record, named in
``error.stored``). The contract is in docs/map.md, "Field capture".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from shapely.geometry import shape

from api.deps import Editor, Inspector, ReadDB, Viewer, WriteDB, get_settings
from api.errors import error_body
from geo_enforce.errors import InvalidInput
from geo_enforce.field import capture, media, records, worklist
from geo_enforce.io.sanity import BEIJING, beijing_today, check_positions
from geo_enforce.ledger import vocab
from geo_enforce.ledger.lifecycle import find_structure
from geo_enforce.settings import Settings
from geo_enforce.storage.locking import etag, expected_version, lock_for_update
from geo_enforce.storage.models import Structure

router = APIRouter(tags=["field"])

FILE_PATH = "/field/files/{file_id}"
PATROL_PATH = "/field/patrols/{patrol_id}"
KEY_HELP = "幂等键 (a UUID per capture; a retry sends the same one)"
REPLAY: dict[int | str, dict[str, Any]] = {
    200: {"description": "retry of a stored capture: the stored record, nothing new"}
}


def _local(t: dt.datetime | None) -> dt.datetime | None:
    return None if t is None else t.astimezone(BEIJING)


def _local_time(t: dt.datetime) -> dt.datetime:
    return t.astimezone(BEIJING)


class FileOut(BaseModel):
    id: int
    media: str = Field(description="photo | video | document")
    content_type: str
    original_name: str | None
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the bytes as received")
    width: int | None
    height: int | None
    taken_at: dt.datetime | None
    time_source: str | None = Field(description="exif | device")
    lon: float | None
    lat: float | None
    position_source: str | None = Field(description="exif | device")
    heading_deg: float | None
    received_at: dt.datetime
    url: str

    @classmethod
    def of(cls, f: records.FileInfo) -> FileOut:
        return cls(
            **{
                **f.__dict__,
                "taken_at": _local(f.taken_at),
                "received_at": _local(f.received_at),
            },
            url=FILE_PATH.format(file_id=f.id),
        )


class PatrolOut(BaseModel):
    kind: str = "patrol"
    id: int
    observed_at: dt.datetime
    category: str
    category_label: str
    note: str | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    sketch: dict[str, Any] | None = Field(description="GeoJSON geometry, lon/lat")
    structure_id: int | None = Field(description="the linked case (or the case it opened)")
    case_no: str | None
    opened_case: bool = Field(description="this record opened its case (新增疑似违建)")
    conflict_case_id: int | None = Field(description="case closed meanwhile: kept unlinked")
    conflict_case_no: str | None
    conflict_note: str | None
    conflict_stage: str | None
    recorded_by: str
    created_at: dt.datetime
    files: list[FileOut]
    url: str
    replayed: bool = False
    warnings: list[str] = []

    @classmethod
    def of(cls, p: records.PatrolInfo, **extra: Any) -> PatrolOut:
        d = {**p.__dict__, "files": [FileOut.of(f) for f in p.files]}
        d.update(observed_at=_local(p.observed_at), created_at=_local(p.created_at))
        return cls(
            **d,
            category_label=vocab.label(vocab.PATROL_CATEGORIES, p.category),
            url=PATROL_PATH.format(patrol_id=p.id),
            **extra,
        )


class EvidenceOut(BaseModel):
    kind: str = "evidence"
    id: int
    structure_id: int
    case_no: str
    stage: str
    stage_label: str
    observed_at: dt.datetime
    note: str | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    recorded_by: str
    created_at: dt.datetime
    files: list[FileOut]
    cited_by: list[int] = Field(description="transitions citing this evidence")
    replayed: bool = False
    warnings: list[str] = []

    @classmethod
    def of(cls, e: records.EvidenceInfo, **extra: Any) -> EvidenceOut:
        d = {**e.__dict__, "files": [FileOut.of(f) for f in e.files], "cited_by": list(e.cited_by)}
        d.update(observed_at=_local(e.observed_at), created_at=_local(e.created_at))
        return cls(**d, stage_label=vocab.label(vocab.EVIDENCE_STAGES, e.stage), **extra)


def _files(files: list[UploadFile], settings: Settings) -> list[media.CheckedMedia]:
    out = []
    for f in files:
        data = media.read_upload(f.file, filename=f.filename, limits=settings.limits)
        out.append(
            media.check_media(
                data, filename=f.filename, content_type=f.content_type, limits=settings.limits
            )
        )
    return out


def _device(lon: float | None, lat: float | None, accuracy_m: float | None) -> capture.Device:
    return capture.Device(lon=lon, lat=lat, accuracy_m=accuracy_m)


def _sketch(text: str | None, settings: Settings):
    if not text:
        return None
    try:
        g = json.loads(text)
        if isinstance(g, dict) and g.get("type") == "Feature":
            g = g.get("geometry")
        check_positions(g.get("coordinates"), settings.limits.max_vertices, "sketch")
        return shape(g)
    except InvalidInput:
        raise
    except Exception:  # json and shapely raise several types for malformed GeoJSON
        raise InvalidInput(
            "勾绘范围 sketch 不是有效的 GeoJSON 面（Polygon/MultiPolygon，经纬度） "
            "(sketch is not a GeoJSON polygon)"
        ) from None


def _rendered(
    session, result: capture.CaptureResult, response: Response
) -> PatrolOut | EvidenceOut | JSONResponse:
    extra = {"replayed": result.replayed, "warnings": result.warnings}
    out: PatrolOut | EvidenceOut
    if result.kind == "patrol":
        out = PatrolOut.of(records.patrol_info(session, result.record_id), **extra)
    else:
        out = EvidenceOut.of(records.evidence_info(session, result.record_id), **extra)
    if result.conflict is not None:
        c = result.conflict
        body = error_body(
            409,
            "CaseClosed",
            c.message,
            case_id=c.case_id,
            case_no=c.case_no,
            case_status=c.status,
            case_status_label=vocab.label(vocab.STRUCTURE_STATUSES, c.status),
            case_retired=c.retired,
            stored=out.model_dump(mode="json"),
        )
        return JSONResponse(body, status_code=409)
    response.status_code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
    return out


@router.get("/field/vocabularies", summary="Patrol categories and evidence stages, with labels")
def vocabularies(_: Viewer) -> dict[str, dict[str, str]]:
    return {
        "patrol_categories": vocab.PATROL_CATEGORIES,
        "evidence_stages": vocab.EVIDENCE_STAGES,
        "structure_categories": vocab.STRUCTURE_CATEGORIES,
        "structure_statuses": vocab.STRUCTURE_STATUSES,
    }


@router.post(
    "/field/patrols",
    status_code=status.HTTP_201_CREATED,
    response_model=PatrolOut,
    responses=REPLAY,
    summary="Capture a patrol record (巡查记录), optionally opening a suspected case",
)
def create_patrol(
    request: Request,
    response: Response,
    session: WriteDB,
    principal: Inspector,
    observed_at: Annotated[dt.datetime, Form(description="ISO 8601; no zone = Beijing time")],
    category: Annotated[str, Form(max_length=30, description="see /field/vocabularies")],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180, description="device GPS")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    accuracy_m: Annotated[float | None, Form(ge=0, le=100_000)] = None,
    sketch: Annotated[str | None, Form(max_length=2_000_000, description="GeoJSON polygon")] = None,
    structure_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    new_suspected: Annotated[bool, Form(description="新增疑似违建: opens a case")] = False,
    structure_category: Annotated[str, Form(max_length=20)] = "other",
    address: Annotated[str | None, Form(max_length=300)] = None,
    idempotency_key: Annotated[str | None, Form(max_length=100, description=KEY_HELP)] = None,
    files: Annotated[list[UploadFile] | None, File(description="photos, videos, PDFs")] = None,
    idempotency_header: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=100, description=KEY_HELP)
    ] = None,
) -> Any:
    settings = get_settings(request)
    checked = _files(files or [], settings)
    record = capture.PatrolIn(
        observed_at=observed_at,
        category=category,
        note=note,
        device=_device(lon, lat, accuracy_m),
        sketch=_sketch(sketch, settings),
        structure_id=structure_id,
        new_suspected=new_suspected,
        structure_category=structure_category,
        address=address,
    )
    result = capture.create_patrol(
        session,
        settings,
        record,
        checked,
        key=idempotency_header or idempotency_key or "",
        actor=principal.actor,
    )
    return _rendered(session, result, response)


@router.get("/field/patrols", response_model=list[PatrolOut], summary="Patrol records")
def list_patrols(
    session: ReadDB,
    _: Viewer,
    since: Annotated[dt.datetime | None, Query(description="observed from (inclusive)")] = None,
    until: Annotated[dt.datetime | None, Query(description="observed before")] = None,
    structure_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    unlinked: Annotated[
        bool | None, Query(description="true: only records kept apart from a closed case")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[PatrolOut]:
    rows = records.list_patrols(
        session,
        since=since,
        until=until,
        structure_id=structure_id,
        unlinked=unlinked,
        limit=limit,
        offset=offset,
    )
    return [PatrolOut.of(p) for p in rows]


@router.get("/field/patrols/{patrol_id}", response_model=PatrolOut, summary="One patrol record")
def get_patrol(patrol_id: int, session: ReadDB, _: Viewer) -> PatrolOut:
    return PatrolOut.of(records.patrol_info(session, patrol_id))


@router.get(
    "/field/files/{file_id}",
    response_class=FileResponse,
    summary="A captured photo, video or PDF",
)
def get_file(file_id: int, request: Request, session: ReadDB, _: Viewer) -> FileResponse:
    f = records.get_file(session, file_id)
    return FileResponse(records.file_path(get_settings(request), f), media_type=f.content_type)


@router.post(
    "/structures/{structure_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    response_model=EvidenceOut,
    responses=REPLAY,
    summary="Capture evidence on a case (取证: 现场检查 … 拆除后, 制止)",
)
def add_evidence(
    structure_id: int,
    request: Request,
    response: Response,
    session: WriteDB,
    principal: Inspector,
    stage: Annotated[str, Form(max_length=20, description="see /field/vocabularies")],
    files: Annotated[list[UploadFile], File(description="photos, videos, PDFs (at least one)")],
    observed_at: Annotated[
        dt.datetime | None, Form(description="no zone = Beijing time; default: EXIF time")
    ] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180, description="device GPS")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    accuracy_m: Annotated[float | None, Form(ge=0, le=100_000)] = None,
    idempotency_key: Annotated[str | None, Form(max_length=100, description=KEY_HELP)] = None,
    idempotency_header: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=100, description=KEY_HELP)
    ] = None,
) -> Any:
    settings = get_settings(request)
    checked = _files(files, settings)
    evidence = capture.EvidenceIn(
        stage=stage, observed_at=observed_at, note=note, device=_device(lon, lat, accuracy_m)
    )
    result = capture.add_evidence(
        session,
        settings,
        structure_id,
        evidence,
        checked,
        key=idempotency_header or idempotency_key or "",
        actor=principal.actor,
    )
    return _rendered(session, result, response)


@router.get(
    "/structures/{structure_id}/evidence",
    response_model=list[EvidenceOut],
    summary="The evidence of a case, in the order observed",
)
def list_evidence(structure_id: int, session: ReadDB, _: Viewer) -> list[EvidenceOut]:
    find_structure(session, structure_id=structure_id)
    return [EvidenceOut.of(e) for e in records.list_evidence(session, structure_id)]


class TimelineTransition(BaseModel):
    id: int
    from_status: str
    from_status_label: str
    to_status: str
    to_status_label: str
    actor: str
    recorded_at: dt.datetime
    effective_on: dt.date | None
    reason: str
    cites_evidence: list[int]


class TimelineEntryOut(BaseModel):
    kind: str = Field(description="transition | evidence | patrol")
    at: dt.datetime = Field(
        description="captures: observed; transitions: recorded, or the end of the effective day"
    )
    transition: TimelineTransition | None = None
    evidence: EvidenceOut | None = None
    patrol: PatrolOut | None = None


class TimelineOut(BaseModel):
    structure_id: int
    case_no: str
    status: str
    status_label: str
    entries: list[TimelineEntryOut]


def _entry(e: records.TimelineEntry) -> TimelineEntryOut:
    out = TimelineEntryOut(kind=e.kind, at=_local_time(e.at))
    if e.transition is not None:
        t = e.transition
        out.transition = TimelineTransition(
            id=t.id,
            from_status=t.from_status,
            from_status_label=vocab.label(vocab.STRUCTURE_STATUSES, t.from_status),
            to_status=t.to_status,
            to_status_label=vocab.label(vocab.STRUCTURE_STATUSES, t.to_status),
            actor=t.actor,
            recorded_at=_local_time(t.at),
            effective_on=t.effective_on,
            reason=t.reason,
            cites_evidence=list(e.cites),
        )
    if e.evidence is not None:
        out.evidence = EvidenceOut.of(e.evidence)
    if e.patrol is not None:
        out.patrol = PatrolOut.of(e.patrol)
    return out


@router.get(
    "/structures/{structure_id}/timeline",
    response_model=TimelineOut,
    summary="A case's timeline: transitions beside evidence and patrol records",
)
def timeline(structure_id: int, session: ReadDB, _: Viewer) -> TimelineOut:
    st = find_structure(session, structure_id=structure_id)
    return TimelineOut(
        structure_id=st.id,
        case_no=st.case_no,
        status=st.status,
        status_label=vocab.label(vocab.STRUCTURE_STATUSES, st.status),
        entries=[_entry(e) for e in records.timeline(session, structure_id)],
    )


class CloseDemolitionIn(BaseModel):
    evidence_ids: list[int] = Field(min_length=1, max_length=200, description="拆除后 evidence")
    reason: str | None = Field(None, max_length=2000, description="default: 拆除完毕")
    effective_on: dt.date | None = Field(None, description="default: day of the latest evidence")
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class CloseDemolitionOut(BaseModel):
    structure_id: int
    case_no: str
    status: str
    transition: TimelineTransition
    version: int


@router.post(
    "/structures/{structure_id}/close-demolition",
    response_model=CloseDemolitionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Close a demolition (已拆除) citing its 拆除后 evidence (If-Match: its ETag)",
)
def close_demolition(
    structure_id: int,
    body: CloseDemolitionIn,
    session: WriteDB,
    principal: Editor,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> CloseDemolitionOut:
    expected = expected_version(if_match, body.version)
    st = lock_for_update(session, Structure, structure_id, expected)
    rec, ids = records.close_demolition(
        session,
        st,
        body.evidence_ids,
        actor=principal.actor,
        reason=body.reason,
        effective_on=body.effective_on,
        expected_version=expected,
    )
    response.headers["ETag"] = etag(st.version)
    return CloseDemolitionOut(
        structure_id=st.id,
        case_no=st.case_no,
        status=st.status,
        version=st.version,
        transition=TimelineTransition(
            id=rec.id,
            from_status=rec.from_status,
            from_status_label=vocab.label(vocab.STRUCTURE_STATUSES, rec.from_status),
            to_status=rec.to_status,
            to_status_label=vocab.label(vocab.STRUCTURE_STATUSES, rec.to_status),
            actor=rec.actor,
            recorded_at=_local_time(rec.at),
            effective_on=rec.effective_on,
            reason=rec.reason,
            cites_evidence=ids,
        ),
    )


def _near(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    return worklist.check_position(lon, lat)


class PatchStopOut(BaseModel):
    id: int
    code: str
    village_code: str | None
    status: str
    status_label: str
    change_kind: str
    confidence: float
    area_m2: float
    detected_on: dt.date | None
    lon: float
    lat: float
    distance_m: float | None = Field(description="geodesic metres from lon/lat")


@router.get(
    "/field/patches",
    response_model=list[PatchStopOut],
    summary="Change patches awaiting a field check, nearest first from lon/lat",
)
def patches_awaiting(
    session: ReadDB,
    _: Viewer,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    village_code: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[PatchStopOut]:
    stops = worklist.awaiting_check(
        session, near=_near(lon, lat), village_code=village_code, limit=limit
    )
    return [
        PatchStopOut(**s.__dict__, status_label=vocab.label(vocab.PATCH_STATUSES, s.status))
        for s in stops
    ]


@router.get("/field/overdue", summary="Today's overdue cases (逾期, Beijing time), nearest first")
def overdue(
    session: ReadDB,
    _: Viewer,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    village_code: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    day = beijing_today()
    stops = worklist.overdue_today(
        session, near=_near(lon, lat), village_code=village_code, as_of=day
    )
    return {
        "as_of": day.isoformat(),
        "count": len(stops),
        "cases": [
            {**s.case.as_dict(), "lon": s.lon, "lat": s.lat, "distance_m": s.distance_m}
            for s in stops
        ],
    }


@router.get(
    "/field/route.gpx",
    response_class=Response,
    responses={200: {"content": {"application/gpx+xml": {}}}},
    summary="A route list as GPX 1.1 (stops in the order given)",
)
def route_gpx(
    session: ReadDB,
    _: Viewer,
    stops: Annotated[
        str,
        Query(max_length=10_000, description="structure:<id>,change_patch:<id>,… in order"),
    ],
    name: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    found = worklist.route_stops(session, worklist.parse_stops(stops))
    day = beijing_today()
    title = name or f"巡查路线 {day.isoformat()}"
    return Response(
        worklist.gpx(found, name=title),
        media_type="application/gpx+xml",
        headers={"Content-Disposition": f'attachment; filename="route-{day:%Y%m%d}.gpx"'},
    )
