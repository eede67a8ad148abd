"""Seeded synthetic drone flights with known truth, for tests, the notebook and the demo.

A scene is a set of vector objects in a metric CRS (CGCS2000 Gauss-Krüger zone 39, EPSG:4548,
by default): crop parcels with row texture, roads, trees and buildings with roofs of several
materials (blue steel sheds, red tiles, concrete, white). Two dates are rendered from it as an
RGB orthophoto (uint8, nodata 0) and a DSM (float32 metres, nodata −9999): between them some
buildings are new, some demolished, some enlarged, some crop parcels change colour (a seasonal
false change), the sun moves (shadows change), the light changes (gain/offset per band), the
after flight is misregistered by a sub-pixel to two-pixel shift and its DSM carries a vertical
bias. Rendering is 2× supersampled so sub-pixel shifts are real. Everything derives from
``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import Affine
from shapely.affinity import rotate
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry

ROOF_COLOURS: dict[str, tuple[int, int, int]] = {
    "blue_steel": (58, 108, 178),
    "red_tile": (168, 72, 52),
    "concrete": (152, 150, 144),
    "white": (218, 216, 210),
    "grey_tile": (96, 96, 102),
}
ROOFS = tuple(ROOF_COLOURS)
CROPS = {
    "wheat": (84, 124, 52),
    "corn": (62, 100, 40),
    "vegetable": (98, 140, 70),
    "soil": (142, 118, 88),
    "stubble": (170, 152, 110),
}
NODATA_DSM = -9999.0


@dataclass
class Building:
    """A building footprint (scene CRS, metres) present on the before and/or after date."""

    geom: Polygon
    height_m: float
    roof: str
    before: bool = True
    after: bool = True
    #: footprint on the after date when the building was enlarged
    after_geom: Polygon | None = None
    tag: str = ""

    @property
    def change(self) -> str | None:
        if self.after and not self.before:
            return "new"
        if self.before and not self.after:
            return "demolished"
        if self.before and self.after and self.after_geom is not None:
            return "enlarged"
        return None

    def truth_geom(self) -> BaseGeometry | None:
        """The changed area: the whole footprint, or the added part of an enlargement."""
        kind = self.change
        if kind in ("new", "demolished"):
            return self.geom
        if kind == "enlarged" and self.after_geom is not None:
            return self.after_geom.difference(self.geom)
        return None


@dataclass
class Scene:
    """Vector content of a synthetic place (scene CRS metres)."""

    crs: str
    bounds: tuple[float, float, float, float]
    parcels: list[tuple[Polygon, str, str, float, float]]  # geom, crop before, after, angle, period
    roads: list[Polygon]
    trees: list[tuple[Polygon, float]]
    buildings: list[Building]

    def truth(self, kinds=("new", "enlarged")) -> list[tuple[str, BaseGeometry, Building]]:
        out = []
        for b in self.buildings:
            g = b.truth_geom()
            kind = b.change
            if kind is not None and kind in kinds and g is not None and not g.is_empty:
                out.append((kind, g, b))
        return out


@dataclass
class FlightPair:
    """Paths of the two rendered flights and the scene they show."""

    before_ortho: Path
    after_ortho: Path
    before_dsm: Path | None
    after_dsm: Path | None
    scene: Scene
    gsd: float
    shift_px: tuple[float, float]
    transform: Affine
    width: int
    height: int
    meta: dict = field(default_factory=dict)

    def truth_mask(self, kinds=("new", "enlarged")) -> np.ndarray:
        """Truth change mask on the before flight's grid (bool)."""
        shapes = [(g, 1) for _, g, _ in self.scene.truth(kinds)]
        if not shapes:
            return np.zeros((self.height, self.width), bool)
        return rasterize(shapes, (self.height, self.width), transform=self.transform) > 0


# --- scene layout ------------------------------------------------------------------------------


def _split(rect: Polygon, rng, min_side: float) -> list[Polygon]:
    x0, y0, x1, y1 = rect.bounds
    w, h = x1 - x0, y1 - y0
    if max(w, h) < 2 * min_side or rng.random() < 0.12:
        return [rect]
    if w >= h:
        x = x0 + w * rng.uniform(0.3, 0.7)
        parts = [box(x0, y0, x, y1), box(x, y0, x1, y1)]
    else:
        y = y0 + h * rng.uniform(0.3, 0.7)
        parts = [box(x0, y0, x1, y), box(x0, y, x1, y1)]
    return [p for part in parts for p in _split(part, rng, min_side)]


def random_building(rng, cx: float, cy: float, *, small: bool = False) -> Polygon:
    w = rng.uniform(6, 12) if small else rng.uniform(8, 22)
    h = rng.uniform(6, 10) if small else rng.uniform(7, 16)
    return rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rng.uniform(-25, 25))


def enlarge(geom: Polygon, rng) -> Polygon:
    """The footprint extended along one side by 4–8 m (an illegal extension)."""
    ext = rng.uniform(4, 8)
    minx, miny, maxx, maxy = geom.bounds
    side = int(rng.integers(4))
    grow = [
        box(maxx - 1, miny, maxx + ext, maxy),
        box(minx - ext, miny, minx + 1, maxy),
        box(minx, maxy - 1, maxx, maxy + ext),
        box(minx, miny - ext, maxx, miny + 1),
    ][side]
    grown = shapely.union(geom, grow.intersection(geom.envelope.buffer(ext, join_style=2)))
    return shapely.convex_hull(grown) if grown.geom_type != "Polygon" else grown


def make_scene(  # noqa: C901 (one pass in RNG draw order, like build_township)
    bounds: tuple[float, float, float, float],
    *,
    seed: int = 0,
    crs: str = "EPSG:4548",
    n_stable: int = 12,
    n_new: int = 5,
    n_demolished: int = 2,
    n_enlarged: int = 2,
    n_trees: int = 40,
    crop_change: float = 0.4,
    extra_buildings: list[Building] | None = None,
) -> Scene:
    """Lay out a random rural scene in ``bounds`` (scene CRS metres) with known changes."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    extent = box(*bounds)
    size = min(x1 - x0, y1 - y0)
    # roads: a cross of two roads plus a lane
    roads: list[Polygon] = []
    rx = x0 + (x1 - x0) * rng.uniform(0.3, 0.7)
    ry = y0 + (y1 - y0) * rng.uniform(0.3, 0.7)
    roads.append(LineString([(rx, y0 - 10), (rx + rng.uniform(-20, 20), y1 + 10)]).buffer(3.5))
    roads.append(LineString([(x0 - 10, ry), (x1 + 10, ry + rng.uniform(-20, 20))]).buffer(3.0))
    road_union = shapely.union_all(roads)
    parcels = []
    for p in _split(extent, rng, max(size / 6, 25)):
        cell = p.difference(road_union.buffer(1.0))
        if cell.is_empty:
            continue
        before = str(rng.choice(list(CROPS)))
        after = before
        if rng.random() < crop_change:
            after = str(rng.choice([c for c in CROPS if c != before]))
        angle = float(rng.choice([0.0, 90.0]) + rng.uniform(-5, 5))
        for part in getattr(cell, "geoms", [cell]):
            if part.geom_type == "Polygon":
                parcels.append((part, before, after, angle, float(rng.uniform(1.2, 2.5))))

    occupied: list[BaseGeometry] = [road_union.buffer(2.0)]
    buildings: list[Building] = []
    for b in extra_buildings or []:
        buildings.append(b)
        occupied.append((b.after_geom or b.geom).buffer(4.0))

    def place(small=False) -> Polygon | None:
        if min(x1 - x0, y1 - y0) < 40:
            return None  # too small a scene for buildings
        for _ in range(200):
            cx = rng.uniform(x0 + 15, x1 - 15)
            cy = rng.uniform(y0 + 15, y1 - 15)
            g = random_building(rng, cx, cy, small=small)
            probe = g.buffer(7.0)  # room for an enlargement
            if not extent.buffer(-5).contains(g):
                continue
            if any(probe.intersects(o) for o in occupied):
                continue
            occupied.append(g.buffer(4.0))
            return g
        return None

    def roof() -> str:
        return str(rng.choice(ROOFS))

    plan = [  # changes first, so a crowded scene still holds every kind of change
        ("enlarged", n_enlarged),
        ("new", n_new),
        ("demolished", n_demolished),
        ("stable", n_stable),
    ]
    for kind, n in plan:
        for _ in range(n):
            g = place()
            if g is None:
                continue
            h = float(rng.uniform(3.0, 9.0))
            if kind == "stable":
                buildings.append(Building(g, h, roof()))
            elif kind == "new":
                buildings.append(Building(g, h, roof(), before=False, after=True, tag="new"))
            elif kind == "demolished":
                buildings.append(Building(g, h, roof(), before=True, after=False, tag="gone"))
            else:
                big = enlarge(g, rng)
                buildings.append(Building(g, h, roof(), after_geom=big, tag="enlarged"))
                occupied.append(big.buffer(4.0))

    trees = []
    for _ in range(n_trees):
        for _ in range(50):
            if rng.random() < 0.6:  # along the roads
                line = roads[int(rng.integers(len(roads)))].exterior
                pt = line.interpolate(rng.uniform(0, line.length))
                cx, cy = pt.x + rng.normal(0, 2), pt.y + rng.normal(0, 2)
            else:
                cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            r = float(rng.uniform(1.8, 3.5))
            crown = shapely.Point(cx, cy).buffer(r, quad_segs=6)
            if any(crown.intersects(o) for o in occupied[1:]):
                continue
            trees.append((crown, float(rng.uniform(5.0, 10.0))))
            break
    return Scene(crs, bounds, parcels, roads, trees, buildings)


# --- rendering ---------------------------------------------------------------------------------


def _smooth_noise(X: np.ndarray, Y: np.ndarray, rng, n: int = 6, scale: float = 40.0):
    out = np.zeros_like(X, dtype=np.float32)
    for _ in range(n):
        fx, fy = rng.normal(0, 1 / scale, 2)
        ph = rng.uniform(0, 2 * math.pi)
        out += np.sin(2 * math.pi * (fx * X + fy * Y) + ph).astype(np.float32)
    return out / math.sqrt(n)


def render(
    scene: Scene,
    *,
    transform: Affine,
    width: int,
    height: int,
    date: int,
    seed: int = 0,
    sun_azimuth: float = 135.0,
    sun_elevation: float = 50.0,
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0),
    offset: float = 0.0,
    dsm_bias: float = 0.0,
    supersample: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one date (0 before, 1 after): (3 × H × W uint8 RGB, H × W float32 DSM metres)."""
    ss = supersample
    W, H = width * ss, height * ss
    t = transform @ Affine.scale(1 / ss)
    cols = (np.arange(W, dtype=np.float64) + 0.5)[None, :]
    rows = (np.arange(H, dtype=np.float64) + 0.5)[:, None]
    X = (t.c + cols * t.a + rows * t.b).astype(np.float64) + np.zeros((H, 1))
    Y = (t.f + cols * t.d + rows * t.e).astype(np.float64) + np.zeros((1, W))
    texture_rng = np.random.default_rng(seed + 17)  # shared by both dates: same ground
    grain = _smooth_noise(X, Y, texture_rng, scale=25.0)

    # crop parcels
    n = len(scene.parcels)
    pid = rasterize(
        [(g, i + 1) for i, (g, *_r) in enumerate(scene.parcels)],
        (H, W),
        transform=t,
        dtype="int32",
    )
    colours = np.zeros((n + 1, 3), np.float32)
    colours[0] = CROPS["soil"]
    cosang = np.zeros(n + 1, np.float32)
    sinang = np.zeros(n + 1, np.float32)
    period = np.ones(n + 1, np.float32)
    for i, (_g, cb, ca, ang, per) in enumerate(scene.parcels):
        colours[i + 1] = CROPS[ca if date else cb]
        cosang[i + 1] = math.cos(math.radians(ang))
        sinang[i + 1] = math.sin(math.radians(ang))
        period[i + 1] = per
    stripes = np.sin(2 * math.pi * (X * cosang[pid] + Y * sinang[pid]) / period[pid])
    rgb = colours[pid].transpose(2, 0, 1) * (1 + 0.07 * stripes + 0.06 * grain)[None]

    # roads
    if scene.roads:
        road = rasterize([(g, 1) for g in scene.roads], (H, W), transform=t) > 0
        rgb[:, road] = np.array([88, 88, 92], np.float32)[:, None] * (1 + 0.04 * grain[road])

    height_map = np.zeros((H, W), np.float32)
    # buildings present on this date
    present = []
    for b in scene.buildings:
        if b.after if date else b.before:
            g = b.after_geom if (date and b.after_geom is not None) else b.geom
            present.append((g, b))
    if present:
        roof_idx = rasterize(
            [(g, ROOFS.index(b.roof) + 1) for g, b in present], (H, W), transform=t, dtype="int32"
        )
        heights = rasterize(
            [(g, b.height_m) for g, b in present], (H, W), transform=t, dtype="float32"
        )
        roof_cols = np.array([[0, 0, 0], *[ROOF_COLOURS[r] for r in ROOFS]], np.float32)
        m = roof_idx > 0
        ridge = np.sin(2 * math.pi * X[m] / 0.9)  # corrugation / tile rows
        rgb[:, m] = roof_cols[roof_idx[m]].T * (1 + 0.03 * ridge + 0.02 * grain[m])[None]
        height_map = np.maximum(height_map, heights)
    # trees
    if scene.trees:
        tree_h = rasterize([(g, h) for g, h in scene.trees], (H, W), transform=t, dtype="float32")
        tm = tree_h > 0
        leaf = _smooth_noise(X[tm], Y[tm], np.random.default_rng(seed + 5), scale=1.5)
        tree_col = np.array([44, 82, 38], np.float32) * (1.05 if date else 1.0)
        rgb[:, tm] = tree_col[:, None] * (1 + 0.18 * leaf)[None]
        height_map = np.maximum(height_map, tree_h)

    # downsample (anti-aliasing) then shadows and sensor effects at the final resolution
    rgb = rgb.reshape(3, height, ss, width, ss).mean(axis=(2, 4))
    obj_h = height_map.reshape(height, ss, width, ss).mean(axis=(1, 3))
    px = abs(transform.a)
    shade = _shadow(obj_h, px, sun_azimuth, sun_elevation)
    rgb *= np.where(shade, 0.45, 1.0)[None]
    rng = np.random.default_rng(seed * 7919 + date + 1)
    rgb = rgb * np.array(gain, np.float32)[:, None, None] + offset
    rgb += rng.normal(0, 2.5, rgb.shape)
    ortho = np.clip(rgb, 1, 255).astype(np.uint8)

    Xc = X.reshape(height, ss, width, ss).mean(axis=(1, 3))
    Yc = Y.reshape(height, ss, width, ss).mean(axis=(1, 3))
    ground = (
        2.5
        + 0.004 * (Xc - Xc.mean())
        + 0.3 * _smooth_noise(Xc, Yc, np.random.default_rng(seed + 3), scale=120.0)
    )
    dsm = ground + obj_h + rng.normal(0, 0.12, obj_h.shape) + dsm_bias
    return ortho, dsm.astype(np.float32)


def _shadow(h: np.ndarray, px: float, azimuth: float, elevation: float) -> np.ndarray:
    """Cast shadows of a height map (metres) for a sun at azimuth/elevation (degrees)."""
    if h.max() <= 0:
        return np.zeros(h.shape, bool)
    az = math.radians(azimuth)
    # direction in which shadows fall (away from the sun), in pixel (col, row) units
    dc, dr = -math.sin(az), math.cos(az)
    drop = math.tan(math.radians(elevation)) * px  # height lost per pixel travelled
    steps = int(h.max() / drop) + 1
    out = np.zeros(h.shape, bool)
    H, W = h.shape
    for s in range(1, steps + 1, 2):
        oc, orow = round(dc * s), round(dr * s)
        src = h - s * drop
        shifted = np.zeros_like(h)
        rs = slice(max(0, orow), min(H, H + orow))
        rd = slice(max(0, -orow), min(H, H - orow))
        cs = slice(max(0, oc), min(W, W + oc))
        cd = slice(max(0, -oc), min(W, W - oc))
        shifted[rs, cs] = src[rd, cd]
        out |= shifted > h + 0.3
    return out


def _write(path: Path, data: np.ndarray, transform: Affine, crs: str, nodata: float) -> None:
    count = 1 if data.ndim == 2 else data.shape[0]
    profile = {
        "driver": "GTiff",
        "width": data.shape[-1],
        "height": data.shape[-2],
        "count": count,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data if data.ndim == 3 else data[None])
        if count == 3:
            dst.colorinterp = [
                rasterio.enums.ColorInterp.red,
                rasterio.enums.ColorInterp.green,
                rasterio.enums.ColorInterp.blue,
            ]


def synthetic_pair(
    out_dir: str | Path,
    *,
    seed: int = 0,
    origin: tuple[float, float] = (500_000.0, 4_318_000.0),
    size_px: tuple[int, int] = (800, 800),
    gsd: float = 0.25,
    crs: str = "EPSG:4548",
    shift_px: tuple[float, float] | None = None,
    with_dsm: bool = True,
    nodata_corner: bool = True,
    scene: Scene | None = None,
    **scene_kwargs,
) -> FlightPair:
    """Render a before/after flight pair to ``out_dir`` (GeoTIFFs) and return paths and truth.

    ``origin`` is the upper-left corner in ``crs`` (default EPSG:4548 near 117.0°E 39.0°N),
    ``gsd`` metres per pixel. ``shift_px`` is the after flight's misregistration (columns, rows);
    by default a random 0.3–2 pixel shift. The after flight loses a nodata corner.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed + 101)
    w, h = size_px
    t = Affine(gsd, 0, origin[0], 0, -gsd, origin[1])
    bounds = (origin[0], origin[1] - h * gsd, origin[0] + w * gsd, origin[1])
    if scene is None:
        scene = make_scene(bounds, seed=seed, crs=crs, **scene_kwargs)
    if shift_px is None:
        mag, ang = rng.uniform(0.3, 2.0), rng.uniform(0, 2 * math.pi)
        shift_px = (round(mag * math.cos(ang), 2), round(mag * math.sin(ang), 2))
    dx, dy = shift_px
    ortho_b, dsm_b = render(scene, transform=t, width=w, height=h, date=0, seed=seed)
    ortho_a, dsm_a = render(
        scene,
        transform=t @ Affine.translation(dx, dy),
        width=w,
        height=h,
        date=1,
        seed=seed,
        sun_azimuth=215.0,
        sun_elevation=38.0,
        gain=(1.12, 1.08, 1.18),
        offset=6.0,
        dsm_bias=0.4,
    )
    if nodata_corner:
        rr, cc = np.mgrid[0:h, 0:w]
        corner = (rr + cc) < min(w, h) // 6
        ortho_a[:, corner] = 0
        dsm_a[corner] = NODATA_DSM
    pair = FlightPair(
        before_ortho=out / "before_ortho.tif",
        after_ortho=out / "after_ortho.tif",
        before_dsm=out / "before_dsm.tif" if with_dsm else None,
        after_dsm=out / "after_dsm.tif" if with_dsm else None,
        scene=scene,
        gsd=gsd,
        shift_px=(dx, dy),
        transform=t,
        width=w,
        height=h,
        meta={"crs": crs, "seed": seed},
    )
    _write(pair.before_ortho, ortho_b, t, crs, 0)
    _write(pair.after_ortho, ortho_a, t, crs, 0)
    if with_dsm:
        assert pair.before_dsm is not None and pair.after_dsm is not None
        _write(pair.before_dsm, dsm_b, t, crs, NODATA_DSM)
        _write(pair.after_dsm, dsm_a, t, crs, NODATA_DSM)
    return pair


def preview(pair: FlightPair, *, max_px: int = 900):
    """Before and after orthophotos side by side (a PIL image; notebooks display it inline)."""
    from PIL import Image

    tiles = []
    for path in (pair.before_ortho, pair.after_ortho):
        with rasterio.open(path) as src:
            tiles.append(Image.fromarray(src.read([1, 2, 3]).transpose(1, 2, 0)))
    w, h = tiles[0].size
    out = Image.new("RGB", (2 * w + 8, h), "white")
    out.paste(tiles[0], (0, 0))
    out.paste(tiles[1], (w + 8, 0))
    f = max_px / out.width
    return out.resize((max_px, round(out.height * f))) if f < 1 else out
