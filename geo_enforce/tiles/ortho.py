"""Orthophoto XYZ tiles and small overviews from a flight's COG, through rio-tiler.

The flight catalogue (``flight`` table) records each orthophoto's path (``ortho_path``),
absolute, relative to the settings' ``data_dir``, or relative to the working directory. Tiles
are Web Mercator XYZ (EPSG:3857), PNG (with transparency outside the image) or WebP; the
overview used by the offline map is a downsampled PNG of the whole image in Web Mercator with
its lon/lat bounds.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds
from rio_tiler.errors import RioTilerError, TileOutsideBounds
from rio_tiler.io import Reader
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import ImageryError, InvalidInput, NotFound
from geo_enforce.storage.models import Flight
from geo_enforce.storage.paths import resolve_stored
from geo_enforce.tiles.mvt import check_tile

WEB_MERCATOR = CRS.from_epsg(3857)
FORMATS = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}


@dataclass(frozen=True)
class FlightImage:
    """A flight's orthophoto as the map needs it."""

    flight_id: int
    name: str
    flown_on: dt.date
    path: Path
    #: (west, south, east, north) in degrees (EPSG:4326/4490)
    bounds: tuple[float, float, float, float]
    gsd_m: float


def _resolve(path: str, data_dir: Path | None) -> Path:
    """A stored orthophoto path (:func:`geo_enforce.storage.paths.resolve_stored`)."""
    return resolve_stored(path, data_dir)


def flight_image(session: Session, flight_id: int, *, data_dir: Path | None = None) -> FlightImage:
    """The current flight ``flight_id`` with its orthophoto path resolved and bounds read."""
    flight = session.execute(
        select(Flight).where(Flight.id == flight_id, Flight.retired_at.is_(None))
    ).scalar_one_or_none()
    if flight is None:
        raise NotFound(f"flight {flight_id} not found (or retired)")
    return image_of(flight, data_dir=data_dir)


def image_of(flight: Flight, *, data_dir: Path | None = None) -> FlightImage:
    """:func:`flight_image` of a flight row already loaded (e.g. by :func:`current_flights`)."""
    path = _resolve(flight.ortho_path, data_dir)
    if not path.is_file():
        raise NotFound(
            f"orthophoto of flight {flight.id} ('{flight.name}') is missing: {path}; "
            "re-register the flight or restore the file"
        )
    return FlightImage(
        flight_id=flight.id,
        name=flight.name,
        flown_on=flight.flown_on,
        path=path,
        bounds=_bounds(str(path), path.stat().st_mtime_ns),
        gsd_m=flight.gsd_m,
    )


def current_flights(session: Session) -> list[Flight]:
    """Current flights, oldest first."""
    return list(
        session.execute(
            select(Flight).where(Flight.retired_at.is_(None)).order_by(Flight.flown_on, Flight.id)
        ).scalars()
    )


@cache
def _bounds(path: str, _mtime: int) -> tuple[float, float, float, float]:
    try:
        with Reader(path) as src:
            w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    except (RasterioIOError, RioTilerError) as exc:
        raise ImageryError(f"cannot read orthophoto {path}: {exc}") from exc
    return (w, s, e, n)


def empty_tile(fmt: str = "png", tilesize: int = 256) -> bytes:
    """A fully transparent tile (served outside the image, so the map shows no broken tile)."""
    return _empty(fmt, tilesize)


@cache
def _empty(fmt: str, tilesize: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (tilesize, tilesize), (0, 0, 0, 0)).save(buf, format=FORMATS[fmt][0])
    return buf.getvalue()


def render_ortho_tile(
    path: Path | str, z: int, x: int, y: int, *, fmt: str = "png", tilesize: int = 256
) -> bytes:
    """XYZ tile z/x/y of the orthophoto at ``path`` (RGB bands 1-3) as PNG or WebP bytes.

    Outside the image the tile is transparent. Raises :class:`ImageryError` for an unreadable
    file and :class:`InvalidInput` for a bad tile address or format.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"tile format '{fmt}' not supported: use png or webp")
    check_tile(z, x, y)
    try:
        with Reader(str(path)) as src:
            indexes = (1, 2, 3) if src.dataset.count >= 3 else (1,)
            try:
                img = src.tile(x, y, z, tilesize=tilesize, indexes=indexes)
            except TileOutsideBounds:
                return empty_tile(fmt, tilesize)
    except RasterioIOError as exc:
        raise ImageryError(f"cannot read orthophoto {path}: {exc}") from exc
    return img.render(img_format=FORMATS[fmt][0], add_mask=True)


def ortho_overview(
    path: Path | str, *, max_size: int = 1024
) -> tuple[bytes, tuple[float, float, float, float]]:
    """A downsampled PNG of the whole orthophoto in Web Mercator and its lon/lat bounds.

    The image spans exactly the returned (west, south, east, north) bounds in EPSG:3857, so a
    map can place it (or cut tiles from it) without another projection step. ``max_size`` caps
    the longer side in pixels.
    """
    try:
        with Reader(str(path)) as src:
            w, s, e, n = transform_bounds(src.crs, WEB_MERCATOR, *src.bounds, densify_pts=21)
            indexes = (1, 2, 3) if src.dataset.count >= 3 else (1,)
            img = src.part(
                (w, s, e, n),
                dst_crs=WEB_MERCATOR,
                bounds_crs=WEB_MERCATOR,
                max_size=max_size,
                indexes=indexes,
            )
    except (RasterioIOError, RioTilerError) as exc:
        raise ImageryError(f"cannot read orthophoto {path}: {exc}") from exc
    lonlat = transform_bounds(WEB_MERCATOR, "EPSG:4326", w, s, e, n)
    return img.render(img_format="PNG", add_mask=True), (
        lonlat[0],
        lonlat[1],
        lonlat[2],
        lonlat[3],
    )
