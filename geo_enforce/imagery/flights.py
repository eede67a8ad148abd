"""The flight catalogue: register, list, get and retire drone flights.

A flight is an orthophoto (stored as a COG) with an optional DSM, its acquisition date, GSD,
footprint (EPSG:4490) and a STAC item describing both assets. Repository functions take
``session`` as a keyword, flush and leave the commit to the caller.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, ImageryError, NotFound
from geo_enforce.imagery import rasters
from geo_enforce.io import sanity, uploads
from geo_enforce.storage.models import AdminArea, Flight
from geo_enforce.storage.paths import to_stored

_NAME_RE = re.compile(r"^[\w\-.]{1,120}$")

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def stac_item(
    *,
    name: str,
    flown_on: dt.date,
    footprint,
    ortho: rasters.RasterInfo,
    ortho_href: str,
    dsm_href: str | None,
) -> dict:
    """A STAC 1.0 item (projection extension) for one flight; geometry in EPSG:4490 lon/lat."""
    epsg = ortho.crs.to_epsg() if ortho.crs else None
    assets = {
        "ortho": {
            "href": ortho_href,
            "type": COG_MEDIA_TYPE,
            "title": "正射影像 orthophoto",
            "roles": ["data", "visual"],
        }
    }
    if dsm_href:
        assets["dsm"] = {
            "href": dsm_href,
            "type": COG_MEDIA_TYPE,
            "title": "数字表面模型 DSM (m)",
            "roles": ["data", "elevation"],
        }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
        "id": name,
        "geometry": mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": {
            "datetime": dt.datetime.combine(flown_on, dt.time(12), dt.UTC).isoformat(),
            "gsd": ortho.gsd_m,
            "proj:epsg": epsg,
            "proj:wkt2": None if epsg else (ortho.crs.to_wkt() if ortho.crs else None),
            "proj:shape": [ortho.height, ortho.width],
            "proj:transform": list(ortho.transform)[:6],
        },
        "assets": assets,
        "links": [],
    }


def register_flight(
    session: Session,
    *,
    ortho_path: str | Path,
    flown_on: dt.date,
    data_dir: Path,
    dsm_path: str | Path | None = None,
    name: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    copy_cog: bool = False,
    max_pixels: int | None = None,
) -> Flight:
    """Validate an orthophoto (and DSM), convert to COG when needed, store the flight record.

    Refused with :class:`ImageryError` (and nothing stored): no georeference, wrong band layout,
    corrupt or truncated TIFF, a DSM that does not overlap its orthophoto. A duplicate name is a
    :class:`Conflict`. COGs are written under ``data_dir/flights/<name>/``; an input that is
    already a COG is referenced where it is, or copied there with ``copy_cog`` (uploads).
    ``max_pixels`` (uploads: ``limits.max_upload_pixels``) is checked on width × height from the
    header, before any pixel is read, so a sparse or tiny file cannot declare a huge raster;
    ``flown_on`` must be a plausible date (:mod:`geo_enforce.io.sanity`).
    """
    sanity.check_date(flown_on, "flown_on")
    ortho_path = Path(ortho_path)
    name = name or f"{ortho_path.stem}-{flown_on:%Y%m%d}"
    if not _NAME_RE.match(name):
        raise ImageryError(
            f"flight name {name!r}: use letters, digits, '-', '_' or '.' (at most 120)"
        )
    if session.scalar(select(func.count()).select_from(Flight).where(Flight.name == name)):
        raise Conflict(f"a flight named {name!r} already exists; choose another --name")

    ortho = rasters.inspect(ortho_path)
    if max_pixels is not None:
        uploads.check_pixels(ortho.width, ortho.height, max_pixels, what=f"orthophoto {ortho_path}")
    rasters.validate_ortho(ortho)
    rasters.check_readable(ortho_path, progress=_stage(progress, "ortho"))
    dsm = None
    if dsm_path is not None:
        dsm = rasters.inspect(dsm_path)
        if max_pixels is not None:
            uploads.check_pixels(dsm.width, dsm.height, max_pixels, what=f"DSM {dsm_path}")
        rasters.validate_dsm(dsm)
        rasters.check_readable(dsm_path, progress=_stage(progress, "dsm"))

    fp = rasters.footprint(ortho_path)
    if dsm is not None and not rasters.footprint(dsm.path).intersects(fp):
        raise ImageryError(f"{dsm.path}: the DSM does not overlap its orthophoto {ortho_path}")

    target = data_dir / "flights" / name
    written: list[Path] = []
    try:
        ortho_final = _as_cog(ortho, target / "ortho.tif", "ortho", written, copy_cog)
        dsm_final = _as_cog(dsm, target / "dsm.tif", "dsm", written, copy_cog) if dsm else None
        flight = Flight(
            name=name,
            flown_on=flown_on,
            gsd_m=float(ortho.gsd_m or 0.0),
            # relative to data_dir when written there: a restore elsewhere still finds them
            ortho_path=to_stored(ortho_final, data_dir),
            dsm_path=to_stored(dsm_final, data_dir) if dsm_final else None,
            crs=ortho.crs.to_string() if ortho.crs else "",
            width=ortho.width,
            height=ortho.height,
            band_count=ortho.count,
            stac=stac_item(
                name=name,
                flown_on=flown_on,
                footprint=fp,
                ortho=ortho,
                ortho_href=str(ortho_final),
                dsm_href=str(dsm_final) if dsm_final else None,
            ),
            footprint=from_shape(fp, srid=4490),
        )
        session.add(flight)
        session.flush()
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        if target.exists() and not any(target.iterdir()):
            shutil.rmtree(target, ignore_errors=True)
        raise
    return flight


def _stage(progress, stage: str):
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def _as_cog(
    info: rasters.RasterInfo, dst: Path, kind: str, written: list[Path], copy: bool
) -> Path:
    if info.is_cog and not copy:
        return info.path.resolve()
    if info.is_cog:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(info.path, dst)
        written.append(dst)
        return dst.resolve()
    rasters.to_cog(info.path, dst, kind=kind)
    written.append(dst)
    return dst.resolve()


def get_flight(session: Session, ref: int | str) -> Flight:
    """A current flight by id or name."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
        flight = session.get(Flight, int(ref)) if 0 < int(ref) < 2**63 else None
    else:
        flight = session.scalar(select(Flight).where(Flight.name == ref))
    if flight is None or flight.retired_at is not None:
        raise NotFound(f"flight {ref!r} not found (list them with 'geo-enforce flight list')")
    return flight


def list_flights(session: Session, *, include_retired: bool = False) -> list[Flight]:
    """The registered flights, oldest first (retired ones when asked)."""
    q = select(Flight).order_by(Flight.flown_on, Flight.id)
    if not include_retired:
        q = q.where(Flight.retired_at.is_(None))
    return list(session.scalars(q))


def retire_flight(session: Session, ref: int | str, *, actor: str, reason: str) -> Flight:
    """Retire (never delete) a flight; its files stay for the audit trail."""
    flight = get_flight(session, ref)
    flight.retired_at = dt.datetime.now(dt.UTC)
    flight.retired_by = actor
    flight.retire_reason = reason
    session.flush()
    return flight


def flight_summary(flight: Flight) -> dict:
    """Plain-JSON description of a flight (footprint as GeoJSON in EPSG:4490)."""
    return {
        "id": flight.id,
        "name": flight.name,
        "flown_on": flight.flown_on.isoformat(),
        "gsd_m": flight.gsd_m,
        "crs": flight.crs,
        "width": flight.width,
        "height": flight.height,
        "band_count": flight.band_count,
        "ortho_path": flight.ortho_path,
        "dsm_path": flight.dsm_path,
        "has_dsm": flight.dsm_path is not None,
        "footprint": mapping(to_shape(flight.footprint)) if flight.footprint is not None else None,
        "retired": flight.retired_at is not None,
    }


def outside_warning(session: Session, footprint) -> str | None:
    """A warning when ``footprint`` (EPSG:4490) overlaps none of the stored administrative
    areas: a flight registered far from the township or in the wrong CRS, whose rule hits would
    mean nothing. None when it overlaps one, or when no township is loaded yet."""
    live = AdminArea.retired_at.is_(None)
    if not session.scalar(select(func.count()).select_from(AdminArea).where(live)):
        return None
    hit = session.scalar(
        select(func.count())
        .select_from(AdminArea)
        .where(live, func.ST_Intersects(AdminArea.geom, from_shape(footprint, srid=4490)))
    )
    if hit:
        return None
    c = footprint.centroid
    return (
        f"影像范围不在任何已存行政区内（中心 {c.x:.5f}, {c.y:.5f}，EPSG:4490）："
        "请检查影像的地理参考和坐标系；此航摄的图斑不会被建议为违法 "
        f"(the flight lies outside every stored administrative area, centre {c.x:.5f}, "
        f"{c.y:.5f} in EPSG:4490: check its georeference and CRS; no patch from it is "
        "suggested as 违法)"
    )


def flight_warnings(session: Session, flight: Flight) -> list[str]:
    """What a user should hear about a just-registered flight (today: outside the township)."""
    if flight.footprint is None:
        return []
    w = outside_warning(session, to_shape(flight.footprint))
    return [w] if w else []
