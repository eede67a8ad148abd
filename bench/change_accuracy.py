"""Score change detection on a folder in the LEVIR-CD layout against a CVA + Otsu baseline.

    python bench/change_accuracy.py DIR [--gsd 1.0] [--out OUT_DIR]

DIR holds ``A/`` (before), ``B/`` (after) and ``label/`` (255 = changed) PNGs of equal names.
Each pair goes through the project's pair mode (``geo_enforce.detection.pipeline.change_images``,
the same code as ``geo-enforce change``) and through a plain change-vector-analysis + Otsu
baseline computed here. Prints pooled precision, recall, F1 and IoU of the changed class.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.filters import threshold_otsu

from geo_enforce.detection.detectors import make_detector
from geo_enforce.detection.pipeline import change_images


def cva_otsu(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Baseline: magnitude of the RGB change vector, thresholded by Otsu over the image."""
    d = np.sqrt(((b[..., :3].astype(float) - a[..., :3].astype(float)) ** 2).sum(axis=-1))
    return d > threshold_otsu(d)


class Score:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        self.tp += int((pred & truth).sum())
        self.fp += int((pred & ~truth).sum())
        self.fn += int((~pred & truth).sum())

    def row(self) -> dict[str, float]:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * p * r / max(p + r, 1e-12)
        iou = self.tp / max(self.tp + self.fp + self.fn, 1)
        return {"precision": p, "recall": r, "f1": f1, "iou": iou}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--gsd", type=float, default=1.0, help="metres per pixel (default 1.0)")
    ap.add_argument("--min-area", type=float, default=None, help="m² (default 12 pixels)")
    ap.add_argument("--out", type=Path, default=None, help="keep masks here")
    ap.add_argument(
        "--detector",
        action="append",
        help="project detector(s) to score (default: regional and rgb)",
    )
    args = ap.parse_args(argv)
    names = sorted(p.name for p in (args.dir / "label").glob("*.png"))
    if not names:
        print(f"{args.dir}/label holds no PNG labels", file=sys.stderr)
        return 2
    detectors = args.detector or ["regional", "rgb"]
    ours = {d: Score() for d in detectors}
    base, floor = Score(), Score()
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="change-acc-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    min_area = args.min_area if args.min_area is not None else 12 * args.gsd**2
    t0 = time.perf_counter()
    for n in names:
        a_path, b_path = args.dir / "A" / n, args.dir / "B" / n
        truth = np.array(Image.open(args.dir / "label" / n).convert("L")) > 127
        for d in detectors:
            mask_path = out_dir / d / n
            change_images(
                a_path,
                b_path,
                mask_path,
                gsd=args.gsd,
                min_area_m2=min_area,
                detector=make_detector(d),
                state_dir=out_dir / ".state" / d / n,
            )
            ours[d].add(np.array(Image.open(mask_path)) > 127, truth)
        a = np.array(Image.open(a_path).convert("RGB"))
        b = np.array(Image.open(b_path).convert("RGB"))
        base.add(cva_otsu(a, b), truth)
        floor.add(np.ones_like(truth), truth)
    elapsed = time.perf_counter() - t0
    print(f"{len(names)} pairs from {args.dir} ({elapsed:.1f} s), pooled over all pixels")
    print("| method | precision | recall | F1 | IoU |")
    print("| --- | --- | --- | --- | --- |")
    rows = [(f"geo-enforce change --detector {d}", sc) for d, sc in ours.items()]
    for label, sc in (
        *rows,
        ("CVA + Otsu baseline", base),
        ("every pixel changed (floor)", floor),
    ):
        r = sc.row()
        print(
            f"| {label} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
            f"| {r['iou']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
