"""A village for offline use (离线村包): which tiles the served map needs there, and how big.

The squad chooses a village in the map's 离线 panel; the page asks the API for this plan, shows
the estimate in MB, and the service worker (``static/sw.js``) fetches and caches every tile it
names. The plan lists, for zooms 14–19 over the village's extent (its bounding box):

- the vector tiles of every ledger layer the page draws (:data:`builder.LAYER_ORDER`, from the
  layer's minimum zoom);
- the orthophoto tiles of the two latest flights whose footprint meets the village, at the
  zooms the page asks for them (a flight's tiles stop at its native zoom: Leaflet draws deeper
  zooms from those), inside the flight's extent;
- the before/after chips of the change patches inside the extent.

Tiles are given as XYZ ranges (the page writes out the URLs from the templates). The size
estimate is the tile count of each source and zoom times the mean size of up to
:data:`SAMPLES_PER_ZOOM` tiles of that source and zoom, rendered now (spread over the range,
empty tiles counted as they come). A plan over the limits (``map.offline_max_mb``,
``map.offline_max_tiles``) is refused: ``allowed`` false and a Chinese message saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from geo_enforce.tiles.mvt import MVT_LAYERS, render_mvt
from geo_enforce.tiles.ortho import FlightImage, render_ortho_tile
from geo_enforce.webmap.builder import LAYER_ORDER, MIN_ZOOM, MapRoutes, _native_zoom
from geo_enforce.webmap.data import Bounds, Village, find_village, load_villages, patch_chips

#: The zooms a village is kept at (the page still zooms deeper; offline it has these tiles).
MIN_PACK_ZOOM, MAX_PACK_ZOOM = 14, 19
#: Tiles rendered per source and zoom to measure the mean tile size.
SAMPLES_PER_ZOOM = 3
#: Flights kept per village: the latest ones meeting it (the swipe's before/after pair).
FLIGHTS_KEPT = 2
MB = 1024 * 1024


@dataclass(frozen=True)
class TileRange:
    """XYZ tiles ``x0..x1`` × ``y0..y1`` (inclusive) at zoom ``z``."""

    z: int
    x0: int
    x1: int
    y0: int
    y1: int

    @property
    def count(self) -> int:
        """How many tiles."""
        return (self.x1 - self.x0 + 1) * (self.y1 - self.y0 + 1)

    def spread(self, k: int) -> list[tuple[int, int]]:
        """Up to ``k`` tiles spread evenly over the range (row by row), first and last included."""
        n = self.count
        picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)}) if k > 1 and n > 1 else [0]
        width = self.x1 - self.x0 + 1
        return [(self.x0 + i % width, self.y0 + i // width) for i in picks]


def tile_range(bounds: Bounds, z: int) -> TileRange:
    """The XYZ tiles at zoom ``z`` meeting lon/lat ``bounds`` (spherical Web Mercator, as
    Leaflet and :func:`geo_enforce.tiles.mvt.tiles_covering` number them)."""
    west, south, east, north = bounds
    n = 1 << z

    def col(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        r = math.radians(max(-85.0511, min(85.0511, lat)))
        return min(n - 1, max(0, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

    return TileRange(z, col(west), col(east), row(north), row(south))


def _meet(a: Bounds, b: Bounds) -> Bounds | None:
    w, s, e, n = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None


@dataclass
class Source:
    """One tiled source of the pack: a vector layer or a flight's orthophoto."""

    kind: str  # vector | ortho
    name: str
    title: str
    template: str
    ranges: list[TileRange]
    #: zoom → measured mean bytes per tile
    mean_bytes: dict[int, float] = field(default_factory=dict)

    @property
    def tiles(self) -> int:
        """How many tiles of this source."""
        return sum(r.count for r in self.ranges)

    @property
    def bytes(self) -> float:
        """Estimated bytes: each zoom's tile count times its measured mean."""
        return sum(r.count * self.mean_bytes.get(r.z, 0.0) for r in self.ranges)

    def as_dict(self) -> dict[str, Any]:
        """The source as the page reads it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "title": self.title,
            "template": self.template,
            "ranges": [{**r.__dict__, "count": r.count} for r in self.ranges],
            "tiles": self.tiles,
            "bytes": round(self.bytes),
            "mean_bytes": {str(z): round(b) for z, b in sorted(self.mean_bytes.items())},
        }


@dataclass
class VillagePack:
    """What keeping one village offline takes, and whether the limits allow it."""

    village: Village
    sources: list[Source]
    chips: list[str]
    max_mb: int
    max_tiles: int

    @property
    def tiles(self) -> int:
        """Every tile and chip to fetch."""
        return sum(s.tiles for s in self.sources) + len(self.chips)

    @property
    def bytes(self) -> float:
        """Estimated bytes of every source (chips not counted: a few KB each)."""
        return sum(s.bytes for s in self.sources)

    @property
    def mb(self) -> float:
        """Estimated MB (MiB)."""
        return self.bytes / MB

    @property
    def allowed(self) -> bool:
        """Whether the pack fits the limits."""
        return self.tiles <= self.max_tiles and self.mb <= self.max_mb

    def message(self) -> str:
        """The estimate in Chinese, said before the download starts (or why it is refused)."""
        vec = [s for s in self.sources if s.kind == "vector"]
        ortho = [s for s in self.sources if s.kind == "ortho"]
        mean_kb = self.bytes / max(1, self.tiles) / 1024
        what = (
            f"{self.village.name}：z{MIN_PACK_ZOOM}–z{MAX_PACK_ZOOM} 瓦片 {self.tiles:,} 张"
            f"（矢量 {len(vec)} 层 {sum(s.tiles for s in vec):,} 张，"
            f"正射影像 {len(ortho)} 期 {sum(s.tiles for s in ortho):,} 张"
            + (f"，图斑影像 {len(self.chips)} 张" if self.chips else "")
            + f"），预计约 {self.mb:.1f} MB（按实测平均每张 {mean_kb:.1f} KB 估算）"
        )
        if self.allowed:
            return what + "。"
        over = []
        if self.mb > self.max_mb:
            over.append(f"{self.max_mb} MB")
        if self.tiles > self.max_tiles:
            over.append(f"{self.max_tiles:,} 张")
        return (
            what + f"，超过离线下载上限（{'、'.join(over)}），不能下载。"
            "请改用 geo-enforce map --village 导出离线图文件，或请管理员调整上限 "
            "(over the offline download limit)"
        )

    def as_dict(self) -> dict[str, Any]:
        """The plan as ``GET /map/offline-plan`` answers it."""
        v = self.village
        return {
            "village": {"code": v.code, "name": v.name, "bbox": list(v.bbox)},
            "zooms": [MIN_PACK_ZOOM, MAX_PACK_ZOOM],
            "sources": [s.as_dict() for s in self.sources],
            "chips": self.chips,
            "tiles": self.tiles,
            "bytes": round(self.bytes),
            "mb": round(self.mb, 2),
            "limits": {"mb": self.max_mb, "tiles": self.max_tiles},
            "allowed": self.allowed,
            "message": self.message(),
        }


def _flights_meeting(flights: list[FlightImage], bbox: Bounds) -> list[tuple[FlightImage, Bounds]]:
    met = [(f, b) for f in flights if (b := _meet(f.bounds, bbox)) is not None]
    met.sort(key=lambda fb: (fb[0].flown_on, fb[0].flight_id))
    return met[-FLIGHTS_KEPT:]


def plan_village(
    session: Session,
    key: str,
    *,
    flights: list[FlightImage],
    routes: MapRoutes,
    max_mb: int,
    max_tiles: int,
    measure: bool = True,
) -> VillagePack:
    """The pack of the village ``key`` (code or name; :class:`NotFound` listing the choices).

    ``flights``: the current flights with their files (as the page has them); ``measure``
    false skips rendering the samples (sizes 0), for counting only.
    """
    villages = [v for v in load_villages(session) if v.level in ("village", "community")]
    village = find_village(villages, key)
    bbox = village.bbox
    zooms = range(MIN_PACK_ZOOM, MAX_PACK_ZOOM + 1)
    sources: list[Source] = []
    for name, _shown in LAYER_ORDER:
        ranges = [tile_range(bbox, z) for z in zooms if z >= MIN_ZOOM.get(name, 0)]
        sources.append(
            Source(
                "vector",
                name,
                MVT_LAYERS.get(name, name),
                routes.tile.replace("{layer}", name),
                ranges,
            )
        )
    for f, inside in _flights_meeting(flights, bbox):
        native = _native_zoom(f.gsd_m)
        ortho_zooms = sorted({min(z, native) for z in zooms})
        sources.append(
            Source(
                "ortho",
                str(f.flight_id),
                f"正射影像 {f.flown_on.isoformat()}（{f.name}）",
                routes.ortho.replace("{flight}", str(f.flight_id)),
                [tile_range(inside, z) for z in ortho_zooms],
            )
        )
    chips = [
        routes.chip.replace("{id}", str(pid)).replace("{which}", which)
        for pid, which, _name in patch_chips(session, bbox)
    ]
    pack = VillagePack(village, sources, chips, max_mb, max_tiles)
    if measure:
        _measure(session, pack, {f.flight_id: f.path for f in flights})
    return pack


def _measure(session: Session, pack: VillagePack, paths: dict[int, Path]) -> None:
    """Render up to :data:`SAMPLES_PER_ZOOM` tiles per source and zoom; keep their mean size."""
    for src in pack.sources:
        for r in src.ranges:
            sizes = []
            for x, y in r.spread(SAMPLES_PER_ZOOM):
                if src.kind == "vector":
                    sizes.append(len(render_mvt(session, src.name, r.z, x, y)))
                else:
                    sizes.append(len(render_ortho_tile(paths[int(src.name)], r.z, x, y)))
            src.mean_bytes[r.z] = sum(sizes) / len(sizes)
    session.rollback()  # the samples only read
