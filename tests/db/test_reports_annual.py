"""The annual report: paragraphs, XLSX totals rows, DOCX content and its rendered pages."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import openpyxl
import pytest
from docx import Document

from geo_enforce.reports.annual import build_annual
from geo_enforce.reports.export import docx_bytes, table_csv, write_annual, xlsx_bytes
from geo_enforce.reports.query import AreaQuery, area_totals
from tests.support import reports_ledger as L


@pytest.fixture(scope="module")
def ledger(module_sessions):
    records = L.build_records()
    L.load(module_sessions, records)
    with module_sessions() as s:
        report = build_annual(s, 2024)
    return module_sessions, records, report


def _demolished_2024(r):
    return r["status"] == "demolished" and L.in_year("demolished_on", 2024)(r)


def test_figures_equal_independent_totals(ledger):
    _, records, rep = ledger
    exp = L.expected_totals(records["structure"], _demolished_2024, lambda r: ())
    tot = exp[("__total__",)]
    assert rep.figures["demolished_count"] == tot["count"]
    assert rep.figures["demolished_m2"] == pytest.approx(tot["area_m2"], abs=0.0051)
    assert rep.figures["demolished_dissolved_m2"] == pytest.approx(tot["dissolved_m2"], abs=0.0051)
    villas = L.expected_totals(
        records["structure"], lambda r: _demolished_2024(r) and r["category"] == "villa",
        lambda r: (),
    )[("__total__",)]  # fmt: skip
    assert rep.figures["villa_households"] == villas["households"]
    cleared = L.expected_totals(
        records["cleared_parcel"], L.in_year("cleared_on", 2024), lambda r: ()
    )[("__total__",)]
    assert rep.figures["cleared_count"] == cleared["count"]
    assert rep.figures["cleared_mu"] == pytest.approx(cleared["area_m2"] * 3 / 2000, abs=0.0051)


def test_paragraphs_read_like_the_report(ledger):
    _, _, rep = ledger
    p0 = rep.paragraphs[0]
    m = re.match(
        r"2024年，全镇拆除违法建设(\d+)处，共计(\d+)平方米（约(\d+)亩）。其中拆除(.+?)违建", p0
    )
    assert m, p0
    assert int(m[1]) == rep.figures["demolished_count"]
    assert int(m[2]) == round(rep.figures["demolished_m2"])
    assert m[4] in {"大任庄村", "周庄子村", "锦园社区", "未划定村"}
    assert "扣除重叠部分后实际拆除占地" in p0  # the ledger has overlapping demolished villas
    assert any(
        p.startswith("在违建别墅专项治理行动中，拆除大任庄村违建别墅") for p in rep.paragraphs
    )
    cleared = next(p for p in rep.paragraphs if "治理违法占地项目" in p)
    assert re.search(r"治理违法占地项目\d+宗，约\d+余?亩", cleared), cleared


def test_xlsx_totals_rows_equal_query_totals(ledger):
    factory, _, rep = ledger
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(rep)))
    assert wb.sheetnames[0] == "摘要" and wb.sheetnames[-1] == "图表"
    with factory() as s:
        by_village = area_totals(
            s, AreaQuery(year=2024, status=("demolished",), group_by=("village",))
        )
        cleared = area_totals(s, AreaQuery(layer="cleared_parcel", year=2024))
    ws = wb["按村拆除违法建设"]
    header = [c.value for c in ws[3]]
    last = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == "合计")
    row = dict(zip(header, last, strict=True))
    d = by_village.total.as_dict()
    assert row["处数"] == d["count"]
    assert row["户数"] == d["households"]
    assert row["面积(平方米)"] == d["area_m2"]
    assert row["面积(亩)"] == d["area_mu"]
    assert row["扣除重叠后面积(平方米)"] == d["dissolved_m2"]
    assert ws["D4"].number_format == "#,##0.00"
    assert next(c for c in ws["A"] if c.value == "合计").font.bold
    ws = wb["治理违法占地"]
    totals = next(r for r in ws.iter_rows(values_only=True) if r[0] == "合计")
    assert totals[1] == cleared.total.count and totals[2] == cleared.total.as_dict()["area_m2"]
    assert len(wb["图表"]._images) == 2


def test_csv_per_table_has_totals_row(ledger):
    _, _, rep = ledger
    text = table_csv(rep.table("demolished_by_category")).decode("utf-8-sig")
    lines = text.strip().split("\n")
    assert lines[0].startswith("类别,处数,户数,面积(平方米),面积(亩),建筑面积(平方米)")
    assert lines[-1].startswith(f"合计,{rep.figures['demolished_count']},")


def test_docx_content(ledger):
    _, _, rep = ledger
    doc = Document(io.BytesIO(docx_bytes(rep)))
    text = "\n".join(p.text for p in doc.paragraphs)
    for p in rep.paragraphs:
        assert p in text
    assert len(doc.tables) == len(rep.tables)
    assert len(doc.inline_shapes) == 2
    first = doc.tables[0]
    assert first.rows[-1].cells[0].text == "合计"
    assert first.rows[-1].cells[1].text == str(rep.figures["demolished_count"])


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_docx_renders_with_chinese_tables_and_charts(ledger, tmp_path, artifacts):
    """LibreOffice → PDF → PNG; pages kept in test-artifacts/reports/ for people to look at."""
    _, _, rep = ledger
    paths = write_annual(rep, tmp_path, ("docx",))
    docx = next(p for p in paths if p.suffix == ".docx")
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to",
         "pdf", "--outdir", str(tmp_path), str(docx)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    pdf = tmp_path / "annual-2024.pdf"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert "CJK" in fonts.stdout, fonts.stdout  # Chinese set in an embedded CJK font
    words = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "全镇拆除违法建设" in words and "合计" in words and "按村拆除违法建设" in words
    out = artifacts / "reports"
    out.mkdir(exist_ok=True)
    for old in out.glob("annual-2024-page-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(pdf), str(out / "annual-2024-page")], check=True
    )
    pages = sorted(out.glob("annual-2024-page-*.png"))
    assert len(pages) >= 3  # prose, charts, tables
    assert pages[0].stat().st_size > 20_000  # a page of text, not a blank one
