"""Demo data for the liaison's part of ``make demo``, on an already loaded township.

:func:`demo_farmland` records two field verifications (an occupied parcel and a clean one) with
synthetic JPEG photos carrying real EXIF GPS/heading/time (one deliberately taken far away, to
show the warning), rules the change patches that have a suggested ruling, and writes the
printable sheet of the occupied parcel as PDF and DOCX.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.errors import NotFound
from geo_enforce.farmland import photos, rulings, sheet, verify
from geo_enforce.farmland.overlay import overlay_report
from geo_enforce.settings import Settings
from geo_enforce.storage.engine import transaction


def _dms(deg: float) -> tuple[float, float, float]:
    d = math.floor(deg)
    m = math.floor((deg - d) * 60)
    return float(d), float(m), round(((deg - d) * 60 - m) * 60, 4)


def synthetic_photo(
    lon: float, lat: float, *, heading: float, taken_at: dt.datetime, caption: str
) -> bytes:
    """A small JPEG with EXIF GPS (WGS 84), heading and capture time, as a phone writes them."""
    img = Image.new("RGB", (640, 480), (128, 170, 96))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 640, 200), fill=(170, 200, 235))
    draw.rectangle((220, 150, 460, 330), fill=(200, 80, 60))
    try:
        font: Any = ImageFont.truetype(str(sheet.cjk_font()), 28)
    except Exception:  # no CJK font: the caption is decoration only
        font = ImageFont.load_default()
    draw.text((20, 420), caption, fill=(255, 255, 255), font=font)
    exif = Image.Exif()
    exif[0x010F] = "geo-enforce demo"
    local = taken_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    exif[0x8769] = {0x9003: f"{local:%Y:%m:%d %H:%M:%S}", 0x9011: "+08:00"}
    exif[0x8825] = {
        0: b"\x02\x03\x00\x00",
        1: "N" if lat >= 0 else "S",
        2: _dms(abs(lat)),
        3: "E" if lon >= 0 else "W",
        4: _dms(abs(lon)),
        16: "T",
        17: float(heading),
    }
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, exif=exif.tobytes())
    return buf.getvalue()


_OCCUPIED = """
SELECT f.id, f.patch_code, ST_X(ST_PointOnSurface(st.geom)) AS x,
       ST_Y(ST_PointOnSurface(st.geom)) AS y
FROM farmland_parcel f JOIN structure st
  ON ST_Intersects(f.geom, st.geom) AND st.retired_at IS NULL
 AND st.status NOT IN ('demolished', 'dismissed')
WHERE f.retired_at IS NULL
ORDER BY ST_Area(ST_Intersection(f.geom, st.geom)::geography) DESC, f.id
LIMIT 1
"""
_CLEAN = """
SELECT f.id, f.patch_code, ST_X(ST_PointOnSurface(f.geom)) AS x,
       ST_Y(ST_PointOnSurface(f.geom)) AS y
FROM farmland_parcel f
WHERE f.retired_at IS NULL AND f.land_class IN ('0101','0102','0103') AND NOT EXISTS (
  SELECT 1 FROM structure st WHERE st.retired_at IS NULL AND ST_Intersects(f.geom, st.geom))
ORDER BY f.id LIMIT 1
"""
_APPROVAL = """
SELECT r.approval_no FROM red_line r, change_patch p
WHERE p.id = :id AND r.retired_at IS NULL AND r.kind = 'construction_land'
  AND r.approval_no IS NOT NULL AND ST_Covers(r.geom, p.geom)
ORDER BY r.id LIMIT 1
"""


def _rule_suggested(session: Session, actor: str) -> int:
    rows = session.execute(
        text(
            "SELECT id, suggested_ruling FROM change_patch WHERE retired_at IS NULL "
            "AND ruling IS NULL AND suggested_ruling IS NOT NULL ORDER BY id"
        )
    ).all()
    n = 0
    for pid, suggested in rows:
        approval = None
        if suggested == "legal":
            approval = session.execute(text(_APPROVAL), {"id": pid}).scalar_one_or_none()
            if approval is None:
                continue
        rulings.rule_patch(
            session,
            patch_id=pid,
            ruling=suggested,
            actor=actor,
            approval_no=approval,
            note="演示：按系统建议认定 (demo: suggested ruling accepted)",
        )
        n += 1
    return n


def demo_farmland(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    out_dir: Path | None = None,
    actor: str = "cli:demo",
) -> dict[str, Any]:
    """Verifications with photos, rulings and the sheets on a loaded township; returns a summary.

    Needs farmland parcels and structures (``geo_enforce.demo.sample.load_township`` provides them).
    Sheets go to ``out_dir`` (default ``data_dir/sheets``).
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with transaction(factory, actor) as session:
        occ = session.execute(text(_OCCUPIED)).mappings().first()
        clean = session.execute(text(_CLEAN)).mappings().first()
        if occ is None:
            raise NotFound(
                "no farmland parcel with a standing structure on it: load the township first"
            )
        v1 = verify.create_verification(
            session,
            target_kind="farmland_parcel",
            target_id=occ["id"],
            result="construction",
            actor=actor,
            notes="现场发现地块内新建构筑物，已拍照取证",
            verified_at=now - dt.timedelta(hours=2),
        )
        warnings: list[str] = []
        photo_ids: list[int] = []
        shots = [
            (occ["x"], occ["y"], 30.0, "现场照片 1"),
            # about 350 m east: the far-photo warning
            (occ["x"] + 0.004, occ["y"], 270.0, "现场照片 2（远处拍摄）"),
        ]
        for x, y, heading, caption in shots:
            res = photos.add_photo(
                session,
                settings,
                v1.id,
                synthetic_photo(
                    x, y, heading=heading, taken_at=now - dt.timedelta(hours=2), caption=caption
                ),
                filename=f"DEMO_{len(photo_ids) + 1:04d}.jpg",
            )
            photo_ids.append(res.photo.id)
            warnings.extend(res.warnings)
        verification_ids = [v1.id]
        if clean is not None:
            v2 = verify.create_verification(
                session,
                target_kind="farmland_parcel",
                target_id=clean["id"],
                result="farmland",
                actor=actor,
                notes="仍为耕地，种植小麦",
                verified_at=now - dt.timedelta(hours=1),
            )
            res = photos.add_photo(
                session,
                settings,
                v2.id,
                synthetic_photo(
                    clean["x"],
                    clean["y"],
                    heading=180.0,
                    taken_at=now - dt.timedelta(hours=1),
                    caption="耕地现状",
                ),
                filename="DEMO_0003.jpg",
            )
            photo_ids.append(res.photo.id)
            verification_ids.append(v2.id)
        ruled = _rule_suggested(session, actor)

    folder = out_dir or Path(settings.data_dir) / "sheets"
    folder.mkdir(parents=True, exist_ok=True)
    sheets = []
    with factory() as session:
        rep = overlay_report(session, patch_code=occ["patch_code"], config=settings.farmland)
        for fmt in ("pdf", "docx"):
            path = folder / sheet.sheet_filename(rep, fmt)
            path.write_bytes(sheet.render_sheet(session, rep, fmt))
            sheets.append(str(path))
    return {
        "occupied_patch_code": occ["patch_code"],
        "verification_ids": verification_ids,
        "photo_ids": photo_ids,
        "photo_warnings": warnings,
        "patches_ruled": ruled,
        "sheets": sheets,
    }
