"""The annual report: paragraphs, XLSX totals rows, DOCX content and its rendered pages."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from docx import Document
from docx.oxml.ns import qn

from geo_enforce.ledger import stock, vocab
from geo_enforce.reports import export
from geo_enforce.reports.annual import build_annual
from geo_enforce.reports.export import docx_bytes, table_csv, write_annual, xlsx_bytes
from geo_enforce.reports.query import AreaQuery, area_totals
from geo_enforce.storage.engine import transaction
from tests.support import reports_ledger as L


@pytest.fixture(scope="module")
def ledger(module_sessions):
    records = L.build_records()
    L.load(module_sessions, records)
    with transaction(module_sessions, "test:reports") as s:
        stock.set_base_date(s, L.TOWN, dt.date(2023, 12, 31), note="基线调查")
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


def _soffice(src: Path, fmt: str, outdir: Path, profile: Path) -> Path:
    """Convert ``src`` with headless LibreOffice (its own profile under tmp_path)."""
    res = subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{profile}", "--convert-to",
         fmt, "--outdir", str(outdir), str(src)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    out = outdir / f"{src.stem}.{fmt.split(':')[0]}"
    assert out.exists(), res.stdout + res.stderr
    return out


def _pages_to_png(pdf: Path, stem: str, artifacts: Path) -> list[Path]:
    out = artifacts / "reports"
    out.mkdir(exist_ok=True)
    for old in out.glob(f"{stem}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(out / stem)], check=True)
    return sorted(out.glob(f"{stem}-*.png"))


def test_xlsx_totals_are_sum_formulas_with_a4_landscape_print_setup(ledger):
    factory, _, rep = ledger
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(rep)))
    assert wb.sheetnames[0] == "摘要" and wb.sheetnames[-1] == "图表"
    assert wb.calculation.fullCalcOnLoad
    ws = wb["按村拆除违法建设"]
    header = [c.value for c in ws[3]]
    n = len(rep.table("demolished_by_village").rows)
    total_row = 4 + n
    assert ws.cell(total_row, 1).value == "合计" and ws.cell(total_row, 1).font.bold
    row = {h: ws.cell(total_row, c).value for c, h in enumerate(header, start=1)}
    assert row["处数"] == f"=SUM(B4:B{3 + n})"
    assert row["户数"] == f"=SUM(C4:C{3 + n})"
    assert row["面积(平方米)"] == f"=SUM(D4:D{3 + n})"
    assert row["面积(亩)"] == f"=SUM(E4:E{3 + n})"
    # the dissolved total is one union, not the sum of the villages' unions: a value
    with factory() as s:
        by_village = area_totals(
            s, AreaQuery(year=2024, status=("demolished",), group_by=("village",))
        )
    assert row["扣除重叠后面积(平方米)"] == by_village.total.as_dict()["dissolved_m2"]
    assert ws["D4"].number_format == "#,##0.00"
    for sheet in wb.worksheets[1:-1]:
        assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4 == "9"
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.print_title_rows == "$3:$3"
    ch = wb["图表"]
    assert len(ch._images) == 2
    captions = [c.value for c in ch["A"] if c.value]
    assert captions == ["图1　2024年各村拆除违法建设面积", "图2　2024年逐月拆除违法建设面积"]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_xlsx_formulas_compute_the_query_totals_and_render(ledger, tmp_path, artifacts):
    """LibreOffice computes the =SUM() totals (equal to the query totals, to the rounding of
    the rows) and prints each sheet on A4 landscape; pages kept in test-artifacts/reports/."""
    factory, _, rep = ledger
    src = tmp_path / "annual-2024.xlsx"
    src.write_bytes(xlsx_bytes(rep))
    calc = tmp_path / "calc"
    recalculated = _soffice(src, "xlsx:Calc MS Excel 2007 XML", calc, tmp_path / "lo")
    wb = openpyxl.load_workbook(recalculated, data_only=True)
    with factory() as s:
        by_village = area_totals(
            s, AreaQuery(year=2024, status=("demolished",), group_by=("village",))
        ).total.as_dict()
        cleared = area_totals(s, AreaQuery(layer="cleared_parcel", year=2024)).total.as_dict()
    ws = wb["按村拆除违法建设"]
    total = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == "合计")
    n = len(rep.table("demolished_by_village").rows)
    assert total[1] == by_village["count"] and total[2] == by_village["households"]
    # the cells hold unrounded areas (shown to 2 decimals): the SUM is the query's total
    assert total[3] == pytest.approx(by_village["area_m2"], abs=0.005) and n >= 2
    assert total[4] == pytest.approx(by_village["area_mu"], abs=0.005)
    ws = wb["治理违法占地"]
    total = next(r for r in ws.iter_rows(values_only=True) if r[0] == "合计")
    assert total[1] == cleared["count"]
    assert total[2] == pytest.approx(cleared["area_m2"], abs=0.005)
    pdf = _soffice(src, "pdf", tmp_path, tmp_path / "lo")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True
    )
    sizes = [
        (round(float(w)), round(float(h)))
        for w, h in re.findall(r"Page +\d+ size:\s+([\d.]+) x ([\d.]+) pts \(A4\)", info.stdout)
    ]
    # the summary on A4 portrait, every table and the charts on A4 landscape
    assert sizes[0] == (595, 842) and set(sizes[1:]) == {(842, 595)}, info.stdout
    words = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "合计" in words and "图1" in words and "存量" in words
    pages = _pages_to_png(pdf, "annual-2024-xlsx-page", artifacts)
    assert len(pages) >= len(rep.tables) + 1


def test_csv_per_table_has_totals_row(ledger):
    _, _, rep = ledger
    text = table_csv(rep.table("demolished_by_category")).decode("utf-8-sig")
    lines = text.strip().split("\n")
    assert lines[0].startswith("类别,处数,户数,面积(平方米),面积(亩),建筑面积(平方米)")
    assert lines[-1].startswith(f"合计,{rep.figures['demolished_count']},")


def test_docx_is_an_a4_zh_cn_official_document(ledger):
    """The XML: A4 page, zh-CN, declared CJK fonts (eastAsia) at official sizes, page numbers
    in the footer, the date in Chinese, categories in the vocabulary's order with 其他 last."""
    _, _, rep = ledger
    raw = docx_bytes(rep)
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        document = z.read("word/document.xml").decode()
        styles = z.read("word/styles.xml").decode()
        footer = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("word/footer"))
    # A4 (11906 × 16838 twentieths of a point) with GB/T 9704 margins (37/35/28/26 mm)
    assert re.search(r'<w:pgSz w:w="11906" w:h="16838"', document)
    assert re.search(r'w:top="2098"[^>]*w:right="1474"[^>]*w:bottom="1984"[^>]*w:left="158[78]"',
                     document)  # fmt: skip
    assert 'w:eastAsia="zh-CN"' in styles and 'w:val="zh-CN"' in styles
    assert "en-US" not in styles.split("</w:docDefaults>")[0]
    fonts = export.document_fonts()
    doc = Document(io.BytesIO(raw))

    def east_asia(style: str) -> tuple[str | None, str | None]:
        rpr = doc.styles[style].element.rPr
        f = rpr.find(qn("w:rFonts"))
        sz = rpr.find(qn("w:sz"))
        return f.get(qn("w:eastAsia")), None if sz is None else sz.get(qn("w:val"))

    assert east_asia("Title") == (fonts["title"], "44")  # 二号 22 pt
    assert east_asia("Normal") == (fonts["body"], "32")  # 三号 16 pt
    assert east_asia("Heading 1") == (fonts["heading"], "32")
    assert fonts["title"] in ("方正小标宋简体", "方正小标宋_GBK", "FZXiaoBiaoSong-B05S",
                              "Noto Serif CJK SC", "宋体")  # fmt: skip
    theme = doc.styles["Title"].element.rPr.find(qn("w:rFonts"))
    assert not any(a.endswith("Theme") for a in theme.attrib)  # no theme font overrides it
    assert "PAGE" in footer and "fldChar" in footer and "—" in footer
    texts = [p.text for p in doc.paragraphs]
    assert texts[-1] == rep.date_text and re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", texts[-1])
    assert not any(re.search(r"\d{4}-\d{2}-\d{2}T", t) for t in texts)  # no ISO timestamps
    # tables: 按类别 in the vocabulary's Chinese order, 其他 (if any) last; header repeats
    cat = doc.tables[1]
    names = [r.cells[0].text for r in cat.rows[1:-1]]
    order = list(vocab.STRUCTURE_CATEGORIES.values())
    assert names == sorted(names, key=order.index)
    assert 'w:tblHeader w:val="true"' in document
    body_run = cat.rows[1].cells[1].paragraphs[0].runs[0]._r.rPr
    assert body_run.find(qn("w:sz")).get(qn("w:val")) == str(
        int(export.table_size(len(cat.columns)) * 2)
    )


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
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert "(A4)" in info.stdout and re.search(
        r"Page size:\s+595[.\d]* x 841[.\d]* pts", info.stdout
    )
    words = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "全镇拆除违法建设" in words and "合计" in words and "按村拆除违法建设" in words
    flat = re.sub(r"\s+", "", words)
    assert "消除存量" in flat and rep.date_text in flat
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
