"""Farmland parcels (农用地图斑): look-up and the overlay report, as JSON or a printable sheet.

Thin handlers over :mod:`geo_enforce.farmland`; nothing here writes. GET endpoints are open to
every role (Viewer). The polygon endpoints take the drawn or uploaded polygon as a POST body and
the project treats every POST as a write, so they need the planning liaison's role (Liaison).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import Liaison, ReadDB, Viewer, get_settings
from api.farmland_out import OverlayOut, ParcelOut
from geo_enforce.farmland import lookup, sheet
from geo_enforce.farmland.overlay import overlay_report
from geo_enforce.farmland.results import OverlayReport, ParcelInfo

router = APIRouter(prefix="/parcels", tags=["farmland"])

CRS_HELP = "EPSG code of x/y: 4490 (lon/lat), 4527 or 4548 (Gauss-Krüger zone 39); guessed if empty"
MEDIA = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class PolygonIn(BaseModel):
    geometry: dict[str, Any] | str = Field(
        description="GeoJSON geometry/Feature, or WKT text; lon/lat or Gauss-Krüger zone 39"
    )
    crs: str | None = Field(None, description=CRS_HELP)


def _sheet(session, report: OverlayReport, fmt: str) -> Response:
    data = sheet.render_sheet(session, report, fmt)
    name = sheet.sheet_filename(report, fmt)
    return Response(
        data,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/at", response_model=list[ParcelOut], summary="Parcels at a point (lon/lat or GK)")
def at_point(
    session: ReadDB,
    _: Viewer,
    x: float = Query(description="longitude, or Gauss-Krüger easting"),
    y: float = Query(description="latitude, or Gauss-Krüger northing"),
    crs: str | None = Query(None, description=CRS_HELP),
) -> list[ParcelOut]:
    return [ParcelOut.of(ParcelInfo.of(p)) for p in lookup.at_point(session, x, y, crs)]


@router.post("/search", response_model=list[ParcelOut], summary="Parcels overlapping a polygon")
def search(body: PolygonIn, session: ReadDB, _: Liaison) -> list[ParcelOut]:
    found = lookup.in_polygon(session, body.geometry, body.crs)
    return [ParcelOut.of(ParcelInfo.of(p)) for p in found]


@router.post("/overlay", summary="Overlay report of a drawn or uploaded polygon")
def overlay_polygon(body: PolygonIn, request: Request, session: ReadDB, _: Liaison) -> OverlayOut:
    cfg = get_settings(request).farmland
    return OverlayOut.of(overlay_report(session, polygon=body.geometry, crs=body.crs, config=cfg))


@router.post("/overlay/sheet", summary="Printable sheet (PDF/DOCX) of a polygon")
def overlay_polygon_sheet(
    body: PolygonIn,
    request: Request,
    session: ReadDB,
    _: Liaison,
    format: Literal["pdf", "docx"] = "pdf",
) -> Response:
    cfg = get_settings(request).farmland
    rep = overlay_report(session, polygon=body.geometry, crs=body.crs, config=cfg)
    return _sheet(session, rep, format)


@router.get("/{patch_code}", response_model=ParcelOut, summary="A parcel by survey patch code")
def by_code(patch_code: str, session: ReadDB, _: Viewer) -> ParcelOut:
    return ParcelOut.of(ParcelInfo.of(lookup.by_code(session, patch_code)))


@router.get("/{patch_code}/report", summary="Overlay report of a parcel (JSON)")
def parcel_report(patch_code: str, request: Request, session: ReadDB, _: Viewer) -> OverlayOut:
    cfg = get_settings(request).farmland
    return OverlayOut.of(overlay_report(session, patch_code=patch_code, config=cfg))


@router.get("/{patch_code}/sheet", summary="Printable verification sheet (PDF or DOCX)")
def parcel_sheet(
    patch_code: str,
    request: Request,
    session: ReadDB,
    _: Viewer,
    format: Literal["pdf", "docx"] = "pdf",
) -> Response:
    rep = overlay_report(session, patch_code=patch_code, config=get_settings(request).farmland)
    return _sheet(session, rep, format)
