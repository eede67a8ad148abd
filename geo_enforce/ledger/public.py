"""Public disclosure (公示) of decided cases, without the parties' personal data.

What is published: case number, village, category, status (the decision), the date of the
decision, footprint and floor area (m² and mu; ellipsoidal on CGCS2000), the centroid rounded
to ``coordinate_decimals`` and the address with house numbers (any script) and personal names
masked (:func:`mask_address`). What is never published: party name, ID number and phone (the
query reads the party name only to remove it from the address), notes, and who in the bureau
handled the case. Only the statuses in ``PublicSettings.statuses``
(decided cases) appear; retired records never do.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput
from geo_enforce.ledger.vocab import STRUCTURE_CATEGORIES, STRUCTURE_STATUSES, label
from geo_enforce.settings import PublicSettings
from geo_enforce.storage.models import AdminArea, Structure

#: Chinese numerals, everyday and financial (大写), as they write house numbers.
_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
_CN_FINANCIAL = "壹贰貳叁參肆伍陆陸柒捌玖拾佰仟"
_CN = f"[{_CN_DIGITS}{_CN_FINANCIAL}]+"
#: What joins the parts of a house number: 12-3, 12－3, 12之3, 12至14, 12~14, 12/3.
_SEP = r"\s*(?:[-－—–~～/／至到之])\s*"
#: Units a number is a house/door number with (simplified and traditional forms).
_UNIT = (
    r"(?:号院|號院|号楼|號樓|号|號|栋|棟|幢|单元|單元|室|户|戶|排|楼|樓|巷|弄|院|组|組|层|層|座)"
)
# a party's 18-character resident ID or an 11-digit mobile number typed into an address
_ID_OR_PHONE = re.compile(r"[1-9]\d{16}[\dXx]|1[3-9]\d{9}")
#: any number with a digit in any script, with the parts of a range or sub-number: 12, 12-3,
#: 12之3, 东头12, ١٢ (all masked whatever follows)
_DIGIT_NUMBER = re.compile(rf"第?\d+(?:{_SEP}(?:\d+|{_CN}))*")
#: Chinese-numeral house numbers: a number before a unit (十二号, 壹拾贰號, 三排), after 第, or
#: in a range with another number (十二之三)
_CN_NUMBER = re.compile(
    rf"第{_CN}(?:{_SEP}{_CN})*|{_CN}(?:{_SEP}{_CN})*(?={_UNIT})|{_CN}(?:{_SEP}{_CN})+"
)
#: financial numerals are only ever numbers: masked wherever they are
_FINANCIAL = re.compile(f"[{_CN_FINANCIAL}][{_CN_DIGITS}{_CN_FINANCIAL}]*")
#: the most common surnames; "张三家" (surname, one or two characters, 家/宅) names a household
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰"
    "焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲"
    "房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟"
    "应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_HOUSEHOLD = re.compile(
    rf"[{_SURNAMES}][\u4e00-\u9fff]{{1,2}}(?=[家宅](?![庄村屯湾沟营坨堡洼店园寨坊桥河峪口]))"
)
_NAME_SPLIT = re.compile(r"[、,，;；/／\s]+|(?:和|及|与)")
_MASK = "＊"


def _is_number_char(ch: str) -> bool:
    return unicodedata.category(ch) in ("Nd", "No", "Nl")


def mask_address(
    address: str | None, names: Iterable[str | None] = (), *, numbers: bool = True
) -> str | None:
    """The address for publication: house numbers and personal names replaced by ＊.

    The text is first NFKC-normalised (full-width １２ → 12, circled ⑫ → 12). Masked: every
    number written with digits in any script together with its range or sub-number (12, 12-3,
    12之3, 东头12), Chinese-numeral house numbers before a unit or after 第 (十二号, 壹拾贰號,
    三排, 第五组), financial numerals anywhere, 18-character ID and mobile numbers, every name in
    ``names`` (the case's parties) wherever it appears, and household references made of a
    common surname and a given name before 家/宅 (张三家 → ＊家; 王家庄 stays). Village and
    street names stay, so the place is still recognisable. ``numbers=False`` (setting
    ``MASK_HOUSE_NUMBERS=false``) keeps the numbers but still removes names, IDs and phones.
    """
    if not address:
        return address
    text = unicodedata.normalize("NFKC", address)
    for name in _party_names(names):
        text = text.replace(name, _MASK)
    text = _ID_OR_PHONE.sub(_MASK, text)
    text = _HOUSEHOLD.sub(_MASK, text)
    if not numbers:
        return text
    text = _DIGIT_NUMBER.sub(_MASK, text)
    text = _FINANCIAL.sub(_MASK, text)
    text = _CN_NUMBER.sub(_MASK, text)
    # whatever number-like character is left (〇, Roman numerals, other scripts) goes too
    text = "".join(_MASK if _is_number_char(c) else c for c in text)
    return re.sub(f"{_MASK}+", _MASK, text)


def _party_names(names: Iterable[str | None]) -> list[str]:
    """The parties' names, split where several are listed, longest first, at least 2 chars."""
    out: set[str] = set()
    for raw in names:
        if not raw:
            continue
        norm = unicodedata.normalize("NFKC", raw)
        for part in [norm.strip(), *_NAME_SPLIT.split(norm)]:
            part = part.strip()
            if len(part) >= 2:
                out.add(part)
    return sorted(out, key=len, reverse=True)


@dataclass(frozen=True)
class PublicCase:
    """A decided case as published (公示): no personal data, rounded position."""

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
            # read only to remove the parties' names from the address; never published
            Structure.party_name,
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
            address=mask_address(r.address, [r.party_name], numbers=cfg.mask_house_numbers),
            lon=round(r.lon, nd),
            lat=round(r.lat, nd),
        )
        for r in session.execute(q)
    ]
    return cases, int(total)
