"""Import the ministry's satellite patch file (卫片执法图斑) as change patches of source ``mnr``.

The file (Shapefile with a UTF-8 or GBK ``.cpg`` or none, GeoPackage, GeoJSON; any CRS the
reader accepts, reprojected to EPSG:4490) carries one polygon per patch. Its columns are
matched to :data:`FIELDS` by name, case-insensitively (``TBBH``, ``图斑编号`` …); ``field_map``
(``SOURCE=field``) names a column the aliases miss. Only the patch number is required.

Everything is checked before the first write, and every refusal names the file, the feature
(with its patch number) and the field: a missing or repeated patch number, a bad date or
number, a geometry that is not a polygon, invalid (refused unless ``repair``; ``make_valid``
would change the ministry's area) or outside China, a quarter neither given nor derivable.

A patch number already stored (source ``mnr``, retired or not) is **not** updated: the patch
is reported as already present, and listed under ``differs`` when the file's geometry is not
the stored one. Ministry patches are the ministry's record and rulings, evidence and
rectification hang on them, so a re-sent file never silently moves a ruled patch; a patch the
ministry really redrew is retired and imported again under the number it was re-sent with.

Each new patch is checked by the same rules as a flight patch
(:func:`geo_enforce.detection.rules.evaluate`): rule hits, suggested ruling, village, linked
structure. Its ``detected_on`` is the 后时相 date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.detection import rules
from geo_enforce.errors import InvalidInput
from geo_enforce.io.catalogue import get_catalogue, parse_date
from geo_enforce.io.importer import (
    GEOMETRY_TOLERANCE_DEG,
    check_target_srid,
    multipolygons,
    offset_warning,
    parse_field_map,
)
from geo_enforce.io.reader import _listing, feature_label, read_vector
from geo_enforce.io.sanity import is_plausible
from geo_enforce.io.uploads import check_features
from geo_enforce.mnr.quarterly import parse_quarter, quarter_of
from geo_enforce.storage.mnr import MnrPatch
from geo_enforce.storage.models import SRID, AdminArea, ChangePatch

SOURCE = "mnr"
#: change_patch.code of a ministry patch: this prefix and the patch number
CODE_PREFIX = "MNR-"
MAX_PATCH_NO = 60 - len(CODE_PREFIX)


@dataclass(frozen=True)
class FieldDef:
    """A field of the ministry's file: its Chinese name and the column names taken for it."""

    zh: str
    aliases: tuple[str, ...]
    required: bool = False


#: The documented mapping: field → Chinese name and accepted column names (case-insensitive).
FIELDS: dict[str, FieldDef] = {
    "patch_no": FieldDef(
        "图斑编号", ("TBBH", "图斑编号", "JCBH", "监测编号", "TBBM", "BH", "编号"), True
    ),
    "admin_code": FieldDef(
        "行政区代码", ("XZQDM", "行政区代码", "XZQHDM", "行政区划代码", "QXDM", "区县代码")
    ),
    "admin_name": FieldDef(
        "行政区名称", ("XZQMC", "行政区名称", "XZQHMC", "行政区划名称", "QXMC", "区县名称")
    ),
    "reported_area": FieldDef("监测面积", ("JCMJ", "监测面积", "TBMJ", "图斑面积", "MJ", "面积")),
    "before_date": FieldDef("前时相", ("QSX", "前时相", "QSXSJ", "前时相时间", "前时相日期")),
    "after_date": FieldDef("后时相", ("HSX", "后时相", "HSXSJ", "后时相时间", "后时相日期")),
    "change_type": FieldDef("变化类型", ("BHLX", "变化类型", "TBLX", "图斑类型", "JCLX")),
    "quarter": FieldDef("监测批次", ("PC", "JCPC", "批次", "监测批次", "季度", "JD")),
}


@dataclass
class MnrImportReport:
    """What an import of a ministry patch file did (or, for a dry run, would do)."""

    source: str
    total: int = 0
    inserted: int = 0
    #: patch numbers already stored: nothing was updated
    present: list[str] = field(default_factory=list)
    #: of those, the ones whose geometry in the file differs from the stored one
    differs: list[str] = field(default_factory=list)
    quarters: dict[str, int] = field(default_factory=dict)
    rule_hits: dict[str, int] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # source column → field
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return asdict(self)


def resolve_columns(
    columns: list[str], field_map: dict[str, str], source: str
) -> tuple[dict[str, str], list[str]]:
    """Source column → field of :data:`FIELDS`, and the columns left over.

    ``field_map`` entries win; the rest are matched by alias. Refuses a file with no patch
    number column, naming the columns it has.
    """
    index = {a.casefold(): name for name, f in FIELDS.items() for a in (name, f.zh, *f.aliases)}
    mapping: dict[str, str] = {}
    for src, dst in field_map.items():
        if src not in columns:
            raise InvalidInput(
                f"{source}: the field map names column {src!r}, which the file lacks; "
                f"columns are: {', '.join(columns)}"
            )
        target = index.get(dst.strip().casefold())
        if target is None:
            raise InvalidInput(
                f"{source}: field map target {dst!r} is not a field of a ministry patch; "
                f"fields are: {', '.join(f'{k} ({f.zh})' for k, f in FIELDS.items())}"
            )
        mapping[src] = target
    taken = set(mapping.values())
    for col in columns:
        target = index.get(str(col).strip().casefold())
        if col not in mapping and target is not None and target not in taken:
            mapping[col] = target
            taken.add(target)
    if "patch_no" not in taken:
        raise InvalidInput(
            f"{source}: no patch number column (图斑编号; expected one of "
            f"{', '.join(FIELDS['patch_no'].aliases)}); the file has columns "
            f"{', '.join(map(str, columns)) or '(none)'}; name it with --field-map COLUMN=patch_no"
        )
    return mapping, [c for c in columns if c not in mapping]


def _blank(v: Any) -> bool:
    if v is None or v is pd.NaT:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    return str(v).strip()


@dataclass
class _Row:
    patch_no: str
    values: dict[str, Any]
    attributes: dict[str, str]


def _convert(name: str, v: Any) -> tuple[Any, str | None]:
    """One value of field ``name`` as stored, or a problem."""
    if name in ("before_date", "after_date"):
        d = parse_date(v)
        if d is None:
            return None, f"{_text(v)!r} is not a date (use 2024-03-05 or 20240305)"
        if not is_plausible(d):
            return None, f"date {d.isoformat()} is not plausible"
        return d, None
    if name == "reported_area":
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None, f"{_text(v)!r} is not a number"
        if not np.isfinite(x) or x < 0:
            return None, f"{_text(v)!r} is not an area (a number ≥ 0)"
        return x, None
    if name == "quarter":
        try:
            return parse_quarter(_text(v)), None
        except InvalidInput:
            return None, f"{_text(v)!r} is not a quarter (2024Q3 or 2024年第三季度)"
    s = _text(v)
    limit = {"patch_no": MAX_PATCH_NO, "admin_code": 40, "admin_name": 100, "change_type": 100}
    if len(s) > limit[name]:
        return None, f"value is {len(s)} characters long, at most {limit[name]} allowed"
    return s, None


def read_rows(
    gdf: gpd.GeoDataFrame, mapping: dict[str, str], source: str, quarter: str | None
) -> list[_Row]:
    """The features' values by field; refuses bad values naming feature, field and column."""
    problems: list[str] = []
    rows: list[_Row] = []
    key_col = next(c for c, f in mapping.items() if f == "patch_no")
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    for pos in range(len(gdf)):
        rec = gdf.iloc[pos]
        where = feature_label(gdf, pos, key_col)
        values: dict[str, Any] = {}
        for col, name in mapping.items():
            v = rec[col]
            if _blank(v):
                if FIELDS[name].required:
                    problems.append(
                        f"{where}: required field {name} ({FIELDS[name].zh}, column {col!r}) "
                        "is empty"
                    )
                continue
            value, problem = _convert(name, v)
            if problem:
                problems.append(
                    f"{where}: field {name} ({FIELDS[name].zh}, column {col!r}): {problem}"
                )
            values[name] = value
        before, after = values.get("before_date"), values.get("after_date")
        if before and after and after < before:
            problems.append(
                f"{where}: 后时相 {after} is earlier than 前时相 {before}; check the two dates"
            )
        if quarter is not None:
            values["quarter"] = quarter
        elif values.get("quarter") is None and after is not None:
            values["quarter"] = quarter_of(after)
        elif values.get("quarter") is None and "patch_no" in values:
            problems.append(
                f"{where}: no quarter (监测批次) and no 后时相 date to derive it from; give the "
                "batch's quarter with --quarter 2024Q3"
            )
        attrs = {str(c): _text(rec[c]) for c in columns if c not in mapping and not _blank(rec[c])}
        rows.append(_Row(patch_no=values.get("patch_no", ""), values=values, attributes=attrs))
    if problems:
        raise InvalidInput(f"{source}: {len(problems)} bad value(s): {_listing(problems)}")
    seen: dict[str, int] = {}
    for pos, r in enumerate(rows):
        if r.patch_no in seen:
            raise InvalidInput(
                f"{source}: patch number (图斑编号, column {key_col!r}) {r.patch_no!r} repeats in "
                f"feature {seen[r.patch_no] + 1} and feature {pos + 1}; patch numbers are unique"
            )
        seen[r.patch_no] = pos
    return rows


def _check_geometries(gdf: gpd.GeoDataFrame, source: str, key_col: str) -> np.ndarray:
    geoms = multipolygons(gdf, get_catalogue().layer("change_patch"), source, key_col)
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        items = [
            f"{feature_label(gdf, int(i), key_col)}: {shapely.is_valid_reason(geoms[i])}"
            for i in invalid
        ]
        raise InvalidInput(
            f"{source}: {len(invalid)} patch geometry(ies) invalid: {_listing(items)}; fix them "
            "in the file, or import with --repair to repair them with make_valid (the stored "
            "area may then differ from the ministry's)"
        )
    return geoms


def import_patches(
    session: Session,
    path: str | Path,
    *,
    quarter: str | None = None,
    field_map: str | Path | dict[str, str] | None = None,
    crs: Any = None,
    encoding: str | None = None,
    source_layer: str | int | None = None,
    repair: bool = False,
    max_features: int | None = None,
    max_vertices: int | None = None,
) -> MnrImportReport:
    """Import a ministry patch file in the caller's transaction (see the module doc).

    ``quarter`` (``2024Q3``, ``2024年第三季度``) is the batch's quarter for every patch; without
    it each patch's 监测批次 column, else the quarter of its 后时相 date, is used. Raises
    :class:`~geo_enforce.errors.InvalidInput` (file, feature, field) before any write.
    """
    q = parse_quarter(quarter) if quarter else None
    gdf = read_vector(
        path,
        crs=crs,
        layer=source_layer,
        encoding=encoding,
        max_vertices=max_vertices,
        repair=repair,
    )
    src = str(path)
    if max_features is not None:
        check_features(len(gdf), max_features, what=src)
    report = MnrImportReport(source=src, total=len(gdf), repaired=list(gdf.attrs["repaired"]))
    report.warnings = list(gdf.attrs.get("warnings", []))
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    mapping, report.ignored_columns = resolve_columns(columns, parse_field_map(field_map), src)
    report.columns = dict(mapping)
    key_col = next(c for c, f in mapping.items() if f == "patch_no")
    rows = read_rows(gdf, mapping, src, q)
    geoms = _check_geometries(gdf, src, key_col)
    check_target_srid(session, "change_patch")
    w = offset_warning(session, gdf, src)
    if w:
        report.warnings.append(w)
    _store(session, report, rows, geoms, src)
    return report


def _store(
    session: Session, report: MnrImportReport, rows: list[_Row], geoms: np.ndarray, src: str
) -> None:
    stored = {
        p.source_no: p
        for p in session.scalars(
            select(ChangePatch).where(
                ChangePatch.source == SOURCE,
                ChangePatch.source_no.in_([r.patch_no for r in rows]),
            )
        )
    }
    have_areas = bool(session.scalar(select(func.count()).select_from(AdminArea)))
    outside: list[str] = []
    for r, geom in zip(rows, geoms, strict=True):
        old = stored.get(r.patch_no)
        if old is not None:
            report.present.append(r.patch_no)
            if shapely.hausdorff_distance(to_shape(old.geom), geom) > GEOMETRY_TOLERANCE_DEG:
                report.differs.append(r.patch_no)
            continue
        res = rules.evaluate(session, geom, kind="new")
        suggested: str | None = res.suggested_ruling
        if have_areas and res.village_code is None:
            outside.append(r.patch_no)
            suggested = None  # the stored layers do not cover it: its rule hits mean nothing
        v = r.values
        patch = ChangePatch(
            source=SOURCE,
            source_no=r.patch_no,
            code=CODE_PREFIX + r.patch_no,
            village_code=res.village_code,
            change_kind=res.change_kind,
            confidence=1.0,  # a change the ministry reports, not a detector's guess
            rule_hits=res.hits,
            suggested_ruling=suggested,
            status="new",
            structure_id=res.structure_id,
            detected_on=v.get("after_date"),
            geom=from_shape(geom, srid=SRID),
        )
        session.add(patch)
        session.flush()
        session.add(
            MnrPatch(
                change_patch_id=patch.id,
                quarter=v["quarter"],
                admin_code=v.get("admin_code"),
                admin_name=v.get("admin_name"),
                reported_area=v.get("reported_area"),
                before_date=v.get("before_date"),
                after_date=v.get("after_date"),
                change_type=v.get("change_type"),
                source_file=Path(src).name,
                attributes=r.attributes,
            )
        )
        report.inserted += 1
        report.quarters[v["quarter"]] = report.quarters.get(v["quarter"], 0) + 1
        for h in res.hits:
            report.rule_hits[h["code"]] = report.rule_hits.get(h["code"], 0) + 1
    session.flush()
    if outside:
        report.warnings.append(
            f"{src}: {len(outside)} patch(es) lie outside the stored villages "
            f"({_listing(outside)}); their rule hits are kept but no ruling is suggested"
        )
    if report.present:
        report.warnings.append(
            f"{src}: {len(report.present)} patch number(s) already stored, left unchanged: "
            f"{_listing(report.present)}"
            + (
                f"; the geometry in the file differs for {_listing(report.differs)}"
                if report.differs
                else ""
            )
        )


def rerun_rules(session: Session, *, quarter: str | None = None) -> int:
    """Check the current unruled ministry patches against the layers again (after a layer
    changed); returns how many were checked. Ruled patches keep their rule hits."""
    q = (
        select(ChangePatch)
        .join(MnrPatch, MnrPatch.change_patch_id == ChangePatch.id)
        .where(
            ChangePatch.source == SOURCE,
            ChangePatch.retired_at.is_(None),
            ChangePatch.ruling.is_(None),
        )
        .order_by(ChangePatch.id)
    )
    if quarter:
        q = q.where(MnrPatch.quarter == parse_quarter(quarter))
    n = 0
    for p in session.scalars(q):
        res = rules.evaluate(session, to_shape(p.geom), kind="new")
        p.rule_hits = res.hits
        p.suggested_ruling = res.suggested_ruling if res.village_code else None
        p.village_code = res.village_code
        p.structure_id = res.structure_id
        p.change_kind = res.change_kind
        n += 1
    session.flush()
    return n
