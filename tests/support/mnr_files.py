"""Ministry patch files (卫片图斑) written per test with pyogrio, and the ledger they fall in."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box

from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AdminArea, RedLine
from tests.support.geometries import X0, Y0

#: a patch half outside approved construction land (→ 违法 suggested) and one wholly inside
OUTSIDE = box(X0 + 0.0005, Y0, X0 + 0.0015, Y0 + 0.0005)
INSIDE = box(X0 + 0.0001, Y0 + 0.0006, X0 + 0.0004, Y0 + 0.0009)
THIRD = box(X0 + 0.0001, Y0 + 0.0001, X0 + 0.0003, Y0 + 0.0003)


def seed_village(factory) -> None:
    """One village (王村) over the patches and approved construction land over its west half."""
    with transaction(factory, "test") as s:
        s.add(
            AdminArea(
                code="120111001001",
                name="王村",
                level="village",
                geom=from_shape(MultiPolygon([box(X0, Y0, X0 + 0.002, Y0 + 0.002)]), srid=4490),
            )
        )
        s.add(
            RedLine(
                code="JSYD-1",
                kind="construction_land",
                geom=from_shape(MultiPolygon([box(X0, Y0, X0 + 0.001, Y0 + 0.002)]), srid=4490),
            )
        )


def write_patches(
    path: Path,
    rows: list[dict],
    geoms: list,
    *,
    encoding: str = "UTF-8",
    crs: int | None = 4490,
) -> Path:
    """Write ``rows`` (column → value) with ``geoms`` as a file pyogrio picks by suffix."""
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)
    kwargs = {"encoding": encoding} if path.suffix == ".shp" else {}
    pyogrio.write_dataframe(gdf, path, **kwargs)
    return path


def gbk_rows() -> list[dict]:
    """Two patches with the ministry's Chinese column names (GBK keeps them within 10 bytes)."""
    return [
        {
            "图斑编号": "1201112024Q30001",
            "行政区代码": "120111",
            "行政区名称": "西青区",
            "监测面积": 0.65,
            "前时相": "2024-03-01",
            "后时相": "2024-08-15",
            "变化类型": "新增建设",
        },
        {
            "图斑编号": "1201112024Q30002",
            "行政区代码": "120111",
            "行政区名称": "西青区",
            "监测面积": 0.2,
            "前时相": "20240301",
            "后时相": "20240820",
            "变化类型": "新增建设",
        },
    ]
