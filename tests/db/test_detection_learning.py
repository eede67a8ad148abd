"""The ranker learned from the bureau's rulings (``geo-enforce detect learn``), colour-only
patches and flights outside the township (PostGIS)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select

from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection import learn
from geo_enforce.detection.patches import COLOUR_ONLY_LABEL, patch_feature
from geo_enforce.detection.service import create_run, execute_run
from geo_enforce.errors import InvalidInput
from geo_enforce.geometry.crs import transform_geometry
from geo_enforce.imagery.flights import register_flight
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AdminArea, AuditLog, ChangePatch, DetectorModel, Flight
from tests.support import hostile
from tests.support.guarded_cli import run

ORIGIN = (500_000.0, 4_318_000.0)  # synthetic_pair's default, EPSG:4548


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    env = {"GEO_ENFORCE_DATA_DIR": str(tmp_path / "var"), "GEO_ENFORCE_ACTOR": "cli:test"}
    with hostile.cli(monkeypatch, db_url, **env):
        yield


def _example(rng, real: bool) -> dict:
    """Evidence of one seeded patch. Real changes are planar roofs; 伪变化 are trees (rough,
    green), shadows and light (colour only, dark). The unsupervised confidence barely differs."""
    if real:
        ev = {
            "height_gain_m": rng.uniform(2.4, 8.0),
            "roughness_m": rng.uniform(0.03, 0.2),
            "planarity_rmse_m": rng.uniform(0.05, 0.3),
            "exg": rng.normal(-0.02, 0.03),
        }
    elif rng.random() < 0.6:  # a tree
        ev = {
            "height_gain_m": rng.uniform(2.4, 9.0),
            "roughness_m": rng.uniform(0.15, 0.6),
            "planarity_rmse_m": rng.uniform(0.2, 0.8),
            "exg": rng.normal(0.06, 0.04),
        }
    else:  # a shadow or light change seen by colour alone
        ev = {"colour_only": 1.0, "colour_change": rng.uniform(1.0, 1.6), "shadow": 0.6}
    return {k: round(float(v), 3) for k, v in ev.items()}


def _seed_patches(factory, n: int, *, seed: int, ruled: bool, start: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with transaction(factory, "test") as s:
        for i in range(n):
            real = bool(rng.random() < 0.55)
            x0, y0 = ORIGIN[0] + 30 * ((start + i) % 40), ORIGIN[1] + 30 * ((start + i) // 40)
            geom = transform_geometry(box(x0, y0, x0 + rng.uniform(4, 15), y0 + 8), 4548, 4490)
            s.add(
                ChangePatch(
                    code=f"SEED-{seed}-{i:04d}",
                    change_kind="new",
                    confidence=round(float(np.clip(rng.uniform(0.3, 0.9) + 0.05 * real, 0, 1)), 3),
                    evidence=_example(rng, real),
                    rule_hits=[],
                    suggested_ruling=None,
                    ruling=("illegal" if real else "false_change") if ruled else None,
                    status="ruled" if ruled else "new",
                    # the truth of unruled patches kept aside for the test
                    ruling_note=None if ruled else ("real" if real else "false"),
                    detected_on=dt.date(2024, 6, 1),
                    geom=from_shape(MultiPolygon([geom]), srid=4490),
                )
            )


def test_learned_ranker_improves_precision_and_sets_false_change_aside(sessions):
    _seed_patches(sessions, 160, seed=1, ruled=True)
    _seed_patches(sessions, 120, seed=2, ruled=False, start=200)
    with transaction(sessions, "test:learn") as s:
        m = learn.learn(s, actor="test:learn")
        assert m.model_version == 1 and m.n_examples == 160 and len(m.model_sha256) == 64
        cv = m.cv_metrics
        assert (
            cv["learned"]["precision_at_recall_0.9"]
            >= cv["unsupervised"]["precision_at_recall_0.9"] + 0.2
        )
        assert cv["oof_real_set_aside"] <= 0.1
    with transaction(sessions, "test") as s:
        new = list(s.scalars(select(ChangePatch).where(ChangePatch.ruling.is_(None))))
        scored_by = learn.score_patches(s, new)
        assert scored_by is not None and scored_by.model_version == 1
    with sessions() as s:
        new = list(s.scalars(select(ChangePatch).where(ChangePatch.ruling.is_(None))))
        y = np.array([p.ruling_note == "real" for p in new], dtype=int)
        learned = np.array([p.learned_score for p in new])
        unsupervised = np.array([p.confidence for p in new])
        # held-out patches: precision at equal recall, learned score against confidence
        for r in (0.8, 0.9):
            assert learn.precision_at_recall(learned, y, r) >= (
                learn.precision_at_recall(unsupervised, y, r) + 0.2
            )
        aside = [p for p in new if p.set_aside]
        assert aside, "no likely 伪变化 set aside"
        assert sum(p.ruling_note == "false" for p in aside) / len(aside) >= 0.9
        assert all(p.model_id == m.id for p in new)
        # kept, never deleted: every seeded patch is still there, set aside or not
        assert s.scalar(select(func.count()).select_from(ChangePatch)) == 280
        # the model row is audited like every ledger table
        assert s.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.table_name == "detector_model", AuditLog.actor == "test:learn")
        )


def test_models_are_versioned_and_retired(sessions):
    _seed_patches(sessions, 60, seed=3, ruled=True)
    with transaction(sessions, "test") as s:
        v1 = learn.learn(s, actor="test").id
    with transaction(sessions, "test") as s:
        v2 = learn.learn(s, actor="test", seed=1)
        latest = learn.latest_model(s)
        assert v2.model_version == 2 and latest is not None and latest.id == v2.id
        est, names = learn.load_estimator(v2)
        assert names == v2.features and hasattr(est, "predict_proba")
    with transaction(sessions, "test") as s:
        learn.retire_model(s, 2, actor="test", reason="worse than v1")
    with sessions() as s:
        latest = learn.latest_model(s)
        assert latest is not None and latest.id == v1
        assert [m.model_version for m in learn.list_models(s, include_retired=True)] == [2, 1]
        retired = s.get(DetectorModel, v2.id)
        assert retired is not None and retired.retired_at is not None


def test_a_model_no_better_than_the_confidence_is_kept_but_not_used(sessions, capsys, cli):
    # the unsupervised confidence already separates the rulings perfectly: nothing to gain
    _seed_patches(sessions, 60, seed=6, ruled=True)
    with transaction(sessions, "test") as s:
        for p in s.scalars(select(ChangePatch)):
            p.confidence = 0.9 if p.ruling == "illegal" else 0.1
    code, out = run(["detect", "learn"], capsys)
    assert code == 0 and "stored, not used" in out
    with sessions() as s:
        m = s.scalar(select(DetectorModel))
        assert m is not None and m.cv_metrics["adopted"] is False
        assert learn.latest_model(s) is None
    code, out = run(["detect", "models"], capsys)
    assert code == 0 and "not adopted" in out


def test_too_few_rulings_are_refused_with_the_numbers(sessions, cli, capsys):
    _seed_patches(sessions, 12, seed=4, ruled=True)
    with pytest.raises(InvalidInput, match="at least 30") as exc, transaction(sessions, "t") as s:
        learn.learn(s, actor="t")
    assert "12 ruled patches" in str(exc.value)
    code, out = run(["detect", "learn"], capsys)
    assert code == 2 and "at least 30" in out
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DetectorModel)) == 0


def _flights(factory, tmp_path, seed: int):
    pair = synthetic_pair(tmp_path / "pair", seed=seed, size_px=(320, 320))
    with transaction(factory, "test") as s:
        for name, ortho, dsm, day in (
            ("b", pair.before_ortho, pair.before_dsm, dt.date(2024, 4, 1)),
            ("a", pair.after_ortho, pair.after_dsm, dt.date(2024, 6, 1)),
        ):
            register_flight(
                s, ortho_path=ortho, dsm_path=dsm, flown_on=day, data_dir=tmp_path, name=name
            )
    return pair


def _admin(factory, code: str, x: float, y: float, half: float) -> None:
    g = transform_geometry(box(x - half, y - half, x + half, y + half), 4548, 4490)
    with transaction(factory, "test") as s:
        s.add(
            AdminArea(
                code=code,
                name="测试镇",
                level="town",
                geom=from_shape(MultiPolygon([g]), srid=4490),
            )
        )


def _run(factory, tmp_path, params):
    with transaction(factory, "test") as s:
        run_id = create_run(s, before="b", after="a", params=params).id
    summary = execute_run(factory, run_id, data_dir=tmp_path, actor="test")
    with factory() as s:
        patches = list(s.scalars(select(ChangePatch).where(ChangePatch.run_id == run_id)))
        feats = [patch_feature(p) for p in patches]
    return summary, patches, feats


def test_new_run_is_scored_by_the_latest_model(sessions, tmp_path):
    _seed_patches(sessions, 60, seed=5, ruled=True)
    with transaction(sessions, "test") as s:
        model = learn.learn(s, actor="test")
        model_id, threshold = model.id, model.set_aside_below
    _flights(sessions, tmp_path, seed=71)
    summary, patches, _ = _run(sessions, tmp_path, {"tile": 256})
    assert summary["model_version"] == 1 and patches
    for p in patches:
        assert p.model_id == model_id and p.learned_score is not None
        assert p.set_aside == (p.learned_score < threshold)
        assert p.evidence, "the detector's evidence is stored with the patch"
    assert summary["set_aside"] == sum(p.set_aside for p in patches)


def test_outside_township_warns_and_colour_alone_suggests_nothing(sessions, tmp_path):
    _flights(sessions, tmp_path, seed=72)
    # the township is 50 km away: the flight was registered in the wrong place
    _admin(sessions, "FAR", ORIGIN[0] + 50_000, ORIGIN[1], 2_000)
    from geo_enforce.imagery.flights import flight_warnings

    with sessions() as s:  # what `flight add` and POST /flights now say at registration
        flights = list(s.scalars(select(Flight)))
        assert flights and all("不在任何已存行政区内" in flight_warnings(s, f)[0] for f in flights)
    summary, patches, _ = _run(sessions, tmp_path, {"tile": 256})
    assert patches and any(p.rule_hits for p in patches)
    assert "outside every stored administrative area" in summary["warnings"][0]
    assert all(p.suggested_ruling is None for p in patches)
    # the township around the flight: no warning; colour alone never suggests 违法
    _admin(sessions, "HERE", ORIGIN[0] + 40, ORIGIN[1] + 40, 500)
    with sessions() as s:
        assert all(flight_warnings(s, f) == [] for f in s.scalars(select(Flight)))
    summary, patches, feats = _run(sessions, tmp_path, {"tile": 256, "detector": "rgb"})
    assert "warnings" not in summary and patches
    assert summary["colour_only"] == len(patches)
    for p, f in zip(patches, feats, strict=True):
        assert p.suggested_ruling is None and p.evidence["colour_only"] == 1.0
        assert p.confidence <= 0.4
        assert f["properties"]["detection_note"] == COLOUR_ONLY_LABEL
        assert f["properties"]["suggested_ruling_label"] == "需现场核实"
