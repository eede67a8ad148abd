"""Import benchmark: 100,000 polygons from one GeoPackage into PostGIS, the project's importer
against ``ogr2ogr -f PostgreSQL`` on the same file and the same server, in the same run.

    .venv/bin/python bench/import_bench.py [--n 100000] [--repeat 2] [--workdir DIR]

The file holds structures as a bureau keeps them (Chinese column names and labels, EPSG:4490).
Each timed import goes into a fresh, migrated database of the embedded cluster (ogr2ogr with its
fastest settings: COPY, one transaction):

- ``geo-enforce``: ``import_layer`` + commit (read, map and validate fields, check and repair
  geometries, COPY into a temp table, ``INSERT … ON CONFLICT`` into ``structure``, whose triggers
  compute the ellipsoidal area and write one audit row per record);
- ``ogr2ogr``: ``ogr2ogr -f PostgreSQL`` into a new table (COPY, spatial index), no validation,
  no mapping, no triggers: the peer the ratio is taken against;
- ``ogr2ogr`` into the ledger: ``-append`` into ``structure`` with the fields mapped by ``-sql``,
  so the same indexes and triggers (area, audit) run: the same end state without the checks;
- ``geo-enforce re-import``: the same file again (every row unchanged: nothing written);
- the floor: with ogr2ogr's table in the server, one ``INSERT INTO structure … SELECT`` of the
  same rows (triggers off, then on; rolled back). No importer into the ledger can beat it,
  since it must at least do that insert.

Prints a Markdown table (best of ``--repeat``) and the ratio importer / ogr2ogr (target <= 1.5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from geo_enforce.io import import_layer  # noqa: E402
from geo_enforce.settings import LocalDbSettings  # noqa: E402
from geo_enforce.storage import localdb  # noqa: E402
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction  # noqa: E402
from geo_enforce.storage.migrate import upgrade  # noqa: E402

CATEGORIES = ["违建别墅", "厂房", "彩钢房", "围墙", "二道门", "小院", "车棚", "其他"]
STATUSES = ["疑似", "已核实", "责令限期拆除", "已拆除", "已整改", "补办手续", "不予立案"]


def make_file(path: Path, n: int, seed: int = 7) -> None:
    """n non-overlapping 8-30 m rectangles and rotated quads on a grid near 117.2°E 39.0°N."""
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0 = 117.10 + (i % cols) * 0.0005
    y0 = 38.95 + (i // cols) * 0.0004
    w = rng.uniform(0.0001, 0.00035, n)
    h = rng.uniform(0.0001, 0.00030, n)
    skew = rng.uniform(-0.00005, 0.00005, n)
    coords = np.stack(
        [
            np.column_stack([x0, y0]),
            np.column_stack([x0 + w, y0 + skew]),
            np.column_stack([x0 + w + skew, y0 + h]),
            np.column_stack([x0 + skew, y0 + h]),
            np.column_stack([x0, y0]),
        ],
        axis=1,
    )
    geoms = shapely.polygons(coords)
    days = rng.integers(0, 5 * 365, n)
    gdf = gpd.GeoDataFrame(
        {
            "案件编号": [f"WJ-{k:07d}" for k in range(n)],
            "违建类别": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
            "层数": rng.integers(1, 4, n),
            "地址": [f"西青区大寺镇{k % 15 + 1}村{k % 997}号" for k in range(n)],
            "状态": np.array(STATUSES)[rng.integers(0, len(STATUSES), n)],
            "发现日期": (np.datetime64("2020-01-01") + days).astype(str),
        },
        geometry=geoms,
        crs=4490,
    )
    gdf.to_file(path, layer="structure", driver="GPKG")


def fresh_db(port: int, name: str) -> str:
    url = localdb.ensure_database(port, name, fresh=True)
    upgrade(url)
    return url


def time_importer(url: str, path: Path) -> tuple[float, float]:
    eng = make_engine(url)
    try:
        factory = make_sessionmaker(eng)
        t0 = time.perf_counter()
        with transaction(factory, "bench") as s:
            r = import_layer(s, "structure", path)
        first = time.perf_counter() - t0
        assert r.inserted == r.total, r
        t0 = time.perf_counter()
        with transaction(factory, "bench") as s:
            r = import_layer(s, "structure", path)
        again = time.perf_counter() - t0
        assert r.unchanged == r.total, r
    finally:
        eng.dispose()
    return first, again


def time_ogr2ogr(port: int, dbname: str, path: Path) -> float:
    cmd = [
        _ogr2ogr(),
        "-f",
        "PostgreSQL",
        f"PG:host=127.0.0.1 port={port} dbname={dbname} user=postgres",
        str(path),
        "structure",
        "-nln",
        "ogr_structure",
        "-nlt",
        "MULTIPOLYGON",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-gt",
        "unlimited",
        "--config",
        "PG_USE_COPY",
        "YES",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PGCLIENTENCODING": "UTF8"})
    return time.perf_counter() - t0


def _case(column: str, vocab: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{zh}' THEN '{key}'" for key, zh in vocab.items())
    return f'CASE "{column}" {whens} END'


LEDGER_COLUMNS = "case_no, category, floors, address, status, discovered_on, geom"


def _ledger_select(table: str, date: str = '"发现日期"') -> str:
    """The file's columns mapped to the ledger's (``LEDGER_COLUMNS``) in SQL, from ``table``."""
    from geo_enforce.ledger.vocab import STRUCTURE_CATEGORIES, STRUCTURE_STATUSES

    return (
        'SELECT "案件编号" AS case_no, '
        f"{_case('违建类别', STRUCTURE_CATEGORIES)} AS category, "
        '"层数" AS floors, "地址" AS address, '
        f"{_case('状态', STRUCTURE_STATUSES)} AS status, "
        f"{date} AS discovered_on, geom FROM {table}"
    )


def time_ogr2ogr_into_ledger(port: int, dbname: str, path: Path) -> float:
    """ogr2ogr appending into the ledger's own ``structure`` table (same indexes and triggers),
    its fields mapped by SQL: the same end state as the importer, without its checks."""
    sql = _ledger_select("structure")
    cmd = [
        _ogr2ogr(),
        "-f",
        "PostgreSQL",
        f"PG:host=127.0.0.1 port={port} dbname={dbname} user=postgres",
        str(path),
        "-sql",
        sql,
        "-append",
        "-nln",
        "structure",
        "-nlt",
        "MULTIPOLYGON",
        "-gt",
        "unlimited",
        "--config",
        "PG_USE_COPY",
        "YES",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PGCLIENTENCODING": "UTF8"})
    elapsed = time.perf_counter() - t0
    url = localdb.url_for(port, dbname)
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            n = c.execute(text("SELECT count(*) FROM structure WHERE area_m2 > 0")).scalar_one()
    finally:
        eng.dispose()
    assert n > 0, "ogr2ogr wrote no rows into structure"
    return elapsed


def time_ledger_floor(port: int, dbname: str) -> tuple[float, float]:
    """The floor under any importer into the ledger: with ogr2ogr's table already in the server,
    one ``INSERT INTO structure … SELECT`` of the same rows (fields mapped in SQL), first with
    the triggers off (only the table's constraints and indexes), then with them (area, audit).
    Each is rolled back, so both start from the same empty ledger."""
    insert = text(
        f"INSERT INTO structure ({LEDGER_COLUMNS}) "
        + _ledger_select("ogr_structure", date='"发现日期"::date')
    )
    eng = make_engine(localdb.url_for(port, dbname))
    out = []
    try:
        for triggers in (False, True):
            with eng.connect() as c:
                tx = c.begin()
                c.execute(text("SET LOCAL geo_enforce.actor = 'bench'"))
                if not triggers:
                    c.execute(text("SET LOCAL session_replication_role = replica"))
                t0 = time.perf_counter()
                n = c.execute(insert).rowcount
                out.append(time.perf_counter() - t0)
                assert n > 0
                tx.rollback()
    finally:
        eng.dispose()
    return out[0], out[1]


def _ogr2ogr() -> str:
    exe = shutil.which("ogr2ogr")
    if exe is None:
        raise SystemExit("ogr2ogr not found: apt-get install gdal-bin (scripts/setup.sh does)")
    return exe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ge_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    gpkg = work / f"structures_{args.n}.gpkg"
    if not gpkg.exists():
        t0 = time.perf_counter()
        make_file(gpkg, args.n)
        print(f"generated {args.n} polygons in {time.perf_counter() - t0:.1f} s → {gpkg}")
    cfg = LocalDbSettings(dir=Path(os.environ.get("GEO_ENFORCE_BENCH_PGDATA", ROOT / ".pgdata")))
    url = localdb.start(cfg, echo=lambda *_: None)
    port = int(url.split(":")[-1].split("/")[0])

    times: dict[str, list[float]] = {
        "ours": [],
        "again": [],
        "ogr": [],
        "ogr_ledger": [],
        "floor_bare": [],
        "floor_triggers": [],
    }
    order = ["ours", "ogr", "ogr_ledger"]
    for rep in range(args.repeat):
        for which in order[rep % 3 :] + order[: rep % 3]:
            name = f"ge_bench_{which}"
            db = fresh_db(port, name)
            try:
                if which == "ours":
                    first, second = time_importer(db, gpkg)
                    times["ours"].append(first)
                    times["again"].append(second)
                    print(f"run {rep + 1}: geo-enforce {first:.2f} s, re-import {second:.2f} s")
                elif which == "ogr":
                    times["ogr"].append(time_ogr2ogr(port, name, gpkg))
                    bare, trig = time_ledger_floor(port, name)
                    times["floor_bare"].append(bare)
                    times["floor_triggers"].append(trig)
                    print(
                        f"run {rep + 1}: ogr2ogr (new table) {times['ogr'][-1]:.2f} s; "
                        f"INSERT … SELECT into the ledger {bare:.2f} s, with triggers {trig:.2f} s"
                    )
                else:
                    times["ogr_ledger"].append(time_ogr2ogr_into_ledger(port, name, gpkg))
                    print(f"run {rep + 1}: ogr2ogr (ledger) {times['ogr_ledger'][-1]:.2f} s")
            finally:
                localdb.drop_database(port, name)

    best = {k: min(v) for k, v in times.items()}
    best_ours, best_ogr = best["ours"], best["ogr"]
    print()
    print(f"| {args.n:,} polygons, best of {args.repeat} | seconds | features/s | vs ogr2ogr |")
    print("| --- | ---: | ---: | ---: |")
    for label, t in (
        ("ogr2ogr -f PostgreSQL, new table (COPY)", best_ogr),
        ("ogr2ogr -append into `structure` (-sql mapping, same triggers)", best["ogr_ledger"]),
        (
            "floor: `INSERT … SELECT` from ogr2ogr's table into `structure`, triggers off",
            best["floor_bare"],
        ),
        ("floor: the same with the area and audit triggers", best["floor_triggers"]),
        ("geo-enforce import (validate, COPY, upsert, triggers)", best_ours),
        ("geo-enforce re-import (all unchanged)", best["again"]),
    ):
        print(f"| {label} | {t:.2f} | {args.n / t:,.0f} | {t / best_ogr:.2f} |")
    print()
    print(
        f"ratio geo-enforce / ogr2ogr into the ledger table = {best_ours / best['ogr_ledger']:.2f}"
    )
    ratio = best_ours / best_ogr
    print(f"ratio geo-enforce / ogr2ogr = {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
