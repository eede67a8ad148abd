"""Two townships side by side for the scoping tests: a town (A) west of 117.20°E and a
subdistrict (B) east of it, each with a village, structures, a cleared parcel and a change
patch; a line of structures near the border so one z15 tile holds records of both.

Geometries in EPSG:4490 near 117.20°E 39.00°N (small squares, about 40 m).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.storage import models as m
from geo_enforce.storage.engine import transaction

A, B = "120111100", "120116100"
A_NAME, B_NAME = "测试镇", "滨海测试街道"
VA, VB = "120111100201", "120116100001"
X0, Y0 = 117.20, 39.00


def mp(minx: float, miny: float, maxx: float, maxy: float):
    return from_shape(MultiPolygon([box(minx, miny, maxx, maxy)]), srid=4490)


def sq(x: float, y: float, d: float = 0.0004):
    """A square of side ``d`` degrees (about 35 m × 45 m) with its lower-left corner at x, y."""
    return mp(x, y, x + d, y + d)


@dataclass
class TwoTownships:
    ids: dict[str, int]  # case / parcel / patch code → id


def seed_towns(factory: sessionmaker[Session], *, only_a: bool = False) -> None:
    """The town A (and, unless ``only_a``, the subdistrict B), each with one village."""
    with transaction(factory, "test:towns") as s:
        s.add(m.AdminArea(code=A, name=A_NAME, level="town", parent_code="120111",
                          geom=mp(X0 - 0.02, Y0 - 0.01, X0, Y0 + 0.01)))  # fmt: skip
        s.add(m.AdminArea(code=VA, name="甲村", level="village", parent_code=A,
                          geom=mp(X0 - 0.02, Y0 - 0.01, X0, Y0 + 0.01)))  # fmt: skip
        if not only_a:
            s.add(m.AdminArea(code=B, name=B_NAME, level="town", parent_code="120116",
                              geom=mp(X0, Y0 - 0.01, X0 + 0.02, Y0 + 0.01)))  # fmt: skip
            s.add(m.AdminArea(code=VB, name="天润社区", level="community", parent_code=B,
                              geom=mp(X0, Y0 - 0.01, X0 + 0.02, Y0 + 0.01)))  # fmt: skip


def _structure(s: Session, case_no: str, geom, village: str, **kw) -> m.Structure:
    st = m.Structure(case_no=case_no, village_code=village, category="steel_shed", geom=geom, **kw)
    s.add(st)
    return st


def seed_two_townships(factory: sessionmaker[Session]) -> TwoTownships:
    """Towns A and B with their records (see the module doc); ids by code."""
    seed_towns(factory)
    gone = {
        "status": "demolished",
        "demolished_on": dt.date(2024, 5, 1),
        "discovered_on": dt.date(2024, 1, 10),
    }
    found = {"discovered_on": dt.date(2024, 2, 1)}
    march = dt.date(2024, 3, 1)
    with transaction(factory, "test:records") as s:
        # near the border: one z15 tile around 117.20°E holds SA-1, SA-2 and SB-1
        rows: dict[str, m.Base] = {
            "SA-1": _structure(s, "SA-1", sq(X0 - 0.0020, Y0 + 0.0010), VA, **gone),
            "SA-2": _structure(s, "SA-2", sq(X0 - 0.0012, Y0 + 0.0010), VA, **gone),
            "SB-1": _structure(s, "SB-1", sq(X0 + 0.0008, Y0 + 0.0010), VB, **gone),
            "SB-2": _structure(s, "SB-2", sq(X0 + 0.0100, Y0 - 0.0050), VB, **found),
            "CA-1": m.ClearedParcel(
                parcel_no="CA-1", village_code=VA, cleared_on=march, geom=sq(X0 - 0.008, Y0, 0.001)
            ),
            "CB-1": m.ClearedParcel(
                parcel_no="CB-1", village_code=VB, cleared_on=march, geom=sq(X0 + 0.008, Y0, 0.001)
            ),
            "PB-1": m.ChangePatch(
                code="PB-1", village_code=VB, detected_on=march, geom=sq(X0 + 0.005, Y0 + 0.005)
            ),
        }
        for row in rows.values():
            s.add(row)
        s.flush()
        ids = {code: int(row.id) for code, row in rows.items()}  # type: ignore[attr-defined]
    return TwoTownships(ids=ids)
