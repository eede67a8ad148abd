"""Bringing two flights onto one common grid and estimating their residual shift.

Nothing is resampled to disk: every read goes through a rasterio ``WarpedVRT`` onto the common
grid (or a plain windowed read when the source already lies on it), window by window. The
residual misregistration left after georeferencing is measured by phase correlation
(scikit-image) on a handful of textured windows; a shift of a few pixels is corrected by
offsetting the after flight's grid, a larger one is refused with the measured shift in metres.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from scipy import ndimage as ndi
from skimage.registration import phase_cross_correlation

from geo_enforce.errors import ImageryError
from geo_enforce.imagery.rasters import inspect, ortho_bands


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (WKT, or None for a plain pixel grid), affine transform, size."""

    crs_wkt: str | None
    transform: tuple[float, ...]
    width: int
    height: int

    @property
    def affine(self) -> Affine:
        """The grid's affine transform."""
        return Affine(*self.transform[:6])

    @property
    def crs(self) -> CRS | None:
        """The grid's CRS (None when not georeferenced)."""
        return CRS.from_wkt(self.crs_wkt) if self.crs_wkt else None

    @property
    def gsd(self) -> float:
        """Ground sample distance in metres per pixel."""
        return abs(self.affine.a)

    def window_transform(self, window: Window) -> Affine:
        """The affine transform of ``window`` of the grid."""
        return self.affine @ Affine.translation(window.col_off, window.row_off)


@dataclass(frozen=True)
class Source:
    """One raster mapped onto a grid, shifted by ``(sx, sy)`` grid pixels (ndimage convention:
    ``out[r, c] = src[r - sy, c - sx]``)."""

    path: str
    bands: tuple[int, ...]
    kind: str  # "ortho" | "dsm"
    sx: float = 0.0
    sy: float = 0.0


@dataclass(frozen=True)
class Alignment:
    """The common grid of a flight pair and the corrections measured between them."""

    grid: Grid
    before: Source
    after: Source
    dsm_before: Source | None = None
    dsm_after: Source | None = None
    #: residual shift of the after flight (grid pixels) that was corrected
    shift_px: tuple[float, float] = (0.0, 0.0)
    #: DSM difference (after − before) of unchanged ground, metres, subtracted
    #: (:func:`geo_enforce.detection.height.vertical_offset`)
    dz_offset_m: float = 0.0
    #: per-band (gain, offset) mapping the after image onto the before image's radiometry
    radiometry: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    windows_used: int = 0

    @property
    def shift_m(self) -> float:
        """The measured shift in metres."""
        return math.hypot(*self.shift_px) * self.grid.gsd


def _open(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


_handles: OrderedDict = OrderedDict()  # key -> (dataset, lock), shared by all threads
_handles_lock = threading.Lock()
_MAX_HANDLES = 8


@contextmanager
def _dataset(path: str):
    """An open dataset shared by the threads of this process (keyed by path, size and mtime),
    used by one thread at a time (GDAL handles are not thread-safe).

    One handle per file means neighbouring windows read by different threads reuse the same
    decoded blocks in GDAL's cache (halo blocks are not decoded again by another thread's
    handle), and reading one file is serialised while other files and the detector work of
    the other threads go on in parallel.
    """
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _handles_lock:
        entry = _handles.pop(key, None)
        if entry is None:
            entry = (None, threading.Lock())
        _handles[key] = entry
        # close least recently used handles nobody is reading from
        for old_key in list(_handles)[: max(0, len(_handles) - _MAX_HANDLES)]:
            old_src, old_lock = _handles[old_key]
            if old_lock.acquire(blocking=False):
                try:
                    del _handles[old_key]
                    if old_src is not None:
                        old_src.close()
                finally:
                    old_lock.release()
    lock = entry[1]
    with lock:
        src = entry[0]
        if src is None or src.closed:
            src = _open(path)
            with _handles_lock:
                if _handles.get(key) is entry:
                    entry = _handles[key] = (src, lock)
        try:
            yield src
        finally:
            with _handles_lock:
                if _handles.get(key, (None, None))[0] is not src:
                    src.close()  # evicted or replaced meanwhile: do not leak the handle


def read_on_grid(
    source: Source,
    grid: Grid,
    window: Window,
    *,
    resampling: Resampling = Resampling.bilinear,
    dtype: str | None = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``source`` for ``window`` of ``grid``: (bands × rows × cols, valid bool mask).

    The data are float32 (converted by GDAL while reading), or the source's own type with
    ``dtype=None``. Pixels outside the source, nodata or alpha-transparent pixels are invalid.
    Direct windowed reads are used when the source lies on the grid up to a whole-pixel offset;
    otherwise a ``WarpedVRT`` warps on the fly.
    """
    with _dataset(source.path) as src:
        direct = _direct_offset(src, grid, source)
        if direct is not None:
            dc, dr = direct
            w = Window(window.col_off + dc, window.row_off + dr, window.width, window.height)
            inside_all = (
                w.col_off >= 0
                and w.row_off >= 0
                and w.col_off + w.width <= src.width
                and w.row_off + w.height <= src.height
            )
            # boundless reads go through an internal VRT: several times slower, edges only
            data = src.read(
                list(source.bands),
                window=w,
                boundless=not inside_all,
                fill_value=0,
                out_dtype=dtype,  # converted by GDAL while reading, no extra pass
            )
            valid = _valid_from(src, w, data, inside_all)
            if not inside_all:
                valid &= _inside(src, w)
            return data, valid
        t = grid.affine @ Affine.translation(-source.sx, -source.sy)
        has_alpha = src.count == 4 and src.colorinterp[3] == rasterio.enums.ColorInterp.alpha
        add_alpha = src.nodata is None and not has_alpha
        kwargs = {}
        if src.nodata is not None:
            kwargs["nodata"] = src.nodata
        with WarpedVRT(
            src,
            crs=grid.crs or src.crs,
            transform=t,
            width=grid.width,
            height=grid.height,
            resampling=resampling,
            add_alpha=add_alpha,
            **kwargs,
        ) as vrt:
            data = vrt.read(list(source.bands), window=window, out_dtype=dtype)
            if add_alpha:
                valid = vrt.read(vrt.count, window=window) > 0
            else:
                valid = vrt.read_masks(1, window=window) > 0
                if has_alpha:
                    valid &= vrt.read(4, window=window) > 0
        return data, valid


def _direct_offset(src, grid: Grid, source: Source) -> tuple[int, int] | None:
    if abs(source.sx - round(source.sx)) > 1e-6 or abs(source.sy - round(source.sy)) > 1e-6:
        return None
    if grid.crs_wkt is None:
        return (-round(source.sx), -round(source.sy))
    if src.crs is None or src.crs != grid.crs:
        return None
    st, gt = src.transform, grid.affine
    if not (
        math.isclose(st.a, gt.a, rel_tol=1e-9)
        and math.isclose(st.e, gt.e, rel_tol=1e-9)
        and st.b == gt.b == 0
        and st.d == gt.d == 0
    ):
        return None
    dc = (gt.c - st.c) / st.a - source.sx
    dr = (gt.f - st.f) / st.e - source.sy
    if abs(dc - round(dc)) > 1e-3 or abs(dr - round(dr)) > 1e-3:
        return None
    return round(dc), round(dr)


def _inside(src, w: Window) -> np.ndarray:
    rows = np.arange(w.row_off, w.row_off + w.height)
    cols = np.arange(w.col_off, w.col_off + w.width)
    return ((rows >= 0) & (rows < src.height))[:, None] & ((cols >= 0) & (cols < src.width))[None]


def _valid_from(src, w: Window, data: np.ndarray, inside_all: bool) -> np.ndarray:
    if src.count == 4 and src.colorinterp[3] == rasterio.enums.ColorInterp.alpha:
        return src.read(4, window=w, boundless=not inside_all, fill_value=0) > 0
    if src.nodata is not None:
        if np.isnan(src.nodata):
            return ~np.isnan(data).any(axis=0)
        return ~(data == src.nodata).all(axis=0)
    return np.ones(data.shape[1:], bool)


# --- the common grid --------------------------------------------------------------------------


def _metric_crs(crs: CRS, lon: float) -> CRS:
    """The CRS itself when projected, else the CGCS2000 3-degree Gauss-Krüger zone (CM form)."""
    if crs.is_projected:
        return crs
    cm = 3 * round(lon / 3)
    return CRS.from_epsg(4534 + (cm - 75) // 3)


def common_grid(before_path: str, after_path: str, *, gsd: float | None = None) -> Grid:
    """The grid both flights are read on: the finer flight's CRS (projected) and pixel size
    (or ``gsd`` metres), over the intersection of their extents, snapped to the finer raster."""
    b, a = inspect(before_path), inspect(after_path)
    for info in (b, a):
        if not info.georeferenced:
            raise ImageryError(f"{info.path}: no georeference; cannot place it on a map grid")
    fine = b if (b.gsd_m or 0) <= (a.gsd_m or 0) else a
    lon = 0.0
    with _open(str(fine.path)) as src:
        wb = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        lon = (wb[0] + wb[2]) / 2
    assert fine.crs is not None
    crs = _metric_crs(fine.crs, lon)
    boxes = []
    for info in (b, a):
        with _open(str(info.path)) as src:
            boxes.append(transform_bounds(src.crs, crs, *src.bounds, densify_pts=21))
    left = max(bx[0] for bx in boxes)
    bottom = max(bx[1] for bx in boxes)
    right = min(bx[2] for bx in boxes)
    top = min(bx[3] for bx in boxes)
    if right <= left or top <= bottom:
        raise ImageryError(
            f"{before_path} and {after_path} do not overlap: no common area to compare"
        )
    same_crs = fine.crs == crs
    res = gsd or (abs(fine.transform.a) if same_crs else float(fine.gsd_m or 1.0))
    if same_crs and gsd is None:
        ft = fine.transform
        # snap to the finer raster's pixel edges so it is read directly, without warping
        c0 = math.ceil((left - ft.c) / ft.a - 1e-6)
        c1 = math.floor((right - ft.c) / ft.a + 1e-6)
        r0 = math.ceil((ft.f - top) / -ft.e - 1e-6)
        r1 = math.floor((ft.f - bottom) / -ft.e + 1e-6)
        t = ft @ Affine.translation(c0, r0)
        width, height = c1 - c0, r1 - r0
    else:
        t = Affine(res, 0, left, 0, -res, top)
        width = int((right - left) / res)
        height = int((top - bottom) / res)
    if width < 8 or height < 8:
        raise ImageryError(
            f"{before_path} and {after_path} overlap by less than 8 pixels: nothing to compare"
        )
    return Grid(crs.to_wkt(), tuple(t)[:6], width, height)


def pixel_grid(path: str, gsd: float) -> Grid:
    """A plain pixel grid for an image without georeference (pair mode), GSD in metres."""
    with _open(path) as src:
        return Grid(None, tuple(Affine(gsd, 0, 0, 0, -gsd, 0))[:6], src.width, src.height)


# --- residual shift, vertical offset, radiometry ---------------------------------------------


def _sample_windows(grid: Grid, size: int, n: int) -> list[Window]:
    size = min(size, grid.width, grid.height)
    k = max(1, round(math.sqrt(n)))
    out = []
    for i in range(k):
        for j in range(k):
            c = int((grid.width - size) * (j + 0.5) / k)
            r = int((grid.height - size) * (i + 0.5) / k)
            out.append(Window(c, r, size, size))
    return out


def _gray(rgb: np.ndarray) -> np.ndarray:
    return rgb[:3].mean(axis=0)


def _ncc(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    d = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 0 else 0.0


def _window_shift(gb: np.ndarray, ga: np.ndarray) -> tuple[float, float] | None:
    """Shift of one window by phase correlation of gradient magnitudes, or None if unreliable.

    Gradients ignore light changes; an estimate is kept only when it makes the two windows
    agree (normalised cross-correlation ≥ 0.3 and not worse than no shift), so windows full of
    real change or without texture do not vote.
    """
    if gb.std() < 2.0 or ga.std() < 2.0:
        return None
    eb = ndi.gaussian_gradient_magnitude(gb, 1.0)
    ea = ndi.gaussian_gradient_magnitude(ga, 1.0)
    shift, _err, _ = phase_cross_correlation(eb, ea, upsample_factor=20)
    m = int(np.ceil(np.abs(shift).max())) + 1
    if 2 * m >= min(gb.shape) // 2:
        return None
    core = (slice(m, -m), slice(m, -m))
    moved = ndi.shift(ea, shift, order=1)
    ncc_s = _ncc(eb[core], moved[core])
    ncc_0 = _ncc(eb[core], ea[core])
    if ncc_s < 0.3 or ncc_s < ncc_0 - 0.01:
        return None
    return float(shift[0]), float(shift[1])


def estimate_alignment(
    grid: Grid,
    before: Source,
    after: Source,
    *,
    dsm_before: Source | None = None,
    dsm_after: Source | None = None,
    max_shift_px: float = 5.0,
    min_shift_px: float = 0.2,
    window: int = 512,
    samples: int = 9,
) -> Alignment:
    """Measure the after flight's residual shift, DSM vertical offset and radiometric mapping.

    Shifts under ``min_shift_px`` are ignored (read directly), shifts up to ``max_shift_px`` are
    corrected, larger ones raise :class:`ImageryError` naming the shift in pixels and metres.
    """

    def one_shift(w: Window) -> tuple[float, float] | None:
        b, bv = read_on_grid(before, grid, w)
        a, av = read_on_grid(after, grid, w)
        valid = bv & av
        if valid.mean() < 0.9:
            return None
        return _window_shift(_gray(b), _gray(a))

    # sample windows are independent: read and correlate them on a few threads, in order
    samples_ = _sample_windows(grid, window, samples)
    shifts = [s for s in _map_threads(one_shift, samples_) if s is not None]
    if shifts:
        arr = np.array(shifts)
        sy, sx = float(np.median(arr[:, 0])), float(np.median(arr[:, 1]))
    else:
        sy = sx = 0.0
    mag = math.hypot(sx, sy)
    if mag > max_shift_px:
        raise ImageryError(
            f"{after.path} is misregistered against {before.path} by {mag:.1f} pixels "
            f"({mag * grid.gsd:.2f} m), more than the {max_shift_px:g} pixels corrected "
            "automatically: re-georeference the flight (ground control points) and register "
            "it again"
        )
    if mag < min_shift_px:
        sx = sy = 0.0
    after = replace(after, sx=after.sx + sx, sy=after.sy + sy)
    if dsm_after is not None:
        dsm_after = replace(dsm_after, sx=dsm_after.sx + sx, sy=dsm_after.sy + sy)

    radiometry, dz = _radiometry_and_dz(grid, before, after, dsm_before, dsm_after, window)
    return Alignment(
        grid=grid,
        before=before,
        after=after,
        dsm_before=dsm_before,
        dsm_after=dsm_after,
        shift_px=(sx, sy),
        dz_offset_m=dz,
        radiometry=radiometry,
        windows_used=len(shifts),
    )


def _map_threads(fn, items: list) -> list:
    """``[fn(x) for x in items]`` on a few threads (reads and numpy release the GIL), in order."""
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(items), os.cpu_count() or 1, 4)
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _radiometry_and_dz(grid, before, after, dsm_before, dsm_after, window):
    qs = np.linspace(5, 95, 19)
    pb: list[list[np.ndarray]] = [[], [], []]
    pa: list[list[np.ndarray]] = [[], [], []]
    dz: list[np.ndarray] = []

    def one_window(w: Window):
        b, bv = read_on_grid(before, grid, w)
        a, av = read_on_grid(after, grid, w)
        valid = bv & av
        if valid.sum() < 100:
            return None
        pairs = [(b[k][valid][::7], a[k][valid][::7]) for k in range(3)]
        dzs = None
        if dsm_before is not None and dsm_after is not None:
            db, dbv = read_on_grid(dsm_before, grid, w)
            da, dav = read_on_grid(dsm_after, grid, w)
            dv = dbv & dav & valid
            if dv.sum() > 100:
                from geo_enforce.detection.height import ground_dz_samples

                # unchanged ground only: smooth on both dates and not vegetation
                dzs = ground_dz_samples(db[0], da[0], dv, grid.gsd, rgb_after=a)[::7]
        return pairs, dzs

    for got in _map_threads(one_window, _sample_windows(grid, window, 9)):
        if got is None:
            continue
        for k, (sb, sa) in enumerate(got[0]):
            pb[k].append(sb)
            pa[k].append(sa)
        if got[1] is not None:
            dz.append(got[1])
    radiometry = _invariant_fit(pb, pa, qs)
    from geo_enforce.detection.height import vertical_offset

    dz_off = vertical_offset(np.concatenate(dz)) if dz else 0.0
    return tuple(radiometry), dz_off


def _invariant_fit(pb, pa, qs) -> tuple[tuple[float, float], ...]:
    """Per-band gain/offset mapping after → before, fitted on pseudo-invariant pixels.

    Invariant pixels are chosen without reference to the fit (so it cannot collapse): those
    whose chromaticity and brightness rank barely changed between the dates. Fields that
    changed crop, new roofs and moved shadows are left out. Gains are kept within 0.5–2.
    """
    if not pb[0]:
        return ((1.0, 0.0),) * 3
    b = np.stack([np.concatenate(pb[k]) for k in range(3)]).astype(np.float64)
    a = np.stack([np.concatenate(pa[k]) for k in range(3)]).astype(np.float64)
    cb = b / (b.sum(axis=0) + 1.0)
    ca = a / (a.sum(axis=0) + 1.0)
    chroma = np.abs(cb - ca).sum(axis=0)
    rb = np.argsort(np.argsort(b.sum(axis=0))) / b.shape[1]
    ra = np.argsort(np.argsort(a.sum(axis=0))) / a.shape[1]
    keep = (chroma <= np.percentile(chroma, 40)) & (np.abs(rb - ra) < 0.1)
    if keep.sum() < 50:
        keep = np.ones(b.shape[1], bool)
    coef = []
    for k in range(3):
        x, y = np.percentile(a[k][keep], qs), np.percentile(b[k][keep], qs)
        if np.ptp(x) < 1e-6:
            coef.append((1.0, float(np.median(b[k]) - np.median(a[k]))))
            continue
        g, _ = np.polyfit(x, y, 1)
        g = float(np.clip(g, 0.5, 2.0))
        coef.append((g, float(np.median(y - g * x))))
    return tuple(coef)


def align_flights(
    before_ortho: str,
    after_ortho: str,
    *,
    before_dsm: str | None = None,
    after_dsm: str | None = None,
    gsd: float | None = None,
    max_shift_px: float = 5.0,
) -> Alignment:
    """Common grid + measured corrections for two georeferenced flights (paths to rasters)."""
    b, a = inspect(before_ortho), inspect(after_ortho)
    check_band_layouts(b, a)
    grid = common_grid(before_ortho, after_ortho, gsd=gsd)
    bands = ortho_bands(b, a)
    return estimate_alignment(
        grid,
        Source(before_ortho, bands, "ortho"),
        Source(after_ortho, bands, "ortho"),
        dsm_before=Source(before_dsm, (1,), "dsm") if before_dsm and after_dsm else None,
        dsm_after=Source(after_dsm, (1,), "dsm") if before_dsm and after_dsm else None,
        max_shift_px=max_shift_px,
    )


def check_band_layouts(b, a) -> None:
    """Refuse pairs whose band layouts cannot be compared (e.g. RGB against one band)."""
    colour = {"RGB", "RGBA", "RGBN"}
    if b.layout in colour and a.layout in colour and b.dtype == a.dtype:
        return
    if b.layout == a.layout and b.dtype == a.dtype:
        # the layouts are the same, just not colour (two DSMs, two grey images): say what is wrong
        what = "single-band DSMs" if b.layout == "DSM" else f"{b.layout} {b.dtype} images"
        raise ImageryError(
            f"{b.path} and {a.path} are both {what}; the two images compared must be RGB "
            "orthophotos (3 or 4 bands). Give DSMs beside their orthophotos: "
            "geo-enforce change BEFORE.tif AFTER.tif --dsm-before DSM1.tif --dsm-after DSM2.tif"
        )
    raise ImageryError(
        f"band layouts differ: {b.path} is {b.layout} {b.dtype}, {a.path} is {a.layout} "
        f"{a.dtype}; both images need the same RGB band layout and bit depth"
    )
