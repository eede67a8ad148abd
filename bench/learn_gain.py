"""What the ranker learned from rulings gains, measured on real labelled sets (nothing ships).

    python bench/learn_gain.py [DATA_DIR] [--sets dsifn,sztaki,accra,tanzania,ahn3] [--work DIR]

The labelled sets in ../shared/data are treated as if they were a bureau's rulings: every
region the default detector finds (the colour path on the image pairs of
``bench/colour_accuracy.py``; the DSM path on the AHN3 DTM→DSM pair of
``bench/detection_accuracy.py``) is a patch, ruled a real change when the truth covers at least
30 % of it and 伪变化 otherwise. The features are those of ``geo_enforce.detection.learn``
(evidence, area, shape, confidence; no rule hits or registered structures here). A
cross-validation keeps each image pair (AHN3: each quarter of the tile) in one fold, so a
patch is never scored by a model that saw its own pair. Reported per set and pooled:
precision at equal recall (0.5, 0.8, 0.9) of the unsupervised confidence ("before") and of the
out-of-fold learned score ("after"), average precision, and the share of 伪变化 and of real
changes the learned threshold would set aside. Models are fitted in memory and discarded:
nothing trained here is stored or shipped (SZTAKI is licensed for evaluation only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from geo_enforce.detection import learn
from geo_enforce.detection.detectors import make_detector
from geo_enforce.detection.pipeline import change_images

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _label(region, truth: np.ndarray) -> int:
    from rasterio.features import rasterize

    m = rasterize([region.geom_px], out_shape=truth.shape, dtype=np.uint8).astype(bool)
    return int(m.sum() > 0 and (m & truth).sum() >= 0.3 * m.sum())


def _rows(result, truth: np.ndarray, group: str) -> list[tuple[dict, int, float, str]]:
    return [
        (
            learn.features(
                r.evidence,
                area_m2=r.area_m2,
                confidence=r.confidence,
                height_gain_max_m=r.height_gain_max_m,
                height_gain_mean_m=r.height_gain_mean_m,
                change_kind=r.kind,
            ),
            _label(r, truth),
            r.confidence,
            group,
        )
        for r in result.regions
    ]


def _pair(a: Path, b: Path, truth: np.ndarray, gsd: float, work: Path, name: str):
    res = change_images(
        a,
        b,
        work / f"{name}.png",
        gsd=gsd,
        min_area_m2=max(12 * gsd**2, 0.5 if gsd < 0.2 else 10.0),
        detector=make_detector("combined"),
        state_dir=work / ".state" / name,
    )
    return _rows(res, truth, name)


def colour_set(name: str, data: Path, work: Path) -> list:
    ca = _module("colour_accuracy")
    out: list = []
    if name in ("dsifn", "sztaki"):
        folder, gsd = {"dsifn": ("dsifn_samples", 1.0), "sztaki": ("sztaki_airchange", 1.5)}[name]
        for lab in sorted((data / folder / "label").glob("*.png")):
            truth = np.array(Image.open(lab).convert("L")) > 127
            a, b = data / folder / "A" / lab.name, data / folder / "B" / lab.name
            out += _pair(a, b, truth, gsd, work, f"{name}_{lab.stem}")
        return out
    # drone tiles: the pseudo-pairs of colour_accuracy (half the buildings painted over)
    import rasterio

    from geo_enforce.imagery.rasters import inspect

    tiles = []
    if name == "accra":
        for tif in sorted(
            (data / "drone_buildings" / "opencities_accra").glob("*_tile_*[0-9].tif")
        ):
            with rasterio.open(tif) as src:
                img = src.read([1, 2, 3]).transpose(1, 2, 0)
            with rasterio.open(tif.with_name(tif.stem + "_mask.tif")) as src:
                tiles.append((tif.stem, img, src.read(1) > 0, inspect(tif).gsd_m or 0.02))
    else:
        import geopandas as gpd
        from rasterio.features import rasterize

        folder = data / "drone_buildings" / "tanzania"
        with rasterio.open(folder / "tanzania_sample.tif") as src:
            img = src.read([1, 2, 3]).transpose(1, 2, 0)
            polys = gpd.read_file(folder / "tanzania_sample.geojson").to_crs(src.crs)
            polys = polys[~polys.geometry.is_empty]
            mask = rasterize(polys.geometry, out_shape=img.shape[:2], transform=src.transform)
            tiles.append(("tanzania", img, mask > 0, abs(src.transform.a)))
    from scipy import ndimage as ndi

    for stem, img, buildings, gsd in tiles:
        labels, n = ndi.label(buildings)
        new = np.isin(labels, np.arange(1, n + 1, 2))
        a, b = work / f"{stem}_A.png", work / f"{stem}_B.png"
        Image.fromarray(ca.paint_over(img, new, sigma=0.5 / gsd)).save(a)
        Image.fromarray(ca.relit_shifted(img)).save(b)
        out += _pair(a, b, new, gsd, work, stem)
    return out


def ahn3_set(data: Path, work: Path) -> list:
    import rasterio

    da = _module("detection_accuracy")
    built = da.build_rasters(data, work / "ahn3", 0.5)
    p = built["paths"]
    res = change_images(
        p["shade"],
        p["shade"],
        work / "ahn3" / "mask.tif",
        dsm_before=p["dtm"],
        dsm_after=p["dsm"],
        state_dir=work / "ahn3" / ".state",
    )
    with rasterio.open(p["truth"]) as src:
        truth = src.read(1).astype(bool)
    h, w = truth.shape
    rows = []
    for f, y, conf, _ in _rows(res, truth, "ahn3"):
        rows.append((f, y, conf, ""))
    # spatial folds: the quarter of the tile each region's centre falls in
    for k, r in enumerate(res.regions):
        c = r.geom_px.centroid
        rows[k] = (*rows[k][:3], f"ahn3_q{int(c.y > h / 2)}{int(c.x > w / 2)}")
    return rows


def measure(rows: list, seed: int = 0) -> dict:
    if len(rows) < 20 or len({y for _, y, _, _ in rows}) < 2:
        return {"patches": len(rows), "note": "too few patches or one class only"}
    feats = [f for f, _, _, _ in rows]
    y = np.array([v for _, v, _, _ in rows], dtype=np.int64)
    base = np.array([c for _, _, c, _ in rows])
    groups = np.array([g for _, _, _, g in rows])
    names = learn.feature_names(feats)
    x = learn.matrix(feats, names)
    known = ~np.isnan(x).all(axis=0)
    x = x[:, known]
    oof, metrics = learn.cross_validate(x, y, base, groups=groups, folds=5, seed=seed)
    thr = learn.set_aside_threshold(oof, y, learn.MAX_REAL_SET_ASIDE)
    metrics["false_set_aside"] = round(float(np.mean(oof[y == 0] < thr)), 3)
    metrics["real_set_aside"] = round(float(np.mean(oof[y == 1] < thr)), 3)
    metrics["patches"] = len(y)
    metrics["groups"] = len(set(groups.tolist()))
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA)
    ap.add_argument("--sets", default="dsifn,sztaki,accra,tanzania,ahn3")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="learn-gain-"))
    work.mkdir(parents=True, exist_ok=True)
    per: dict[str, list] = {}
    for s in [s for s in args.sets.split(",") if s]:
        if s == "ahn3":
            if not (args.data / "ahn3_delft").is_dir():
                continue
            per[s] = ahn3_set(args.data, work)
        else:
            per[s] = colour_set(s, args.data, work)
    report = {s: measure(rows) for s, rows in per.items()}
    colour_rows = [r for s, rows in per.items() if s != "ahn3" for r in rows]
    report["colour sets pooled"] = measure(colour_rows)
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    print(
        "| set | patches (real) | P@R0.5 before → after | P@R0.8 | P@R0.9 | AP | "
        "伪变化 set aside (real) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s, m in report.items():
        if "learned" not in m:
            print(f"| {s} | {m['patches']} | {m.get('note', '')} | | | | |")
            continue
        u, lrn = m["unsupervised"], m["learned"]

        def pr(k, u=u, lrn=lrn):
            return f"{u[k]:.2f} → {lrn[k]:.2f}"

        print(
            f"| {s} | {m['patches']} ({m['n_real']}) | {pr('precision_at_recall_0.5')} "
            f"| {pr('precision_at_recall_0.8')} | {pr('precision_at_recall_0.9')} "
            f"| {pr('average_precision')} | {m['false_set_aside']:.0%} "
            f"({m['real_set_aside']:.0%}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
