"""Canonical test geometries in EPSG:4490 near the sample township (117.2°E, 39.0°N)."""

from __future__ import annotations

from shapely.geometry import MultiPolygon, Polygon, box

X0, Y0 = 117.20, 39.00

square = box(X0, Y0, X0 + 0.001, Y0 + 0.001)
with_hole = Polygon(
    [(X0, Y0), (X0 + 0.002, Y0), (X0 + 0.002, Y0 + 0.002), (X0, Y0 + 0.002)],
    [
        [
            (X0 + 0.0005, Y0 + 0.0005),
            (X0 + 0.0015, Y0 + 0.0005),
            (X0 + 0.0015, Y0 + 0.0015),
            (X0 + 0.0005, Y0 + 0.0015),
        ]
    ],
)
multipart = MultiPolygon(
    [box(X0, Y0, X0 + 0.0005, Y0 + 0.0005), box(X0 + 0.001, Y0, X0 + 0.0015, Y0 + 0.0005)]
)
clockwise = Polygon(list(square.exterior.coords)[::-1])
bowtie = Polygon([(X0, Y0), (X0 + 0.001, Y0 + 0.001), (X0 + 0.001, Y0), (X0, Y0 + 0.001)])
empty = Polygon()

VALID = {"square": square, "with_hole": with_hole, "multipart": multipart, "clockwise": clockwise}
