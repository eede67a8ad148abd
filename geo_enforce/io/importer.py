"""Import a layer into PostGIS: validated, transactional, idempotent, bulk-loaded with COPY.

``import_frame`` maps source columns to the catalogue's fields (Chinese names and aliases
accepted, ``field_map`` wins), coerces values (Chinese vocabulary labels → identifiers, dates,
numbers, 是/否), refuses missing required fields, bad values, duplicate keys and non-polygons
naming the feature, then COPYs the rows into a temporary table and upserts them by the layer's
natural key with ``INSERT … ON CONFLICT``: changed rows are updated, unchanged rows are not
touched (so the audit trigger records no spurious rows), and the database triggers keep areas and
the audit trail. It runs in the caller's transaction (repository rule: the caller commits); any
refusal raises before the first write, and a database error aborts the caller's transaction, so
an import lands completely or not at all.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry import LineString, MultiLineString
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo_enforce.errors import ConfigError, CRSError, InvalidInput
from geo_enforce.geometry import crs as crs_mod
from geo_enforce.geometry.areas import GEOD
from geo_enforce.io import sanity
from geo_enforce.io.catalogue import (
    Catalogue,
    FieldSpec,
    LayerSpec,
    get_catalogue,
    parse_bool,
    parse_date,
)
from geo_enforce.io.reader import (
    _listing,
    check_degrees,
    check_feature_vertices,
    feature_label,
    read_vector,
    repair_geometries,
    to_cgcs2000,
)
from geo_enforce.io.uploads import check_features
from geo_enforce.storage.models import LAYER_MODELS, SRID

#: Geometries closer than this (degrees, about 0.01 mm) count as unchanged on re-import: KML and
#: other text formats round coordinates at the 15th significant digit.
GEOMETRY_TOLERANCE_DEG = 1e-10
#: Problems listed per field and value (the count of all is reported too).
MAX_PROBLEMS = 50


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    layer: str
    source: str
    total: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # source column → field
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return asdict(self)


# --- columns and values ----------------------------------------------------------------------


def parse_field_map(value: str | Path | dict[str, str] | None) -> dict[str, str]:
    """``src=dst,src2=dst2``, a JSON file path, or a dict → {source column: field}."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    s = str(value)
    if s.lower().endswith(".json"):
        import json

        p = Path(s)
        if not p.exists():
            raise InvalidInput(f"field map {p}: file not found")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InvalidInput(f"field map {p}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"field map {p}: expected a JSON object {{source: field}}")
        return {str(k): str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    for part in s.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InvalidInput(f"field map entry {part!r}: expected SOURCE=FIELD")
        src, dst = (x.strip() for x in part.split("=", 1))
        out[src] = dst
    return out


def resolve_columns(
    spec: LayerSpec, columns: list[str], field_map: dict[str, str], source: str
) -> tuple[dict[str, str], list[str]]:
    """Source column → field name, and the ignored columns. Refuses missing required fields."""
    index = spec.source_index()
    names = {f.name for f in spec.fields}
    mapping: dict[str, str] = {}
    for src, dst in field_map.items():
        if src not in columns:
            raise InvalidInput(
                f"{source}: the field map names column {src!r}, which the file lacks; "
                f"columns are: {', '.join(columns)}"
            )
        target = dst if dst in names else index.get(dst.casefold())
        if target is None:
            raise InvalidInput(
                f"{source}: field map target {dst!r} is not a field of layer {spec.name}; "
                f"fields are: {', '.join(f'{f.name} ({f.zh})' for f in spec.fields)}"
            )
        mapping[src] = target
    taken = set(mapping.values())
    for col in columns:
        if col in mapping:
            continue
        target = index.get(str(col).strip().casefold())
        if target is not None and target not in taken:
            mapping[col] = target
            taken.add(target)
    missing = [f for f in spec.required if f.name not in taken]
    if missing:
        need = ", ".join(f"{f.name} ({f.zh})" for f in missing)
        raise InvalidInput(
            f"{source}: required field(s) missing for layer {spec.name}: {need}; the file has "
            f"columns {', '.join(columns) or '(none)'}; map one with "
            f"--field-map SOURCE={missing[0].name}"
        )
    ignored = [c for c in columns if c not in mapping]
    return mapping, ignored


def _is_null(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if v is pd.NaT or (isinstance(v, str) and not v.strip()):
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    return str(v).strip()


def _out_of_range(f: FieldSpec, x: float) -> str | None:
    if (f.min is not None and x < f.min) or (f.max is not None and x > f.max):
        lo = "" if f.min is None else f"{f.min:g}"
        hi = "" if f.max is None else f"{f.max:g}"
        return f"value {x:g} out of range [{lo}, {hi}]"
    return None


_Converted = tuple[Any, str | None]


def _convert_str(f: FieldSpec, v: Any, max_len: int | None) -> _Converted:
    s = _as_text(v)
    if f.vocab:
        lookup = f.value_lookup()
        key = lookup.get(s) or lookup.get(s.lower())
        if key is None and s.isdigit():
            key = lookup.get(s.zfill(4))  # land class 101 → 0101 (codes read as numbers)
        if key is None:
            allowed = ", ".join(f"{k} ({z})" for k, z in f.values.items())
            return None, f"value {s!r} not allowed; allowed: {allowed}"
        return key, None
    if max_len is not None and len(s) > max_len:
        return None, f"value is {len(s)} characters long, at most {max_len} allowed"
    return s, None


def _convert_int(f: FieldSpec, v: Any, max_len: int | None) -> _Converted:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None, f"value {v!r} is not an integer"
    if not x.is_integer():
        return None, f"value {v!r} is not an integer"
    return int(x), _out_of_range(f, x)


def _convert_float(f: FieldSpec, v: Any, max_len: int | None) -> _Converted:
    try:
        y = float(v)
    except (TypeError, ValueError):
        return None, f"value {v!r} is not a number"
    if not np.isfinite(y):
        return None, f"value {v!r} is not a finite number"
    return y, _out_of_range(f, y)


def _convert_date(f: FieldSpec, v: Any, max_len: int | None) -> _Converted:
    d = parse_date(v)
    if d is None:
        return None, f"value {v!r} is not a date (use 2024-03-05)"
    if not sanity.is_plausible(d):
        return None, (
            f"date {d.isoformat()} is outside the plausible range "
            f"{sanity.EARLIEST_DATE.isoformat()} … {sanity.latest_date().isoformat()}"
        )
    return d, None


def _convert_bool(f: FieldSpec, v: Any, max_len: int | None) -> _Converted:
    b = parse_bool(v)
    if b is None:
        return None, f"value {v!r} is not yes/no (是/否)"
    return b, None


_CONVERTERS = {
    "str": _convert_str,
    "int": _convert_int,
    "float": _convert_float,
    "date": _convert_date,
    "bool": _convert_bool,
}


def _convert(f: FieldSpec, v: Any, max_len: int | None) -> _Converted:
    """One source value → stored value, or a problem description."""
    return _CONVERTERS[f.type](f, v, max_len)


def coerce_values(
    spec: LayerSpec, frame: pd.DataFrame, mapping: dict[str, str], source: str, key_col: str
) -> pd.DataFrame:
    """Build the stored columns (field names) from the source columns; refuse bad values."""
    table = LAYER_MODELS[spec.name].__table__
    out = pd.DataFrame(index=frame.index)
    found: list[tuple[int, str]] = []
    for src, name in mapping.items():
        f = spec.field(name)
        max_len = getattr(table.c[name].type, "length", None)
        # convert each distinct value once (100,000 rows carry a few dozen categories)
        codes, uniques = pd.factorize(frame[src].astype(object), use_na_sentinel=True)
        converted = np.empty(len(uniques) + 1, dtype=object)  # last slot: null
        converted[-1] = f.default
        null_codes = [len(uniques)]
        bad: list[tuple[int, str]] = []
        for k, v in enumerate(uniques):
            if _is_null(v):
                converted[k] = f.default
                null_codes.append(k)
                continue
            value, problem = _convert(f, v, max_len)
            converted[k] = value
            if problem is not None:
                bad.append((k, problem))
        codes = np.where(codes < 0, len(uniques), codes)
        out[name] = pd.Series(converted[codes], index=frame.index, dtype=object)
        for k, problem in bad:
            for pos in np.flatnonzero(codes == k)[:MAX_PROBLEMS]:
                found.append(
                    (
                        int(pos),
                        f"{feature_label(frame, int(pos), key_col)}: field {name} ({f.zh}, column "
                        f"{src!r}): {problem}",
                    )
                )
        if f.required:
            for pos in np.flatnonzero(np.isin(codes, null_codes))[:MAX_PROBLEMS]:
                found.append(
                    (
                        int(pos),
                        f"{feature_label(frame, int(pos), key_col)}: required field {name} "
                        f"({f.zh}, column {src!r}) is empty",
                    )
                )
    problems = [msg for _, msg in sorted(found, key=lambda t: t[0])]
    if problems:
        raise InvalidInput(f"{source}: {len(problems)} bad value(s): {_listing(problems)}")
    keys = out[spec.key]
    dup = keys[keys.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        where = [feature_label(frame, int(i)) for i in np.flatnonzero((keys == first).to_numpy())]
        raise InvalidInput(
            f"{source}: key {spec.key} ({spec.field(spec.key).zh}) repeats: {first!r} in "
            f"{', '.join(where)} ({dup.nunique()} repeated value(s)); keys must be unique"
        )
    return out


def multipolygons(gdf: gpd.GeoDataFrame, spec: LayerSpec, source: str, key_col: str) -> np.ndarray:
    """Polygonal geometries as MultiPolygons; refuse anything else, naming the feature."""
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, (3, 6)))  # Polygon, MultiPolygon
    if len(bad):
        items = [
            f"{feature_label(gdf, int(i), key_col)} is "
            f"{geoms[i].geom_type if geoms[i] is not None else 'empty'}"
            for i in bad
        ]
        raise InvalidInput(
            f"{source}: layer {spec.name} needs polygons, but {len(bad)} feature(s) are not: "
            f"{_listing(items)}"
        )
    geoms = shapely.force_2d(geoms)
    single = types == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single][:, None].tolist())
    # canonical form (ring orientation, start vertex, part order), so the same shape read from
    # any format stores the same bytes and a re-import finds it unchanged
    return shapely.normalize(geoms)


def multilinestrings(
    gdf: gpd.GeoDataFrame, spec: LayerSpec, source: str, key_col: str
) -> np.ndarray:
    """Linear geometries as MultiLineStrings; refuse anything else (and degenerate lines, e.g.
    fewer than two distinct points), naming the feature."""
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, (1, 2, 5)))  # LineString, LinearRing, MultiLineString
    if len(bad):
        items = [
            f"{feature_label(gdf, int(i), key_col)} is "
            f"{geoms[i].geom_type if geoms[i] is not None else 'empty'}"
            for i in bad
        ]
        raise InvalidInput(
            f"{source}: layer {spec.name} needs lines (LineString/MultiLineString), but "
            f"{len(bad)} feature(s) are not: {_listing(items)}"
        )
    geoms = shapely.force_2d(geoms)
    single = types != 5
    if single.any():
        geoms = geoms.copy()
        geoms[single] = [MultiLineString([LineString(g.coords)]) for g in geoms[single]]
    degenerate = np.flatnonzero(~shapely.is_valid(geoms) | (shapely.length(geoms) <= 0))
    if len(degenerate):
        raise InvalidInput(
            f"{source}: line geometry is degenerate (fewer than two distinct points): "
            f"{_listing([feature_label(gdf, int(i), key_col) for i in degenerate])}; fix or "
            "remove it"
        )
    return shapely.normalize(geoms)


def layer_geometries(
    gdf: gpd.GeoDataFrame, spec: LayerSpec, source: str, key_col: str
) -> np.ndarray:
    """The layer's stored geometry type from ``gdf``: MultiPolygons or MultiLineStrings."""
    if spec.geometry_type == "MultiLineString":
        return multilinestrings(gdf, spec, source, key_col)
    return multipolygons(gdf, spec, source, key_col)


# --- database --------------------------------------------------------------------------------


def check_target_srid(session: Session, table: str) -> None:
    """Refuse to write when the target geometry column is not EPSG:4490 (schema mismatch)."""
    row = session.execute(
        text(
            "SELECT srid, type FROM geometry_columns WHERE f_table_schema = current_schema() "
            "AND f_table_name = :t AND f_geometry_column = 'geom'"
        ),
        {"t": table},
    ).first()
    if row is None:
        raise ConfigError(
            f"table {table} with a geom column not found: run 'geo-enforce db migrate'"
        )
    if int(row.srid) != SRID:
        raise ConfigError(
            f"table {table}: geometry SRID is {row.srid}, expected {SRID} (CGCS2000); the "
            "database does not match this version's schema"
        )


def offset_warning(
    session: Session,
    gdf: gpd.GeoDataFrame,
    source: str,
    village_codes: pd.Series | None = None,
) -> str | None:
    """Warn when the layer sits off the stored admin boundaries the way GCJ-02/BD-09 data does.

    Takes a point on each feature (at most 2,000 sampled) and compares the share that falls
    where it should, as given and as if converted from GCJ-02 and from BD-09. "Where it should"
    is the feature's own village or community when ``village_codes`` name stored admin areas
    (villages tile the township, so a shifted layer still lies inside the town), else the union
    of all current admin areas.
    """
    rows = session.execute(
        text("SELECT code, ST_AsBinary(geom) FROM admin_area WHERE retired_at IS NULL")
    ).all()
    if not rows or len(gdf) == 0:
        return None
    areas = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in rows}
    geoms = np.asarray(gdf.geometry.values)
    step = max(1, len(geoms) // 2000)
    idx = np.arange(0, len(geoms), step)
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms[idx]))
    own = None
    if village_codes is not None:
        codes = village_codes.to_numpy(dtype=object)[idx]
        known = np.array([c in areas for c in codes])
        if known.mean() >= 0.5:
            own = codes

    if own is not None:
        groups = {c: np.flatnonzero(own == c) for c in set(own) if c in areas}
        for c in groups:
            shapely.prepare(areas[c])
        counted = sum(len(g) for g in groups.values())

        def inside(x: np.ndarray, y: np.ndarray) -> float:
            hits = sum(
                int(shapely.contains_xy(areas[c], x[g], y[g]).sum()) for c, g in groups.items()
            )
            return hits / counted

        where_to = "their villages/communities in the stored admin boundaries"
    else:
        union = shapely.union_all(list(areas.values()))
        shapely.prepare(union)

        def inside(x: np.ndarray, y: np.ndarray) -> float:
            return float(np.mean(shapely.contains_xy(union, x, y)))

        where_to = "the stored admin boundaries"

    f0 = inside(xy[:, 0], xy[:, 1])
    if f0 >= 0.8:
        return None
    for name, fn, flag, where in (
        ("GCJ-02", crs_mod.gcj02_to_wgs84, "--from-gcj02", "Amap/Gaode or Google China"),
        ("BD-09", crs_mod.bd09_to_wgs84, "--from-bd09", "Baidu Maps"),
    ):
        x1, y1 = fn(xy[:, 0], xy[:, 1])
        f1 = inside(x1, y1)
        if f1 >= 0.9 and f1 - f0 >= 0.2:
            _, _, dist = GEOD.inv(xy[:, 0], xy[:, 1], x1, y1)
            return (
                f"{source}: only {f0:.0%} of the features lie inside {where_to}, "
                f"{f1:.0%} after converting from {name}: the layer sits about "
                f"{float(np.median(dist)):.0f} m off, the way coordinates traced on {where} do; "
                f"if it came from there, import it again with {flag}"
            )
    if f0 < 0.5:
        return (
            f"{source}: only {f0:.0%} of the features lie inside {where_to}; check the source "
            "CRS (--crs) and that the layer belongs to this township"
        )
    return None


def _copy_rows(session: Session, tmp: str, cols: list[str], frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False, na_rep="")
    buf.seek(0)
    dbapi = session.connection().connection
    cur = dbapi.cursor()
    try:
        cur.copy_expert(f"COPY {tmp} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)", buf)
    finally:
        cur.close()


def _upsert(session: Session, spec: LayerSpec, cols: list[str]) -> tuple[int, int]:
    table, key, tmp = spec.table, spec.key, f"_ge_import_{spec.table}"
    rest = [c for c in cols if c not in (key, "geom")]
    sets = ", ".join([*(f"{c} = EXCLUDED.{c}" for c in rest), "geom = EXCLUDED.geom"])
    changed = (
        "(ST_AsBinary(t.geom) IS DISTINCT FROM ST_AsBinary(EXCLUDED.geom) AND "
        f"ST_HausdorffDistance(t.geom, EXCLUDED.geom) > {GEOMETRY_TOLERANCE_DEG})"
    )
    if rest:
        old = ", ".join(f"t.{c}" for c in rest)
        new = ", ".join(f"EXCLUDED.{c}" for c in rest)
        changed = f"ROW({old}) IS DISTINCT FROM ROW({new}) OR {changed}"
    col_list = ", ".join(cols)
    if session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
        # drop unchanged rows first with one hash join: ON CONFLICT would lock and re-check
        # every existing row one index probe at a time
        same = (
            f"(t.geom = s.geom OR ST_HausdorffDistance(t.geom, s.geom) <= {GEOMETRY_TOLERANCE_DEG})"
        )
        if rest:
            old_s = ", ".join(f"t.{c}" for c in rest)
            new_s = ", ".join(f"s.{c}" for c in rest)
            same = f"ROW({old_s}) IS NOT DISTINCT FROM ROW({new_s}) AND {same}"
        session.execute(text(f"ANALYZE {tmp}"))
        session.execute(
            text(f"DELETE FROM {tmp} s USING {table} t WHERE t.{key} = s.{key} AND {same}")
        )
    sql = (
        f"WITH up AS (INSERT INTO {table} AS t ({col_list}) SELECT {col_list} FROM {tmp} "
        f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {changed} "
        "RETURNING (xmax = 0) AS ins) "
        "SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM up"
    )
    ins, upd = session.execute(text(sql)).one()
    return int(ins), int(upd)


def import_frame(
    session: Session,
    layer: str,
    gdf: gpd.GeoDataFrame,
    *,
    field_map: str | Path | dict[str, str] | None = None,
    source: str | None = None,
    check_offset: bool = True,
    max_features: int | None = None,
    catalogue: Catalogue | None = None,
    max_vertices: int | None = None,
) -> ImportReport:
    """Upsert a GeoDataFrame into ``layer`` by its natural key, in the caller's transaction.

    ``gdf`` must carry a CRS (reprojected to EPSG:4490 when it is another); columns are matched
    to the catalogue's fields by name, Chinese name or alias unless ``field_map`` says otherwise.
    Returns counts of inserted, updated and unchanged rows, repairs and warnings. Raises
    :class:`~geo_enforce.errors.InvalidInput` (naming feature and field) before any write.
    ``catalogue`` defaults to the packaged one. ``max_features`` and ``max_vertices`` (per
    feature, default 100 000) are the limits of ``Settings.limits``; over them,
    :class:`~geo_enforce.errors.TooLarge`.
    """
    spec = (catalogue or get_catalogue()).layer(layer)
    src = source or str(gdf.attrs.get("source", "<data frame>"))
    report = ImportReport(layer=layer, source=src, total=len(gdf))
    report.repaired = list(gdf.attrs.get("repaired", []))
    report.warnings = list(gdf.attrs.get("warnings", []))
    if len(gdf) == 0:
        raise InvalidInput(f"{src}: no features to import")
    if max_features is not None:
        check_features(len(gdf), max_features, what=src)
    if gdf.crs is None:
        raise CRSError(f"{src}: the data has no CRS; declare it (e.g. --crs EPSG:4490)")
    was_repaired = "repaired" in gdf.attrs
    gdf = gdf.reset_index(drop=True)
    if not CRS(gdf.crs).equals(CRS.from_epsg(SRID)):
        gdf = to_cgcs2000(gdf, src)
    else:
        check_degrees(gdf, src, declared="EPSG:4490")
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    mapping, report.ignored_columns = resolve_columns(
        spec, columns, parse_field_map(field_map), src
    )
    report.columns = dict(mapping)
    key_col = next(c for c, f in mapping.items() if f == spec.key)
    check_feature_vertices(gdf, src, max_vertices, key_col)
    if not was_repaired and spec.geometry_type == "MultiPolygon":
        report.repaired = repair_geometries(gdf, src, key_col)
    values = coerce_values(
        spec, pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), mapping, src, key_col
    )
    geoms = layer_geometries(gdf, spec, src, key_col)
    still_invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(still_invalid):
        raise InvalidInput(
            f"{src}: geometry invalid after repair: "
            f"{_listing([feature_label(gdf, int(i), key_col) for i in still_invalid])}"
        )

    check_target_srid(session, spec.table)
    if check_offset and spec.name != "admin_area":
        codes = values["village_code"] if "village_code" in values else None
        w = offset_warning(session, gdf, src, codes)
        if w:
            report.warnings.append(w)

    cols = [spec.key, *[c for c in values.columns if c != spec.key], "geom"]
    values = values[[c for c in cols if c != "geom"]].copy()
    values["geom"] = shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True)
    tmp = f"_ge_import_{spec.table}"
    try:
        session.execute(text(f"DROP TABLE IF EXISTS {tmp}"))
        session.execute(
            text(
                f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS "
                f"SELECT {', '.join(cols)} FROM {spec.table} WITH NO DATA"
            )
        )
        _copy_rows(session, tmp, cols, values)
        retired = (
            session.execute(
                text(
                    f"SELECT s.{spec.key} FROM {tmp} s JOIN {spec.table} t "
                    f"ON t.{spec.key} = s.{spec.key} "
                    "WHERE t.retired_at IS NOT NULL ORDER BY 1 LIMIT 11"
                )
            )
            .scalars()
            .all()
        )
        if retired:
            shown = ", ".join(map(str, retired[:10])) + (", …" if len(retired) > 10 else "")
            report.warnings.append(
                f"{src}: {spec.key} {shown} match retired records; they are updated but stay "
                "retired (restore them explicitly if they are current again)"
            )
        report.inserted, report.updated = _upsert(session, spec, cols)
        session.execute(text(f"DROP TABLE {tmp}"))
    except DBAPIError as exc:
        msg = str(getattr(exc.orig, "pgerror", None) or exc.orig).strip().splitlines()[0]
        raise InvalidInput(
            f"{src}: the database refused the import ({msg}); nothing was written"
        ) from exc
    report.unchanged = report.total - report.inserted - report.updated
    return report


def import_layer(
    session: Session,
    layer: str,
    path: str | Path,
    *,
    crs: Any = None,
    field_map: str | Path | dict[str, str] | None = None,
    from_gcj02: bool = False,
    from_bd09: bool = False,
    source_layer: str | int | None = None,
    encoding: str | None = None,
    check_offset: bool = True,
    max_features: int | None = None,
    catalogue: Catalogue | None = None,
    max_vertices: int | None = None,
) -> ImportReport:
    """Read ``path`` (any supported format, see :func:`read_vector`) and upsert it into ``layer``.

    Runs in the caller's transaction: commit to keep it, roll back (e.g. a dry run) to discard.
    """
    spec = (catalogue or get_catalogue()).layer(layer)  # unknown layer: refuse before reading
    if max_features is not None:
        _precheck_features(Path(path), source_layer, max_features)
    gdf = read_vector(
        path,
        crs=crs,
        layer=source_layer,
        encoding=encoding,
        from_gcj02=from_gcj02,
        from_bd09=from_bd09,
        max_vertices=max_vertices,
        lines=spec.geometry_type == "MultiLineString",
    )
    return import_frame(
        session,
        layer,
        gdf,
        field_map=field_map,
        source=str(path),
        check_offset=check_offset,
        max_features=max_features,
        catalogue=catalogue,
        max_vertices=max_vertices,
    )


def _precheck_features(path: Path, layer: str | int | None, max_features: int) -> None:
    """Refuse a file over the feature limit from its header, before reading any feature.

    Only where the driver knows the count cheaply (shapefile, GeoPackage); other files are
    counted after reading (:func:`import_frame`). Unreadable files are left to the reader.
    """
    if path.suffix.lower() not in (".shp", ".gpkg"):
        return
    try:
        n = int(pyogrio.read_info(path, layer=layer)["features"])
    except Exception:  # the reader reports unreadable files with their own message
        return
    if n >= 0:
        check_features(n, max_features, what=str(path))
