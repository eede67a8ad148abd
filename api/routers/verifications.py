"""Verification records (农用地核实) with photos, status history and the photo-point layer.

Liaison writes, Viewer reads. Photo uploads are JPEG only, size- and pixel-limited by
``settings.limits``; a refused upload leaves no row and no file.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry

from api.deps import Admin, Editor, Liaison, ReadDB, Viewer, WriteDB, get_settings
from api.farmland_out import PhotoOut, VerificationOut, photo_points_out
from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.farmland import lookup, photos, verify
from geo_enforce.io import uploads
from geo_enforce.ledger.features import parse_bbox
from geo_enforce.ledger.vocab import VERIFICATION_RESULTS
from geo_enforce.storage.locking import etag, expected_version

router = APIRouter(prefix="/verifications", tags=["farmland"])

TargetKind = Literal["farmland_parcel", "change_patch", "structure"]


class VerificationIn(BaseModel):
    target_kind: TargetKind = "farmland_parcel"
    target_id: int | None = Field(None, description="record id of the target")
    patch_code: str | None = Field(None, description="farmland patch code, instead of target_id")
    result: str = Field(description=", ".join(f"{k} {v}" for k, v in VERIFICATION_RESULTS.items()))
    notes: str | None = Field(None, max_length=5000)
    verified_at: dt.datetime | None = Field(None, description="field time, with time zone")


class StatusIn(BaseModel):
    status: Literal["submitted", "reviewed", "returned"]
    reason: str | None = Field(None, max_length=2000)


class StructureCaseIn(BaseModel):
    category: str = Field("other", description="structure category, e.g. steel_shed, factory")
    case_no: str | None = Field(None, max_length=60, description="generated when empty")
    footprint: dict[str, Any] | str | None = Field(
        None, description="building outline (GeoJSON/WKT); the parcel when empty"
    )
    address: str | None = Field(None, max_length=300)
    floors: int = Field(1, ge=1, le=100)


class RetireIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why (作废原因)")
    version: int | None = Field(None, description="version read (or send If-Match)")


class RetiredOut(BaseModel):
    id: int
    retired_at: str | None
    retired_by: str | None
    retire_reason: str | None
    version: int


def _retired(rec) -> RetiredOut:
    return RetiredOut(
        id=rec.id,
        retired_at=rec.retired_at.isoformat() if rec.retired_at else None,
        retired_by=rec.retired_by,
        retire_reason=rec.retire_reason,
        version=rec.version,
    )


class PhotoUploadOut(BaseModel):
    photo: PhotoOut
    warnings: list[str]


@router.get("/photo-points", summary="Map layer: verification photo points (GeoJSON)")
def photo_points(
    request: Request,
    session: ReadDB,
    _: Viewer,
    verification_id: int | None = None,
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
) -> dict[str, Any]:
    points = photos.photo_points(
        session,
        verification_id=verification_id,
        bbox=parse_bbox(bbox),
        config=get_settings(request).farmland,
    )
    return photo_points_out(points)


def _out(request: Request, session, v, *, history: bool = True) -> VerificationOut:
    info = verify.verification_info(
        session, v, config=get_settings(request).farmland, history=history
    )
    return VerificationOut.of(info)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Record a field verification")
def create(
    body: VerificationIn, request: Request, session: WriteDB, principal: Liaison
) -> VerificationOut:
    target_id = body.target_id
    if body.patch_code is not None:
        if body.target_kind != "farmland_parcel":
            raise InvalidInput("patch_code identifies farmland parcels only; give target_id")
        target_id = lookup.by_code(session, body.patch_code).id
    if target_id is None:
        raise InvalidInput("give target_id (or patch_code for a farmland parcel)")
    v = verify.create_verification(
        session,
        target_kind=body.target_kind,
        target_id=target_id,
        result=body.result,
        actor=principal.actor,
        notes=body.notes,
        verified_at=body.verified_at,
    )
    return _out(request, session, v)


@router.get("", summary="Verification records, newest first")
def list_(
    request: Request,
    session: ReadDB,
    _: Viewer,
    target_kind: TargetKind | None = None,
    target_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
) -> list[VerificationOut]:
    targets = None
    if target_kind is not None and target_id is not None:
        targets = [(target_kind, target_id)]
    elif (target_kind is None) != (target_id is None):
        raise InvalidInput("give target_kind and target_id together")
    found = verify.list_verifications(
        session,
        targets=targets,
        since=since,
        until=until,
        status=status_,
        config=get_settings(request).farmland,
    )
    return [VerificationOut.of(v) for v in found]


@router.get(
    "/{verification_id}",
    summary="A verification with photos and status history; its version as ETag (for retire)",
)
def get(
    verification_id: int, request: Request, response: Response, session: ReadDB, _: Viewer
) -> VerificationOut:
    v = verify.get_verification(session, verification_id)
    response.headers["ETag"] = etag(v.version)
    return _out(request, session, v)


@router.post(
    "/{verification_id}/status", summary="Move a verification (submitted/reviewed/returned)"
)
def set_status(
    verification_id: int, body: StatusIn, request: Request, session: WriteDB, principal: Liaison
) -> VerificationOut:
    v = verify.set_status(
        session, verification_id, body.status, actor=principal.actor, reason=body.reason
    )
    return _out(request, session, v)


@router.post(
    "/{verification_id}/photos",
    status_code=status.HTTP_201_CREATED,
    response_model=PhotoUploadOut,
    summary="Upload a JPEG photo (GPS, heading and time read from EXIF)",
)
def upload_photo(
    verification_id: int,
    request: Request,
    session: WriteDB,
    _: Liaison,
    file: UploadFile = File(description="JPEG photo"),
    lon: float | None = Form(None, description="position by hand when the photo has no GPS"),
    lat: float | None = Form(None),
) -> dict[str, Any]:
    settings = get_settings(request)
    data = uploads.read_limited(
        file.file, settings.limits.max_upload_bytes, what=f"photo '{file.filename}'"
    )
    res = photos.add_photo(
        session,
        settings,
        verification_id,
        data,
        filename=file.filename,
        content_type=file.content_type,
        lon=lon,
        lat=lat,
    )
    return {"photo": PhotoOut.of(res.photo), "warnings": res.warnings}


@router.get(
    "/{verification_id}/photos/{photo_id}",
    response_class=FileResponse,
    summary="The stored photo (JPEG)",
)
def get_photo(
    verification_id: int, photo_id: int, request: Request, session: ReadDB, _: Viewer
) -> FileResponse:
    p = photos.get_photo(session, verification_id, photo_id)
    path = photos.photo_path(get_settings(request), p)
    if not path.exists():
        raise NotFound(f"the file of photo {photo_id} is missing from the data directory")
    return FileResponse(path, media_type="image/jpeg")


@router.post(
    "/{verification_id}/structure-case",
    status_code=status.HTTP_201_CREATED,
    summary="Open a structure case (违法建设) from a parcel found occupied (editor)",
)
def structure_case(
    verification_id: int,
    body: StructureCaseIn,
    request: Request,
    session: WriteDB,
    principal: Editor,
) -> dict[str, Any]:
    footprint: BaseGeometry | None = None
    if body.footprint is not None:
        limit = get_settings(request).limits.max_vertices
        footprint = lookup.parse_polygon(body.footprint, max_vertices=limit).geom
    st = verify.open_structure_case(
        session,
        verification_id,
        actor=principal.actor,
        category=body.category,
        case_no=body.case_no,
        footprint=footprint,  # type: ignore[arg-type]
        address=body.address,
        floors=body.floors,
    )
    return {
        "structure_id": st.id,
        "case_no": st.case_no,
        "status": st.status,
        "area_m2": round(st.area_m2, 2),
        "verification_id": verification_id,
    }


@router.post(
    "/{verification_id}/retire",
    response_model=RetiredOut,
    summary="Retire a verification (never deleted; audited)",
)
def retire(
    verification_id: int,
    body: RetireIn,
    session: WriteDB,
    principal: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> RetiredOut:
    v = verify.retire_verification(
        session,
        verification_id,
        actor=principal.actor,
        reason=body.reason,
        expected_version=expected_version(if_match, body.version),
    )
    return _retired(v)


@router.post(
    "/{verification_id}/photos/{photo_id}/retire",
    response_model=RetiredOut,
    summary="Retire a verification photo (never deleted; audited)",
)
def retire_photo(
    verification_id: int,
    photo_id: int,
    body: RetireIn,
    session: WriteDB,
    principal: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> RetiredOut:
    p = verify.retire_photo(
        session,
        verification_id,
        photo_id,
        actor=principal.actor,
        reason=body.reason,
        expected_version=expected_version(if_match, body.version),
    )
    return _retired(p)
