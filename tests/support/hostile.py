"""Inputs that probe the limits (issue 13): a sparse huge GeoTIFF, a many-vertex polygon, and
the command line run against a test database with chosen settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Polygon
from typer.testing import CliRunner, Result


def sparse_geotiff(path: Path, width: int = 10_000, height: int = 10_000) -> Path:
    """An RGB GeoTIFF (EPSG:4548, 5 cm) of ``width`` × ``height`` pixels with no tile written:
    a few kilobytes on disk that declare 100 megapixels."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:4548",
        transform=from_origin(500_000, 4_320_000, 0.05, 0.05),
        tiled=True,
        SPARSE_OK=True,
    ):
        pass
    return path


def ring(n: int, x0: float = 117.201, y0: float = 39.001, r: float = 1e-4) -> Polygon:
    """A polygon with ``n`` distinct vertices (``n + 1`` coordinates with the closing one)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return Polygon(np.c_[x0 + r * np.cos(a), y0 + r * np.sin(a)])


@contextmanager
def cli(
    monkeypatch: pytest.MonkeyPatch, db_url: str, **env: str
) -> Iterator[Callable[..., Result]]:
    """Run ``geo-enforce`` in-process against ``db_url`` with ``GEO_ENFORCE_…`` variables set;
    the CLI's cached settings and engine are rebuilt before and dropped after."""
    from geo_enforce.cli import app, common

    monkeypatch.setenv("DATABASE_URL", db_url)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    common.settings.cache_clear()
    common.engine.cache_clear()
    runner = CliRunner()
    try:
        yield lambda *args: runner.invoke(app, [str(a) for a in args])
    finally:
        common.engine().dispose()
        common.settings.cache_clear()
        common.engine.cache_clear()
