"""GCJ-02/BD-09 conversions and coordinate plausibility checks."""

from __future__ import annotations

import numpy as np
import pytest

from geo_enforce.errors import CRSError
from geo_enforce.geometry import crs

LON = np.array([117.2, 117.15, 116.4, 121.47])
LAT = np.array([39.0, 38.98, 39.9, 31.23])


def _metres(lon1, lat1, lon2, lat2):
    from pyproj import Geod

    return Geod(ellps="GRS80").inv(lon1, lat1, lon2, lat2)[2]


def test_gcj02_round_trip_under_a_millimetre_and_offset_is_hundreds_of_metres():
    glon, glat = crs.wgs84_to_gcj02(LON, LAT)
    assert np.all(_metres(LON, LAT, glon, glat) > 100)
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    assert np.all(_metres(LON, LAT, wlon, wlat) < 1e-3)


def test_bd09_round_trip_under_a_millimetre():
    blon, blat = crs.gcj02_to_bd09(*crs.wgs84_to_gcj02(LON, LAT))
    wlon, wlat = crs.bd09_to_wgs84(blon, blat)
    assert np.all(_metres(LON, LAT, wlon, wlat) < 1e-3)


def test_outside_china_unchanged():
    lon, lat = crs.wgs84_to_gcj02(np.array([2.35]), np.array([48.85]))
    assert lon[0] == 2.35 and lat[0] == 48.85


@pytest.mark.parametrize(
    ("bounds", "fragment"),
    [
        ((39.0, 117.1, 39.1, 117.3), "swapped"),
        ((517000, 4317000, 518000, 4318000), "look projected"),
        ((2.3, 48.8, 2.4, 48.9), "outside China"),
    ],
)
def test_plausibility_messages(bounds, fragment):
    with pytest.raises(CRSError, match=fragment):
        crs.check_geographic_bounds(bounds, "f.shp")


def test_plausible_bounds_pass():
    crs.check_geographic_bounds((117.1, 38.9, 117.3, 39.1), "f.shp")
