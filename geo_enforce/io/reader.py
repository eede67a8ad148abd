"""Read vector files into CGCS2000 (EPSG:4490), refusing what cannot be trusted.

Formats: Shapefile (GBK/GB18030 attributes: ``.cpg`` honoured, detected otherwise), GeoPackage,
GeoJSON, KML, DXF (closed polylines and hatches become polygons), CSV with a WKT column.
Sources in EPSG:4527/4548/4326 or any EPSG are reprojected; GCJ-02/BD-09 lon/lat are converted
only when asked (``from_gcj02``/``from_bd09``). Every refusal names the file, the feature and the
problem; invalid geometries are repaired with ``make_valid`` and each repair is listed in
``gdf.attrs["repaired"]``.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo_enforce.errors import CRSError, InvalidInput, NotFound, TooLarge
from geo_enforce.geometry import crs as crs_mod
from geo_enforce.io.sanity import DEFAULT_MAX_VERTICES

#: Column names taken as the WKT geometry of a CSV (case-insensitive).
WKT_COLUMNS = ("wkt", "geometry", "geom", "shape", "the_geom", "几何", "坐标串", "wkt_geom")
#: DXF entity bookkeeping columns (Layer, EntityHandle and Text are kept: usable as keys).
DXF_COLUMNS = ("PaperSpace", "SubClasses", "Linetype")
#: LIBKML bookkeeping columns (Name and description are kept when they hold anything).
KML_COLUMNS = (
    "id",
    "timestamp",
    "begin",
    "end",
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
)
MAX_LISTED = 10


def feature_label(gdf: pd.DataFrame, pos: int, key_col: str | None = None) -> str:
    """'feature 3' (1-based, file order) plus the key value when known."""
    label = f"feature {pos + 1}"
    if key_col and key_col in gdf.columns:
        v = gdf[key_col].iloc[pos]
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            label += f" ({key_col}={v})"
    return label


def _listing(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    shown = "; ".join(items[:MAX_LISTED])
    return shown + (f"; … and {more} more" if more > 0 else "")


# --- encodings -------------------------------------------------------------------------------

_CPG_ALIASES = {
    "936": "GB18030",
    "cp936": "GB18030",
    "gbk": "GB18030",
    "gb2312": "GB18030",
    "gb18030": "GB18030",
    "54936": "GB18030",
    "ansi 936": "GB18030",
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "65001": "UTF-8",
}


def shapefile_encoding(path: Path) -> str:
    """Attribute encoding of a shapefile: its ``.cpg`` when present, else detected from the DBF.

    GBK is read as GB18030 (a superset). Detection: valid UTF-8 → UTF-8; else valid GB18030 (the
    encoding of nearly every Chinese shapefile without a ``.cpg``) → GB18030; else Latin-1.
    """
    for cpg in (path.with_suffix(".cpg"), path.with_suffix(".CPG")):
        if cpg.exists():
            declared = cpg.read_text(encoding="ascii", errors="ignore").strip()
            if declared:
                return _CPG_ALIASES.get(declared.lower(), declared)
    dbf = next(
        (p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None
    )
    if dbf is None:
        return "UTF-8"
    raw = dbf.read_bytes()[32:]
    try:
        raw.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("gb18030")
        return "GB18030"
    except UnicodeDecodeError:
        return "ISO-8859-1"


def _decode_text(raw: bytes) -> str:
    """Text of a file of unknown encoding: UTF-8 (BOM or not), else GB18030, else Latin-1."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


# --- readers ---------------------------------------------------------------------------------


def _read_csv(path: Path, encoding: str | None) -> gpd.GeoDataFrame:
    raw = path.read_bytes()  # read once: the encoding is detected from the same bytes
    try:
        content = raw.decode(encoding) if encoding else _decode_text(raw)
        df = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: cannot be read as CSV ({exc})") from exc
    if df.empty:
        raise InvalidInput(f"{path}: the file holds no features (no data rows)")
    wkt_col = next((c for c in df.columns if str(c).strip().lower() in WKT_COLUMNS), None)
    if wkt_col is None:
        raise InvalidInput(
            f"{path}: no WKT geometry column (expected one of {', '.join(WKT_COLUMNS)}); "
            f"columns are {', '.join(map(str, df.columns))}"
        )
    geoms: list[BaseGeometry | None] = []
    bad: list[str] = []
    for i, text in enumerate(df[wkt_col]):
        if not str(text).strip():
            geoms.append(None)
            continue
        try:
            geoms.append(shapely.from_wkt(text))
        except shapely.errors.GEOSException as exc:
            bad.append(f"row {i + 2} (feature {i + 1}): invalid WKT ({exc})")
            geoms.append(None)
    if bad:
        raise InvalidInput(f"{path}: column {wkt_col!r} holds invalid WKT: {_listing(bad)}")
    df = df.drop(columns=[wkt_col]).replace({"": None})
    prj = path.with_suffix(".prj")
    declared = None
    if prj.exists():  # a .prj beside the CSV declares its CRS, as for shapefiles
        try:
            declared = CRS.from_user_input(prj.read_text(encoding="utf-8", errors="ignore"))
        except PyprojCRSError as exc:
            raise CRSError(f"{prj}: not a readable CRS definition ({exc})") from exc
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index), crs=declared)


def _sidecar(path: Path, suffix: str) -> Path | None:
    return next(
        (p for p in (path.with_suffix(suffix), path.with_suffix(suffix.upper())) if p.exists()),
        None,
    )


def check_shapefile_counts(path: Path) -> None:
    """Refuse a shapefile whose .dbf holds more or fewer records than its .shp has shapes.

    GDAL pairs shapes and attribute rows by position and silently drops (or invents) the
    difference, so a truncated .dbf would import only some polygons. The shape count comes
    from the index (.shx: 100-byte header, 8 bytes per record), the record count from the
    .dbf header (bytes 4-7, little-endian).
    """
    shx, dbf = _sidecar(path, ".shx"), _sidecar(path, ".dbf")
    if shx is None or dbf is None:
        return
    shx_size = shx.stat().st_size
    with dbf.open("rb") as f:
        head = f.read(8)
    if shx_size < 100 or (shx_size - 100) % 8 or len(head) < 8:
        raise InvalidInput(
            f"{path}: the shapefile's {'.shx' if len(head) == 8 else '.dbf'} is truncated or "
            "damaged; export the layer again"
        )
    shapes = (shx_size - 100) // 8
    records = int.from_bytes(head[4:8], "little")
    if shapes != records:
        raise InvalidInput(
            f"{path}: the .shp has {shapes} shapes but the .dbf has {records} attribute records; "
            "the files do not belong together or one is truncated: export the layer again"
        )


def _read_ogr(path: Path, layer: str | int | None, encoding: str | None) -> gpd.GeoDataFrame:
    if path.suffix.lower() == ".shp":
        check_shapefile_counts(path)
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InvalidInput(
            f"{path}: cannot be opened as a vector file ({exc}); is it corrupt or truncated?"
        ) from exc
    if layer is None and len(layers) > 1:
        names = ", ".join(str(n) for n in layers[:, 0])
        raise InvalidInput(f"{path}: holds {len(layers)} layers ({names}); choose one with --layer")
    if path.suffix.lower() == ".shp" and encoding is None:
        encoding = shapefile_encoding(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except Exception as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc}); is it corrupt or truncated?") from exc
    if gdf.geometry.name != "geometry":
        gdf = gdf.rename_geometry("geometry")
    if path.suffix.lower() == ".dxf":
        gdf = gdf.drop(columns=[c for c in DXF_COLUMNS if c in gdf.columns])
    if path.suffix.lower() in (".kml", ".kmz"):
        empty = [c for c in ("Name", "description") if c in gdf and gdf[c].isna().all()]
        gdf = gdf.drop(columns=[c for c in KML_COLUMNS if c in gdf.columns] + empty)
    return gdf


# --- geometry --------------------------------------------------------------------------------


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Closed lines (DXF polylines) → polygons; polygonal parts of collections; else as is."""
    if geom is None or geom.is_empty:
        return geom
    t = geom.geom_type
    if t in ("LineString", "LinearRing") and geom.is_closed and len(geom.coords) >= 4:
        return Polygon(geom.coords)
    if t == "MultiLineString" and all(g.is_closed and len(g.coords) >= 4 for g in geom.geoms):
        return MultiPolygon([Polygon(g.coords) for g in geom.geoms])
    if t == "GeometryCollection":
        polys = [_polygonal(g) for g in geom.geoms]
        parts = [p for p in polys if p is not None and p.geom_type in ("Polygon", "MultiPolygon")]
        if parts:
            return shapely.union_all(parts)
    return geom


def polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a geometry (make_valid may return collections)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [polygonal_part(g) for g in geom.geoms]
        polys = [p for p in parts if not p.is_empty]
        return shapely.union_all(polys) if polys else Polygon()
    return Polygon()


def check_feature_vertices(
    gdf: gpd.GeoDataFrame, source: str, max_vertices: int | None, key_col: str | None = None
) -> None:
    """Refuse features with more than ``max_vertices`` vertices (default 100 000), by name."""
    limit = DEFAULT_MAX_VERTICES if max_vertices is None else max_vertices
    counts = shapely.get_num_coordinates(np.asarray(gdf.geometry.values))
    over = np.flatnonzero(counts > limit)
    if len(over):
        raise TooLarge(
            f"{source}: {len(over)} feature(s) have more than {limit:,} vertices: "
            + _listing(
                [f"{feature_label(gdf, int(i), key_col)} has {int(counts[i]):,}" for i in over]
            )
            + "; simplify them (e.g. to 0.1 m) or ask an admin to raise "
            "GEO_ENFORCE_LIMITS__MAX_VERTICES"
        )


def repair_geometries(gdf: gpd.GeoDataFrame, source: str, key_col: str | None = None) -> list[str]:
    """Repair invalid polygons in place with ``make_valid``; return one line per repair."""
    geoms = gdf.geometry.values
    invalid = np.flatnonzero(~shapely.is_valid(np.asarray(geoms)) & ~shapely.is_missing(geoms))
    repaired: list[str] = []
    new = np.asarray(geoms).copy()
    for i in invalid:
        pos = int(i)
        g = new[pos]
        reason = shapely.is_valid_reason(g)
        fixed = polygonal_part(shapely.make_valid(g))
        if fixed.is_empty:
            raise InvalidInput(
                f"{source}: {feature_label(gdf, pos, key_col)}: geometry is invalid ({reason}) "
                "and has no area left after repair; fix or remove it"
            )
        new[pos] = fixed
        repaired.append(f"{feature_label(gdf, pos, key_col)}: {reason} → repaired with make_valid")
    if len(invalid):
        gdf.geometry = gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs)
    return repaired


# --- CRS -------------------------------------------------------------------------------------


def _parse_crs(value: Any, source: str) -> CRS:
    try:
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return CRS.from_epsg(int(value))
        return CRS.from_user_input(value)
    except PyprojCRSError as exc:
        raise CRSError(f"{source}: {value!r} is not a known CRS ({exc})") from exc


def _first_bad(mask: np.ndarray) -> list[int]:
    return list(np.flatnonzero(mask)[:MAX_LISTED])


def check_degrees(gdf: gpd.GeoDataFrame, source: str, *, declared: str) -> None:
    """Refuse lon/lat features that look projected, swapped or outside China (by feature)."""
    b = gdf.geometry.bounds.to_numpy()
    minx, miny, maxx, maxy = b.T
    cminx, cminy, cmaxx, cmaxy = crs_mod.CHINA_BOUNDS
    inside = (cminx <= minx) & (maxx <= cmaxx) & (cminy <= miny) & (maxy <= cmaxy)
    swapped = ~inside & (cminy <= minx) & (maxx <= cmaxy) & (cminx <= miny) & (maxy <= cmaxx)
    projected = ~swapped & (
        (np.maximum(np.abs(minx), np.abs(maxx)) > 180)
        | (np.maximum(np.abs(miny), np.abs(maxy)) > 90)
    )
    outside = ~inside & ~swapped & ~projected
    if projected.any():
        pos = _first_bad(projected)
        raise CRSError(
            f"{source}: coordinates are declared as degrees ({declared}) but look projected "
            f"(metres), e.g. {_feats(gdf, b, pos)}; give the right CRS with --crs, e.g. "
            "EPSG:4527 (zone-prefixed) or EPSG:4548 for Gauss-Krüger zone 39"
        )
    if swapped.any():
        pos = _first_bad(swapped)
        raise CRSError(
            f"{source}: coordinates look like latitude/longitude with the axes swapped (x holds "
            f"latitude), e.g. {_feats(gdf, b, pos)}; swap them in the source or export as lon/lat"
        )
    if outside.any():
        pos = _first_bad(outside)
        raise CRSError(
            f"{source}: {int(outside.sum())} feature(s) lie outside China, e.g. "
            f"{_feats(gdf, b, pos)}; check the declared CRS ({declared}) or pass --crs"
        )


def _feats(gdf: gpd.GeoDataFrame, b: np.ndarray, pos: list[int]) -> str:
    return "; ".join(
        f"{feature_label(gdf, int(p))} at ({b[p][0]:.6g}, {b[p][1]:.6g})" for p in pos[:3]
    )


def _check_projected(gdf: gpd.GeoDataFrame, src: CRS, source: str) -> None:
    """Refuse degrees declared as a projected CRS, and zone-prefix mix-ups."""
    b = gdf.geometry.bounds.to_numpy()
    looks_degrees = (np.abs(b[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(b[:, [1, 3]]) <= 90).all(
        axis=1
    )
    name = src.to_string()
    if looks_degrees.any():
        pos = list(np.flatnonzero(looks_degrees)[:3])
        raise CRSError(
            f"{source}: coordinates are declared projected ({name}) but look like degrees, e.g. "
            f"{_feats(gdf, b, pos)}; the file is probably lon/lat: pass --crs EPSG:4490 (or 4326)"
        )
    epsg = src.to_epsg()
    zoned = (b[:, 0] > 1e7).all()
    if epsg == crs_mod.GK39_CM117 and zoned:
        raise CRSError(
            f"{source}: eastings near {b[0, 0]:.0f} carry the zone prefix 39, but the file is "
            "declared EPSG:4548 (no prefix): pass --crs EPSG:4527"
        )
    if epsg == crs_mod.GK39_ZONED and (b[:, 0] < 1e7).all():
        raise CRSError(
            f"{source}: eastings near {b[0, 0]:.0f} lack the zone prefix 39, but the file is "
            "declared EPSG:4527 (zone-prefixed): pass --crs EPSG:4548"
        )


def to_cgcs2000(
    gdf: gpd.GeoDataFrame,
    source: str,
    *,
    crs: Any = None,
    from_gcj02: bool = False,
    from_bd09: bool = False,
) -> gpd.GeoDataFrame:
    """Declare/check the CRS, reproject to EPSG:4490, convert GCJ-02/BD-09 when asked."""
    if from_gcj02 and from_bd09:
        raise InvalidInput(f"{source}: give at most one of --from-gcj02 and --from-bd09")
    warns: list[str] = list(gdf.attrs.get("warnings", []))
    if crs is not None:
        declared = _parse_crs(crs, source)
        if gdf.crs is not None and not CRS(gdf.crs).equals(declared, ignore_axis_order=True):
            warns.append(f"the file declares {CRS(gdf.crs).to_string()}; using {crs} as asked")
        gdf = gdf.set_crs(declared, allow_override=True)
    elif gdf.crs is None:
        raise CRSError(
            f"{source}: the file declares no coordinate reference system (no .prj / CRS): "
            "give it with --crs, e.g. EPSG:4490 (lon/lat), EPSG:4548 or EPSG:4527 (Gauss-Krüger "
            "zone 39)"
        )
    src = CRS(gdf.crs)
    if (from_gcj02 or from_bd09) and not src.is_geographic:
        raise CRSError(
            f"{source}: GCJ-02/BD-09 data is lon/lat, but the file is declared {src.to_string()}"
        )
    if src.is_geographic:
        check_degrees(gdf, source, declared=src.to_string())
    else:
        _check_projected(gdf, src, source)
    with np.errstate(all="ignore"):
        out = gdf.to_crs(crs_mod.CGCS2000) if not src.equals(CRS.from_epsg(4490)) else gdf
    geoms = np.asarray(out.geometry.values)
    coords = shapely.get_coordinates(geoms)
    if coords.size and not np.isfinite(coords).all():
        raise CRSError(
            f"{source}: coordinates do not transform from {src.to_string()} to EPSG:4490 "
            "(infinite results): check the declared CRS"
        )
    if from_gcj02 or from_bd09:
        fn = crs_mod.geometry_from_gcj02 if from_gcj02 else crs_mod.geometry_from_bd09
        moved = [fn(g) if g is not None else None for g in np.asarray(out.geometry.values)]
        out = out.set_geometry(gpd.GeoSeries(moved, index=out.index, crs=crs_mod.CGCS2000))
        warns.append(f"converted from {'GCJ-02' if from_gcj02 else 'BD-09'} to CGCS2000 as asked")
    if not src.is_geographic:
        check_degrees(out, source, declared=f"{src.to_string()} → EPSG:4490")
    out.attrs["warnings"] = warns
    return out


def read_vector(
    path: str | Path,
    *,
    crs: Any = None,
    layer: str | int | None = None,
    encoding: str | None = None,
    from_gcj02: bool = False,
    from_bd09: bool = False,
    max_vertices: int | None = None,
    repair: bool = True,
    lines: bool = False,
) -> gpd.GeoDataFrame:
    """Read a vector file into a GeoDataFrame in EPSG:4490 (lon/lat degrees, CGCS2000).

    ``crs`` declares (or overrides) the source CRS: an EPSG code (``4548``, ``"EPSG:4527"``) or
    anything pyproj accepts. Geometries: closed lines become polygons; invalid polygons are
    repaired with ``make_valid`` and listed in ``gdf.attrs["repaired"]``; notes in
    ``gdf.attrs["warnings"]``. Refuses (:class:`~geo_enforce.errors.InvalidInput` /
    :class:`~geo_enforce.errors.CRSError`) files without CRS, implausible coordinates, empty or
    corrupt files and features without geometry, naming file, feature and problem; a shapefile
    whose .dbf and .shp counts differ; features over ``max_vertices`` vertices (default
    100 000; :class:`~geo_enforce.errors.TooLarge`). ``repair=False`` leaves invalid
    geometries as they are (``gdf.attrs["repaired"]`` empty) for a caller that refuses them.
    ``lines``: the target is a line layer (pipelines): lines stay lines (closed ones too, not
    turned into polygons) and nothing is repaired.
    """
    p = Path(path)
    source = str(p)
    if not p.exists():
        raise NotFound(f"{source}: file not found")
    if p.is_file() and p.stat().st_size == 0:
        raise InvalidInput(f"{source}: the file is empty (0 bytes)")
    if p.suffix.lower() in (".csv", ".txt"):
        gdf = _read_csv(p, encoding)
    else:
        gdf = _read_ogr(p, layer, encoding)
    if len(gdf) == 0:
        raise InvalidInput(f"{source}: the file holds no features")
    gdf = gdf.reset_index(drop=True)
    if not lines:
        gdf = gdf.set_geometry(
            gpd.GeoSeries(
                [_polygonal(g) for g in gdf.geometry.values], index=gdf.index, crs=gdf.crs
            )
        )
    missing = np.flatnonzero(shapely.is_missing(np.asarray(gdf.geometry.values)) | gdf.is_empty)
    if len(missing):
        raise InvalidInput(
            f"{source}: {len(missing)} feature(s) have no geometry: "
            f"{_listing([feature_label(gdf, int(i)) for i in missing])}"
        )
    check_feature_vertices(gdf, source, max_vertices)
    gdf = to_cgcs2000(gdf, source, crs=crs, from_gcj02=from_gcj02, from_bd09=from_bd09)
    gdf.attrs["source"] = source
    gdf.attrs["repaired"] = repair_geometries(gdf, source) if repair and not lines else []
    return gdf
