"""Change detection on synthetic flight pairs with known truth (no database)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize

from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection.detectors import (
    ChangeResult,
    Detector,
    DsmHeightDetector,
    RgbChangeDetector,
    WindowPair,
)
from geo_enforce.detection.evaluate import object_scores, pixel_scores
from geo_enforce.detection.pipeline import detect_pair, write_mask
from geo_enforce.imagery.align import align_flights

SEEDS = (11, 12)


def _align(pair):
    return align_flights(
        str(pair.before_ortho),
        str(pair.after_ortho),
        before_dsm=str(pair.before_dsm),
        after_dsm=str(pair.after_dsm),
    )


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = []
    for seed in SEEDS:
        pair = synthetic_pair(tmp_path_factory.mktemp(f"pair{seed}"), seed=seed, size_px=(640, 640))
        out.append((pair, _align(pair)))
    return out


def _truth(pair, kinds):
    return [g for _, g, _ in pair.scene.truth(kinds)]


def test_scene_has_every_kind_of_change(pairs):
    for pair, _ in pairs:
        kinds = {b.change for b in pair.scene.buildings}
        assert {"new", "demolished", "enlarged", None} <= kinds


def test_dsm_path_object_recall_precision_and_pixel_f1(pairs, tmp_path):
    tp = fp = fn = 0
    for i, (pair, alignment) in enumerate(pairs):
        res = detect_pair(alignment, tmp_path / f"s{i}", tile=512)
        assert res.complete
        for kinds, kind in ((("new", "enlarged"), "new"), (("demolished",), "demolished")):
            found = [r.geom for r in res.regions if r.kind == kind]
            sc = object_scores(found, _truth(pair, kinds))
            tp, fp, fn = tp + sc.tp, fp + sc.fp, fn + sc.fn
        # pixel F1 of the gain mask against the rasterised truth of new + enlarged parts
        mask = tmp_path / f"m{i}.tif"
        write_mask(res, mask)
        with rasterio.open(mask) as src:
            pred = src.read(1) > 0
        truth = rasterize(
            [(g, 1) for g in _truth(pair, ("new", "enlarged", "demolished"))],
            pred.shape,
            transform=src.transform,
        ).astype(bool)
        assert pixel_scores(pred, truth).f1 >= 0.8
    recall = tp / (tp + fn)
    precision = tp / (tp + fp)
    assert recall >= 0.9, (tp, fp, fn)
    assert precision >= 0.9, (tp, fp, fn)


def test_height_change_is_measured(pairs, tmp_path):
    pair, alignment = pairs[0]
    res = detect_pair(alignment, tmp_path / "h", tile=512)
    new = [b for b in pair.scene.buildings if b.change == "new"]
    for b in new:
        hit = [r for r in res.regions if r.kind == "new" and r.geom.intersects(b.geom)]
        assert hit, "a new building was missed"
        gain_max, gain_mean = hit[0].height_gain_max_m, hit[0].height_gain_mean_m
        assert gain_max is not None and gain_mean is not None
        assert abs(gain_max - b.height_m) < 1.0
        assert gain_mean > 2.2
        assert abs(hit[0].area_m2 - b.geom.area) < 0.25 * b.geom.area


def test_rgb_path_without_dsm(pairs, tmp_path):
    # colour alone cannot tell a new building from a removed one: a region is correct when it
    # is a changed building of either kind; recall is counted on the new and enlarged ones
    recalled = missed = correct = wrong = 0
    for i, (pair, alignment) in enumerate(pairs):
        res = detect_pair(alignment, tmp_path / f"r{i}", detector=RgbChangeDetector(), tile=512)
        found = [r.geom for r in res.regions]
        sc = object_scores(found, _truth(pair, ("new", "enlarged")))
        recalled, missed = recalled + sc.tp, missed + sc.fn
        sc = object_scores(found, _truth(pair, ("new", "enlarged", "demolished")))
        correct, wrong = correct + len(found) - sc.fp, wrong + sc.fp
        assert all(r.evidence.get("colour_only") == 1.0 for r in res.regions)
    assert recalled / (recalled + missed) >= 0.8
    assert correct / (correct + wrong) >= 0.5


def _signature(res):
    return sorted(
        (r.kind, round(r.area_m2, 1), round(r.height_gain_max_m or 0, 2)) for r in res.regions
    )


def test_regions_cut_by_window_edges_are_merged(pairs, tmp_path):
    _, alignment = pairs[0]
    whole = detect_pair(alignment, tmp_path / "whole", tile=1024)
    tiled = detect_pair(alignment, tmp_path / "tiled", tile=160)
    assert tiled.windows == 16 and whole.windows == 1
    assert len(tiled.regions) == len(whole.regions)
    for a, b in zip(
        sorted(r.area_m2 for r in whole.regions),
        sorted(r.area_m2 for r in tiled.regions),
        strict=True,
    ):
        assert abs(a - b) <= 0.03 * a


def test_resume_after_interruption_gives_the_same_result(pairs, tmp_path):
    _, alignment = pairs[1]
    fresh = detect_pair(alignment, tmp_path / "fresh", tile=200)
    state = tmp_path / "resumed"
    first = detect_pair(alignment, state, tile=200, max_windows=5)
    assert not first.complete and first.computed == 5 and first.regions == []
    second = detect_pair(alignment, state, tile=200)
    assert second.complete and second.computed == fresh.windows - 5
    assert _signature(second) == _signature(fresh)
    # a window whose state was lost (killed mid-write) is recomputed, same answer
    lost = sorted((state / "windows").glob("w*.pkl"))[3]
    lost.unlink()
    third = detect_pair(alignment, state, tile=200)
    assert third.computed == 1
    assert _signature(third) == _signature(fresh)


def test_dask_distributed_cluster_gives_the_same_result(pairs, tmp_path):
    from distributed import Client, LocalCluster

    _, alignment = pairs[0]
    local = detect_pair(alignment, tmp_path / "local", tile=256)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        seen = []
        dist = detect_pair(
            alignment,
            tmp_path / "dist",
            tile=256,
            scheduler=cluster.scheduler_address,
            progress=lambda d, t: seen.append((d, t)),
        )
        assert client.status == "running"
    assert _signature(dist) == _signature(local)
    assert seen[-1] == (dist.windows, dist.windows)


class BlueRoofDetector(Detector):
    """A toy pluggable detector: blue channel rose sharply (new blue steel roofs only)."""

    name = "blue"

    def __call__(self, pair: WindowPair) -> ChangeResult:
        rise = (pair.after[2] - pair.after[0]) - (pair.before[2] - pair.before[0])
        gain = (rise > 60) & pair.valid
        return ChangeResult(gain=gain, loss=np.zeros_like(gain), score=gain.astype(np.float32))


def test_detectors_are_pluggable(pairs, tmp_path):
    pair, alignment = pairs[0]
    res = detect_pair(alignment, tmp_path / "blue", detector=BlueRoofDetector(), tile=512)
    blue_new = [
        b.geom for b in pair.scene.buildings if b.change == "new" and b.roof == "blue_steel"
    ]
    found = [r.geom for r in res.regions]
    for g in blue_new:
        assert any(f.intersects(g) for f in found)
    assert all(r.height_gain_mean_m is None for r in res.regions)


def test_dsm_detector_needs_dsms(pairs):
    from geo_enforce.errors import InvalidInput

    z = np.zeros((3, 8, 8), np.float32)
    with pytest.raises(InvalidInput, match="DSM"):
        DsmHeightDetector()(WindowPair(before=z, after=z, valid=np.ones((8, 8), bool), gsd_m=0.25))


KILLER = """
import os, signal, sys
from geo_enforce.detection.pipeline import detect_pair
from geo_enforce.detection.runner import load_alignment
alignment = load_alignment(sys.argv[1])
def progress(done, total):
    if done >= 6:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: a real kill
detect_pair(alignment, sys.argv[1], tile=160, progress=progress)
"""


def test_killed_run_resumes_to_the_same_result(pairs, tmp_path):
    import subprocess
    import sys

    from geo_enforce.detection.runner import save_alignment

    _, alignment = pairs[1]
    fresh = detect_pair(alignment, tmp_path / "fresh", tile=160)
    state = tmp_path / "killed"
    save_alignment(state, alignment)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(state)], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    done = len(list((state / "windows").glob("w*.pkl")))
    assert 6 <= done < fresh.windows
    resumed = detect_pair(alignment, state, tile=160)
    assert resumed.computed == fresh.windows - done
    assert _signature(resumed) == _signature(fresh)


# --- windows: cores, handed-over rows, order, lazy conversion ------------------------------


@pytest.mark.parametrize(("width", "height", "tile"), [(640, 640, 256), (1000, 530, 160)])
def test_window_cores_partition_the_grid_with_halo_context(width, height, tile):
    from rasterio.transform import Affine

    from geo_enforce.detection.runner import plan_windows
    from geo_enforce.imagery.align import Grid

    halo = 32
    grid = Grid("EPSG:4548", tuple(Affine(0.25, 0, 0, 0, -0.25, 0))[:6], width, height)
    jobs = plan_windows(grid, tile=tile, halo=halo)
    seen = np.zeros((height, width), np.int32)
    by_index = {j.index: j for j in jobs}
    for j in jobs:
        cc, cr, cw, ch = j.core
        pc, pr, pw, ph = j.padded
        seen[cr : cr + ch, cc : cc + cw] += 1
        # the padded window holds the core plus ``halo`` of context, clipped at the grid edge
        assert pc == max(0, cc - halo) and pc + pw == min(width, cc + cw + halo)
        assert pr == max(0, cr - halo) and pr + ph == min(height, cr + ch + halo)
        # every read starts on the band (multiple of ``tile``) after the rows handed over
        assert (pr + j.shared_rows) % tile == 0
        if j.above is not None:
            up = by_index[j.above]
            assert up.handoff_rows == j.shared_rows == 2 * halo
            assert up.padded[1] + up.padded[3] == pr + j.shared_rows
            assert (up.padded[0], up.padded[2]) == (pc, pw)
        else:
            assert j.shared_rows == 0
    assert (seen == 1).all()
    with pytest.raises(ValueError, match="4 × halo"):
        plan_windows(grid, tile=100, halo=32)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.6, -1.3)])
def test_rows_handed_to_the_window_below_equal_a_direct_read(tmp_path, shift):
    from rasterio.windows import Window

    from geo_enforce.detection.runner import (
        _STRIPS,
        RunSpec,
        plan_windows,
        read_pair,
        read_window,
    )

    pair = synthetic_pair(tmp_path / "p", seed=5, size_px=(520, 520), shift_px=shift)
    alignment = _align(pair)
    assert alignment.radiometry  # the after image carries a radiometric correction
    jobs = plan_windows(alignment.grid, tile=256, halo=32)
    spec = RunSpec(alignment=alignment, detector=DsmHeightDetector(), state_dir=str(tmp_path))
    try:
        assert jobs[0].below is not None
        top, below = jobs[0], jobs[jobs[0].below]
        read_window(spec, top)
        assert (spec.state_dir, below.index) in _STRIPS._items
        stitched = read_window(spec, below)
        assert (spec.state_dir, below.index) not in _STRIPS._items
        direct = read_pair(alignment, Window(*below.padded))
        for name in ("before_dn", "after_dn", "valid", "dsm_before", "dsm_after"):
            np.testing.assert_array_equal(getattr(stitched, name), getattr(direct, name))
        np.testing.assert_array_equal(stitched.after, direct.after)
    finally:
        _STRIPS.forget(spec.state_dir)


def test_local_windows_run_in_row_major_order(pairs, tmp_path):
    _, alignment = pairs[0]
    res = detect_pair(alignment, tmp_path / "order", tile=160, num_workers=1)
    files = list((tmp_path / "order" / "windows").glob("w*.pkl"))
    assert len(files) == res.windows == 16
    by_time = [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime_ns)]
    assert by_time == sorted(by_time)


def test_window_pair_converts_images_lazily_and_in_part():
    rng = np.random.default_rng(3)
    dn = rng.integers(0, 256, (3, 40, 50), dtype=np.uint8)
    radiometry = ((1.1, -3.0), (0.9, 2.5), (1.0, 0.5))
    p = WindowPair(dn, dn, np.ones((40, 50), bool), 0.25, radiometry=radiometry)
    assert p.before.dtype == np.float32 and p.before_dn is dn
    expected = np.stack(
        [
            dn[k].astype(np.float32) * np.float32(g) + np.float32(o)
            for k, (g, o) in enumerate(radiometry)
        ]
    )
    np.testing.assert_array_equal(p.after, expected)
    box = (slice(5, 30), slice(10, 45))
    np.testing.assert_array_equal(p.crop(box).after, expected[:, box[0], box[1]])
    idx = np.nonzero(dn[0] > 200)
    np.testing.assert_array_equal(p.pixels("after", idx), expected[:, idx[0], idx[1]])
    np.testing.assert_array_equal(p.pixels("before", idx), dn[:, idx[0], idx[1]])
    assert dn.dtype == np.uint8 and (p.before_dn == dn).all()  # the DN are not touched
