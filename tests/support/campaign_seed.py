"""A small ledger for the campaign tests: a town with two villages (王村, 大任庄村), a gas line
(meridian segment, own distance none: the catalogue's 5 m), villas and a shed at known metres
from it, some demolished in 2024, one before, one dismissed."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from geo_enforce.io.importer import import_frame
from geo_enforce.ledger import edits as ledger
from geo_enforce.ledger import lifecycle
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AdminArea
from tests.support.geometries import X0, Y0

GEOD = Geod(ellps="GRS80")
TOWN, WANG, DAREN = "120111100", "120111100203", "120111100201"
LON, YMID = X0 + 0.01, Y0 + 0.005
START, END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


def near_line(distance_m: float, north_m: float = 0.0, size_m: float = 10.0) -> Polygon:
    """A square ``distance_m`` east of the gas line, ``north_m`` north of YMID."""
    _, y, _ = GEOD.fwd(LON, YMID, 0.0, north_m) if north_m else (LON, YMID, 0)
    w, _, _ = GEOD.fwd(LON, y, 90.0, distance_m)
    e, _, _ = GEOD.fwd(LON, y, 90.0, distance_m + size_m)
    _, n, _ = GEOD.fwd(LON, y, 0.0, size_m)
    return box(w, y, e, n)


def seed(factory) -> dict[str, int]:
    """A town with two villages, a gas line, and villas and a shed (see each line)."""
    with transaction(factory, "test:seed") as s:
        for code, name, level, y0, y1 in (
            (TOWN, "测试镇", "town", Y0 - 0.01, Y0 + 0.03),
            (WANG, "王村", "village", Y0 - 0.01, Y0 + 0.0099),
            (DAREN, "大任庄村", "village", Y0 + 0.0099, Y0 + 0.03),
        ):
            geom = MultiPolygon([box(X0 - 0.01, y0, X0 + 0.05, y1)])
            s.add(AdminArea(code=code, name=name, level=level, geom=from_shape(geom, 4490)))
        s.flush()
        line = gpd.GeoDataFrame(
            {"code": ["RQ-1"], "kind": ["gas"], "name": ["中压燃气管"]},
            geometry=[LineString([(LON, Y0), (LON, Y0 + 0.01)])],
            crs=4490,
        )
        import_frame(s, "pipeline", line, source="test lines", check_offset=False)
        dem = [("halted", "2024-02-01"), ("demolished", "2024-05-01")]
        dem2 = [("halted", "2024-02-01"), ("demolished", "2024-06-01")]
        old = [("halted", "2023-02-01"), ("demolished", "2023-03-01")]
        # case, village, category, metres east of the line, metres north, path
        plan: tuple[tuple[str, str, str, float, float, list[tuple[str, str]]], ...] = (
            ("W1", WANG, "villa", 3.0, 0.0, dem),
            ("W2", WANG, "villa", 300.0, 0.0, dem2),
            ("W3", DAREN, "villa", 300.0, 1500.0, [("halted", "2024-02-01")]),
            ("S1", WANG, "steel_shed", 2.0, 100.0, []),
            ("D1", WANG, "villa", 600.0, 0.0, old),
            ("X1", WANG, "villa", 900.0, 0.0, [("dismissed", "2024-03-01")]),
        )  # fmt: skip
        ids = {}
        for no, village, cat, east, north, path in plan:
            st = ledger.create_structure(
                s, case_no=no, geometry=near_line(east, north), category=cat,
                village_code=village, households=1 if cat == "villa" else 0,
                discovered_on=dt.date(2023, 1, 10),
            )  # fmt: skip
            for to, day in path:
                lifecycle.transition(s, st, to, actor="t", reason=f"{to} 现场",
                                     effective_on=dt.date.fromisoformat(day))  # fmt: skip
            ids[no] = st.id
    return ids


def villas(s, **kw):
    """The campaign 违建别墅专项治理 of 2024: villas, 2 households (``kw`` overrides)."""
    from geo_enforce.ledger import campaigns as camp

    args = dict(code="WJBS-2024", name="违建别墅专项治理", starts_on=START, ends_on=END,
                target_count=2, count_unit="household", categories=["villa"])  # fmt: skip
    return camp.create_campaign(s, **{**args, **kw})
