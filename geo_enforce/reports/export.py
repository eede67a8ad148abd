"""Write an :class:`~geo_enforce.reports.annual.AnnualReport` as XLSX, DOCX, CSV or JSON.

- XLSX (openpyxl): a summary sheet (paragraphs and key figures), one formatted sheet per table
  with its totals row (合计, values not formulas, so any reader sees the same numbers), and a
  chart sheet with the PNG charts.
- DOCX (python-docx): title, the Chinese paragraphs, the charts, then each table with a caption
  and its totals row. East Asian text is set in 宋体 (SimSun), which Word on Chinese Windows has;
  other renderers substitute their CJK font.
- CSV: one UTF-8 (with BOM, so Excel opens Chinese correctly) file per table, totals row last;
  as a ZIP for download.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

from geo_enforce.errors import InvalidInput
from geo_enforce.reports.annual import COL_INT, COL_M2, COL_MU, AnnualReport, ReportTable
from geo_enforce.reports.charts import bar_by_month, bar_by_village

FORMATS = ("xlsx", "docx", "csv", "json")
EAST_ASIAN_FONT = "宋体"


def charts(report: AnnualReport) -> dict[str, bytes]:
    """The report's charts as PNG bytes, keyed by file stem."""
    y = report.year
    return {
        "chart_by_village": bar_by_village(
            report.by_village_m2, title=f"{y}年各村拆除违法建设面积"
        ),
        "chart_by_month": bar_by_month(report.by_month_m2, title=f"{y}年逐月拆除违法建设面积"),
    }


def _fmt(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind in (COL_M2, COL_MU):
        return f"{value:.2f}"
    return str(value)


# --- CSV -----------------------------------------------------------------------------------


def table_csv(table: ReportTable) -> bytes:
    """One table as UTF-8-with-BOM CSV: header, rows, totals row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.columns)
    for row in [*table.rows, *([table.total] if table.total else [])]:
        w.writerow([_fmt(k, v) for k, v in zip(table.kinds, row, strict=True)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def csv_zip(report: AnnualReport) -> bytes:
    """The report's tables as CSV files (UTF-8 with BOM, for Excel) in one ZIP."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for t in report.tables:
            z.writestr(f"{report.year}_{t.name}.csv", table_csv(t))
    return buf.getvalue()


# --- XLSX ----------------------------------------------------------------------------------

_XLSX_FORMATS = {COL_INT: "0", COL_M2: "#,##0.00", COL_MU: "#,##0.00"}


def xlsx_bytes(report: AnnualReport, pngs: dict[str, bytes] | None = None) -> bytes:
    """The report as an XLSX workbook (bytes)."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    pngs = charts(report) if pngs is None else pngs
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    total_fill = PatternFill("solid", fgColor="F2F2F2")
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)

    wb = Workbook()
    ws = wb.active
    ws.title = "摘要"
    ws["A1"] = report.title
    ws["A1"].font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 110
    r = 3
    for p in report.paragraphs:
        ws.cell(row=r, column=1, value=p).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[r].height = 15 * (1 + len(p) // 60)
        r += 1
    r += 1
    ws.cell(row=r, column=1, value=f"生成时间 {report.generated_at}；面积为CGCS2000椭球面积。")

    for t in report.tables:
        sh = wb.create_sheet(t.title[:31])
        sh["A1"] = f"{report.year}年 {t.title}"
        sh["A1"].font = Font(bold=True, size=12)
        for c, name in enumerate(t.columns, start=1):
            cell = sh.cell(row=3, column=c, value=name)
            cell.font, cell.fill, cell.border = bold, head_fill, box
            cell.alignment = Alignment(horizontal="center", wrap_text=True)
            sh.column_dimensions[get_column_letter(c)].width = 14 if c > 1 else 22
        rows = [*t.rows, *([t.total] if t.total else [])]
        for i, row in enumerate(rows):
            is_total = t.total is not None and i == len(rows) - 1
            for c, (kind, value) in enumerate(zip(t.kinds, row, strict=True), start=1):
                cell = sh.cell(row=4 + i, column=c, value=value)
                cell.border = box
                if kind in _XLSX_FORMATS:
                    cell.number_format = _XLSX_FORMATS[kind]
                if is_total:
                    cell.font, cell.fill = bold, total_fill
        if t.note:
            sh.cell(row=5 + len(rows), column=1, value=t.note)
        sh.freeze_panes = "B4"

    ch = wb.create_sheet("图表")
    at_row = 1
    for name, png in pngs.items():
        img = Image(io.BytesIO(png))
        scale = 640 / img.width
        img.width, img.height = int(img.width * scale), int(img.height * scale)
        ch.add_image(img, f"A{at_row}")
        ch.cell(row=at_row, column=12, value=name)
        at_row += int(img.height / 20) + 2
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- DOCX ----------------------------------------------------------------------------------


def _east_asian(style_or_run, name: str = EAST_ASIAN_FONT) -> None:
    from docx.oxml.ns import qn

    rpr = style_or_run.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), name)


def _docx_table(doc: Any, t: ReportTable) -> None:
    """Add ``t`` to ``doc`` as a grid: bold header, numbers right-aligned, total row bold."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    rows = [*t.rows, *([t.total] if t.total else [])]
    table = doc.add_table(rows=1 + len(rows), cols=len(t.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for c, name in enumerate(t.columns):
        cell = table.cell(0, c)
        cell.text = name
        cell.paragraphs[0].runs[0].bold = True
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for i, row in enumerate(rows, start=1):
        is_total = t.total is not None and i == len(rows)
        for c, (kind, value) in enumerate(zip(t.kinds, row, strict=True)):
            cell = table.cell(i, c)
            cell.text = _fmt(kind, value)
            para = cell.paragraphs[0]
            if c > 0:
                para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            if is_total and para.runs:
                para.runs[0].bold = True
    for row_cells in table.rows:
        for cell in row_cells.cells:
            for para in cell.paragraphs:
                for run in para.runs:
                    run.font.size = Pt(10)


def docx_bytes(report: AnnualReport, pngs: dict[str, bytes] | None = None) -> bytes:
    """The report as a DOCX document (bytes): paragraphs, charts and tables in Chinese."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    pngs = charts(report) if pngs is None else pngs
    doc = Document()
    for section in doc.sections:
        section.left_margin = section.right_margin = Cm(2.2)
    for style_name in ("Normal", "Title", "Heading 1", "Heading 2", "Caption"):
        _east_asian(doc.styles[style_name])
    doc.styles["Normal"].font.size = Pt(12)

    title = doc.add_paragraph(report.title, style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_heading("一、总体情况", level=1)
    for text in report.paragraphs:
        p = doc.add_paragraph(text)
        p.paragraph_format.first_line_indent = Pt(24)
        p.paragraph_format.line_spacing = 1.5

    doc.add_heading("二、统计图", level=1)
    captions = {
        "chart_by_village": f"图1 {report.year}年各村拆除违法建设面积",
        "chart_by_month": f"图2 {report.year}年逐月拆除违法建设面积",
    }
    for name, png in pngs.items():
        doc.add_picture(io.BytesIO(png), width=Cm(15.5))
        doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        cap = doc.add_paragraph(captions.get(name, name))
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER

    doc.add_heading("三、统计表", level=1)
    for n, t in enumerate(report.tables, start=1):
        cap = doc.add_paragraph(f"表{n} {report.year}年{t.title}")
        cap.runs[0].bold = True
        _docx_table(doc, t)
        if t.note:
            doc.add_paragraph(t.note)
        doc.add_paragraph()
    foot = doc.add_paragraph(
        f"注：面积为CGCS2000椭球面积，平方米与亩保留两位小数（四舍五入），1亩=2000/3平方米。"
        f"数据生成于{report.generated_at}。"
    )
    foot.runs[0].font.size = Pt(9)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# --- dispatch ------------------------------------------------------------------------------


def annual_bytes(report: AnnualReport, fmt: str) -> bytes:
    """The report in one format: xlsx, docx, csv (a ZIP of CSVs) or json."""
    if fmt == "xlsx":
        return xlsx_bytes(report)
    if fmt == "docx":
        return docx_bytes(report)
    if fmt == "csv":
        return csv_zip(report)
    if fmt == "json":
        return report.to_json().encode("utf-8")
    raise InvalidInput(f"format '{fmt}' is unknown; use one of {', '.join(FORMATS)}")


def write_annual(
    report: AnnualReport, out_dir: Path | str, formats: tuple[str, ...] = FORMATS
) -> list[Path]:
    """Write the report into ``out_dir``: annual-YYYY.xlsx/.docx/.json, CSVs, chart PNGs."""
    out_dir = Path(out_dir)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise InvalidInput(f"format {', '.join(bad)} unknown; use any of {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"annual-{report.year}"
    pngs = charts(report) if {"xlsx", "docx"} & set(formats) else {}
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        path = out_dir / name
        path.write_bytes(data)
        written.append(path)

    for name, png in pngs.items():
        put(f"{stem}-{name}.png", png)
    if "xlsx" in formats:
        put(f"{stem}.xlsx", xlsx_bytes(report, pngs))
    if "docx" in formats:
        put(f"{stem}.docx", docx_bytes(report, pngs))
    if "json" in formats:
        put(f"{stem}.json", report.to_json().encode("utf-8"))
    if "csv" in formats:
        for t in report.tables:
            put(f"{stem}-{t.name}.csv", table_csv(t))
    return written
