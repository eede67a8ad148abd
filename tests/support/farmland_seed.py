"""A small hand-made township for the farmland tests (EPSG:4490, near 117.20°E 39.00°N).

Known layout, so overlaps and rulings have answers one can reason about::

    P1 0101 水田 (永久基本农田)   P2 0102 水浇地 (part under a basic-farmland red line)
    P3 0103 旱地 (part inside approved construction land)    P4 0201 果园
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import (
    AdminArea,
    ChangePatch,
    ClearedParcel,
    FarmlandParcel,
    RedLine,
    Structure,
)

X0, Y0 = 117.20, 39.00


def _m(g: BaseGeometry):
    return from_shape(g if isinstance(g, MultiPolygon) else MultiPolygon([g]), srid=4490)


PARCELS = {
    "P1": (box(X0, Y0, X0 + 0.002, Y0 + 0.0015), "0101", True),
    "P2": (box(X0 + 0.002, Y0, X0 + 0.004, Y0 + 0.0015), "0102", False),
    "P3": (box(X0, Y0 + 0.0015, X0 + 0.004, Y0 + 0.003), "0103", False),
    "P4": (box(X0 + 0.004, Y0, X0 + 0.006, Y0 + 0.003), "0201", False),
}
RED_LINES = {
    "RL-BF-1": ("basic_farmland", box(X0 + 0.0025, Y0 + 0.0005, X0 + 0.0035, Y0 + 0.0012), None),
    "RL-CL-1": (
        "construction_land",
        box(X0 + 0.003, Y0 + 0.002, X0 + 0.0045, Y0 + 0.0035),
        "津规自地〔2023〕12号",
    ),
    "RL-ECO-1": ("ecological", box(X0 - 0.004, Y0 - 0.004, X0 - 0.002, Y0 - 0.002), None),
    "RL-ROAD-1": ("road", box(X0 - 0.0002, Y0, X0 + 0.0002, Y0 + 0.003), None),
}
STRUCTURES = {
    "WJ-001": ("steel_shed", "verified", box(X0 + 0.0005, Y0 + 0.0005, X0 + 0.0008, Y0 + 0.0007)),
    "WJ-002": ("factory", "suspected", box(X0 + 0.0018, Y0 + 0.0002, X0 + 0.0023, Y0 + 0.0006)),
    "WJ-003": ("wall", "demolished", box(X0 + 0.0010, Y0 + 0.0020, X0 + 0.0012, Y0 + 0.0022)),
}
CLEARED = {"QL-001": box(X0 + 0.0015, Y0 + 0.0018, X0 + 0.0025, Y0 + 0.0026)}
#: code → (geometry, ruling, approval_no, detected_on)
PATCHES = {
    # on P1 (cultivated, permanent basic): illegal, 2024
    "BH-2024-01": (
        Polygon(
            [(X0 + 0.0003, Y0 + 0.0003), (X0 + 0.0009, Y0 + 0.0003), (X0 + 0.0006, Y0 + 0.0010)]
        ),
        "illegal",
        None,
        dt.date(2024, 5, 10),
    ),
    # inside approved construction land on P3: legal, 2024
    "BH-2024-02": (
        box(X0 + 0.0032, Y0 + 0.0022, X0 + 0.0038, Y0 + 0.0028),
        "legal",
        "津规自地〔2023〕12号",
        dt.date(2024, 8, 2),
    ),
    # half on P2 (cultivated), half on P4 (orchard): illegal, 2025
    "BH-2025-01": (
        box(X0 + 0.0036, Y0 + 0.0002, X0 + 0.0044, Y0 + 0.0008),
        "illegal",
        None,
        dt.date(2025, 3, 3),
    ),
    # false change on P2, 2025
    "BH-2025-02": (
        box(X0 + 0.0022, Y0 + 0.0002, X0 + 0.0026, Y0 + 0.0005),
        "false_change",
        None,
        dt.date(2025, 4, 1),
    ),
    # ruled other on P3, 2025
    "BH-2025-03": (
        box(X0 + 0.0005, Y0 + 0.0020, X0 + 0.0009, Y0 + 0.0024),
        "other",
        None,
        dt.date(2025, 6, 1),
    ),
    # not ruled yet, on P3, 2025
    "BH-2025-04": (
        box(X0 + 0.0020, Y0 + 0.0027, X0 + 0.0024, Y0 + 0.0029),
        None,
        None,
        dt.date(2025, 7, 1),
    ),
}
TOWN = box(X0 - 0.01, Y0 - 0.01, X0 + 0.02, Y0 + 0.02)


def seed(sessions, *, rulings: bool = True) -> dict[str, int]:
    """Insert the layout; returns ids by code. ``rulings=False`` leaves every patch unruled."""
    with transaction(sessions, "test:seed") as s:
        s.add(AdminArea(code="T1", name="测试镇", level="town", geom=_m(TOWN)))
        s.add(
            AdminArea(
                code="V1",
                name="测试村",
                level="village",
                parent_code="T1",
                geom=_m(box(X0 - 0.01, Y0 - 0.01, X0 + 0.01, Y0 + 0.02)),
            )
        )
        objs: dict[str, object] = {}
        for code, (g, cls, pbf) in PARCELS.items():
            objs[code] = FarmlandParcel(
                patch_code=code,
                land_class=cls,
                is_permanent_basic=pbf,
                village_code="V1",
                owner_collective="测试村股份经济合作社",
                geom=_m(g),
            )
        for code, (kind, g, approval) in RED_LINES.items():
            objs[code] = RedLine(code=code, kind=kind, name=code, approval_no=approval, geom=_m(g))
        for code, (cat, status, g) in STRUCTURES.items():
            objs[code] = Structure(
                case_no=code, category=cat, status=status, village_code="V1", geom=_m(g)
            )
        for code, g in CLEARED.items():
            objs[code] = ClearedParcel(
                parcel_no=code, village_code="V1", restored_use="reclaimed", geom=_m(g)
            )
        for code, (g, ruling, approval, day) in PATCHES.items():
            objs[code] = ChangePatch(
                code=code,
                village_code="V1",
                detected_on=day,
                ruling=ruling if rulings else None,
                approval_no=approval if rulings else None,
                status="ruled" if (rulings and ruling) else "new",
                geom=_m(g),
            )
        s.add_all(objs.values())  # type: ignore[arg-type]
        s.flush()
        ids: dict[str, int] = {code: o.id for code, o in objs.items()}  # type: ignore[attr-defined]
    return ids


def geometry_of(code: str) -> BaseGeometry:
    for table in (PARCELS, RED_LINES, STRUCTURES, PATCHES):
        if code in table:
            row = table[code]
            return next(v for v in row if isinstance(v, BaseGeometry))
    return CLEARED[code]
