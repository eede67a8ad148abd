"""The squad's field map (folium): served page and self-contained offline export.

Library code only: ``api/routers/map.py`` serves :func:`served_map_html`, the CLI's
``geo-enforce map`` and the demo call :func:`export_offline_map` / :func:`write_sample_map`.
"""

from geo_enforce.webmap.builder import MapRoutes
from geo_enforce.webmap.export import (
    export_offline_map,
    offline_map_html,
    served_map_html,
    write_sample_map,
)

__all__ = [
    "MapRoutes",
    "export_offline_map",
    "offline_map_html",
    "served_map_html",
    "write_sample_map",
]
