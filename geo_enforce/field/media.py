"""Files captured in the field: photos, short videos and PDFs of signed notices.

Every file is checked completely before anything is stored, through the same gate as the
verification photos: the byte limit (``limits.max_upload_bytes``), the kind from the file's
first bytes (``io.uploads.sniff_kind``; the name and the declared type decide nothing), the
pixel limit and a full decode for photos (``farmland.photos.open_image``), EXIF position,
heading and time (``farmland.photos.read_exif``). Videos must be ISO media files whose boxes
cover the file and hold a ``moov`` box; PDFs must start with ``%PDF-`` and end with ``%%EOF``.

HEIC photos are accepted only when Pillow has a HEIF decoder registered (the locked Pillow has
none): otherwise they are refused with a message saying how to send JPEG instead.
"""

from __future__ import annotations

import struct
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
        return CheckedMedia(upload=checked, media="video")
    _check_pdf(data, label)
    return CheckedMedia(upload=checked, media="document")


def _check_photo(checked: uploads.CheckedUpload, label: str, limits: LimitSettings) -> CheckedMedia:
    if checked.kind == "heic" and not heif_supported():
        raise InvalidInput(
            f"{label} 是 HEIC 照片，服务器无法解码；请在手机相机设置中选择“兼容性最佳”(JPEG) "
            "后重新拍摄，或导出为 JPEG 再上传 (HEIC cannot be decoded here)"
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
