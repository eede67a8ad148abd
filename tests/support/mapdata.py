"""A small ledger for the map, tile and browser tests: two villages, every layer, two flights.

Geometries in EPSG:4490 near 117.20°E 39.00°N; flights are synthetic RGB COGs (EPSG:4548,
Gauss-Krüger zone 39) written under ``data_dir``; the change patch carries before/after chips.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from geoalchemy2.shape import from_shape
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import MultiLineString, MultiPolygon, box
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.storage import models as m
from geo_enforce.storage.engine import transaction

X0, Y0 = 117.20, 39.00
#: the structure the browser test clicks: a 40 m × 40 m-ish block in village 001
CLICK_CASE = "XQ-2024-0007"
CLICK_BOX = (X0 + 0.0040, Y0 + 0.0040, X0 + 0.0045, Y0 + 0.0044)


def mp(minx: float, miny: float, maxx: float, maxy: float):
    return from_shape(MultiPolygon([box(minx, miny, maxx, maxy)]), srid=4490)


@dataclass
class Seeded:
    structure_ids: dict[str, int]
    flight_ids: list[int]
    patch_id: int
    data_dir: Path


def write_cog(path: Path, bounds_lonlat, *, tint: tuple[int, int, int], gsd: float = 2.0) -> tuple:
    """An RGB COG in EPSG:4548 covering ``bounds_lonlat``: a tinted field with a grid pattern."""
    to_gk = Transformer.from_crs(4490, 4548, always_xy=True)
    w, s = to_gk.transform(bounds_lonlat[0], bounds_lonlat[1])
    e, n = to_gk.transform(bounds_lonlat[2], bounds_lonlat[3])
    width, height = int((e - w) / gsd), int((n - s) / gsd)
    yy, xx = np.mgrid[0:height, 0:width]
    pattern = (((xx // 40) + (yy // 40)) % 2).astype(np.uint8) * 60
    data = np.stack([np.clip(c + pattern, 0, 255).astype(np.uint8) for c in tint])
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:4548",
        transform=from_origin(w, n, gsd, gsd),
        nodata=None,
    ) as dst:
        dst.write(data)
    return width, height


def seed_ledger(factory: sessionmaker[Session], data_dir: Path, *, flights: bool = True) -> Seeded:
    data_dir = Path(data_dir)
    with transaction(factory, "test:map") as s:
        s.add(
            m.AdminArea(
                code="120111100",
                name="测试镇",
                level="town",
                geom=mp(X0 - 0.001, Y0 - 0.001, X0 + 0.021, Y0 + 0.011),
            )
        )
        s.add(
            m.AdminArea(
                code="120111100001",
                name="大任庄村",
                level="village",
                parent_code="120111100",
                geom=mp(X0, Y0, X0 + 0.01, Y0 + 0.01),
            )
        )
        s.add(
            m.AdminArea(
                code="120111100002",
                name="小南河村",
                level="village",
                parent_code="120111100",
                geom=mp(X0 + 0.01, Y0, X0 + 0.02, Y0 + 0.01),
            )
        )
        kinds = [
            "construction_land",
            "road",
            "ecological",
            "basic_farmland",
            "river_blue",
            "urban_boundary",
        ]
        for i, kind in enumerate(kinds):
            x = X0 + 0.0005 + i * 0.003
            s.add(
                m.RedLine(
                    code=f"RL-{i}",
                    kind=kind,
                    name=f"红线{i}",
                    geom=mp(x, Y0 + 0.0065, x + 0.0025, Y0 + 0.0095),
                )
            )
        # a gas main 200 m south of everything: every collection has a record, no 占压 hit
        s.add(
            m.Pipeline(
                code="GAS-1",
                kind="gas",
                name="燃气干管",
                geom=from_shape(
                    MultiLineString([[(X0, Y0 - 0.002), (X0 + 0.02, Y0 - 0.002)]]), srid=4490
                ),
            )
        )
        for i, cls in enumerate(["0101", "0102", "0103"]):
            x = X0 + 0.011 + i * 0.003
            s.add(
                m.FarmlandParcel(
                    patch_code=f"FP-{i}",
                    land_class=cls,
                    is_permanent_basic=(i == 0),
                    village_code="120111100002",
                    geom=mp(x, Y0 + 0.0005, x + 0.0025, Y0 + 0.0035),
                )
            )
        s.add(
            m.ClearedParcel(
                parcel_no="CP-001",
                village_code="120111100002",
                prior_use="废品收购站",
                cleared_on=dt.date(2024, 3, 1),
                restored_use="reclaimed",
                geom=mp(X0 + 0.012, Y0 + 0.005, X0 + 0.016, Y0 + 0.008),
            )
        )
        statuses = [
            "suspected",
            "verified",
            "notice_served",
            "demolished",
            "rectified",
            "legalized",
            "dismissed",
        ]
        cats = ["villa", "factory", "steel_shed", "wall", "gate", "courtyard", "carport"]
        for i, (st, cat) in enumerate(zip(statuses, cats, strict=True)):
            x = X0 + 0.0005 + i * 0.0012
            s.add(
                m.Structure(
                    case_no=f"XQ-2024-{i:04d}",
                    village_code="120111100001",
                    category=cat,
                    status=st,
                    floors=1 + i % 3,
                    discovered_on=dt.date(2023 + i % 2, 6, 1),
                    geom=mp(x, Y0 + 0.0010, x + 0.0008, Y0 + 0.0018),
                )
            )
        s.add(
            m.Structure(
                case_no=CLICK_CASE,
                village_code="120111100001",
                category="villa",
                status="notice_served",
                floors=2,
                discovered_on=dt.date(2024, 8, 1),
                notice_on=dt.date(2024, 9, 1),
                address="大任庄村东街7号",
                geom=mp(*CLICK_BOX),
            )
        )
        s.flush()
        flight_ids: list[int] = []
        if flights:
            fb = (X0 - 0.0005, Y0 - 0.0005, X0 + 0.0205, Y0 + 0.0105)
            for name, day, tint in (
                ("F2023", dt.date(2023, 10, 1), (40, 120, 40)),
                ("F2024", dt.date(2024, 10, 1), (150, 110, 60)),
            ):
                path = data_dir / "flights" / f"{name}.tif"
                width, height = write_cog(path, fb, tint=tint)
                f = m.Flight(
                    name=name,
                    flown_on=day,
                    gsd_m=2.0,
                    ortho_path=str(path.relative_to(data_dir)),
                    crs="EPSG:4548",
                    width=width,
                    height=height,
                    band_count=3,
                    footprint=mp(*fb),
                )
                s.add(f)
                s.flush()
                flight_ids.append(f.id)
        chips = data_dir / "chips"
        chips.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (40, 120, 40)).save(chips / "p1_before.png")
        Image.new("RGB", (64, 64), (200, 60, 60)).save(chips / "p1_after.png")
        patch = m.ChangePatch(
            code="CP-2024-0001",
            village_code="120111100001",
            before_flight_id=flight_ids[0] if flight_ids else None,
            after_flight_id=flight_ids[1] if flight_ids else None,
            confidence=0.91,
            height_gain_max_m=3.4,
            rule_hits=[
                {
                    "code": "outside_construction_land",
                    "label": "新增建设占用非建设用地",
                    "area_m2": 812.5,
                },
                "basic_farmland",
            ],
            suggested_ruling="illegal",
            status="new",
            chip_before="p1_before.png",
            chip_after="p1_after.png",
            detected_on=dt.date(2024, 10, 2),
            geom=mp(X0 + 0.0060, Y0 + 0.0025, X0 + 0.0068, Y0 + 0.0032),
        )
        s.add(patch)
        s.flush()
        ids = {st.case_no: st.id for st in s.query(m.Structure).all()}
        return Seeded(
            structure_ids=ids, flight_ids=flight_ids, patch_id=patch.id, data_dir=data_dir
        )
