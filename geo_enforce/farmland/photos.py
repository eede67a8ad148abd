"""Verification photos: JPEG upload, EXIF position/heading/time, far-photo warning, map layer.

An upload is checked completely before anything is written: size (``limits.max_upload_bytes``),
that it is a decodable JPEG, pixel count (``limits.max_upload_pixels``) and an EXIF GPS position
(or a position given by hand). The file is stored under ``data_dir/photos`` with a generated
name; if the surrounding transaction rolls back, the file is removed again, so a failed upload
leaves neither a row nor a stray file.

Positions from EXIF are WGS 84, used as CGCS2000 (they agree to centimetres). The distance to
the checked parcel, patch or structure is geodesic (PostGIS geography on CGCS2000), 0 inside it.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from PIL import Image, UnidentifiedImageError
from shapely.geometry import Point
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound, TooLarge
from geo_enforce.farmland.results import PhotoInfo, PhotoPoint
from geo_enforce.farmland.verify import DEFAULT_FARMLAND, get_verification
from geo_enforce.geometry import crs as gcrs
from geo_enforce.io import sanity, uploads
from geo_enforce.settings import FarmlandSettings, Settings
from geo_enforce.storage.models import Verification, VerificationPhoto

#: EXIF tags (TIFF/EXIF 2.3)
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_ORIGINAL = 0x9011
_DATETIME = 0x0132
#: Camera clocks without an offset tag are taken as China Standard Time.
LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class ExifInfo:
    """What the liaison needs from a photo's EXIF: WGS 84 position, heading, time."""

    lon: float | None = None
    lat: float | None = None
    heading_deg: float | None = None
    taken_at: dt.datetime | None = None
    has_exif: bool = False

    @property
    def has_position(self) -> bool:
        """Whether the EXIF carried a GPS position."""
        return self.lon is not None and self.lat is not None


@dataclass
class PhotoResult:
    """A stored photo and the warnings (Chinese text) the liaison should see."""

    photo: PhotoInfo
    warnings: list[str] = field(default_factory=list)


def _dms(value: Any) -> float:
    d, m, s = (float(v) for v in value)
    return d + m / 60.0 + s / 3600.0


def read_exif(image: Image.Image) -> ExifInfo:
    """GPS position (decimal degrees, WGS 84), heading (°, true or magnetic as recorded) and
    capture time of an opened image; missing fields are None."""
    exif = image.getexif()
    if not exif:
        return ExifInfo()
    gps = exif.get_ifd(_GPS_IFD)
    lon = lat = heading = None
    try:
        if 2 in gps and 4 in gps:
            lat = _dms(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
            lon = _dms(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
        if 17 in gps:
            heading = float(gps[17]) % 360.0
    except (TypeError, ValueError, ZeroDivisionError):
        lon = lat = heading = None
    sub = exif.get_ifd(_EXIF_IFD)
    taken = _exif_time(
        sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME), sub.get(_OFFSET_ORIGINAL)
    )
    return ExifInfo(lon=lon, lat=lat, heading_deg=heading, taken_at=taken, has_exif=True)


def _exif_time(value: Any, offset: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        naive = dt.datetime.strptime(str(value).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if offset:
        try:
            sign = -1 if str(offset).startswith("-") else 1
            hh, mm = str(offset).strip("+-\x00 ").split(":")
            tz = dt.timezone(sign * dt.timedelta(hours=int(hh), minutes=int(mm)))
            return naive.replace(tzinfo=tz)
        except ValueError:
            pass
    return naive.replace(tzinfo=LOCAL_TZ)


def open_image(
    data: bytes, name: str, max_pixels: int, *, formats: tuple[str, ...] = ("JPEG",)
) -> Image.Image:
    """Open and fully decode a photo of one of Pillow's ``formats``; refuses other formats,
    more than ``max_pixels`` pixels (TooLarge) and damaged or truncated files (InvalidInput)."""
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"photo '{name}' has too many pixels (limit {max_pixels:,})") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(
            f"photo '{name}' cannot be read as an image (damaged, truncated or not a photo); "
            "upload the JPEG again"
        ) from exc
    if img.format not in formats:
        raise InvalidInput(
            f"photo '{name}' is a {img.format} image; only {'/'.join(formats)} photos are accepted"
        )
    w, h = img.size
    uploads.check_pixels(w, h, max_pixels, what=f"photo '{name}'")
    try:
        img.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(
            f"photo '{name}' is damaged or truncated ({exc}); take it again"
        ) from exc
    return img


PHOTO_SUBDIR = "photos"


def photo_path(settings: Settings, photo: VerificationPhoto | PhotoInfo) -> Path:
    """Where a stored photo lives: ``data_dir/photos/<generated name>``."""
    return uploads.stored_path(Path(settings.data_dir), PHOTO_SUBDIR, photo.stored_name)


def add_photo(
    session: Session,
    settings: Settings,
    verification_id: int,
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> PhotoResult:
    """Attach a JPEG to a verification; returns the record and warnings (Chinese text).

    Position comes from EXIF GPS, else from ``lon``/``lat`` (EPSG:4490) given by hand; a photo
    with neither is refused. Raises :class:`TooLarge` over the byte or pixel limit and
    :class:`InvalidInput` for anything that is not a sound JPEG.
    """
    cfg = settings.farmland
    v = get_verification(session, verification_id)
    limits = settings.limits
    label = f"photo '{filename}'" if filename else "photo"
    if len(data) > limits.max_upload_bytes:
        raise TooLarge(
            f"{label} is {len(data):,} bytes, over the limit of {limits.max_upload_bytes:,} "
            "bytes; send a smaller photo"
        )
    checked = uploads.check_content(
        data, allowed={"jpeg"}, declared_type=content_type, original_name=filename, what="photo"
    )
    name = checked.original_name or "upload"
    img = open_image(data, name, limits.max_upload_pixels)
    info = read_exif(img)
    if info.has_position:
        plon, plat = float(info.lon), float(info.lat)  # type: ignore[arg-type]
        source = "exif"
    elif lon is not None and lat is not None:
        plon, plat, source = float(lon), float(lat), "manual"
    elif not info.has_exif:
        raise InvalidInput(
            f"photo '{name}' carries no EXIF data, so its position and time are unknown; "
            "take it with the camera's location setting on, or give lon/lat by hand"
        )
    else:
        raise InvalidInput(
            f"photo '{name}' has EXIF but no GPS position; turn on the camera's location "
            "setting, or give lon/lat by hand"
        )
    if not gcrs.in_china(plon, plat):
        raise InvalidInput(
            f"photo '{name}': position lon {plon:.6f}, lat {plat:.6f} is outside China; "
            "check the camera's GPS or the coordinates given"
        )

    point = Point(plon, plat)
    distance = _distance_to_target(session, v, point)
    warnings: list[str] = []
    if distance is not None and distance > cfg.far_photo_m:
        warnings.append(
            f"照片拍摄位置距核查对象 {distance:.0f} 米，超过 {cfg.far_photo_m:.0f} 米，"
            "请确认是否在现场拍摄 "
            f"(photo taken {distance:.0f} m from the target)"
        )
    if source == "manual":
        warnings.append("照片无 GPS 信息，位置为手工填写 (position entered by hand)")
    if info.heading_deg is None:
        warnings.append("照片无拍摄方向信息 (no heading in EXIF)")
    taken_at = info.taken_at
    if taken_at is not None and not sanity.is_plausible(taken_at):
        # a camera with a reset clock (0001:01:01) or a typo: keep the photo, drop the time
        warnings.append(
            f"照片拍摄时间 {sanity.safe_iso(taken_at)} 不合理，已忽略 "
            f"(EXIF capture time outside {sanity.EARLIEST_DATE} … {sanity.latest_date()}; "
            "stored without a capture time)"
        )
        taken_at = None
    elif taken_at is None:
        warnings.append("照片无拍摄时间信息 (no capture time in EXIF)")

    stored = uploads.store_bytes(Path(settings.data_dir), PHOTO_SUBDIR, checked)
    path = uploads.stored_path(Path(settings.data_dir), PHOTO_SUBDIR, stored)
    try:
        photo = VerificationPhoto(
            verification_id=v.id,
            stored_name=stored,
            original_name=checked.original_name,
            content_type="image/jpeg",
            size_bytes=checked.size_bytes,
            sha256=checked.sha256,
            taken_at=taken_at,
            heading_deg=info.heading_deg,
            distance_to_target_m=distance,
            location=from_shape(point, srid=4490),
        )
        session.add(photo)
        session.flush()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    uploads.remove_on_rollback(session, path)
    return PhotoResult(photo=PhotoInfo.of(photo, cfg.far_photo_m), warnings=warnings)


def _distance_to_target(session: Session, v: Verification, point: Point) -> float | None:
    table = v.target_kind
    if table not in ("farmland_parcel", "change_patch", "structure"):
        return None
    d = session.execute(
        text(
            f"SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4490)"
            f"::geography) FROM {table} WHERE id = :id"
        ),
        {"x": point.x, "y": point.y, "id": v.target_id},
    ).scalar_one_or_none()
    return None if d is None else float(d)


def get_photo(session: Session, verification_id: int, photo_id: int) -> VerificationPhoto:
    """Photo ``photo_id`` of verification ``verification_id``; NotFound otherwise."""
    p = session.get(VerificationPhoto, photo_id)
    if p is None or p.retired_at is not None or p.verification_id != verification_id:
        raise NotFound(f"photo {photo_id} of verification {verification_id} does not exist")
    return p


def photo_points(
    session: Session,
    *,
    verification_id: int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    config: FarmlandSettings = DEFAULT_FARMLAND,
) -> list[PhotoPoint]:
    """The photo-point map layer: current photos with a position, oldest first.

    ``bbox`` (west, south, east, north; EPSG:4490) keeps the photos inside it. The caller turns
    the points into GeoJSON with its labels and the photos' URLs (``api/routers/verifications``).
    """
    q = (
        select(VerificationPhoto, Verification)
        .join(Verification, Verification.id == VerificationPhoto.verification_id)
        .where(
            VerificationPhoto.retired_at.is_(None),
            Verification.retired_at.is_(None),
            VerificationPhoto.location.is_not(None),
        )
        .order_by(VerificationPhoto.id)
    )
    if verification_id is not None:
        q = q.where(VerificationPhoto.verification_id == verification_id)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        q = q.where(
            text(
                "ST_Intersects(verification_photo.location, "
                "ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490))"
            ).bindparams(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        )
    return [
        PhotoPoint(PhotoInfo.of(p, config.far_photo_m), result=v.result, verified_by=v.verified_by)
        for p, v in session.execute(q).all()
    ]
