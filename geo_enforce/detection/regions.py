"""Merging window fragments into change regions, cleaning and measuring them.

Fragments arrive in global pixel coordinates of the common grid (integer vertices), so pieces of
one region cut by a window edge share their edge exactly and are merged by union. Cleaning fills
small holes, drops regions under the minimum area and simplifies outlines to the GSD; each
region is then placed in the grid CRS and in CGCS2000 (EPSG:4490) and measured: area in m² and
mu (ellipsoidal when georeferenced, planar on a plain pixel grid), mean and extreme height change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo_enforce.detection.height import building_confidence, regularise
from geo_enforce.geometry.areas import ellipsoidal_area_m2, m2_to_mu
from geo_enforce.geometry.crs import transform_geometry
from geo_enforce.imagery.align import Grid


@dataclass
class ChangeRegion:
    """One cleaned change region. ``geom_px`` in grid pixels, ``geom`` in the grid CRS,
    ``geom_4490`` in CGCS2000 lon/lat (None on a plain pixel grid)."""

    kind: str  # "new" | "demolished"
    geom_px: BaseGeometry
    geom: BaseGeometry
    geom_4490: BaseGeometry | None
    area_m2: float
    pixels: float
    confidence: float
    height_gain_mean_m: float | None
    height_gain_max_m: float | None
    #: what the region rests on (keys of :data:`geo_enforce.detection.height.EVIDENCE_KEYS`,
    #: absent when unknown): height_gain_m, planarity_rmse_m, roughness_m, edge_step_m,
    #: area_m2, compactness, rectangularity, ndvi, exg
    evidence: dict[str, float] = field(default_factory=dict)

    @property
    def area_mu(self) -> float:
        """The region's area in 亩."""
        return m2_to_mu(self.area_m2)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.p = list(range(n))

    def find(self, i: int) -> int:
        while self.p[i] != i:
            self.p[i] = self.p[self.p[i]]
            i = self.p[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.p[max(ri, rj)] = min(ri, rj)


def merge_fragments(fragments: list[dict]) -> list[dict]:
    """Union fragments of the same kind that touch (across window edges); sum their stats."""
    out: list[dict] = []
    for kind in sorted({f["kind"] for f in fragments}):
        frs = [f for f in fragments if f["kind"] == kind]
        geoms = [shapely.from_wkb(f["wkb"]) for f in frs]
        uf = _UnionFind(len(frs))
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i < j:
                uf.union(i, j)
        groups: dict[int, list[int]] = {}
        for i in range(len(frs)):
            groups.setdefault(uf.find(i), []).append(i)
        for members in sorted(groups.values(), key=lambda m: m[0]):
            parts = [frs[i] for i in members]
            geom = (
                geoms[members[0]]
                if len(members) == 1
                else shapely.union_all([geoms[i] for i in members])
            )
            has_dh = parts[0]["dh_sum"] is not None
            out.append(
                {
                    "kind": kind,
                    "geom": geom,
                    "pixels": sum(p["pixels"] for p in parts),
                    "score_sum": sum(p["score_sum"] for p in parts),
                    "dh_sum": sum(p["dh_sum"] for p in parts) if has_dh else None,
                    "dh_ext": (
                        (max if kind == "new" else min)(p["dh_ext"] for p in parts)
                        if has_dh
                        else None
                    ),
                    "ev": _sum_evidence(parts),
                }
            )
    return out


def _sum_evidence(parts: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in parts:
        for key, v in p.get("ev", {}).items():
            out[key] = out.get(key, 0.0) + v
    return out


def region_evidence(m: dict, geom_px: BaseGeometry, area_m2: float) -> dict[str, float]:
    """Evidence of a merged region: summed maps averaged (over pixels or their ``_w`` weights),
    height gain, area and shape. Empty for regions without height evidence (colour only)."""
    from geo_enforce.detection.height import shape_evidence

    sums = m.get("ev") or {}
    if "roughness_m" not in sums:
        return {}
    pix = m["pixels"] or 1.0
    ev: dict[str, float] = {}
    if m.get("dh_sum") is not None:
        ev["height_gain_m"] = round(m["dh_sum"] / pix, 2)
    for key, total in sums.items():
        if key.endswith("_w"):
            continue
        w = sums.get(key + "_w", pix)
        if w > 0:
            ev[key] = round(total / w, 3)
    ev["area_m2"] = round(area_m2, 2)
    ev.update(shape_evidence(geom_px))
    return ev


#: Colour-only regions get at most this confidence (their 0–1 colour score times it).
COLOUR_ONLY_CONFIDENCE = 0.4


def colour_evidence(m: dict, geom_px: BaseGeometry, area_m2: float) -> dict[str, float]:
    """Evidence of a region found by colour alone (the colour detector's maps averaged over
    its pixels: colour_change, exg, shadow, colour_only), its area and shape; empty otherwise."""
    from geo_enforce.detection.height import shape_evidence

    sums = m.get("ev") or {}
    if "colour_only" not in sums:
        return {}
    pix = m["pixels"] or 1.0
    ev = {key: round(total / pix, 3) for key, total in sums.items() if not key.endswith("_w")}
    ev["colour_only"] = 1.0
    ev["area_m2"] = round(area_m2, 2)
    ev.update(shape_evidence(geom_px))
    return ev


def fill_small_holes(geom: BaseGeometry, max_hole_px: float) -> BaseGeometry:
    """``geom`` with holes smaller than ``max_hole_px`` (in pixels²) filled."""
    polys = []
    for p in getattr(geom, "geoms", [geom]):
        if p.geom_type != "Polygon":
            continue
        holes = [h for h in p.interiors if Polygon(h).area > max_hole_px]
        polys.append(Polygon(p.exterior, holes))
    return MultiPolygon(polys) if len(polys) != 1 else polys[0]


def clean_regions(
    merged: list[dict],
    grid: Grid,
    *,
    min_area_m2: float = 10.0,
    simplify_px: float = 1.0,
    max_hole_m2: float | None = None,
) -> list[ChangeRegion]:
    """Fill holes, drop small regions, simplify to the GSD, place and measure each region."""
    gsd = grid.gsd
    px_area = gsd * gsd
    max_hole_px = (max_hole_m2 if max_hole_m2 is not None else 4 * min_area_m2) / px_area
    t = grid.affine
    matrix = [t.a, t.b, t.d, t.e, t.c, t.f]
    crs = grid.crs
    regions = []
    for m in merged:
        geom = fill_small_holes(m["geom"], max_hole_px)
        if geom.area * px_area < min_area_m2:
            continue
        building = "roughness_m" in (m.get("ev") or {})
        if building:  # a building's outline: rectilinear, as the report's areas need
            # no point of it more than 1 m (and 3 px) off the raster outline
            off_px = max(3.0, 1.0 / gsd) / simplify_px if simplify_px > 0 else 3.0
            geom = shapely.make_valid(regularise(geom, px=simplify_px, max_offset_px=off_px))
        else:
            geom = shapely.make_valid(geom.simplify(simplify_px, preserve_topology=True))
        geom = _polygonal(geom)
        if geom is None or geom.area * px_area < min_area_m2:
            continue
        in_crs = affinity.affine_transform(geom, matrix)
        g4490 = None
        if crs is not None:
            g4490 = _polygonal(shapely.make_valid(transform_geometry(in_crs, crs, 4490)))
            area = ellipsoidal_area_m2(g4490) if g4490 is not None else 0.0
        else:
            area = geom.area * px_area
        pix = m["pixels"]
        evidence = region_evidence(m, geom, area) if building else colour_evidence(m, geom, area)
        confidence = round(m["score_sum"] / pix, 3) if pix else 0.0
        if building and evidence:
            confidence = building_confidence(evidence)
        elif evidence.get("colour_only"):
            # colour alone is weak evidence (light, season, soil): never above 0.4
            confidence = round(COLOUR_ONLY_CONFIDENCE * confidence, 3)
        regions.append(
            ChangeRegion(
                kind=m["kind"],
                geom_px=geom,
                geom=in_crs,
                geom_4490=g4490,
                area_m2=area,
                pixels=pix,
                confidence=confidence,
                height_gain_mean_m=round(m["dh_sum"] / pix, 2) if m["dh_sum"] is not None else None,
                height_gain_max_m=round(m["dh_ext"], 2) if m["dh_ext"] is not None else None,
                evidence=evidence,
            )
        )
    regions.sort(key=lambda r: (-r.area_m2, r.geom_px.bounds))
    return regions


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    polys = [
        g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty
    ]
    polys += [
        p for g in getattr(geom, "geoms", [geom]) if g.geom_type == "MultiPolygon" for p in g.geoms
    ]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)
