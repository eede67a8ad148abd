"""Vector-tile throughput: geo-enforce's /tiles endpoint against tipg, same table, same PostGIS.

Run by hand (never by the test suite)::

    .venv/bin/python bench/tiles_bench.py --structures 100000

It makes a scratch database ``ge_bench_tiles`` on the project's embedded PostGIS cluster
(``.pgdata``), migrates it, writes N synthetic structures over a 5 km × 5 km township near
117.20°E 39.00°N, starts both servers on loopback ports (one uvicorn worker each), and requests
the same tile list (every tile of the extent at the chosen zooms) from both. tipg is told to send
every feature (``TIPG_MAX_FEATURES_PER_TILE``) with the same 64-unit buffer and the same
properties, so both tiles carry the same features. Both are asked with ``Accept-Encoding: gzip``
and a viewer token (ours needs it; tipg ignores it).

Each round restarts our server (an empty tile cache) and makes three passes over the tile list:
tipg and our **cold** pass in alternating order, then our **repeated** pass (answered from the
cache after checking the layer versions); tipg renders every tile on every pass. Medians over
the rounds are reported. Then it opens the map page in headless
Chromium (Debian's) and times the first vector-tile render of the structures layer on a fresh
server. The ratio, not the absolute figures, is the result: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import mapbox_vector_tile
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo_enforce.settings import LocalDbSettings  # noqa: E402
from geo_enforce.storage import localdb  # noqa: E402
from geo_enforce.storage.engine import make_engine, set_actor  # noqa: E402
from geo_enforce.storage.migrate import upgrade  # noqa: E402
from geo_enforce.tiles.mvt import tiles_covering  # noqa: E402

DB = "ge_bench_tiles"
EXTENT = (117.17, 38.975, 117.23, 39.025)
PROPS = (
    "id,case_no,village_code,address,category,status,floors,area_m2,area_mu,floor_area_m2,"
    "discovered_on,notice_on,demolished_on,closed_on"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, n: int) -> None:
    engine = make_engine(url)
    cols = 400
    rows = (n + cols - 1) // cols
    dy = (EXTENT[3] - EXTENT[1]) / rows
    dx = (EXTENT[2] - EXTENT[0]) / cols
    t0 = time.perf_counter()
    with engine.begin() as conn:
        from sqlalchemy.orm import Session

        set_actor(Session(bind=conn), "bench")
        conn.execute(
            text(
                """
                INSERT INTO admin_area (code, name, level, geom)
                VALUES ('120111100', '基准镇', 'town', ST_Multi(ST_MakeEnvelope(:w, :s, :e, :n,
                        4490)))
                """
            ),
            {"w": EXTENT[0], "s": EXTENT[1], "e": EXTENT[2], "n": EXTENT[3]},
        )
        conn.execute(
            text(
                """
                INSERT INTO structure (case_no, village_code, category, status, floors,
                                       discovered_on, address, geom)
                SELECT 'B-' || lpad(i::text, 6, '0'),
                       '120111100' || lpad((i % 15 + 1)::text, 3, '0'),
                       (ARRAY['villa','factory','steel_shed','wall','gate','courtyard',
                              'carport','other'])[1 + i % 8],
                       (ARRAY['suspected','verified','notice_served','demolished','rectified',
                              'legalized','dismissed'])[1 + i % 7],
                       1 + i % 3, date '2020-01-01' + (i % 1800), '基准村' || (i % 97) || '号',
                       ST_Multi(ST_MakeEnvelope(x, y, x + w, y + h, 4490))
                FROM (SELECT i,
                             :w0 + (i % :cols) * :dx + random() * :dx * 0.2 AS x,
                             :s0 + (i / :cols) * :dy + random() * :dy * 0.2 AS y,
                             :dx * (0.4 + random() * 0.3) AS w,
                             :dy * (0.4 + random() * 0.3) AS h
                      FROM generate_series(0, :n - 1) AS i) s
                """
            ),
            {"w0": EXTENT[0], "s0": EXTENT[1], "cols": cols, "dx": dx, "dy": dy, "n": n},
        )
    with engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("ANALYZE structure"))
    engine.dispose()
    print(f"seeded {n} structures in {time.perf_counter() - t0:.1f} s", flush=True)


def start(cmd: list[str], env: dict[str, str], port: int, probe: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(
                f"server exited: {cmd}\n{proc.stderr.read().decode() if proc.stderr else ''}"
            )
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server did not start: {cmd}")


def run_round(urls: list[str], concurrency: int, headers: dict[str, str]) -> tuple[float, int]:
    """Requests per second over ``urls`` and bytes on the wire; every response must be 200."""
    with httpx.Client(timeout=120, headers={"Accept-Encoding": "gzip", **headers}) as client:

        def get(u: str) -> int:
            r = client.get(u)
            if r.status_code != 200:
                raise SystemExit(f"{u}: HTTP {r.status_code} {r.text[:200]}")
            return int(r.headers.get("content-length", len(r.content)))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            sizes = list(pool.map(get, urls))
        return len(urls) / (time.perf_counter() - t0), sum(sizes)


def features(data: bytes) -> int:
    decoded = mapbox_vector_tile.decode(data)
    return sum(len(layer["features"]) for layer in decoded.values())


def viewer_token(url: str) -> str:
    """A viewer account and token in the bench database (created once, reused)."""
    from geo_enforce.access.auth import create_user, issue_token
    from geo_enforce.errors import Conflict
    from geo_enforce.storage.engine import make_sessionmaker, transaction

    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        try:
            with transaction(factory, "bench") as s:
                create_user(s, "bench_viewer", "viewer")
        except Conflict:
            pass
        with transaction(factory, "bench") as s:
            return issue_token(s, "bench_viewer")[0]
    finally:
        engine.dispose()


def first_render(base: str, runs: int, token: str) -> list[tuple[float, float, int]]:
    """(ms to first drawn structure, ms to all visible structure tiles, features drawn) per run."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(runs):
            # the page's CSP forbids eval; Playwright's wait_for_function needs it
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
            ctx.add_cookies([{"name": "ge_token", "value": token, "url": base}])
            page = ctx.new_page()
            page.route(
                "**/*",
                lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort(),
            )
            page.goto(base + "/map", wait_until="domcontentloaded")
            page.wait_for_function(
                "window.geoEnforce && geoEnforce.state.loaded.structure", timeout=180_000
            )
            st = page.evaluate("geoEnforce.state")
            zoom = page.evaluate("geoEnforce.map.getZoom()")
            out.append(
                (
                    st["firstDraw"]["structure"],
                    st["loaded"]["structure"],
                    st["drawn"]["structure"],
                    zoom,
                )
            )
            ctx.close()
        browser.close()
    return out


def print_runs(title: str, runs: list) -> None:
    print(f"\nfirst render {title}")
    print("| run | zoom | first structure drawn (ms) | visible tiles loaded (ms) | drawn |")
    print("|---|---|---|---|---|")
    for i, (first, loaded, drawn, zoom) in enumerate(runs, 1):
        print(f"| {i} | {zoom} | {first:.0f} | {loaded:.0f} | {drawn} |")
    print(
        f"median first render {statistics.median(r[0] for r in runs):.0f} ms, "
        f"all visible {statistics.median(r[1] for r in runs):.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--structures", type=int, default=100_000)
    ap.add_argument("--zooms", type=int, nargs="+", default=[14, 15, 16])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--browser-runs", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="keep an existing seeded database")
    args = ap.parse_args()

    url = localdb.start(LocalDbSettings(dir=ROOT / ".pgdata"), echo=lambda *_: None)
    port = int(url.split(":")[-1].split("/")[0])
    exists = False
    if args.reuse:
        try:
            eng = make_engine(localdb.url_for(port, DB))
            with eng.connect() as c:
                exists = (
                    c.execute(text("SELECT count(*) FROM structure")).scalar() == args.structures
                )
            eng.dispose()
        except Exception:
            exists = False
    if not exists:
        owner_url = localdb.ensure_database(port, DB, fresh=True)
        upgrade(owner_url)
        seed(owner_url, args.structures)
    else:  # a database kept from an older schema gets the new migrations
        upgrade(localdb.url_for(port, DB, localdb.OWNER_ROLE))
    db_url = localdb.url_for(port, DB)  # the servers connect as the app role

    token = viewer_token(db_url)
    auth = {"Authorization": f"Bearer {token}"}
    tiles = [t for z in args.zooms for t in tiles_covering(EXTENT, z)]
    warm_tiles = tiles_covering(EXTENT, min(args.zooms) - 1)
    print(f"{len(tiles)} tiles at zooms {args.zooms}", flush=True)
    pg = db_url.replace("postgresql+psycopg2://", "postgresql://")

    def start_ours() -> tuple[subprocess.Popen, int]:
        p = free_port()
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
        cmd += ["--port", str(p), "--log-level", "warning"]
        return start(cmd, {"DATABASE_URL": pg}, p, "/health"), p

    def ours_urls(p: int, tl) -> list[str]:
        return [f"http://127.0.0.1:{p}/tiles/structure/{z}/{x}/{y}.pbf" for z, x, y in tl]

    def tipg_urls(p: int, tl) -> list[str]:
        return [
            f"http://127.0.0.1:{p}/collections/public.structure/tiles/WebMercatorQuad/"
            f"{z}/{x}/{y}?properties={PROPS}"
            for z, x, y in tl
        ]

    ours, p_ours = start_ours()
    p_tipg = free_port()
    tipg = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tipg.main:app",
            "--port",
            str(p_tipg),
            "--log-level",
            "warning",
        ],
        {
            # JIT off for tipg's connections (asyncpg passes the query parameter as a server
            # setting): PostgreSQL JIT-compiled its tile query on every request, ~110 ms a tile
            # on 2026-12-02 (ours stays under the JIT cost threshold), so it is given its best
            "DATABASE_URL": pg + "?jit=off",
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_MAX_FEATURES_PER_TILE": "10000000",
            "TIPG_TILE_BUFFER": "64",
            "TIPG_DEFAULT_MAXZOOM": "24",
        },
        p_tipg,
        "/collections",
    )
    fresh = None
    try:
        u_tipg = tipg_urls(p_tipg, tiles)
        run_round(tipg_urls(p_tipg, warm_tiles), args.concurrency, auth)
        # the same features in both (a few tiles across zooms)
        u_ours = ours_urls(p_ours, tiles)
        for i in range(0, len(tiles), max(1, len(tiles) // 6)):
            a = features(httpx.get(u_ours[i], headers=auth, timeout=120).content)
            b = features(httpx.get(u_tipg[i], timeout=120).content)
            print(f"tile {tiles[i]}: {a} features (geo-enforce) vs {b} (tipg)", flush=True)
            # tipg filters with ST_Intersects on its own tile bounds, we with && on ST_TileEnvelope:
            # features touching the tile edge differ by about 1 %; more is a real mismatch
            if abs(a - b) > 0.02 * max(a, b, 100):
                raise SystemExit("the two servers do not return the same features")
        res: dict[str, list[float]] = {"cold": [], "repeated": [], "tipg": []}
        size: dict[str, int] = {}
        for r in range(args.rounds):
            # a fresh server each round: its tile cache is empty for the cold pass
            ours.terminate()
            ours.wait(timeout=10)
            ours, p_ours = start_ours()
            u_ours = ours_urls(p_ours, tiles)
            run_round(ours_urls(p_ours, warm_tiles), args.concurrency, auth)  # connections
            passes = [("tipg", u_tipg), ("cold", u_ours)]
            for name, urls in [*passes[:: 1 if r % 2 == 0 else -1], ("repeated", u_ours)]:
                rps, nbytes = run_round(urls, args.concurrency, auth)
                res[name].append(rps)
                size["tipg" if name == "tipg" else "geo-enforce"] = nbytes
                print(f"round {r + 1} {name}: {rps:.1f} req/s", flush=True)
        med = {k: statistics.median(v) for k, v in res.items()}
        print()
        print(f"| server | pass | req/s (median of {args.rounds} rounds) | MB on the wire |")
        print("|---|---|---|---|")
        print(f"| tipg | every pass | {med['tipg']:.1f} | {size['tipg'] / 1e6:.1f} |")
        print(f"| geo-enforce | cold | {med['cold']:.1f} | {size['geo-enforce'] / 1e6:.1f} |")
        print(f"| geo-enforce | repeated | {med['repeated']:.1f} | |")
        print(
            f"\nratio geo-enforce / tipg: cold {med['cold'] / med['tipg']:.2f}, "
            f"repeated {med['repeated'] / med['tipg']:.2f}"
        )

        if args.browser_runs:
            runs = first_render(f"http://127.0.0.1:{p_ours}", args.browser_runs, token)
            print_runs("on the server that served the passes (its cache warm)", runs)
            runs = []
            for _ in range(args.browser_runs):  # a fresh server each time: an empty tile cache
                fresh, p_fresh = start_ours()
                runs += first_render(f"http://127.0.0.1:{p_fresh}", 1, token)
                fresh.terminate()
                fresh.wait(timeout=10)
                fresh = None
            print_runs("on a freshly started server (empty tile cache)", runs)
    finally:
        for proc in (ours, tipg, fresh):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
