"""What the map page needs from the database: extent, villages, flights, search, extracts.

All coordinates in and out are lon/lat degrees (CGCS2000, EPSG:4490, shown as WGS 84 on the
web map: they agree to centimetres). Only current records (``retired_at IS NULL``) are used.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_enforce.errors import GeoEnforceError, NotFound
from geo_enforce.tiles.ortho import FlightImage, current_flights, image_of

log = logging.getLogger(__name__)

Bounds = tuple[float, float, float, float]
#: Around the sample township (Xiqing District, Tianjin) when the ledger is still empty.
DEFAULT_BOUNDS: Bounds = (117.17, 38.98, 117.23, 39.02)


@dataclass
class Village:
    """A village of the map's village picker: code, name, level, extent, label point."""

    code: str
    name: str
    level: str
    bbox: Bounds
    label_lon: float
    label_lat: float


@dataclass
class MapContext:
    """Extent, villages and flights of the map; ``village`` narrows it to one village."""

    bounds: Bounds
    villages: list[Village] = field(default_factory=list)
    flights: list[FlightImage] = field(default_factory=list)
    #: "since the last flight": the date of the flight before the latest one (or the only one)
    since_date: dt.date | None = None
    village: Village | None = None


def _bbox(row) -> Bounds:
    return (float(row.xmin), float(row.ymin), float(row.xmax), float(row.ymax))


def load_villages(session: Session) -> list[Village]:
    """The current villages and communities with their extents."""
    rows = session.execute(
        text(
            """
            SELECT code, name, level, ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin,
                   ST_XMax(geom) AS xmax, ST_YMax(geom) AS ymax,
                   ST_X(ST_PointOnSurface(geom)) AS lx, ST_Y(ST_PointOnSurface(geom)) AS ly
            FROM admin_area
            WHERE retired_at IS NULL AND level IN ('village', 'community')
            ORDER BY level DESC, code
            """
        )
    )
    return [Village(r.code, r.name, r.level, _bbox(r), float(r.lx), float(r.ly)) for r in rows]


def ledger_bounds(session: Session) -> Bounds | None:
    """Extent of the admin areas, else of the structures; None when both are empty."""
    for table in ("admin_area", "structure"):
        row = session.execute(
            text(
                f"SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, "
                f"ST_YMax(e) AS ymax FROM (SELECT ST_Extent(geom) AS e FROM {table} "
                f"WHERE retired_at IS NULL) s"
            )
        ).one()
        if row.xmin is not None:
            return _bbox(row)
    return None


def find_village(villages: list[Village], key: str) -> Village:
    """The village whose code or name is ``key``; :class:`NotFound` listing the choices."""
    for v in villages:
        if key in (v.code, v.name):
            return v
    names = "、".join(v.name for v in villages) or "(no villages loaded)"
    raise NotFound(f"village '{key}' not found: use a code or name from {names}")


def load_context(
    session: Session, *, village: str | None = None, data_dir: Path | None = None
) -> MapContext:
    """Extent, villages and flights for the map (narrowed to ``village`` when given)."""
    villages = load_villages(session)
    bounds = ledger_bounds(session) or DEFAULT_BOUNDS
    chosen = find_village(villages, village) if village else None
    if chosen:
        bounds = chosen.bbox
    flights: list[FlightImage] = []
    for f in current_flights(session):
        try:
            flights.append(image_of(f, data_dir=data_dir))
        except GeoEnforceError as exc:  # a missing file must not take the whole map down
            log.warning("flight %s left off the map: %s", f.name, exc)
    dates = sorted({f.flown_on for f in flights})
    since = dates[-2] if len(dates) >= 2 else (dates[-1] if dates else None)
    return MapContext(
        bounds=bounds, villages=villages, flights=flights, since_date=since, village=chosen
    )


#: "<place><house number>[号]": a number standing alone after a village (or street) name
_NUMBER_IN_PLACE = re.compile(r"^(.*?[^\d\s])\s*(\d+)\s*号?$")


def number_in_place(q: str) -> tuple[str, str] | None:
    """``(place, number)`` of a query like ``梨园头村337号`` or ``梨园头 337``, else None."""
    m = _NUMBER_IN_PLACE.match(q.strip())
    return (m.group(1).strip(), m.group(2)) if m else None


def search(session: Session, q: str, *, limit: int = 10) -> list[dict]:
    """Case numbers, patch codes, village names and structure addresses matching ``q``, with
    their lon/lat bbox (degrees, EPSG:4490).

    An address matches when it contains ``q``, or when ``q`` is a place and a house number
    (``梨园头村337号``, ``梨园头 337``): the structure's village name or address contains the
    place and its address holds that number on its own (337, not 1337). Address hits are
    labelled ``<address>（<case number>）`` with kind ``address``.
    """
    q = q.strip()
    if not q:
        return []
    place_number = number_in_place(q)
    rows = session.execute(
        text(
            """
            SELECT kind, label, ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin,
                   ST_XMax(geom) AS xmax, ST_YMax(geom) AS ymax FROM (
              SELECT 'village' AS kind, name AS label, geom FROM admin_area
              WHERE retired_at IS NULL AND level IN ('village','community') AND name ILIKE :pat
              UNION ALL
              SELECT 'structure', case_no, geom FROM structure
              WHERE retired_at IS NULL AND case_no ILIKE :pat
              UNION ALL
              SELECT 'change_patch', code, geom FROM change_patch
              WHERE retired_at IS NULL AND code ILIKE :pat
              UNION ALL
              SELECT 'address', t.address || '（' || t.case_no || '）', t.geom
              FROM structure t
              LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL
              WHERE t.retired_at IS NULL AND t.address IS NOT NULL
                AND (t.address ILIKE :pat
                     OR (CAST(:number_re AS text) IS NOT NULL
                         AND t.address ~ CAST(:number_re AS text)
                         AND (v.name ILIKE :place_pat OR t.address ILIKE :place_pat)))
            ) s
            ORDER BY (label = :q) DESC, kind = 'village' DESC, kind = 'address' DESC, label
            LIMIT :limit
            """
        ),
        {
            "pat": f"%{_like_escape(q)}%",
            "q": q,
            "limit": limit,
            "number_re": f"(^|[^0-9]){place_number[1]}([^0-9]|$)" if place_number else None,
            "place_pat": f"%{_like_escape(place_number[0])}%" if place_number else None,
        },
    )
    return [{"kind": r.kind, "label": r.label, "bbox": list(_bbox(r))} for r in rows]


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_index(session: Session, bounds: Bounds, *, limit: int = 20_000) -> list[dict]:
    """Everything :func:`search` can find inside ``bounds``, for the offline page.

    Address entries also carry ``address`` and ``village`` (its name), so the page's script
    can match a place and house number the way :func:`search` does.
    """
    rows = session.execute(
        text(
            """
            SELECT kind, label, address, village, ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin,
                   ST_XMax(geom) AS xmax, ST_YMax(geom) AS ymax FROM (
              SELECT 'village' AS kind, name AS label, NULL AS address, NULL AS village, geom
              FROM admin_area WHERE retired_at IS NULL AND level IN ('village','community')
              UNION ALL
              SELECT 'structure', case_no, NULL, NULL, geom FROM structure
              WHERE retired_at IS NULL
              UNION ALL
              SELECT 'change_patch', code, NULL, NULL, geom FROM change_patch
              WHERE retired_at IS NULL
              UNION ALL
              SELECT 'address', t.address || '（' || t.case_no || '）', t.address, v.name, t.geom
              FROM structure t
              LEFT JOIN admin_area v ON v.code = t.village_code AND v.retired_at IS NULL
              WHERE t.retired_at IS NULL AND t.address IS NOT NULL
            ) s
            WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4490)
            ORDER BY kind = 'village' DESC, label
            LIMIT :limit
            """
        ),
        {"w": bounds[0], "s": bounds[1], "e": bounds[2], "n": bounds[3], "limit": limit},
    )
    out = []
    for r in rows:
        entry = {"kind": r.kind, "label": r.label, "bbox": list(_bbox(r))}
        if r.kind == "address":
            entry.update(address=r.address, village=r.village)
        out.append(entry)
    return out


def patch_chips(
    session: Session, bounds: Bounds, *, limit: int = 200
) -> list[tuple[int, str, str]]:
    """(patch id, which, stored file name) of the evidence chips of patches inside ``bounds``."""
    rows = session.execute(
        text(
            """
            SELECT id, chip_before, chip_after FROM change_patch
            WHERE retired_at IS NULL AND geom && ST_MakeEnvelope(:w, :s, :e, :n, 4490)
              AND (chip_before IS NOT NULL OR chip_after IS NOT NULL)
            ORDER BY id LIMIT :limit
            """
        ),
        {"w": bounds[0], "s": bounds[1], "e": bounds[2], "n": bounds[3], "limit": limit},
    )
    out = []
    for r in rows:
        for which, name in (("before", r.chip_before), ("after", r.chip_after)):
            if name:
                out.append((int(r.id), which, name))
    return out


def chip_file(session: Session, patch_id: int, which: str, data_dir: Path) -> Path:
    """The stored before/after evidence chip of a change patch (inside ``data_dir``)."""
    if which not in ("before", "after"):
        raise NotFound(f"no chip '{which}': use before or after")
    name = session.execute(
        text(f"SELECT chip_{which} FROM change_patch WHERE id = :id AND retired_at IS NULL"),
        {"id": patch_id},
    ).scalar()
    if not name:
        raise NotFound(f"change patch {patch_id} has no {which} chip")
    return resolve_chip(Path(data_dir), name)


def resolve_chip(data_dir: Path, name: str) -> Path:
    """An evidence chip by its stored name: under ``data_dir/chips`` (where detection writes
    them), else relative to ``data_dir``."""
    try:
        return resolve_stored(Path(data_dir) / "chips", name)
    except NotFound:
        return resolve_stored(Path(data_dir), name)


def resolve_stored(data_dir: Path, name: str) -> Path:
    """A stored file name resolved inside ``data_dir``; refuses names that escape it."""
    base = Path(data_dir).resolve()
    path = (base / name).resolve()
    if base not in path.parents or not path.is_file():
        raise NotFound(f"stored file '{name}' not found under {base}")
    return path
