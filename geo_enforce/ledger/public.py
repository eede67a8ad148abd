"""Public disclosure (公示) of decided cases, without the parties' personal data.

What is published: case number, village, category, status (the decision), the date of the
decision, footprint and floor area (m² and mu; ellipsoidal on CGCS2000), the centroid rounded
to ``coordinate_decimals`` and the address with house numbers masked when configured. What is
never published: party name, ID number and phone (the query does not even select them), notes,
and who in the bureau handled the case. Only the statuses in ``PublicSettings.statuses``
(decided cases) appear; retired records never do.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput
from geo_enforce.ledger.vocab import STRUCTURE_CATEGORIES, STRUCTURE_STATUSES, label
from geo_enforce.settings import PublicSettings
from geo_enforce.storage.models import AdminArea, Structure

_NUM = r"[0-9０-９零〇一二三四五六七八九十百千]+"
_HOUSE_NO = re.compile(rf"{_NUM}\s*(号院|号楼|号|排|栋|幢|单元|室|户|楼|巷)")
_LONG_DIGITS = re.compile(r"[0-9０-９]{3,}")
# a party's 18-character resident ID or an 11-digit mobile number typed into an address
_ID_OR_PHONE = re.compile(r"[1-9]\d{16}[\dXx]|1[3-9]\d{9}")


def mask_address(address: str | None) -> str | None:
    """The address with house/door numbers (12号, 3排5号, 2单元301室) replaced by ＊.

    Village and street names stay, so the location is still recognisable; any long digit run
    (an ID or phone number typed into the address) is masked as well.
    """
    if not address:
        return address
    masked = _ID_OR_PHONE.sub("＊", address)
    masked = _HOUSE_NO.sub(lambda m: "＊" + m.group(1), masked)
    return _LONG_DIGITS.sub("＊", masked)


@dataclass(frozen=True)
class PublicCase:
    case_no: str
    village_code: str | None
    village_name: str | None
    category: str
    category_label: str
    status: str
    decision_label: str
    decided_on: dt.date | None
    area_m2: float
    area_mu: float
    floor_area_m2: float
    address: str | None
    lon: float
    lat: float


def decided_cases(
    session: Session,
    cfg: PublicSettings,
    *,
    village_code: str | None = None,
    category: str | None = None,
    status: str | None = None,
    year: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[PublicCase], int]:
    """Decided structure cases for publication and the total count matching the filters.

    ``year`` filters on the decision date (demolished/closed/notice date, whichever applies).
    """
    if category is not None and category not in STRUCTURE_CATEGORIES:
        raise InvalidInput(
            f"category '{category[:30]}' is unknown; use one of {', '.join(STRUCTURE_CATEGORIES)}"
        )
    if status is not None and status not in cfg.statuses:
        raise InvalidInput(
            f"status '{status[:30]}' is not published; use one of {', '.join(cfg.statuses)}"
        )
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be ≥ 1 and offset ≥ 0")
    decided_on = func.coalesce(Structure.demolished_on, Structure.closed_on, Structure.notice_on)
    conds: list[ColumnElement[bool]] = [
        Structure.retired_at.is_(None),
        Structure.status.in_((status and [status]) or cfg.statuses),
    ]
    if village_code is not None:
        conds.append(Structure.village_code == village_code)
    if category is not None:
        conds.append(Structure.category == category)
    if year is not None:
        if not 1900 <= year <= 2200:
            raise InvalidInput(f"year {year} is out of range")
        conds.append(func.extract("year", decided_on) == year)
    total = session.scalar(select(func.count()).select_from(Structure).where(*conds)) or 0
    centroid = func.ST_PointOnSurface(Structure.geom)
    village = (
        select(AdminArea.name)
        .where(AdminArea.code == Structure.village_code, AdminArea.retired_at.is_(None))
        .limit(1)
        .scalar_subquery()
    )
    # personal data columns are deliberately not selected
    q = (
        select(
            Structure.case_no,
            Structure.village_code,
            village.label("village_name"),
            Structure.category,
            Structure.status,
            decided_on.label("decided_on"),
            Structure.area_m2,
            Structure.area_mu,
            Structure.floor_area_m2,
            Structure.address,
            func.ST_X(centroid).label("lon"),
            func.ST_Y(centroid).label("lat"),
        )
        .where(*conds)
        .order_by(decided_on.desc().nulls_last(), Structure.case_no)
        .limit(limit)
        .offset(offset)
    )
    nd = cfg.coordinate_decimals
    cases = [
        PublicCase(
            case_no=r.case_no,
            village_code=r.village_code,
            village_name=r.village_name,
            category=r.category,
            category_label=label(STRUCTURE_CATEGORIES, r.category),
            status=r.status,
            decision_label=label(STRUCTURE_STATUSES, r.status),
            decided_on=r.decided_on,
            area_m2=round(r.area_m2, 2),
            area_mu=round(r.area_mu, 4),
            floor_area_m2=round(r.floor_area_m2, 2),
            address=mask_address(r.address) if cfg.mask_house_numbers else r.address,
            lon=round(r.lon, nd),
            lat=round(r.lat, nd),
        )
        for r in session.execute(q)
    ]
    return cases, int(total)
