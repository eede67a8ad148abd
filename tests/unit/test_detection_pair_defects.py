"""Pair mode (``geo-enforce change``) defects of issue 12: the cached window state, the minimum
area on the mask, refused flag combinations and output formats, clear messages."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import rasterio
from PIL import Image

from geo_enforce.demo.synthetic import synthetic_pair
from geo_enforce.detection.detectors import make_detector
from geo_enforce.detection.pipeline import change_images
from geo_enforce.errors import ImageryError, InvalidInput
from tests.support.guarded_cli import run as _run


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return synthetic_pair(
        tmp_path_factory.mktemp("pd"), seed=52, size_px=(320, 300), shift_px=(0.0, 0.0)
    )


def _png(src, dst):
    with rasterio.open(src) as s:
        Image.fromarray(s.read().transpose(1, 2, 0)).save(dst)
    return dst


def test_cached_state_follows_inputs_and_parameters(pair, tmp_path):
    a = _png(pair.before_ortho, tmp_path / "A.png")
    b = _png(pair.after_ortho, tmp_path / "B.png")
    out = tmp_path / "mask.png"
    rgb = make_detector("rgb")
    first = change_images(a, b, out, gsd=0.25, detector=rgb)
    assert first.computed == first.windows and first.regions
    # same inputs, same settings: the cached windows are reused
    again = change_images(a, b, out, gsd=0.25, detector=make_detector("rgb"))
    assert again.computed == 0 and len(again.regions) == len(first.regions)
    # another detector (or another threshold) recomputes
    other = change_images(a, b, out, gsd=0.25, detector=make_detector("regional"))
    assert other.computed == other.windows
    stricter = change_images(a, b, out, gsd=0.25, detector=make_detector("rgb", threshold=80.0))
    assert stricter.computed == stricter.windows
    # the after image overwritten in place (same path) with the before image: nothing changed
    shutil.copyfile(a, b)
    same = change_images(a, b, out, gsd=0.25, detector=make_detector("rgb"))
    assert same.computed == same.windows
    assert not same.regions and not (np.array(Image.open(out)) > 0).any()


def test_min_area_applies_to_the_mask(pair, tmp_path):
    a = _png(pair.before_ortho, tmp_path / "A.png")
    b = _png(pair.after_ortho, tmp_path / "B.png")
    small = change_images(a, b, tmp_path / "s.png", gsd=0.25, min_area_m2=2.0)
    areas = sorted(r.area_m2 for r in small.regions)
    assert len(areas) >= 2
    cut = (areas[0] + areas[-1]) / 2  # keeps the largest region only (and any above the cut)
    big = change_images(a, b, tmp_path / "b.png", gsd=0.25, min_area_m2=cut)
    m_small = np.array(Image.open(tmp_path / "s.png")) > 0
    m_big = np.array(Image.open(tmp_path / "b.png")) > 0
    assert 0 < len(big.regions) < len(small.regions)
    assert m_big.sum() < m_small.sum() and not (m_big & ~m_small).any()
    # the mask holds exactly what the GeoJSON keeps: its changed area matches the polygons'
    kept_m2 = sum(r.area_m2 for r in big.regions)
    assert abs(m_big.sum() * 0.25**2 - kept_m2) <= 0.15 * kept_m2
    fc = json.loads((tmp_path / "b.geojson").read_text())
    assert len(fc["features"]) == len(big.regions)
    nothing = change_images(a, b, tmp_path / "n.png", gsd=0.25, min_area_m2=1e6)
    assert not nothing.regions and not (np.array(Image.open(tmp_path / "n.png")) > 0).any()


def test_gsd_on_georeferenced_images_is_refused(pair, tmp_path):
    with pytest.raises(InvalidInput, match="georeference") as exc:
        change_images(pair.before_ortho, pair.after_ortho, tmp_path / "m.tif", gsd=0.5)
    assert "--gsd" in str(exc.value)
    assert not (tmp_path / "m.tif").exists()


def test_one_dsm_only_is_refused(pair, tmp_path, capsys):
    with pytest.raises(InvalidInput, match=r"only --dsm-before was given.*--dsm-after"):
        change_images(
            pair.before_ortho, pair.after_ortho, tmp_path / "m.tif", dsm_before=pair.before_dsm
        )
    argv = [
        "change",
        str(pair.before_ortho),
        str(pair.after_ortho),
        "--out",
        str(tmp_path / "m.tif"),
        "--dsm-after",
        str(pair.after_dsm),
    ]
    code, text = _run(argv, capsys)
    assert code == 2 and "only --dsm-after was given" in text and "--dsm-before" in text


def test_dsm_detector_names_the_flags_change_has(pair, tmp_path, capsys):
    argv = [
        "change",
        str(pair.before_ortho),
        str(pair.after_ortho),
        "--out",
        str(tmp_path / "m.tif"),
        "--detector",
        "dsm",
    ]
    code, text = _run(argv, capsys)
    assert code == 2 and "--dsm-before" in text and "--dsm-after" in text
    assert "(--dsm)" not in text


def test_two_identical_dsms_are_not_called_different_layouts(pair, tmp_path):
    with pytest.raises(ImageryError) as exc:
        change_images(pair.before_dsm, pair.before_dsm, tmp_path / "m.tif")
    msg = str(exc.value)
    assert "differ" not in msg
    assert "single-band DSMs" in msg and "--dsm-before" in msg


def test_lossy_mask_format_is_refused(pair, tmp_path, capsys):
    a = _png(pair.before_ortho, tmp_path / "A.png")
    b = _png(pair.after_ortho, tmp_path / "B.png")
    for name in ("x.jpg", "x.JPEG", "x.webp"):
        code, text = _run(
            ["change", str(a), str(b), "--out", str(tmp_path / name), "--gsd", "0.25"], capsys
        )
        assert code == 2 and ".tif, .tiff, .png" in text
        assert not (tmp_path / name).exists()
