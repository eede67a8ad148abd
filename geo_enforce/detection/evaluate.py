"""Scoring detection against known truth: object-level and pixel-level precision/recall/F1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of detected against planted changes."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Scores:
        """Scores from true-positive, false-positive and false-negative counts."""
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return cls(p, r, f1, tp, fp, fn)


def object_scores(
    found: list[BaseGeometry], truth: list[BaseGeometry], *, min_overlap: float = 0.3
) -> Scores:
    """A truth object is recalled when a found region covers ≥ ``min_overlap`` of it; a found
    region is correct when truth covers ≥ ``min_overlap`` of it. Same CRS for both lists."""
    recalled = sum(
        1 for t in truth if any(f.intersection(t).area >= min_overlap * t.area for f in found)
    )
    correct = sum(
        1 for f in found if any(f.intersection(t).area >= min_overlap * f.area for t in truth)
    )
    return Scores.from_counts(recalled, len(found) - correct, len(truth) - recalled)


def pixel_scores(pred: np.ndarray, truth: np.ndarray) -> Scores:
    """Changed-class precision/recall/F1 of two boolean masks of the same shape."""
    pred, truth = pred.astype(bool), truth.astype(bool)
    tp = int((pred & truth).sum())
    return Scores.from_counts(tp, int((pred & ~truth).sum()), int((~pred & truth).sum()))
