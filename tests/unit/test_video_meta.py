"""Video time and place read on upload (issue 15): the movie header's creation time, Apple's
creation date and ISO 6709 location keys, the ``©xyz`` atom; strict bounds on hostile boxes;
HEIC refused with the camera setting to change. Files are made here (tests/support/media_files)."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from geo_enforce.errors import InvalidInput
from geo_enforce.field import media
from geo_enforce.field.media import check_media, parse_iso6709, read_video_meta
from geo_enforce.settings import LimitSettings
from tests.support.media_files import box, ftyp, mov_with_keys, mp4, mvhd, xyz

LIMITS = LimitSettings(max_upload_bytes=200_000)
T = dt.datetime(2025, 6, 1, 2, 20, 5, tzinfo=dt.UTC)  # 10:20:05 in Beijing


@pytest.mark.parametrize(
    ("text", "lon", "lat"),
    [
        ("+39.0042+117.2042/", 117.2042, 39.0042),
        ("+39.0042+117.2042+005.000/", 117.2042, 39.0042),
        ("-33.8688+151.2093+010.5CRSWGS_84/", 151.2093, -33.8688),
        ("+37.7749-122.4194/", -122.4194, 37.7749),
        ("+3900.252+11712.252/", 117.2042, 39.0042),  # DDMM.MMM, DDDMM.MMM
        ("+390015.12+1171215.12/", 117 + 12 / 60 + 15.12 / 3600, 39 + 15.12 / 3600),
        ("+7.5+007.25/", 7.25, 7.5),
    ],
)
def test_iso6709_points(text, lon, lat):
    got = parse_iso6709(text)
    assert got is not None
    assert got == pytest.approx((lon, lat), abs=1e-6)


@pytest.mark.parametrize(
    "text", ["", "39.0042,117.2042", "+99.0+117.0/", "+39.0+190.0/", "+39.0/", "+123+117.2/"]
)
def test_not_iso6709(text):
    assert parse_iso6709(text) is None


def test_mp4_creation_time_and_xyz_location():
    info = read_video_meta(mp4(T, "+39.0042+117.2042+005.000/"))
    assert info.taken_at == T and info.has_exif
    assert (info.lon, info.lat) == pytest.approx((117.2042, 39.0042))
    # a version 1 header (64-bit times), no location
    info = read_video_meta(mp4(T, version=1))
    assert info.taken_at == T and info.lon is None and info.has_position is False
    # an unset time (0) and no location: nothing known
    info = read_video_meta(mp4(None))
    assert info.taken_at is None and not info.has_exif


def test_quicktime_apple_keys_win_over_the_movie_header():
    data = mov_with_keys(
        "2025-06-01T10:20:05+0800", "+39.0042+117.2042+005.000/", mvhd_time=T.replace(hour=9)
    )
    info = read_video_meta(data)
    assert info.taken_at == T and info.taken_at.utcoffset() == dt.timedelta(hours=8)
    assert (info.lon, info.lat) == pytest.approx((117.2042, 39.0042))


def test_check_media_gives_a_video_its_time_and_place():
    checked = check_media(
        mp4(T, "+39.0042+117.2042/"), filename="v.mp4", content_type="video/mp4", limits=LIMITS
    )
    assert checked.media == "video" and checked.upload.kind == "mp4"
    assert checked.exif.taken_at == T and checked.exif.has_position
    mov = mov_with_keys("2025-06-01T10:20:05+08:00", "+39.0042+117.2042/", mvhd_time=None)
    checked = check_media(mov, filename="v.mov", content_type="video/quicktime", limits=LIMITS)
    assert checked.upload.kind == "mov" and checked.exif.taken_at == T


@pytest.mark.parametrize(
    "moov_body",
    [
        # a child box claiming more than its parent holds
        struct.pack(">I4s", 4000, b"udta") + b"\0" * 16,
        # a box of size 4 (smaller than its header): the walk stops there
        struct.pack(">I4s", 4, b"mvhd") + b"\0" * 16,
        # a 64-bit size past the end
        struct.pack(">I4sQ", 1, b"udta", 2**40) + b"\0" * 8,
        # ©xyz whose text length runs past its box
        box(b"udta", box(b"\xa9xyz", struct.pack(">HH", 500, 0) + b"+39.0+117.0/")),
        # ©xyz with text that is no ISO 6709 point
        box(b"udta", xyz("somewhere in Tianjin")),
        # a truncated mvhd
        box(b"mvhd", b"\0\0"),
        # Apple keys whose count is huge and whose entries run off the box
        box(b"meta", box(b"hdlr", b"\0" * 24) + box(b"keys", struct.pack(">II", 0, 10**9))
            + box(b"ilst", box(struct.pack(">I", 1), b"\0" * 4))),
        # ten thousand empty boxes (more than MAX_BOXES are never read)
        box(b"free", b"") * 10_000,
    ],
)  # fmt: skip
def test_malformed_metadata_is_skipped_and_the_video_still_taken(moov_body):
    data = ftyp(b"isom") + box(b"moov", moov_body) + box(b"mdat", b"\0" * 8)
    info = read_video_meta(data)
    assert info.lon is None and info.taken_at is None
    checked = check_media(data, filename="odd.mp4", content_type="video/mp4", limits=LIMITS)
    assert checked.media == "video"


def test_metadata_after_many_boxes_is_not_read():
    filler = box(b"free", b"") * (media.MAX_BOXES + 10)
    data = ftyp(b"isom") + box(b"moov", filler + mvhd(T)) + box(b"mdat", b"")
    assert read_video_meta(data).taken_at is None  # past the budget
    data = ftyp(b"isom") + box(b"moov", mvhd(T) + filler) + box(b"mdat", b"")
    assert read_video_meta(data).taken_at == T


def test_heic_is_refused_with_the_camera_setting_to_change(monkeypatch):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 40
    monkeypatch.setattr(media, "heif_supported", lambda: False)
    with pytest.raises(InvalidInput) as exc:
        check_media(heic, filename="IMG_0001.HEIC", content_type="image/heic", limits=LIMITS)
    msg = str(exc.value)
    assert "IMG_0001.HEIC" in msg and "HEIC" in msg
    assert "兼容性最佳" in msg and "最兼容" in msg and "JPEG" in msg
