"""Common grid, residual shift, reprojection and refusals of flight pairs (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject

from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection.evaluate import object_scores
from geo_enforce.detection.pipeline import detect_pair
from geo_enforce.errors import ImageryError
from geo_enforce.geometry.crs import transform_geometry
from geo_enforce.imagery.align import align_flights, common_grid


def _align(pair, **kw):
    return align_flights(
        str(pair.before_ortho),
        str(pair.after_ortho),
        before_dsm=str(pair.before_dsm),
        after_dsm=str(pair.after_dsm),
        **kw,
    )


@pytest.mark.parametrize("shift", [(0.6, -0.4), (1.7, 1.1)])
def test_residual_shift_is_measured_and_corrected(tmp_path, shift):
    pair = synthetic_pair(tmp_path, seed=21, size_px=(512, 512), shift_px=shift)
    a = _align(pair)
    assert math.hypot(a.shift_px[0] - shift[0], a.shift_px[1] - shift[1]) < 0.45
    assert a.dz_offset_m == pytest.approx(0.4, abs=0.1)  # the after DSM's vertical bias
    # the light change (gain 1.08–1.18, +6) is undone: after ≈ before on unchanged ground
    for gain, offset in a.radiometry:
        assert 0.7 < gain < 1.05
        assert abs(offset) < 30


def test_large_misregistration_is_refused(tmp_path):
    pair = synthetic_pair(tmp_path, seed=22, size_px=(512, 512), shift_px=(9.0, -3.0))
    with pytest.raises(ImageryError, match=r"misregistered .* by 9\.\d pixels"):
        _align(pair)


def _reproject(src_path, dst_path, crs):
    with rasterio.open(src_path) as src:
        t, w, h = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
        profile = {**src.profile, "crs": crs, "transform": t, "width": w, "height": h}
        with rasterio.open(dst_path, "w", **profile) as dst:
            for b in range(1, src.count + 1):
                reproject(
                    rasterio.band(src, b),
                    rasterio.band(dst, b),
                    resampling=Resampling.bilinear,
                    src_nodata=src.nodata,
                    dst_nodata=src.nodata,
                )


def test_differing_crs_is_reprojected_on_the_fly(tmp_path):
    pair = synthetic_pair(tmp_path / "p", seed=23, size_px=(560, 560), shift_px=(0.0, 0.0))
    utm_ortho, utm_dsm = tmp_path / "after_utm.tif", tmp_path / "after_dsm_utm.tif"
    _reproject(pair.after_ortho, utm_ortho, "EPSG:32650")  # WGS 84 / UTM 50N
    _reproject(pair.after_dsm, utm_dsm, "EPSG:32650")
    a = align_flights(
        str(pair.before_ortho),
        str(utm_ortho),
        before_dsm=str(pair.before_dsm),
        after_dsm=str(utm_dsm),
    )
    # the finer flight's CRS and pixel size
    assert a.grid.crs is not None and a.grid.crs.to_epsg() in (4548, 32650)
    assert a.grid.gsd == pytest.approx(0.25, abs=0.002)
    res = detect_pair(a, tmp_path / "state", tile=512)
    truth = [transform_geometry(g, 4548, 4490) for _, g, _ in pair.scene.truth(("new", "enlarged"))]
    sc = object_scores([r.geom_4490 for r in res.regions if r.kind == "new"], truth)
    assert sc.recall >= 0.9 and sc.precision >= 0.8


def test_no_overlap_is_refused(tmp_path):
    a = synthetic_pair(tmp_path / "a", seed=24, size_px=(128, 128), with_dsm=False)
    b = synthetic_pair(
        tmp_path / "b",
        seed=24,
        size_px=(128, 128),
        origin=(501_000.0, 4_318_000.0),
        with_dsm=False,
    )
    with pytest.raises(ImageryError, match="do not overlap"):
        common_grid(str(a.before_ortho), str(b.after_ortho))


def test_mismatched_band_layouts_are_refused(tmp_path):
    pair = synthetic_pair(tmp_path, seed=25, size_px=(128, 128))
    with pytest.raises(ImageryError, match="band layouts differ"):
        align_flights(str(pair.before_ortho), str(pair.after_dsm))


def test_nodata_border_is_ignored(tmp_path):
    pair = synthetic_pair(tmp_path / "p", seed=26, size_px=(512, 512))
    res = detect_pair(_align(pair), tmp_path / "s", tile=512)
    with rasterio.open(pair.after_ortho) as src:
        corner = src.dataset_mask() == 0
        t = src.transform
    assert corner.sum() > 1000  # the after flight lacks a corner
    for r in res.regions:
        c, row = ~t * (r.geom.centroid.x, r.geom.centroid.y)
        assert not corner[int(row), int(c)]
    # nothing along the diagonal edge of the nodata corner either
    edge = np.argwhere(corner)
    assert all(r.geom_px.distance(_pt(edge[len(edge) // 2])) > 3 for r in res.regions)


def _pt(rc):
    from shapely.geometry import Point

    return Point(rc[1], rc[0])
