"""Ministry satellite patches (卫片执法图斑): list, 举证 evidence, ruling, rectification and the
quarterly table.

Reads of one patch send its version as ``ETag``; the ruling and the rectification status need
it back as ``If-Match`` (or a ``version`` field): 428 without it, 409 when it moved on.
Importing the ministry's file is the CLI's (``geo-enforce mnr import``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.deps import Liaison, ReadDB, Viewer, WriteDB, get_settings
from geo_enforce.errors import NotFound
from geo_enforce.io import uploads
from geo_enforce.ledger.vocab import RECTIFICATION_STATUSES, RULINGS
from geo_enforce.mnr import evidence, listing, quarterly, ruling
from geo_enforce.storage.locking import etag, expected_version

router = APIRouter(prefix="/mnr", tags=["mnr"])

FILE_URL = "/mnr/patches/{patch_no}/evidence/{id}/file"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RulingIn(BaseModel):
    ruling: str = Field(description=", ".join(f"{k} {v}" for k, v in RULINGS.items()))
    approval_no: str | None = Field(
        None, max_length=100, description="批准文号; legal without it takes the one filed as 举证"
    )
    note: str | None = Field(None, max_length=5000)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class RectificationIn(BaseModel):
    rectification: str = Field(
        description=", ".join(f"{k} {v}" for k, v in RECTIFICATION_STATUSES.items())
    )
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


def _feature(session, patch_no: str, response: Response) -> dict:
    patch, mnr = ruling.find_patch(session, patch_no)
    response.headers["ETag"] = etag(patch.version)
    return listing.mnr_feature(session, patch, mnr, with_evidence=True, file_url=FILE_URL)


@router.get("/patches", summary="Ministry patches as GeoJSON, by quarter, ruling, rectification")
def list_patches(
    request: Request,
    session: ReadDB,
    _: Viewer,
    quarter: Annotated[str | None, Query(description="2024Q3")] = None,
    ruling_: Annotated[
        str | None, Query(alias="ruling", description="legal|illegal|other|false_change|pending")
    ] = None,
    rectification: Annotated[str | None, Query(description="not_started|in_progress|done")] = None,
    limit: int = Query(1000, ge=1),
    offset: int = Query(0, ge=0),
) -> dict:
    limit = min(limit, get_settings(request).limits.max_page_size)
    rows, total = listing.list_mnr(
        session,
        quarter=quarter,
        ruling=ruling_,
        rectification=rectification,
        limit=limit,
        offset=offset,
    )
    return {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(rows),
        "features": [listing.mnr_feature(session, p, m) for p, m in rows],
    }


@router.get("/quarterly", summary="Quarterly table: counts and areas by ruling (JSON or XLSX)")
def quarterly_table(
    session: ReadDB,
    _: Viewer,
    quarter: Annotated[str, Query(description="2024Q3 or 2024年第三季度")],
    format: Literal["json", "xlsx"] = "json",
) -> Any:
    table = quarterly.quarter_table(session, quarter)
    if format == "json":
        return table.as_dict()
    return Response(
        content=quarterly.quarter_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="mnr-{table.quarter}.xlsx"'},
    )


@router.get("/patches/{patch_no}", summary="One ministry patch with its evidence; ETag")
def get_patch(patch_no: str, session: ReadDB, _: Viewer, response: Response) -> dict:
    return _feature(session, patch_no, response)


@router.post(
    "/patches/{patch_no}/evidence",
    status_code=status.HTTP_201_CREATED,
    summary="File 举证: a JPEG photo, a PDF document or the approval number (append-only)",
)
def add_evidence(
    patch_no: str,
    request: Request,
    session: WriteDB,
    principal: Liaison,
    kind: Annotated[str, Form(description="photo, document or approval")],
    file: Annotated[UploadFile | None, File(description="JPEG (photo) or PDF")] = None,
    approval_no: Annotated[str | None, Form(max_length=100, description="批准文号")] = None,
    note: Annotated[str | None, Form(max_length=5000)] = None,
) -> dict:
    settings = get_settings(request)
    data = None
    if file is not None:
        data = uploads.read_limited(
            file.file, settings.limits.max_upload_bytes, what=f"evidence '{file.filename}'"
        )
    res = evidence.add_evidence(
        session,
        settings,
        patch_no,
        kind,
        actor=principal.actor,
        data=data,
        filename=file.filename if file else None,
        content_type=file.content_type if file else None,
        approval_no=approval_no,
        note=note,
    )
    url = FILE_URL.replace("{patch_no}", quote(patch_no, safe=""))
    return {"evidence": listing.evidence_dict(res.evidence, file_url=url), "warnings": res.warnings}


@router.get(
    "/patches/{patch_no}/evidence/{evidence_id}/file",
    response_class=FileResponse,
    summary="The stored evidence file (JPEG or PDF)",
)
def evidence_file(
    patch_no: str, evidence_id: int, request: Request, session: ReadDB, _: Viewer
) -> FileResponse:
    ev = evidence.get_evidence(session, patch_no, evidence_id)
    path = evidence.evidence_path(get_settings(request), ev)
    if not path.exists():
        raise NotFound(f"the file of evidence {evidence_id} is missing from the data directory")
    return FileResponse(path, media_type=ev.content_type or "application/octet-stream")


@router.post("/patches/{patch_no}/ruling", summary="Rule a ministry patch (If-Match: its ETag)")
def rule(
    patch_no: str,
    body: RulingIn,
    session: WriteDB,
    principal: Liaison,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict:
    ruling.rule(
        session,
        patch_no,
        body.ruling,
        actor=principal.actor,
        expected_version=expected_version(if_match, body.version),
        approval_no=body.approval_no,
        note=body.note,
    )
    return _feature(session, patch_no, response)


@router.post(
    "/patches/{patch_no}/rectification",
    summary="Record 整改 status of an illegal ministry patch (If-Match: its ETag)",
)
def rectify(
    patch_no: str,
    body: RectificationIn,
    session: WriteDB,
    _: Liaison,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict:
    ruling.set_rectification(
        session,
        patch_no,
        body.rectification,
        expected_version=expected_version(if_match, body.version),
    )
    return _feature(session, patch_no, response)
