"""Verification photos: EXIF from real JPEG files, far-photo warning, refusals leave nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math

import pytest
from PIL import Image
from sqlalchemy import func, select

from api.farmland_out import photo_points_out
from geo_enforce.errors import InvalidInput, TooLarge
from geo_enforce.farmland import photos
from geo_enforce.farmland.verify import create_verification, verification_info
from geo_enforce.settings import FarmlandSettings
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import VerificationPhoto
from tests.support import farmland_seed as fs


def _dms(deg: float) -> tuple[float, float, float]:
    d = math.floor(deg)
    m = math.floor((deg - d) * 60)
    s = round(((deg - d) * 60 - m) * 60, 4)
    return float(d), float(m), s


def make_jpeg(
    lon: float | None = None,
    lat: float | None = None,
    *,
    heading: float | None = None,
    taken: str | None = "2025:06:01 10:20:30",
    offset: str | None = "+08:00",
    exif: bool = True,
    size: tuple[int, int] = (96, 64),
) -> bytes:
    """A real baseline JPEG with an APP1 Exif segment (GPS IFD with DMS rationals)."""
    img = Image.new("RGB", size, (110, 150, 70))
    buf = io.BytesIO()
    if not exif:
        img.save(buf, "JPEG", quality=85)
        return buf.getvalue()
    ex = Image.Exif()
    ex[0x010F] = "TestCam"
    sub: dict[int, object] = {}
    if taken:
        sub[0x9003] = taken
        if offset:
            sub[0x9011] = offset
    ex[0x8769] = sub
    if lon is not None and lat is not None:
        gps: dict[int, object] = {
            0: b"\x02\x03\x00\x00",
            1: "N" if lat >= 0 else "S",
            2: _dms(abs(lat)),
            3: "E" if lon >= 0 else "W",
            4: _dms(abs(lon)),
        }
        if heading is not None:
            gps[16] = "T"
            gps[17] = heading
        ex[0x8825] = gps
    img.save(buf, "JPEG", quality=85, exif=ex.tobytes())
    return buf.getvalue()


@pytest.fixture
def verif(sessions):
    ids = fs.seed(sessions)
    with transaction(sessions, "test:liaison") as s:
        v = create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=ids["P1"],
            result="construction",
            actor="liaison1",
        )
    return v.id


def _counts(sessions, settings) -> tuple[int, list]:
    with sessions() as s:
        n = s.scalar(select(func.count()).select_from(VerificationPhoto))
    folder = settings.data_dir / "photos"
    return n, sorted(folder.iterdir()) if folder.exists() else []


def test_exif_read_from_real_jpeg():
    data = make_jpeg(117.2012345, 39.0006789, heading=271.5)
    assert data[:2] == b"\xff\xd8" and b"Exif\x00\x00" in data[:64]
    info = photos.read_exif(Image.open(io.BytesIO(data)))
    assert info.lon == pytest.approx(117.2012345, abs=2e-7)
    assert info.lat == pytest.approx(39.0006789, abs=2e-7)
    assert info.heading_deg == pytest.approx(271.5)
    assert info.taken_at == dt.datetime(2025, 6, 1, 2, 20, 30, tzinfo=dt.UTC)
    # no offset tag: camera clock read as China Standard Time
    info = photos.read_exif(
        Image.open(io.BytesIO(make_jpeg(117.2, 39.0, offset=None, taken="2024:01:02 08:00:00")))
    )
    assert info.taken_at is not None
    assert info.taken_at.astimezone(dt.UTC) == dt.datetime(2024, 1, 2, 0, 0, tzinfo=dt.UTC)
    # southern/western hemisphere refs flip the sign
    info = photos.read_exif(Image.open(io.BytesIO(make_jpeg(-70.5, -33.25))))
    assert (info.lon, info.lat) == (pytest.approx(-70.5), pytest.approx(-33.25))
    assert not photos.read_exif(Image.open(io.BytesIO(make_jpeg(exif=False)))).has_exif


def test_photo_near_and_far(sessions, settings, verif):
    inside = make_jpeg(fs.X0 + 0.001, fs.Y0 + 0.0007, heading=90.0)
    # ~0.005° east of P1's east edge: about 430 m away
    far = make_jpeg(fs.X0 + 0.007, fs.Y0 + 0.0007, heading=180.0)
    with transaction(sessions, "api:liaison1") as s:
        near_res = photos.add_photo(s, settings, verif, inside, filename="IMG_0001.jpg")
        far_res = photos.add_photo(s, settings, verif, far, filename="../../etc/IMG_0002.JPG")
    assert near_res.photo.distance_to_target_m == pytest.approx(0.0)
    assert not any("米" in w and "超过" in w for w in near_res.warnings)
    d = far_res.photo.distance_to_target_m
    expected = 0.005 * 111_320 * math.cos(math.radians(39.0007))
    assert d == pytest.approx(expected, rel=0.01)
    assert any("超过 100 米" in w for w in far_res.warnings)
    assert far_res.photo.heading_deg == pytest.approx(180.0)
    assert far_res.photo.original_name == "IMG_0002.JPG"

    # stored under data_dir/photos with generated names, bytes intact
    n, files = _counts(sessions, settings)
    assert n == 2 and len(files) == 2
    for res, data in ((near_res, inside), (far_res, far)):
        path = photos.photo_path(settings, res.photo)
        assert path.parent == settings.data_dir / "photos"
        assert path.read_bytes() == data
        assert res.photo.sha256 == hashlib.sha256(data).hexdigest()
        assert "IMG" not in path.name

    # the threshold is configurable
    with transaction(sessions, "api:liaison1") as s:
        lenient = settings.model_copy(update={"farmland": FarmlandSettings(far_photo_m=1000.0)})
        res = photos.add_photo(s, lenient, verif, far)
    assert not any("超过" in w for w in res.warnings)

    # map layer and the record's photo list
    with sessions() as s:
        layer = photo_points_out(photos.photo_points(s))
        rec = verification_info(s, s.get(photos.Verification, verif))
    assert layer["type"] == "FeatureCollection" and len(layer["features"]) == 3
    f0 = layer["features"][0]
    assert f0["geometry"]["coordinates"] == [
        pytest.approx(fs.X0 + 0.001, abs=1e-6),
        pytest.approx(fs.Y0 + 0.0007, abs=1e-6),
    ]
    assert f0["properties"]["核实结果"] == "被建设占用"
    assert f0["properties"]["拍摄方向"] == "90°"
    assert [f["properties"]["far"] for f in layer["features"]] == [False, True, True]
    assert len(rec.photos) == 3
    assert f0["properties"]["url"] == f"/verifications/{verif}/photos/{rec.photos[0].id}"


def test_manual_position_when_exif_has_no_gps(sessions, settings, verif):
    data = make_jpeg()  # EXIF time but no GPS
    with transaction(sessions, "api:liaison1") as s:
        res = photos.add_photo(s, settings, verif, data, lon=fs.X0 + 0.0005, lat=fs.Y0 + 0.0005)
    assert any("手工" in w for w in res.warnings)
    assert res.photo.distance_to_target_m == pytest.approx(0.0)


def _cut(data: bytes) -> bytes:
    return data[: len(data) * 3 // 4]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()


BAD_UPLOADS = [
    ("no-exif", lambda: make_jpeg(exif=False), {}, InvalidInput, "no EXIF"),
    ("no-gps", lambda: make_jpeg(), {}, InvalidInput, "no GPS"),
    ("png", _png, {}, InvalidInput, "is png"),
    ("not-image", lambda: b"%PDF-1.4 not a photo at all", {}, InvalidInput, "is pdf; accepted"),
    ("empty", lambda: b"", {}, InvalidInput, "empty"),
    ("cut-head", lambda: make_jpeg(117.2, 39.0)[:400], {}, InvalidInput, "truncated"),
    (
        "cut-tail",
        lambda: _cut(make_jpeg(117.2, 39.0, size=(640, 480))),
        {},
        InvalidInput,
        "truncated",
    ),
    ("bytes", lambda: make_jpeg(117.2, 39.0), {"max_upload_bytes": 500}, TooLarge, "limit"),
    (
        "pixels",
        lambda: make_jpeg(117.2, 39.0, size=(200, 100)),
        {"max_upload_pixels": 10_000},
        TooLarge,
        "pixels",
    ),
    ("paris", lambda: make_jpeg(2.35, 48.85), {}, InvalidInput, "outside China"),
]


def test_bad_uploads_leave_nothing(sessions, settings, verif):
    """Each refusal is clear and leaves no row and no file (one database for all cases)."""
    for case, make, limits, exc, fragment in BAD_UPLOADS:
        s2 = settings.model_copy(
            update={"limits": settings.limits.model_copy(update=limits)} if limits else {}
        )
        with pytest.raises(exc, match=fragment), transaction(sessions, "api:liaison1") as s:
            photos.add_photo(s, s2, verif, make(), filename="x.jpg")
        assert _counts(sessions, settings) == (0, []), case


def test_rollback_after_store_removes_the_file(sessions, settings, verif):
    with pytest.raises(RuntimeError), transaction(sessions, "api:liaison1") as s:
        photos.add_photo(s, settings, verif, make_jpeg(fs.X0 + 0.001, fs.Y0 + 0.001))
        assert len(_counts(sessions, settings)[1]) == 1  # written, not yet committed
        raise RuntimeError("later step of the same request failed")
    assert _counts(sessions, settings) == (0, [])
