"""A small synthetic ledger for the report tests, and totals computed without the database.

The ledger has two villages, a community, a grid zone, red lines, structures of every category
(some overlapping, one exact duplicate, a multipart and a holed polygon), cleared parcels and
change patches. ``expected_totals`` recomputes grouped totals from the Python records with
pyproj's geodesic polygon area on the CGCS2000 ellipsoid (per feature, summed) and shapely's
union (dissolved): independent of the SQL under test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AdminArea, ChangePatch, ClearedParcel, RedLine, Structure
from tests.support.geometries import X0, Y0, multipart, with_hole

_geod = CRS.from_epsg(4490).get_geod()
assert _geod is not None
GEOD = _geod
# the independent check really is on the CGCS2000 ellipsoid (not WGS 84 or a sphere)
assert GEOD.a == 6378137.0 and abs(GEOD.f - 1 / 298.257222101) < 1e-15, (GEOD.a, GEOD.f)

TOWN, V1, V2, C1, G1 = "T01", "T01V1", "T01V2", "T01C1", "T01G1"
VILLAGE_BOXES = {
    V1: box(X0, Y0, X0 + 0.02, Y0 + 0.02),
    V2: box(X0 + 0.02, Y0, X0 + 0.035, Y0 + 0.02),
    C1: box(X0 + 0.035, Y0, X0 + 0.04, Y0 + 0.02),
}
TOWN_BOX = box(X0, Y0, X0 + 0.04, Y0 + 0.02)
GRID_BOX = box(X0, Y0, X0 + 0.027, Y0 + 0.02)
FARMLAND_BOX = box(X0 + 0.005, Y0 + 0.004, X0 + 0.03, Y0 + 0.012)
CATEGORIES = ("villa", "factory", "steel_shed", "wall", "gate", "courtyard", "carport", "other")
STATUSES = ("suspected", "verified", "notice_served", "demolished", "rectified")


def geod_area(geom) -> float:
    """Ellipsoidal area (m²) on CGCS2000 per polygon part, holes subtracted."""
    parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    total = 0.0
    for p in parts:
        area, _ = GEOD.geometry_area_perimeter(orient(p, sign=1.0))
        total += area
    return total


def _multi(g) -> MultiPolygon:
    return g if isinstance(g, MultiPolygon) else MultiPolygon([g])


def _rect(cx: float, cy: float, w_m: float, h_m: float) -> Polygon:
    dx, dy = w_m / 86_500.0, h_m / 111_000.0  # metres → degrees near 39°N
    return box(cx - dx / 2, cy - dy / 2, cx + dx / 2, cy + dy / 2)


def build_records(seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Plain records (dicts with shapely ``geom``) for each layer."""
    rng = np.random.default_rng(seed)
    structures: list[dict[str, Any]] = []

    def add(geom, **kw):
        rec = {
            "case_no": f"WJ-{len(structures) + 1:03d}",
            "village_code": V1,
            "category": "other",
            "status": "suspected",
            "floors": 1,
            "households": 0,
            "discovered_on": None,
            "demolished_on": None,
            "floor_area_measured_m2": None,
            "geom": geom,
        }
        rec.update(kw)
        structures.append(rec)
        return rec

    codes = [V1, V2, C1, None]
    for i in range(40):
        code = codes[i % 4]
        frame = VILLAGE_BOXES.get(code, TOWN_BOX) if code else TOWN_BOX
        minx, miny, maxx, maxy = frame.bounds
        cx = rng.uniform(minx + 0.001, maxx - 0.001)
        cy = rng.uniform(miny + 0.001, maxy - 0.001)
        cat = CATEGORIES[i % len(CATEGORIES)]
        status = STATUSES[int(rng.integers(0, len(STATUSES)))]
        discovered = dt.date(2022, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1000)))
        demolished = None
        if status == "demolished":
            demolished = min(
                discovered + dt.timedelta(days=int(rng.integers(20, 300))), dt.date(2024, 12, 31)
            )
        add(
            _rect(cx, cy, rng.uniform(8, 40), rng.uniform(8, 40)),
            village_code=code,
            category=cat,
            status=status,
            floors=int(rng.integers(1, 4)),
            households=(2 if i % 16 == 0 else 1) if cat == "villa" else 0,
            discovered_on=discovered,
            demolished_on=demolished,
            floor_area_measured_m2=123.4 if i % 11 == 5 else None,
        )
    # overlapping demolished villas in V1 in 2024: a half-overlapping pair and an exact duplicate
    a = _rect(X0 + 0.010, Y0 + 0.008, 30, 20)
    b = shapely.affinity.translate(a, xoff=15 / 86_500.0)
    for g, d in ((a, 3), (b, 5), (a, 7)):
        add(
            g, village_code=V1, category="villa", status="demolished", floors=2, households=1,
            discovered_on=dt.date(2023, 11, d), demolished_on=dt.date(2024, 5, d),
        )  # fmt: skip
    # a multipart factory and a holed courtyard, demolished in 2024 in V1 (on farmland)
    add(
        multipart, village_code=V1, category="factory", status="demolished",
        discovered_on=dt.date(2023, 2, 1), demolished_on=dt.date(2024, 3, 15),
    )  # fmt: skip
    add(
        shapely.affinity.translate(with_hole, xoff=0.008, yoff=0.005), village_code=V1,
        category="courtyard", status="demolished", discovered_on=dt.date(2024, 1, 5),
        demolished_on=dt.date(2024, 8, 20),
    )  # fmt: skip
    # a shed straddling the edge of the permanent basic farmland: partly on it
    add(
        _rect(X0 + 0.005, Y0 + 0.008, 60, 30), village_code=V1, category="steel_shed",
        status="demolished", discovered_on=dt.date(2023, 4, 2), demolished_on=dt.date(2024, 4, 9),
    )  # fmt: skip
    # a retired record that must never count
    add(
        _rect(X0 + 0.015, Y0 + 0.01, 50, 50), village_code=V1, category="factory",
        status="demolished", demolished_on=dt.date(2024, 6, 1), retired=True,
    )  # fmt: skip

    cleared: list[dict[str, Any]] = []
    for i in range(14):
        code = (V1, V2, C1)[i % 3]
        minx, miny, maxx, maxy = VILLAGE_BOXES[code].bounds
        cx, cy = rng.uniform(minx + 0.002, maxx - 0.002), rng.uniform(miny + 0.002, maxy - 0.002)
        g = _rect(cx, cy, rng.uniform(30, 120), rng.uniform(30, 120))
        cleared.append(
            {
                "parcel_no": f"TT-{i + 1:03d}",
                "village_code": code,
                "cleared_on": dt.date(2023 + i % 2, 1 + i % 12, 10),
                "restored_use": ("reclaimed", "greened", "vacant")[i % 3],
                "geom": g,
            }
        )
    # an overlapping pair in V2 in 2024
    base = _rect(X0 + 0.025, Y0 + 0.015, 80, 60)
    for k, g in enumerate((base, shapely.affinity.translate(base, yoff=30 / 111_000.0))):
        cleared.append(
            {
                "parcel_no": f"TT-OV{k}", "village_code": V2, "cleared_on": dt.date(2024, 9, 1),
                "restored_use": "reclaimed", "geom": g,
            }
        )  # fmt: skip

    patches: list[dict[str, Any]] = []
    rulings = ("legal", "illegal", "illegal", "false_change", None, "other")
    for i in range(12):
        code = (V1, V2)[i % 2]
        minx, miny, maxx, maxy = VILLAGE_BOXES[code].bounds
        cx, cy = rng.uniform(minx + 0.002, maxx - 0.002), rng.uniform(miny + 0.002, maxy - 0.002)
        patches.append(
            {
                "code": f"BH-{i + 1:03d}",
                "village_code": code,
                "ruling": rulings[i % len(rulings)],
                "change_kind": "still_standing" if i % 4 == 3 else "new",
                "status": "ruled" if rulings[i % len(rulings)] else "new",
                "detected_on": dt.date(2024, 1 + i, 3) if i < 12 else None,
                "geom": _rect(cx, cy, rng.uniform(10, 50), rng.uniform(10, 50)),
            }
        )
    return {"structure": structures, "cleared_parcel": cleared, "change_patch": patches}


def load(factory, records: dict[str, list[dict[str, Any]]]) -> None:
    """Insert the admin areas, red lines and ``records`` through the ORM (audited)."""
    with transaction(factory, "test:reports") as s:
        s.add(
            AdminArea(
                code=TOWN, name="测试镇", level="town", geom=from_shape(_multi(TOWN_BOX), 4490)
            )
        )
        for code, name, lvl in ((V1, "大任庄村", "village"), (V2, "周庄子村", "village"),
                                (C1, "锦园社区", "community")):  # fmt: skip
            s.add(
                AdminArea(
                    code=code, name=name, level=lvl, parent_code=TOWN,
                    geom=from_shape(_multi(VILLAGE_BOXES[code]), 4490),
                )
            )  # fmt: skip
        s.add(AdminArea(code=G1, name="第一网格", level="grid", parent_code=TOWN,
                        geom=from_shape(_multi(GRID_BOX), 4490)))  # fmt: skip
        s.add(
            RedLine(
                code="JBNT-1", kind="basic_farmland", geom=from_shape(_multi(FARMLAND_BOX), 4490)
            )
        )
        s.add(
            RedLine(
                code="JSYD-1", kind="construction_land",
                geom=from_shape(_multi(box(X0 + 0.03, Y0, X0 + 0.04, Y0 + 0.02)), 4490),
            )
        )  # fmt: skip
        models = {
            "structure": Structure,
            "cleared_parcel": ClearedParcel,
            "change_patch": ChangePatch,
        }
        for layer, recs in records.items():
            for r in recs:
                kw = {k: v for k, v in r.items() if k not in ("geom", "retired")}
                row: Any = models[layer](geom=from_shape(_multi(r["geom"]), 4490), **kw)
                if r.get("retired"):
                    row.retired_at = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
                    row.retired_by = "test"
                    row.retire_reason = "duplicate entry"
                s.add(row)


def expected_totals(
    records: list[dict[str, Any]],
    where: Callable[[dict[str, Any]], bool],
    key: Callable[[dict[str, Any]], tuple],
    *,
    measure: str = "footprint",
) -> dict[tuple, dict[str, Any]]:
    """Per group (and ``()`` for the whole): count, households (villas), sum and dissolved m²."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    chosen = [r for r in records if not r.get("retired") and where(r)]
    for r in chosen:
        if key(r) != ():  # () means no grouping: the total only
            groups[key(r)].append(r)
    groups[("__total__",)] = chosen

    def value(r):
        a = geod_area(r["geom"])
        if measure == "floor":
            return r["floor_area_measured_m2"] or a * r["floors"]
        return a

    out = {}
    for k, rs in groups.items():
        villas = [r for r in rs if r.get("category") == "villa"]
        out[k] = {
            "count": len(rs),
            "households": sum(r["households"] for r in villas) if villas else None,
            "area_m2": sum(value(r) for r in rs),
            "dissolved_m2": geod_area(shapely.union_all([r["geom"] for r in rs])) if rs else 0.0,
        }
    return out


def in_year(field: str, year: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r.get(field) is not None and r[field].year == year


def point_in(frame) -> Callable[[dict[str, Any]], bool]:
    return lambda r: frame.contains(r["geom"].point_on_surface())


def on_farmland(r: dict[str, Any]) -> bool:
    return r["geom"].relate_pattern(FARMLAND_BOX, "T********")
