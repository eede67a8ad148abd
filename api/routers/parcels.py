"""Farmland parcels (农用地图斑): look-up and the overlay report, as JSON or a printable sheet.

Thin handlers over :mod:`geo_enforce.farmland`; nothing here writes. GET endpoints are open to
every role (Viewer). The polygon endpoints take the drawn or uploaded polygon as a POST body and
the project treats every POST as a write, so they need the planning liaison's role (Liaison).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import Liaison, ReadDB, Viewer
from geo_enforce.farmland import lookup, sheet
from geo_enforce.farmland.overlay import overlay_report

router = APIRouter(prefix="/parcels", tags=["farmland"])

CRS_HELP = "EPSG code of x/y: 4490 (lon/lat), 4527 or 4548 (Gauss-Krüger zone 39); guessed if empty"
MEDIA = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class ParcelOut(BaseModel):
    id: int
    patch_code: str
    land_class: str
    land_class_label: str
    is_permanent_basic: bool
    village_code: str | None
    owner_collective: str | None
    area_m2: float
    area_mu: float


class PolygonIn(BaseModel):
    geometry: dict[str, Any] | str = Field(
        description="GeoJSON geometry/Feature, or WKT text; lon/lat or Gauss-Krüger zone 39"
    )
    crs: str | None = Field(None, description=CRS_HELP)


def _sheet(session, report: dict, fmt: str) -> Response:
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
) -> list[dict]:
    return [lookup.parcel_summary(p) for p in lookup.at_point(session, x, y, crs)]


@router.post("/search", response_model=list[ParcelOut], summary="Parcels overlapping a polygon")
def search(body: PolygonIn, session: ReadDB, _: Liaison) -> list[dict]:
    return [lookup.parcel_summary(p) for p in lookup.in_polygon(session, body.geometry, body.crs)]


@router.post("/overlay", summary="Overlay report of a drawn or uploaded polygon")
def overlay_polygon(body: PolygonIn, session: ReadDB, _: Liaison) -> dict[str, Any]:
    return overlay_report(session, polygon=body.geometry, crs=body.crs)


@router.post("/overlay/sheet", summary="Printable sheet (PDF/DOCX) of a polygon")
def overlay_polygon_sheet(
    body: PolygonIn,
    session: ReadDB,
    _: Liaison,
    format: Literal["pdf", "docx"] = "pdf",
) -> Response:
    rep = overlay_report(session, polygon=body.geometry, crs=body.crs)
    return _sheet(session, rep, format)


@router.get("/{patch_code}", response_model=ParcelOut, summary="A parcel by survey patch code")
def by_code(patch_code: str, session: ReadDB, _: Viewer) -> dict:
    return lookup.parcel_summary(lookup.by_code(session, patch_code))


@router.get("/{patch_code}/report", summary="Overlay report of a parcel (JSON)")
def parcel_report(patch_code: str, session: ReadDB, _: Viewer) -> dict[str, Any]:
    return overlay_report(session, patch_code=patch_code)


@router.get("/{patch_code}/sheet", summary="Printable verification sheet (PDF or DOCX)")
def parcel_sheet(
    patch_code: str,
    session: ReadDB,
    _: Viewer,
    format: Literal["pdf", "docx"] = "pdf",
) -> Response:
    rep = overlay_report(session, patch_code=patch_code)
    return _sheet(session, rep, format)
