"""Evidence chips: before and after PNGs of a change region's surroundings, outline drawn.

Chips are read from the aligned pair (so before and after show the same ground), stored under
``data_dir/chips`` with generated names, and referenced by name from the change patch.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geo_enforce.errors import NotFound
from geo_enforce.imagery.align import Alignment, read_on_grid

CHIP_PX = 384
_NAME_RE = re.compile(r"^[0-9a-f]{32}_(before|after)\.png$")


def chips_dir(data_dir: Path) -> Path:
    """Where evidence chips are stored: ``data_dir/chips``."""
    return Path(data_dir) / "chips"


def _window(geom_px: BaseGeometry, width: int, height: int, min_px: int = 96) -> Window:
    minx, miny, maxx, maxy = geom_px.bounds
    side = max(maxx - minx, maxy - miny, min_px / 2) * 2.0
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    c0 = int(max(0, cx - side / 2))
    r0 = int(max(0, cy - side / 2))
    c1 = int(min(width, cx + side / 2))
    r1 = int(min(height, cy + side / 2))
    return Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))


def _to_png(rgb: np.ndarray, valid: np.ndarray, outline, path: Path) -> None:
    scale = 255.0 / max(255.0, float(rgb.max()) if rgb.size else 255.0)
    img = np.clip(rgb[:3] * scale, 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()
    img[~valid] = 255
    pil = Image.fromarray(img)
    f = CHIP_PX / max(pil.size)
    if f != 1:
        pil = pil.resize((max(1, round(pil.width * f)), max(1, round(pil.height * f))))
    draw = ImageDraw.Draw(pil)
    for ring in outline:
        pts = [(x * f, y * f) for x, y in ring]
        if len(pts) > 2:
            draw.line([*pts, pts[0]], fill=(255, 230, 0), width=2)
    pil.save(path, format="PNG", compress_level=3)


def write_chips(alignment: Alignment, geom_px: BaseGeometry, data_dir: Path) -> tuple[str, str]:
    """Write before/after chips around ``geom_px`` (grid pixels); returns the two file names."""
    grid = alignment.grid
    win = _window(geom_px, grid.width, grid.height)
    out = chips_dir(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    rings = []
    for poly in getattr(geom_px, "geoms", [geom_px]):
        rings.append([(x - win.col_off, y - win.row_off) for x, y in poly.exterior.coords])
    key = uuid.uuid4().hex
    names = []
    for label, src in (("before", alignment.before), ("after", alignment.after)):
        rgb, valid = read_on_grid(src, grid, win)
        name = f"{key}_{label}.png"
        _to_png(rgb, valid, rings, out / name)
        names.append(name)
    return names[0], names[1]


def chip_path(data_dir: Path, name: str) -> Path:
    """The stored chip file for a generated name; refuses anything that is not one."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise NotFound(f"chip {name!r} not found")
    p = chips_dir(data_dir) / name
    if not p.is_file():
        raise NotFound(f"chip {name!r} not found under {chips_dir(data_dir)}")
    return p


def chip_pair_image(data_dir: Path, before: str, after: str) -> Image.Image:
    """The before and after chips side by side (a PIL image; notebooks display it inline)."""
    with Image.open(chip_path(data_dir, before)) as b, Image.open(chip_path(data_dir, after)) as a:
        out = Image.new("RGB", (b.width + a.width + 8, max(b.height, a.height)), "white")
        out.paste(b.convert("RGB"), (0, 0))
        out.paste(a.convert("RGB"), (b.width + 8, 0))
    return out
