"""The printable sheet renders: PDF and DOCX turned into PNG pages (kept in test-artifacts/).

PDF → pdftoppm; DOCX → LibreOffice → PDF → pdftoppm (poppler-utils and libreoffice-writer come
from scripts/setup.sh). The text layer is checked for the Chinese headings and figures, the
pages for the map's colours.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from docx import Document
from PIL import Image

from geo_enforce.farmland import photos, sheet, verify
from geo_enforce.farmland.overlay import overlay_report
from geo_enforce.storage.engine import transaction
from tests.db.test_farmland_photos import make_jpeg
from tests.support import farmland_seed as fs


@pytest.fixture
def report(sessions, settings):
    ids = fs.seed(sessions)
    with transaction(sessions, "api:liaison1") as s:
        v = verify.create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=ids["P1"],
            result="construction",
            actor="张三",
            notes="北侧新建彩钢房一处",
        )
        photos.add_photo(s, settings, v.id, make_jpeg(fs.X0 + 0.0012, fs.Y0 + 0.0009, heading=300))
    with sessions() as s:
        yield s, overlay_report(s, patch_code="P1")


def _pdf_to_png(pdf: Path, out_stem: Path) -> list[Path]:
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", str(pdf), str(out_stem)], check=True, timeout=120
    )
    return sorted(out_stem.parent.glob(out_stem.name + "-*.png"))


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode()


def _has_colour(png: Path, rgb: tuple[int, int, int], tol: int = 40, min_px: int = 200) -> bool:
    a = np.asarray(Image.open(png).convert("RGB")).astype(int)
    near = np.abs(a - np.array(rgb)).sum(axis=2) < tol
    return int(near.sum()) >= min_px


def test_pdf_sheet_renders(report, artifacts, tmp_path):
    session, rep = report
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(sheet.render_sheet(session, rep, "pdf"))
    pages = _pdf_to_png(pdf, artifacts / "farmland_sheet_pdf")
    assert len(pages) == 2
    w, h = Image.open(pages[0]).size
    assert h > w > 500  # A4 portrait
    txt = _pdf_text(pdf)
    for needle in ("农用地核实单", "永久基本农田", "地类构成", "叠加要素", "历次核实记录", "P1"):
        assert needle in txt, needle
    assert "WJ-001" in txt and "BH-2024-01" in txt and "张三" in txt
    assert f"{rep.target.area_m2:,.2f}" in txt
    # the map: target outline blue, a standing structure red, a change patch orange
    assert _has_colour(pages[0], (0x00, 0x33, 0xCC))
    assert _has_colour(pages[0], (0xE3, 0x4A, 0x33))
    assert _has_colour(pages[0], (0xFF, 0x7F, 0x00), min_px=50)
    # the Simplified Chinese face of the CJK collection is embedded, not the Japanese one
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, timeout=60
    ).stdout.decode()
    cjk = [line.split()[0] for line in fonts.splitlines() if "CJK" in line]
    assert cjk and all(name.split("+")[-1].startswith("NotoSansCJKsc") for name in cjk), fonts


def test_docx_sheet_renders(report, artifacts, tmp_path):
    session, rep = report
    data = sheet.render_sheet(session, rep, "docx")
    doc = Document(io.BytesIO(data))
    assert doc.paragraphs[0].text == "农用地核实单"
    assert len(doc.tables) == 5
    assert len(doc.inline_shapes) == 1  # the map
    src = tmp_path / "sheet.docx"
    src.write_bytes(data)
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / "sheet.pdf"
    pages = _pdf_to_png(pdf, artifacts / "farmland_sheet_docx")
    assert 1 <= len(pages) <= 3
    txt = _pdf_text(pdf)
    for needle in ("农用地核实单", "永久基本农田", "平方米", "亩", "核实人（签字）"):
        assert needle in txt, needle
    assert _has_colour(pages[0], (0x00, 0x33, 0xCC))


def test_unknown_format_and_missing_font_message(report):
    session, rep = report
    from geo_enforce.errors import InvalidInput

    with pytest.raises(InvalidInput, match="pdf or docx"):
        sheet.render_sheet(session, rep, "odt")
    assert sheet.cjk_font().exists()
