"""Detection accuracy on real data: the DSM path on AHN3 lidar of Delft (buildings among trees).

    python bench/detection_accuracy.py [DATA_DIR] [--gsd 0.5] [--work DIR] [--part dsm|colour|all]
                                       [--json OUT.json]

``DATA_DIR`` is the shared data folder (default ``../shared/data`` relative to the repository).
From the two AHN3 point clouds in ``DATA_DIR/ahn3_delft/lidar`` (EPSG:28992, read with laspy and
its lazrs backend, the ``dev`` extra) it builds, at ``--gsd`` metres:

- DSM = highest point of every cell (all classes), empty cells filled from the nearest cell;
- DTM = ground (class 2) and water (class 9), lowest point per cell, interpolated linearly
  under buildings and trees (nearest value outside the convex hull);
- truth = cells holding a class-6 (building) point, one-cell gaps closed and holes filled;
  objects are its 8-connected parts of at least ``--min-area`` m² (the detector's minimum area).

DTM as the before DSM and DSM as the after DSM, as georeferenced GeoTIFFs in the work folder
(every building is then a "new" one, every tree a tree), with the same grey hillshade as before
and after orthophoto (no colour, no NIR: the height signal alone). The pair goes through
:func:`geo_enforce.detection.pipeline.change_images` with the default detector, as
``geo-enforce change BEFORE AFTER --dsm-before DTM --dsm-after DSM`` does, and the regions'
polygons are scored against the truth:

- object precision and recall, one-to-one (Hungarian matching on IoU), at IoU ≥ 0.3 and ≥ 0.5;
- pixel IoU of the union of the polygons against the truth mask;
- median |area error| of the matched objects (polygon area against the truth object's area);
- the share of the detected area outside every building and what the misses/false alarms are.

A second, independent truth: the BGT building footprints (``footprints/bgt_pand.sqlite``, table
``buildingpart``, EPSG:28992; one polygon per building, a terrace of houses is many), scored
only where BGT has data. The rule: the **BGT area** is the union of the footprints buffered by
``BGT_BUFFER_M`` (5 m) with its holes filled (so the courtyards enclosed by the blocks are in);
detections and class-6 objects whose pixel centroid lies in it are scored, the rest ignored.
Footprints under ``--min-area`` are "don't care" (a detection lying ≥ 50 % on them is not
scored). Three views of the BGT area, each one-to-one at IoU ≥ 0.3 and ≥ 0.5: per footprint
(a building), per block (footprints sharing a wall dissolved into one object), and the class-6
objects restricted to the area (to compare the two truths on the same ground). BGT is of 2014,
AHN3 of 2014–2019, and footprints are the walls at ground level while lidar sees the eaves:
expect the lidar-derived outlines to be slightly larger than the footprints.

``--part colour`` runs the colour-path benchmark (``bench/colour_accuracy.py``) when present.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
EPSG = 28992
BGT_BUFFER_M = 5.0  # the BGT area: footprints buffered by this much, holes filled


# --- building the rasters from the point clouds --------------------------------------------


def _read_points(lidar_dir: Path):
    import laspy

    files = sorted(lidar_dir.glob("*.laz")) + sorted(lidar_dir.glob("*.las"))
    if not files:
        raise SystemExit(f"no .laz/.las point clouds in {lidar_dir}: give the shared data folder")
    xs, ys, zs, cs = [], [], [], []
    for f in files:
        las = laspy.read(f)
        xs.append(np.asarray(las.x))
        ys.append(np.asarray(las.y))
        zs.append(np.asarray(las.z))
        cs.append(np.asarray(las.classification))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(zs), np.concatenate(cs), files


def _cells(x, y, x0, y1, gsd, shape):
    col = np.clip(((x - x0) / gsd).astype(np.int64), 0, shape[1] - 1)
    row = np.clip(((y1 - y) / gsd).astype(np.int64), 0, shape[0] - 1)
    return row * shape[1] + col


def _fill_nearest(a: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    empty = ~np.isfinite(a)
    if not empty.any():
        return a
    idx = ndi.distance_transform_edt(empty, return_distances=False, return_indices=True)
    return a[tuple(idx)]


def build_rasters(data_dir: Path, work: Path, gsd: float) -> dict:
    """Write dtm.tif, dsm.tif, truth.tif and shade.tif (EPSG:28992) in ``work``."""
    import rasterio
    from rasterio.transform import from_origin
    from scipy import ndimage as ndi
    from scipy.interpolate import griddata

    x, y, z, c, files = _read_points(data_dir / "ahn3_delft" / "lidar")
    x0, y1 = np.floor(x.min() / gsd) * gsd, np.ceil(y.max() / gsd) * gsd
    w = int(np.ceil((x.max() - x0) / gsd))
    h = int(np.ceil((y1 - y.min()) / gsd))
    shape = (h, w)
    cell = _cells(x, y, x0, y1, gsd, shape)
    n = h * w

    dsm = np.full(n, -np.inf)
    np.maximum.at(dsm, cell, z)
    dsm[~np.isfinite(dsm)] = np.nan
    dsm = dsm.reshape(shape)

    g = np.isin(c, (2, 9))
    ground = np.full(n, np.inf)
    np.minimum.at(ground, cell[g], z[g])
    ground = ground.reshape(shape)
    have = np.isfinite(ground)
    rr, cc = np.nonzero(have)
    er, ec = np.nonzero(~have)
    dtm = ground.copy()
    if er.size:
        pts, vals = np.column_stack([rr, cc]), ground[have]
        lin = griddata(pts, vals, (er, ec), method="linear")
        near = griddata(pts, vals, (er, ec), method="nearest")
        dtm[er, ec] = np.where(np.isfinite(lin), lin, near)

    # empty DSM cells: a gap of a cell or two between returns takes the nearest return; a wider
    # one (water absorbs the laser, shadowed ground) is ground, not the nearest tree top
    empty = ~np.isfinite(dsm)
    near = _fill_nearest(dsm)
    wide = ndi.binary_opening(empty, np.ones((5, 5), bool))
    dsm = np.where(wide, dtm, near)

    b = np.zeros(n, bool)
    b[cell[c == 6]] = True
    truth = ndi.binary_fill_holes(ndi.binary_closing(b.reshape(shape), np.ones((3, 3), bool)))

    # a grey hillshade of the DSM, the same for both dates: an orthophoto with no colour cue
    gy, gx = np.gradient(dsm, gsd)
    shade = np.clip(
        255 * (0.55 + 0.45 * (-gx * 0.5 + gy * 0.5) / np.sqrt(1 + gx**2 + gy**2)), 0, 255
    ).astype(np.uint8)

    work.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "crs": f"EPSG:{EPSG}",
        "transform": from_origin(x0, y1, gsd, gsd),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    paths = {k: work / f"{k}.tif" for k in ("dtm", "dsm", "truth", "shade")}
    for key, arr in (("dtm", dtm), ("dsm", dsm)):
        with rasterio.open(paths[key], "w", count=1, dtype="float32", nodata=-9999, **profile) as d:
            d.write(arr.astype(np.float32)[None])
    with rasterio.open(paths["truth"], "w", count=1, dtype="uint8", **profile) as d:
        d.write(truth.astype(np.uint8)[None])
    with rasterio.open(paths["shade"], "w", count=3, dtype="uint8", **profile) as d:
        d.write(np.stack([shade] * 3))
    return {
        "paths": paths,
        "shape": shape,
        "points": int(x.size),
        "building_points": int((c == 6).sum()),
        "files": [f.name for f in files],
        "transform": profile["transform"],
    }


def bgt_truth(data_dir: Path, transform, shape: tuple[int, int], min_area_m2: float) -> dict:
    """The BGT footprints on the grid: per-building masks (≥ ``min_area_m2``), per-block masks
    (footprints that touch, dissolved), the don't-care mask (smaller footprints) and the BGT
    area (footprints buffered by ``BGT_BUFFER_M``, holes filled). ``{}`` when absent."""
    path = data_dir / "ahn3_delft" / "footprints" / "bgt_pand.sqlite"
    if not path.exists():
        return {}
    import geopandas as gpd
    import shapely
    from rasterio.features import rasterize
    from shapely.geometry import Polygon

    gdf = gpd.read_file(path, layer="buildingpart")
    if gdf.crs is not None and gdf.crs.to_epsg() != EPSG:
        gdf = gdf.to_crs(EPSG)
    geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]

    def burn(g) -> np.ndarray:
        return rasterize([(g, 1)], out_shape=shape, transform=transform, dtype="uint8") > 0

    big = [g for g in geoms if g.area >= min_area_m2]
    small = [g for g in geoms if g.area < min_area_m2]
    # footprints sharing a wall (within 10 cm: digitised edges do not coincide exactly)
    merged = shapely.union_all([g.buffer(0.05) for g in geoms]).buffer(-0.05)
    blocks = [b for b in getattr(merged, "geoms", [merged]) if b.area >= min_area_m2]
    area = shapely.union_all([g.buffer(BGT_BUFFER_M) for g in geoms])
    area = shapely.union_all([Polygon(p.exterior) for p in getattr(area, "geoms", [area])])
    return {
        "buildings": [burn(g) for g in big],
        "blocks": [burn(b) for b in blocks],
        "dont_care": burn(shapely.union_all(small)) if small else np.zeros(shape, bool),
        "area": burn(area),
        "footprints": len(geoms),
    }


def _centroid_in(mask: np.ndarray, area: np.ndarray) -> bool:
    r, c = np.nonzero(mask)
    return bool(r.size) and bool(area[round(float(r.mean())), round(float(c.mean()))])


def score_bgt(
    pred: list[np.ndarray], truth: np.ndarray, bgt: dict, px_area: float, min_area_m2: float
) -> dict:
    """One-to-one scores in the BGT area against footprints, BGT blocks and class-6 objects."""
    area, dc = bgt["area"], bgt["dont_care"]
    scored = [
        m
        for m in pred
        if _centroid_in(m, area) and not (np.logical_and(m, dc).sum() >= 0.5 * m.sum())
    ]
    class6 = [o for o in truth_objects(truth, px_area, min_area_m2) if _centroid_in(o, area)]
    out: dict = {"detections_scored": len(scored), "bgt_footprints": bgt["footprints"]}
    for name, objs in (
        ("bgt_buildings", bgt["buildings"]),
        ("bgt_blocks", bgt["blocks"]),
        ("class6_in_bgt_area", class6),
    ):
        iou = match(scored, objs)
        view: dict = {"truth_objects": len(objs)}
        pairs = _precision_recall(iou, view)
        # raster against raster: the same pixel rule on both sides
        _area_errors([(scored[i].sum() - objs[j].sum()) / objs[j].sum() for i, j in pairs], view)
        union_t = np.any(objs, axis=0) if objs else np.zeros_like(truth)
        union_p = np.any(scored, axis=0) if scored else np.zeros_like(truth)
        inside = area
        inter = np.logical_and(union_p, union_t)[inside].sum()
        view["pixel_iou"] = round(
            float(inter / max(1, np.logical_or(union_p, union_t)[inside].sum())), 3
        )
        out[name] = view
    return out


# --- scoring --------------------------------------------------------------------------------


def truth_objects(truth: np.ndarray, px_area: float, min_area_m2: float) -> list[np.ndarray]:
    from scipy import ndimage as ndi

    labels, n = ndi.label(truth, np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    return [labels == k for k in range(1, n + 1) if sizes[k] * px_area >= min_area_m2]


def region_masks(regions, shape) -> list[np.ndarray]:
    """Each region's polygon (grid pixels) burnt into a mask of the grid."""
    from rasterio.features import rasterize

    return [
        rasterize([(r.geom_px, 1)], out_shape=shape, dtype="uint8").astype(bool) for r in regions
    ]


def match(pred: list[np.ndarray], truth: list[np.ndarray]) -> np.ndarray:
    """IoU matrix (pred × truth)."""
    iou = np.zeros((len(pred), len(truth)))
    if not pred or not truth:
        return iou
    t_area = np.array([t.sum() for t in truth], float)
    for i, p in enumerate(pred):
        pa = p.sum()
        for j, t in enumerate(truth):
            inter = np.logical_and(p, t).sum()
            if inter:
                iou[i, j] = inter / (pa + t_area[j] - inter)
    return iou


def object_scores(iou: np.ndarray, thr: float) -> tuple[float, float, list[tuple[int, int]]]:
    """Precision, recall and pairs of a one-to-one matching maximising IoU, pairs ≥ ``thr``."""
    from scipy.optimize import linear_sum_assignment

    n_p, n_t = iou.shape
    if n_p == 0 or n_t == 0:
        return (0.0 if n_p else 1.0), (0.0 if n_t else 1.0), []
    rows, cols = linear_sum_assignment(-iou)
    pairs = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if iou[i, j] >= thr]
    return len(pairs) / n_p, len(pairs) / n_t, pairs


def _precision_recall(iou: np.ndarray, out: dict) -> list[tuple[int, int]]:
    """Object precision and recall at IoU ≥ 0.3 and ≥ 0.5 into ``out``; the pairs at 0.3."""
    first: list[tuple[int, int]] = []
    for thr in (0.3, 0.5):
        p, r, pairs = object_scores(iou, thr)
        out[f"precision@{thr}"] = round(p, 3)
        out[f"recall@{thr}"] = round(r, 3)
        if thr == 0.3:
            first = pairs
    return first


def _area_errors(errors: list[float], out: dict) -> None:
    """Median |relative area error| and median signed error of the matched pairs into ``out``."""
    out["median_area_error"] = round(float(np.median(np.abs(errors))), 3) if errors else None
    out["median_signed_area_error"] = round(float(np.median(errors)), 3) if errors else None


def score(
    regions, truth: np.ndarray, gsd: float, min_area_m2: float, gain: np.ndarray | None = None
) -> dict:
    px_area = gsd * gsd
    new = [r for r in regions if r.kind == "new"]
    pred = region_masks(new, truth.shape)
    objs = truth_objects(truth, px_area, min_area_m2)
    iou = match(pred, objs)
    out: dict = {
        "truth_objects": len(objs),
        "detected_objects": len(pred),
        "demolished_regions": sum(1 for r in regions if r.kind != "new"),
    }
    pairs = _precision_recall(iou, out)
    _area_errors(
        [(new[i].area_m2 - objs[j].sum() * px_area) / (objs[j].sum() * px_area) for i, j in pairs],
        out,
    )
    out["mean_iou_matched"] = (
        round(float(np.mean([iou[i, j] for i, j in pairs])), 3) if pairs else None
    )
    matched_p = {i for i, _ in pairs}
    matched_t = {j for _, j in pairs}
    out["false_alarms"] = [
        _describe(new[i], pred[i], truth, px_area) for i in range(len(new)) if i not in matched_p
    ]
    out["misses"] = [
        {
            "area_m2": round(float(objs[j].sum() * px_area), 1),
            "best_iou": round(float(iou[:, j].max()), 2) if len(pred) else 0.0,
            "median_gain_m": (
                round(float(np.median(gain[objs[j]])), 2) if gain is not None else None
            ),
            "covered": round(
                float(np.logical_and(objs[j], np.any(pred, axis=0)).sum() / objs[j].sum())
                if pred
                else 0.0,
                2,
            ),
        }
        for j in range(len(objs))
        if j not in matched_t
    ]
    fa, miss = out["false_alarms"], out["misses"]
    out["false_alarms_on_buildings"] = sum(1 for f in fa if f["on_building"] >= 0.5)
    out["misses_lower_than_2_5m"] = sum(
        1 for m in miss if m["median_gain_m"] is not None and m["median_gain_m"] < 2.5
    )
    union = np.any(pred, axis=0) if pred else np.zeros_like(truth)
    # looser, many-to-one: a detection on buildings counts, a building mostly covered counts
    # (a city block is one truth object; the detector may return its houses separately)
    on_b = [np.logical_and(m, truth).sum() / max(1, m.sum()) >= 0.5 for m in pred]
    covered = [np.logical_and(o, union).sum() / o.sum() >= 0.5 for o in objs]
    out["precision_on_buildings"] = round(float(np.mean(on_b)), 3) if on_b else 0.0
    out["recall_covered"] = round(float(np.mean(covered)), 3) if covered else 0.0
    inter = np.logical_and(union, truth).sum()
    out["pixel_iou"] = round(float(inter / max(1, np.logical_or(union, truth).sum())), 3)
    out["detected_area_outside_buildings"] = round(
        float(np.logical_and(union, ~truth).sum() / max(1, union.sum())), 3
    )
    conf = [r.confidence for r in new]
    out["confidence_median"] = round(float(np.median(conf)), 3) if conf else None
    return out


def _describe(region, mask: np.ndarray, truth: np.ndarray, px_area: float) -> dict:
    on_building = float(np.logical_and(mask, truth).sum() / max(1, mask.sum()))
    ev = {k: round(v, 2) for k, v in getattr(region, "evidence", {}).items()}
    return {
        "pixels": int(mask.sum()),
        "area_m2": round(region.area_m2, 1),
        "on_building": round(on_building, 2),
        "confidence": region.confidence,
        **ev,
    }


# --- the DSM part ---------------------------------------------------------------------------


def run_dsm(data_dir: Path, work: Path, gsd: float, min_area_m2: float) -> dict:
    import rasterio

    from geo_enforce.detection.pipeline import change_images

    t0 = time.perf_counter()
    built = build_rasters(data_dir, work, gsd)
    t1 = time.perf_counter()
    p = built["paths"]
    state = work / "state"
    if state.exists():
        import shutil

        shutil.rmtree(state)
    result = change_images(
        p["shade"],
        p["shade"],
        work / "mask.tif",
        dsm_before=p["dtm"],
        dsm_after=p["dsm"],
        state_dir=state,
        min_area_m2=min_area_m2,
    )
    t2 = time.perf_counter()
    with rasterio.open(p["truth"]) as src:
        truth = src.read(1).astype(bool)
    with rasterio.open(p["dsm"]) as a, rasterio.open(p["dtm"]) as b:
        gain = a.read(1) - b.read(1)
    out = score(result.regions, truth, gsd, min_area_m2, gain)
    bgt = bgt_truth(data_dir, built["transform"], truth.shape, min_area_m2)
    if bgt:
        new = [r for r in result.regions if r.kind == "new"]
        out["bgt"] = score_bgt(region_masks(new, truth.shape), truth, bgt, gsd * gsd, min_area_m2)
    out.update(
        {
            "gsd_m": gsd,
            "grid_px": list(built["shape"]),
            "points": built["points"],
            "building_points": built["building_points"],
            "dz_offset_m": round(result.alignment.dz_offset_m, 3),
            "build_s": round(t1 - t0, 1),
            "detect_s": round(t2 - t1, 1),
        }
    )
    return out


def run_colour(data_dir: Path, work: Path) -> dict | None:
    """The colour-path benchmark, when ``bench/colour_accuracy.py`` provides ``run(data_dir,
    work) -> dict`` (one entry per labelled pair set)."""
    path = REPO / "bench" / "colour_accuracy.py"
    if not path.exists():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("colour_accuracy", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, "run"):
        return None
    return mod.run(data_dir, work / "colour")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--gsd", type=float, default=0.5)
    ap.add_argument("--min-area", type=float, default=10.0, help="m², as the detector's")
    ap.add_argument("--work", default="/tmp/ge-detection-accuracy")
    ap.add_argument("--part", choices=("dsm", "colour", "all"), default="dsm")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--details", action="store_true", help="list misses and false alarms")
    args = ap.parse_args(argv)
    data = Path(args.data_dir)
    if not (data / "ahn3_delft").is_dir() and args.part != "colour":
        print(f"{data}/ahn3_delft not found: give the shared data folder", file=sys.stderr)
        return 2
    work = Path(args.work)
    report: dict = {}
    if args.part in ("dsm", "all"):
        dsm = run_dsm(data, work / "ahn3", args.gsd, args.min_area)
        report["ahn3_dsm"] = dsm
        fa, miss = dsm["false_alarms"], dsm["misses"]
        print(
            f"AHN3 Delft, DSM path at {args.gsd} m ({dsm['grid_px'][1]}×{dsm['grid_px'][0]} px,"
            f" {dsm['truth_objects']} buildings ≥ {args.min_area:g} m²)"
        )
        print("| IoU | object precision | object recall |")
        print("| --- | --- | --- |")
        for thr in (0.3, 0.5):
            print(f"| ≥ {thr} | {dsm[f'precision@{thr}']} | {dsm[f'recall@{thr}']} |")
        print(
            f"pixel IoU {dsm['pixel_iou']}, median |area error| {dsm['median_area_error']} "
            f"(signed {dsm['median_signed_area_error']}), "
            f"detected {dsm['detected_objects']}, false alarms {len(fa)}, misses {len(miss)}, "
            f"detected area outside buildings {dsm['detected_area_outside_buildings']}, "
            f"dz offset {dsm['dz_offset_m']} m, detect {dsm['detect_s']} s"
        )
        print(
            f"many-to-one: detections ≥ 50 % on buildings {dsm['precision_on_buildings']}, "
            f"buildings ≥ 50 % covered {dsm['recall_covered']}; false alarms on buildings "
            f"(parts of a block matched to another part) {dsm['false_alarms_on_buildings']}, "
            f"misses lower than 2.5 m {dsm['misses_lower_than_2_5m']}"
        )
        bgt = dsm.get("bgt")
        if bgt:
            print(
                f"BGT area (footprints + {BGT_BUFFER_M:g} m, holes filled; "
                f"{bgt['detections_scored']} detections scored):"
            )
            print(
                "| truth | objects | P @ 0.3 | R @ 0.3 | P @ 0.5 | R @ 0.5 "
                "| median |area error| (signed) | pixel IoU |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for name in ("bgt_buildings", "bgt_blocks", "class6_in_bgt_area"):
                v = bgt[name]
                print(
                    f"| {name} | {v['truth_objects']} | {v['precision@0.3']} | {v['recall@0.3']} |"
                    f" {v['precision@0.5']} | {v['recall@0.5']} | {v['median_area_error']}"
                    f" ({v['median_signed_area_error']}) | {v['pixel_iou']} |"
                )
        if args.details:
            for f in fa:
                print("  false alarm", f)
            for m in miss:
                print("  miss", m)
    if args.part in ("colour", "all"):
        colour = run_colour(data, work)
        if colour is None:
            print("colour part: bench/colour_accuracy.py (with run(data_dir, work)) not present")
        else:
            report["colour"] = colour
            print(json.dumps(colour, indent=1, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
