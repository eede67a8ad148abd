"""The area engine against PostGIS and pyproj, on known cases, and through ``geo-enforce area``.

Tolerances (also in docs/import.md):
- random polygons: 1e-6 relative against PostGIS ``ST_Area(geography)`` and pyproj's geodesic
  area on the CGCS2000 ellipsoid (the requirement). Observed: within 3.3e-7 on the smallest
  (about 40 m²) polygons, where GeographicLib's area carries about 1e-5 m² of round-off that
  depends on vertex order;
- 1 mu: a latitude/longitude rectangle whose closed-form ellipsoidal area is 2000/3 m² (to the
  2e-8 m² that one ulp of latitude allows); its geodesic-edged polygon differs by the two
  parallel-vs-geodesic slivers (≈ L³·tanφ/12R, 2e-4 m² each, of opposite sign) and by the
  1e-5 m² round-off above, so it must match within 1e-5 m² (1.5e-8 relative);
- a 1 km square drawn in EPSG:4548: planar area exactly 1e6 m². Its ellipsoidal area is derived
  from the transverse Mercator point scale k = cosh(x/R), R² = ρν (see ``_gk_expected``): the
  scale integral plus the slivers of the geodesic edges. Neglected ellipsoidal terms are below
  1e-9 relative at the zone edge; the test allows 2e-9. On the central meridian the two effects
  cancel, and the ellipsoidal area equals the planar 1e6 m² within 1e-11 relative.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon, box
from typer.testing import CliRunner

from geo_enforce.geometry import crs as crs_mod
from geo_enforce.geometry.areas import (
    CGCS2000_A,
    CGCS2000_F,
    dissolved_area_m2,
    ellipsoidal_area_m2,
    m2_to_mu,
    planar_gk_area_m2,
    summarize,
)

E2 = CGCS2000_F * (2 - CGCS2000_F)
_geod = CRS.from_epsg(4490).get_geod()
assert _geod is not None
GEOD_4490 = _geod


# --- random polygons across zone 39 ----------------------------------------------------------


def _star(rng: np.random.Generator, cx: float, cy: float, r_m: float) -> list[tuple]:
    """Star-shaped ring: n >= 5 stratified angles; it holds a disc of 0.15 r around the centre."""
    n = int(rng.integers(5, 14))
    angles = 2 * np.pi * (np.arange(n) + rng.uniform(0, 0.8, n)) / n
    radii = r_m * rng.uniform(0.5, 1.0, n)
    dlat = radii * np.sin(angles) / 111_000
    dlon = radii * np.cos(angles) / (111_000 * math.cos(math.radians(cy)))
    return list(zip(cx + dlon, cy + dlat, strict=True))


def random_polygons(n: int, seed: int = 39) -> list:
    """Star-shaped polygons 115.5–118.5°E, 38.5–40.5°N, 5 m–5 km; holes and multiparts."""
    rng = np.random.default_rng(seed)
    out: list = []
    while len(out) < n:
        cx, cy = rng.uniform(115.52, 118.48), rng.uniform(38.5, 40.5)
        r = float(10 ** rng.uniform(0.7, 3.7))
        kind = len(out) % 4
        outer = _star(rng, cx, cy, r)
        if kind == 1:
            hole = _star(rng, cx, cy, r * 0.12)
            g = Polygon(outer, [hole])
        elif kind == 2:
            dx = 3 * r / (111_000 * math.cos(math.radians(cy)))
            g = MultiPolygon([Polygon(outer), Polygon(_star(rng, cx + dx, cy, r))])
        else:
            g = Polygon(outer)
        if kind == 3:
            g = Polygon(list(g.exterior.coords)[::-1])  # clockwise
        assert g.is_valid
        out.append(g)
    return out


def pyproj_area(g) -> float:
    """Independent sum over rings with pyproj.Geod on the EPSG:4490 ellipsoid."""
    polys = g.geoms if g.geom_type == "MultiPolygon" else [g]
    total = 0.0
    for p in polys:
        lon, lat = p.exterior.coords.xy
        total += abs(GEOD_4490.polygon_area_perimeter(lon, lat)[0])
        for ring in p.interiors:
            lon, lat = ring.coords.xy
            total -= abs(GEOD_4490.polygon_area_perimeter(lon, lat)[0])
    return total


def test_random_polygons_agree_with_postgis_and_pyproj(engine):
    geoms = random_polygons(1200)
    ours = np.array([ellipsoidal_area_m2(g) for g in geoms])
    ref = np.array([pyproj_area(g) for g in geoms])
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute(
                "SELECT ST_Area(ST_GeomFromWKB(w, 4490)::geography, true) "
                "FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(w, i) ORDER BY i",
                ([g.wkb for g in geoms],),
            )
            pg = np.array([r[0] for r in cur.fetchall()])
    finally:
        raw.close()
    assert GEOD_4490.a == CGCS2000_A and GEOD_4490.f == pytest.approx(CGCS2000_F, rel=1e-12)
    assert len(pg) == len(geoms) >= 1000
    assert ours.min() > 10 and ours.max() > 1e7  # tens of m² up to several km²
    np.testing.assert_allclose(ours, pg, rtol=1e-6)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


# --- known cases -----------------------------------------------------------------------------


def latlon_box_area(lat1: float, lat2: float, dlon: float) -> float:
    """Closed-form ellipsoidal area of a latitude/longitude rectangle (degrees in, m² out).

    A = a²(1 − e²)·Δλ·∫ cos φ / (1 − e² sin² φ)² dφ (the derivative of Snyder's authalic q),
    integrated by 5-point Gauss-Legendre: exact to round-off over a few metres of latitude,
    where differencing q itself would cancel away eight digits.
    """
    nodes, weights = np.polynomial.legendre.leggauss(5)
    p1, p2 = math.radians(lat1), math.radians(lat2)
    phi = (p2 - p1) / 2 * nodes + (p1 + p2) / 2
    integrand = np.cos(phi) / (1 - E2 * np.sin(phi) ** 2) ** 2
    integral = float(np.sum(weights * integrand)) * (p2 - p1) / 2
    return CGCS2000_A**2 * (1 - E2) * math.radians(dlon) * integral


def test_one_mu_square_is_666_67_m2():
    lat1 = 39.0
    side = math.sqrt(2000 / 3)
    nu = CGCS2000_A / math.sqrt(1 - E2 * math.sin(math.radians(lat1)) ** 2)
    dlon = math.degrees(side / (nu * math.cos(math.radians(lat1))))
    lo, hi = lat1, lat1 + 0.001  # bisection on the closed form for the northern latitude
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if latlon_box_area(lat1, mid, dlon) < 2000 / 3 else (lo, mid)
    square = box(117.2, lat1, 117.2 + dlon, lo)
    # one ulp of latitude (7e-15°) moves the area by 2e-8 m²: that is as close as floats get
    assert latlon_box_area(lat1, lo, dlon) == pytest.approx(2000 / 3, abs=1e-7)
    area = ellipsoidal_area_m2(square)
    assert area == pytest.approx(666.67, abs=0.005)
    assert area == pytest.approx(2000 / 3, abs=1e-5)
    assert m2_to_mu(area) == pytest.approx(1.0, abs=2e-8)
    assert m2_to_mu(2000 / 3) == 1.0 and m2_to_mu(10_000) == 15.0


def _gk_expected(x1: float, x2: float, height: float, lat: float) -> float:
    """Ellipsoidal area of the geodesic polygon on the corners of a GK rectangle.

    The rectangle spans [x1, x2] (metres from the CM) by ``height``. Transverse Mercator is
    conformal with point scale k = cosh(x/R), R² = ρν, so the region inside the straight
    projected edges has area ∫∫ dx dy / k² = height · R · (tanh(x₂/R) − tanh(x₁/R)). The polygon's
    edges are geodesics, whose images bow towards larger scale (away from the CM) with curvature
    d ln k/dx = tanh(x/R)/R: each north-south edge adds (or removes) a sliver of height³·κ/12 in
    the plane, i.e. height³·tanh(x/R)/(12 R k²) on the ellipsoid.
    """
    s2 = math.sin(math.radians(lat)) ** 2
    rho = CGCS2000_A * (1 - E2) / (1 - E2 * s2) ** 1.5
    nu = CGCS2000_A / math.sqrt(1 - E2 * s2)
    r = math.sqrt(rho * nu)

    def sliver(x: float) -> float:
        return math.tanh(x / r) / math.cosh(x / r) ** 2

    inside = height * r * (math.tanh(x2 / r) - math.tanh(x1 / r))
    return inside + height**3 / (12 * r) * (sliver(x2) - sliver(x1))


@pytest.mark.parametrize("offset_km", [0, 130], ids=["central-meridian", "zone-edge"])
def test_one_km_square_in_epsg4548(offset_km):
    false_easting, northing = 500_000.0, 4_317_000.0  # about 39.0°N on 117°E
    x1 = -500.0 + offset_km * 1000
    square = box(false_easting + x1, northing, false_easting + x1 + 1000, northing + 1000)
    assert square.area == 1_000_000.0  # planar, exactly
    geo = crs_mod.transform_geometry(square, crs_mod.GK39_CM117)
    _, lat = crs_mod.transformer(4548, 4490).transform(false_easting + x1 + 500, northing + 500)
    expected = _gk_expected(x1, x1 + 1000, 1000.0, lat)
    area = ellipsoidal_area_m2(geo)
    assert area == pytest.approx(expected, rel=2e-9)
    assert planar_gk_area_m2(geo) == pytest.approx(1_000_000.0, rel=1e-9)
    if offset_km == 0:
        # on the CM the scale deficit (x²/3R² ≈ 2e-9) and the bowing edges cancel
        assert area == pytest.approx(1_000_000.0, rel=1e-11)
    else:
        assert 3e-4 < 1 - area / 1e6 < 5e-4  # k² - 1 ≈ x²/R² ≈ 0.04 % at 130 km


def test_dissolved_counts_overlap_once():
    a = box(117.2, 39.0, 117.202, 39.002)
    b = box(117.201, 39.0, 117.203, 39.002)
    s = summarize([a, b], ids=["a", "b"])
    assert s.total_m2 == pytest.approx(ellipsoidal_area_m2(a) + ellipsoidal_area_m2(b))
    assert s.dissolved_m2 == pytest.approx(ellipsoidal_area_m2(a.union(b)), rel=1e-12)
    assert dissolved_area_m2([a, b]) < s.total_m2


# --- CLI -------------------------------------------------------------------------------------


def test_cli_area_json_for_a_gk_file(tmp_path):
    from geo_enforce.cli import app

    big = box(499_500, 4_317_000, 500_500, 4_318_000)
    small = box(500_000, 4_317_500, 500_600, 4_318_100)
    gpkg = tmp_path / "gk.gpkg"
    gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=[big, small], crs=4548).to_file(gpkg)
    res = CliRunner().invoke(app, ["area", str(gpkg)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    geos = [crs_mod.transform_geometry(g, 4548) for g in (big, small)]
    expected = [ellipsoidal_area_m2(g) for g in geos]
    assert [f["area_m2"] for f in data["features"]] == [round(a, 2) for a in expected]
    assert [f["area_mu"] for f in data["features"]] == [round(a * 3 / 2000, 4) for a in expected]
    assert data["total_m2"] == pytest.approx(sum(expected), abs=0.01)
    assert data["total_mu"] == pytest.approx(sum(expected) * 3 / 2000, abs=1e-4)
    assert data["dissolved_m2"] == pytest.approx(dissolved_area_m2(geos), abs=0.01)
    assert data["total_m2"] - data["dissolved_m2"] == pytest.approx(250_000, rel=1e-3)

    shp = tmp_path / "noprj.shp"
    gpd.GeoDataFrame(geometry=[big], crs=4548).to_file(shp)
    shp.with_suffix(".prj").unlink()
    refused = CliRunner().invoke(app, ["area", str(shp)])
    assert refused.exit_code != 0 and "no coordinate reference system" in str(refused.exception)
    res = CliRunner().invoke(app, ["area", str(shp), "--crs", "4548"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["total_m2"] == pytest.approx(expected[0], abs=0.01)
