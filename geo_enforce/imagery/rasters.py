"""Reading and checking drone rasters: georeference, band layout, integrity, COG, footprint.

Orthophotos are RGB (3 bands) or RGBA / RGB+NIR (4 bands) of 8 or 16 bits; DSMs are one band of
heights in metres. Everything here takes a path and returns plain values, so the CLI, the API
and notebooks share it. Footprints come back in CGCS2000 (EPSG:4490); GSD in metres.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.features import shapes
from rasterio.transform import Affine
from rasterio.warp import transform_geom
from shapely.geometry import MultiPolygon, box, shape
from shapely.geometry.base import BaseGeometry

from geo_enforce.errors import ImageryError

CGCS2000 = "EPSG:4490"
ORTHO_DTYPES = ("uint8", "uint16")


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file is: size, bands, CRS, transform, GSD (metres), COG or not."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine
    nodata: float | None
    gsd_m: float | None
    is_cog: bool
    layout: str  # "RGB", "RGBA", "RGBN", "DSM", "GRAY", ...

    @property
    def georeferenced(self) -> bool:
        """Whether the raster carries a CRS and a transform."""
        return self.crs is not None and not self.transform.is_identity


def _layout(src) -> str:
    ci = src.colorinterp
    if src.count == 1:
        return "DSM" if np.dtype(src.dtypes[0]).kind == "f" else "GRAY"
    if src.count == 3:
        return "RGB"
    if src.count == 4:
        return "RGBA" if ci[3] == ColorInterp.alpha else "RGBN"
    return f"{src.count}BAND"


def ortho_bands(*infos: RasterInfo) -> tuple[int, ...]:
    """The bands detection reads from orthophotos: red, green, blue, and near-infrared as band 4
    when every image is ``RGBN`` (four bands, the fourth not alpha), so the vegetation test can
    use NDVI besides excess green. One image without NIR drops it for all: the two dates must
    carry the same bands."""
    if infos and all(i.layout == "RGBN" for i in infos):
        return (1, 2, 3, 4)
    return (1, 2, 3)


def gsd_metres(crs: CRS | None, transform: Affine, centre_lat: float | None = None) -> float | None:
    """Ground sample distance in metres (mean of x and y pixel size); None without a CRS."""
    if crs is None:
        return None
    px = (abs(transform.a) + abs(transform.e)) / 2.0
    if crs.is_geographic:
        lat = math.radians(centre_lat or 0.0)
        # metres per degree of longitude/latitude on the ellipsoid, averaged
        m_lat = 111_132.954 - 559.822 * math.cos(2 * lat)
        m_lon = 111_412.84 * math.cos(lat)
        return (abs(transform.a) * m_lon + abs(transform.e) * m_lat) / 2.0
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return px * factor


def inspect(path: str | Path) -> RasterInfo:
    """Open ``path`` and describe it, refusing files GDAL cannot read (with the file named)."""
    path = Path(path)
    if not path.exists():
        raise ImageryError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                crs = src.crs
                t = src.transform
                lat = None
                if crs is not None and crs.is_geographic:
                    lat = (src.bounds.bottom + src.bounds.top) / 2
                layout = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "")
                return RasterInfo(
                    path=path,
                    width=src.width,
                    height=src.height,
                    count=src.count,
                    dtype=src.dtypes[0],
                    crs=crs,
                    transform=t,
                    nodata=src.nodata,
                    gsd_m=gsd_metres(crs, t, lat),
                    is_cog=layout.upper() == "COG",
                    layout=_layout(src),
                )
    except RasterioIOError as exc:
        raise ImageryError(
            f"{path}: not a readable raster (corrupt, truncated or unsupported format): {exc}"
        ) from exc


def check_readable(path: str | Path, *, progress=None) -> None:
    """Read every block once, so a truncated or corrupt TIFF is refused before anything is stored.

    ``progress`` is an optional callable ``(done, total)``.
    """
    try:
        with rasterio.open(path) as src:
            windows = [w for _, w in src.block_windows(1)]
            for i, w in enumerate(windows):
                src.read(window=w)
                if progress is not None:
                    progress(i + 1, len(windows))
    except (RasterioIOError, rasterio.errors.RasterioError) as exc:
        raise ImageryError(
            f"{path}: the raster is corrupt or truncated (a block could not be read): {exc}; "
            "export it again from the photogrammetry software"
        ) from exc


def validate_ortho(info: RasterInfo) -> None:
    """An orthophoto must be georeferenced, RGB/RGBA/RGB+NIR, 8 or 16 bit."""
    _require_georef(info)
    if info.count not in (3, 4):
        raise ImageryError(
            f"{info.path}: an orthophoto needs 3 (RGB) or 4 (RGBA, RGB+NIR) bands, found "
            f"{info.count}; a one-band height raster belongs in --dsm"
        )
    if info.dtype not in ORTHO_DTYPES:
        raise ImageryError(
            f"{info.path}: orthophoto bands are {info.dtype}; expected uint8 or uint16"
        )


def validate_dsm(info: RasterInfo) -> None:
    """A DSM must be georeferenced, one band of heights."""
    _require_georef(info)
    if info.count != 1:
        raise ImageryError(
            f"{info.path}: a DSM must have exactly one band of heights (metres), found {info.count}"
        )


def _require_georef(info: RasterInfo) -> None:
    if not info.georeferenced:
        raise ImageryError(
            f"{info.path}: no georeference (CRS and geotransform missing); export a GeoTIFF "
            "with its coordinate system, or use 'geo-enforce change --gsd' for plain images"
        )


def to_cog(src_path: Path, dst_path: Path, *, kind: str = "ortho") -> Path:
    """Write a Cloud-Optimized GeoTIFF with overviews (DEFLATE; float predictor for DSMs)."""
    dst_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst_path.with_suffix(".tmp.tif")
    opts = {
        "driver": "COG",
        "compress": "DEFLATE",
        "blocksize": 512,
        "overview_resampling": "average" if kind == "ortho" else "nearest",
        "num_threads": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }
    if kind == "dsm":
        opts["predictor"] = 3
    try:
        rasterio.shutil.copy(str(src_path), str(tmp), **opts)
    except (RasterioIOError, rasterio.errors.RasterioError) as exc:
        tmp.unlink(missing_ok=True)
        raise ImageryError(f"{src_path}: conversion to COG failed (corrupt input?): {exc}") from exc
    tmp.replace(dst_path)
    return dst_path


def footprint(path: str | Path, *, max_size: int = 512) -> MultiPolygon:
    """Valid-data outline of a raster in EPSG:4490, from its mask read at reduced resolution."""
    with rasterio.open(path) as src:
        scale = max(src.width, src.height) / max_size
        if scale <= 1:
            h, w = src.height, src.width
        else:
            h, w = max(1, round(src.height / scale)), max(1, round(src.width / scale))
        mask = src.dataset_mask(out_shape=(h, w))
        t = src.transform @ Affine.scale(src.width / w, src.height / h)
        polys = [shape(g) for g, v in shapes(mask, mask=mask > 0, transform=t) if v > 0]
        geom: BaseGeometry = shapely.union_all(polys) if polys else box(*src.bounds)
        geom = geom.simplify(abs(t.a), preserve_topology=True)
        out = shape(transform_geom(src.crs, CGCS2000, geom.__geo_interface__))
    out = shapely.make_valid(out)
    polys = [g for g in getattr(out, "geoms", [out]) if g.geom_type == "Polygon"]
    if not polys:
        raise ImageryError(f"{path}: the raster holds no valid pixels (all nodata)")
    return MultiPolygon(polys)
