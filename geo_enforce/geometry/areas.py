"""Official areas: ellipsoidal area and perimeter on the CGCS2000 ellipsoid.

The land-survey rules make the ellipsoidal area (椭球面积) the official figure. Geometries are
expected in geographic CGCS2000 coordinates (EPSG:4490, lon/lat degrees); areas come back in
square metres, perimeters in metres. The computation is GeographicLib's geodesic polygon area
(via :class:`pyproj.Geod`) on a = 6378137 m, f = 1/298.257222101, exact to round-off: the same
algorithm PostGIS uses for ``ST_Area(geography)``.

Planar Gauss-Krüger area (EPSG:4548, zone 39, CM 117°E) may be shown beside it, labelled as
planar; the linear scale error reaches about 0.02 % at the zone edge, so areas differ by about
twice that (0.04 % at 130 km from the central meridian). It is never the official figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import shapely
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from geo_enforce.geometry import crs as gcrs

#: CGCS2000 ellipsoid
CGCS2000_A = 6378137.0
CGCS2000_F = 1 / 298.257222101
GEOD = Geod(a=CGCS2000_A, f=CGCS2000_F)


def m2_to_mu(area_m2: float) -> float:
    """Square metres to mu (亩): 1 亩 = 2000/3 m² exactly, so × 3/2000."""
    return area_m2 * 3.0 / 2000.0


def _check_geographic(geom: BaseGeometry) -> None:
    if geom.is_empty:
        return
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError(
            f"coordinates {geom.bounds} are not lon/lat degrees: reproject to EPSG:4490 "
            "before computing ellipsoidal areas"
        )


def ellipsoidal_area_m2(geom: BaseGeometry) -> float:
    """Ellipsoidal area on CGCS2000 in m² of a (multi)polygon in lon/lat degrees (EPSG:4490).

    Holes are subtracted and parts added; ring orientation does not matter. Non-areal
    geometries have area 0.
    """
    if geom is None or geom.is_empty:
        return 0.0
    _check_geographic(geom)
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    area, _ = GEOD.geometry_area_perimeter(oriented)
    return abs(area)


def ellipsoidal_perimeter_m(geom: BaseGeometry) -> float:
    """Geodesic perimeter on CGCS2000 in metres (all rings, holes included)."""
    if geom is None or geom.is_empty:
        return 0.0
    _check_geographic(geom)
    _, perimeter = GEOD.geometry_area_perimeter(geom)
    return perimeter


def planar_gk_area_m2(geom: BaseGeometry) -> float:
    """Planar area in m² in Gauss-Krüger zone 39 (EPSG:4548). Labelled planar, never official."""
    if geom is None or geom.is_empty:
        return 0.0
    return gcrs.transform_geometry(geom, gcrs.CGCS2000, gcrs.GK39_CM117).area


def dissolved_area_m2(geoms: Iterable[BaseGeometry]) -> float:
    """Ellipsoidal area of the union of ``geoms`` (EPSG:4490): overlaps counted once."""
    parts = [g for g in geoms if g is not None and not g.is_empty]
    if not parts:
        return 0.0
    return ellipsoidal_area_m2(shapely.union_all(shapely.make_valid(parts)))


@dataclass(frozen=True)
class AreaSummary:
    """Per-feature areas with their total and dissolved (overlaps once) area, m²."""

    features: list[dict]
    total_m2: float
    dissolved_m2: float

    @property
    def total_mu(self) -> float:
        """The sum of the features' areas in 亩."""
        return m2_to_mu(self.total_m2)

    @property
    def dissolved_mu(self) -> float:
        """The area of the union of the features in 亩."""
        return m2_to_mu(self.dissolved_m2)

    def as_dict(self) -> dict:
        """The summary as JSON-ready values."""
        return {
            "features": self.features,
            "count": len(self.features),
            "total_m2": round(self.total_m2, 2),
            "total_mu": round(self.total_mu, 4),
            "dissolved_m2": round(self.dissolved_m2, 2),
            "dissolved_mu": round(self.dissolved_mu, 4),
            "overlap_m2": round(self.total_m2 - self.dissolved_m2, 2),
            "method": "ellipsoidal area on the CGCS2000 ellipsoid (a=6378137, f=1/298.257222101)",
        }


def summarize(geoms: list[BaseGeometry], ids: list | None = None) -> AreaSummary:
    """Per-feature ellipsoidal and planar GK areas plus total and dissolved total (EPSG:4490)."""
    feats = []
    total = 0.0
    for i, g in enumerate(geoms):
        a = ellipsoidal_area_m2(g)
        total += a
        feats.append(
            {
                "id": ids[i] if ids is not None else i,
                "area_m2": round(a, 2),
                "area_mu": round(m2_to_mu(a), 4),
                "perimeter_m": round(ellipsoidal_perimeter_m(g), 2),
                "planar_gk_area_m2": round(planar_gk_area_m2(g), 2),
            }
        )
    return AreaSummary(features=feats, total_m2=total, dissolved_m2=dissolved_area_m2(geoms))
