"""Write an :class:`~geo_enforce.reports.annual.AnnualReport` as XLSX, DOCX, CSV or JSON.

- XLSX (openpyxl): a summary sheet (paragraphs), one formatted sheet per table whose totals row
  (合计) holds ``=SUM()`` formulas over the rows above (a dissolved area, which is not a sum,
  stays a value), each sheet set up for A4 (tables landscape) fitted to one page wide with the
  header row repeated, and a chart sheet with the PNG charts under Chinese captions.
- DOCX (python-docx): a Chinese official document (GB/T 9704 style): A4 with its margins,
  zh-CN, the title in a CJK serif at 二号 (方正小标宋 if installed, else Noto Serif CJK SC),
  headings in 黑体, body at 三号, tables at 四号 with repeated header rows, "— 1 —" page
  numbers in the footer and the date written 2024年12月31日. Declared fonts are the first
  installed of :data:`FONT_PREFERENCES` (see :func:`document_fonts`).
- CSV: one UTF-8 (with BOM, so Excel opens Chinese correctly) file per table, totals row last;
  as a ZIP for download.
"""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo_enforce.errors import InvalidInput
from geo_enforce.reports.annual import COL_INT, COL_M2, COL_MU, AnnualReport, ReportTable
from geo_enforce.reports.charts import bar_by_month, bar_by_village, bar_campaign_progress

FORMATS = ("xlsx", "docx", "csv", "json")


def charts(report: AnnualReport) -> dict[str, bytes]:
    """The report's charts as PNG bytes, keyed by file stem."""
    y = report.year
    return {
        "chart_by_village": bar_by_village(
            report.by_village_m2, title=f"{y}年各村拆除违法建设面积"
        ),
        "chart_by_month": bar_by_month(report.by_month_m2, title=f"{y}年逐月拆除违法建设面积"),
        **(
            {"chart_campaigns": bar_campaign_progress(
                report.campaign_progress, title=f"{y}年专项治理任务完成情况")}
            if report.campaign_progress
            else {}
        ),
    }  # fmt: skip


def chart_caption(report: AnnualReport, name: str) -> str:
    """The Chinese caption of chart ``name`` (图1 …), as the DOCX and the XLSX show it."""
    captions = {
        "chart_by_village": f"图1　{report.year}年各村拆除违法建设面积",
        "chart_by_month": f"图2　{report.year}年逐月拆除违法建设面积",
        "chart_campaigns": f"图3　{report.year}年专项治理任务完成情况",
    }
    return captions.get(name, name)


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
_NUMERIC = frozenset(_XLSX_FORMATS)


def _a4_print(ws: Any, *, landscape: bool, title_rows: str | None = None) -> None:
    """A4 print setup: orientation, fit to one page wide, header rows repeated on every page."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    if title_rows:
        ws.print_title_rows = title_rows


def _total_cell(t: ReportTable, c: int, first: int, last: int, value: Any) -> Any:
    """The totals row's cell ``c`` (0-based): ``=SUM()`` over the rows above for a summed
    numeric column, the value itself otherwise (labels, a dissolved area, which is not the sum
    of the groups' dissolved areas)."""
    from openpyxl.utils import get_column_letter

    if t.kinds[c] not in _NUMERIC or value is None or t.columns[c] in t.value_totals:
        return value
    if last < first:
        return 0
    col = get_column_letter(c + 1)
    return f"=SUM({col}{first}:{col}{last})"


def _xlsx_table_sheet(wb: Any, year: int, t: ReportTable, styles: dict) -> None:
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    sh = wb.create_sheet(t.title[:31])
    sh["A1"] = f"{year}年{t.title}"
    sh["A1"].font = styles["title"]
    for c, name in enumerate(t.columns, start=1):
        cell = sh.cell(row=3, column=c, value=name)
        cell.font, cell.fill, cell.border = styles["bold"], styles["head"], styles["box"]
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sh.column_dimensions[get_column_letter(c)].width = 16 if c > 1 else 22
    sh.row_dimensions[3].height = 32  # two lines of a wrapped header
    first, last = 4, 3 + len(t.rows)
    for i, row in enumerate(t.exact_rows or t.rows):
        for c, (kind, value) in enumerate(zip(t.kinds, row, strict=True), start=1):
            cell = sh.cell(row=first + i, column=c, value=value)
            cell.border, cell.font = styles["box"], styles["body"]
            if kind in _XLSX_FORMATS:
                cell.number_format = _XLSX_FORMATS[kind]
    if t.total is not None:
        for c, value in enumerate(t.total):
            cell = sh.cell(row=last + 1, column=c + 1, value=_total_cell(t, c, first, last, value))
            cell.border, cell.font, cell.fill = styles["box"], styles["bold"], styles["total"]
            if t.kinds[c] in _XLSX_FORMATS:
                cell.number_format = _XLSX_FORMATS[t.kinds[c]]
    end = last + (1 if t.total is not None else 0)
    if t.note:
        sh.cell(row=end + 2, column=1, value=t.note).font = styles["body"]
    sh.freeze_panes = "B4"
    _a4_print(sh, landscape=True, title_rows="3:3")


def _xlsx_styles() -> dict[str, Any]:
    from openpyxl.styles import Border, Font, PatternFill, Side

    font = document_fonts()["body"]
    thin = Side(style="thin", color="999999")
    return {
        "title": Font(name=font, bold=True, size=14),
        "bold": Font(name=font, bold=True, size=11),
        "body": Font(name=font, size=11),
        "head": PatternFill("solid", fgColor="DDEBF7"),
        "total": PatternFill("solid", fgColor="F2F2F2"),
        "box": Border(left=thin, right=thin, top=thin, bottom=thin),
    }


def tables_xlsx_bytes(year: int, tables: list[ReportTable]) -> bytes:
    """Tables alone as an XLSX workbook in the annual report's style: one sheet per table
    titled ``{year}年{title}``, Chinese headers, totals as ``=SUM()`` formulas, A4 landscape
    print setup with the header row repeated (used by the 卫片图斑 quarterly table)."""
    from openpyxl import Workbook
    from openpyxl.workbook.properties import CalcProperties

    if not tables:
        raise InvalidInput("no table to write")
    styles = _xlsx_styles()
    wb = Workbook()
    wb.calculation = CalcProperties(fullCalcOnLoad=True)
    default = wb.active
    for t in tables:
        _xlsx_table_sheet(wb, year, t, styles)
    wb.remove(default)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_bytes(report: AnnualReport, pngs: dict[str, bytes] | None = None) -> bytes:
    """The report as an XLSX workbook (bytes): A4 landscape print setup with the header row
    repeated and fit to width, totals rows as ``=SUM()`` formulas, Chinese chart captions."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Alignment
    from openpyxl.workbook.properties import CalcProperties
    from openpyxl.worksheet.pagebreak import Break

    pngs = charts(report) if pngs is None else pngs
    styles = _xlsx_styles()

    wb = Workbook()
    # readers without a formula engine's cached values (the totals) compute them on opening
    wb.calculation = CalcProperties(fullCalcOnLoad=True)
    ws = wb.active
    ws.title = "摘要"
    ws["A1"] = report.title
    ws["A1"].font = styles["title"]
    ws.column_dimensions["A"].width = 110
    r = 3
    for p in report.paragraphs:
        cell = ws.cell(row=r, column=1, value=p)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.font = styles["body"]
        ws.row_dimensions[r].height = 15 * (1 + len(p) // 60)
        r += 1
    r += 1
    ws.cell(row=r, column=1, value=f"{report.date_text}生成；面积为CGCS2000椭球面积。")
    _a4_print(ws, landscape=False)

    for t in report.tables:
        _xlsx_table_sheet(wb, report.year, t, styles)

    ch = wb.create_sheet("图表")
    at_row = 1
    for n, (name, png) in enumerate(pngs.items()):
        if n:  # one chart per printed page
            ch.row_breaks.append(Break(id=at_row - 1))
        ch.cell(row=at_row, column=1, value=chart_caption(report, name)).font = styles["bold"]
        img = Image(io.BytesIO(png))
        # at most 900 × 520 px: one chart fits an A4 landscape page
        scale = min(900 / img.width, 520 / img.height)
        img.width, img.height = int(img.width * scale), int(img.height * scale)
        ch.add_image(img, f"A{at_row + 1}")
        at_row += int(img.height / 20) + 3
    _a4_print(ch, landscape=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- DOCX ----------------------------------------------------------------------------------

#: fonts of an official document (GB/T 9704) by role, best first; the first one installed is
#: declared (Word on Chinese Windows has 宋体/黑体/仿宋; servers have Noto CJK SC)
FONT_PREFERENCES: dict[str, tuple[str, ...]] = {
    "title": ("方正小标宋简体", "方正小标宋_GBK", "FZXiaoBiaoSong-B05S", "Noto Serif CJK SC"),
    "heading": ("黑体", "SimHei", "Noto Sans CJK SC"),
    "body": ("仿宋_GB2312", "仿宋", "FangSong", "Noto Serif CJK SC"),
    "table": ("宋体", "SimSun", "Noto Serif CJK SC"),
}
#: when none of a role's fonts is installed: what Word on Chinese Windows has
FONT_FALLBACK = {"title": "宋体", "heading": "黑体", "body": "仿宋", "table": "宋体"}
#: official-document sizes in points: 二号 title, 三号 headings and body, 四号 captions and
#: tables of up to four columns; wider tables step down (小四 for 5, 五号 for 6 or more) so
#: that a figure such as 28848.21 stays on one line in an A4 column
SIZES = {"title": 22, "heading": 16, "body": 16, "table": 14, "caption": 14, "note": 12}
TABLE_SIZES = {4: 14.0, 5: 12.0}
WIDE_TABLE_SIZE = 10.5


def table_size(n_columns: int) -> float:
    """Font size (pt) of a DOCX table with ``n_columns`` columns: 四号, 小四 or 五号."""
    return TABLE_SIZES.get(n_columns, 14.0 if n_columns < 4 else WIDE_TABLE_SIZE)


LANG = "zh-CN"


@lru_cache(maxsize=1)
def _installed_families() -> frozenset[str]:
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "family"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(name.strip() for line in out.splitlines() for name in line.split(","))


def document_fonts() -> dict[str, str]:
    """Role → the CJK font family the documents declare (see :data:`FONT_PREFERENCES`)."""
    have = _installed_families()
    return {
        role: next((f for f in prefs if f in have), FONT_FALLBACK[role])
        for role, prefs in FONT_PREFERENCES.items()
    }


def _set_fonts(element: Any, family: str, *, size: float | None = None,
               bold: bool | None = None) -> None:  # fmt: skip
    """Declare ``family`` for every script (eastAsia included, theme fonts removed so they
    cannot override it), black text, zh-CN language, and the size/bold given, on a style's or
    run's ``w:rPr``."""
    from docx.oxml.ns import qn

    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        if attr.endswith("Theme"):
            del fonts.attrib[attr]
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), family)
    for tag in ("w:color", "w:lang", "w:sz", "w:szCs", "w:b", "w:bCs"):
        for old in rpr.findall(qn(tag)):
            rpr.remove(old)
    rpr.append(rpr.makeelement(qn("w:color"), {qn("w:val"): "000000"}))
    if bold is not None:
        for tag in ("w:b", "w:bCs"):
            rpr.append(rpr.makeelement(qn(tag), {qn("w:val"): "1" if bold else "0"}))
    if size is not None:
        for tag in ("w:sz", "w:szCs"):
            rpr.append(rpr.makeelement(qn(tag), {qn("w:val"): str(int(size * 2))}))
    rpr.append(
        rpr.makeelement(qn("w:lang"), {qn("w:val"): LANG, qn("w:eastAsia"): LANG,
                                       qn("w:bidi"): "ar-SA"})
    )  # fmt: skip


def _doc_defaults(doc: Any, family: str) -> None:
    """Document-wide default run properties: ``family`` and zh-CN (``w:docDefaults``)."""
    from docx.oxml.ns import qn

    styles = doc.styles.element
    defaults = styles.find(qn("w:docDefaults"))
    rpr_default = defaults.find(qn("w:rPrDefault"))
    rpr = rpr_default.find(qn("w:rPr"))

    class _Holder:
        def get_or_add_rPr(self) -> Any:
            return rpr

    _set_fonts(_Holder(), family)


def _page_number_footer(section: Any, family: str) -> None:
    """ "— 1 —" centred in the footer (GB/T 9704: 4号 Arabic numerals between two dashes)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn

    para = section.footer.paragraphs[0]
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para.add_run("— ")
    run = para.add_run()
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"),
                       ("end", None)):  # fmt: skip
        if kind is not None:
            run._r.append(run._r.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind}))
        elif text == " PAGE ":
            instr = run._r.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            instr.text = text
            run._r.append(instr)
        else:
            t = run._r.makeelement(qn("w:t"), {})
            t.text = text
            run._r.append(t)
    para.add_run(" —")
    for r in para.runs:
        _set_fonts(r._r, family, size=14)


def _cell_text(cell: Any, text: str, family: str, *, bold: bool, align: Any, size: float) -> None:
    cell.text = text
    para = cell.paragraphs[0]
    para.alignment = align
    para.paragraph_format.space_after = 0
    para.paragraph_format.line_spacing = 1.0
    for run in para.runs:
        _set_fonts(run._r, family, size=size, bold=bold)


def _docx_table(doc: Any, t: ReportTable, family: str) -> None:
    """Add ``t`` to ``doc`` as a grid (:func:`table_size`): bold header repeated on every
    page, numbers right-aligned, bold 合计 row."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    rows = [*t.rows, *([t.total] if t.total else [])]
    table = doc.add_table(rows=1 + len(rows), cols=len(t.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    size = table_size(len(t.columns))
    for c, name in enumerate(t.columns):
        _cell_text(
            table.cell(0, c), name, family, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=size
        )
    _repeat_header(table.rows[0])
    for i, row in enumerate(rows, start=1):
        is_total = t.total is not None and i == len(rows)
        for c, (kind, value) in enumerate(zip(t.kinds, row, strict=True)):
            align = WD_ALIGN_PARAGRAPH.RIGHT if kind in _NUMERIC else WD_ALIGN_PARAGRAPH.CENTER
            _cell_text(
                table.cell(i, c), _fmt(kind, value), family, bold=is_total, align=align, size=size
            )


def _repeat_header(row: Any) -> None:
    from docx.oxml.ns import qn

    trpr = row._tr.get_or_add_trPr()
    trpr.append(trpr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))


def docx_bytes(report: AnnualReport, pngs: dict[str, bytes] | None = None) -> bytes:
    """The report as a DOCX document (bytes) in the style of a Chinese official document:
    A4 with GB/T 9704 margins, zh-CN, the title in a CJK serif at 二号, headings in 黑体 and
    body text at 三号, tables at 四号, "— 1 —" page numbers, the date as 2024年12月31日."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Mm, Pt

    pngs = charts(report) if pngs is None else pngs
    fonts = document_fonts()
    doc = Document()
    doc.core_properties.language = LANG
    doc.core_properties.title = report.title
    for section in doc.sections:
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(37), Mm(35)
        section.left_margin, section.right_margin = Mm(28), Mm(26)
        section.footer_distance = Mm(20)
        _page_number_footer(section, fonts["table"])
    _doc_defaults(doc, fonts["body"])
    _set_fonts(doc.styles["Normal"].element, fonts["body"], size=SIZES["body"])
    _set_fonts(doc.styles["Title"].element, fonts["title"], size=SIZES["title"], bold=False)
    _set_fonts(doc.styles["Heading 1"].element, fonts["heading"], size=SIZES["heading"],
               bold=False)  # fmt: skip
    _set_fonts(doc.styles["Caption"].element, fonts["heading"], size=SIZES["caption"])
    title_style = doc.styles["Title"]
    title_style.paragraph_format.space_after = Pt(16)  # type: ignore[attr-defined]
    pbdr = title_style.element.pPr.find(  # the template's blue rule under the title
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}pBdr"
    )
    if pbdr is not None:
        title_style.element.pPr.remove(pbdr)

    title = doc.add_paragraph(report.title, style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def heading(text: str) -> None:
        h = doc.add_paragraph(text, style="Heading 1")
        h.paragraph_format.space_before = Pt(8)
        h.paragraph_format.space_after = Pt(4)

    heading("一、总体情况")
    for text in report.paragraphs:
        p = doc.add_paragraph(text)
        p.paragraph_format.first_line_indent = Pt(SIZES["body"] * 2)
        p.paragraph_format.line_spacing = Pt(28)  # 28-29 pt: 22 lines a page (GB/T 9704)
        p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY

    heading("二、统计图")
    for name, png in pngs.items():
        doc.add_picture(io.BytesIO(png), width=Cm(15.5))
        doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        cap = doc.add_paragraph(chart_caption(report, name), style="Caption")
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER

    heading("三、统计表")
    for n, t in enumerate(report.tables, start=1):
        cap = doc.add_paragraph(f"表{n}　{report.year}年{t.title}", style="Caption")
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
        cap.paragraph_format.keep_with_next = True
        _docx_table(doc, t, fonts["table"])
        if t.note:
            note = doc.add_paragraph(t.note)
            for run in note.runs:
                _set_fonts(run._r, fonts["table"], size=SIZES["note"])
        doc.add_paragraph()
    foot = doc.add_paragraph(
        "注：面积为CGCS2000椭球面积，平方米与亩保留两位小数（四舍五入），1亩=2000/3平方米。"
    )
    for run in foot.runs:
        _set_fonts(run._r, fonts["table"], size=SIZES["note"])
    for text in (report.town_name, report.date_text):  # 发文机关 and 成文日期, right-aligned
        p = doc.add_paragraph(text)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.right_indent = Pt(SIZES["body"] * 4)
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
