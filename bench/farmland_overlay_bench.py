"""Overlay report benchmark: the project's PostGIS overlay report against the same figures
computed in Python (shapely STRtree + intersection + pyproj.Geod), same parcels, same run.

    .venv/bin/python bench/farmland_overlay_bench.py [--parcels 100] [--repeat 3] [--tiles 1]

Loads the sample township (``geo_enforce.demo.sample``; ``--tiles N`` repeats it N×N times, shifted,
for a bigger ledger) into a fresh database of the embedded cluster, then for the first
``--parcels`` farmland parcels times

- ``overlay_report(session, parcel_id=…)``: per-feature overlaps of five layers, dissolved
  permanent basic farmland, red lines per kind and standing structures, all ellipsoidal areas
  in PostGIS, plus verification history and labels;
- the peer: the same per-feature overlaps and dissolved totals in Python from geometries loaded
  once (load time reported apart), areas with ``pyproj.Geod`` on CGCS2000.

Prints a table (p50/p95 per parcel in ms, ratio) and the largest difference between the two
areas (m²) as a cross-check. Ratios matter, not seconds: the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import shapely
from pyproj import Geod
from shapely import wkb
from sqlalchemy import text

from geo_enforce.farmland.overlay import overlay_report
from geo_enforce.settings import Settings
from geo_enforce.storage import localdb
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from geo_enforce.storage.migrate import upgrade

GEOD = Geod(a=6378137.0, f=1 / 298.257222101)
LAYERS = ("farmland_parcel", "structure", "change_patch", "cleared_parcel", "red_line")


def area(g) -> float:
    return 0.0 if g.is_empty else abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(g))[0])


def load(factory, tiles: int) -> None:
    from geo_enforce.demo.sample import LAYER_ORDER, build_township
    from geo_enforce.io.importer import import_frame

    layers = build_township()
    with transaction(factory, "bench") as s:
        for i in range(tiles):
            for j in range(tiles):
                for name in LAYER_ORDER:
                    gdf = layers[name].copy()
                    if i or j:
                        gdf["geometry"] = gdf.geometry.translate(0.06 * i, 0.05 * j)
                        for col in ("code", "case_no", "parcel_no", "patch_code"):
                            if col in gdf:
                                gdf[col] = gdf[col].astype(str) + f"-{i}{j}"
                        if name == "admin_area" and "parent_code" in gdf:
                            gdf["parent_code"] = gdf["parent_code"].map(
                                lambda c, i=i, j=j: None if c is None else f"{c}-{i}{j}"
                            )
                    import_frame(s, name, gdf, source="bench")
    # fresh tables have no statistics until autovacuum gets to them; without them the planner
    # picks sequential scans and the report is 3-4x slower
    with factory() as s:
        s.execute(text("ANALYZE"))
        s.commit()


class Peer:
    """The same figures in Python from geometries loaded once."""

    def __init__(self, session) -> None:
        self.geoms: dict[str, list] = {}
        self.attrs: dict[str, list[dict]] = {}
        cols = {
            "farmland_parcel": "is_permanent_basic AS pbf, land_class AS k",
            "structure": "false AS pbf, status AS k",
            "change_patch": "false AS pbf, '' AS k",
            "cleared_parcel": "false AS pbf, '' AS k",
            "red_line": "false AS pbf, kind AS k",
        }
        for t in LAYERS:
            rows = session.execute(
                text(f"SELECT id, {cols[t]}, ST_AsBinary(geom) AS g FROM {t} "
                     "WHERE retired_at IS NULL ORDER BY id")
            ).mappings().all()  # fmt: skip
            self.geoms[t] = [wkb.loads(bytes(r["g"])) for r in rows]
            self.attrs[t] = [dict(r) for r in rows]
        self.trees = {t: shapely.STRtree(g) for t, g in self.geoms.items()}

    def report(self, pid: int) -> dict:
        i = next(k for k, a in enumerate(self.attrs["farmland_parcel"]) if a["id"] == pid)
        target = self.geoms["farmland_parcel"][i]
        out: dict = {"whole": area(target), "overlaps": {}}
        pbf, kinds, standing = [], defaultdict(list), []
        for t in LAYERS:
            feats = []
            for k in self.trees[t].query(target, predicate="intersects"):
                a = self.attrs[t][k]
                g = self.geoms[t][k]
                if t == "farmland_parcel" and a["id"] == pid:
                    continue
                m2 = area(shapely.intersection(target, g))
                if m2 >= 0.01:
                    feats.append((a["id"], m2))
                if t == "farmland_parcel" and a["pbf"]:
                    pbf.append(g)
                if t == "red_line":
                    kinds[a["k"]].append(g)
                    if a["k"] == "basic_farmland":
                        pbf.append(g)
                if t == "structure" and a["k"] not in ("demolished", "dismissed"):
                    standing.append(g)
            out["overlaps"][t] = feats
        if self.attrs["farmland_parcel"][i]["pbf"]:
            pbf.append(target)
        out["pbf"] = area(shapely.intersection(target, shapely.union_all(pbf))) if pbf else 0.0
        out["kinds"] = {
            k: area(shapely.intersection(target, shapely.union_all(v))) for k, v in kinds.items()
        }
        out["standing"] = (
            area(shapely.intersection(target, shapely.union_all(standing))) if standing else 0.0
        )
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiles", type=int, default=1)
    args = ap.parse_args()

    settings = Settings()
    url = localdb.start(settings.local_db, echo=lambda *_: None)
    port = int(url.split(":")[-1].split("/")[0])
    dburl = localdb.ensure_database(port, "ge_bench_farmland", fresh=True)
    upgrade(dburl)
    engine = make_engine(dburl)
    factory = make_sessionmaker(engine)
    t0 = time.perf_counter()
    load(factory, args.tiles)
    print(f"loaded sample township ×{args.tiles**2} in {time.perf_counter() - t0:.1f} s")
    try:
        with factory() as s:
            ids = (
                s.execute(
                    text("SELECT id FROM farmland_parcel ORDER BY id LIMIT :n"), {"n": args.parcels}
                )
                .scalars()
                .all()
            )
            counts = {t: s.scalar(text(f"SELECT count(*) FROM {t}")) for t in LAYERS}
            t0 = time.perf_counter()
            peer = Peer(s)
            load_s = time.perf_counter() - t0
            for pid in ids[:3]:  # warm-up
                overlay_report(s, parcel_id=pid)
                peer.report(pid)
            lib, py = [], []
            maxdiff = 0.0
            for _ in range(args.repeat):
                for pid in ids:
                    t = time.perf_counter()
                    rep = overlay_report(s, parcel_id=pid)
                    lib.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    ref = peer.report(pid)
                    py.append(time.perf_counter() - t)
                    for table, feats in ref["overlaps"].items():
                        got = {r["id"]: r["overlap_m2"] for r in rep["overlaps"][table]}
                        for fid, m2 in feats:
                            maxdiff = max(maxdiff, abs(got.get(fid, -1e9) - m2))
                    maxdiff = max(maxdiff, abs(rep["permanent_basic"]["area_m2"] - ref["pbf"]))
                    maxdiff = max(
                        maxdiff, abs(rep["structures_dissolved"]["area_m2"] - ref["standing"])
                    )
    finally:
        engine.dispose()
        localdb.drop_database(port, "ge_bench_farmland")

    def q(v: list[float], p: float) -> float:
        return sorted(v)[min(len(v) - 1, int(p * len(v)))] * 1000

    print(f"layers: {counts}; peer geometry load {load_s * 1000:.0f} ms (once)")
    print("| path | parcels × repeat | p50 ms | p95 ms | mean ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, v in (("overlay_report (PostGIS)", lib), ("peer (shapely + Geod)", py)):
        print(f"| {name} | {len(ids)} × {args.repeat} | {q(v, 0.5):.1f} | {q(v, 0.95):.1f} "
              f"| {statistics.mean(v) * 1000:.1f} |")  # fmt: skip
    print(f"p50 ratio library/peer: {q(lib, 0.5) / q(py, 0.5):.2f}")
    print(f"largest area difference between the two: {maxdiff:.4f} m²")


if __name__ == "__main__":
    main()
