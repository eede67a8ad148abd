"""The sample: two seeded, regenerable synthetic townships in one deployment, Tianjin.

Shaped like the two bureaus in the brief:

- **the town** (镇, Xiqing-like): about 6 km × 5 km near 117.20°E 39.00°N split into 15
  administrative villages (行政村) and 6 communities (社区), two grid zones (网格片区), red lines of
  every kind, farmland parcels with GB/T 21010 land classes, a few hundred illegal structures of
  every category and status dated 2020-2024 (some overlapping, so dissolved totals differ from
  sums), and cleared parcels;
- **the subdistrict** (街道, Binhai-like, :func:`build_subdistrict`): east of the town, sharing
  its border, mostly urban: 11 communities and 2 villages, sheds, courtyards and carports rather
  than villas, a few cleared parcels and farmland in the two villages, and a gas main under
  天润社区 with five courtyards over it ("天润小区5处占压燃气小院"). Scaled like the town (about
  6 km × 5 km, not the real 118.96 km²).

Everything is drawn in Gauss-Krüger zone 39 (EPSG:4548, metres) and delivered in CGCS2000
(EPSG:4490). Names, parties, codes and boundaries are invented (generated, not copied from any
survey).

``build_township(seed)`` / ``build_subdistrict(seed)`` return the layers as GeoDataFrames
(columns named like the ORM columns); ``load_township(factory)`` / ``load_subdistrict`` import
them through the normal importer (transactional, idempotent, audited), ``load_sample`` both;
``write_township(path)`` / ``write_subdistrict(path)`` write the GeoPackages kept in
``layers/sample/``.
"""

from __future__ import annotations

import datetime as dt
import math
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box
from shapely.ops import unary_union

from geo_enforce.geometry.crs import CGCS2000, GK39_CM117

DEFAULT_SEED = 2024
TOWN_CODE = "120111100"
TOWN_NAME = "津西示范镇"
#: the sample township's base date (基准日): cases found by then are stock (存量)
BASE_DATE = dt.date(2022, 12, 31)
LAYER_ORDER = (
    "admin_area",
    "red_line",
    "farmland_parcel",
    "cleared_parcel",
    "structure",
    "pipeline",
)
SAMPLE_GPKG = Path(str(files("geo_enforce.layers") / "sample" / "township.gpkg"))
#: the second township: a subdistrict (街道) like Binhai's, east of the town
SUBDISTRICT_CODE = "120116100"
SUBDISTRICT_NAME = "滨海示范街道"
SUBDISTRICT_BASE_DATE = dt.date(2023, 6, 30)
SUBDISTRICT_GPKG = Path(str(files("geo_enforce.layers") / "sample" / "subdistrict.gpkg"))

# Town centre 117.20°E 39.00°N in EPSG:4548 (CM 117°E, false easting 500 km).
_CX, _CY = 517_320.0, 4_317_700.0

VILLAGES = (
    "大任庄村",
    "周庄子村",
    "王村",
    "李家庄村",
    "东碾坨嘴村",
    "西碾坨嘴村",
    "梨园头村",
    "芦北口村",
    "宣家院村",
    "卞家庄村",
    "小韩庄村",
    "大韩庄村",
    "郝家台村",
    "南河村",
    "北口村",
)
COMMUNITIES = ("锦园社区", "富民社区", "和平社区", "康乐社区", "润泽社区", "青年社区")
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗"

# (category, weight, footprint m² range, floors range)
CATEGORY_SPECS = (
    ("villa", 0.14, (180, 520), (2, 3)),
    ("factory", 0.10, (600, 4200), (1, 2)),
    ("steel_shed", 0.24, (60, 600), (1, 1)),
    ("wall", 0.12, (20, 90), (1, 1)),
    ("gate", 0.06, (8, 30), (1, 1)),
    ("courtyard", 0.16, (80, 320), (1, 1)),
    ("carport", 0.10, (18, 60), (1, 1)),
    ("other", 0.08, (30, 200), (1, 2)),
)
STATUS_WEIGHTS = (
    ("suspected", 0.10),
    ("verified", 0.10),
    ("notice_served", 0.12),
    ("demolished", 0.48),
    ("rectified", 0.08),
    ("legalized", 0.05),
    ("dismissed", 0.07),
)
PRIOR_USES = ("废品收购站", "非法堆场", "养殖场", "私搭停车场", "建材堆放", "临时工棚")


def _rect(cx: float, cy: float, w: float, h: float, angle_deg: float) -> Polygon:
    return shapely.affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle_deg)


def _to_4490(geoms: list) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=GK39_CM117).to_crs(CGCS2000)


def _multi(g):
    g = shapely.make_valid(g)
    if g.geom_type == "Polygon":
        return MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    polys = [p for p in getattr(g, "geoms", []) if p.geom_type == "Polygon"]
    return MultiPolygon(polys)


def _date(rng: np.random.Generator, start: dt.date, end: dt.date) -> dt.date:
    span = (end - start).days
    return start + dt.timedelta(days=int(rng.integers(0, max(span, 1))))


def _town_outline(rng: np.random.Generator) -> Polygon:
    angles = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    pts = []
    for a in angles:
        rx, ry = 3100 * (1 + rng.normal(0, 0.04)), 2600 * (1 + rng.normal(0, 0.04))
        pts.append((_CX + rx * math.cos(a), _CY + ry * math.sin(a)))
    return Polygon(pts).buffer(0)


def _units_in(township: tuple[str, str, str], area: Polygon, seeds, communities, villages):
    """The township's row and its units as Voronoi cells of ``seeds`` clipped to ``area``: the
    first ``len(communities)`` seeds are communities (codes 001…), the rest villages (201…).
    Returns (admin rows, units as (code, name, level, cell, seed))."""
    code, name, parent = township
    cells = list(
        shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=area.buffer(500)).geoms
    )
    rows = [{"code": code, "name": name, "level": "town", "parent_code": parent, "geom": area}]
    units = []
    for i, seed in enumerate(seeds):
        cell = next(c for c in cells if c.contains(seed)).intersection(area)
        if i < len(communities):
            ucode, uname, level = f"{code}{i + 1:03d}", communities[i], "community"
        else:
            j = i - len(communities)
            ucode, uname, level = f"{code}{201 + j:03d}", villages[j], "village"
        rows.append(
            {"code": ucode, "name": uname, "level": level, "parent_code": code, "geom": cell}
        )
        units.append((ucode, uname, level, cell, seed))
    return rows, units


def _admin(rng: np.random.Generator, town: Polygon):
    """Villages and communities as Voronoi cells of seeded points, clipped to the town."""
    minx, miny, maxx, maxy = town.bounds
    seeds: list[Point] = []
    # communities cluster near the centre (the town seat); villages spread around
    while len(seeds) < len(COMMUNITIES):
        p = Point(_CX + rng.normal(0, 700), _CY + rng.normal(0, 500))
        if town.contains(p) and all(p.distance(q) > 450 for q in seeds):
            seeds.append(p)
    while len(seeds) < len(COMMUNITIES) + len(VILLAGES):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if town.buffer(-300).contains(p) and all(p.distance(q) > 850 for q in seeds):
            seeds.append(p)
    rows, units = _units_in((TOWN_CODE, TOWN_NAME, "120111"), town, seeds, COMMUNITIES, VILLAGES)
    west = [u[3] for u in units if u[4].x < _CX]
    east = [u[3] for u in units if u[4].x >= _CX]
    for k, (label, parts) in enumerate((("西片网格", west), ("东片网格", east)), start=1):
        rows.append(
            {
                "code": f"{TOWN_CODE}-G{k}",
                "name": label,
                "level": "grid",
                "parent_code": TOWN_CODE,
                "geom": unary_union(parts),
            }
        )
    return rows, units


def _village_core(unit) -> Polygon:
    """The built-up core of a village around its seed point (approved construction land)."""
    _, _, level, cell, seed = unit
    size = (520, 420) if level == "village" else (640, 520)
    core = _rect(seed.x, seed.y, *size, 0).intersection(cell.buffer(-40))
    return core if not core.is_empty else seed.buffer(150)


def build_township(seed: int = DEFAULT_SEED) -> dict[str, gpd.GeoDataFrame]:  # noqa: C901
    # (one pass in RNG draw order: splitting it would change the seeded sample township)
    """All sample layers as GeoDataFrames in EPSG:4490, deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    town = _town_outline(rng)
    admin_rows, units = _admin(rng, town)
    villages = [u for u in units if u[2] == "village"]
    cores = {u[0]: _village_core(u) for u in units}
    built_up = unary_union(list(cores.values()))

    # --- red lines -----------------------------------------------------------------------------
    red: list[dict] = []
    for n, (code, name, _lvl, _cell, _s) in enumerate(units, start=1):
        red.append(
            {
                "code": f"JSYD-{n:03d}",
                "kind": "construction_land",
                "name": f"{name}建设用地",
                "approval_no": f"津西规地〔{2015 + n % 8}〕{n}号",
                "valid_from": dt.date(2015 + n % 8, 3, 1),
                "valid_to": None,
                "source": "区规划和自然资源局",
                "geom": cores[code],
            }
        )
    # an approved industrial park in the south-east
    park = _rect(_CX + 1700, _CY - 1300, 700, 450, 8).intersection(town)
    red.append(
        {
            "code": "JSYD-PARK",
            "kind": "construction_land",
            "name": "示范镇工业园",
            "approval_no": "津西规地〔2019〕88号",
            "valid_from": dt.date(2019, 6, 1),
            "valid_to": None,
            "source": "区规划和自然资源局",
            "geom": park,
        }
    )
    built_up = built_up.union(park)
    river = LineString(
        [
            (_CX - 3600, _CY + 900),
            (_CX - 1200, _CY + 1500),
            (_CX + 800, _CY + 1100),
            (_CX + 3600, _CY + 1800),
        ]
    )
    river_poly = river.buffer(45).intersection(town)
    red.append(
        {
            "code": "HDLX-01",
            "kind": "river_blue",
            "name": "南运河蓝线",
            "approval_no": None,
            "valid_from": dt.date(2018, 1, 1),
            "valid_to": None,
            "source": "区水务局",
            "geom": river_poly,
        }
    )
    eco = river.buffer(260).difference(river.buffer(45)).intersection(town).difference(built_up)
    red.append(
        {
            "code": "STHX-01",
            "kind": "ecological",
            "name": "南运河生态保护红线",
            "approval_no": "津政发〔2018〕21号",
            "valid_from": dt.date(2018, 9, 1),
            "valid_to": None,
            "source": "市人民政府",
            "geom": eco,
        }
    )
    roads = [
        LineString([(_CX - 3300, _CY - 200), (_CX + 3300, _CY + 100)]),
        LineString([(_CX + 300, _CY - 2800), (_CX - 100, _CY + 2800)]),
    ]
    for k, road in enumerate(roads, start=1):
        red.append(
            {
                "code": f"DLHX-{k:02d}",
                "kind": "road",
                "name": f"示范{'横纵'[k - 1]}路道路红线",
                "approval_no": f"津西规路〔2017〕{k}号",
                "valid_from": dt.date(2017, 5, 1),
                "valid_to": None,
                "source": "区规划和自然资源局",
                "geom": road.buffer(20, cap_style="flat").intersection(town),
            }
        )
    urban = unary_union([cores[u[0]] for u in units if u[2] == "community"]).convex_hull
    red.append(
        {
            "code": "CKBJ-01",
            "kind": "urban_boundary",
            "name": "城镇开发边界",
            "approval_no": "津国土空间〔2021〕1号",
            "valid_from": dt.date(2021, 1, 1),
            "valid_to": None,
            "source": "国土空间总体规划",
            "geom": urban.buffer(150),
        }
    )
    not_farm = unary_union(
        [built_up.buffer(60), river.buffer(260), urban.buffer(200), *[r.buffer(30) for r in roads]]
    )
    # permanent basic farmland: large blocks in village land away from cores and the river
    pbf_parts = []
    for _code, _name, _lvl, cell, _seed in villages:
        block = cell.buffer(-80).difference(not_farm)
        if block.area > 200_000:
            pbf_parts.append(block.buffer(-60).buffer(0))
    pbf = unary_union([p for p in pbf_parts if not p.is_empty])
    for k, part in enumerate(getattr(pbf, "geoms", [pbf]), start=1):
        if part.area < 50_000:
            continue
        red.append(
            {
                "code": f"YJJBNT-{k:03d}",
                "kind": "basic_farmland",
                "name": f"永久基本农田保护区{k}",
                "approval_no": None,
                "valid_from": dt.date(2020, 1, 1),
                "valid_to": None,
                "source": "三区三线划定成果",
                "geom": part,
            }
        )

    # --- farmland parcels: a field grid over village land outside cores ------------------------
    farm_rows = []
    classes = ("0101", "0102", "0103", "0201", "1202", "1104", "1006")
    weights = np.array([0.12, 0.42, 0.26, 0.06, 0.06, 0.04, 0.04])
    n_patch = 0
    for code, _name, _lvl, cell, _seed in villages:
        land = cell.difference(not_farm)
        bx0, by0, bx1, by1 = land.bounds
        step_x, step_y = 260.0, 180.0
        for gx in np.arange(bx0, bx1, step_x):
            for gy in np.arange(by0, by1, step_y):
                if rng.random() < 0.35:
                    continue
                field = box(gx + 6, gy + 6, gx + step_x - 6, gy + step_y - 6).intersection(land)
                if field.is_empty or field.area < 8_000:
                    continue
                n_patch += 1
                cls = str(rng.choice(classes, p=weights))
                farm_rows.append(
                    {
                        "patch_code": f"{code}-{n_patch:05d}",
                        "land_class": cls,
                        "is_permanent_basic": bool(
                            cls in ("0101", "0102", "0103") and pbf.contains(field.centroid)
                        ),
                        "village_code": code,
                        "owner_collective": f"{_name}村民委员会",
                        "geom": field,
                    }
                )

    # --- cleared parcels -----------------------------------------------------------------------
    cleared_rows = []
    for k in range(26):
        code, vname, _lvl, cell, sd = villages[int(rng.integers(0, len(villages)))]
        for _ in range(50):
            p = Point(sd.x + rng.normal(0, 500), sd.y + rng.normal(0, 400))
            if cell.contains(p) and not built_up.contains(p):
                break
        w, h = rng.uniform(40, 160), rng.uniform(30, 120)
        geom = _rect(p.x, p.y, w, h, rng.uniform(-15, 15)).intersection(cell)
        cleared_on = _date(rng, dt.date(2020, 3, 1), dt.date(2024, 12, 20))
        cleared_rows.append(
            {
                "parcel_no": f"TT-{cleared_on.year}-{k + 1:03d}",
                "village_code": code,
                "prior_use": str(rng.choice(PRIOR_USES)),
                "cleared_on": cleared_on,
                "restored_use": str(
                    rng.choice(["reclaimed", "greened", "vacant"], p=[0.55, 0.35, 0.1])
                ),
                "notes": f"{vname}违法占地整治",
                "geom": geom,
            }
        )

    # --- structures ----------------------------------------------------------------------------
    cats = [c[0] for c in CATEGORY_SPECS]
    cat_w = np.array([c[1] for c in CATEGORY_SPECS])
    statuses = [s[0] for s in STATUS_WEIGHTS]
    st_w = np.array([s[1] for s in STATUS_WEIGHTS])
    spec = {c[0]: c for c in CATEGORY_SPECS}
    structures = []
    counters: dict[int, int] = {}
    weights_v = np.array([3.0 if u[1] in ("大任庄村", "王村") else 1.0 for u in villages])
    weights_v /= weights_v.sum()
    n_structures = 420
    placed: list[tuple[str, Polygon]] = []
    for _i in range(n_structures):
        code, vname, _lvl, cell, sd = villages[int(rng.choice(len(villages), p=weights_v))]
        cat = str(rng.choice(cats, p=cat_w / cat_w.sum()))
        _, _, (amin, amax), (fmin, fmax) = spec[cat]
        area = float(np.exp(rng.uniform(math.log(amin), math.log(amax))))
        if cat == "wall":
            w, h = area / 2.4, 2.4
        else:
            aspect = rng.uniform(1.0, 2.2)
            w, h = math.sqrt(area * aspect), math.sqrt(area / aspect)
        # villas, courtyards, carports, gates and walls sit in or at the edge of the village
        # core; factories and sheds spread onto farmland
        spread = 260 if cat in ("villa", "courtyard", "carport", "gate", "wall") else 700
        neighbours = [g for c, g in placed if c == code]
        if cat in ("carport", "wall") and neighbours and rng.random() < 0.35:
            # leaning on a registered neighbour: the two records overlap (dissolve ≠ sum)
            anchor = neighbours[int(rng.integers(0, len(neighbours)))]
            corner = anchor.exterior.coords[int(rng.integers(0, 4))]
            geom = _rect(corner[0], corner[1], w, h, rng.uniform(-20, 20))
        else:
            for _ in range(80):
                p = Point(sd.x + rng.normal(0, spread), sd.y + rng.normal(0, spread * 0.8))
                geom = _rect(p.x, p.y, w, h, rng.uniform(-20, 20))
                if (
                    cell.buffer(-5).contains(geom)
                    and not river_poly.intersects(geom)
                    and not any(g.intersects(geom) for g in neighbours)
                ):
                    break
        geom = geom.intersection(cell.buffer(-1))
        placed.append((code, geom))
        status = str(rng.choice(statuses, p=st_w))
        discovered = _date(rng, dt.date(2020, 1, 6), dt.date(2024, 10, 31))
        notice: dt.date | None = None
        demolished: dt.date | None = None
        closed: dt.date | None = None
        notice_day = discovered + dt.timedelta(days=int(rng.integers(7, 60)))
        if status in ("notice_served", "demolished", "rectified", "legalized"):
            notice = notice_day
        if status == "demolished":
            demolished = min(
                notice_day + dt.timedelta(days=int(rng.integers(10, 200))), dt.date(2024, 12, 28)
            )
            closed = demolished
        elif status in ("rectified", "legalized", "dismissed"):
            closed = discovered + dt.timedelta(days=int(rng.integers(20, 240)))
        year = discovered.year
        counters[year] = counters.get(year, 0) + 1
        halted: dt.date | None = None
        if status == "suspected" and discovered >= dt.date(2024, 1, 1) and counters[year] % 2:
            # new building stopped on site (制止), chosen without a random draw so the rest of
            # the sample stays as it was
            status, halted = "halted", discovered + dt.timedelta(days=1)
        floors = int(rng.integers(fmin, fmax + 1))
        surname = SURNAMES[int(rng.integers(0, len(SURNAMES)))]
        measured = (
            round(area * floors * rng.uniform(0.85, 0.95), 1)
            if cat == "villa" and (rng.random() < 0.3)
            else None
        )
        structures.append(
            {
                "case_no": f"JX-{year}-{counters[year]:04d}",
                "village_code": code,
                "address": f"{TOWN_NAME}{vname}{int(rng.integers(1, 400))}号",
                "category": cat,
                "floors": floors,
                "households": 1 if cat == "villa" else 0,
                "status": status,
                "discovered_on": discovered,
                "notice_on": notice,
                # 责令限期拆除: 30 days (no random draw, so the rest of the sample is unchanged)
                "deadline_on": notice + dt.timedelta(days=30) if notice else None,
                "halted_on": halted,
                "demolished_on": demolished,
                "closed_on": closed,
                "floor_area_measured_m2": measured,
                "party_name": f"{surname}某{'甲乙丙丁'[int(rng.integers(0, 4))]}",
                "party_id_no": f"120111{int(rng.integers(1950, 2000))}"
                f"{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
                f"{int(rng.integers(0, 9999)):04d}",
                "party_phone": f"13{int(rng.integers(0, 10))}{int(rng.integers(0, 10**8)):08d}",
                "notes": None,
                "geom": geom,
            }
        )

    def frame(rows: list[dict], multi=_multi) -> gpd.GeoDataFrame:
        df = pd.DataFrame([{k: v for k, v in r.items() if k != "geom"} for r in rows])
        geoms = _to_4490([multi(r["geom"]) for r in rows])
        return gpd.GeoDataFrame(df, geometry=geoms.values, crs=CGCS2000)

    lines = _pipelines(structures, units, river, roads)
    return {
        "admin_area": frame(admin_rows),
        "red_line": frame(red),
        "farmland_parcel": frame(farm_rows),
        "cleared_parcel": frame(cleared_rows),
        "structure": frame(structures),
        "pipeline": frame(lines, multi=lambda g: MultiLineString([g])),
    }


def _extend(line: LineString, metres: float) -> LineString:
    """``line`` lengthened by ``metres`` at both ends along its end segments."""
    pts = list(line.coords)

    def out(a, b):
        dx, dy = b[0] - a[0], b[1] - a[1]
        n = math.hypot(dx, dy) or 1.0
        return (b[0] + dx / n * metres, b[1] + dy / n * metres)

    return LineString([out(pts[1], pts[0]), *pts, out(pts[-2], pts[-1])])


def _pipelines(structures: list[dict], units, river: LineString, roads) -> list[dict]:
    """Lines with safety distances (管线及堤防), drawn from the township already built and
    without a random draw, so every other layer stays as it was.

    The gas main runs through two villas of 王村 demolished in 2024 and one whose notice is
    served (占压燃气管线: the rule and the demo's campaign find them); a power line follows
    the east-west road 30 m to its south, the dyke the river's south bank, an oil pipeline
    skirts the industrial park.
    """
    wang = next(u[0] for u in units if u[1] == "王村")
    mine = sorted((s for s in structures if s["village_code"] == wang), key=lambda s: s["case_no"])
    pick = [s for s in mine if s["status"] == "demolished" and s["demolished_on"].year == 2024
            and s["category"] == "villa"][:2]  # fmt: skip
    pick += [s for s in mine if s["status"] == "notice_served"][:1]
    pick += [s for s in mine if s not in pick][: max(0, 2 - len(pick))]  # other seeds: any two
    through = sorted({s["geom"].centroid.coords[0] for s in pick}, key=lambda xy: xy[0])
    if len(through) < 2:  # no cases in 王村 at all (another seed): across its seed point
        seed_pt = next(u[4] for u in units if u[0] == wang)
        through = [(seed_pt.x - 100.0, seed_pt.y), (seed_pt.x + 100.0, seed_pt.y)]
    gas = _extend(LineString(through), 150.0)
    power = shapely.affinity.translate(roads[0], 0.0, -30.0)
    dyke = river.offset_curve(-70.0)
    oil = LineString([(_CX + 1250, _CY - 1700), (_CX + 2300, _CY - 1450)])
    common = {"owner": None, "safety_distance_m": None, "notes": None}
    return [
        {**common, "code": "RQ-001", "kind": "gas", "name": "王村中压燃气管线",
         "spec": "中压A DN200", "owner": "津西燃气公司", "source": "燃气公司管网图", "geom": gas},
        {**common, "code": "DL-001", "kind": "power", "name": "示范横路10kV线路",
         "spec": "10kV", "owner": "区供电公司", "source": "供电公司线路图", "geom": power},
        {**common, "code": "HD-001", "kind": "dyke", "name": "南运河南堤", "spec": "二级堤防",
         "owner": "区水务局", "source": "区水务局堤防普查", "geom": dyke},
        {**common, "code": "SY-001", "kind": "oil", "name": "工业园输油管道", "spec": "DN150",
         "owner": "管道公司", "source": "管道保护部门", "geom": oil},
    ]  # fmt: skip


def write_township(path: Path = SAMPLE_GPKG, seed: int = DEFAULT_SEED) -> Path:
    """Write the sample layers into one GeoPackage (one layer per table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    for name in LAYER_ORDER:
        build_township(seed)[name].to_file(path, layer=name, driver="GPKG")
    return path


def load_township(factory, *, actor: str = "cli:demo", seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Import every sample layer through the importer in one transaction; returns row counts."""
    from geo_enforce.io.importer import import_frame
    from geo_enforce.ledger.stock import set_base_date
    from geo_enforce.storage.engine import transaction

    layers = build_township(seed)
    counts: dict[str, int] = {}
    with transaction(factory, actor) as session:
        for name in LAYER_ORDER:
            import_frame(session, name, layers[name], source=f"sample township (seed {seed})")
            counts[name] = len(layers[name])
        set_base_date(session, TOWN_CODE, BASE_DATE, note="2022年底违法建设基线调查（示例）")
    return counts


# --- the second township: a subdistrict (街道) like Binhai's -------------------------------------

SUB_COMMUNITIES = (
    "天润社区",
    "海晶社区",
    "港湾社区",
    "新港社区",
    "渤海社区",
    "盐场社区",
    "滨湖社区",
    "福湾社区",
    "明珠社区",
    "春晖社区",
    "海韵社区",
)
SUB_VILLAGES = ("上沽村", "西滩村")
# urban cases: sheds, courtyards (小院), carports and walls; few villas
SUB_CATEGORY_WEIGHTS = (
    ("villa", 0.02),
    ("factory", 0.10),
    ("steel_shed", 0.28),
    ("wall", 0.12),
    ("gate", 0.06),
    ("courtyard", 0.22),
    ("carport", 0.14),
    ("other", 0.06),
)


def _subdistrict_outline(town: Polygon) -> Polygon:
    """East of the town, sharing its border: a box whose east side bends like a shore."""
    east = [(_CX + 8600 + 300 * math.sin(k * 0.9), _CY - 2500 + k * 500) for k in range(11)]
    ring = [(_CX + 2400, _CY - 2500), *east, (_CX + 2400, _CY + 2500)]
    return Polygon(ring).difference(town).buffer(0)


def _subdistrict_units(rng: np.random.Generator, area: Polygon):
    """Communities spread over the north and centre, the two villages in the rural south."""
    minx, miny, maxx, maxy = area.bounds
    inner = area.buffer(-300)
    seeds: list[Point] = []
    while len(seeds) < len(SUB_COMMUNITIES):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny + 1800, maxy))
        if inner.contains(p) and all(p.distance(q) > 900 for q in seeds):
            seeds.append(p)
    while len(seeds) < len(SUB_COMMUNITIES) + len(SUB_VILLAGES):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, miny + 1500))
        if inner.contains(p) and all(p.distance(q) > 1400 for q in seeds):
            seeds.append(p)
    return _units_in(
        (SUBDISTRICT_CODE, SUBDISTRICT_NAME, "120116"), area, seeds, SUB_COMMUNITIES, SUB_VILLAGES
    )


def _place(rng: np.random.Generator, cell, seed: Point, w: float, h: float, taken: list):
    """A rectangle of w × h metres near ``seed`` inside ``cell``, clear of ``taken``."""
    geom = _rect(seed.x, seed.y, w, h, 0)
    for _ in range(80):
        p = Point(seed.x + rng.normal(0, 450), seed.y + rng.normal(0, 380))
        geom = _rect(p.x, p.y, w, h, rng.uniform(-20, 20))
        if cell.buffer(-5).contains(geom) and not any(g.intersects(geom) for g in taken):
            break
    return geom.intersection(cell.buffer(-1))


def _sub_case(rng: np.random.Generator, counters: dict[int, int], code: str, vname: str,
              cat: str, geom, status: str, discovered: dt.date) -> dict:  # fmt: skip
    notice: dt.date | None = None
    demolished: dt.date | None = None
    closed: dt.date | None = None
    halted: dt.date | None = None
    if status in ("notice_served", "demolished", "rectified", "legalized"):
        notice = discovered + dt.timedelta(days=int(rng.integers(7, 45)))
    if status == "demolished":
        assert notice is not None
        demolished = min(notice + dt.timedelta(days=int(rng.integers(10, 150))),
                         dt.date(2024, 12, 20))  # fmt: skip
        closed = demolished
    elif status in ("rectified", "legalized", "dismissed"):
        closed = discovered + dt.timedelta(days=int(rng.integers(20, 200)))
    elif status == "halted":
        halted = discovered + dt.timedelta(days=1)
    counters[discovered.year] = counters.get(discovered.year, 0) + 1
    surname = SURNAMES[int(rng.integers(0, len(SURNAMES)))]
    return {
        "case_no": f"BH-{discovered.year}-{counters[discovered.year]:04d}",
        "village_code": code,
        "address": f"{SUBDISTRICT_NAME}{vname}{int(rng.integers(1, 60))}号楼旁",
        "category": cat,
        "floors": 1,
        "households": 1 if cat in ("villa", "courtyard") else 0,
        "status": status,
        "discovered_on": discovered,
        "notice_on": notice,
        "deadline_on": notice + dt.timedelta(days=15) if notice else None,
        "halted_on": halted,
        "demolished_on": demolished,
        "closed_on": closed,
        "floor_area_measured_m2": None,
        "party_name": f"{surname}某{'甲乙丙丁'[int(rng.integers(0, 4))]}",
        "party_id_no": f"120116{int(rng.integers(1950, 2000))}"
        f"{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
        f"{int(rng.integers(0, 9999)):04d}",
        "party_phone": f"13{int(rng.integers(0, 10))}{int(rng.integers(0, 10**8)):08d}",
        "notes": None,
        "geom": geom,
    }


def build_subdistrict(seed: int = DEFAULT_SEED) -> dict[str, gpd.GeoDataFrame]:
    """The second township's layers (EPSG:4490), deterministic for ``seed``; its own random
    stream, so the town of :func:`build_township` is the same with or without it."""
    town = _town_outline(np.random.default_rng(seed))  # the town's first draws: its outline
    rng = np.random.default_rng([seed, 16])
    area = _subdistrict_outline(town)
    admin_rows, units = _subdistrict_units(rng, area)
    cores = {u[0]: _village_core(u) for u in units}
    red = [
        {
            "code": f"BH-JSYD-{n:03d}", "kind": "construction_land", "name": f"{u[1]}建设用地",
            "approval_no": f"津滨规地〔{2016 + n % 7}〕{n}号",
            "valid_from": dt.date(2016 + n % 7, 5, 1),
            "valid_to": None, "source": "区规划和自然资源局", "geom": cores[u[0]],
        }
        for n, u in enumerate(units, start=1)
    ]  # fmt: skip
    villages = [u for u in units if u[2] == "village"]
    built = unary_union(list(cores.values()))

    farm_rows = []
    n_patch = 0
    for code, name, _lvl, cell, _seed in villages:
        land = cell.difference(built.buffer(60))
        bx0, by0, bx1, by1 = land.bounds
        for gx in np.arange(bx0, bx1, 240.0):
            for gy in np.arange(by0, by1, 170.0):
                field = box(gx + 6, gy + 6, gx + 234, gy + 164).intersection(land)
                if rng.random() < 0.4 or field.is_empty or field.area < 8_000:
                    continue
                n_patch += 1
                farm_rows.append(
                    {"patch_code": f"{code}-{n_patch:05d}",
                     "land_class": str(rng.choice(["0101", "0102", "0103", "1104", "1202"],
                                                  p=[0.2, 0.4, 0.2, 0.1, 0.1])),
                     "is_permanent_basic": False, "village_code": code,
                     "owner_collective": f"{name}村民委员会", "geom": field}
                )  # fmt: skip

    cleared_rows = []
    taken: list = []
    for k in range(8):
        code, vname, _lvl, cell, sd = villages[k % len(villages)]
        geom = _place(rng, cell, sd, rng.uniform(40, 120), rng.uniform(30, 90), taken)
        taken.append(geom)
        cleared_on = _date(rng, dt.date(2021, 3, 1), dt.date(2024, 11, 30))
        cleared_rows.append(
            {"parcel_no": f"BH-TT-{cleared_on.year}-{k + 1:03d}", "village_code": code,
             "prior_use": str(rng.choice(PRIOR_USES)), "cleared_on": cleared_on,
             "restored_use": str(rng.choice(["greened", "vacant", "reclaimed"], p=[0.6, 0.3, 0.1])),
             "notes": f"{vname}违法占地整治", "geom": geom}
        )  # fmt: skip

    cats = [c for c, _ in SUB_CATEGORY_WEIGHTS]
    cat_w = np.array([w for _, w in SUB_CATEGORY_WEIGHTS])
    statuses = [s for s, _ in STATUS_WEIGHTS] + ["halted"]
    st_w = np.array([w for _, w in STATUS_WEIGHTS] + [0.04])
    sizes = {c[0]: c[2] for c in CATEGORY_SPECS}
    structures: list[dict] = []
    counters: dict[int, int] = {}
    # the gas main through 天润社区 (units[0]): the random cases keep clear of it
    t_code, t_name, _lvl, t_cell, t_seed = units[0]
    gas = LineString([(t_seed.x - 420, t_seed.y - 60), (t_seed.x + 420, t_seed.y + 60)])
    taken.append(gas.buffer(30))
    for _ in range(96):
        code, vname, _lvl, cell, sd = units[int(rng.integers(0, len(units)))]
        cat = str(rng.choice(cats, p=cat_w / cat_w.sum()))
        amin, amax = sizes[cat]
        area_m2 = float(np.exp(rng.uniform(math.log(amin), math.log(min(amax, 900)))))
        w, h = (area_m2 / 2.4, 2.4) if cat == "wall" else (math.sqrt(area_m2 * 1.4),
                                                            math.sqrt(area_m2 / 1.4))  # fmt: skip
        geom = _place(rng, cell, sd, w, h, taken)
        taken.append(geom)
        status = str(rng.choice(statuses, p=st_w / st_w.sum()))
        discovered = _date(rng, dt.date(2021, 1, 4), dt.date(2024, 10, 31))
        if status == "halted" and discovered < dt.date(2024, 1, 1):
            status = "verified"
        structures.append(_sub_case(rng, counters, code, vname, cat, geom, status, discovered))

    # 天润小区5处占压燃气小院: five courtyards astride the gas main
    for k in range(5):
        p = gas.interpolate(120 + 150 * k)
        geom = _rect(p.x, p.y + 6, 16, 12, 8).intersection(t_cell.buffer(-1))
        status = ("demolished", "notice_served", "notice_served", "verified", "suspected")[k]
        structures.append(
            _sub_case(
                rng, counters, t_code, t_name, "courtyard", geom, status, dt.date(2024, 3, 4 + k)
            )
        )

    def frame(rows: list[dict], multi=_multi) -> gpd.GeoDataFrame:
        df = pd.DataFrame([{k: v for k, v in r.items() if k != "geom"} for r in rows])
        geoms = _to_4490([multi(r["geom"]) for r in rows])
        return gpd.GeoDataFrame(df, geometry=geoms.values, crs=CGCS2000)

    line = {"code": "RQ-BH-001", "kind": "gas", "name": "天润小区中压燃气管线",
            "spec": "中压B DN150", "owner": "滨海燃气公司", "safety_distance_m": None,
            "source": "燃气公司管网图", "notes": None, "geom": gas}  # fmt: skip
    return {
        "admin_area": frame(admin_rows),
        "red_line": frame(red),
        "farmland_parcel": frame(farm_rows),
        "cleared_parcel": frame(cleared_rows),
        "structure": frame(structures),
        "pipeline": frame([line], multi=lambda g: MultiLineString([g])),
    }


def write_subdistrict(path: Path = SUBDISTRICT_GPKG, seed: int = DEFAULT_SEED) -> Path:
    """Write the subdistrict's layers into one GeoPackage (one layer per table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    layers = build_subdistrict(seed)
    for name in LAYER_ORDER:
        layers[name].to_file(path, layer=name, driver="GPKG")
    return path


def load_subdistrict(
    factory, *, actor: str = "cli:demo", seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """Import the subdistrict's layers in one transaction (after the town: its admin areas
    first, so every record finds its township); returns row counts."""
    from geo_enforce.io.importer import import_frame
    from geo_enforce.ledger.stock import set_base_date
    from geo_enforce.storage.engine import transaction

    layers = build_subdistrict(seed)
    counts: dict[str, int] = {}
    with transaction(factory, actor) as session:
        for name in LAYER_ORDER:
            import_frame(session, name, layers[name], source=f"sample subdistrict (seed {seed})")
            counts[name] = len(layers[name])
        set_base_date(session, SUBDISTRICT_CODE, SUBDISTRICT_BASE_DATE,
                      note="2023年年中违法建设基线调查（示例）")  # fmt: skip
    return counts


def load_sample(
    factory, *, actor: str = "cli:demo", seed: int = DEFAULT_SEED
) -> dict[str, dict[str, int]]:
    """Both townships of the sample, the town first; township code → row counts."""
    return {
        TOWN_CODE: load_township(factory, actor=actor, seed=seed),
        SUBDISTRICT_CODE: load_subdistrict(factory, actor=actor, seed=seed),
    }
