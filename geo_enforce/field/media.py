"""Files captured in the field: photos, short videos and PDFs of signed notices.

Every file is checked completely before anything is stored, through the same gate as the
verification photos: the byte limit (``limits.max_upload_bytes``), the kind from the file's
first bytes (``io.uploads.sniff_kind``; the name and the declared type decide nothing), the
pixel limit and a full decode for photos (``farmland.photos.open_image``), EXIF position,
heading and time (``farmland.photos.read_exif``). Videos must be ISO media files whose boxes
cover the file and hold a ``moov`` box; PDFs must start with ``%PDF-`` and end with ``%%EOF``.

**Video time and place** (:func:`read_video_meta`), read from the ``moov`` box with no extra
library (none in the lock reads QuickTime user data): the creation time of the movie header
(``mvhd``, seconds since 1904 in UTC; 0 = unset), or better Apple's
``com.apple.quicktime.creationdate`` (local time with its offset), and the position of
Apple's ``com.apple.quicktime.location.ISO6709`` (``moov/meta`` keys and items) or of the
``©xyz`` user-data atom (``moov/udta``, written by Android and Apple cameras), ISO 6709 text
such as ``+39.0042+117.2042+005.000/``. Every box is bounded by its parent, at most
:data:`MAX_BOXES` boxes are read along fixed paths only (``moov/mvhd``, ``moov/udta/©xyz``,
``moov/meta/keys`` and ``moov/meta/ilst/<n>/data``), and anything malformed is
skipped (the video is still taken, without that metadata). The result is an :class:`ExifInfo`,
used for the file's time and position like a photo's EXIF.

HEIC photos are accepted only when Pillow has a HEIF decoder registered (the locked Pillow has
none): otherwise they are refused with a message saying how to send JPEG instead (iPhone:
设置 → 相机 → 格式 → 兼容性最佳). Why not pillow-heif: see the README, "Photos from phones".
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from PIL import Image

from geo_enforce.errors import InvalidInput, TooLarge
from geo_enforce.farmland.photos import ExifInfo, open_image, read_exif
from geo_enforce.io import uploads
from geo_enforce.settings import LimitSettings

#: upload kind → Pillow format of the photos accepted
PHOTO_FORMATS = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF"}
ACCEPTED_KINDS = frozenset(PHOTO_FORMATS) | uploads.VIDEO_KINDS | uploads.DOCUMENT_KINDS
_ACCEPTED_TEXT = "JPEG/PNG 照片、MP4 视频、PDF 文书"


@dataclass(frozen=True)
class CheckedMedia:
    """A captured file that passed every check: bytes, kind, SHA-256 and what EXIF says."""

    upload: uploads.CheckedUpload
    #: photo, video or document
    media: str
    width: int | None = None
    height: int | None = None
    exif: ExifInfo = field(default_factory=ExifInfo)

    @property
    def label(self) -> str:
        """How messages name the file."""
        return f"文件 '{self.upload.original_name}'" if self.upload.original_name else "文件"


def heif_supported() -> bool:
    """Whether Pillow can decode HEIF/HEIC here (a plugin such as pillow-heif registered)."""
    Image.init()
    return "HEIF" in Image.OPEN


def read_upload(stream: BinaryIO, *, filename: str | None, limits: LimitSettings) -> bytes:
    """Read one uploaded file, refusing it (TooLarge) as soon as it passes the byte limit."""
    try:
        return uploads.read_limited(stream, limits.max_upload_bytes)
    except TooLarge:
        label = f"文件 '{filename}'" if filename else "文件"
        raise TooLarge(
            f"{label} 超过上限 {limits.max_upload_bytes:,} 字节；请压缩或分段后重新上传 "
            "(file over the size limit)"
        ) from None


def check_media(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    limits: LimitSettings,
) -> CheckedMedia:
    """Check one captured file; raises TooLarge or InvalidInput (Chinese message naming the
    file) and stores nothing."""
    label = f"文件 '{filename}'" if filename else "文件"
    if len(data) > limits.max_upload_bytes:
        raise TooLarge(
            f"{label} 大小 {len(data):,} 字节，超过上限 {limits.max_upload_bytes:,} 字节；"
            "请压缩或分段后重新上传 (file over the size limit)"
        )
    if not data:
        raise InvalidInput(f"{label} 是空文件，请重新拍摄或选择 (empty file)")
    kind = uploads.sniff_kind(data[:4096])
    if kind not in ACCEPTED_KINDS:
        found = kind or "无法识别的格式"
        raise InvalidInput(
            f"{label} 的内容是 {found}，不是可接受的 {_ACCEPTED_TEXT}（按文件内容判断，"
            "与文件名无关） (not an image, video or PDF)"
        )
    try:
        checked = uploads.check_content(
            data,
            allowed=ACCEPTED_KINDS,
            declared_type=content_type,
            original_name=filename,
            what="file",
        )
    except InvalidInput as exc:
        raise InvalidInput(f"{label} 声明的类型与内容不符：{exc}") from None
    if kind in PHOTO_FORMATS:
        return _check_photo(checked, label, limits)
    if kind in uploads.VIDEO_KINDS:
        _check_iso_media(data, label)
        return CheckedMedia(upload=checked, media="video", exif=read_video_meta(data))
    _check_pdf(data, label)
    return CheckedMedia(upload=checked, media="document")


def _check_photo(checked: uploads.CheckedUpload, label: str, limits: LimitSettings) -> CheckedMedia:
    if checked.kind == "heic" and not heif_supported():
        raise InvalidInput(
            f"{label} 是 HEIC 照片，服务器无法解码；请在手机 设置→相机→格式 中选择“兼容性最佳”"
            "（最兼容，即 JPEG）后重新拍摄，或导出为 JPEG 再上传 (HEIC cannot be decoded here)"
        )
    name = checked.original_name or "upload"
    img = open_image(
        checked.data, name, limits.max_upload_pixels, formats=(PHOTO_FORMATS[checked.kind],)
    )
    return CheckedMedia(
        upload=checked, media="photo", width=img.width, height=img.height, exif=read_exif(img)
    )


def _check_iso_media(data: bytes, label: str) -> None:
    """The top-level boxes of an MP4/QuickTime file cover it exactly and include ``moov``."""
    pos, n, seen = 0, len(data), set()
    while pos < n:
        if n - pos < 8:
            break
        size, box = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            if n - pos < 16:
                break
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = n - pos
        if size < 8 or pos + size > n:
            break
        seen.add(box)
        pos += size
    if pos != n or b"moov" not in seen:
        raise InvalidInput(
            f"{label} 不是完整的视频文件（已损坏或未传完）；请重新导出 MP4 后上传 "
            "(truncated or damaged video)"
        )


def _check_pdf(data: bytes, label: str) -> None:
    if b"%%EOF" not in data[-2048:]:
        raise InvalidInput(
            f"{label} 不是完整的 PDF（已损坏或未传完）；请重新扫描或导出后上传 (truncated PDF)"
        )


# ---- video metadata (creation time, ISO 6709 position) ----

#: Boxes read at most per file (a hostile file of tiny boxes cannot make the reader loop long).
MAX_BOXES = 5_000
#: Apple metadata keys (``moov/meta/keys``) read
_KEY_LOCATION = b"com.apple.quicktime.location.ISO6709"
_KEY_CREATED = b"com.apple.quicktime.creationdate"
_EPOCH_1904 = dt.datetime(1904, 1, 1, tzinfo=dt.UTC)
#: ISO 6709 as cameras write it: latitude, longitude, optional altitude, optional CRS, "/"
_ISO6709 = re.compile(
    r"^\s*([+-]\d{1,6}(?:\.\d+)?)([+-]\d{1,7}(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?\s*$"
)


class _Budget:
    """How many more boxes may be read."""

    def __init__(self, n: int):
        self.left = n


def _boxes(data: bytes, start: int, end: int, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of the boxes between ``start`` and ``end``; stops at the
    first box that does not fit (size below its header, or past ``end``)."""
    pos = start
    while pos + 8 <= end and budget.left > 0:
        budget.left -= 1
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            if pos + 16 > end:
                return
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind, pos + head, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes, budget: _Budget) -> tuple[int, int]:
    for k, b0, b1 in _boxes(data, start, end, budget):
        if k == kind:
            return b0, b1
    return -1, -1


def parse_iso6709(text: str) -> tuple[float, float] | None:
    """(lon, lat) of an ISO 6709 point (``+39.0042+117.2042/``; degrees, DDMM or DDMMSS with
    decimals), or None when it is not one or lies outside ±90/±180."""
    m = _ISO6709.match(text)
    if not m:
        return None

    def degrees(value: str, deg_digits: int) -> float:
        sign = -1.0 if value[0] == "-" else 1.0
        whole, _, frac = value[1:].partition(".")
        extra = max(0, len(whole) - deg_digits)  # 0: degrees, 2: DD(D)MM, 4: DD(D)MMSS
        if extra not in (0, 2, 4):
            raise ValueError(value)
        d = float(whole[:deg_digits])
        rest = whole[deg_digits:] + ("." + frac if frac else "")
        if extra == 0:
            return sign * float(value[1:])
        if extra == 2:
            return sign * (d + float(rest) / 60)
        return sign * (d + float(rest[:2]) / 60 + float(rest[2:]) / 3600)

    try:
        lat, lon = degrees(m.group(1), 2), degrees(m.group(2), 3)
    except ValueError:
        return None
    if abs(lat) > 90 or abs(lon) > 180:
        return None
    return lon, lat


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace")


def _mvhd_time(data: bytes, b0: int, b1: int) -> dt.datetime | None:
    if b1 - b0 < 8:
        return None
    version = data[b0]
    if version == 1:
        if b1 - b0 < 12:
            return None
        seconds = struct.unpack_from(">Q", data, b0 + 4)[0]
    else:
        seconds = struct.unpack_from(">I", data, b0 + 4)[0]
    if seconds == 0 or seconds > 200 * 366 * 86400:  # unset, or beyond 2104
        return None
    return _EPOCH_1904 + dt.timedelta(seconds=seconds)


def _udta_location(data: bytes, b0: int, b1: int, budget: _Budget) -> tuple[float, float] | None:
    """``©xyz`` of ``udta``: 16-bit text length, 16-bit language, the ISO 6709 text."""
    for kind, c0, c1 in _boxes(data, b0, b1, budget):
        if kind == b"\xa9xyz" and c1 - c0 >= 4:
            n = struct.unpack_from(">H", data, c0)[0]
            if c0 + 4 + n <= c1:
                found = parse_iso6709(_text(data[c0 + 4 : c0 + 4 + n]))
                if found:
                    return found
    return None


def _apple_keys(data: bytes, b0: int, b1: int, budget: _Budget) -> dict[bytes, str]:
    """Apple's ``meta`` (``hdlr`` ``mdta``, ``keys``, ``ilst``): the values of the keys read."""
    if data[b0 + 4 : b0 + 8] != b"hdlr" and data[b0 + 8 : b0 + 12] == b"hdlr":
        b0 += 4  # an ISO full box (version and flags) before the children
    k0, k1 = _child(data, b0, b1, b"keys", budget)
    i0, i1 = _child(data, b0, b1, b"ilst", budget)
    if k0 < 0 or i0 < 0 or k1 - k0 < 8:
        return {}
    count = struct.unpack_from(">I", data, k0 + 4)[0]
    names: dict[int, bytes] = {}
    pos = k0 + 8
    for index in range(1, min(count, 1000) + 1):
        if pos + 8 > k1:
            break
        size = struct.unpack_from(">I", data, pos)[0]
        if size < 8 or pos + size > k1:
            break
        if data[pos + 4 : pos + 8] == b"mdta":
            names[index] = data[pos + 8 : pos + size]
        pos += size
    out: dict[bytes, str] = {}
    for kind, c0, c1 in _boxes(data, i0, i1, budget):
        name = names.get(struct.unpack(">I", kind)[0])
        if name not in (_KEY_LOCATION, _KEY_CREATED):
            continue
        d0, d1 = _child(data, c0, c1, b"data", budget)
        if d0 >= 0 and d1 - d0 >= 8 and struct.unpack_from(">I", data, d0)[0] == 1:  # UTF-8
            out[name] = _text(data[d0 + 8 : d1])
    return out


def _apple_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def read_video_meta(data: bytes) -> ExifInfo:
    """Creation time and ISO 6709 position of an MP4/QuickTime file (see the module notes);
    an empty :class:`ExifInfo` when it has neither. Never raises on a malformed file."""
    budget = _Budget(MAX_BOXES)
    m0, m1 = _child(data, 0, len(data), b"moov", budget)
    if m0 < 0:
        return ExifInfo()
    taken: dt.datetime | None = None
    where: tuple[float, float] | None = None
    apple: dict[bytes, str] = {}
    for kind, b0, b1 in _boxes(data, m0, m1, budget):
        if kind == b"mvhd":
            taken = _mvhd_time(data, b0, b1)
        elif kind == b"udta" and where is None:
            where = _udta_location(data, b0, b1, budget)
        elif kind == b"meta":
            apple = _apple_keys(data, b0, b1, budget)
    if _KEY_LOCATION in apple:
        where = parse_iso6709(apple[_KEY_LOCATION]) or where
    taken = _apple_time(apple.get(_KEY_CREATED)) or taken
    if taken is None and where is None:
        return ExifInfo()
    lon, lat = where if where else (None, None)
    return ExifInfo(lon=lon, lat=lat, taken_at=taken, has_exif=True)
