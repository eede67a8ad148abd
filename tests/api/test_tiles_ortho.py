"""Orthophoto XYZ tiles from a flight's COG (rio-tiler), library and endpoint."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from geo_enforce.errors import NotFound
from geo_enforce.tiles import empty_tile, flight_image, ortho_overview, render_ortho_tile
from geo_enforce.tiles.mvt import tiles_covering
from tests.conftest import open_to_viewers
from tests.support.mapdata import X0, Y0, seed_ledger


@pytest.fixture
def seeded(sessions, tmp_path):
    return seed_ledger(sessions, tmp_path / "var")


def _rgba(img: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int, int]:
    """The RGBA value of one pixel (typed: Image.getpixel may return a float or None)."""
    px = img.getpixel(xy)
    assert isinstance(px, tuple) and len(px) == 4, px
    return px  # type: ignore[return-value]


def _img(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGBA")


def test_tile_inside_the_image_has_the_flight_colours(sessions, seeded):
    with sessions() as s:
        img = flight_image(s, seeded.flight_ids[0], data_dir=seeded.data_dir)
    assert img.name == "F2023"
    w, _s, _e, n = img.bounds
    assert w == pytest.approx(X0 - 0.0005, abs=1e-4) and n == pytest.approx(Y0 + 0.0105, abs=1e-4)
    z, x, y = tiles_covering((X0 + 0.005, Y0 + 0.005, X0 + 0.005, Y0 + 0.005), 17)[0]
    png = _img(render_ortho_tile(img.path, z, x, y))
    r, g, _b, a = _rgba(png, (128, 128))
    assert a == 255 and g > r  # the 2023 flight is green
    webp = render_ortho_tile(img.path, z, x, y, fmt="webp")
    assert webp[:4] == b"RIFF"


def test_tile_outside_the_image_is_transparent(sessions, seeded):
    with sessions() as s:
        img = flight_image(s, seeded.flight_ids[1], data_dir=seeded.data_dir)
    z, x, y = tiles_covering((X0 + 1, Y0 + 1, X0 + 1, Y0 + 1), 16)[0]
    assert render_ortho_tile(img.path, z, x, y) == empty_tile()
    assert _rgba(_img(empty_tile()), (5, 5))[3] == 0


def test_overview_spans_its_bounds(sessions, seeded):
    with sessions() as s:
        img = flight_image(s, seeded.flight_ids[1], data_dir=seeded.data_dir)
    png, bounds = ortho_overview(img.path, max_size=256)
    pic = _img(png)
    assert max(pic.size) == 256
    assert bounds[0] == pytest.approx(img.bounds[0], abs=1e-6)
    r, g, _b, _a = _rgba(pic, (pic.size[0] // 2, pic.size[1] // 2))
    assert r > g  # the 2024 flight is brown


def test_missing_flight_or_file_is_named(sessions, seeded):
    with sessions() as s:
        with pytest.raises(NotFound, match="flight 999 not found"):
            flight_image(s, 999, data_dir=seeded.data_dir)
    (seeded.data_dir / "flights" / "F2023.tif").unlink()
    with sessions() as s:
        with pytest.raises(NotFound, match=r"F2023.*missing"):
            flight_image(s, seeded.flight_ids[0], data_dir=seeded.data_dir)


def test_ortho_endpoint(client, settings, sessions, tmp_path):
    seeded = seed_ledger(sessions, settings.data_dir)
    open_to_viewers(client)
    z, x, y = tiles_covering((X0 + 0.005, Y0 + 0.005, X0 + 0.005, Y0 + 0.005), 17)[0]
    r = client.get(f"/tiles/ortho/{seeded.flight_ids[1]}/{z}/{x}/{y}.png")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert "max-age=86400" in r.headers["cache-control"]
    assert _rgba(_img(r.content), (128, 128))[3] == 255
    assert client.get(f"/tiles/ortho/{seeded.flight_ids[1]}/{z}/{x}/{y}.gif").status_code == 422
    assert client.get(f"/tiles/ortho/424242/{z}/{x}/{y}.png").status_code == 404


def test_flight_paths_as_the_catalogue_writes_them(sessions, tmp_path, monkeypatch):
    """register_flight stores data_dir/flights/<name>/ortho.tif: relative when data_dir is."""
    from sqlalchemy import text

    from geo_enforce.storage.engine import transaction

    seeded = seed_ledger(sessions, tmp_path / "var")
    monkeypatch.chdir(tmp_path)
    with transaction(sessions, "test:paths") as s:
        s.execute(
            text("UPDATE flight SET ortho_path = :p WHERE id = :id"),
            {"p": "var/flights/F2024.tif", "id": seeded.flight_ids[1]},
        )
    with sessions() as s:
        img = flight_image(s, seeded.flight_ids[1], data_dir=Path("var"))
        assert img.path == Path("var/flights/F2024.tif")
        # and relative to data_dir, as the test ledger stores it
        img0 = flight_image(s, seeded.flight_ids[0], data_dir=Path("var"))
        assert img0.path == Path("var/flights/F2023.tif")
