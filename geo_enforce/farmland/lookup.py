"""Parcel look-up: by survey patch code (图斑编号), by a point, or by a polygon.

Points and polygons may come in CGCS2000 lon/lat (EPSG:4490, also WGS 84) or in Gauss-Krüger
zone 39, zone-prefixed (EPSG:4527, easting 39 xxx xxx) or not (EPSG:4548, CM 117°E). When no CRS
is given the coordinates say which: degrees, a 39-million easting, or a plain easting with a
northing in the millions. Everything is converted to EPSG:4490 before it meets the database.

A point or polygon outside the township (the union of the stored admin areas) is refused with
an error that names the coordinates, so a swapped axis or a wrong zone shows up at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import shapely
from shapely import wkt as shapely_wkt
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_enforce.errors import CRSError, InvalidInput, NotFound
from geo_enforce.geometry import crs as gcrs
from geo_enforce.io.sanity import check_vertices
from geo_enforce.storage.models import FarmlandParcel

SRID = 4490


@dataclass(frozen=True)
class Located:
    """A geometry converted to EPSG:4490 plus the CRS it came in."""

    geom: BaseGeometry
    source_crs: int


def guess_crs(x: float, y: float) -> int:
    """EPSG code of a coordinate pair near Tianjin, judged by its magnitude."""
    if abs(x) <= 180 and abs(y) <= 90:
        return gcrs.CGCS2000
    if 39_000_000 <= x < 40_000_000 and 3_000_000 <= y <= 6_500_000:
        return gcrs.GK39_ZONED
    if 0 < x < 1_000_000 and 3_000_000 <= y <= 6_500_000:
        return gcrs.GK39_CM117
    raise CRSError(
        f"coordinates ({x:.6g}, {y:.6g}) are neither lon/lat degrees nor Gauss-Krüger zone 39 "
        "metres (easting 39xxxxxx for EPSG:4527 or xxxxxx for EPSG:4548, northing ~4300000); "
        "give the CRS explicitly"
    )


def _parse_crs(crs: int | str | None) -> int | None:
    if crs is None or crs == "":
        return None
    s = str(crs).upper().removeprefix("EPSG:")
    try:
        code = int(s)
    except ValueError as exc:
        raise CRSError(f"CRS '{crs}' is not an EPSG code; use 4490, 4326, 4527 or 4548") from exc
    if code not in (gcrs.CGCS2000, gcrs.WGS84, gcrs.GK39_ZONED, gcrs.GK39_CM117):
        raise CRSError(f"CRS EPSG:{code} is not supported here; use 4490, 4326, 4527 or 4548")
    return code


def _to_storage(geom: BaseGeometry, src: int, what: str) -> BaseGeometry:
    if src in (gcrs.CGCS2000, gcrs.WGS84):
        out = geom
    else:
        out = gcrs.transform_geometry(geom, src, gcrs.CGCS2000)
    gcrs.check_geographic_bounds(out.bounds, what)
    return out


def parse_point(x: float, y: float, crs: int | str | None = None) -> Located:
    """A point from lon/lat or Gauss-Krüger zone 39 coordinates, returned in EPSG:4490."""
    if gcrs.looks_swapped(x, y):
        raise CRSError(
            f"point ({x}, {y}) looks like latitude, longitude with the axes swapped; "
            "give longitude first (x = lon ≈ 117.2, y = lat ≈ 39.0)"
        )
    code = _parse_crs(crs) or guess_crs(x, y)
    pt = Point(float(x), float(y))
    return Located(_to_storage(pt, code, f"point ({x}, {y})"), code)


def parse_polygon(
    data: str | dict | BaseGeometry, crs: int | str | None = None, max_vertices: int | None = None
) -> Located:
    """A polygon from WKT, GeoJSON (geometry, Feature or one-feature FeatureCollection) or shapely.

    Refuses anything that is not a valid, non-empty (multi)polygon, naming the defect (for
    example a self-intersection and where it is), so the user can redraw it.
    """
    geom = _read_geometry(data)
    check_vertices(geom, max_vertices, "polygon")
    if geom.is_empty:
        raise InvalidInput("polygon: the geometry is empty; draw or upload a polygon")
    if not isinstance(geom, Polygon | MultiPolygon):
        raise InvalidInput(
            f"polygon: a {geom.geom_type} was given; the look-up needs a Polygon or MultiPolygon"
        )
    if not geom.is_valid:
        raise InvalidInput(
            f"polygon is malformed ({explain_validity(geom)}); redraw it without "
            "self-intersections or repeated rings"
        )
    x, y = geom.representative_point().coords[0]
    code = _parse_crs(crs) or guess_crs(x, y)
    out = _to_storage(geom, code, "polygon")
    if isinstance(out, Polygon):
        out = MultiPolygon([out])
    return Located(out, code)


def _read_geometry(data: str | dict | BaseGeometry) -> BaseGeometry:
    if isinstance(data, BaseGeometry):
        return data
    obj: Any = data
    if isinstance(data, str):
        s = data.strip()
        if not s:
            raise InvalidInput("polygon: no geometry given (expected WKT or GeoJSON)")
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"polygon: GeoJSON does not parse: {exc.msg}") from exc
        else:
            try:
                return shapely_wkt.loads(s)
            except shapely.errors.GEOSException as exc:
                raise InvalidInput(f"polygon: WKT does not parse: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidInput("polygon: expected WKT text or a GeoJSON object")
    if obj.get("type") == "FeatureCollection":
        feats = obj.get("features") or []
        if len(feats) != 1:
            raise InvalidInput(
                f"polygon: the FeatureCollection holds {len(feats)} features; upload exactly one"
            )
        obj = feats[0]
    if obj.get("type") == "Feature":
        obj = obj.get("geometry") or {}
    try:
        return shape(obj)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise InvalidInput(f"polygon: GeoJSON geometry is malformed ({exc})") from exc


def ensure_in_township(session: Session, geom: BaseGeometry, what: str) -> None:
    """Refuse ``geom`` (EPSG:4490) when admin areas are stored and it touches none of them."""
    row = session.execute(
        text(
            "SELECT count(*) AS n, coalesce(bool_or(ST_Intersects(geom, "
            "ST_GeomFromText(:g, 4490))), false) AS hit FROM admin_area WHERE retired_at IS NULL"
        ),
        {"g": geom.wkt},
    ).one()
    if row.n and not row.hit:
        x, y = geom.representative_point().coords[0]
        raise InvalidInput(
            f"{what} at lon {x:.6f}, lat {y:.6f} lies outside the township's admin areas; "
            "check the coordinates and their CRS (lon/lat vs Gauss-Krüger, swapped axes)"
        )


def _current():
    return select(FarmlandParcel).where(FarmlandParcel.retired_at.is_(None))


def by_code(session: Session, patch_code: str) -> FarmlandParcel:
    """The current farmland parcel with survey patch code ``patch_code``."""
    parcel = session.scalar(_current().where(FarmlandParcel.patch_code == patch_code.strip()))
    if parcel is None:
        raise NotFound(f"farmland parcel with patch code '{patch_code}' does not exist")
    return parcel


def by_id(session: Session, parcel_id: int) -> FarmlandParcel:
    """The current farmland parcel ``parcel_id``; NotFound otherwise."""
    parcel = session.scalar(_current().where(FarmlandParcel.id == parcel_id))
    if parcel is None:
        raise NotFound(f"farmland parcel {parcel_id} does not exist (or is retired)")
    return parcel


def at_point(
    session: Session, x: float, y: float, crs: int | str | None = None
) -> list[FarmlandParcel]:
    """Parcels containing the point (x, y) in ``crs`` (guessed when None); [] between parcels."""
    loc = parse_point(x, y, crs)
    ensure_in_township(session, loc.geom, "point")
    return list(
        session.scalars(
            _current()
            .where(
                text("ST_Intersects(farmland_parcel.geom, ST_GeomFromText(:g, 4490))").bindparams(
                    g=loc.geom.wkt
                )
            )
            .order_by(FarmlandParcel.patch_code)
        )
    )


def in_polygon(
    session: Session, data: str | dict | BaseGeometry, crs: int | str | None = None
) -> list[FarmlandParcel]:
    """Parcels overlapping a drawn or uploaded polygon (WKT/GeoJSON, lon/lat or GK zone 39)."""
    loc = parse_polygon(data, crs)
    ensure_in_township(session, loc.geom, "polygon")
    return list(
        session.scalars(
            _current()
            .where(
                text(
                    "ST_Intersects(farmland_parcel.geom, ST_GeomFromText(:g, 4490)) AND NOT "
                    "ST_Touches(farmland_parcel.geom, ST_GeomFromText(:g, 4490))"
                ).bindparams(g=loc.geom.wkt)
            )
            .order_by(FarmlandParcel.patch_code)
        )
    )


def count_parcels(session: Session) -> int:
    """Number of current farmland parcels."""
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count())
            .select_from(FarmlandParcel)
            .where(FarmlandParcel.retired_at.is_(None))
        )
        or 0
    )


def first_parcel_code(session: Session) -> str:
    """Patch code of the earliest stored current parcel (for examples); NotFound when none."""
    code = session.scalar(
        select(FarmlandParcel.patch_code)
        .where(FarmlandParcel.retired_at.is_(None))
        .order_by(FarmlandParcel.id)
    )
    if code is None:
        raise NotFound("no farmland parcels are stored; import the farmland layer first")
    return code
