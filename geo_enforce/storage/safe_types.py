"""Reading stored timestamps that Python cannot represent, without failing the whole query.

PostgreSQL stores dates from 4713 BC to 294276 AD; Python's ``datetime`` covers years 1 to
9999. A row written around the library (plain SQL, an old import) with ``0001-01-01T00:00+08``
is ``0001-12-31 16:00 BC`` in UTC, and psycopg2 raises ``ValueError: year -1 is out of range``
while fetching it, which used to turn every page listing that row into a 500. The casters
installed here wrap psycopg2's own: a value it cannot convert is read as ``None`` and logged,
so reads render the rest of the record (see :mod:`geo_enforce.io.sanity` for the write side).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2.extensions as ext

log = logging.getLogger("geo_enforce.storage")

_INSTALLED = False


def _safe(caster: Any, name: str) -> Any:
    def cast(value: str | None, cursor: Any) -> Any:
        try:
            return caster(value, cursor)
        except (ValueError, OverflowError) as exc:
            log.warning(
                "stored %s value %r cannot be represented in Python (%s); read as NULL",
                name,
                value,
                exc,
            )
            return None

    return ext.new_type(caster.values, f"GE_SAFE_{name}", cast)


def install() -> None:
    """Register the defensive casters for date, timestamp and timestamptz (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    for caster, name in (
        (ext.PYDATE, "DATE"),
        (ext.PYDATETIME, "TIMESTAMP"),
        (ext.PYDATETIMETZ, "TIMESTAMPTZ"),
    ):
        ext.register_type(_safe(caster, name))
    _INSTALLED = True
