"""Buildings, not trees, from the height signal: the DSM cues of the DSM and combined detectors.

A new building is a height gain of at least a storey whose surface is made of planes (roofs)
with sharp steps at its outline (walls). A tree gives a gain of the same size, but its surface is
rough at every scale: leaves and branches, gaps between them. The cues, all computed with
``scipy.ndimage`` box filters (cost independent of the window size), only on the bounding boxes
of the height candidates (so the cost follows the amount of change):

- **roughness** (``roughness_m``): RMS residual of the least-squares plane through the surface
  in a window of about 1 m (3 × 3 px at 0.5 m). Roofs: centimetres (noise); a gable ridge a
  decimetre or two; canopy: tens of centimetres to metres. This is the cue that decides.
- **planarity** (``planarity_rmse_m``): the same residual over about 2.5 m (slope and curvature
  consistency: a dome-shaped crown bends away from any plane at that scale, a roof face does not).
- **edge step** (``edge_step_m``): the drop from the object's border pixels to the lowest
  neighbour (walls drop by the full height within a pixel; canopy fades out).
- **colour** when the orthophoto has it: excess green (``exg``) and, on 4-band images, NDVI
  (``ndvi``); vegetation pixels are not building candidates.

**Segmentation**: smooth candidate pixels (roughness ≤ ``max_roughness_m``), opened to drop
the chance smooth speckle inside crowns, form the *cores* (one per roof part); each candidate
pixel within the cue windows' reach of a core goes to its nearest core (pixels farther away,
rough, are canopy and dropped) — unless a patch of them is mostly surrounded by roof
(``enclosed``: more than half of its outline on building parts): a cluttered roof part or a
tree over the middle of a block then joins the nearest part, while a tree beside a wall, whose
outline is mostly on lower ground, stays out. Adjacent parts are then joined unless the step
between them is at least a storey *and* they touch along a short part of their outline *and*
the contact is shorter than ``end_wall`` (0.8) times the smaller part's width (twice its
largest inscribed radius): two houses touching at a corner or through a tree stay two; a
terrace of houses sharing whole walls, or a wing whose whole end wall abuts the main range,
stays one block. Different objects are kept one pixel apart (8-connected), so the runner's
connected regions are the objects.

**Low structures** (steel sheds, carports: 彩钢房, 车棚): free-standing patches from head height
(``shed_height_m``, 1.8 m) up to a storey, at least ``shed_width_m`` (2.5 m, a car's width)
across, opened to part sheds in a row, whose inner pixels lie on one plane within
``shed_plane_m`` (0.15 m RMS: a sheet roof; shrubs and canopy deviate by decimetres) become
objects. One plane over the whole patch rather than the 1 m windows, which find almost no
window inside a 3 m shed.

**Outlines** (:func:`regularise`): dominant orientation from the minimum rotated rectangle
(or the outline's edges, length weighted, modulo 90°, for shapes that fill little of it),
each edge snapped to that axis or its normal, runs merged at their
length-weighted offset, corners intersected: a rectilinear outline whose area stays within a
pixel strip of the raster outline. Falls back to the simplified outline when that would change
the area by more than 10 %, move more than 20 % of it (symmetric difference: round or
irregular shapes, blocks bending through an angle that is not a right one), or put any point
farther than ``max_offset_px`` from the raster outline (Hausdorff distance: a corner shot past
a complex block; the regions use 1 m, at least 3 px).

**Vertical offset** (:func:`ground_dz_samples`, :func:`vertical_offset`): DSM differences on
pixels that are smooth on both dates and not vegetation, then the mode of their histogram (the
unchanged majority), refined by the median within ±0.5 m of it. Changed pixels, however many,
do not pull it as long as unchanged smooth surfaces form the most common difference.

**Confidence** (:func:`building_confidence`) from the evidence: height, roughness, planarity,
edge step, area, shape and colour, each mapped to 0–1 by physical scales, then combined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage as ndi
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

#: evidence keys a building region carries (absent when unknown)
EVIDENCE_KEYS = (
    "height_gain_m",
    "planarity_rmse_m",
    "roughness_m",
    "edge_step_m",
    "area_m2",
    "compactness",
    "rectangularity",
    "ndvi",
    "exg",
)


def _odd(n: float, least: int = 3) -> int:
    k = max(least, round(n))
    return k if k % 2 else k + 1


def plane_residual(z: np.ndarray, size: int) -> np.ndarray:
    """RMS residual (same unit as ``z``) of the least-squares plane through each ``size`` ×
    ``size`` neighbourhood (separable box and ramp filters; borders repeat the edge pixels).

    Works in float32 on heights relative to a height of the array (a roof's relief, not its
    altitude), so the moments keep millimetre precision. ``z`` must be finite.
    """
    if z.size == 0:
        return np.zeros(z.shape, np.float32)
    # any height of the array as reference: only the relief within a window matters
    z = (z - np.float32(z.flat[:: max(1, z.size // 64)].mean())).astype(np.float32, copy=False)
    m = size // 2
    s_uu = np.float32(m * (m + 1) / 3.0)  # mean of u² over −m..m
    ez = ndi.uniform_filter(z, size, mode="nearest")
    ezz = ndi.uniform_filter(z * z, size, mode="nearest")
    # E[u z], E[v z]: a ramp along one axis, a box along the other
    euz = ndi.uniform_filter1d(_ramp_mean(z, size, 1), size, axis=0, mode="nearest")
    evz = ndi.uniform_filter1d(_ramp_mean(z, size, 0), size, axis=1, mode="nearest")
    ezz -= ez * ez
    ezz -= (euz * euz + evz * evz) / s_uu
    np.maximum(ezz, 0, out=ezz)
    return np.sqrt(ezz, out=ezz)


def _ramp_mean(z: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Mean of u·z over the ``size`` pixels centred on each pixel along ``axis`` (u = offset).

    Short windows: a direct ramp filter. Long ones (fine GSDs: 2.5 m is 51 px at 5 cm), whose
    cost would grow with the width: mean(x·z) − x·mean(z) with box filters, in float64 so the
    difference of the two large terms keeps its precision."""
    if size <= 9:
        m = size // 2
        u = np.arange(-m, m + 1, dtype=np.float32) / np.float32(size)
        return ndi.correlate1d(z, u, axis=axis, mode="nearest")
    m = size // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (m, m)
    z64 = np.pad(z.astype(np.float64), pad, mode="edge")  # the borders repeat, as above
    shape = [1, 1]
    shape[axis] = z64.shape[axis]
    x = np.arange(z64.shape[axis], dtype=np.float64).reshape(shape)
    out = ndi.uniform_filter1d(z64 * x, size, axis=axis)
    out -= x * ndi.uniform_filter1d(z64, size, axis=axis)
    keep = [slice(None), slice(None)]
    keep[axis] = slice(m, m + z.shape[axis])
    return out[tuple(keep)].astype(np.float32)


@dataclass(frozen=True)
class HeightCues:
    """Physical thresholds of the building/vegetation separation (metres, m²)."""

    min_height_m: float = 2.2  # one storey
    roughness_window_m: float = 1.0
    planarity_window_m: float = 2.5
    max_roughness_m: float = 0.25  # roof noise + a ridge, well below canopy
    density_window_m: float = 2.5
    min_smooth_share: float = 0.5  # of the pixels around: a roof is mostly smooth, a crown not
    min_core_m2: float = 4.0  # smallest roof face that counts as a building part
    bridge_m: float = 1.0  # raised gaps this narrow between roofs are part of the building
    split_contact: float = 0.2  # parts touching along < 20 % of the smaller outline stay apart
    end_wall: float = 0.8  # ... unless the contact spans the smaller part's width (a wing)
    enclosed: float = 0.5  # rough raised pixels whose outline is mostly roof belong to it
    # low structures (steel sheds, carports: 彩钢房, 车棚) from head height, if at least a
    # car's width across (hedges are narrower) and one plane (canopy and shrubs are not)
    shed_height_m: float = 1.8
    shed_width_m: float = 2.5
    shed_plane_m: float = 0.15  # RMS residual of one plane through the inner pixels
    veg_exg: float = 0.15
    veg_ndvi: float = 0.3


def context_px(gsd: float, cues: HeightCues) -> int:
    """Pixels of context the cues need around a candidate (the largest filter's reach)."""
    k_r = _odd(cues.roughness_window_m / gsd)
    k_p = _odd(cues.planarity_window_m / gsd, least=5)
    k_d = _odd(cues.density_window_m / gsd)
    return max(k_p, k_d) // 2 + k_r // 2 + 2 * max(1, round(0.5 / gsd)) + 3


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Dilation by a (2r+1)² square (separable running maximum)."""
    return ndi.maximum_filter(mask.view(np.uint8), size=2 * r + 1, mode="constant").view(bool)


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Erosion by a (2r+1)² square; outside the array counts as set (no edge effect)."""
    return ndi.minimum_filter(mask.view(np.uint8), size=2 * r + 1, mode="nearest").view(bool)


def _opening(mask: np.ndarray, r: int) -> np.ndarray:
    return _dilate(_erode(mask, r), r)


def _nearest_fill(labels: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """``labels`` with the ``fill`` pixels given the label of the nearest labelled pixel."""
    if not fill.any():
        return labels
    out = labels.copy()
    if labels.max() == 1:
        out[fill] = 1
        return out
    _d, idx = ndi.distance_transform_edt(labels == 0, return_indices=True)
    out[fill] = labels[idx[0][fill], idx[1][fill]]
    return out


def vegetation(rgb: np.ndarray, cues: HeightCues) -> tuple[np.ndarray, np.ndarray | None]:
    """(vegetation mask, NDVI or None) of a (bands, n) or (bands, rows, cols) pixel array."""
    from geo_enforce.detection.detectors import excess_green

    exg = excess_green(rgb[:3])
    veg = exg > cues.veg_exg
    ndvi = None
    if rgb.shape[0] >= 4:
        nir, red = rgb[3].astype(np.float32), rgb[0].astype(np.float32)
        ndvi = (nir - red) / (nir + red + 1e-3)
        veg |= ndvi > cues.veg_ndvi
    return veg, ndvi


def segment_buildings(
    z: np.ndarray,
    gain: np.ndarray,
    cand: np.ndarray,
    gsd: float,
    cues: HeightCues,
    low: np.ndarray | None = None,
    shed: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Building parts among the candidate pixels ``cand`` (a storey of gain) of one box.

    ``z`` is the surface the objects stand on top of (the after DSM for gains), ``gain`` the
    height change (positive up); ``low`` (optional) the pixels of at least half a storey, not
    vegetation: smooth ones attached to a building part are its lower roofs (annexes, sheds
    built against it) and join it. ``shed`` (optional): the pixels from ``shed_height_m`` up,
    not vegetation; a patch of them standing free, wide enough and on one plane, is a low
    structure (a steel shed, a carport) and an object of its own. Returns (labels: 0 none,
    1.. objects, one pixel apart; per-pixel evidence maps of the labelled pixels, each with
    its weight map ``<key>_w``: ``roughness_m`` and ``planarity_rmse_m`` on the pixels whose
    cue window lies inside the object, ``edge_step_m`` on its border pixels).
    """
    k_r = _odd(cues.roughness_window_m / gsd)
    k_p = _odd(cues.planarity_window_m / gsd, least=5)
    finite = np.isfinite(z)
    zf = z if finite.all() else np.where(finite, z, np.nanmedian(z) if finite.any() else 0.0)
    rough = plane_residual(zf, k_r)
    smooth = cand & (rough <= cues.max_roughness_m)
    # most of a roof's pixels are smooth, few of a crown's: the local share decides (single
    # smooth pixels in a crown, or rough ones on a roof — chimneys, tiles, dormers — do not)
    k_d = _odd(cues.density_window_m / gsd)
    share = ndi.uniform_filter(smooth.astype(np.float32), k_d, mode="constant")
    r_open = max(1, round(0.5 / gsd))
    core = _opening(cand & (share >= cues.min_smooth_share), r_open)
    eight = np.ones((3, 3), bool)
    core_lab, n = ndi.label(core, eight)
    empty: tuple[np.ndarray, dict[str, np.ndarray]] = (np.zeros(z.shape, np.int32), {})
    sizes = np.bincount(core_lab.ravel(), minlength=n + 1)
    keep = sizes * gsd * gsd >= cues.min_core_m2
    keep[0] = False
    if not keep[1:].any():
        if shed is None:
            return empty
        labels = np.zeros(z.shape, np.int32)  # no roof of a storey: low structures only
    else:
        core_lab = np.where(keep[core_lab], core_lab, 0)
        # grow each core over the candidate pixels its cue window could not see as smooth (walls,
        # ridges): as far as the roughness window reaches plus the opening radius
        reach = k_r // 2 + r_open + 1
        has_core = core_lab > 0
        grow = (cand & _dilate(has_core, reach)) | has_core
        if int(keep.sum()) == 1:
            labels = grow.astype(np.int32)  # one part: nothing to share out
        else:
            # flooded from the cores over the height gradient: two parts meet at the wall
            from skimage.segmentation import watershed

            slope = np.hypot(ndi.sobel(zf, 0), ndi.sobel(zf, 1)).astype(np.float32)
            labels = watershed(slope, core_lab, mask=grow).astype(np.int32)
        if low is not None:
            labels = _attach_low(labels, low & ~cand, rough, gsd, cues)
        labels = _bridge(labels, cand if low is None else (cand | low), gsd, cues)
        labels = _enclosed(labels, cand, cues)
        labels = _join_parts(labels, zf, gsd, cues)
    if shed is not None:
        labels = _add_sheds(labels, shed, zf, gsd, cues)
    if not labels.any():
        return empty
    labels = _apart(labels)
    on = labels > 0
    planarity = plane_residual(zf, k_p)
    lo = ndi.minimum_filter(gain, size=3)
    border = on & ~ndi.binary_erosion(on, eight, border_value=1)
    # roughness and planarity of the roof itself: over the pixels whose cue window lies inside
    # the object (a window straddling the wall measures the wall, not the roof)
    inner_r = _erode(on, k_r // 2) & on
    inner_p = _erode(on, k_p // 2) & on
    ev = {
        "roughness_m": np.where(inner_r, rough, 0.0).astype(np.float32),
        "roughness_m_w": inner_r.astype(np.float32),
        "planarity_rmse_m": np.where(inner_p, planarity, 0.0).astype(np.float32),
        "planarity_rmse_m_w": inner_p.astype(np.float32),
        "edge_step_m": np.where(border, gain - lo, 0.0).astype(np.float32),
        "edge_step_m_w": border.astype(np.float32),
    }
    return labels, ev


def _add_sheds(
    labels: np.ndarray, shed: np.ndarray, z: np.ndarray, gsd: float, cues: HeightCues
) -> np.ndarray:
    """Free-standing low structures: connected patches of ``shed`` pixels (from head height)
    away from the building parts, at least ``shed_width_m`` across (twice the largest
    inscribed radius: hedges are narrower) whose inner pixels lie on one plane within
    ``shed_plane_m`` (a sheet roof, flat or mono-pitch; canopy and shrubs deviate by
    decimetres to metres), become objects. One plane over the whole patch, not the 1 m
    windows: a shed 3 m across has almost no pixel whose window lies inside it."""
    if cues.shed_height_m >= cues.min_height_m:
        return labels
    # opened: sheds in a row joined by a fence or a wall top come apart
    free = _opening(shed & ~_dilate(labels > 0, 1), max(1, round(0.5 / gsd)))
    comp, n = ndi.label(free, np.ones((3, 3), bool))
    if n == 0:
        return labels
    out = labels.copy()
    nxt = int(labels.max()) + 1
    min_px = cues.shed_width_m**2 / (gsd * gsd)
    for k, sl in enumerate(ndi.find_objects(comp), start=1):
        if sl is None:
            continue
        part = comp[sl] == k
        if part.sum() < min_px:
            continue
        if 2 * float(ndi.distance_transform_edt(np.pad(part, 1)).max()) * gsd < cues.shed_width_m:
            continue
        inner = _erode(part, 1) & part  # edge cells mix roof, wall and ground
        r, c = np.nonzero(inner)
        if r.size < 6:
            continue
        a = np.column_stack([r - r.mean(), c - c.mean(), np.ones(r.size)]) * [gsd, gsd, 1.0]
        zz = z[sl][inner].astype(np.float64)
        coef, *_ = np.linalg.lstsq(a, zz, rcond=None)
        if float(np.sqrt(np.mean((a @ coef - zz) ** 2))) > cues.shed_plane_m:
            continue
        out[sl][part] = nxt
        nxt += 1
    return out


def _attach_low(
    labels: np.ndarray, low: np.ndarray, rough: np.ndarray, gsd: float, cues: HeightCues
) -> np.ndarray:
    """Smooth lower roofs (``low``: half a storey to a storey) connected to a building part go
    to the nearest part; the rough ones (shrubs, hedges) and the detached ones do not."""
    on = labels > 0
    ext = low & (rough <= cues.max_roughness_m)
    if not ext.any():
        return labels
    r_open = max(1, round(0.5 / gsd))
    ext = _opening(ext, r_open)
    comp, n = ndi.label(on | ext, np.ones((3, 3), bool))
    if n == 0:
        return labels
    touching = np.zeros(n + 1, bool)
    touching[np.unique(comp[on])] = True
    touching[0] = False
    grow = ext & ~on & touching[comp]
    return _nearest_fill(labels, grow)


def _bridge(labels: np.ndarray, raised: np.ndarray, gsd: float, cues: HeightCues) -> np.ndarray:
    """Raised pixels in gaps of up to ``bridge_m`` between parts (a wall top, a gutter, a rough
    strip between two roofs) join the nearest part; a gap at ground level (an alley) keeps
    two buildings apart."""
    if cues.bridge_m <= 0:
        return labels
    on = labels > 0
    r = max(1, round(cues.bridge_m / gsd / 2))
    closed = _erode(_dilate(on, r), r) & raised & ~on
    return _nearest_fill(labels, closed)


def _enclosed(labels: np.ndarray, raised: np.ndarray, cues: HeightCues) -> np.ndarray:
    """Raised pixels left out (rough: a tiled or cluttered roof part, a tree over the roof)
    whose connected patch is mostly surrounded by building parts join the nearest part; a
    patch with most of its outline on lower ground (a tree beside a wall) stays out."""
    if cues.enclosed <= 0 or cues.enclosed > 1:
        return labels
    on = labels > 0
    rest = raised & ~on
    if not rest.any() or not on.any():
        return labels
    comp, n = ndi.label(rest, np.ones((3, 3), bool))
    ring = ndi.maximum_filter(comp, size=3)
    ring[rest] = 0  # the ring of each patch: its 8-neighbours outside it
    around = np.bincount(ring.ravel(), minlength=n + 1)
    roofed = np.bincount(ring[on], minlength=n + 1)
    inside = roofed >= cues.enclosed * np.maximum(around, 1)
    inside[0] = False
    if not inside.any():
        return labels
    return _nearest_fill(labels, inside[comp])


_NEIGHBOURS = (
    ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
)


def _contacts(labels: np.ndarray, z: np.ndarray, n: int):
    """(pair keys ``i·(n+1)+j`` with i < j, contact length in pixel edges, median height step)
    of the parts that touch (4-neighbours)."""
    a_parts, b_parts, steps = [], [], []
    for sl_a, sl_b in _NEIGHBOURS:
        la, lb = labels[sl_a], labels[sl_b]
        m = (la != lb) & (la > 0) & (lb > 0)
        if m.any():
            a_parts.append(la[m])
            b_parts.append(lb[m])
            steps.append(np.abs(z[sl_a][m] - z[sl_b][m]))
    if not a_parts:
        return [], [], []
    la, lb, st = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(steps)
    key = np.minimum(la, lb).astype(np.int64) * (n + 1) + np.maximum(la, lb)
    uniq, inv, contact = np.unique(key, return_inverse=True, return_counts=True)
    groups = np.split(st[np.argsort(inv, kind="stable")], np.cumsum(contact)[:-1])
    return uniq.tolist(), contact.tolist(), [float(np.median(g)) for g in groups]


def _perimeters(labels: np.ndarray, n: int) -> np.ndarray:
    """Outline length of each part, in pixel edges (array edges not counted)."""
    on = labels > 0
    perim = np.zeros(n + 1)
    for sl_a, sl_b in _NEIGHBOURS:
        la, lb = labels[sl_a], labels[sl_b]
        diff = la != lb
        perim += np.bincount(la[diff & on[sl_a]], minlength=n + 1)
        perim += np.bincount(lb[diff & on[sl_b]], minlength=n + 1)
    return perim


def _widths(labels: np.ndarray, n: int) -> np.ndarray:
    """Width of each part in pixels: twice its largest inscribed radius (a wing's short side)."""
    width = np.zeros(n + 1)
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        part = np.pad(labels[sl] == k, 1)
        width[k] = 2 * float(ndi.distance_transform_edt(part).max())
    return width


def _join_parts(labels: np.ndarray, z: np.ndarray, gsd: float, cues: HeightCues) -> np.ndarray:
    """Join adjacent parts unless separated by a storey's step along a short contact."""
    n = int(labels.max())
    if n < 2:
        return labels
    pairs, contacts, steps = _contacts(labels, z, n)
    if not pairs:
        return labels
    perim = _perimeters(labels, n)
    area = np.bincount(labels.ravel(), minlength=n + 1)
    width = _widths(labels, n) if cues.end_wall > 0 else np.zeros(n + 1)
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    min_px = 10.0 / (gsd * gsd)  # a part under 10 m² (dormer, chimney, shed) is not a building
    best: dict[int, tuple[int, int]] = {}  # small part → (contact, neighbour)
    for u, c, s in zip(pairs, contacts, steps, strict=True):
        i, j = divmod(u, n + 1)
        if min(area[i], area[j]) < min_px:
            # a small part goes to the one neighbour it shares most outline with (only one:
            # a dormer between two houses must not join them)
            for small, other in ((i, j), (j, i)):
                if area[small] < min_px and c > best.get(small, (0, 0))[0]:
                    best[small] = (c, other)
        elif (
            s < cues.min_height_m
            or c >= cues.split_contact * min(perim[i], perim[j])
            or (cues.end_wall > 0 and c >= cues.end_wall * min(width[i], width[j]))
        ):
            join(i, j)
    for small, (_c, other) in best.items():
        join(small, other)
    root = np.array([find(i) for i in range(n + 1)])
    return root[labels].astype(np.int32)


def _apart(labels: np.ndarray) -> np.ndarray:
    """Labels with one pixel of background between different objects (8-connected): a pixel
    touching a higher label is cleared, so connected regions of ``labels > 0`` are objects."""
    if labels.max() < 2:
        return labels
    hi = ndi.maximum_filter(labels, size=3)
    return np.where((labels > 0) & (hi > labels), 0, labels).astype(np.int32)


# --- outlines --------------------------------------------------------------------------------


def dominant_angle(poly: Polygon) -> float:
    """Dominant orientation (radians, modulo 90°) of ``poly``: its minimum rotated rectangle's
    when the polygon fills most of it (a building's rectangle rests on one of its walls),
    otherwise the length-weighted mean of its edge directions (modulo 90°)."""
    rect = shapely.minimum_rotated_rectangle(poly)
    if rect.geom_type == "Polygon" and rect.area > 0 and poly.area / rect.area >= 0.6:
        xy = np.asarray(rect.exterior.coords)
        d = xy[1] - xy[0]
        return math.atan2(d[1], d[0]) % (math.pi / 2)
    xy = np.asarray(poly.exterior.coords)
    d = np.diff(xy, axis=0)
    lengths = np.hypot(d[:, 0], d[:, 1])
    ang = np.arctan2(d[:, 1], d[:, 0])
    c = float((lengths * np.cos(4 * ang)).sum())
    s = float((lengths * np.sin(4 * ang)).sum())
    return math.atan2(s, c) / 4.0


def _rectilinear_ring(coords: np.ndarray) -> np.ndarray | None:
    """Snap a ring (rotated so its dominant axis is x) to horizontal/vertical runs."""
    d = np.diff(coords, axis=0)
    lengths = np.hypot(d[:, 0], d[:, 1])
    keep = lengths > 0
    if keep.sum() < 4:
        return None
    starts, d, lengths = coords[:-1][keep], d[keep], lengths[keep]
    horizontal = np.abs(d[:, 0]) >= np.abs(d[:, 1])
    mids = starts + d / 2
    runs: list[list[float]] = []  # [is_horizontal, offset·length, length]
    for h, mid, ln in zip(horizontal.tolist(), mids, lengths.tolist(), strict=True):
        off = mid[1] if h else mid[0]
        if runs and bool(runs[-1][0]) == h:
            runs[-1][1] += off * ln
            runs[-1][2] += ln
        else:
            runs.append([float(h), off * ln, ln])
    if len(runs) > 1 and runs[0][0] == runs[-1][0]:
        first = runs.pop(0)
        runs[-1][1] += first[1]
        runs[-1][2] += first[2]
    if len(runs) < 4 or len(runs) % 2:
        return None
    offs = [(bool(r[0]), r[1] / r[2]) for r in runs]
    pts = []
    for (h1, o1), (_h2, o2) in zip(offs, offs[1:] + offs[:1], strict=True):
        pts.append((o2, o1) if h1 else (o1, o2))
    pts.append(pts[0])
    return np.asarray(pts)


def regularise(
    geom: BaseGeometry, *, px: float = 1.0, max_change: float = 0.1, max_offset_px: float = 3.0
) -> BaseGeometry:
    """Rectilinear outline of a building region (pixel units): see the module doc."""
    polys = [p for p in getattr(geom, "geoms", [geom]) if p.geom_type == "Polygon"]
    out = []
    for p in polys:
        simple = p.simplify(px, preserve_topology=True)
        if simple.is_empty or simple.area <= 0:
            continue
        theta = dominant_angle(simple)
        origin = simple.centroid
        rot = affinity.rotate(simple, -theta, origin=origin, use_radians=True)
        ring = _rectilinear_ring(np.asarray(rot.exterior.coords))
        holes = []
        for h in rot.interiors:
            hr = _rectilinear_ring(np.asarray(h.coords))
            if hr is not None:
                holes.append(hr)
        cand = None
        if ring is not None:
            cand = shapely.make_valid(Polygon(ring, holes))
            cand = _largest(cand)
        if cand is not None:
            cand = affinity.rotate(cand, theta, origin=origin, use_radians=True)
        if (
            cand is None
            or abs(cand.area - p.area) > max_change * p.area
            # same area but a different shape (a block bending at 45° snapped to one axis)
            or cand.symmetric_difference(shapely.make_valid(p)).area > 2 * max_change * p.area
            # or a corner shot past the building (runs intersected far from the outline)
            or shapely.hausdorff_distance(cand, p) > max_offset_px * px
        ):
            out.append(simple)
            continue
        out.append(cand)
    if not out:
        return geom
    return out[0] if len(out) == 1 else MultiPolygon(out)


def _largest(geom: BaseGeometry) -> Polygon | None:
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    polys += [
        q for g in getattr(geom, "geoms", [geom]) if g.geom_type == "MultiPolygon" for q in g.geoms
    ]
    return max(polys, key=lambda g: g.area) if polys else None


def shape_evidence(geom: BaseGeometry) -> dict[str, float]:
    """Compactness (4πA/P², 1 for a disc, 0.785 for a square) and rectangularity (area over
    the minimum rotated rectangle's)."""
    area, perim = geom.area, geom.length
    rect = shapely.minimum_rotated_rectangle(geom).area
    return {
        "compactness": round(4 * math.pi * area / perim**2, 3) if perim > 0 else 0.0,
        "rectangularity": round(area / rect, 3) if rect > 0 else 0.0,
    }


# --- confidence ------------------------------------------------------------------------------


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi`` (either order), linear between."""
    if hi == lo:
        return float(x >= hi)
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo))))


def building_confidence(ev: dict[str, float], min_height_m: float = 2.2) -> float:
    """0–1 confidence that a region is a new (or removed) building, from its evidence.

    Each cue is mapped to 0–1 on physical scales — height one to two storeys, roughness 0.1 to
    0.4 m, planarity 0.15 to 0.6 m, edge step a third to all of the height, area 10 to 100 m²,
    rectangularity 0.5 to 0.9 — and averaged with weights (roughness and planarity weigh most);
    vegetation colour (excess green above 0.05, NDVI above 0.2) scales the result down.
    """
    parts: list[tuple[float, float]] = []
    h = ev.get("height_gain_m")
    if h is not None:
        parts.append((1.0, _ramp(abs(h), min_height_m * 0.5, min_height_m * 2)))
    if "roughness_m" in ev:
        parts.append((2.0, _ramp(ev["roughness_m"], 0.4, 0.1)))
    if "planarity_rmse_m" in ev:
        parts.append((1.5, _ramp(ev["planarity_rmse_m"], 0.6, 0.15)))
    if "edge_step_m" in ev and h:
        parts.append((1.0, _ramp(ev["edge_step_m"] / abs(h), 0.33, 1.0)))
    if "area_m2" in ev:
        parts.append((0.5, _ramp(math.log10(max(ev["area_m2"], 1e-3)), 1.0, 2.0)))
    if "rectangularity" in ev:
        parts.append((1.0, _ramp(ev["rectangularity"], 0.5, 0.9)))
    if not parts:
        return 0.0
    conf = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
    if "exg" in ev:
        conf *= 1.0 - 0.8 * _ramp(ev["exg"], 0.05, 0.2)
    if "ndvi" in ev:
        conf *= 1.0 - 0.8 * _ramp(ev["ndvi"], 0.2, 0.5)
    return round(float(conf), 3)


# --- vertical offset -------------------------------------------------------------------------


def ground_dz_samples(
    dsm_before: np.ndarray,
    dsm_after: np.ndarray,
    valid: np.ndarray,
    gsd: float,
    *,
    rgb_after: np.ndarray | None = None,
    max_roughness_m: float = 0.15,
) -> np.ndarray:
    """after − before on pixels smooth on both dates and not vegetation (after colour).

    Smooth: within ``max_roughness_m`` of the mean of the ~1 m around (no curvature; a cheap
    test — one box filter a date — as it runs on whole sample windows)."""
    ok = valid & np.isfinite(dsm_before) & np.isfinite(dsm_after)
    if ok.sum() < 100:
        return np.zeros(0, np.float32)
    k = _odd(1.0 / gsd)
    smooth = ok.copy()
    for dsm in (dsm_before, dsm_after):
        z = np.where(ok, dsm - np.float32(dsm[ok].mean()), 0).astype(np.float32)
        smooth &= np.abs(z - ndi.uniform_filter(z, k, mode="nearest")) <= max_roughness_m
    ok &= ndi.binary_erosion(smooth, np.ones((3, 3), bool))
    if rgb_after is not None and rgb_after.shape[0] >= 3:
        from geo_enforce.detection.detectors import excess_green

        ok &= excess_green(rgb_after[:3].astype(np.float32)) <= 0.05
    return (dsm_after - dsm_before)[ok].astype(np.float32)


def vertical_offset(samples: np.ndarray, *, bin_m: float = 0.05, band_m: float = 0.5) -> float:
    """The unchanged majority's DSM difference: histogram mode, refined by the median of the
    samples within ±``band_m`` of it. 0 when there are too few samples."""
    s = samples[np.isfinite(samples)]
    if s.size < 50:
        return 0.0
    lo, hi = np.percentile(s, [0.5, 99.5])
    if hi - lo < bin_m:
        return float(np.median(s))
    nb = int(min(4000, math.ceil((hi - lo) / bin_m)))
    hist, edges = np.histogram(s, bins=nb, range=(lo, hi))
    hist = ndi.uniform_filter1d(hist.astype(float), 3)
    peak = int(np.argmax(hist))
    mode = 0.5 * (edges[peak] + edges[peak + 1])
    near = s[np.abs(s - mode) <= band_m]
    return float(np.median(near)) if near.size else float(mode)
