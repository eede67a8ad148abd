"""Public disclosure (公示): decided cases without the parties' personal data. No token needed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ReadDB
from api.errors import ERROR_RESPONSES
from geo_enforce.ledger import public

router = APIRouter(prefix="/public", tags=["public 公示"], responses=ERROR_RESPONSES)

#: Paths open to everyone; tests/test_roles.py checks every other route declares a role.
PUBLIC_PATHS = ("/public/cases", "/public/cases.geojson")


class PublicCaseOut(BaseModel):
    case_no: str = Field(description="案件编号")
    village_code: str | None
    village_name: str | None = Field(description="村/社区")
    category: str
    category_label: str = Field(description="类别")
    status: str
    decision_label: str = Field(description="处理决定")
    decided_on: dt.date | None = Field(description="决定/拆除/结案日期")
    area_m2: float = Field(description="占地面积 m² (CGCS2000 椭球面积)")
    area_mu: float = Field(description="占地面积 亩")
    floor_area_m2: float = Field(description="建筑面积 m²")
    address: str | None = Field(description="地址（门牌号已隐去）")
    lon: float
    lat: float


class PublicCasePage(BaseModel):
    title: str = "违法建设查处结果公示"
    total: int
    limit: int
    offset: int
    items: list[PublicCaseOut]


def _case_filters(
    village_code: Annotated[str | None, Query(max_length=40)] = None,
    category: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
) -> dict:
    """The filters both 公示 views accept."""
    return {"village_code": village_code, "category": category, "status": status, "year": year}


@router.get("/cases", response_model=PublicCasePage, summary="公示: decided structure cases")
def cases(
    request: Request,
    session: ReadDB,
    filters: Annotated[dict, Depends(_case_filters)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PublicCasePage:
    items, total = public.decided_cases(
        session, request.app.state.settings.public, limit=limit, offset=offset, **filters
    )
    return PublicCasePage(
        total=total,
        limit=limit,
        offset=offset,
        items=[PublicCaseOut(**vars(c)) for c in items],
    )


@router.get(
    "/cases.geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
    summary="公示: decided cases as GeoJSON points (for a public map)",
)
def cases_geojson(
    request: Request,
    session: ReadDB,
    filters: Annotated[dict, Depends(_case_filters)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    items, total = public.decided_cases(
        session, request.app.state.settings.public, limit=limit, offset=offset, **filters
    )
    features = []
    for c in items:
        props = PublicCaseOut(**vars(c)).model_dump(mode="json", exclude={"lon", "lat"})
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
                "properties": props,
            }
        )
    return JSONResponse(
        {"type": "FeatureCollection", "numberMatched": total, "features": features},
        media_type="application/geo+json",
    )
