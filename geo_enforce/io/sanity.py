"""Input sanity shared by every boundary (API bodies, CLI options, photo EXIF, imports).

One range for dates: from the founding of the People's Republic (1949-10-01) to one year after
today. A date outside it is a typo (``0001-01-01``, ``2204-05-01``), and storing it would make
every later read of the record fail or mislead. :func:`check_date` / :func:`check_datetime`
refuse such values with :class:`~geo_enforce.errors.InvalidInput` naming the field (422 in the
API, a one-line error in the CLI).

Reads are defensive too: :func:`safe_iso` and :func:`safe_local` render any stored value
(including ones written around the library by SQL) without raising, and log what they could
not render. :func:`check_vertices` caps the vertices of one feature so a single enormous
polygon cannot stall the service.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any, TypeVar

import shapely
from shapely.geometry.base import BaseGeometry

from geo_enforce.errors import InvalidInput, TooLarge

log = logging.getLogger("geo_enforce.sanity")

#: The earliest plausible date of any record (founding of the PRC).
EARLIEST_DATE = dt.date(1949, 10, 1)
#: Vertices one feature may have unless ``limits.max_vertices`` says otherwise.
DEFAULT_MAX_VERTICES = 100_000
BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")

D = TypeVar("D", dt.date, dt.datetime)


def beijing_today() -> dt.date:
    """Today's date in Beijing (UTC+8), whatever the server's clock zone: the bureau's day, for
    default effective dates, deadlines and what is overdue (a server on UTC would otherwise
    count a case overdue eight hours late)."""
    return dt.datetime.now(BEIJING).date()


def latest_date(today: dt.date | None = None) -> dt.date:
    """The latest plausible date: one year after ``today`` (29 February → 28 February)."""
    t = today or beijing_today()
    try:
        return t.replace(year=t.year + 1)
    except ValueError:
        return t.replace(year=t.year + 1, day=28)


def is_plausible(value: dt.date | dt.datetime) -> bool:
    """True when the (local) calendar day of ``value`` lies in the plausible range."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return EARLIEST_DATE <= day <= latest_date()


def check_date(value: D, field: str) -> D:
    """Return ``value`` when plausible; else raise :class:`InvalidInput` naming ``field``.

    ``None`` is not accepted here; callers check only values that were given.
    """
    if not is_plausible(value):
        raise InvalidInput(
            f"{field}: {safe_iso(value)} is outside the plausible range "
            f"{EARLIEST_DATE.isoformat()} … {latest_date().isoformat()}; check the year"
        )
    return value


def check_datetime(value: dt.datetime, field: str) -> dt.datetime:
    """:func:`check_date` for a timestamp, which must also carry a time zone."""
    if value.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (e.g. 2026-05-01T09:30:00+08:00)")
    return check_date(value, field)


def safe_iso(value: Any) -> str | None:
    """``value.isoformat()`` for dates and times, never raising; None for None.

    A value that cannot be rendered is logged and shown as its ``str``.
    """
    if value is None:
        return None
    try:
        return value.isoformat()
    except (AttributeError, ValueError, OverflowError) as exc:
        log.warning("cannot render stored value %r as ISO 8601: %s", value, exc)
        return str(value)


def safe_local(value: dt.datetime | str | None) -> str:
    """A timestamp (or its ISO text) as Beijing time to the minute (``2026-05-01 09:30``) for
    print; '—' when missing, the text itself when it cannot be read."""
    if value is None:
        return "—"
    try:
        t = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        if t.tzinfo is not None:
            t = t.astimezone(BEIJING)
        return t.isoformat(sep=" ", timespec="minutes")[:16]
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("cannot render stored time %r: %s", value, exc)
        return str(value)


def check_vertices(geom: BaseGeometry | None, max_vertices: int | None, what: str) -> None:
    """Refuse a feature with more than ``max_vertices`` vertices (default 100 000)."""
    if geom is not None:
        _refuse_vertices(int(shapely.get_num_coordinates(geom)), max_vertices, what)


def check_positions(coordinates: Any, max_vertices: int | None, what: str) -> None:
    """:func:`check_vertices` on a GeoJSON ``coordinates`` array, before any geometry is built
    from it (building a million-vertex polygon takes seconds; counting takes a fraction)."""
    _refuse_vertices(_count_positions(coordinates), max_vertices, what)


def _count_positions(coordinates: Any) -> int:
    """Positions in nested GeoJSON coordinates (a position is a list of numbers)."""
    if not isinstance(coordinates, list) or not coordinates:
        return 0
    if not isinstance(coordinates[0], list):
        return 1
    if coordinates[0] and not isinstance(coordinates[0][0], list):
        return len(coordinates)  # a ring or line: a list of positions
    return sum(_count_positions(c) for c in coordinates)


def _refuse_vertices(n: int, max_vertices: int | None, what: str) -> None:
    limit = DEFAULT_MAX_VERTICES if max_vertices is None else max_vertices
    if n > limit:
        raise TooLarge(
            f"{what}: the geometry has {n:,} vertices, over the limit of {limit:,} per feature; "
            "simplify it (e.g. to 0.1 m) or ask an admin to raise "
            "GEO_ENFORCE_LIMITS__MAX_VERTICES"
        )
