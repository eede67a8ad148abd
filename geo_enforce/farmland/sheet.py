"""The printable verification sheet (农用地核实单): DOCX and PDF, in Chinese, with a map.

The map snapshot is drawn offline with matplotlib (no tiles, no network) in Gauss-Krüger zone
39 metres (EPSG:4548) so shapes and the scale bar are true: farmland parcels by land class,
permanent basic farmland hatched, red lines, structures, change patches, cleared parcels,
verification photo points with their heading, and the checked parcel or polygon outlined.

Chinese text needs a CJK font: Noto Sans CJK (Debian ``fonts-noto-cjk``, installed by
``scripts/setup.sh``) or WenQuanYi; :func:`cjk_font` finds one or says what to install, and
:func:`cjk_family` selects its Simplified Chinese (SC) face, which the PDF embeds.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox
from shapely import wkb as shapely_wkb
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_enforce.errors import ConfigError, InvalidInput
from geo_enforce.farmland.overlay import METHOD
from geo_enforce.farmland.results import Overlap, OverlayReport
from geo_enforce.farmland.verify import VERIFICATION_STATUSES
from geo_enforce.geometry import crs as gcrs
from geo_enforce.io.catalogue import layer_title
from geo_enforce.io.sanity import beijing_today, safe_local
from geo_enforce.ledger import vocab

_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)


@lru_cache(maxsize=1)
def cjk_font() -> Path:
    """Path of an installed font with Chinese glyphs (registered with matplotlib)."""
    found = next((Path(p) for p in _FONT_CANDIDATES if Path(p).exists()), None)
    if found is None:
        try:
            out = subprocess.run(
                ["fc-match", "-f", "%{file}", ":lang=zh"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and Path(out).exists() and "dejavu" not in out.lower():
            found = Path(out)
    if found is None:
        raise ConfigError(
            "no Chinese (CJK) font is installed, so the sheet cannot be drawn: install the "
            "Debian package fonts-noto-cjk (scripts/setup.sh does) or fonts-wqy-zenhei"
        )
    font_manager.fontManager.addfont(str(found))
    return found


def _fp(size: float = 9, weight: str = "normal") -> font_manager.FontProperties:
    return font_manager.FontProperties(family=cjk_family(), size=size, weight=weight)


@lru_cache(maxsize=1)
def cjk_family() -> str:
    """Family name of the Simplified Chinese face of :func:`cjk_font` (PDF and DOCX).

    Noto CJK ships as a collection (.ttc) whose first face is Japanese (JP): glyphs such as
    骨, 直 and 说 differ from the forms Chinese readers expect, so the sheet names the ``SC``
    face by family (matplotlib picks that face of the collection and embeds it in the PDF).
    """
    path = cjk_font()
    faces = [f.name for f in font_manager.fontManager.ttflist if Path(f.fname) == path]
    simplified = [n for n in faces if n.endswith(" SC") and "Mono" not in n]
    if simplified:
        return simplified[0]
    return faces[0] if faces else font_manager.FontProperties(fname=str(path)).get_name()


# --- map -----------------------------------------------------------------------------------

CLASS_COLORS = {
    "0101": "#cfe8a9",
    "0102": "#f6e8a6",
    "0103": "#f1d39a",
    "0201": "#b5dc8c",
    "0301": "#8fc88a",
    "1006": "#d0d0d0",
    "1104": "#a6d4f2",
    "1202": "#e8c8e8",
    "0702": "#f2b9a5",
}
RED_LINE_STYLE = {
    "construction_land": ("#d7191c", "--"),
    "basic_farmland": ("#1a7f37", "-"),
    "ecological": ("#2b83ba", "-."),
    "road": ("#7f7f7f", ":"),
    "river_blue": ("#1f78b4", "--"),
    "urban_boundary": ("#7b3294", "-."),
}


def _path(geom: BaseGeometry) -> MplPath | None:
    polys = [geom] if isinstance(geom, Polygon) else list(getattr(geom, "geoms", []))
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for p in polys:
        if not isinstance(p, Polygon) or p.is_empty:
            continue
        for ring in (p.exterior, *p.interiors):
            xy = np.asarray(ring.coords)
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0] = MplPath.MOVETO
            c[-1] = MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _add(ax: Axes, geom: BaseGeometry, **kw: Any) -> None:
    p = _path(geom)
    if p is not None:
        ax.add_patch(PathPatch(p, **kw))


def _features(session: Session, env: BaseGeometry) -> dict[str, list[dict]]:
    q = {
        "farmland_parcel": "patch_code AS code, land_class AS k, is_permanent_basic AS pbf",
        "red_line": "code, kind AS k, false AS pbf",
        "cleared_parcel": "parcel_no AS code, '' AS k, false AS pbf",
        "structure": "case_no AS code, status AS k, false AS pbf",
        "change_patch": "code, coalesce(ruling, '') AS k, false AS pbf",
    }
    out: dict[str, list[dict]] = {}
    for table, cols in q.items():
        rows = session.execute(
            text(
                f"SELECT {cols}, ST_AsBinary(geom) AS wkb FROM {table} WHERE retired_at IS NULL "
                "AND geom && ST_MakeEnvelope(:a, :b, :c, :d, 4490) ORDER BY id LIMIT 2000"
            ),
            dict(zip("abcd", env.bounds, strict=True)),
        ).mappings()
        out[table] = [
            {**r, "geom": gcrs.transform_geometry(shapely_wkb.loads(bytes(r["wkb"])), 4490, 4548)}
            for r in rows
        ]
    return out


def draw_map(ax: Axes, session: Session, report: OverlayReport) -> None:
    """Draw the map snapshot of ``report`` (from :func:`overlay_report`) on ``ax``."""
    fp_s = _fp(6.5)
    t_gk = gcrs.transform_geometry(report.target.geometry, 4490, 4548)
    pts = [p for v in report.verifications for p in v.photos if p.lon is not None]
    pxy = (
        gcrs.transformer(4490, 4548).transform([p.lon for p in pts], [p.lat for p in pts])
        if pts
        else ([], [])
    )
    minx, miny, maxx, maxy = t_gk.bounds
    # photos within 2 km widen the view so a far photo shows where it was taken
    for x, y in zip(*pxy, strict=True):
        if t_gk.distance(shapely.Point(x, y)) < 2000:
            minx, miny, maxx, maxy = min(minx, x), min(miny, y), max(maxx, x), max(maxy, y)
    pad = max(0.35 * max(maxx - minx, maxy - miny), 60.0)
    view = box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    env = gcrs.transform_geometry(view, 4548, 4490).envelope
    feats = _features(session, env)
    legend: dict[str, Patch] = {}

    for f in feats["farmland_parcel"]:
        color = CLASS_COLORS.get(f["k"], "#e5e5e5")
        _add(ax, f["geom"], facecolor=color, edgecolor="#8c8c6c", lw=0.5, zorder=1)
        legend.setdefault(
            f"地类 {f['k']} {vocab.LAND_CLASSES.get(f['k'], '')}",
            Patch(facecolor=color, edgecolor="#8c8c6c"),
        )
        if f["pbf"]:
            _add(ax, f["geom"], fill=False, hatch="///", edgecolor="#1a7f37", lw=0, zorder=2)
            legend.setdefault("永久基本农田", Patch(fill=False, hatch="///", edgecolor="#1a7f37"))
        c = f["geom"].representative_point()
        if view.contains(c):
            ax.text(
                c.x,
                c.y,
                f["code"],
                fontproperties=fp_s,
                ha="center",
                va="center",
                color="#4d4d33",
                zorder=8,
                clip_on=True,
            )
    for f in feats["red_line"]:
        color, ls = RED_LINE_STYLE.get(f["k"], ("#000000", "-"))
        _add(ax, f["geom"], fill=False, edgecolor=color, linestyle=ls, lw=1.4, zorder=4)
        if f["k"] == "basic_farmland":
            _add(ax, f["geom"], fill=False, hatch="///", edgecolor="#1a7f37", lw=0, zorder=2)
        legend.setdefault(
            vocab.RED_LINE_KINDS.get(f["k"], f["k"]),
            Patch(fill=False, edgecolor=color, linestyle=ls, lw=1.4),  # type: ignore[arg-type]
        )
    for f in feats["cleared_parcel"]:
        _add(ax, f["geom"], facecolor="none", hatch="..", edgecolor="#1b9e77", lw=1, zorder=3)
        legend.setdefault(
            layer_title("cleared_parcel"), Patch(fill=False, hatch="..", edgecolor="#1b9e77")
        )
    for f in feats["structure"]:
        gone = f["k"] in ("demolished", "dismissed")
        _add(
            ax,
            f["geom"],
            facecolor="none" if gone else "#e34a33",
            edgecolor="#7f7f7f" if gone else "#a50f15",
            linestyle=":" if gone else "-",
            lw=0.8,
            alpha=0.9,
            zorder=5,
        )
        key = f"{layer_title('structure')}（已拆除）" if gone else layer_title("structure")
        legend.setdefault(
            key,
            Patch(facecolor="none", edgecolor="#7f7f7f", linestyle=":")
            if gone
            else Patch(facecolor="#e34a33", edgecolor="#a50f15"),
        )
    for f in feats["change_patch"]:
        _add(ax, f["geom"], fill=False, edgecolor="#ff7f00", lw=1.6, zorder=6)
        legend.setdefault(
            layer_title("change_patch"), Patch(fill=False, edgecolor="#ff7f00", lw=1.6)
        )
    _add(ax, t_gk, fill=False, edgecolor="#0033cc", lw=2.6, zorder=7)
    legend["核查范围"] = Patch(fill=False, edgecolor="#0033cc", lw=2.6)

    if pts:
        ax.scatter(pxy[0], pxy[1], marker="o", s=22, c="#000000", zorder=9)
        for x, y, p in zip(pxy[0], pxy[1], pts, strict=True):
            if p.heading_deg is not None and view.contains(shapely.Point(x, y)):
                a = np.radians(p.heading_deg)
                ln = pad * 0.35
                ax.annotate(
                    "",
                    xy=(x + ln * np.sin(a), y + ln * np.cos(a)),
                    xytext=(x, y),
                    arrowprops={"arrowstyle": "->", "color": "#000000", "lw": 1},
                    zorder=9,
                )
        legend["核实照片（箭头为拍摄方向）"] = Patch(facecolor="#000000")

    vx0, vy0, vx1, vy1 = view.bounds
    ax.set_xlim(vx0, vx1)
    ax.set_ylim(vy0, vy1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    _scale_bar(ax, vx0, vy0, vx1 - vx0, vy1 - vy0, _fp(7))
    ax.annotate(
        "北",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.84),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontproperties=_fp(9, "bold"),
        arrowprops={"arrowstyle": "-|>", "color": "#000000", "lw": 1.5},
    )
    ax.legend(
        handles=list(legend.values()),
        labels=list(legend),
        prop=_fp(6.5),
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0,
        frameon=False,
    )


def _scale_bar(ax: Axes, x0: float, y0: float, w: float, h: float, fp) -> None:
    target = w / 5
    mag = 10 ** np.floor(np.log10(target))
    length = max(v * mag for v in (1, 2, 5) if v * mag <= target)
    bx, by = x0 + 0.04 * w, y0 + 0.05 * h
    ax.plot([bx, bx + length], [by, by], color="#000000", lw=3, solid_capstyle="butt", zorder=10)
    ax.text(
        bx + length / 2,
        by + 0.02 * h,
        f"{length:g} 米",
        ha="center",
        va="bottom",
        fontproperties=fp,
        zorder=10,
    )


def map_png(session: Session, report: OverlayReport, *, dpi: int = 150) -> bytes:
    """The map snapshot alone as PNG bytes (for the DOCX, or the web page)."""
    fig = Figure(figsize=(7.2, 5.0), dpi=dpi)
    ax = fig.add_axes((0.01, 0.02, 0.68, 0.94))
    ax.set_title("位置示意图（CGCS2000 高斯-克吕格 39 带，单位：米）", fontproperties=_fp(9))
    draw_map(ax, session, report)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


# --- tables shared by DOCX and PDF ------------------------------------------------------------


def _n(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def _local(iso: dt.datetime | str | None) -> str:
    """An ISO timestamp as Beijing time, minutes, for print ('—' when missing or odd)."""
    return safe_local(iso)


def _label(values: dict[str, str], code: str | None, missing: str = "—") -> str:
    return vocab.label(values, code) or missing if code else missing


def sections(report: OverlayReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """The sheet's tables as (title, header, rows), in Chinese."""
    t = report.target
    p = t.parcel
    pb = report.permanent_basic
    ac = report.approved_construction
    sd = report.structures_dissolved
    approvals = "、".join(a.approval_no or a.code for a in ac.approvals) or "无"
    info = [
        ["核查对象", t.title],
        [
            "地类",
            f"{p.land_class} {vocab.label(vocab.LAND_CLASSES, p.land_class)}".strip()
            if p is not None
            else "见地类构成",
        ],
        [
            "行政村 / 权属单位",
            f"{(p and p.village_code) or '—'} / {(p and p.owner_collective) or '—'}",
        ],
        ["面积", f"{_n(t.area_m2)} 平方米（{_n(t.area_mu, 4)} 亩）"],
        [
            "永久基本农田",
            f"{_n(pb.area_m2)} 平方米（{_n(pb.area_mu, 4)} 亩），占 {_n(pb.share_pct)}%",
        ],
        [
            "已批建设用地",
            f"{_n(ac.area_m2)} 平方米，占 {_n(ac.share_pct)}%；批准文号：{approvals}",
        ],
        ["现状违法建设占地", f"{_n(sd.area_m2)} 平方米，占 {_n(sd.share_pct)}%"],
        ["生成时间", _local(report.generated_at)],
    ]
    classes = [
        [
            r.land_class,
            vocab.label(vocab.LAND_CLASSES, r.land_class),
            _n(r.area_m2),
            _n(r.area_mu, 4),
            _n(r.share_pct),
        ]
        for r in report.land_classes
    ]
    reds = [
        [
            vocab.label(vocab.RED_LINE_KINDS, r.kind),
            _n(r.area_m2),
            _n(r.area_mu, 4),
            _n(r.share_pct),
        ]
        for r in report.red_lines
    ]
    ov = report.overlaps
    # per layer of the overlap table: how its attribute cell reads
    attrs: list[tuple[str, Sequence[Overlap], Callable[[Any], str]]] = [
        (
            "structure",
            ov.structure,
            lambda r: (
                f"{vocab.label(vocab.STRUCTURE_CATEGORIES, r.category)}"
                f"/{vocab.label(vocab.STRUCTURE_STATUSES, r.status)}"
            ),
        ),
        (
            "change_patch",
            ov.change_patch,
            lambda r: (
                f"{vocab.label(vocab.RULINGS, r.ruling) or '未认定'}"
                f"/{vocab.label(vocab.PATCH_STATUSES, r.status)}"
            ),
        ),
        (
            "cleared_parcel",
            ov.cleared_parcel,
            lambda r: _label(vocab.CLEARED_RESTORED_USES, r.restored_use),
        ),
        (
            "farmland_parcel",
            ov.farmland_parcel,
            lambda r: vocab.label(vocab.LAND_CLASSES, r.land_class),
        ),
        (
            "red_line",
            ov.red_line,
            lambda r: f"{vocab.label(vocab.RED_LINE_KINDS, r.kind)} {r.approval_no or ''}".strip(),
        ),
    ]
    items = [
        [
            layer_title(table),
            r.code,
            attr(r),
            _n(r.overlap_m2),
            _n(r.overlap_mu, 4),
            _n(r.share_pct),
        ]
        for table, rows, attr in attrs
        for r in rows
    ]
    verifs = [
        [
            _local(v.verified_at),
            v.verified_by,
            f"{layer_title(v.target_kind)} {v.target_code or v.target_id}",
            vocab.label(vocab.VERIFICATION_RESULTS, v.result),
            VERIFICATION_STATUSES.get(v.status, v.status),
            str(len(v.photos)),
            (v.notes or "").replace("\n", " ")[:40],
        ]
        for v in report.verifications
    ]
    return [
        ("一、基本情况", ["项目", "内容"], info),
        ("二、地类构成", ["地类编码", "地类名称", "面积(平方米)", "面积(亩)", "占比(%)"], classes),
        ("三、红线叠加（去重后）", ["红线类型", "面积(平方米)", "面积(亩)", "占比(%)"], reds),
        (
            "四、叠加要素",
            ["图层", "编号", "属性", "重叠面积(平方米)", "重叠(亩)", "占比(%)"],
            items,
        ),
        (
            "五、历次核实记录",
            ["核实时间", "核实人", "对象", "结论", "状态", "照片", "备注"],
            verifs,
        ),
    ]


TITLE = "农用地核实单"
SIGN = "核实人（签字）：__________    审核人（签字）：__________    日期：____年__月__日"


# --- DOCX ------------------------------------------------------------------------------------


def sheet_docx(session: Session, report: OverlayReport) -> bytes:
    """The sheet as a Word document (python-docx): tables, the map snapshot, signature line."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    family = cjk_family()
    doc = Document()
    sec = doc.sections[0]
    sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
    sec.left_margin = sec.right_margin = Cm(1.8)
    sec.top_margin = sec.bottom_margin = Cm(1.6)
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Table Grid"):
        try:
            style = doc.styles[name]
        except KeyError:
            continue
        style.font.name = family  # type: ignore[attr-defined]
        rpr = style.element.get_or_add_rPr()
        rfonts = rpr.find(qn("w:rFonts"))
        if rfonts is None:
            rfonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(rfonts)
        for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            rfonts.set(qn(attr), family)
    doc.styles["Normal"].font.size = Pt(10)  # type: ignore[attr-defined]

    head = doc.add_paragraph()
    head.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = head.add_run(TITLE)
    run.bold = True
    run.font.size = Pt(18)
    sub = doc.add_paragraph(report.target.title)
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER

    secs = sections(report)
    for i, (title, header, rows) in enumerate(secs):
        doc.add_paragraph().add_run(title).bold = True
        if not rows:
            doc.add_paragraph("无")
        else:
            table = doc.add_table(rows=1, cols=len(header))
            table.style = doc.styles["Table Grid"]
            for cell, h in zip(table.rows[0].cells, header, strict=True):
                cell.text = ""
                cell.paragraphs[0].add_run(h).bold = True
            for row in rows:
                cells = table.add_row().cells
                for cell, val in zip(cells, row, strict=True):
                    cell.text = val
        if i == 0:
            doc.add_paragraph().add_run("位置示意图").bold = True
            doc.add_picture(io.BytesIO(map_png(session, report)), width=Cm(17.0))
    doc.add_paragraph(f"说明：{METHOD}。")
    doc.add_paragraph(SIGN)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# --- PDF -------------------------------------------------------------------------------------

_A4 = (8.27, 11.69)


def _table(
    fig: Figure,
    top: float,
    title: str,
    header: list[str],
    rows: list[list[str]],
    max_rows: int,
    widths: list[float] | None = None,
) -> float:
    """Draw a titled table from ``top`` (figure fraction) down; returns the new top."""
    fig.text(0.06, top, title, fontproperties=_fp(10.5, "bold"), va="top")
    top -= 0.022
    shown = rows[:max_rows] or [["无"] + [""] * (len(header) - 1)]
    extra = len(rows) - len(shown) if rows else 0
    row_h = 0.0185
    height = row_h * (len(shown) + 1)
    ax = fig.add_axes((0.06, top - height, 0.88, height))
    ax.axis("off")
    tbl = ax.table(
        cellText=shown,
        colLabels=header,
        loc="upper center",
        cellLoc="left",
        colWidths=widths,
        bbox=Bbox.from_bounds(0, 0, 1, 1),
    )
    tbl.auto_set_font_size(False)
    for (r, _c), cell in tbl.get_celld().items():
        cell.get_text().set_fontproperties(_fp(7.5, "bold" if r == 0 else "normal"))
        cell.set_linewidth(0.5)
        if r == 0:
            cell.set_facecolor("#eef2f7")
    top -= height + 0.008
    if extra > 0:
        fig.text(
            0.06, top, f"……另有 {extra} 项，见 JSON 报告或 DOCX", fontproperties=_fp(7.5), va="top"
        )
        top -= 0.02
    return top - 0.012


def sheet_pdf(session: Session, report: OverlayReport) -> bytes:
    """The sheet as a two-page A4 PDF drawn with matplotlib (no office suite needed)."""
    from matplotlib.backends.backend_pdf import PdfPages

    secs = sections(report)
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": TITLE, "Creator": "geo-enforce"}) as pdf:
        fig = Figure(figsize=_A4)
        fig.text(0.5, 0.965, TITLE, ha="center", va="top", fontproperties=_fp(18, "bold"))
        fig.text(0.5, 0.93, report.target.title, ha="center", va="top", fontproperties=_fp(10))
        top = _table(fig, 0.905, *secs[0], max_rows=12, widths=[0.22, 0.78])
        map_ax = fig.add_axes((0.06, top - 0.43, 0.62, 0.42))
        fig.text(
            0.06,
            top + 0.004,
            "位置示意图（CGCS2000 高斯-克吕格 39 带）",
            fontproperties=_fp(10.5, "bold"),
            va="bottom",
        )
        draw_map(map_ax, session, report)
        top -= 0.45
        top = _table(fig, top, *secs[1], max_rows=6)
        reds_height = 0.054 + 0.0185 * (len(secs[2][2]) + 1)
        reds_here = top - reds_height > 0.04
        if reds_here:
            top = _table(fig, top, *secs[2], max_rows=6)
        fig.text(0.5, 0.02, "第 1 页 / 共 2 页", ha="center", fontproperties=_fp(7.5))
        pdf.savefig(fig)

        fig = Figure(figsize=_A4)
        top = 0.95
        if not reds_here:  # no room left on page 1: red lines open page 2
            top = _table(fig, top, *secs[2], max_rows=6)
        top = _table(fig, top, *secs[3], max_rows=20, widths=[0.12, 0.16, 0.26, 0.18, 0.14, 0.14])
        top = _table(
            fig, top, *secs[4], max_rows=10, widths=[0.16, 0.12, 0.17, 0.12, 0.09, 0.07, 0.27]
        )
        fig.text(0.06, top, f"说明：{METHOD}。", fontproperties=_fp(7.5), va="top", wrap=True)
        fig.text(0.06, top - 0.05, SIGN, fontproperties=_fp(9.5), va="top")
        fig.text(0.5, 0.02, "第 2 页 / 共 2 页", ha="center", fontproperties=_fp(7.5))
        pdf.savefig(fig)
    return buf.getvalue()


def render_sheet(session: Session, report: OverlayReport, fmt: str) -> bytes:
    """``fmt`` 'pdf' or 'docx' → bytes of the printable sheet."""
    if fmt == "pdf":
        return sheet_pdf(session, report)
    if fmt == "docx":
        return sheet_docx(session, report)
    raise InvalidInput(f"sheet format '{fmt}' is unknown; use pdf or docx")


def sheet_filename(report: OverlayReport, fmt: str) -> str:
    """The download name of the sheet: ``farmland-<patch code>-<date>.<fmt>``."""
    p = report.target.parcel
    stem = p.patch_code if p is not None else "polygon"
    return f"farmland-{stem}-{beijing_today():%Y%m%d}.{fmt}"
