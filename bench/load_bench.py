"""Load benchmark: >= 50 concurrent clients for 60 s against the API served by uvicorn on loopback.

Not part of the test suite; run by hand:

    .venv/bin/python bench/load_bench.py --clients 50 --duration 60

It creates a fresh database on the local cluster (``geo-enforce db start``), loads the sample
township, creates a viewer and an editor with tokens, serves the API with ``geo-enforce serve``
(uvicorn, loopback only) and runs a mix of requests from concurrent clients:

- ``tile``     vector tiles (MVT) of structures at z14–16 over the township,
- ``features`` OGC API Features pages of structures by bbox,
- ``report``   area reports (违法建设面积统计 by village/status),
- ``public``   the 公示 list of decided cases,
- ``edit``     structure edits with optimistic locking (each client edits its own case, so
               there is no conflict: any 409 would be an error),
- ``health``   the trivial endpoint, the in-run peer: other kinds are reported as a ratio to it;
- ``other``    reads of other resources when the served API has them (farmland parcel at a
               point, map search, change patches, verifications, audit trail).

Every non-2xx answer or transport error counts as an error; the run exits 1 if there is any.
All traffic goes to 127.0.0.1 only, the loop is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIX = {"tile": 30, "features": 20, "report": 10, "public": 10, "edit": 15, "health": 15}
#: Read endpoints of other resources, used when the served API has them (checked at start in
#: /openapi.json); they share the "other" kind and its weight.
OTHER_WEIGHT = 10
OTHER_READS = {
    "/parcels/at": lambda pt: ("/parcels/at", {"x": pt[0], "y": pt[1]}),
    "/map/search": lambda pt: ("/map/search", {"q": "XQ"}),
    "/patches": lambda pt: ("/patches", {"limit": 50}),
    "/verifications": lambda pt: ("/verifications", {"limit": 50}),
    "/audit": lambda pt: ("/audit", {"table": "structure", "limit": 50}),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def prepare(dbname: str) -> dict:
    """Fresh database with the sample township, users and tokens; returns what clients need."""
    from sqlalchemy import text

    from geo_enforce.access import auth
    from geo_enforce.demo.sample import load_township
    from geo_enforce.settings import Settings
    from geo_enforce.storage import localdb
    from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
    from geo_enforce.storage.migrate import upgrade

    s = Settings()
    base = localdb.start(s.local_db, echo=lambda *_: None)
    port = int(base.split(":")[-1].split("/")[0])
    url = localdb.ensure_database(port, dbname, fresh=True)
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    counts = load_township(factory, actor="bench:sample")
    with transaction(factory, "bench:setup") as session:
        auth.create_user(session, "bench_viewer", "viewer")
        auth.create_user(session, "bench_editor", "editor")
        viewer, _ = auth.issue_token(session, "bench_viewer", ttl_days=1)
        editor, _ = auth.issue_token(session, "bench_editor", ttl_days=1)
    with engine.connect() as conn:
        ext = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM structure) q"
            )
        ).one()
        parcel_points = [
            (float(r[0]), float(r[1]))
            for r in conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                    "FROM farmland_parcel WHERE retired_at IS NULL ORDER BY id LIMIT 100) q"
                )
            )
        ]
        rows = conn.execute(
            text("SELECT id, version FROM structure WHERE retired_at IS NULL ORDER BY id")
        ).all()
    engine.dispose()
    return {
        "url": url,
        "port": port,
        "counts": counts,
        "extent": tuple(ext),
        "structures": [(r.id, r.version) for r in rows],
        "parcel_points": parcel_points,
        "viewer": viewer,
        "editor": editor,
    }


class Recorder:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        self.lat[kind].append(seconds)
        if error:
            self.errors[kind].append(error)


async def client_loop(
    n: int,
    base: str,
    info: dict,
    deadline: float,
    rec: Recorder,
    rng: random.Random,
    mix: dict[str, int],
    others: list[str],
) -> None:
    x0, y0, x1, y1 = info["extent"]
    sid, version = info["structures"][n % len(info["structures"])]
    viewer = {"Authorization": f"Bearer {info['viewer']}"}
    editor = {"Authorization": f"Bearer {info['editor']}"}
    kinds, weights = zip(*mix.items(), strict=True)
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if kind == "tile":
                z = rng.choice((14, 15, 16))
                x, y = _tile(lon, lat, z)
                req = c.get(f"/tiles/structure/{z}/{x}/{y}.pbf", headers=viewer)
            elif kind == "features":
                d = 0.004
                bbox = f"{lon - d},{lat - d},{lon + d},{lat + d}"
                req = c.get(
                    "/collections/structure/items",
                    params={"bbox": bbox, "limit": 100},
                    headers=viewer,
                )
            elif kind == "report":
                req = c.get("/reports/areas", params={"group_by": "village"}, headers=viewer)
            elif kind == "public":
                req = c.get("/public/cases", params={"limit": 50})
            elif kind == "health":
                req = c.get("/health")
            elif kind == "other":
                path, params = OTHER_READS[rng.choice(others)](rng.choice(info["parcel_points"]))
                req = c.get(path, params=params, headers=editor)
            else:
                req = c.patch(
                    f"/structures/{sid}",
                    json={"notes": f"load {uuid.uuid4().hex[:8]}"},
                    headers={**editor, "If-Match": f'"{version}"'},
                )
            t = time.perf_counter()
            error = None
            try:
                r = await req
                if r.status_code >= 300:
                    error = f"{r.status_code} {r.text[:120]}"
                elif kind == "edit":
                    version = int(r.json().get("properties", r.json()).get("version", version + 1))
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            rec.add(kind, time.perf_counter() - t, error)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.clients < 1 or args.duration <= 0:
        ap.error("--clients and --duration must be positive")

    dbname = f"ge_bench_{uuid.uuid4().hex[:8]}"
    print(f"preparing database {dbname} with the sample township …", file=sys.stderr)
    info = prepare(dbname)
    http_port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": info["url"],
        "GEO_ENFORCE_DATA_DIR": str(ROOT / "var" / "bench"),
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "geo-enforce"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(http_port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{http_port}"
    rec = Recorder()
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the API did not come up")
        paths = httpx.get(f"{base}/openapi.json", timeout=30).json()["paths"]
        others = [p for p in OTHER_READS if "get" in paths.get(p, {})]
        mix = {**MIX, "other": OTHER_WEIGHT} if others else dict(MIX)
        print(
            f"{args.clients} clients for {args.duration:.0f} s against {base} "
            f"({args.workers} uvicorn workers); other reads: {', '.join(others) or 'none'}",
            file=sys.stderr,
        )
        started = time.monotonic()
        deadline = started + args.duration

        async def run() -> None:
            rngs = [random.Random(args.seed * 1000 + i) for i in range(args.clients)]
            await asyncio.gather(
                *(
                    client_loop(i, base, info, deadline, rec, rngs[i], mix, others)
                    for i in range(args.clients)
                )
            )

        asyncio.run(run())
        elapsed = time.monotonic() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        from geo_enforce.storage import localdb

        localdb.drop_database(info["port"], dbname)

    total = sum(len(v) for v in rec.lat.values())
    n_err = sum(len(v) for v in rec.errors.values())
    health_p50 = statistics.median(rec.lat["health"]) if rec.lat["health"] else float("nan")
    print(
        f"\n{total} requests in {elapsed:.1f} s = {total / elapsed:.0f} req/s, "
        f"{n_err} errors; sample township {info['counts']}\n"
    )
    print(f"other reads in the mix: {', '.join(others) or 'none'}\n")
    print("| kind | requests | errors | p50 ms | p95 ms | p99 ms | p50 / health p50 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    everything: list[float] = []
    for kind in mix:
        v = rec.lat[kind]
        if not v:
            continue
        everything += v
        print(
            f"| {kind} | {len(v)} | {len(rec.errors[kind])} | {pct(v, 0.5) * 1e3:.0f} | "
            f"{pct(v, 0.95) * 1e3:.0f} | {pct(v, 0.99) * 1e3:.0f} | "
            f"{statistics.median(v) / health_p50:.1f} |"
        )
    print(
        f"| all | {len(everything)} | {n_err} | {pct(everything, 0.5) * 1e3:.0f} | "
        f"{pct(everything, 0.95) * 1e3:.0f} | {pct(everything, 0.99) * 1e3:.0f} | |"
    )
    for kind, errs in rec.errors.items():
        for e in errs[:3]:
            print(f"error {kind}: {e}", file=sys.stderr)
    return 1 if n_err else 0


if __name__ == "__main__":
    raise SystemExit(main())
