"""Export a stored layer to GPKG, SHP (UTF-8 ``.cpg``), GeoJSON, KML or CSV (WKT column).

Exports carry the catalogue's fields plus the trigger-computed ``area_m2``/``area_mu`` of the
current (not retired) records, in EPSG:4490 (KML: WGS 84, as the format requires; the two agree
to centimetres). Field names are the identifiers (shapefiles: the catalogue's short names), so an
export imports again unchanged; next to each coded field is its Chinese label (``status_label``,
shapefiles ``status_zh``) and next to ``village_code`` the village's name, which imports ignore.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput
from geo_enforce.io.catalogue import Catalogue, LayerSpec, get_catalogue
from geo_enforce.storage.models import SRID

#: format name → (GDAL driver, file suffix)
FORMATS: dict[str, tuple[str, str]] = {
    "gpkg": ("GPKG", ".gpkg"),
    "shp": ("ESRI Shapefile", ".shp"),
    "geojson": ("GeoJSON", ".geojson"),
    "kml": ("LIBKML", ".kml"),
    "csv": ("CSV", ".csv"),
}
_SUFFIXES = {".json": "geojson", **{suffix: name for name, (_, suffix) in FORMATS.items()}}
AREA_COLUMNS = ("area_m2", "area_mu")
#: what a line layer carries instead: its geodesic length (trigger-maintained)
LENGTH_COLUMNS = ("length_m",)


def format_for(path: Path, fmt: str | None) -> str:
    """The export format: ``fmt`` when given, else judged by the suffix of ``path``."""
    if fmt:
        f = fmt.lower().lstrip(".")
        if f not in FORMATS:
            raise InvalidInput(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return f
    f2 = _SUFFIXES.get(path.suffix.lower())
    if f2 is None:
        raise InvalidInput(
            f"{path}: cannot tell the format from the suffix; give --format ({', '.join(FORMATS)})"
        )
    return f2


def read_layer(
    session: Session,
    layer: str,
    *,
    include_retired: bool = False,
    private: bool = True,
    catalogue: Catalogue | None = None,
) -> gpd.GeoDataFrame:
    """The stored records of ``layer`` as a GeoDataFrame (EPSG:4490), ordered by natural key.

    ``catalogue`` defaults to the packaged one (:func:`~geo_enforce.io.catalogue.get_catalogue`).
    """
    spec = (catalogue or get_catalogue()).layer(layer)
    fields = [f for f in spec.fields if private or not f.private]
    measures = LENGTH_COLUMNS if spec.geometry_type == "MultiLineString" else AREA_COLUMNS
    cols = [f.name for f in fields] + list(measures)
    where = "" if include_retired else " WHERE retired_at IS NULL"
    rows = session.execute(
        text(
            f"SELECT {', '.join(cols)}, ST_AsBinary(geom) AS geom FROM {spec.table}{where} "
            f"ORDER BY {spec.key}"
        )
    ).all()
    df = pd.DataFrame([tuple(r) for r in rows], columns=[*cols, "geom"])
    geoms = shapely.from_wkb([bytes(g) for g in df.pop("geom")]) if len(df) else []
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=SRID), crs=SRID)
    for f in fields:
        if f.type == "date":
            gdf[f.name] = pd.to_datetime(gdf[f.name]).astype("datetime64[ms]")
        elif f.type == "int":
            gdf[f.name] = gdf[f.name].astype("Int64")
        elif f.type == "float":
            gdf[f.name] = gdf[f.name].astype("float64")
    return gdf


def _iso_dates(frame: pd.DataFrame, spec: LayerSpec) -> None:
    """Turn the date fields of ``frame`` into ISO text (2024-03-05), in place."""
    for fld in spec.fields:
        if fld.type == "date" and fld.name in frame:
            frame[fld.name] = frame[fld.name].dt.strftime("%Y-%m-%d")


def _with_labels(
    session: Session, gdf: gpd.GeoDataFrame, spec: LayerSpec, *, short: bool
) -> gpd.GeoDataFrame:
    """Chinese labels next to coded fields (``status`` → ``status_label``, 已拆除) and the
    village's name next to ``village_code``, for people reading the file in QGIS or Excel; an
    import ignores them. Shapefile columns are at most 10 characters (``status_zh``)."""
    out = gdf.copy()
    for fld in spec.fields:
        if fld.name not in out.columns:
            continue
        at = list(out.columns).index(fld.name) + 1
        if fld.vocab:
            labels = fld.values
            name = f"{fld.shp_name[:7]}_zh" if short else f"{fld.name}_label"
            out.insert(at, name, out[fld.name].map(lambda v, m=labels: m.get(v, v)))
        elif fld.name == "village_code":
            rows = session.execute(
                text("SELECT code, name FROM admin_area WHERE retired_at IS NULL")
            ).all()
            names = {code: name for code, name in rows}
            out.insert(at, "village_nm" if short else "village_name", out[fld.name].map(names))
    return out


def _shp_names(spec: LayerSpec) -> dict[str, str]:
    return {f.name: f.shp_name for f in spec.fields}


def export_layer(
    session: Session,
    layer: str,
    path: str | Path,
    fmt: str | None = None,
    *,
    include_retired: bool = False,
    private: bool = True,
    catalogue: Catalogue | None = None,
) -> int:
    """Write the current records of ``layer`` to ``path``; return the number written.

    The format comes from ``fmt`` (gpkg, shp, geojson, kml, csv) or the file suffix. An existing
    file is replaced. CSV gets a ``wkt`` column (full precision) and a ``.prj`` beside it.
    """
    spec = (catalogue or get_catalogue()).layer(layer)
    p = Path(path)
    f = format_for(p, fmt)
    gdf = read_layer(
        session, layer, include_retired=include_retired, private=private, catalogue=catalogue
    )
    p.parent.mkdir(parents=True, exist_ok=True)
    gdf = _with_labels(session, gdf, spec, short=f == "shp")
    if f == "csv":
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        _iso_dates(df, spec)
        df["wkt"] = shapely.to_wkt(gdf.geometry.values, rounding_precision=-1)
        df.to_csv(p, index=False, encoding="utf-8-sig")
        p.with_suffix(".prj").write_text(CRS.from_epsg(SRID).to_wkt("WKT1_ESRI"), encoding="ascii")
        return len(gdf)
    driver, _ = FORMATS[f]
    for old in _siblings(p) if f == "shp" else [p]:
        old.unlink(missing_ok=True)
    kwargs: dict = {}
    if f == "shp":
        _iso_dates(gdf, spec)  # DBF has dates but GDAL is handed datetimes: write ISO dates
        gdf = gdf.rename(columns=_shp_names(spec))
        kwargs["encoding"] = "UTF-8"
    if f == "kml":
        gdf = gdf.to_crs(4326)
    if f == "geojson":  # keep the EPSG:4490 crs member and 17 significant digits
        kwargs["layer_options"] = {"RFC7946": "NO", "SIGNIFICANT_FIGURES": "17"}
    pyogrio.write_dataframe(gdf, p, driver=driver, layer=spec.name, **kwargs)
    return len(gdf)


def _siblings(shp: Path) -> list[Path]:
    return [shp.with_suffix(s) for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
