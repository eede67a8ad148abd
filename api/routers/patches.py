"""Change patches (变化图斑) as GeoJSON, with their before/after evidence chips."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from api.deps import ReadDB, Viewer
from geo_enforce.detection.chips import chip_path
from geo_enforce.detection.patches import get_patch, list_patches, patch_feature
from geo_enforce.errors import NotFound
from geo_enforce.ledger.features import parse_bbox

router = APIRouter(prefix="/patches", tags=["patches"])

CHIP_URL = "/patches/{id}/chips/{which}"


@router.get("")
def patches(
    request: Request,
    session: ReadDB,
    _: Viewer,
    run_id: int | None = None,
    status: str | None = None,
    suggested_ruling: str | None = None,
    source: str | None = Query(None, description="flight (own flights) or mnr (卫片图斑)"),
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat (EPSG:4490)"),
    limit: int = Query(1000, ge=1),
    offset: int = Query(0, ge=0),
) -> dict:
    """Change patches as a GeoJSON FeatureCollection (lon/lat CGCS2000)."""
    limit = min(limit, request.app.state.settings.limits.max_page_size)
    rows, total = list_patches(
        session,
        run_id=run_id,
        status=status,
        suggested_ruling=suggested_ruling,
        source=source,
        bbox=parse_bbox(bbox),
        limit=limit,
        offset=offset,
    )
    return {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(rows),
        "features": [patch_feature(p, chip_url=CHIP_URL) for p in rows],
    }


@router.get("/{patch_id}")
def patch(patch_id: int, session: ReadDB, _: Viewer) -> dict:
    """One change patch as a GeoJSON Feature."""
    return patch_feature(get_patch(session, patch_id), chip_url=CHIP_URL)


@router.get("/{patch_id}/chips/{which}", response_class=FileResponse)
def chip(
    patch_id: int,
    which: Literal["before", "after"],
    request: Request,
    session: ReadDB,
    _: Viewer,
) -> FileResponse:
    """The before or after evidence chip (PNG) of a patch."""
    p = get_patch(session, patch_id)
    name = p.chip_before if which == "before" else p.chip_after
    if not name:
        raise NotFound(f"change patch {patch_id} has no {which} chip")
    path = chip_path(request.app.state.settings.data_dir, name)
    return FileResponse(path, media_type="image/png")
