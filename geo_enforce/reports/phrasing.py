"""Rounding rules and the report's customary phrasing, in one place.

Every figure the reports show goes through this module, so the rules are written once:

- Areas are computed unrounded (ellipsoidal m² on CGCS2000) and rounded only for display.
- m² → 2 decimals, mu (亩) → 2 decimals, both **half up** (四舍五入, the convention of Chinese
  statistical tables; Python's ``round`` is half-to-even on binary floats and is not used).
- mu is converted from the *unrounded* m² (1 mu = 2000/3 m²) and then rounded, so
  ``mu(2 dp)`` may differ in the last digit from ``round(m2, 2) × 3/2000``.
- Report prose uses whole numbers: "200216平方米" (m² half up to an integer, no thousands
  separator, as the bureau's reports write it).
- "约69亩": the mu value half up to an integer, prefixed 约 (about).
- "69余亩": the integer part of the mu value followed by 余 (over), when there is a fractional
  part; an exact whole value reads "69亩".
- "约69余亩": both, as the 2023 report wrote it ("约69余亩"); the integer part is used.
- "20余宗": counts of 10 or more are floored to tens and followed by 余 when not a multiple of
  ten ("23" → "20余宗", "20" → "20宗"); counts under 10 are exact ("7宗").
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Literal

from geo_enforce.geometry.areas import m2_to_mu

MuStyle = Literal["exact", "approx", "over", "approx_over"]

_CENT = Decimal("0.01")
_UNIT = Decimal("1")


def _dec(x: float) -> Decimal:
    # repr gives the shortest decimal that round-trips, so 0.125 stays 0.125 (not 0.12499…)
    return Decimal(repr(float(x)))


def half_up(x: float, places: int = 2) -> float:
    """``x`` rounded half up (四舍五入) to ``places`` decimals."""
    if not math.isfinite(x):
        raise ValueError(f"cannot round {x!r}")
    q = Decimal(1).scaleb(-places)
    return float(_dec(x).quantize(q, rounding=ROUND_HALF_UP))


def round_m2(area_m2: float) -> float:
    """Square metres for tables and the API: 2 decimals, half up."""
    return half_up(area_m2, 2)


def round_mu(area_m2: float) -> float:
    """Mu (亩) for tables and the API, from unrounded m²: 2 decimals, half up."""
    return half_up(m2_to_mu(area_m2), 2)


def whole(x: float) -> int:
    """``x`` half up to an integer, for report prose."""
    return int(_dec(x).quantize(_UNIT, rounding=ROUND_HALF_UP))


def m2_text(area_m2: float) -> str:
    """ "200216平方米": whole square metres as the report writes them."""
    return f"{whole(area_m2)}平方米"


def mu_text(area_m2: float, style: MuStyle = "approx") -> str:
    """Mu in the report's wording, from m².

    ``exact`` → "68.53亩" (2 decimals); ``approx`` → "约69亩"; ``over`` → "68余亩" ("68亩" when
    whole); ``approx_over`` → "约68余亩".
    """
    mu = m2_to_mu(area_m2)
    if style == "exact":
        return f"{round_mu(area_m2):.2f}亩"
    if style == "approx":
        return f"约{whole(mu)}亩"
    floor = int(_dec(mu).quantize(_UNIT, rounding=ROUND_DOWN))
    # a value that rounds to a whole number at 2 decimals is that whole number
    exact_whole = half_up(mu, 2) == float(floor)
    text = f"{floor}亩" if exact_whole else f"{floor}余亩"
    if style == "over":
        return text
    if style == "approx_over":
        return "约" + text
    raise ValueError(f"unknown mu style {style!r}; use exact, approx, over or approx_over")


def count_text(n: int, unit: str = "宗") -> str:
    """ "20余宗" for 23, "20宗" for 20, "7宗" for 7 (see module doc)."""
    if n < 0:
        raise ValueError(f"a count cannot be negative: {n}")
    if n < 10:
        return f"{n}{unit}"
    tens = n // 10 * 10
    return f"{tens}{unit}" if tens == n else f"{tens}余{unit}"


def households_text(n: int) -> str:
    """ "29户"."""
    return f"{n}户"


def cn_date(day: dt.date | dt.datetime) -> str:
    """ "2024年12月31日": a date as official documents write it (no leading zeros)."""
    return f"{day.year}年{day.month}月{day.day}日"
