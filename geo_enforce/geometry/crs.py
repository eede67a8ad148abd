"""Coordinate reference systems: CGCS2000 storage, Gauss-Krüger zone 39, GCJ-02 and BD-09.

Storage is geographic CGCS2000 (EPSG:4490). Survey data for Tianjin arrives in the CGCS2000
3-degree Gauss-Krüger zone 39, either zone-prefixed (EPSG:4527, false easting 39 500 000) or not
(EPSG:4548, CM 117°E, false easting 500 000), or in WGS 84. Data traced on Amap/Gaode or Google
China is GCJ-02, on Baidu BD-09: both are obfuscated lon/lat offsets of a few hundred metres that
no EPSG code describes; they are converted only on request (``--from-gcj02``/``--from-bd09``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geo_enforce.errors import CRSError

CGCS2000 = 4490
GK39_ZONED = 4527
GK39_CM117 = 4548
WGS84 = 4326

#: China's rough extent (lon, lat) for plausibility checks
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


@lru_cache(maxsize=32)
def transformer(src: int | str | CRS, dst: int | str | CRS = CGCS2000) -> Transformer:
    """The lon/lat-ordered transformer ``src`` → ``dst``, built once per pair (pyproj's
    Transformer is thread-safe), so per-feature calls do not rebuild it."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def transform_geometry(geom: BaseGeometry, src, dst=CGCS2000) -> BaseGeometry:
    """``geom`` transformed from ``src`` to ``dst`` (EPSG codes or CRS), axes lon/lat."""
    t = transformer(src, dst)

    def f(xy: np.ndarray) -> np.ndarray:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, f)


# --- GCJ-02 / BD-09 ---------------------------------------------------------------------------
# The published GCJ-02 forward formula (Krasovsky ellipsoid constants); its inverse is solved by
# fixed-point iteration to well under a centimetre.
_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    """WGS 84 lon/lat to GCJ-02 (the published approximation; inside China only)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, *, tol: float = 1e-10, max_iter: int = 30):
    """Invert GCJ-02 by fixed-point iteration (error ≪ 1 cm)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        tlon, tlat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = tlon - glon, tlat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return wlon, wlat


_XPI = math.pi * 3000.0 / 180.0


def bd09_to_gcj02(lon, lat):
    """BD-09 (Baidu) lon/lat to GCJ-02."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 lon/lat to BD-09 (Baidu)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02_exact(lon, lat, *, tol: float = 1e-11, max_iter: int = 20):
    """Invert GCJ-02 → BD-09 by fixed-point iteration (the closed form is off by ~5 cm)."""
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    glon, glat = bd09_to_gcj02(blon, blat)
    for _ in range(max_iter):
        tlon, tlat = gcj02_to_bd09(glon, glat)
        elon, elat = tlon - blon, tlat - blat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return glon, glat


def bd09_to_wgs84(lon, lat):
    """BD-09 (Baidu) lon/lat to WGS 84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02_exact(lon, lat))


def _apply(geom: BaseGeometry, fn) -> BaseGeometry:
    def f(xy: np.ndarray) -> np.ndarray:
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, f)


def geometry_from_gcj02(geom: BaseGeometry) -> BaseGeometry:
    """GCJ-02 lon/lat → WGS 84 ≈ CGCS2000 lon/lat."""
    return _apply(geom, gcj02_to_wgs84)


def geometry_from_bd09(geom: BaseGeometry) -> BaseGeometry:
    """BD-09 lon/lat → WGS 84 ≈ CGCS2000 lon/lat."""
    return _apply(geom, bd09_to_wgs84)


def geometry_to_gcj02(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` (WGS 84 lon/lat) with every vertex shifted to GCJ-02."""
    return _apply(geom, wgs84_to_gcj02)


# --- plausibility ------------------------------------------------------------------------------


def in_china(lon: float, lat: float) -> bool:
    """Whether a lon/lat position lies in :data:`CHINA_BOUNDS` (the one China box)."""
    minx, miny, maxx, maxy = CHINA_BOUNDS
    return minx <= lon <= maxx and miny <= lat <= maxy


def looks_swapped(x: float, y: float) -> bool:
    """Whether (x, y) reads as a position in China only with the axes swapped (lat, lon)."""
    return in_china(y, x)


def check_geographic_bounds(bounds: tuple[float, float, float, float], what: str) -> None:
    """Refuse lon/lat bounds that are not plausibly in China, naming the likely cause."""
    minx, miny, maxx, maxy = bounds
    cminx, cminy, cmaxx, cmaxy = CHINA_BOUNDS
    if cminy <= minx and maxx <= cmaxy and cminx <= miny and maxy <= cmaxx:
        raise CRSError(
            f"{what}: coordinates {_fmt(bounds)} look like latitude/longitude with the axes "
            "swapped (x holds latitude): swap them in the source or export as lon/lat"
        )
    if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        raise CRSError(
            f"{what}: coordinates {_fmt(bounds)} are declared as degrees but look projected "
            "(metres); give the right CRS with --crs, e.g. EPSG:4527 or EPSG:4548 for "
            "Gauss-Krüger zone 39"
        )
    if not (cminx <= minx and maxx <= cmaxx and cminy <= miny and maxy <= cmaxy):
        raise CRSError(
            f"{what}: coordinates {_fmt(bounds)} lie outside China; check the declared CRS "
            "(--crs) of the file"
        )


def _fmt(b) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in b) + ")"
