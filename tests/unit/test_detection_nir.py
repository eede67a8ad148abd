"""A fourth, near-infrared band reaches the detector: NDVI tells a raised tree from a building.

A grey-leaved tree (excess green ≈ 0, as in autumn or under haze) raised 4 m in the after DSM
looks like a new building to colour alone; with an ``RGBN`` pair its NDVI marks it vegetation.
The same pair without the NIR band is the control: there the tree is flagged.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection.pipeline import change_images
from geo_enforce.imagery.rasters import inspect, ortho_bands

SIDE = 40  # 10 m × 10 m at 0.25 m


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return synthetic_pair(
        tmp_path_factory.mktemp("nir"), seed=51, size_px=(400, 360), shift_px=(0.0, 0.0)
    )


def _unchanged_ground(pair) -> tuple[slice, slice]:
    """A window (with a margin for the detector's context) where the scene itself changes
    nothing: the only change there is the tree the test adds."""
    truth = pair.truth_mask(("new", "enlarged", "demolished"))
    with rasterio.open(pair.after_ortho) as src:
        valid = src.dataset_mask() > 0
    m = 8
    for row in range(m, truth.shape[0] - SIDE - m, 10):
        for col in range(m, truth.shape[1] - SIDE - m, 10):
            around = (slice(row - m, row + SIDE + m), slice(col - m, col + SIDE + m))
            if not truth[around].any() and valid[around].all():
                return slice(row, row + SIDE), slice(col, col + SIDE)
    raise AssertionError("the synthetic scene has no unchanged ground for the tree")


def _write(src_path, dst, *, nir: bool, tree: tuple[slice, slice] | None, dsm: bool = False):
    with rasterio.open(src_path) as src:
        profile = src.profile
        data = src.read()
        mask = src.dataset_mask()  # the synthetic after flight lost a corner: keep it invalid
    if dsm:
        if tree:
            data[0][tree] += 4.0
        with rasterio.open(dst, "w", **profile) as out:
            out.write(data)
        return dst
    rgb = data[:3].astype(np.int32)
    r, g, b = rgb
    exg = (2 * g - r - b) / np.maximum(r + g + b, 1)
    band4 = np.where(exg > 0.05, 220, (r * 0.8).astype(np.int32))
    if tree:
        rgb[:, tree[0], tree[1]] = 110  # grey crown: no excess green
        band4[tree] = 230  # but bright in the near infrared (NDVI ≈ 0.35)
    bands = [*rgb, band4] if nir else list(rgb)
    profile.pop("photometric", None)
    profile.update(count=len(bands), photometric="MINISBLACK")
    with rasterio.open(dst, "w", **profile) as out:
        out.write(np.stack(bands).astype(profile["dtype"]))
        out.write_mask(mask)
        if nir:
            out.colorinterp = [
                rasterio.enums.ColorInterp.red,
                rasterio.enums.ColorInterp.green,
                rasterio.enums.ColorInterp.blue,
                rasterio.enums.ColorInterp.undefined,
            ]
    return dst


def _flagged(pair, tmp_path, blob, *, nir: bool) -> float:
    d = tmp_path / ("rgbn" if nir else "rgb")
    d.mkdir()
    before = _write(pair.before_ortho, d / "b.tif", nir=nir, tree=None)
    after = _write(pair.after_ortho, d / "a.tif", nir=nir, tree=blob)
    dsm_a = _write(pair.after_dsm, d / "dsm_a.tif", nir=False, tree=blob, dsm=True)
    out = d / "mask.tif"
    change_images(before, after, out, dsm_before=pair.before_dsm, dsm_after=dsm_a)
    with rasterio.open(out) as src:
        return float((src.read(1)[blob] > 0).mean())


def test_rgbn_images_pass_their_nir_band(pair, tmp_path):
    rgbn = _write(pair.after_ortho, tmp_path / "a.tif", nir=True, tree=None)
    rgb = _write(pair.after_ortho, tmp_path / "b.tif", nir=False, tree=None)
    assert inspect(rgbn).layout == "RGBN"
    assert ortho_bands(inspect(rgbn), inspect(rgbn)) == (1, 2, 3, 4)
    assert ortho_bands(inspect(rgbn), inspect(rgb)) == (1, 2, 3)  # both dates or neither


@pytest.mark.slow
def test_ndvi_keeps_a_grey_tree_out_of_the_changes(pair, tmp_path):
    blob = _unchanged_ground(pair)
    assert _flagged(pair, tmp_path, blob, nir=False) > 0.5  # colour alone: a new building
    assert _flagged(pair, tmp_path, blob, nir=True) < 0.05
