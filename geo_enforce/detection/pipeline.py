"""Detection on an aligned pair, without the database: windows on Dask → merged, cleaned regions.

:func:`detect_pair` is the engine shared by flight detection runs and by pair mode.
:func:`change_images` is pair mode for any two images (the contract used to score detection on
benchmark folders): a uint8 mask (255 changed, 0 unchanged) of the before image's size and
GeoJSON polygons beside it. Plain PNG/JPEG pairs without georeference are compared on a pixel
grid whose GSD is given in metres.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from shapely.geometry import mapping

from geo_enforce.detection.detectors import CombinedDetector, Detector
from geo_enforce.detection.patches import COLOUR_ONLY_LABEL
from geo_enforce.detection.regions import ChangeRegion, clean_regions, merge_fragments
from geo_enforce.detection.runner import (
    RunSpec,
    iter_states,
    load_alignment,
    missing_windows,
    plan_windows,
    run_windows,
    save_alignment,
    window_codes,
)
from geo_enforce.errors import ImageryError, InvalidInput
from geo_enforce.imagery.align import (
    Alignment,
    Grid,
    Source,
    check_band_layouts,
    estimate_alignment,
)
from geo_enforce.imagery.rasters import inspect, ortho_bands


@dataclass
class PairResult:
    """Outcome of detection on a pair: regions, the alignment used, window bookkeeping."""

    regions: list[ChangeRegion]
    alignment: Alignment
    windows: int
    computed: int
    complete: bool
    state_dir: Path

    def summary(self) -> dict:
        """Counts and timings of the run, JSON-ready."""
        kinds: dict[str, int] = {}
        for r in self.regions:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        return {
            "regions": len(self.regions),
            "by_kind": kinds,
            "area_m2": round(sum(r.area_m2 for r in self.regions), 2),
            "windows": self.windows,
            "computed_windows": self.computed,
            "shift_px": [round(v, 2) for v in self.alignment.shift_px],
            "shift_m": round(self.alignment.shift_m, 3),
            "dz_offset_m": round(self.alignment.dz_offset_m, 3),
            "complete": self.complete,
        }


def detect_pair(
    alignment: Alignment,
    state_dir: str | Path,
    *,
    detector: Detector | None = None,
    scheduler=None,
    tile: int = 2048,
    halo: int | None = None,
    min_area_m2: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
    max_windows: int | None = None,
    num_workers: int | None = None,
) -> PairResult:
    """Run ``detector`` over the aligned pair window by window and return cleaned regions.

    ``state_dir`` keeps per-window results: calling again with the same directory resumes
    (finished windows are not recomputed) and gives the same regions. ``max_windows`` stops
    early (``complete`` is then False and ``regions`` empty).
    """
    detector = detector or CombinedDetector()
    state = Path(state_dir)
    stored = load_alignment(state)
    if stored is not None:
        alignment = stored  # a resumed run keeps the corrections it started with
    else:
        save_alignment(state, alignment, {"detector": detector.name})
    halo = halo if halo is not None else max(16, 2 * detector.context_px(alignment.grid.gsd))
    jobs = plan_windows(alignment.grid, tile=tile, halo=halo)
    spec = RunSpec(alignment=alignment, detector=detector, state_dir=str(state / "windows"))
    computed = run_windows(
        spec,
        jobs,
        scheduler=scheduler,
        progress=progress,
        max_windows=max_windows,
        num_workers=num_workers,
    )
    if missing_windows(spec.state_dir, jobs):
        return PairResult([], alignment, len(jobs), computed, False, state)
    fragments = [f for s in iter_states(spec.state_dir, jobs) for f in s["fragments"]]
    regions = clean_regions(merge_fragments(fragments), alignment.grid, min_area_m2=min_area_m2)
    return PairResult(regions, alignment, len(jobs), computed, True, state)


#: Mask formats pair mode writes: lossless only (a JPEG would blur 0/255 into other values).
MASK_FORMATS = (".tif", ".tiff", ".png")


def _kept(result: PairResult, win: Window, codes: np.ndarray) -> np.ndarray:
    """0/255 mask of the pixels of ``codes`` that belong to a kept (cleaned) region, so regions
    dropped by the minimum area leave the mask as they leave the GeoJSON."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine
    from shapely.geometry import box

    out = np.zeros(codes.shape, np.uint8)
    if not codes.any():
        return out
    frame = box(win.col_off, win.row_off, win.col_off + win.width, win.row_off + win.height)
    to_win = Affine.translation(win.col_off, win.row_off)
    for kind, code in (("new", 1), ("demolished", 2)):
        geoms = [r.geom_px for r in result.regions if r.kind == kind]
        geoms = [g for g in geoms if g.intersects(frame)]
        if not geoms:
            continue
        inside = rasterize(
            geoms, out_shape=codes.shape, transform=to_win, all_touched=True, dtype=np.uint8
        )
        out[(inside > 0) & (codes == code)] = 255
    return out


def write_mask(result: PairResult, out: str | Path) -> Path:
    """Write the 0/255 change mask of the kept regions on the common grid, window by window
    for GeoTIFF output (changed pixels of regions under the minimum area are left out)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in MASK_FORMATS:
        raise InvalidInput(
            f"{out}: the mask must be lossless; use one of {', '.join(MASK_FORMATS)}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    grid = result.alignment.grid
    paths = sorted((result.state_dir / "windows").glob("w*.pkl"))
    profile = {
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint8",
    }
    if grid.crs_wkt is not None:
        profile.update(crs=grid.crs, transform=grid.affine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if suffix in (".tif", ".tiff"):
            with rasterio.open(
                out, "w", driver="GTiff", tiled=True, compress="deflate", **profile
            ) as dst:
                for p in paths:
                    with open(p, "rb") as f:
                        win, codes = window_codes(pickle.load(f))
                    dst.write(_kept(result, win, codes)[None], window=win)
        else:
            mask = np.zeros((grid.height, grid.width), np.uint8)
            for p in paths:
                with open(p, "rb") as f:
                    win, codes = window_codes(pickle.load(f))
                r, c = int(win.row_off), int(win.col_off)
                mask[r : r + codes.shape[0], c : c + codes.shape[1]] = _kept(result, win, codes)
            from PIL import Image

            Image.fromarray(mask).save(out)
    return out


def regions_geojson(regions: list[ChangeRegion], *, georeferenced: bool) -> dict:
    """FeatureCollection of regions: EPSG:4490 lon/lat when georeferenced, else grid metres."""
    feats = []
    for i, r in enumerate(regions, 1):
        geom = r.geom_4490 if georeferenced and r.geom_4490 is not None else r.geom
        feats.append(
            {
                "type": "Feature",
                "id": i,
                "geometry": mapping(geom),
                "properties": {
                    "kind": r.kind,
                    "area_m2": round(r.area_m2, 2),
                    "area_mu": round(r.area_mu, 4),
                    "confidence": r.confidence,
                    "height_gain_mean_m": r.height_gain_mean_m,
                    "height_gain_max_m": r.height_gain_max_m,
                    # what the region rests on, as stored with a flight run's patches
                    "evidence": {k: round(float(v), 4) for k, v in r.evidence.items()},
                    "detection_note": (
                        COLOUR_ONLY_LABEL if r.evidence.get("colour_only") else None
                    ),
                },
            }
        )
    fc: dict = {"type": "FeatureCollection", "features": feats}
    if not georeferenced:
        fc["crs_note"] = "plain pixel grid: x = column × GSD, y = −row × GSD (metres)"
    return fc


def _state_key(inputs, out_mask, detector: Detector, **params) -> str:
    """Key of the cached window state: every input's path, size and modification time, the
    output, the detector with its parameters and every other setting that changes the windows.
    An input overwritten in place or another detector or threshold gives a new key."""
    files: list[list | None] = []
    for p in inputs:
        if p is None:
            files.append(None)
            continue
        st = Path(p).stat()
        files.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    body = {
        "inputs": files,
        "out": str(Path(out_mask).resolve()),
        "detector": [type(detector).__module__, type(detector).__qualname__, detector.params()],
        **params,
    }
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def change_images(
    before: str | Path,
    after: str | Path,
    out_mask: str | Path,
    *,
    dsm_before: str | Path | None = None,
    dsm_after: str | Path | None = None,
    gsd: float | None = None,
    detector: Detector | None = None,
    state_dir: str | Path | None = None,
    scheduler=None,
    min_area_m2: float = 10.0,
    tile: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> PairResult:
    """Pair mode: compare two images and write the mask (+ ``.geojson`` beside it).

    GeoTIFF pairs are compared on the before image's grid (the after image reprojected on the
    fly). Images without georeference must have the same size and are compared pixel by pixel
    on a grid of ``gsd`` metres (default 0.5). The mask has the before image's width and height.
    """
    detector = detector or CombinedDetector()
    if Path(out_mask).suffix.lower() not in MASK_FORMATS:
        raise InvalidInput(
            f"--out {out_mask}: the mask must be written losslessly; use one of "
            f"{', '.join(MASK_FORMATS)} (a JPEG would blur the 0/255 values)"
        )
    if (dsm_before is None) != (dsm_after is None):
        given = "--dsm-before" if dsm_before is not None else "--dsm-after"
        missing = "--dsm-after" if dsm_before is not None else "--dsm-before"
        raise InvalidInput(
            f"only {given} was given: height change needs both dates, add {missing} "
            "(or give neither to compare colour alone)"
        )
    if getattr(detector, "needs_dsm", False) and dsm_before is None:
        raise InvalidInput(
            f"the {detector.name} detector needs --dsm-before and --dsm-after; without DSMs use "
            "--detector rgb or combined"
        )
    b, a = inspect(before), inspect(after)
    check_band_layouts(b, a)
    if gsd is not None and b.georeferenced and a.georeferenced:
        raise InvalidInput(
            f"--gsd {gsd} would discard the georeference of {before} and {after} (their pixels "
            f"are {b.gsd_m:.3g} m and {a.gsd_m:.3g} m): --gsd is for images without "
            "georeference only; drop it"
        )
    georef = b.georeferenced and a.georeferenced
    if georef:
        assert b.crs is not None
        grid = Grid(b.crs.to_wkt(), tuple(b.transform)[:6], b.width, b.height)
    else:
        if (b.width, b.height) != (a.width, a.height):
            raise ImageryError(
                f"{before} is {b.width}×{b.height} and {after} is {a.width}×{a.height}: images "
                "without georeference must have the same size"
            )
        res = gsd or 0.5
        from rasterio.transform import Affine

        grid = Grid(None, tuple(Affine(res, 0, 0, 0, -res, 0))[:6], b.width, b.height)
    has_dsm = dsm_before is not None and dsm_after is not None
    alignment = estimate_alignment(
        grid,
        Source(str(before), ortho_bands(b, a), "ortho"),
        Source(str(after), ortho_bands(b, a), "ortho"),
        dsm_before=Source(str(dsm_before), (1,), "dsm") if has_dsm else None,
        dsm_after=Source(str(dsm_after), (1,), "dsm") if has_dsm else None,
        window=min(512, grid.width, grid.height),
    )
    if not georef:
        # a plain pixel grid cannot be warped: keep whole-pixel corrections only
        sx, sy = (round(v) for v in alignment.shift_px)
        alignment = replace(
            alignment,
            after=replace(alignment.after, sx=sx, sy=sy),
            dsm_after=(replace(alignment.dsm_after, sx=sx, sy=sy) if alignment.dsm_after else None),
            shift_px=(float(sx), float(sy)),
        )
    if state_dir is None:
        key = _state_key(
            [before, after, dsm_before, dsm_after], out_mask, detector, gsd=gsd, tile=tile
        )
        state_dir = Path(out_mask).parent / f".change-state-{key}"
    result = detect_pair(
        alignment,
        state_dir,
        detector=detector,
        scheduler=scheduler,
        tile=tile,
        min_area_m2=min_area_m2,
        progress=progress,
    )
    write_mask(result, out_mask)
    Path(out_mask).with_suffix(".geojson").write_text(
        json.dumps(regions_geojson(result.regions, georeferenced=georef), ensure_ascii=False)
    )
    return result
