"""Map tiles: Mapbox vector tiles straight from PostGIS and orthophoto XYZ tiles from COGs.

Library code only (no web framework): the API's ``/tiles`` router and the benchmarks call it.
"""

from geo_enforce.tiles.mvt import MVT_LAYERS, render_mvt, tile_bounds_lonlat
from geo_enforce.tiles.ortho import (
    FlightImage,
    empty_tile,
    flight_image,
    ortho_overview,
    render_ortho_tile,
)

__all__ = [
    "MVT_LAYERS",
    "FlightImage",
    "empty_tile",
    "flight_image",
    "ortho_overview",
    "render_mvt",
    "render_ortho_tile",
    "tile_bounds_lonlat",
]
