"""Detection speed and peak memory against plain windowed reading, at two raster sizes.

    python bench/detect_speed.py [--mp 100 --mp 400] [--dir /tmp/ge-speed] [--tile 2048]
                                 [--repeat 2] [--keep]

For each size a before/after pair of orthophotos (RGB uint8) with DSMs (float32) is generated
by streaming: a small pool of rendered synthetic tiles (``geo_enforce.demo.synthetic``) is
written window by window into tiled GeoTIFFs, so generation never holds a raster in memory.
Then, each in a fresh subprocess (so peak RSS is measured per task):

- ``read``: the peer — read all four rasters window by window with rasterio, nothing else;
- ``detect``: the project — align the pair (phase correlation, DSM offset, radiometry) and run
  the windowed DSM + colour detection on Dask (local threads) through merging and cleaning.

Each is run ``--repeat`` times (default 2), alternating; the fastest run of each counts and
peak memory is the highest seen. Prints megapixels per second, the ratio detect/read (target
≤ 2.0) and peak memory (target ≤ 1.5 GB, and not growing with the raster).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

POOL_PX = 1024
GSD = 0.25
ORIGIN = (500_000.0, 4_318_000.0)


def _pool(seeds=(1, 2, 3, 4)):
    """A few rendered synthetic tile pairs (before/after ortho and DSM), 1024 px each."""
    from geo_enforce.demo.synthetic import synthetic_pair

    tiles = []
    tmp = Path(sys.argv[0]).resolve().parent / ".speed-pool"
    for s in seeds:
        pair = synthetic_pair(
            tmp / str(s),
            seed=s,
            size_px=(POOL_PX, POOL_PX),
            gsd=GSD,
            shift_px=(0.0, 0.0),
            nodata_corner=False,
        )
        arrays = []
        for path in (pair.before_ortho, pair.before_dsm, pair.after_ortho, pair.after_dsm):
            with rasterio.open(path) as src:
                data = src.read()
            arrays.append(data if data.shape[0] == 3 else data[0])
        tiles.append(tuple(arrays))
    shutil.rmtree(tmp, ignore_errors=True)
    return tiles


def generate(folder: Path, megapixels: float) -> dict[str, Path]:
    """Write the four rasters of about ``megapixels`` each, tile by tile from the pool."""
    side = math.ceil(math.sqrt(megapixels * 1e6) / POOL_PX) * POOL_PX  # at least that many
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / f"{k}.tif" for k in ("before", "after", "before_dsm", "after_dsm")}
    if all(p.exists() for p in paths.values()):
        return paths
    pool = _pool()
    t = Affine(GSD, 0, ORIGIN[0], 0, -GSD, ORIGIN[1])
    common = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "crs": "EPSG:4548",
        "transform": t,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "zlevel": 1,
        "BIGTIFF": "YES",
    }
    dsts = {
        "before": rasterio.open(paths["before"], "w", count=3, dtype="uint8", nodata=0, **common),
        "after": rasterio.open(paths["after"], "w", count=3, dtype="uint8", nodata=0, **common),
        "before_dsm": rasterio.open(
            paths["before_dsm"], "w", count=1, dtype="float32", nodata=-9999, predictor=3, **common
        ),
        "after_dsm": rasterio.open(
            paths["after_dsm"], "w", count=1, dtype="float32", nodata=-9999, predictor=3, **common
        ),
    }
    rng = np.random.default_rng(0)
    try:
        for r in range(0, side, POOL_PX):
            for c in range(0, side, POOL_PX):
                ob, db, oa, da = pool[int(rng.integers(len(pool)))]
                w = Window(c, r, POOL_PX, POOL_PX)
                dsts["before"].write(ob, window=w)
                dsts["after"].write(oa, window=w)
                dsts["before_dsm"].write(db[None], window=w)
                dsts["after_dsm"].write(da[None], window=w)
    finally:
        for d in dsts.values():
            d.close()
    return paths


def task_read(paths: dict[str, str], tile: int) -> dict:
    n = 0
    with rasterio.open(paths["before"]) as src:
        width, height = src.width, src.height
    for key in ("before", "after", "before_dsm", "after_dsm"):
        with rasterio.open(paths[key]) as src:
            for r in range(0, height, tile):
                for c in range(0, width, tile):
                    w = Window(c, r, min(tile, width - c), min(tile, height - r))
                    n += int(src.read(window=w).size)
    return {"values": n, "pixels": width * height}


def task_detect(paths: dict[str, str], tile: int, state: str) -> dict:
    from geo_enforce.detection.pipeline import detect_pair
    from geo_enforce.imagery.align import align_flights

    shutil.rmtree(state, ignore_errors=True)
    alignment = align_flights(
        paths["before"],
        paths["after"],
        before_dsm=paths["before_dsm"],
        after_dsm=paths["after_dsm"],
    )
    res = detect_pair(alignment, state, tile=tile)
    shutil.rmtree(state, ignore_errors=True)
    return {"regions": len(res.regions), "pixels": alignment.grid.width * alignment.grid.height}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: reset at exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(argv: list[str]) -> int:
    mode, paths_json, tile, state = argv
    paths = json.loads(paths_json)
    t0 = time.perf_counter()
    out = task_read(paths, int(tile)) if mode == "read" else task_detect(paths, int(tile), state)
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(out))
    return 0


def _run(mode: str, paths: dict[str, Path], tile: int, state: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        json.dumps({k: str(v) for k, v in paths.items()}),
        str(tile),
        str(state),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _secs(runs: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return _child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mp", type=float, action="append", help="megapixels per raster")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/ge-detect-speed"))
    ap.add_argument("--tile", type=int, default=2048)
    ap.add_argument("--keep", action="store_true", help="keep the generated rasters")
    ap.add_argument(
        "--repeat", type=int, default=2, help="runs of each, alternating; the fastest counts"
    )
    args = ap.parse_args(argv)
    sizes = args.mp or [100.0, 400.0]
    rows = []
    for mp in sizes:
        folder = args.dir / f"{int(mp)}mp"
        t0 = time.perf_counter()
        paths = generate(folder, mp)
        gen_s = time.perf_counter() - t0
        reads, dets = [], []
        for _ in range(args.repeat):
            reads.append(_run("read", paths, args.tile, folder / "state"))
            dets.append(_run("detect", paths, args.tile, folder / "state"))
        read = min(reads, key=lambda r: r["seconds"])
        det = min(dets, key=lambda r: r["seconds"])
        read["peak_rss_mb"] = max(r["peak_rss_mb"] for r in reads)
        det["peak_rss_mb"] = max(r["peak_rss_mb"] for r in dets)
        mpx = read["pixels"] / 1e6
        rows.append((mpx, gen_s, read, det))
        print(
            f"{mpx:.0f} MP: generated in {gen_s:.0f} s; read {_secs(reads)} s, "
            f"detect {_secs(dets)} s ({det['regions']} regions)",
            file=sys.stderr,
        )
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        "| raster (each of 4) | read s | detect s | ratio | detect MP/s | read MP/s "
        "| peak RSS read MB | peak RSS detect MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for mpx, _g, read, det in rows:
        print(
            f"| {mpx:.0f} MP | {read['seconds']:.1f} | {det['seconds']:.1f} | "
            f"{det['seconds'] / read['seconds']:.2f} | {mpx / det['seconds']:.2f} | "
            f"{mpx / read['seconds']:.2f} | {read['peak_rss_mb']:.0f} | {det['peak_rss_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
