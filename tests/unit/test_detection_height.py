"""The DSM building cues on small synthetic surfaces (geo_enforce.detection.height).

Each test pins one mechanism: roughness separates a planar roof from a canopy of the same
height gain, touching buildings stay two, outlines are regularised without losing area, the
vertical offset is measured on unchanged ground, and the evidence reaches the regions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy import ndimage as ndi
from shapely import affinity
from shapely.geometry import box

from geo_enforce.detection.detectors import CombinedDetector, DsmHeightDetector, WindowPair
from geo_enforce.detection.height import (
    EVIDENCE_KEYS,
    building_confidence,
    ground_dz_samples,
    plane_residual,
    regularise,
    vertical_offset,
)
from geo_enforce.detection.regions import clean_regions, merge_fragments
from geo_enforce.detection.runner import RunSpec, iter_states, plan_windows, process_window
from geo_enforce.imagery.align import Alignment, Grid, Source

GSD = 0.5


def _pair(before: np.ndarray, after: np.ndarray, rgb: np.ndarray | None = None) -> WindowPair:
    h, w = before.shape
    img = np.full((3, h, w), 120, np.uint8) if rgb is None else rgb
    return WindowPair(
        before=img,
        after=img,
        valid=np.ones((h, w), bool),
        gsd_m=GSD,
        dsm_before=before.astype(np.float32),
        dsm_after=after.astype(np.float32),
    )


def _ground(shape=(160, 160), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return 10.0 + 0.01 * cols + 0.005 * rows + rng.normal(0, 0.03, shape)


def _objects(mask: np.ndarray) -> int:
    return ndi.label(mask, np.ones((3, 3), bool))[1]


def test_plane_residual_is_zero_on_a_tilted_plane_and_large_on_noise():
    rows, cols = np.mgrid[:40, :40]
    plane = 100.0 + 0.7 * cols - 0.3 * rows  # a 35° roof face, far above sea level
    assert float(plane_residual(plane, 3)[2:-2, 2:-2].max()) < 0.01  # float32: millimetres
    rough = np.random.default_rng(1).normal(0, 1.0, (40, 40))
    assert float(np.median(plane_residual(rough, 3))) > 0.5


@pytest.mark.parametrize("size", [3, 11, 25])
def test_plane_residual_matches_a_least_squares_fit(size):
    """Both filter paths (direct ramp for short windows, box filters for long ones) give the
    RMS residual of an explicit least-squares plane, at the border (repeated edge) too."""
    rng = np.random.default_rng(5)
    z = rng.normal(0, 0.5, (40, 40)) + 0.2 * np.mgrid[:40, :40][1] + 500.0
    got = plane_residual(z, size)
    m = size // 2
    zp = np.pad(z, m, mode="edge")
    v, u = np.mgrid[-m : m + 1, -m : m + 1]
    design = np.column_stack([np.ones(u.size), u.ravel(), v.ravel()])
    for r, c in [(0, 0), (5, 33), (20, 20), (39, 12)]:
        win = zp[r : r + size, c : c + size].ravel()
        coef, *_ = np.linalg.lstsq(design, win, rcond=None)
        rms = float(np.sqrt(np.mean((win - design @ coef) ** 2)))
        assert abs(float(got[r, c]) - rms) < 2e-3 + 1e-3 * rms


def test_planar_roof_kept_and_rough_crown_of_the_same_gain_dropped():
    rng = np.random.default_rng(2)
    before = _ground()
    after = before.copy()
    # a gable roof: eaves at 6 m, ridge at 8 m, 20 m × 12 m
    rows, cols = np.mgrid[:160, :160]
    roof = (rows >= 20) & (rows < 44) & (cols >= 20) & (cols < 60)
    gable = 6.0 + 2.0 * (1 - np.abs(rows - 31.5) / 12.0)
    after[roof] += gable[roof]
    # a crown of the same size and mean gain: leaves and gaps, rough at every scale
    crown = (rows - 100) ** 2 + (cols - 100) ** 2 <= 13**2
    canopy = 7.0 + rng.normal(0, 0.9, after.shape)
    after[crown] += canopy[crown]
    res = DsmHeightDetector()(_pair(before, after))
    assert res.gain[roof].mean() > 0.9
    assert res.gain[crown].mean() < 0.05
    assert _objects(res.gain) == 1
    # the evidence maps are there and tell the two apart
    assert res.evidence["roughness_m"][roof & res.gain].mean() < 0.25


def test_two_touching_buildings_come_out_as_two():
    before = _ground()
    after = before.copy()
    rows, cols = np.mgrid[:160, :160]
    a = (rows >= 30) & (rows < 60) & (cols >= 20) & (cols < 60)  # 15 m × 20 m, 4 m high
    b = (rows >= 54) & (rows < 90) & (cols >= 56) & (cols < 96)  # touches a's corner, 9 m high
    after[a] += 4.0
    after[b] += 9.0
    assert _objects((after - before) > 2.2) == 1  # one blob on the plain height threshold
    res = DsmHeightDetector()(_pair(before, after))
    assert _objects(res.gain) == 2
    assert res.gain[a].mean() > 0.85 and res.gain[b].mean() > 0.85


def test_a_terrace_sharing_whole_walls_stays_one_block():
    before = _ground()
    after = before.copy()
    for k, h in enumerate((6.0, 9.0, 7.0)):  # three houses, 8 m wide, 12 m deep
        after[40:64, 30 + 16 * k : 46 + 16 * k] += h
    res = DsmHeightDetector()(_pair(before, after))
    assert _objects(res.gain) == 1


def test_a_wing_sharing_its_whole_end_wall_joins_the_block():
    before = _ground()
    after = before.copy()
    main = np.zeros(before.shape, bool)
    main[30:50, 20:120] = True  # 10 m × 50 m, 9 m high
    wing = np.zeros(before.shape, bool)
    wing[50:100, 60:80] = True  # 10 m wide, 25 m long, 5 m high: its end wall on main's side
    after[main] += 9.0
    after[wing] += 5.0
    # a cluttered strip along the joint (gutter, roof lights, a parapet): rough for 2 m
    strip = np.zeros(before.shape, bool)
    strip[50:54, 60:80] = True
    after[strip] += np.random.default_rng(5).normal(0, 0.6, int(strip.sum()))
    res = DsmHeightDetector()(_pair(before, after))
    assert _objects(res.gain) == 1
    assert res.gain[main | wing].mean() > 0.85


def test_a_tree_over_the_middle_of_a_block_does_not_cut_it_in_two():
    rng = np.random.default_rng(4)
    before = _ground()
    after = before.copy()
    rows, cols = np.mgrid[:160, :160]
    block = (rows >= 40) & (rows < 64) & (cols >= 20) & (cols < 140)  # 12 m × 60 m, 7 m high
    after[block] += 7.0
    # a crown wider than the roof is deep, centred on it: rough canopy across the whole depth
    crown = (rows - 52) ** 2 + (cols - 80) ** 2 <= 13**2
    canopy = 9.0 + rng.normal(0, 1.0, after.shape)
    after[crown] = np.maximum(after[crown], (before + canopy)[crown])
    res = DsmHeightDetector()(_pair(before, after))
    assert _objects(res.gain) == 1
    assert res.gain[block].mean() > 0.9


def test_a_low_shed_is_kept_a_shrub_and_a_hedge_of_its_height_are_not():
    rng = np.random.default_rng(6)
    before = _ground()
    after = before.copy()
    rows, cols = np.mgrid[:160, :160]
    # a mono-pitch steel shed, 3.5 m × 4 m, 1.9 to 2.1 m high: under a storey (2.2 m)
    shed = (rows >= 20) & (rows < 27) & (cols >= 20) & (cols < 28)
    after[shed] += (1.9 + 0.2 * (cols - 20) / 8.0)[shed]
    # a shrub of the same height and size: rough
    shrub = (rows - 60) ** 2 + (cols - 90) ** 2 <= 5**2
    after[shrub] += np.clip(2.0 + rng.normal(0, 0.4, after.shape), 1.8, None)[shrub]
    # a trimmed hedge, flat on top but 1 m wide
    hedge = (rows >= 110) & (rows < 112) & (cols >= 20) & (cols < 100)
    after[hedge] += 2.0
    res = DsmHeightDetector()(_pair(before, after))
    assert res.gain[shed].mean() > 0.7
    assert not res.gain[shrub].any()
    assert not res.gain[hedge].any()
    assert _objects(res.gain) == 1
    # the rule is the lower height: with it at a storey, the shed is gone
    assert not DsmHeightDetector(shed_height_m=2.2)(_pair(before, after)).gain.any()


def test_tree_over_a_building_edge_is_not_part_of_it():
    rng = np.random.default_rng(3)
    before = _ground()
    after = before.copy()
    rows, cols = np.mgrid[:160, :160]
    house = (rows >= 40) & (rows < 70) & (cols >= 40) & (cols < 80)
    after[house] += 6.0
    crown = (rows - 55) ** 2 + (cols - 92) ** 2 <= 14**2  # overhangs the east wall
    canopy = 9.0 + rng.normal(0, 1.0, after.shape)
    after[crown] = np.maximum(after[crown], (before + canopy)[crown])
    res = DsmHeightDetector()(_pair(before, after))
    outside = crown & ~house
    assert res.gain[outside].mean() < 0.1
    assert res.gain[house & ~crown].mean() > 0.85


def test_green_colour_drops_a_smooth_candidate():
    before = _ground()
    after = before.copy()
    after[40:80, 40:80] += 5.0  # a flat-topped, trimmed hedge block
    rgb = np.full((3, 160, 160), 120, np.uint8)
    rgb[:, 40:80, 40:80] = np.array([50, 120, 40], np.uint8)[:, None, None]
    res = DsmHeightDetector()(_pair(before, after, rgb))
    assert not res.gain.any()
    assert res.barrier is not None and res.barrier[40:80, 40:80].all()


@pytest.mark.parametrize("angle", [0.0, 23.0, 41.0])
def test_regularised_outline_keeps_the_rectangle_area(angle):
    from rasterio.features import rasterize, shapes
    from shapely.geometry import shape

    rect = affinity.rotate(box(30, 30, 70, 55), angle, origin=(50, 42.5))
    mask = rasterize([(rect, 1)], out_shape=(100, 100), dtype="uint8")
    raster_outline = next(shape(g) for g, v in shapes(mask, mask=mask > 0) if v == 1)
    out = regularise(raster_outline)
    assert abs(out.area - rect.area) / rect.area < 0.02
    # rectilinear: every corner is a right angle
    xy = np.asarray(out.exterior.coords)
    d = np.diff(xy, axis=0)
    for u, v in zip(d, np.roll(d, -1, axis=0), strict=True):
        cos = abs(float(u @ v)) / (np.hypot(*u) * np.hypot(*v))
        assert cos < 0.05
    assert len(xy) - 1 <= 6


def test_regularise_never_moves_a_complex_block_outline_far():
    import shapely
    from rasterio.features import rasterize, shapes
    from shapely.geometry import shape

    # a block of overlapping ranges, some at 30°/45° to the others (seeded; one where snapping
    # every edge to one axis shoots a corner 7 m past the building)
    rng = np.random.default_rng(132)
    parts = []
    for _ in range(int(rng.integers(3, 7))):
        x, y = rng.uniform(30, 110, 2)
        w, h = rng.uniform(8, 40, 2)
        angle = float(rng.choice([0, 0, 0, 30, 45]))
        parts.append(affinity.rotate(box(x, y, x + w, y + h), angle, origin=(80, 80)))
    block = affinity.rotate(shapely.union_all(parts), rng.uniform(0, 90), origin=(80, 80))
    mask = rasterize([(block, 1)], out_shape=(160, 160), dtype="uint8")
    outline = max(
        (shape(g) for g, v in shapes(mask, mask=mask > 0) if v == 1), key=lambda p: p.area
    )
    unguarded = regularise(outline, max_offset_px=math.inf)
    assert shapely.hausdorff_distance(unguarded, outline) > 6  # what the guard is for
    out = regularise(outline, max_offset_px=3.0)
    assert shapely.hausdorff_distance(out, outline) <= 3.0
    assert abs(out.area - outline.area) / outline.area < 0.1


def test_regularise_keeps_an_l_shape_rectilinear_and_falls_back_on_a_disc():
    from shapely.geometry import Point, Polygon

    ell = Polygon([(0, 0), (40, 0), (40, 15), (15, 15), (15, 30), (0, 30)])
    ell = affinity.rotate(ell, 17, origin=(0, 0))
    grown = ell.buffer(0.4, join_style="mitre")
    out = regularise(grown)
    assert abs(out.area - grown.area) / grown.area < 0.02
    assert len(out.exterior.coords) - 1 == 6
    disc = Point(0, 0).buffer(10, 32)
    out = regularise(disc)
    assert out.equals(disc.simplify(1.0, preserve_topology=True))  # not squared off


def test_vertical_offset_found_on_unchanged_ground_with_40_percent_new_buildings():
    rng = np.random.default_rng(4)
    before = _ground((200, 200))
    after = before + 0.4 + rng.normal(0, 0.03, before.shape)
    rows, cols = np.mgrid[:200, :200]
    new = ((rows // 25) % 2 == 0) & ((cols // 25) % 5 != 4)
    after[new] += 6.0
    assert 0.35 < new.mean() < 0.45
    samples = ground_dz_samples(before, after, np.ones(before.shape, bool), GSD)
    got = vertical_offset(samples)
    assert abs(got - 0.4) < 0.05
    # a plain median of every difference is pulled up by the new roofs
    assert float(np.median(after - before)) > got + 0.02 or float(np.mean(after - before)) > 2


def test_context_follows_the_gsd():
    """The cues work in metres: a finer grid needs more pixels of context around a window."""
    det = DsmHeightDetector()
    assert det.context_px(0.05) > det.context_px(0.25) >= det.context_px(0.5) >= det.halo_px
    assert CombinedDetector(dsm=det).context_px(0.05) >= det.context_px(0.05)


def test_confidence_rises_with_building_evidence():
    roof = {
        "height_gain_m": 6.0,
        "roughness_m": 0.08,
        "planarity_rmse_m": 0.2,
        "edge_step_m": 5.5,
        "area_m2": 150.0,
        "rectangularity": 0.95,
    }
    tree = {**roof, "roughness_m": 0.6, "planarity_rmse_m": 1.1, "edge_step_m": 1.5}
    green = {**roof, "exg": 0.25}
    c_roof, c_tree, c_green = (building_confidence(e) for e in (roof, tree, green))
    assert 0.8 <= c_roof <= 1.0
    assert c_tree < 0.5 < c_roof
    assert c_green < 0.4
    assert set(roof) <= set(EVIDENCE_KEYS)


def test_evidence_reaches_the_regions_through_the_runner(tmp_path):
    """A window through process_window → merge → clean: a region carries its evidence keys and
    a confidence from them, and the regularised polygon's area is the building's."""
    import rasterio

    before = _ground((120, 120))
    after = before.copy()
    after[30:70, 20:80] += 6.0  # 20 m × 30 m = 600 m²
    t = from_origin(500000.0, 4300000.0, GSD, GSD)
    paths = {}
    for name, arr, count in (
        ("b", np.full((3, 120, 120), 120, np.uint8), 3),
        ("a", np.full((3, 120, 120), 120, np.uint8), 3),
        ("db", before.astype(np.float32)[None], 1),
        ("da", after.astype(np.float32)[None], 1),
    ):
        p = tmp_path / f"{name}.tif"
        with rasterio.open(
            p,
            "w",
            driver="GTiff",
            width=120,
            height=120,
            count=count,
            dtype=arr.dtype,
            crs="EPSG:4548",
            transform=t,
        ) as dst:
            dst.write(arr)
        paths[name] = str(p)
    grid = Grid(rasterio.crs.CRS.from_epsg(4548).to_wkt(), tuple(t)[:6], 120, 120)
    alignment = Alignment(
        grid=grid,
        before=Source(paths["b"], (1, 2, 3), "ortho"),
        after=Source(paths["a"], (1, 2, 3), "ortho"),
        dsm_before=Source(paths["db"], (1,), "dsm"),
        dsm_after=Source(paths["da"], (1,), "dsm"),
    )
    spec = RunSpec(alignment, CombinedDetector(), str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    jobs = plan_windows(grid, tile=512, halo=32)
    for j in jobs:
        process_window(spec, j)
    frags = [f for s in iter_states(spec.state_dir, jobs) for f in s["fragments"]]
    regions = clean_regions(merge_fragments(frags), grid)
    assert len(regions) == 1
    r = regions[0]
    assert {
        "height_gain_m",
        "roughness_m",
        "planarity_rmse_m",
        "edge_step_m",
        "area_m2",
        "compactness",
        "rectangularity",
        "exg",
    } <= set(r.evidence)
    assert "ndvi" not in r.evidence  # a 3-band orthophoto has no NIR
    assert abs(r.evidence["height_gain_m"] - 6.0) < 0.3
    assert r.evidence["roughness_m"] < 0.2
    assert r.evidence["edge_step_m"] > 4.0
    assert abs(r.area_m2 - 600.0) / 600.0 < 0.05
    assert 0.0 <= r.confidence <= 1.0 and r.confidence > 0.7
    assert math.isclose(r.evidence["rectangularity"], 1.0, abs_tol=0.05)
