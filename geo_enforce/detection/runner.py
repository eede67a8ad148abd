"""Windowed change detection on Dask, resumable from per-window state on disk.

The common grid is cut into square windows (``tile`` pixels) read with ``halo`` pixels of
overlap so filters see context; each window is one Dask task that reads both flights on the
grid, runs the detector, keeps the window's core, labels connected regions and polygonises them
in global pixel coordinates. The task writes its result (core mask and region fragments with
their statistics) atomically to ``state_dir``; a rerun after a kill skips finished windows and
yields the same result. Fragments cut by window edges are merged afterwards, so memory depends
on the window size and the amount of change, never on the raster size.

Local threads by default; ``scheduler`` names a dask.distributed scheduler address (or pass a
``distributed.Client``).
"""

from __future__ import annotations

import json
import os
import pickle
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import shapely
from rasterio.features import shapes
from rasterio.transform import Affine
from rasterio.windows import Window
from scipy import ndimage as ndi
from shapely.geometry import shape

from geo_enforce.detection.detectors import Detector, WindowPair
from geo_enforce.imagery.align import Alignment, Grid, Source, read_on_grid

KIND_CODES = {1: "new", 2: "demolished"}


@dataclass(frozen=True)
class WindowJob:
    """One window of the grid: its core (no overlap) and the padded window actually read.

    ``shared_rows`` is how many rows at the top of the padded window the window above
    (``above``) has read too; the bottom ``handoff_rows`` rows are the top rows of ``below``.
    """

    index: int
    row: int
    col: int
    core: tuple[int, int, int, int]  # col_off, row_off, width, height
    padded: tuple[int, int, int, int]
    shared_rows: int = 0
    above: int | None = None
    below: int | None = None
    handoff_rows: int = 0


def plan_windows(grid: Grid, *, tile: int = 2048, halo: int = 32) -> list[WindowJob]:
    """Cut ``grid`` into windows whose cores are padded by ``halo`` pixels (clipped at the edge).

    Columns: cores are ``tile`` wide and read with ``halo`` columns on either side. Rows are
    read in block-aligned bands of ``tile`` rows and each core sits ``halo`` rows above its
    band: a window reads its own band plus the bottom ``2 × halo`` rows of the band above,
    which the window above has just read (and hands over, see :class:`_Strips`). So no window
    decodes the first block row of the band below merely for its lower context.
    """
    if halo < 0 or tile < 4 * max(halo, 1):
        raise ValueError(f"tile ({tile}) must be at least 4 × halo ({halo})")
    jobs = []
    n_cols = -(-grid.width // tile)
    n_rows = -(-grid.height // tile)
    for r in range(n_rows):
        band0, band1 = r * tile, min(grid.height, (r + 1) * tile)
        core_r0 = 0 if r == 0 else band0 - halo
        core_r1 = grid.height if band1 == grid.height else band1 - halo
        pad_r0 = max(0, core_r0 - halo)
        for c in range(n_cols):
            col_off = c * tile
            w = min(tile, grid.width - col_off)
            c0 = max(0, col_off - halo)
            c1 = min(grid.width, col_off + w + halo)
            i = r * n_cols + c
            jobs.append(
                WindowJob(
                    i,
                    r,
                    c,
                    (col_off, core_r0, w, core_r1 - core_r0),
                    (c0, pad_r0, c1 - c0, band1 - pad_r0),
                    shared_rows=band0 - pad_r0,
                    above=i - n_cols if r > 0 else None,
                    below=i + n_cols if r + 1 < n_rows else None,
                    handoff_rows=2 * halo if r + 1 < n_rows else 0,
                )
            )
    return jobs


@dataclass(frozen=True)
class RunSpec:
    """Everything a window task needs; small and picklable."""

    alignment: Alignment
    detector: Detector
    state_dir: str


def read_pair(alignment: Alignment, window: Window, *, with_dsm: bool = True) -> WindowPair:
    """Both flights for ``window`` of the common grid, corrected and ready for a detector.

    Images are read in their own type (converted to float32 lazily, see :class:`WindowPair`);
    DSMs as float32 with the vertical offset removed.
    """
    grid = alignment.grid
    b, bv = read_on_grid(alignment.before, grid, window, dtype=None)
    a, av = read_on_grid(alignment.after, grid, window, dtype=None)
    valid = bv & av
    db = da = None
    if with_dsm and alignment.dsm_before is not None and alignment.dsm_after is not None:
        db_, dbv = read_on_grid(alignment.dsm_before, grid, window)
        da_, dav = read_on_grid(alignment.dsm_after, grid, window)
        db, da = db_[0], da_[0]
        if alignment.dz_offset_m:
            da -= np.float32(alignment.dz_offset_m)
        valid &= dbv & dav
    return WindowPair(
        before=b,
        after=a,
        valid=valid,
        gsd_m=grid.gsd,
        dsm_before=db,
        dsm_after=da,
        radiometry=alignment.radiometry,
    )


def _rows(pair: WindowPair, r0: int, r1: int) -> WindowPair:
    """A copy of rows ``r0:r1`` of ``pair``, owning its memory (a view would keep the whole
    window alive for as long as the strip is held)."""
    return pair.map(lambda a: a[..., r0:r1, :].copy())


def _stack(top: WindowPair, rest: WindowPair) -> WindowPair:
    """``top`` above ``rest`` (same columns)."""
    arrays = [
        None if a is None or b is None else np.concatenate([a, b], axis=-2)
        for a, b in zip(top.arrays(), rest.arrays(), strict=True)
    ]
    return WindowPair.from_arrays(arrays, rest.gsd_m, rest.radiometry)


class _Strips:
    """Rows a window hands to the window below it, within one process.

    A window's padded read overlaps the window above by ``shared_rows`` rows (its upper
    context). The window above puts those rows here after reading; the window below takes them
    instead of decoding those block rows again. When they are not here (the window above runs
    in another process, was finished by an earlier run, or is still running) the window below
    reads them itself, so results never depend on the order windows run in. Bounded in bytes:
    the oldest strips are dropped first.
    """

    def __init__(self, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict = OrderedDict()
        self._taken: set = set()
        self._bytes = 0

    @staticmethod
    def _size(p: WindowPair) -> int:
        return sum(a.nbytes for a in p.arrays() if a is not None)

    def take(self, key) -> WindowPair | None:
        with self._lock:
            self._taken.add(key)
            item = self._items.pop(key, None)
            if item is not None:
                self._bytes -= self._size(item)
            return item

    def put(self, key, strip: WindowPair) -> None:
        size = self._size(strip)
        with self._lock:
            if key in self._taken or key in self._items or size > self.max_bytes:
                return
            self._items[key] = strip
            self._bytes += size
            while self._bytes > self.max_bytes:
                _k, old = self._items.popitem(last=False)
                self._bytes -= self._size(old)

    def forget(self, run: str) -> None:
        """Drop what is left of run ``run`` (keys are ``(run, window index)``)."""
        with self._lock:
            for k in [k for k in self._items if k[0] == run]:
                self._bytes -= self._size(self._items.pop(k))
            self._taken = {k for k in self._taken if k[0] != run}


_STRIPS = _Strips()


def read_window(spec: RunSpec, job: WindowJob) -> WindowPair:
    """The padded window of ``job``, its top rows taken from the window above when it has
    handed them over; hands its own bottom rows to the window below."""
    pc, pr, pw, ph = job.padded
    strip = _STRIPS.take((spec.state_dir, job.index)) if job.shared_rows else None
    if strip is not None and strip.valid.shape == (job.shared_rows, pw):
        k = job.shared_rows
        pair = _stack(strip, read_pair(spec.alignment, Window(pc, pr + k, pw, ph - k)))
    else:
        pair = read_pair(spec.alignment, Window(pc, pr, pw, ph))
    k = job.handoff_rows
    if job.below is not None and 0 < k <= ph:
        if not _state_path(spec.state_dir, job.below).exists():
            _STRIPS.put((spec.state_dir, job.below), _rows(pair, ph - k, ph))
    return pair


def _state_path(state_dir: str, job: WindowJob | int) -> Path:
    index = job if isinstance(job, int) else job.index
    return Path(state_dir) / f"w{index:06d}.pkl"


def _label_stats(labels, n, score, dh, use_max: bool):
    """Per-label pixel count, score sum, height sum and extreme, over the labelled pixels only
    (change is sparse, so this is far cheaper than whole-window label statistics)."""
    where = labels > 0
    lab = labels[where]
    count = np.bincount(lab, minlength=n + 1)[1:].astype(float)
    ssum = np.bincount(lab, weights=score[where], minlength=n + 1)[1:]
    if dh is None:
        return count, ssum, None, None
    h = dh[where].astype(np.float64)
    hsum = np.bincount(lab, weights=h, minlength=n + 1)[1:]
    order = np.argsort(lab, kind="stable")
    starts = np.searchsorted(lab[order], np.arange(1, n + 1))
    red = np.maximum if use_max else np.minimum
    hext = red.reduceat(h[order], starts)
    return count, ssum, hsum, hext


def _evidence_sums(labels, n, evidence, core, box) -> dict[str, np.ndarray]:
    """Per-label sums of each evidence map (over the core window's change box)."""
    if not evidence:
        return {}
    where = labels > 0
    lab = labels[where]
    return {
        key: np.bincount(lab, weights=m[core][box][where], minlength=n + 1)[1:]
        for key, m in evidence.items()
    }


def process_window(spec: RunSpec, job: WindowJob) -> int:
    """Run the detector on one window and store its result; skipped when already stored.

    Returns the number of region fragments found.
    """
    out = _state_path(spec.state_dir, job)
    if out.exists():
        return -1
    _bound_gdal_cache()  # also on dask.distributed workers
    pc, pr = job.padded[:2]
    pair = read_window(spec, job)
    res = spec.detector(pair)
    cc, cr, cw, chh = job.core
    sl = (slice(cr - pr, cr - pr + chh), slice(cc - pc, cc - pc + cw))
    codes = np.zeros((chh, cw), np.uint8)
    codes[res.gain[sl]] = 1
    codes[res.loss[sl] & ~res.gain[sl]] = 2
    score = res.score[sl]
    dh = res.height_change[sl] if res.height_change is not None else None
    fragments = []
    # work on the bounding box of the change only: labelling and polygonising cost follow it
    rows = np.flatnonzero(codes.any(axis=1))
    cols = np.flatnonzero(codes.any(axis=0))
    r0, r1 = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
    c0, c1 = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0)
    box = (slice(r0, r1), slice(c0, c1))
    for code in (1, 2) if rows.size else ():
        labels, n = ndi.label(codes[box] == code)
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        count, ssum, hsum, hext = _label_stats(
            labels, n, score[box], dh[box] if dh is not None else None, code == 1
        )
        ev_sums = _evidence_sums(labels, n, res.evidence, sl, box)
        # polygonise each region on its own bounding box: the cost follows the regions'
        # extent, not the (possibly window-wide) box of all change
        for k, (rs, cs) in zip(idx, ndi.find_objects(labels), strict=True):
            own = labels[rs, cs] == k
            t = Affine.translation(cc + c0 + cs.start, cr + r0 + rs.start)
            parts = [shape(g) for g, _v in shapes(own.view(np.uint8), mask=own, transform=t)]
            geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
            fragments.append(
                {
                    "kind": KIND_CODES[code],
                    "wkb": shapely.to_wkb(geom),
                    "pixels": float(count[k - 1]),
                    "score_sum": float(ssum[k - 1]),
                    "dh_sum": float(hsum[k - 1]) if dh is not None else None,
                    "dh_ext": float(hext[k - 1]) if dh is not None else None,
                    "ev": {key: float(v[k - 1]) for key, v in ev_sums.items()},
                }
            )
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        state = {
            "job": asdict(job),
            "codes": zlib.compress(codes.tobytes(), 1),
            "fragments": fragments,
        }
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)  # atomic: a killed task leaves no half-written state
    return len(fragments)


#: GDAL block cache (bytes): enough for the windows running side by side (row-major order) to
#: share the blocks of their column overlap, bounded so memory does not grow with the raster
#: (GDAL's default is 5 % of RAM). Row overlaps are handed over instead (:class:`_Strips`).
GDAL_CACHE_BYTES = 128 * 1024 * 1024


def _bound_gdal_cache() -> None:
    from rasterio.env import set_gdal_config

    set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_BYTES)


def run_windows(
    spec: RunSpec,
    jobs: list[WindowJob],
    *,
    scheduler=None,
    progress: Callable[[int, int], None] | None = None,
    max_windows: int | None = None,
    num_workers: int | None = None,
) -> int:
    """Compute every unfinished window on Dask; returns how many windows were computed.

    ``scheduler``: None for local threads, a scheduler address string or a
    ``distributed.Client``. ``max_windows`` stops after that many windows (time-sliced jobs;
    the rest is picked up by the next call).
    """
    _bound_gdal_cache()
    Path(spec.state_dir).mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if not _state_path(spec.state_dir, j).exists()]
    done0 = len(jobs) - len(todo)
    if max_windows is not None:
        todo = todo[:max_windows]
    if progress:
        progress(done0, len(jobs))
    if not todo:
        return 0
    if scheduler is None:
        from dask.callbacks import Callback
        from dask.threaded import get

        counter = {"n": done0}

        class _Progress(Callback):
            def _posttask(self, key, result, dsk, state, id):
                if str(key).startswith("process_window") and progress:
                    counter["n"] += 1
                    progress(counter["n"], len(jobs))

        # Row-major order, so that neighbouring windows run close in time and share decoded
        # blocks and handed-over rows. Dask orders independent tasks by descending key; the
        # keys count down. (Any order gives the same result, only slower.)
        top = len(todo)
        dsk = {
            f"process_window-{top - k:09d}": (process_window, spec, j) for k, j in enumerate(todo)
        }
        try:
            with _Progress():
                get(dsk, list(dsk), num_workers=num_workers)
        finally:
            _STRIPS.forget(spec.state_dir)
        return len(todo)

    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = [client.submit(process_window, spec, j, pure=False) for j in todo]
        n = done0
        for fut in as_completed(futures):
            fut.result()
            n += 1
            if progress:
                progress(n, len(jobs))
    finally:
        if client is not scheduler:
            client.close()
    return len(todo)


def iter_states(state_dir: str, jobs: list[WindowJob]) -> Iterator[dict]:
    """The saved state of each finished window of ``jobs``."""
    for j in jobs:
        with open(_state_path(state_dir, j), "rb") as f:
            yield pickle.load(f)


def window_codes(state: dict) -> tuple[Window, np.ndarray]:
    """The stored core window and its codes (0 unchanged, 1 new/higher, 2 removed)."""
    cc, cr, cw, ch = state["job"]["core"]
    codes = np.frombuffer(zlib.decompress(state["codes"]), np.uint8).reshape(ch, cw)
    return Window(cc, cr, cw, ch), codes


def missing_windows(state_dir: str, jobs: list[WindowJob]) -> int:
    """How many windows of ``jobs`` have no saved state yet."""
    return sum(1 for j in jobs if not _state_path(state_dir, j).exists())


def save_alignment(state_dir: str | Path, alignment: Alignment, extra: dict | None = None) -> None:
    """Keep the run's alignment (and ``extra`` values) in ``state_dir``."""
    p = Path(state_dir)
    p.mkdir(parents=True, exist_ok=True)
    body = {"alignment": asdict(alignment), **(extra or {})}
    (p / "run.json").write_text(json.dumps(body, indent=1))


def load_alignment(state_dir: str | Path) -> Alignment | None:
    """The alignment kept in ``state_dir``, or None when there is none."""
    p = Path(state_dir) / "run.json"
    if not p.exists():
        return None
    d = json.loads(p.read_text())["alignment"]

    def src(x):
        return (
            None if x is None else Source(x["path"], tuple(x["bands"]), x["kind"], x["sx"], x["sy"])
        )

    g = d["grid"]
    return Alignment(
        grid=Grid(g["crs_wkt"], tuple(g["transform"]), g["width"], g["height"]),
        before=src(d["before"]),
        after=src(d["after"]),
        dsm_before=src(d["dsm_before"]),
        dsm_after=src(d["dsm_after"]),
        shift_px=tuple(d["shift_px"]),
        dz_offset_m=d["dz_offset_m"],
        radiometry=tuple(tuple(r) for r in d["radiometry"]),
        windows_used=d["windows_used"],
    )
