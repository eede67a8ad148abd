"""Pair mode (``geo-enforce change``): any two images → 0/255 mask + GeoJSON polygons."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from PIL import Image
from typer.testing import CliRunner

from geo_enforce.cli import app
from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection.evaluate import pixel_scores
from geo_enforce.detection.pipeline import change_images
from geo_enforce.errors import ImageryError


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return synthetic_pair(
        tmp_path_factory.mktemp("pm"), seed=51, size_px=(400, 360), shift_px=(0.0, 0.0)
    )


def _png(src, dst):
    with rasterio.open(src) as s:
        Image.fromarray(s.read().transpose(1, 2, 0)).save(dst)
    return dst


def test_cli_on_plain_png_pair(pair, tmp_path):
    a = _png(pair.before_ortho, tmp_path / "A.png")
    b = _png(pair.after_ortho, tmp_path / "B.png")
    out = tmp_path / "out" / "mask.png"
    res = CliRunner().invoke(
        app, ["change", str(a), str(b), "--out", str(out), "--gsd", "0.25"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    mask = np.array(Image.open(out))
    assert mask.shape == (360, 400) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    truth = pair.truth_mask(("new", "enlarged"))
    assert pixel_scores(mask > 0, truth).recall >= 0.7
    fc = json.loads(out.with_suffix(".geojson").read_text())
    assert fc["type"] == "FeatureCollection" and fc["features"]
    assert "crs_note" in fc
    assert all(f["properties"]["area_m2"] >= 10 for f in fc["features"])
    # colour alone: each region says so, with the evidence it rests on
    for f in fc["features"]:
        assert f["properties"]["detection_note"] == "颜色变化，需现场核实"
        assert f["properties"]["evidence"]["colour_only"] == 1.0


def test_geotiff_pair_with_dsms(pair, tmp_path):
    out = tmp_path / "mask.tif"
    res = change_images(
        pair.before_ortho,
        pair.after_ortho,
        out,
        dsm_before=pair.before_dsm,
        dsm_after=pair.after_dsm,
    )
    with rasterio.open(out) as src:
        assert (src.width, src.height) == (400, 360)
        assert src.crs.to_epsg() == 4548
        mask = src.read(1)
    truth = pair.truth_mask(("new", "enlarged", "demolished"))
    assert pixel_scores(mask > 0, truth).f1 >= 0.8
    fc = json.loads(out.with_suffix(".geojson").read_text())
    from shapely.geometry import shape

    lon, lat = shape(fc["features"][0]["geometry"]).representative_point().coords[0]
    assert 116.9 < lon < 117.1 and 38.9 < lat < 39.1  # EPSG:4490 lon/lat
    assert res.summary()["by_kind"]["new"] >= 1
    new = [f["properties"] for f in fc["features"] if f["properties"]["kind"] == "new"]
    assert new and all(p["evidence"]["height_gain_m"] >= 2.2 for p in new)
    assert all(p["detection_note"] is None for p in new)  # height evidence, not colour alone


def test_sizes_and_band_layouts_must_match(pair, tmp_path):
    a = _png(pair.before_ortho, tmp_path / "A.png")
    small = tmp_path / "small.png"
    Image.open(a).crop((0, 0, 200, 200)).save(small)
    with pytest.raises(ImageryError, match="same size"):
        change_images(a, small, tmp_path / "m.png", gsd=0.25)
    gray = tmp_path / "gray.png"
    Image.open(a).convert("L").save(gray)
    with pytest.raises(ImageryError, match="band layouts differ"):
        change_images(a, gray, tmp_path / "m.png", gsd=0.25)
    res = CliRunner().invoke(app, ["change", str(a), str(gray), "--out", str(tmp_path / "m.png")])
    assert res.exit_code != 0
