"""Verification records (农用地核实) with photos, status history and the photo-point layer.

Liaison writes, Viewer reads. Photo uploads are JPEG only, size- and pixel-limited by
``settings.limits``; a refused upload leaves no row and no file.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from shapely.geometry.base import BaseGeometry

from api.deps import Editor, Liaison, ReadDB, Viewer, WriteDB, get_settings
from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.farmland import lookup, photos, verify
from geo_enforce.io import uploads
from geo_enforce.ledger.vocab import VERIFICATION_RESULTS

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


class PhotoOut(BaseModel):
    id: int
    verification_id: int
    original_name: str | None
    size_bytes: int
    sha256: str
    taken_at: str | None
    heading_deg: float | None
    lon: float | None
    lat: float | None
    distance_to_target_m: float | None
    far: bool
    url: str


class PhotoUploadOut(BaseModel):
    photo: PhotoOut
    warnings: list[str]


@router.get("/photo-points", summary="Map layer: verification photo points (GeoJSON)")
def photo_points(
    session: ReadDB,
    _: Viewer,
    verification_id: int | None = None,
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
) -> dict[str, Any]:
    box = None
    if bbox:
        try:
            a, b, c, d = (float(v) for v in bbox.split(","))
        except ValueError:
            raise InvalidInput(
                f"bbox '{bbox}' must be four numbers: minlon,minlat,maxlon,maxlat"
            ) from None
        box = (a, b, c, d)
    return photos.photo_points_geojson(session, verification_id=verification_id, bbox=box)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Record a field verification")
def create(body: VerificationIn, session: WriteDB, principal: Liaison) -> dict[str, Any]:
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
        actor=principal.name,
        notes=body.notes,
        verified_at=body.verified_at,
    )
    return verify.verification_dict(session, v, history=True)


@router.get("", summary="Verification records, newest first")
def list_(
    session: ReadDB,
    _: Viewer,
    target_kind: TargetKind | None = None,
    target_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    targets = None
    if target_kind is not None and target_id is not None:
        targets = [(target_kind, target_id)]
    elif (target_kind is None) != (target_id is None):
        raise InvalidInput("give target_kind and target_id together")
    return verify.list_verifications(
        session, targets=targets, since=since, until=until, status=status_
    )


@router.get("/{verification_id}", summary="A verification with photos and status history")
def get(verification_id: int, session: ReadDB, _: Viewer) -> dict[str, Any]:
    v = verify.get_verification(session, verification_id)
    return verify.verification_dict(session, v, history=True)


@router.post(
    "/{verification_id}/status", summary="Move a verification (submitted/reviewed/returned)"
)
def set_status(
    verification_id: int, body: StatusIn, session: WriteDB, principal: Liaison
) -> dict[str, Any]:
    v = verify.set_status(
        session, verification_id, body.status, actor=principal.name, reason=body.reason
    )
    return verify.verification_dict(session, v, history=True)


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
    return {"photo": photos.photo_dict(res.photo), "warnings": res.warnings}


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
    verification_id: int, body: StructureCaseIn, session: WriteDB, principal: Editor
) -> dict[str, Any]:
    footprint: BaseGeometry | None = None
    if body.footprint is not None:
        footprint = lookup.parse_polygon(body.footprint).geom
    st = verify.open_structure_case(
        session,
        verification_id,
        actor=principal.name,
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
