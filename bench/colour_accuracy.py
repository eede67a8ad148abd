"""Colour-only change detection (pairs without DSMs) on the real labelled sets in ../shared/data.

    python bench/colour_accuracy.py [DATA_DIR] [--detector NAME ...] [--sets dsifn,sztaki,...]

For every set it reports pooled pixel precision, recall and F1 of the changed class, the
"mark everything changed" floor (F1 = 2p / (1 + p), p the share of changed pixels) and the share
of pixels marked on *unchanged* pairs made from the same images: the before image against itself
shifted by half a pixel (bilinear, as a real misregistration that a plain grid cannot correct)
and re-lit (per-band gain 1.10–1.20, offset −8, gamma 0.9). Sets:

- ``dsifn``: 10 DSIFN pairs (Google Earth, China, taken as 1 m), all land-cover change labelled;
- ``sztaki``: 13 SZTAKI AirChange pairs (1.5 m, Hungary; evaluation only, never trained on);
- ``accra``, ``tanzania``: drone tiles with a single-date building mask. The pair is made from
  the one image: *before* is the image with every other building (connected part of the mask)
  painted over with the surrounding ground (nearest ground pixel, smoothed), *after* is the
  real image re-lit and shifted by half a pixel; the truth is the painted-over buildings (new
  buildings on real drone texture, everything else unchanged but re-lit);
- ``naip``: three real dates (2014, 2017, 2020, 5 m, RGB+NIR) of one rural tile, no labels:
  the share marked between dates (little changed but crops, season and a 1–3 m misregistration).

Each pair goes through the project's pair mode (``change_images``, the code of
``geo-enforce change``), so the figures are what a user gets. ``--json`` prints the rows as
JSON (``bench/detection_accuracy.py`` includes them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from geo_enforce.detection.detectors import make_detector
from geo_enforce.detection.pipeline import change_images

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SETS = ("dsifn", "sztaki", "accra", "tanzania", "naip")


class Counts:
    """Pooled pixel counts of one set (a plain class: this file is also loaded by path from
    ``bench/detection_accuracy.py``, where a dataclass cannot resolve its module)."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.pos = self.total = self.marked = 0
        self.unchanged_marked = self.unchanged_total = self.pairs = 0
        self.extra: dict = {}

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        self.tp += int((pred & truth).sum())
        self.fp += int((pred & ~truth).sum())
        self.fn += int((~pred & truth).sum())
        self.pos += int(truth.sum())
        self.total += truth.size
        self.marked += int(pred.sum())
        self.pairs += 1

    def row(self) -> dict:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        share = self.pos / max(self.total, 1)
        return {
            "pairs": self.pairs,
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(2 * p * r / max(p + r, 1e-12), 3),
            "floor_f1": round(2 * share / (1 + share), 3),
            "marked": round(self.marked / max(self.total, 1), 4),
            "unchanged_marked": round(self.unchanged_marked / max(self.unchanged_total, 1), 4),
            **self.extra,
        }


def relit_shifted(img: np.ndarray) -> np.ndarray:
    """``img`` (rows, cols, 3) re-lit and shifted by half a pixel in both directions."""
    x = img[..., :3].astype(np.float32) / 255.0
    x = np.power(np.clip(x, 0, 1), 0.9) * np.array([1.10, 1.15, 1.20], np.float32) - 8 / 255
    x = np.stack([ndi.shift(x[..., k], (0.5, 0.5), order=1, mode="nearest") for k in range(3)], -1)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def paint_over(img: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """``img`` with the ``mask`` pixels replaced by the nearest unmasked pixel, smoothed."""
    idx = ndi.distance_transform_edt(mask, return_distances=False, return_indices=True)
    filled = img[idx[0], idx[1]].astype(np.float32)
    smooth = np.stack([ndi.gaussian_filter(filled[..., k], sigma) for k in range(3)], -1)
    out = img[..., :3].astype(np.float32).copy()
    out[mask] = smooth[mask]
    return out.astype(np.uint8)


class Runner:
    def __init__(self, detector: str, work: Path, params: dict | None = None) -> None:
        self.detector = detector
        self.params = params or {}
        tag = "-".join(f"{k}{v}" for k, v in sorted(self.params.items()))
        self.work = work / (detector + (f"-{tag}" if tag else ""))

    def mask(self, a: Path, b: Path, gsd: float | None, name: str) -> np.ndarray:
        out = self.work / f"{name}.png"
        change_images(
            a,
            b,
            out,
            gsd=gsd,
            min_area_m2=max(12 * (gsd or 1.0) ** 2, 0.5 if (gsd or 1) < 0.2 else 10.0),
            detector=make_detector(self.detector, **self.params),
            state_dir=self.work / ".state" / name,
        )
        return np.array(Image.open(out)) > 127

    def unchanged(self, c: Counts, before: np.ndarray, gsd: float, name: str) -> None:
        d = self.work / "unchanged"
        d.mkdir(parents=True, exist_ok=True)
        a, b = d / f"{name}_A.png", d / f"{name}_B.png"
        Image.fromarray(before[..., :3]).save(a)
        Image.fromarray(relit_shifted(before)).save(b)
        m = self.mask(a, b, gsd, f"unchanged_{name}")
        c.unchanged_marked += int(m.sum())
        c.unchanged_total += m.size


def labelled_folder(run: Runner, folder: Path, gsd: float) -> Counts:
    c = Counts()
    for lab in sorted((folder / "label").glob("*.png")):
        a, b = folder / "A" / lab.name, folder / "B" / lab.name
        truth = np.array(Image.open(lab).convert("L")) > 127
        c.add(run.mask(a, b, gsd, f"{folder.name}_{lab.stem}"), truth)
        run.unchanged(c, np.array(Image.open(a).convert("RGB")), gsd, f"{folder.name}_{lab.stem}")
    return c


def _drone_pair(run: Runner, img: np.ndarray, buildings: np.ndarray, gsd: float, name: str, c):
    labels, n = ndi.label(buildings)
    new = np.isin(labels, np.arange(1, n + 1, 2))  # every other building is new
    d = run.work / "drone"
    d.mkdir(parents=True, exist_ok=True)
    a, b = d / f"{name}_A.png", d / f"{name}_B.png"
    Image.fromarray(paint_over(img, new, sigma=0.5 / gsd)).save(a)
    Image.fromarray(relit_shifted(img)).save(b)
    c.add(run.mask(a, b, gsd, name), new)
    run.unchanged(c, img[..., :3], gsd, name)


def accra(run: Runner, data: Path) -> Counts:
    import rasterio

    from geo_enforce.imagery.rasters import inspect

    c = Counts()
    for tif in sorted((data / "drone_buildings" / "opencities_accra").glob("*_tile_*[0-9].tif")):
        with rasterio.open(tif) as src:
            img = src.read([1, 2, 3]).transpose(1, 2, 0)
        with rasterio.open(tif.with_name(tif.stem + "_mask.tif")) as src:
            buildings = src.read(1) > 0
        gsd = inspect(tif).gsd_m or 0.02
        _drone_pair(run, img, buildings, gsd, tif.stem, c)
    return c


def tanzania(run: Runner, data: Path) -> Counts:
    import geopandas as gpd
    import rasterio
    from rasterio.features import rasterize

    folder = data / "drone_buildings" / "tanzania"
    with rasterio.open(folder / "tanzania_sample.tif") as src:
        img = src.read([1, 2, 3]).transpose(1, 2, 0)
        polys = gpd.read_file(folder / "tanzania_sample.geojson").to_crs(src.crs)
        buildings = rasterize(polys.geometry, out_shape=img.shape[:2], transform=src.transform) > 0
        gsd = abs(src.transform.a)
    c = Counts()
    _drone_pair(run, img, buildings, gsd, "tanzania", c)
    return c


def naip(run: Runner, data: Path) -> Counts:
    files = sorted((data / "naip_3dates").glob("*.tif"))
    c = Counts()
    shares = {}
    for i, j in ((0, 1), (1, 2), (0, 2)):
        name = f"naip_{files[i].stem[-8:-4]}_{files[j].stem[-8:-4]}"
        m = run.mask(files[i], files[j], None, name)
        shares[name[5:]] = round(float(m.mean()), 4)
        c.unchanged_marked += int(m.sum())
        c.unchanged_total += m.size
    c.extra["between_dates"] = shares
    return c


def evaluate(
    data: Path, detector: str, sets: list[str], work: Path, params: dict | None = None
) -> dict[str, dict]:
    run = Runner(detector, work, params)
    rows = {}
    for s in sets:
        t0 = time.perf_counter()
        if s == "dsifn":
            c = labelled_folder(run, data / "dsifn_samples", 1.0)
        elif s == "sztaki":
            c = labelled_folder(run, data / "sztaki_airchange", 1.5)
        elif s == "accra":
            c = accra(run, data)
        elif s == "tanzania":
            c = tanzania(run, data)
        else:
            c = naip(run, data)
        rows[s] = {**c.row(), "seconds": round(time.perf_counter() - t0, 1)}
    return rows


def run(data_dir: Path, work: Path) -> dict[str, dict]:
    """The default detector's colour-path rows on every set (``bench/detection_accuracy.py
    --part colour`` includes them)."""
    return evaluate(Path(data_dir), "combined", list(SETS), Path(work))


def print_table(detector: str, rows: dict[str, dict]) -> None:
    print(f"\ndetector {detector!r} (pooled over all pixels)")
    print("| set | pairs | precision | recall | F1 | floor F1 | marked on unchanged |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s, r in rows.items():
        if s == "naip":
            between = ", ".join(f"{k}: {v:.1%}" for k, v in r["between_dates"].items())
            print(f"| naip (real dates, unlabelled) | 3 | – | – | – | – | {between} |")
            continue
        print(
            f"| {s} | {r['pairs']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
            f"| {r['floor_f1']:.3f} | {r['unchanged_marked']:.2%} |"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA)
    ap.add_argument("--detector", action="append", help="detector(s) (default: the default one)")
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma list of {', '.join(SETS)}")
    ap.add_argument("--work", type=Path, default=None, help="keep masks here")
    ap.add_argument("--json", action="store_true", help="print JSON rows")
    ap.add_argument(
        "--param", action="append", default=[], help="detector parameter NAME=NUMBER (repeatable)"
    )
    args = ap.parse_args(argv)
    if not (args.data / "dsifn_samples").is_dir():
        print(f"{args.data}: not the shared data folder (no dsifn_samples/)", file=sys.stderr)
        return 2
    sets = [s for s in args.sets.split(",") if s]
    unknown = set(sets) - set(SETS)
    if unknown:
        print(f"unknown sets {sorted(unknown)}; known: {', '.join(SETS)}", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="colour-acc-"))
    params = {k: float(v) for k, v in (p.split("=", 1) for p in args.param)}
    out = {}
    for det in args.detector or ["combined"]:
        if params and det == "combined":
            det = "rgb"  # the colour path of the default detector takes the parameters
        out[det] = evaluate(args.data, det, sets, work, params)
        if not args.json:
            print_table(det, out[det])
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
