"""A patch ranker that learns from the bureau's own rulings (``geo-enforce detect learn``).

Every ruled change patch is a labelled example. The **target** is "a real change" — ruled
违法, 合法 or 其他 (the squad found something changed on the ground) — against 伪变化
(``false_change``: light, season, shadow, misregistration, trees). The ruler's legal judgement
(违法 vs 合法) depends on permits the imagery cannot see, so it is not the target; the model
only learns which patches are worth a trip.

Features per patch (:func:`patch_features`): the detector's evidence (height gain, planarity,
roughness, edge step, colour change, excess green, NDVI, shadow, colour only — absent values
stay missing, which gradient boosting handles), area (log) and shape (compactness,
rectangularity), the unsupervised confidence, rule hits (one flag per rule and their count),
overlap with a registered structure and the change kind. Any other numeric evidence key seen
in the rulings is added, so a detector with new cues is learned without code changes.

:func:`learn` fits scikit-learn's ``HistGradientBoostingClassifier`` on all rulings after a
stratified cross-validation that measures, out of fold, the average precision and the
precision at the recall of 0.9 of the learned score and of the unsupervised confidence on the
same patches. A model is *adopted* (used by later runs) only when its out-of-fold average
precision beats the confidence's; otherwise it is stored for the record and detection stays
unsupervised (measured on real sets, ~150 rulings were not enough, thousands were:
docs/benchmarks.md). It chooses the set-aside threshold out of fold, so that at most
``MAX_REAL_SET_ASIDE`` (5 %) of the real changes would have been set aside, and stores the
model (bytes + SHA-256) as a new ``detector_model`` version.

:func:`score_patches` is called by every later detection run: each new patch gets the latest
model's ``learned_score`` and ``model_id``; patches scoring under the threshold are flagged
``set_aside`` (kept and listed apart, never deleted). Nothing here ships a model: a fresh
installation has none and detection stays unsupervised until the bureau has ruled enough
patches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import pickle
from collections.abc import Callable, Sequence

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.detection.rules import RULES
from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.storage.models import ChangePatch, DetectorModel

#: Rulings counted as a real change (target 1); 伪变化 is target 0.
REAL_CHANGE = ("illegal", "legal", "other")
FALSE_CHANGE = "false_change"

#: Fewest rulings needed, and fewest of each class (cross-validation needs both in every fold).
MIN_RULINGS = 30
MIN_PER_CLASS = 10

#: At most this share of the real changes may fall under the set-aside threshold (out of fold).
MAX_REAL_SET_ASIDE = 0.05

ALGORITHM = "sklearn.HistGradientBoostingClassifier"

#: Evidence keys always in the feature list (missing values allowed).
EVIDENCE_FEATURES = (
    "height_gain_m",
    "planarity_rmse_m",
    "roughness_m",
    "edge_step_m",
    "compactness",
    "rectangularity",
    "colour_change",
    "exg",
    "ndvi",
    "shadow",
    "colour_only",
)
KINDS = ("new", "enlarged", "rebuilt", "demolished", "still_standing")


def _shape(p: ChangePatch) -> dict[str, float]:
    """Compactness and rectangularity of the stored outline (local metres), when the detector
    did not record them."""
    g = to_shape(p.geom)
    lat = g.centroid.y
    local = shapely.transform(g, lambda xy: xy * np.array([math.cos(math.radians(lat)), 1.0]))
    area, perim = local.area, local.length
    rect = shapely.minimum_rotated_rectangle(local).area
    return {
        "compactness": 4 * math.pi * area / perim**2 if perim > 0 else 0.0,
        "rectangularity": area / rect if rect > 0 else 0.0,
    }


def features(
    evidence: dict,
    *,
    area_m2: float,
    confidence: float,
    height_gain_max_m: float | None = None,
    height_gain_mean_m: float | None = None,
    rule_codes: Sequence[str] = (),
    on_structure: bool = False,
    change_kind: str = "new",
) -> dict[str, float]:
    """The numeric features of one patch or region (see the module doc); absent when unknown."""
    f = {k: float(v) for k, v in (evidence or {}).items() if isinstance(v, int | float)}
    f.pop("area_m2", None)  # log_area_m2 carries it
    f["log_area_m2"] = math.log10(max(area_m2 or 0.0, 0.01))
    f["confidence"] = float(confidence or 0.0)
    if height_gain_max_m is not None:
        f["height_gain_max_m"] = float(height_gain_max_m)
    if height_gain_mean_m is not None:
        f.setdefault("height_gain_m", float(height_gain_mean_m))
    f["rule_hits"] = float(len(rule_codes))
    for code in RULES:
        f[f"hit_{code}"] = 1.0 if code in rule_codes else 0.0
    f["on_structure"] = 1.0 if on_structure else 0.0
    for kind in KINDS:
        f[f"kind_{kind}"] = 1.0 if change_kind == kind else 0.0
    return f


def patch_features(p: ChangePatch) -> dict[str, float]:
    """:func:`features` of a stored patch (shape measured on its outline when not recorded)."""
    ev = dict(p.evidence or {})
    if "compactness" not in ev or "rectangularity" not in ev:
        ev.update({k: v for k, v in _shape(p).items() if k not in ev})
    return features(
        ev,
        area_m2=p.area_m2,
        confidence=p.confidence,
        height_gain_max_m=p.height_gain_max_m,
        height_gain_mean_m=p.height_gain_mean_m,
        rule_codes=[h.get("code") for h in (p.rule_hits or [])],
        on_structure=p.structure_id is not None,
        change_kind=p.change_kind,
    )


def feature_names(rows: Sequence[dict[str, float]]) -> list[str]:
    """The fixed features plus every other key present in at least one row, sorted."""
    fixed = [
        *EVIDENCE_FEATURES,
        "log_area_m2",
        "confidence",
        "height_gain_max_m",
        "rule_hits",
        *(f"hit_{c}" for c in RULES),
        "on_structure",
        *(f"kind_{k}" for k in KINDS),
    ]
    extra = sorted({k for r in rows for k in r} - set(fixed))
    return fixed + extra


def matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    """Rows of features as a float array in the order of ``names`` (NaN where missing)."""
    return np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64)


def precision_at_recall(scores: np.ndarray, y: np.ndarray, recall: float) -> float:
    """Precision of the top-ranked examples needed to reach ``recall`` of the positives."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(y[order])
    need = math.ceil(recall * y.sum())
    if need == 0:
        return float("nan")
    k = int(np.searchsorted(hits, need)) + 1
    return float(hits[k - 1] / k)


def _estimator(seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # shallow, slow-learning trees: a bureau has hundreds of rulings, not millions
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.05,
        max_depth=3,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=seed,
    )


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    baseline: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """Out-of-fold learned scores and metrics against the ``baseline`` score (the
    unsupervised confidence) on the same examples. ``groups`` keeps examples of one group
    (e.g. one image pair) in the same fold."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    n_min = int(min(y.sum(), len(y) - y.sum()))
    k = max(2, min(folds, n_min))
    if groups is not None:
        k = min(k, len(set(groups.tolist())))
        split = GroupKFold(n_splits=k).split(x, y, groups)
    else:
        split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, y)
    oof = np.full(len(y), np.nan)
    for i, (tr, te) in enumerate(split):
        if len(set(y[tr].tolist())) < 2:
            oof[te] = y[tr].mean()
        else:
            est = _estimator(seed).fit(x[tr], y[tr])
            oof[te] = est.predict_proba(x[te])[:, 1]
        if progress:
            progress(i + 1, k)
    metrics: dict = {"folds": k, "n": len(y), "n_real": int(y.sum())}
    for name, s in (("learned", oof), ("unsupervised", baseline)):
        metrics[name] = {
            "roc_auc": round(float(roc_auc_score(y, s)), 4),
            "average_precision": round(float(average_precision_score(y, s)), 4),
            **{
                f"precision_at_recall_{r}": round(precision_at_recall(s, y, r), 4)
                for r in (0.5, 0.8, 0.9, 0.95)
            },
        }
    return oof, metrics


def set_aside_threshold(oof: np.ndarray, y: np.ndarray, max_real: float) -> float:
    """Largest score threshold under which at most ``max_real`` of the real changes fall."""
    real = np.sort(oof[y == 1])
    if real.size == 0:
        return 0.0
    k = math.floor(max_real * real.size)
    return float(real[k]) if k > 0 else float(real[0]) - 1e-9


def ruled_patches(session: Session) -> list[ChangePatch]:
    """Current patches of the project's own detection with a ruling, oldest first.

    Ministry patches (source ``mnr``) are left out: the ranker learns what the detector's own
    patches turn out to be, and a satellite patch carries none of its evidence.
    """
    q = select(ChangePatch).where(
        ChangePatch.retired_at.is_(None),
        ChangePatch.ruling.isnot(None),
        ChangePatch.source == "flight",
    )
    return list(session.scalars(q.order_by(ChangePatch.id)))


def learn(
    session: Session,
    *,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> DetectorModel:
    """Fit a ranker on the stored rulings and store it as the next model version.

    Refused (``InvalidInput``) with the counts when there are too few rulings.
    """
    patches = ruled_patches(session)
    y = np.array([0 if p.ruling == FALSE_CHANGE else 1 for p in patches], dtype=np.int64)
    n_real, n_false = int(y.sum()), int(len(y) - y.sum())
    if len(y) < MIN_RULINGS or n_real < MIN_PER_CLASS or n_false < MIN_PER_CLASS:
        raise InvalidInput(
            f"too few rulings to learn from: {len(y)} ruled patches ({n_real} real changes "
            f"违法/合法/其他, {n_false} 伪变化); at least {MIN_RULINGS} are needed with at least "
            f"{MIN_PER_CLASS} of each — rule more patches (geo-enforce or the web map) and retry"
        )
    rows = [patch_features(p) for p in patches]
    names = feature_names(rows)
    x = matrix(rows, names)
    known = ~np.isnan(x).all(axis=0)  # a cue no ruled patch has carries nothing to learn
    names = [n for n, k in zip(names, known, strict=True) if k]
    x = x[:, known]
    baseline = np.array([p.confidence or 0.0 for p in patches])
    oof, metrics = cross_validate(x, y, baseline, seed=seed, progress=progress)
    threshold = set_aside_threshold(oof, y, MAX_REAL_SET_ASIDE)
    # used only when it ranks better than the unsupervised confidence out of fold
    metrics["adopted"] = bool(
        metrics["learned"]["average_precision"] > metrics["unsupervised"]["average_precision"]
    )
    metrics["set_aside_below"] = round(threshold, 4)
    metrics["oof_false_set_aside"] = round(float(np.mean(oof[y == 0] < threshold)), 4)
    metrics["oof_real_set_aside"] = round(float(np.mean(oof[y == 1] < threshold)), 4)
    model = _estimator(seed).fit(x, y)
    blob = pickle.dumps({"estimator": model, "features": names}, protocol=5)
    version = (session.scalar(select(func.max(DetectorModel.model_version))) or 0) + 1
    row = DetectorModel(
        model_version=version,
        created_by=actor,
        algorithm=ALGORITHM,
        target="real change (违法/合法/其他) = 1, 伪变化 = 0",
        features=names,
        n_examples=len(y),
        n_positive=n_real,
        cv_metrics=metrics,
        set_aside_below=threshold,
        model_bytes=blob,
        model_sha256=hashlib.sha256(blob).hexdigest(),
    )
    session.add(row)
    session.flush()
    return row


def latest_model(session: Session) -> DetectorModel | None:
    """The current (not retired) adopted model of the highest version, if any. A model that
    did not rank better than the unsupervised confidence out of fold is kept but not used."""
    return session.scalar(
        select(DetectorModel)
        .where(
            DetectorModel.retired_at.is_(None),
            DetectorModel.cv_metrics["adopted"].as_boolean().is_(True),
        )
        .order_by(DetectorModel.model_version.desc())
        .limit(1)
    )


def list_models(session: Session, *, include_retired: bool = False) -> list[DetectorModel]:
    """Stored models, newest version first (retired ones on request)."""
    q = select(DetectorModel)
    if not include_retired:
        q = q.where(DetectorModel.retired_at.is_(None))
    return list(session.scalars(q.order_by(DetectorModel.model_version.desc())))


def retire_model(session: Session, version: int, *, actor: str, reason: str) -> DetectorModel:
    """Retire model ``version`` (later runs use the previous one, or none); kept, not deleted."""
    m = session.scalar(select(DetectorModel).where(DetectorModel.model_version == version))
    if m is None or m.retired_at is not None:
        raise NotFound(f"detector model version {version} not found (or already retired)")
    m.retired_at = dt.datetime.now(dt.UTC)
    m.retired_by = actor
    m.retire_reason = reason
    return m


def load_estimator(m: DetectorModel):
    """The fitted estimator and its feature names; the stored bytes are checked first."""
    if hashlib.sha256(m.model_bytes).hexdigest() != m.model_sha256:
        raise InvalidInput(
            f"detector model version {m.model_version}: stored bytes do not match their "
            "SHA-256; retire it (geo-enforce detect models) and learn again"
        )
    body = pickle.loads(m.model_bytes)  # written by learn() into our own ledger, hash checked
    return body["estimator"], body["features"]


def score_patches(session: Session, patches: Sequence[ChangePatch]) -> DetectorModel | None:
    """Score ``patches`` with the latest model: learned_score, model_id, set_aside (below the
    model's threshold). Nothing happens when no model exists (unsupervised default)."""
    m = latest_model(session)
    if m is None or not patches:
        return m
    est, names = load_estimator(m)
    x = matrix([patch_features(p) for p in patches], names)
    scores = est.predict_proba(x)[:, 1]
    for p, s in zip(patches, scores, strict=True):
        p.learned_score = round(float(s), 4)
        p.model_id = m.id
        p.set_aside = bool(s < m.set_aside_below)
    return m
