"""Source layers for the import/export tests, built in memory and written to tmp files.

Structures with Chinese column names and Chinese vocabulary labels, as a bureau's spreadsheet or
shapefile has them; geometries in EPSG:4490 near 117.2°E 39.0°N (squares, one with a hole, one
multipart).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import MultiPolygon, Polygon, box

X0, Y0 = 117.2, 39.0


def structure_geoms(n: int, *, x0: float = X0, y0: float = Y0) -> list:
    geoms: list = []
    for i in range(n):
        x = x0 + 0.0004 * (i % 10) + 0.00001 * i
        y = y0 + 0.0004 * (i // 10) + 0.000003 * i
        if i % 7 == 3:
            outer = [(x, y), (x + 0.0003, y), (x + 0.0003, y + 0.0003), (x, y + 0.0003)]
            hole = [
                (x + 0.0001, y + 0.0001),
                (x + 0.0002, y + 0.0001),
                (x + 0.0002, y + 0.0002),
                (x + 0.0001, y + 0.0002),
            ]
            geoms.append(Polygon(outer, [hole]))
        elif i % 7 == 5:
            geoms.append(
                MultiPolygon(
                    [box(x, y, x + 0.0001, y + 0.0001), box(x + 0.0002, y, x + 0.0003, y + 0.0001)]
                )
            )
        else:
            geoms.append(box(x, y, x + 0.00012345678901, y + 0.0001 + 1e-7 * i))
    return geoms


CATEGORIES_ZH = ["违建别墅", "厂房", "彩钢房", "围墙", "二道门", "小院", "车棚", "其他"]
STATUSES_ZH = ["疑似", "已核实", "责令限期拆除", "已拆除"]


def structures(n: int = 12, *, prefix: str = "WJ-2024-") -> gpd.GeoDataFrame:
    """Structures as a bureau keeps them: Chinese column names and labels."""
    return gpd.GeoDataFrame(
        {
            "案件编号": [f"{prefix}{i + 1:03d}" for i in range(n)],
            "违建类别": [CATEGORIES_ZH[i % len(CATEGORIES_ZH)] for i in range(n)],
            "层数": [1 + i % 3 for i in range(n)],
            "地址": [f"大任庄村{i + 1}号院东侧" for i in range(n)],
            "状态": [STATUSES_ZH[i % len(STATUSES_ZH)] for i in range(n)],
            "发现日期": [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
            "备注": ["群众举报" if i % 2 else None for i in range(n)],
        },
        geometry=structure_geoms(n),
        crs=4490,
    )


def write(gdf: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    gdf.to_file(path, **kwargs)
    return path
