"""Grouped area totals through the API against the bare SQL aggregate, same database, same run.

Loads N structures (default 1,000,000) into a fresh database on the local PostGIS cluster
through the normal INSERT path (area trigger and audit trigger fire for every row), then times:

- ``GET /reports/areas`` in-process (FastAPI TestClient: routing, token check, validation,
  the library query (GROUP BY, labels, totals row), JSON rendering), and
- the bare SQL aggregate (``SELECT … count(*), sum(area_m2) … GROUP BY …``) over psycopg2,

alternating the two, after warm-up. Reports p50 and p95 per case and the ratio API/SQL.

    .venv/bin/python bench/report_bench.py --n 1000000 --repeat 15

The cases with the dissolved footprint compare ``ST_Union`` per group in both paths.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg2
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo_enforce.settings import LocalDbSettings, Settings  # noqa: E402
from geo_enforce.storage import localdb  # noqa: E402
from geo_enforce.storage.migrate import upgrade  # noqa: E402

console = Console()
N_VILLAGES = 15
CATEGORIES = ("villa", "factory", "steel_shed", "wall", "gate", "courtyard", "carport", "other")
STATUSES = ("suspected", "verified", "notice_served", "demolished", "rectified")

LOAD_SQL = """
INSERT INTO structure (case_no, village_code, category, status, floors, households,
                       discovered_on, demolished_on, geom)
SELECT 'B-' || g,
       'V' || lpad(mod(g / 40, %(nv)s)::text, 2, '0'),
       (%(cats)s::text[])[1 + mod(g / 5, 8)],
       (%(stats)s::text[])[1 + mod(g, 5)],
       1 + mod(g, 3),
       CASE WHEN mod(g / 5, 8) = 0 THEN 1 ELSE 0 END,
       DATE '2020-01-01' + mod(g * 37, 1826)::int,
       CASE WHEN mod(g, 5) = 3 THEN DATE '2020-01-01' + mod(g * 37, 1826)::int + 30 END,
       ST_Multi(ST_MakeEnvelope(x, y, x + 0.0001 + mod(g, 5) * 0.00005,
                                y + 0.0001 + mod(g, 3) * 0.00005, 4490))
FROM (SELECT g, 117.15 + mod(g * 7919, 100000) / 1000000.0 AS x,
             38.97 + mod(g * 104729, 60000) / 1000000.0 AS y
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g) s
"""

#: the dissolved cases' figures over one village's 2024 demolitions
DISSOLVED_FIGURES = (
    "count(*), sum(area_m2), sum(households) FILTER (WHERE category IN ('villa')), "
    "ST_Area(geography(ST_Union(geom)), true) FROM structure "
    "WHERE retired_at IS NULL AND status = 'demolished' "
    "AND demolished_on BETWEEN '2024-01-01' AND '2024-12-31' AND village_code = 'V01'"
)

CASES = [
    (
        "2024 demolished by village × category",
        {"year": 2024, "status": "demolished", "group_by": "village,category", "dissolve": "false"},
        """SELECT village_code, category, count(*), sum(area_m2),
                  sum(households) FILTER (WHERE category IN ('villa'))
           FROM structure WHERE retired_at IS NULL AND status = 'demolished'
             AND demolished_on BETWEEN '2024-01-01' AND '2024-12-31'
           GROUP BY village_code, category""",
    ),
    (
        "all records by village × status",
        {"group_by": "village,status", "date_by": "discovered", "dissolve": "false"},
        """SELECT village_code, status, count(*), sum(area_m2),
                  sum(households) FILTER (WHERE category IN ('villa'))
           FROM structure WHERE retired_at IS NULL GROUP BY village_code, status""",
    ),
    (
        "2024 demolished by month, dissolved; peer: per-group SQL only",
        {"year": 2024, "status": "demolished", "group_by": "month", "admin_code": "V01"},
        f"SELECT to_char(demolished_on, 'YYYY-MM'), {DISSOLVED_FIGURES} GROUP BY 1",
    ),
    (
        "2024 demolished by month, dissolved; peer: same figures by hand (+ total union)",
        {"year": 2024, "status": "demolished", "group_by": "month", "admin_code": "V01"},
        f"SELECT to_char(demolished_on, 'YYYY-MM'), {DISSOLVED_FIGURES} GROUP BY 1 "
        f"UNION ALL SELECT NULL, {DISSOLVED_FIGURES}",
    ),
]


def load(port: int, dbname: str, n: int, chunk: int) -> None:
    # as the schema owner: the superuser is not let in over TCP
    owner = localdb.url_for(port, dbname, localdb.OWNER_ROLE)
    conn = psycopg2.connect(owner.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('geo_enforce.actor', 'bench', false)")
        for v in range(N_VILLAGES):
            x = 117.15 + v * 0.0067
            cur.execute(
                "INSERT INTO admin_area (code, name, level, geom) VALUES (%s, %s, 'village', "
                "ST_Multi(ST_MakeEnvelope(%s, 38.97, %s, 39.03, 4490)))",
                (f"V{v:02d}", f"测试{v:02d}村", x, x + 0.0067),
            )
        conn.commit()
        with Progress(console=console) as progress:
            task = progress.add_task(f"loading {n:,} structures", total=n)
            for lo in range(1, n + 1, chunk):
                hi = min(n, lo + chunk - 1)
                cur.execute(
                    LOAD_SQL,
                    {"nv": N_VILLAGES, "cats": list(CATEGORIES), "stats": list(STATUSES),
                     "lo": lo, "hi": hi},
                )  # fmt: skip
                conn.commit()
                progress.update(task, advance=hi - lo + 1)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE structure")
    conn.close()


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="structures to load")
    ap.add_argument("--repeat", type=int, default=15, help="timed runs per path and case")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--dbname", default="ge_bench_reports")
    ap.add_argument("--reuse", action="store_true", help="reuse a loaded --dbname")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()

    base = localdb.start(LocalDbSettings(dir=ROOT / ".pgdata"), echo=lambda *_: None)
    port = int(base.split(":")[-1].split("/")[0])
    if args.reuse:
        url = localdb.url_for(port, args.dbname)
    else:
        url = localdb.ensure_database(port, args.dbname, fresh=True)
        upgrade(url)
        t0 = time.perf_counter()
        load(port, args.dbname, args.n, args.chunk)
        console.print(f"loaded {args.n:,} structures in {time.perf_counter() - t0:.0f} s")

    from fastapi.testclient import TestClient

    from api import create_app
    from geo_enforce.access.auth import create_user, issue_token
    from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction

    engine = make_engine(url)
    with transaction(make_sessionmaker(engine), "bench") as s:
        name = f"bench{int(time.time())}"
        create_user(s, name, "viewer")
        token, _ = issue_token(s, name)
    engine.dispose()

    rows = []
    try:
        with (
            localdb.superuser_cursor(port, args.dbname) as cur,
            TestClient(create_app(Settings(database_url=url))) as client,
        ):
            client.headers["Authorization"] = f"Bearer {token}"
            for title, params, sql in CASES:
                api_t: list[float] = []
                sql_t: list[float] = []
                for i in range(args.warmup + args.repeat):
                    t0 = time.perf_counter()
                    r = client.get("/reports/areas", params=params)
                    t1 = time.perf_counter()
                    assert r.status_code == 200, r.text
                    cur.execute(sql)
                    got = cur.fetchall()
                    t2 = time.perf_counter()
                    if i >= args.warmup:
                        api_t.append(t1 - t0)
                        sql_t.append(t2 - t1)
                body = r.json()
                n_keys = len(params["group_by"].split(","))  # type: ignore[union-attr]
                got = [row for row in got if row[0] is not None]  # the hand-written total row
                assert len(body["groups"]) == len(got), (len(body["groups"]), len(got))
                assert body["total"]["count"] == sum(row[n_keys] for row in got)
                rows.append(
                    (title, len(got), body["total"]["count"], statistics.median(api_t),
                     _pct(api_t, 0.95), statistics.median(sql_t), _pct(sql_t, 0.95))
                )  # fmt: skip
                console.print(f"done: {title}")
    finally:
        if not args.keep:
            localdb.drop_database(port, args.dbname)

    print()
    print(
        f"N = {args.n:,} structures; {args.repeat} timed runs per path after {args.warmup} warm-up"
    )
    print()
    print(
        "| case | groups | records | API p50 ms | API p95 ms | SQL p50 ms | SQL p95 ms "
        "| p50 ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for title, ng, nrec, ap50, ap95, sp50, sp95 in rows:
        print(
            f"| {title} | {ng} | {nrec:,} | {ap50 * 1e3:.1f} | {ap95 * 1e3:.1f} | "
            f"{sp50 * 1e3:.1f} | {sp95 * 1e3:.1f} | {ap50 / sp50:.2f} |"
        )


if __name__ == "__main__":
    main()
