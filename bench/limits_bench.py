"""How fast the limits of issue 13 refuse hostile inputs over HTTP.

Run by hand (never by the test suite)::

    .venv/bin/python bench/limits_bench.py [--vertices 1000000]

It makes a scratch database ``ge_bench_limits`` on the project's embedded PostGIS cluster
(``.pgdata``), migrates it, creates an editor and an admin, and times, in-process through
FastAPI's TestClient with the default settings:

- ``POST /structures`` with one polygon of ``--vertices`` vertices (the probe sent 1e6: it took
  20 s and later made a 29 MB items page); refused with 413 by ``limits.max_vertices``;
- ``POST /flights`` with a sparse 10000 × 10000 GeoTIFF of a few kilobytes (the probe's file
  passed the byte limit and was read); refused with 413 from its header.

The machine is shared; the figures are for orientation (docs/security.md quotes one run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB = "ge_bench_limits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertices", type=int, default=1_000_000)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from api import create_app
    from geo_enforce.settings import LocalDbSettings, Settings
    from geo_enforce.storage import localdb
    from geo_enforce.storage.engine import make_engine, make_sessionmaker
    from geo_enforce.storage.migrate import upgrade
    from tests.conftest import bearer_headers
    from tests.support import hostile

    url = localdb.start(LocalDbSettings(dir=ROOT / ".pgdata"), echo=lambda *_: None)
    port = int(url.split(":")[-1].split("/")[0])
    upgrade(localdb.ensure_database(port, DB, fresh=True))
    app_url = localdb.url_for(port, DB)
    engine = make_engine(app_url)
    try:
        editor, admin = bearer_headers(
            make_sessionmaker(engine), ("b_editor", "editor"), ("b_admin", "admin")
        )
        tmp = Path(tempfile.mkdtemp(prefix="ge-limits-"))
        ring = [list(c) for c in hostile.ring(args.vertices, r=1e-3).exterior.coords]
        body = json.dumps(
            {
                "case_no": "BIG-1",
                "category": "other",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
        sparse = hostile.sparse_geotiff(tmp / "sparse.tif")
        settings = Settings(database_url=app_url, data_dir=tmp / "var")
        with TestClient(create_app(settings)) as c:
            t = time.perf_counter()
            r = c.post(
                "/structures",
                content=body,
                headers={**editor, "Content-Type": "application/json"},
            )
            print(
                f"POST /structures, {args.vertices:,} vertices ({len(body) / 1e6:.1f} MB): "
                f"{r.status_code} in {time.perf_counter() - t:.2f} s"
            )
            t = time.perf_counter()
            r = c.post(
                "/flights",
                headers=admin,
                files={"ortho": ("sparse.tif", sparse.read_bytes(), "image/tiff")},
                data={"flown_on": "2024-05-01"},
            )
            print(
                f"POST /flights, sparse 10000 x 10000 GeoTIFF ({sparse.stat().st_size:,} bytes): "
                f"{r.status_code} in {time.perf_counter() - t:.2f} s"
            )
    finally:
        engine.dispose()
        localdb.drop_database(port, DB)


if __name__ == "__main__":
    main()
