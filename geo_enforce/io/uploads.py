"""Upload limits, content checks and stored file names (no web stack).

Every uploaded file (verification photos, 举证 evidence, orthophotos, layer files) goes through
the same gate:

- :func:`read_limited`: read a stream in chunks and stop at ``max_bytes`` (TooLarge), so a large
  body never fills memory before it is refused;
- :func:`sniff_kind` / :func:`check_content`: the kind is decided by the file's first bytes,
  never by the client's file name or Content-Type header; a declared type that contradicts the
  bytes is refused;
- :func:`check_pixels` / :func:`check_features`: raster size and feature count limits;
- :func:`store_bytes` / :func:`stored_path`: files are written under ``data_dir`` with a
  generated name (random hex + the extension of the sniffed kind); the client's name is kept
  only as data, never as a path.

The limits come from ``Settings.limits`` (``GEO_ENFORCE_LIMITS__MAX_UPLOAD_BYTES`` …).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import event
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, TooLarge

CHUNK = 1 << 20

#: kind → (extension, MIME types a client may declare for it)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jpeg": (".jpg", ("image/jpeg", "image/jpg", "image/pjpeg")),
    "png": (".png", ("image/png",)),
    "tiff": (".tif", ("image/tiff", "image/geotiff", "image/tiff; application=geotiff")),
    "webp": (".webp", ("image/webp",)),
    "zip": (".zip", ("application/zip", "application/x-zip-compressed")),
    "gpkg": (".gpkg", ("application/geopackage+sqlite3", "application/x-sqlite3")),
    "json": (".geojson", ("application/geo+json", "application/json")),
    "kml": (".kml", ("application/vnd.google-earth.kml+xml", "application/xml", "text/xml")),
    "csv": (".csv", ("text/csv", "text/plain", "application/csv")),
    "dxf": (".dxf", ("image/vnd.dxf", "application/dxf", "text/plain")),
    "pdf": (".pdf", ("application/pdf", "application/x-pdf")),
    "heic": (".heic", ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence")),
    "mp4": (".mp4", ("video/mp4", "application/mp4")),
    "mov": (".mov", ("video/quicktime",)),
}

#: declared types that say nothing about the content: accepted for any kind
GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream", "")

PHOTO_KINDS = frozenset({"jpeg", "png", "webp", "tiff"})
RASTER_KINDS = frozenset({"tiff"})
LAYER_KINDS = frozenset({"zip", "gpkg", "json", "kml", "csv", "dxf"})
DOCUMENT_KINDS = frozenset({"pdf"})
VIDEO_KINDS = frozenset({"mp4", "mov"})

#: ISO base media ``ftyp`` major brands: HEIF/HEIC stills, MP4 and QuickTime video
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_MOV_BRANDS = frozenset({b"qt  "})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"M4VH"}
    | {b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"dash", b"MSNV", b"mmp4", b"XAVC", b"f4v "}
)

_SAFE_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{2,8}$")


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the gate: its bytes, sniffed kind, size and SHA-256."""

    data: bytes
    kind: str
    size_bytes: int
    sha256: str
    original_name: str | None

    @property
    def extension(self) -> str:
        """The file suffix of the detected format."""
        return KINDS[self.kind][0]

    @property
    def content_type(self) -> str:
        """The media type of the detected format."""
        return KINDS[self.kind][1][0]


def read_limited(stream: BinaryIO, max_bytes: int, *, what: str = "upload") -> bytes:
    """Read all of ``stream`` but refuse (TooLarge) as soon as it passes ``max_bytes``."""
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(
                f"{what} is larger than the limit of {max_bytes} bytes "
                f"({max_bytes / 1048576:.1f} MiB); split it or ask an admin to raise "
                "GEO_ENFORCE_LIMITS__MAX_UPLOAD_BYTES"
            )
        parts.append(chunk)
    return b"".join(parts)


def sniff_kind(head: bytes) -> str | None:
    """The file kind from its first bytes (magic numbers), or None when unrecognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heic"
        if brand in _MOV_BRANDS:
            return "mov"
        return "mp4" if brand in _MP4_BRANDS else None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "json"
    if text.startswith(b"<?xml") or text[:5].lower() == b"<kml ":
        return "kml" if b"<kml" in head.lower() else None
    if re.match(rb"^0\s*\r?\n\s*SECTION", text):
        return "dxf"
    if _looks_like_text(head) and (b"," in head or b"\t" in head):
        return "csv"
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        return exc.start >= len(head) - 3
    return True


def check_content(
    data: bytes,
    *,
    allowed: frozenset[str] | set[str],
    declared_type: str | None = None,
    original_name: str | None = None,
    what: str = "upload",
) -> CheckedUpload:
    """Check bytes against the allowed kinds and the declared Content-Type.

    The kind comes from the bytes; the declared type must be one of that kind's MIME types (or
    a generic one such as application/octet-stream). Raises InvalidInput naming the file.
    """
    label = f"{what} '{original_name}'" if original_name else what
    if not data:
        raise InvalidInput(f"{label} is empty")
    kind = sniff_kind(data[:4096])
    if kind is None or kind not in allowed:
        found = kind or "an unrecognised format"
        raise InvalidInput(
            f"{label} is {found}; accepted here: {', '.join(sorted(allowed))} "
            "(the file's content decides, not its name)"
        )
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared not in GENERIC_TYPES and declared not in KINDS[kind][1]:
        raise InvalidInput(
            f"{label} is declared as '{declared}' but its content is {kind}; send the right "
            "Content-Type or application/octet-stream"
        )
    return CheckedUpload(
        data=data,
        kind=kind,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        original_name=_clean_original_name(original_name),
    )


def _clean_original_name(name: str | None) -> str | None:
    """The client's file name as data only: base name, no control characters, 300 chars."""
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:300] or None


def check_pixels(width: int, height: int, max_pixels: int, *, what: str = "image") -> None:
    """Refuse a raster with more than ``max_pixels`` pixels (decompression bombs included)."""
    if width <= 0 or height <= 0:
        raise InvalidInput(f"{what} has no pixels ({width} × {height})")
    if width * height > max_pixels:
        raise TooLarge(
            f"{what} is {width} × {height} = {width * height} pixels, over the limit of "
            f"{max_pixels}; tile it or ask an admin to raise GEO_ENFORCE_LIMITS__MAX_UPLOAD_PIXELS"
        )


def check_features(count: int, max_features: int, *, what: str = "layer") -> None:
    """Refuse a layer with more than ``max_features`` features."""
    if count > max_features:
        raise TooLarge(
            f"{what} has {count} features, over the limit of {max_features}; split it or ask "
            "an admin to raise GEO_ENFORCE_LIMITS__MAX_IMPORT_FEATURES"
        )


def generated_name(extension: str) -> str:
    """A fresh stored file name: 32 random hex characters and the extension."""
    ext = extension if extension.startswith(".") else f".{extension}"
    return secrets.token_hex(16) + ext.lower()


def stored_path(data_dir: Path, subdir: str, stored_name: str) -> Path:
    """The path of a stored file; refuses names that are not generated ones (no traversal)."""
    if not _SAFE_NAME.match(stored_name) or not re.fullmatch(r"[a-z0-9_]{1,40}", subdir):
        raise InvalidInput(f"'{stored_name[:60]}' is not a stored file name")
    return Path(data_dir) / subdir / stored_name


_PENDING = "geo_enforce.uploads.pending_files"


def _on_commit(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _on_rollback(session: Session) -> None:
    for path in session.info.pop(_PENDING, []):
        path.unlink(missing_ok=True)


def remove_on_rollback(session: Session, path: Path) -> None:
    """Delete the stored file ``path`` if the session's transaction rolls back; forget it once
    committed, so a failed write leaves neither a row nor a stray file.

    The listeners are attached once per session and never removed (SQLAlchemy forbids removing
    a listener while its event is being dispatched); the file list lives in ``session.info``.
    """
    if not event.contains(session, "after_commit", _on_commit):
        event.listen(session, "after_commit", _on_commit)
        event.listen(session, "after_rollback", _on_rollback)
    session.info.setdefault(_PENDING, []).append(path)


def store_bytes(data_dir: Path, subdir: str, upload: CheckedUpload) -> str:
    """Write a checked upload under ``data_dir/subdir`` with a generated name; return the name.

    Written to a temporary name and renamed, so a crash never leaves a half file under a
    stored name.
    """
    name = generated_name(upload.extension)
    path = stored_path(data_dir, subdir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.part")
    with open(tmp, "wb") as fh:
        fh.write(upload.data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return name
