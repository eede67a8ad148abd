"""Small synthetic MP4/QuickTime files made in the tests (no real recordings kept).

``mp4``: ``ftyp`` + ``moov`` (a version 0 or 1 ``mvhd`` with the creation time, optionally
``udta/©xyz`` with an ISO 6709 position) + ``mdat``. ``mov_with_keys``: a QuickTime file
whose ``moov/meta`` carries Apple's keys (creation date with offset, ISO 6709 location), as an
iPhone writes them.
"""

from __future__ import annotations

import datetime as dt
import struct

EPOCH_1904 = dt.datetime(1904, 1, 1, tzinfo=dt.UTC)


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, body: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def mvhd(created: dt.datetime | None, *, version: int = 0) -> bytes:
    seconds = 0 if created is None else int((created - EPOCH_1904).total_seconds())
    times = (
        struct.pack(">QQIQ", seconds, seconds, 1000, 0)
        if version == 1
        else struct.pack(">IIII", seconds, seconds, 1000, 0)
    )
    rest = struct.pack(">IH", 0x00010000, 0x0100) + b"\0" * 10 + b"\0" * 36 + b"\0" * 24
    return full_box(b"mvhd", times + rest + struct.pack(">I", 2), version)


def xyz(text: str) -> bytes:
    raw = text.encode()
    return box(b"\xa9xyz", struct.pack(">HH", len(raw), 0x15C7) + raw)


def ftyp(brand: bytes) -> bytes:
    return box(b"ftyp", brand + b"\0\0\0\0" + brand + b"isom")


def mp4(
    created: dt.datetime | None,
    location: str | None = None,
    *,
    version: int = 0,
    brand: bytes = b"isom",
    payload: bytes = b"\0" * 64,
) -> bytes:
    moov = mvhd(created, version=version)
    if location is not None:
        moov += box(b"udta", xyz(location))
    return ftyp(brand) + box(b"moov", moov) + box(b"mdat", payload)


def mov_with_keys(created_text: str, location: str, *, mvhd_time: dt.datetime | None) -> bytes:
    keys = [
        b"com.apple.quicktime.make",
        b"com.apple.quicktime.location.ISO6709",
        b"com.apple.quicktime.creationdate",
    ]
    values = ["Apple", location, created_text]
    hdlr = full_box(b"hdlr", b"\0\0\0\0" + b"mdta" + b"\0" * 12 + b"\0")
    entries = b"".join(struct.pack(">I4s", 8 + len(k), b"mdta") + k for k in keys)
    keys_box = full_box(b"keys", struct.pack(">I", len(keys)) + entries)
    items = b"".join(
        box(struct.pack(">I", i), box(b"data", struct.pack(">II", 1, 0) + v.encode()))
        for i, v in enumerate(values, start=1)
    )
    meta = box(b"meta", hdlr + keys_box + box(b"ilst", items))
    moov = box(b"moov", mvhd(mvhd_time) + meta)
    return ftyp(b"qt  ") + moov + box(b"mdat", b"\0" * 32)
