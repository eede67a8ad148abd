"""Pluggable change detectors: a class called on a pair of aligned windows, returning a value.

A detector receives a :class:`WindowPair` (before/after RGB already on one grid, the after image
radiometrically normalised to the before one, optional DSMs with the vertical offset removed,
a validity mask and the GSD in metres) and returns a :class:`ChangeResult` (a gain mask of new
or higher objects, a loss mask of removed ones, a 0–1 score, the height change). The windowed
runner handles reading, overlap, Dask and merging; a learned model only has to implement
``__call__``. Detectors must be picklable (they travel to dask.distributed workers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import ndimage as ndi

from geo_enforce.errors import InvalidInput


class WindowPair:
    """Two aligned windows of the common grid, as a detector sees them.

    ``before`` and ``after`` are float32 (bands, rows, cols) in the images' DN (0–255 or
    0–65535), the after image already radiometrically normalised to the before one; ``valid``
    is the pixels both flights cover; DSMs (rows, cols, metres) have the vertical offset removed.

    The runner passes the images as read (uint8 for most orthophotos) with the per-band
    ``radiometry`` (gain, offset) of the after image: the float32 arrays are made on first use,
    and :meth:`crop` and :meth:`pixels` convert only the part a detector looks at (a DSM-led
    detector needs the colours around height changes only, not of the whole window).
    """

    def __init__(
        self,
        before: np.ndarray,
        after: np.ndarray,
        valid: np.ndarray,
        gsd_m: float,
        dsm_before: np.ndarray | None = None,
        dsm_after: np.ndarray | None = None,
        radiometry: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self.before_dn = before
        self.after_dn = after
        self.valid = valid
        self.gsd_m = gsd_m
        self.dsm_before = dsm_before
        self.dsm_after = dsm_after
        self.radiometry = tuple(radiometry)

    @property
    def has_dsm(self) -> bool:
        """Whether both windows carry a DSM band."""
        return self.dsm_before is not None and self.dsm_after is not None

    @cached_property
    def before(self) -> np.ndarray:
        """The before window's colour bands."""
        return self.before_dn.astype(np.float32, copy=False)

    @cached_property
    def after(self) -> np.ndarray:
        """The after window's colour bands."""
        return self._corrected(self.after_dn)

    def _corrected(self, dn: np.ndarray) -> np.ndarray:
        """float32 copy of after-image DN with the per-band (gain, offset) applied."""
        out = dn.astype(np.float32, copy=bool(self.radiometry))
        for k, (g, o) in enumerate(self.radiometry[: out.shape[0]]):
            band = out[k]
            band *= np.float32(g)
            band += np.float32(o)
        return out

    def pixels(self, which: str, index: tuple[np.ndarray, ...]) -> np.ndarray:
        """float32 (bands, n) values of ``before`` or ``after`` at the (rows, cols) ``index``."""
        if which == "before":
            return self.before_dn[:, index[0], index[1]].astype(np.float32)
        return self._corrected(self.after_dn[:, index[0], index[1]])

    def arrays(self) -> tuple[np.ndarray | None, ...]:
        """The window's arrays as held: (before DN, after DN, valid, DSM before, DSM after)."""
        return (self.before_dn, self.after_dn, self.valid, self.dsm_before, self.dsm_after)

    @classmethod
    def from_arrays(cls, arrays, gsd_m: float, radiometry=()) -> WindowPair:
        """A pair from arrays in the order of :meth:`arrays`."""
        before, after, valid, dsm_before, dsm_after = arrays
        return cls(before, after, valid, gsd_m, dsm_before, dsm_after, radiometry)

    def map(self, fn) -> WindowPair:
        """A pair of ``fn`` applied to each array (rows and columns are the last two axes)."""
        arrays = [None if a is None else fn(a) for a in self.arrays()]
        return WindowPair.from_arrays(arrays, self.gsd_m, self.radiometry)

    def crop(self, box: tuple[slice, slice]) -> WindowPair:
        """The pair restricted to ``box`` (row and column slices): views, converted lazily."""
        rows, cols = box
        return self.map(lambda a: a[..., rows, cols])


@dataclass
class ChangeResult:
    """Per-pixel outcome for one window: masks (bool), score 0–1, height change (m or None).

    ``evidence`` holds per-pixel maps (float32, window-shaped) that the runner sums over each
    region: a key is averaged over the region's pixels, or over the weights in ``key + "_w"``
    when that map exists (see :mod:`geo_enforce.detection.height`). ``barrier`` marks pixels
    the height analysis rejected (canopy, the gap between two objects): nothing may add them.
    """

    gain: np.ndarray
    loss: np.ndarray
    score: np.ndarray
    height_change: np.ndarray | None = None
    evidence: dict[str, np.ndarray] = field(default_factory=dict)
    barrier: np.ndarray | None = None


class Detector(ABC):
    """Base class. Subclasses set ``name`` and implement ``__call__``.

    ``halo_px`` is the context the detector needs around each window (filters, morphology);
    the runner reads that much overlap and discards it afterwards.
    """

    name = "base"
    needs_dsm = False
    halo_px = 16

    @abstractmethod
    def __call__(self, pair: WindowPair) -> ChangeResult:
        """Changed pixels of ``pair`` (same shape as its windows)."""

    def context_px(self, gsd_m: float) -> int:
        """Context in pixels the detector needs at ``gsd_m`` (default ``halo_px``)."""
        return self.halo_px

    def params(self) -> dict:
        """The detector's parameters, as recorded with a run."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def excess_green(rgb: np.ndarray) -> np.ndarray:
    """Normalised excess green (2g − r − b) of chromatic coordinates; > ~0.05 is vegetation."""
    s = rgb[:3].sum(axis=0) + 1e-3
    r, g, b = rgb[0] / s, rgb[1] / s, rgb[2] / s
    return 2 * g - r - b


def bare_soil(rgb: np.ndarray) -> np.ndarray:
    """Brownish, moderately saturated pixels (soil, stubble): red ≥ green ≥ blue, red − blue
    over 20 DN, saturation 0.15–0.5. Grey and white roofs are too unsaturated, tiles too red."""
    r, g, b = rgb[0], rgb[1], rgb[2]
    sat = (r - b) / np.maximum(r, 1.0)
    return (r >= g) & (g >= b) & (r - b > 20) & (sat > 0.15) & (sat < 0.5)


def _disk(radius: int) -> np.ndarray:
    r = max(1, radius)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def _bbox(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
        slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)),
    )


def _boxes(mask: np.ndarray, margin: int) -> list[tuple[slice, slice]]:
    """Padded bounding boxes of the connected parts of ``mask``, overlapping boxes merged."""
    labels, n = ndi.label(mask)
    if n == 0:
        return []
    rows, cols = mask.shape
    boxes = [
        [
            max(0, r.start - margin),
            min(rows, r.stop + margin),
            max(0, c.start - margin),
            min(cols, c.stop + margin),
        ]
        for r, c in ndi.find_objects(labels)
    ]
    merged = True
    while merged:
        merged = False
        out: list[list[int]] = []
        for b in boxes:
            for o in out:
                if b[0] < o[1] and o[0] < b[1] and b[2] < o[3] and o[2] < b[3]:
                    o[0], o[1] = min(o[0], b[0]), max(o[1], b[1])
                    o[2], o[3] = min(o[2], b[2]), max(o[3], b[3])
                    merged = True
                    break
            else:
                out.append(list(b))
        boxes = out
    return [(slice(b[0], b[1]), slice(b[2], b[3])) for b in boxes]


def clean_mask(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Opening then closing with a disk: drops slivers along edges, closes small gaps.

    Works on the bounding box of the set pixels only (change is sparse), so the cost follows
    the amount of change rather than the window size.
    """
    if radius_px < 1 or not mask.any():
        return mask
    se = _disk(radius_px)
    out = np.zeros_like(mask)
    for box in _boxes(mask, 2 * radius_px + 1):
        out[box] |= ndi.binary_closing(ndi.binary_opening(mask[box], se), se)
    return out


class RgbChangeDetector(Detector):
    """Colour change for pairs without DSMs, calibrated so an unchanged pair marks almost nothing.

    Four cues, each divided by the size of a clear change so that they add up in one unit:
    the change-vector magnitude of the smoothed images (``cva_dn`` DN of 8-bit imagery), the
    change of chromaticity (insensitive to brightness, hence to most light changes;
    ``chroma_dn``), and two illumination-invariant structure cues on the grey image: the
    contrast-structure term of SSIM (1 − local correlation; ``structure``) and the normalised
    change of the gradient vector (``gradient``). Pixels that are vegetation on both dates
    (growth, season, crops) or dark on one date only with unchanged chromaticity (shadow) count
    ``damp`` of their score. The score is then averaged over ``context_m`` (regions change, not
    pixels: a roof, a yard, a field) and a region is change where the average exceeds
    ``threshold`` (1 = every cue at its "clear change" size). Because the cues are in physical
    units rather than ranked within the image (no Otsu), an unchanged, re-lit or slightly
    misregistered pair stays under the threshold almost everywhere.

    The result carries per-pixel ``evidence`` (averaged per region by the runner):
    ``colour_change`` (the averaged score / threshold), each cue (``cva_dn``, ``chroma_change``,
    ``structure_change``, ``gradient_change``, ``brightness_change``), ``exg`` (excess green
    after) and ``exg_before``, ``shadow`` (share of shadow pixels) and ``colour_only`` (1: no
    height evidence behind the region). The learned ranker (:mod:`.learn`) uses them.
    """

    name = "rgb"

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        smooth_m: float = 0.5,
        context_m: float = 2.0,
        veg_exg: float = 0.06,
        damp: float = 0.3,
        season: float = 1.0,
        min_width_m: float = 1.0,
        cva_dn: float = 30.0,
        chroma_dn: float = 20.0,
        structure: float = 0.5,
        gradient: float = 0.5,
    ) -> None:
        self.threshold = threshold
        self.smooth_m = smooth_m
        self.context_m = context_m
        self.veg_exg = veg_exg
        self.damp = damp
        self.season = season
        self.min_width_m = min_width_m
        self.cva_dn = cva_dn
        self.chroma_dn = chroma_dn
        self.structure = structure
        self.gradient = gradient

    def context_px(self, gsd_m: float) -> int:
        """Pixels of context the detector needs around a window at ``gsd_m`` metres."""
        # the averaging reaches about 1.5 × context; beyond 128 px the edge effect is small
        return int(min(128, max(self.halo_px, np.ceil(1.5 * self.context_m / gsd_m))))

    def cues(self, pair: WindowPair) -> dict[str, np.ndarray]:
        """Per-pixel cues of the pair (8-bit scale): cva, chroma, structure, gradient, exg
        before/after and brightness before/after, on the smoothed images."""
        sigma = max(0.7, self.smooth_m / pair.gsd_m)
        top = float(np.nanmax(pair.before[:3])) if pair.before.size else 255.0
        scale = np.float32(255.0 / max(255.0, top))
        b = np.stack([_blur(c * scale, sigma) for c in pair.before[:3]])
        a = np.stack([_blur(c * scale, sigma) for c in pair.after[:3]])
        cva = np.sqrt(((a - b) ** 2).mean(axis=0))
        sb = b.sum(axis=0) + 1.0
        sa = a.sum(axis=0) + 1.0
        chroma = np.sqrt((((a / sa) - (b / sb)) ** 2).sum(axis=0)) * 255.0 * 2.0
        gb, ga = sb / 3.0, sa / 3.0
        w = max(1.5, 1.5 / pair.gsd_m)
        mb, ma = _blur(gb, w), _blur(ga, w)
        vb = np.maximum(_blur(gb * gb, w) - mb * mb, 0)
        va = np.maximum(_blur(ga * ga, w) - ma * ma, 0)
        cov = _blur(ga * gb, w) - ma * mb
        c2 = np.float32((0.06 * 255) ** 2)
        structure = 1.0 - (2 * cov + c2) / (va + vb + c2)
        gxb, gyb = ndi.sobel(gb, 1), ndi.sobel(gb, 0)
        gxa, gya = ndi.sobel(ga, 1), ndi.sobel(ga, 0)
        num = np.hypot(gxa - gxb, gya - gyb)
        den = np.hypot(gxa, gya) + np.hypot(gxb, gyb) + 40.0
        gradient = _blur(num / den, w)
        return {
            "cva": cva,
            "chroma": chroma,
            "structure": structure,
            "gradient": gradient,
            "exg_before": excess_green(b),
            "exg_after": excess_green(a),
            "soil_before": bare_soil(b),
            "soil_after": bare_soil(a),
            "bright_before": gb,
            "bright_after": ga,
        }

    def score(self, pair: WindowPair) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(context-averaged score in units of the threshold's scale, shadow mask, cues)."""
        c = self.cues(pair)
        s = (
            c["cva"] / self.cva_dn
            + c["chroma"] / self.chroma_dn
            + c["structure"] / self.structure
            + c["gradient"] / self.gradient
        ) / 4.0
        valid = pair.valid
        green_b, green_a = c["exg_before"] > self.veg_exg, c["exg_after"] > self.veg_exg
        veg = green_b & green_a
        if self.season:
            # vegetation and bare soil or stubble in turn: a crop season, not a building
            veg |= (green_b & c["soil_after"]) | (c["soil_before"] & green_a)
        bb, ba = c["bright_before"], c["bright_after"]
        med = float(np.median(np.concatenate([bb[valid], ba[valid]]))) if valid.any() else 128.0
        shadow = ((bb < 0.6 * med) ^ (ba < 0.6 * med)) & (c["chroma"] < 0.75 * self.chroma_dn)
        s = np.where(veg | shadow, s * self.damp, s)
        s = np.where(valid, s, 0.0)
        # average over the context, compensating for invalid pixels near nodata edges
        sigma = self.context_m / pair.gsd_m
        weight = _blur(valid.astype(np.float32), sigma)
        s = _blur(s.astype(np.float32), sigma) / np.maximum(weight, 1e-3)
        return s.astype(np.float32), shadow, c

    def __call__(self, pair: WindowPair) -> ChangeResult:
        """Detect the changes between the two windows of ``pair``."""
        s, shadow, c = self.score(pair)
        t = self.threshold
        mask = (s > t) & pair.valid
        mask = clean_mask(mask, round(self.min_width_m / pair.gsd_m / 2))
        norm = np.clip(s / (2 * t), 0, 1).astype(np.float32)
        f32 = np.float32
        evidence = {
            "colour_change": (s / t).astype(f32),
            "cva_dn": c["cva"].astype(f32),
            "chroma_change": c["chroma"].astype(f32),
            "structure_change": c["structure"].astype(f32),
            "gradient_change": c["gradient"].astype(f32),
            "brightness_change": (c["bright_after"] - c["bright_before"]).astype(f32),
            "exg": c["exg_after"].astype(f32),
            "exg_before": c["exg_before"].astype(f32),
            "shadow": shadow.astype(f32),
            "colour_only": np.ones(s.shape, f32),
        }
        return ChangeResult(gain=mask, loss=np.zeros_like(mask), score=norm, evidence=evidence)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; for wide kernels three box filters (same variance), whose cost does not
    grow with the width (drone GSD makes metre-scale kernels hundreds of pixels wide)."""
    x = x.astype(np.float32, copy=False)
    if sigma < 4:
        return ndi.gaussian_filter(x, sigma)
    size = max(1, round(float(np.sqrt(4.0 * sigma * sigma + 1.0))))  # 3 boxes: var = (s²−1)/4
    for _ in range(3):
        x = ndi.uniform_filter(x, size)
    return x


class DsmHeightDetector(Detector):
    """New (or higher) and removed buildings from two DSMs: height change of a storey whose
    surface is made of roof planes, not canopy (:mod:`geo_enforce.detection.height`).

    ``min_height_m`` (default 2.2 m, one storey) is the smallest change kept for a building;
    free-standing low structures (steel sheds, carports) count from ``shed_height_m`` (1.8 m,
    head height) when planar, at least 2.5 m across and rectangular. Candidates are
    split into building parts by roughness (trees are rough, roofs planar), joined or kept
    apart by the step and contact between them, and carry their evidence (roughness,
    planarity, edge step, colour when the orthophoto has it). Vegetation colour (excess green,
    NDVI on 4-band images) removes candidates: trees growing (gain, after image) or cut (loss,
    before image).
    """

    name = "dsm"
    needs_dsm = True

    def __init__(
        self,
        *,
        min_height_m: float = 2.2,
        veg_exg: float = 0.15,
        max_roughness_m: float = 0.25,
        split_contact: float = 0.2,
        bridge_m: float = 1.0,
        shed_height_m: float = 1.8,
    ) -> None:
        self.bridge_m = bridge_m
        self.shed_height_m = shed_height_m
        self.min_height_m = min_height_m
        self.veg_exg = veg_exg
        self.max_roughness_m = max_roughness_m
        self.split_contact = split_contact

    def context_px(self, gsd_m: float) -> int:
        """Pixels of context the height cues need at ``gsd_m`` (their widest filter)."""
        from geo_enforce.detection.height import context_px

        return max(self.halo_px, context_px(gsd_m, self.cues()))

    def cues(self):
        """The cues this detector combines."""
        from geo_enforce.detection.height import HeightCues

        return HeightCues(
            min_height_m=self.min_height_m,
            veg_exg=self.veg_exg,
            max_roughness_m=self.max_roughness_m,
            split_contact=self.split_contact,
            bridge_m=self.bridge_m,
            shed_height_m=self.shed_height_m,
        )

    def __call__(self, pair: WindowPair) -> ChangeResult:
        """Detect the changes between the two windows of ``pair``."""
        from geo_enforce.detection.height import context_px, segment_buildings, vegetation

        if not pair.has_dsm:
            raise InvalidInput(
                "the DSM detector needs a DSM for both flights "
                "(--dsm-before and --dsm-after in pair mode, --dsm when a flight is added)"
            )
        assert pair.dsm_before is not None and pair.dsm_after is not None
        cues = self.cues()
        dh = pair.dsm_after - pair.dsm_before  # a new array: changed in place below
        valid = pair.valid & np.isfinite(dh)
        dh = dh.astype(np.float32, copy=False)
        np.copyto(dh, np.float32(0), where=~valid)
        shape = dh.shape
        gain = np.zeros(shape, bool)
        loss = np.zeros(shape, bool)
        barrier = np.zeros(shape, bool)
        # np.zeros is lazily allocated: pages never written (no change there) cost no memory
        evidence: dict[str, np.ndarray] = {}
        margin = context_px(pair.gsd_m, cues)
        h = np.float32(self.min_height_m)
        h_low = np.float32(min(self.shed_height_m, self.min_height_m))  # low structures
        for out, sign, which, surface in (
            (gain, 1.0, "after", pair.dsm_after),
            (loss, -1.0, "before", pair.dsm_before),
        ):
            # invalid pixels hold dh = 0: never a candidate
            cand = dh >= h_low if sign > 0 else dh <= -h_low
            if not cand.any():
                continue
            # everything below works on the boxes around the candidates: cost follows change
            for box in _boxes(cand, margin):
                up = dh[box] if sign > 0 else -dh[box]
                low = up >= h / 2
                sub = cand[box]
                # trees growing or cut are not buildings: colour of the raised pixels only
                idx = np.nonzero(low)
                gidx = (idx[0] + box[0].start, idx[1] + box[1].start)
                pix = pair.pixels(which, gidx)
                veg, ndvi = vegetation(pix, cues)
                colour = {}
                for key, values in (("exg", excess_green(pix[:3])), ("ndvi", ndvi)):
                    if values is not None:
                        colour[key] = np.zeros(up.shape, np.float32)
                        colour[key][idx] = values
                low[idx] = ~veg
                sub &= low
                storey = sub & (up >= h)
                barrier[gidx] |= veg
                labels, ev = segment_buildings(
                    surface[box], up, storey, pair.gsd_m, cues, low=low, shed=sub
                )
                on = labels > 0
                out[box] |= on
                barrier[box] |= storey & ~on
                # written on the objects' pixels only, in float16 (three significant digits
                # are plenty for evidence): few memory pages are ever touched
                for key, m in {**ev, **colour}.items():
                    if key not in evidence:
                        evidence[key] = np.zeros(shape, np.float16)
                    evidence[key][box][on] = m[on]
        score = np.abs(dh)
        score /= np.float32(2 * self.min_height_m)
        np.clip(score, 0, 1, out=score)
        return ChangeResult(
            gain=gain, loss=loss, score=score, height_change=dh, evidence=evidence, barrier=barrier
        )


class CombinedDetector(Detector):
    """DSM height change where both DSMs exist, RGB change otherwise and in addition.

    With DSMs, a region is change when the height changes by a storey and its surface is a
    building's (:class:`DsmHeightDetector`); the colour change raises its score (and catches flat
    new structures such as walls when ``rgb_adds`` is on and the height gain is at least half a
    storey, never on pixels the height analysis rejected as canopy or as the gap between two
    objects). Without DSMs, the RGB detector decides alone.
    """

    name = "combined"

    def __init__(
        self,
        *,
        dsm: DsmHeightDetector | None = None,
        rgb: RgbChangeDetector | None = None,
        rgb_adds: bool = True,
    ) -> None:
        self.dsm = dsm or DsmHeightDetector()
        self.rgb = rgb or RgbChangeDetector()
        self.rgb_adds = rgb_adds
        self.halo_px = max(self.dsm.halo_px, self.rgb.halo_px)

    def params(self) -> dict:
        """The detector's parameters, as recorded with a run."""
        return {"dsm": self.dsm.params(), "rgb": self.rgb.params(), "rgb_adds": self.rgb_adds}

    def context_px(self, gsd_m: float) -> int:
        """The wider of the two detectors' context at ``gsd_m``."""
        rgb = getattr(self.rgb, "context_px", None)
        return max(self.dsm.context_px(gsd_m), rgb(gsd_m) if rgb else self.rgb.halo_px)

    def __call__(self, pair: WindowPair) -> ChangeResult:
        """Detect the changes between the two windows of ``pair``."""
        if not pair.has_dsm:
            return self.rgb(pair)
        height = self.dsm(pair)
        dh = height.height_change
        assert dh is not None
        half = dh >= self.dsm.min_height_m / 2
        if height.barrier is not None:
            half &= ~height.barrier
        gain = height.gain  # the DSM result is ours: added to in place
        score = height.score
        # colour only where the height rose at least half a storey and the height analysis
        # found no building (buildings take their confidence from their own evidence): the
        # cost follows that remainder, not all of the change
        half &= ~gain
        # what the colour detector's cleaning would drop anyway (thinner than its minimum
        # width, e.g. the transition ring along every wall) needs no colour
        r = max(1, round(self.rgb.min_width_m / pair.gsd_m / 2))
        seeds = ndi.binary_erosion(half, np.ones((2 * r + 1, 2 * r + 1), bool))
        for box in _boxes(seeds, 2 * self.rgb.halo_px + r):
            sub = pair.crop(box)
            sub.dsm_before = sub.dsm_after = None  # the colour detector on its own
            colour = self.rgb(sub)
            if self.rgb_adds:
                gain[box] |= colour.gain & half[box]
            score[box] = np.maximum(score[box], 0.5 * score[box] + 0.5 * colour.score)
        return ChangeResult(
            gain=gain,
            loss=height.loss,
            score=score,
            height_change=dh,
            evidence=height.evidence,
            barrier=height.barrier,
        )


class RegionalChangeDetector(Detector):
    """Land-cover change in coarse imagery (satellite, 0.5–2 m), unsupervised.

    Per window: the after image is matched to the before one (per-band mean and spread), then
    three differences are combined, each scaled by its own spread: CIELAB colour of the lightly
    smoothed images, local texture (standard deviation in 7 × 7 pixels) and edge density.
    The sum is averaged over ``context_m`` (regions, not pixels, change) and thresholded at
    ``otsu_factor`` × Otsu's threshold of the window. No vegetation or shadow suppression: on
    such imagery every land-cover change counts.
    """

    name = "regional"
    halo_px = 48

    def __init__(
        self,
        *,
        context_m: float = 8.0,
        smooth_m: float = 1.5,
        texture_weight: float = 0.5,
        edge_weight: float = 1.0,
        otsu_factor: float = 0.75,
    ) -> None:
        self.context_m = context_m
        self.smooth_m = smooth_m
        self.texture_weight = texture_weight
        self.edge_weight = edge_weight
        self.otsu_factor = otsu_factor

    def __call__(self, pair: WindowPair) -> ChangeResult:
        """Detect the changes between the two windows of ``pair``."""
        from skimage.color import rgb2lab

        valid = pair.valid
        b = pair.before[:3].astype(np.float64)
        a = pair.after[:3].astype(np.float64)
        top = max(255.0, float(b.max()) if b.size else 255.0)
        b, a = b * (255.0 / top), a * (255.0 / top)
        if valid.sum() > 16:
            for k in range(3):
                mb, sb = b[k][valid].mean(), b[k][valid].std() + 1e-6
                ma, sa = a[k][valid].mean(), a[k][valid].std() + 1e-6
                a[k] = (a[k] - ma) / sa * sb + mb
        a = np.clip(a, 0, 255)
        s1 = max(0.5, self.smooth_m / pair.gsd_m)
        bs = np.stack([ndi.gaussian_filter(c, s1) for c in b], axis=-1) / 255.0
        as_ = np.stack([ndi.gaussian_filter(c, s1) for c in a], axis=-1) / 255.0
        colour = np.sqrt(((rgb2lab(bs) - rgb2lab(as_)) ** 2).sum(axis=-1))
        gb, ga = b.mean(axis=0), a.mean(axis=0)
        texture = np.abs(_local_std(gb, 7) - _local_std(ga, 7))
        texture = ndi.gaussian_filter(texture, 2.0)
        eb = ndi.gaussian_filter(ndi.gaussian_gradient_magnitude(gb, 1.5), 4.0)
        ea = ndi.gaussian_filter(ndi.gaussian_gradient_magnitude(ga, 1.5), 4.0)
        edges = np.abs(eb - ea)
        score = (
            _spread(colour, valid)
            + self.texture_weight * _spread(texture, valid)
            + self.edge_weight * _spread(edges, valid)
        )
        score = ndi.gaussian_filter(np.where(valid, score, 0.0), self.context_m / pair.gsd_m)
        t = _otsu(score[valid], default=float("inf")) * self.otsu_factor
        mask = (score > t) & valid
        norm = np.clip(score / (2 * t), 0, 1) if np.isfinite(t) and t > 0 else score * 0
        return ChangeResult(gain=mask, loss=np.zeros_like(mask), score=norm.astype(np.float32))


def _local_std(x: np.ndarray, size: int) -> np.ndarray:
    m = ndi.uniform_filter(x, size)
    return np.sqrt(np.maximum(ndi.uniform_filter(x * x, size) - m * m, 0.0))


def _spread(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``x`` centred on its median and scaled by its 90th-percentile spread over valid pixels."""
    v = x[valid] if valid.any() else x.ravel()
    med = float(np.median(v))
    return (x - med) / (float(np.percentile(v, 90)) - med + 1e-6)


def _otsu(values: np.ndarray, default: float) -> float:
    if values.size < 100 or np.ptp(values) < 1e-6:
        return default
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values))


DETECTORS: dict[str, type[Detector]] = {
    "combined": CombinedDetector,
    "dsm": DsmHeightDetector,
    "rgb": RgbChangeDetector,
    "regional": RegionalChangeDetector,
}


def make_detector(name: str = "combined", **params) -> Detector:
    """A detector by name (``combined``, ``dsm``, ``rgb``, ``regional``) with keyword parameters."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}"
        ) from None
    return cls(**params)
