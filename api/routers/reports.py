"""Reports: area totals for the annual enforcement report, and the annual report's files.

Thin handlers over :mod:`geo_enforce.reports`. Totals carry no personal data; any role may
read them (Viewer).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import ReadDB, Viewer
from geo_enforce.reports.console import report_csv
from geo_enforce.reports.query import LIST_FILTERS, AreaQuery, area_totals, parse_list

router = APIRouter(prefix="/reports", tags=["reports"])

ListParam = Annotated[
    list[str] | None, Query(description="repeat the parameter or separate values with commas")
]


class AreaText(BaseModel):
    m2: str
    mu_approx: str
    mu_over: str


class GroupOut(BaseModel):
    key: dict[str, Any]
    labels: dict[str, str]
    count: int
    households: int | None
    area_m2: float
    area_mu: float
    dissolved_m2: float | None
    dissolved_mu: float | None
    overlap_m2: float | None
    differs: bool
    text: AreaText


class AreaReportOut(BaseModel):
    layer: str
    title: str
    measure: str
    measure_label: str
    date_by: str
    group_by: list[str]
    filters: dict[str, Any]
    unit: str
    rounding: str
    method: str
    groups: list[GroupOut]
    total: GroupOut
    notes: list[str]


def _query(layer: str, **kw: Any) -> AreaQuery:
    for name in (*LIST_FILTERS, "group_by"):
        if name in kw:
            kw[name] = parse_list(kw[name])
    return AreaQuery(layer=layer, **kw)


CSV_TYPE = "text/csv; charset=utf-8"
#: the totals routes answer JSON, or CSV with ``format=csv``
_TOTALS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}}
}
Format = Annotated[
    Literal["json", "csv"], Query(description="json, or csv (UTF-8 with BOM, for Excel)")
]


def _totals(session, q: AreaQuery, format: str) -> Any:
    rep = area_totals(session, q)
    if format == "json":
        return rep.as_dict()
    body = ("\ufeff" + report_csv(rep)).encode("utf-8")  # the BOM makes Excel read UTF-8
    name = f"{q.layer}-totals.csv"
    return Response(
        body, media_type=CSV_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _common_filters(
    year: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    admin_code: str | None = None,
    township: Annotated[
        str | None, Query(max_length=40, description="one of your townships (town code)")
    ] = None,
    red_line_kind: str | None = None,
    red_line_clip: bool = False,
    group_by: ListParam = None,
    dissolve: bool = True,
) -> dict[str, Any]:
    """Period, area, township, red-line, grouping and dissolve parameters shared by every
    totals report. Without ``township`` a user of one township gets theirs; a user of several
    (or an admin of the deployment) all of theirs together (``group_by=township`` splits)."""
    return {
        "year": year,
        "date_from": date_from,
        "date_to": date_to,
        "admin_code": admin_code,
        "township": township,
        "red_line_kind": red_line_kind,
        "red_line_clip": red_line_clip,
        "group_by": group_by,
        "dissolve": dissolve,
    }


@router.get(
    "/areas", response_model=AreaReportOut, responses=_TOTALS_RESPONSES, summary="违法建设面积统计"
)
def structure_areas(
    session: ReadDB,
    _: Viewer,
    common: Annotated[dict[str, Any], Depends(_common_filters)],
    date_by: Literal["discovered", "demolished", "closed", "halted", "notice"] = "demolished",
    status: ListParam = None,
    category: ListParam = None,
    stock_class: ListParam = None,
    measure: Literal["footprint", "floor"] = "footprint",
    format: Format = "json",
) -> Any:
    """Structures (违法建设): count, households (违建别墅 户), m², mu, dissolved footprint;
    ``stock_class`` (stock 存量 / increment 增量) filters or groups by the base-date class."""
    q = _query(
        "structure", **common, date_by=date_by, status=status, category=category,
        stock_class=stock_class, measure=measure,
    )  # fmt: skip
    return _totals(session, q, format)


@router.get(
    "/cleared-parcels",
    response_model=AreaReportOut,
    responses=_TOTALS_RESPONSES,
    summary="治理违法占地统计",
)
def cleared_parcel_areas(
    session: ReadDB,
    _: Viewer,
    common: Annotated[dict[str, Any], Depends(_common_filters)],
    restored_use: ListParam = None,
    format: Format = "json",
) -> Any:
    """Cleared parcels (治理违法占地): 宗数, m², mu, dissolved footprint, by cleared date."""
    q = _query("cleared_parcel", **common, restored_use=restored_use)
    return _totals(session, q, format)


@router.get(
    "/change-patches",
    response_model=AreaReportOut,
    responses=_TOTALS_RESPONSES,
    summary="变化图斑统计",
)
def change_patch_areas(
    session: ReadDB,
    _: Viewer,
    common: Annotated[dict[str, Any], Depends(_common_filters)],
    ruling: ListParam = None,
    status: ListParam = None,
    change_kind: ListParam = None,
    format: Format = "json",
) -> Any:
    """Change patches (变化图斑): new building detected etc. (``change_kind``), by ruling,
    status, village, date."""
    q = _query("change_patch", **common, ruling=ruling, status=status, change_kind=change_kind)
    return _totals(session, q, format)


_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "csv": "application/zip",
}


@router.get(
    "/annual",
    summary="年度行政执法工作报告数据",
    response_class=Response,
    responses={
        200: {
            "description": "JSON, or the file as an attachment (annual-YYYY.xlsx/.docx/.zip)",
            "content": {"application/json": {}, **{m: {} for m in _MEDIA.values()}},
        }
    },
)
def annual_report(
    session: ReadDB,
    _: Viewer,
    year: int,
    format: Literal["json", "xlsx", "docx", "csv"] = "json",
    township: Annotated[
        str | None, Query(max_length=40, description="one of your townships (town code)")
    ] = None,
) -> Response:
    """The year's report data: JSON, XLSX (a sheet per table), DOCX (paragraphs, tables,
    charts) or CSV (a ZIP with one CSV per table). ``township``: that township's report; a
    user of one township gets theirs without it."""
    from geo_enforce.reports.annual import build_annual
    from geo_enforce.reports.export import annual_bytes

    report = build_annual(session, year, township=township)
    if format == "json":
        return Response(content=report.to_json(), media_type="application/json; charset=utf-8")
    data = annual_bytes(report, format)
    ext = "zip" if format == "csv" else format
    suffix = f"-{township}" if township and township.isalnum() else ""
    return Response(
        content=data,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="annual-{year}{suffix}.{ext}"'},
    )
