"""Entry points: the served page's HTML and the self-contained offline export.

``served_map_html`` is what ``GET /map`` returns; ``export_offline_map`` writes one HTML file
that carries a bounded extract of the ledger (vector tiles over the township or one village, up
to ``max_zoom``), downsampled orthophotos and evidence chips, and every script and stylesheet,
so it opens from ``file://`` on a tablet with no network. ``write_sample_map`` is the demo's.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.errors import GeoEnforceError, TooLarge
from geo_enforce.settings import MapSettings
from geo_enforce.tiles.mvt import MVT_LAYERS, render_mvt, tiles_covering
from geo_enforce.tiles.ortho import ortho_overview
from geo_enforce.webmap.builder import MIN_ZOOM, MapRoutes, OfflineData, build_map, render_html
from geo_enforce.webmap.data import (
    load_context,
    patch_chips,
    resolve_chip,
    search_index,
)
from geo_enforce.webmap.styles import default_catalogue_path, load_styles

log = logging.getLogger(__name__)

#: (done, total, what) progress callback
Progress = Callable[[int, int, str], None]


def served_map_html(
    session: Session,
    *,
    village: str | None = None,
    data_dir: Path | None = None,
    map_settings: MapSettings | None = None,
    catalogue: Path | None = None,
    routes: MapRoutes,
) -> str:
    """HTML of the map page served by the API: tiles, chips and search fetched at ``routes``."""
    ctx = load_context(session, village=village, data_dir=data_dir)
    styles = load_styles(catalogue or default_catalogue_path())
    return render_html(build_map(ctx, styles, map_settings=map_settings, routes=routes))


def _data_uri(path: Path, mime: str | None = None) -> str:
    if mime is None:
        mime = {".png": "image/png", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def offline_data(
    session: Session,
    bounds: tuple[float, float, float, float],
    flights,
    *,
    data_dir: Path | None,
    min_zoom: int = 10,
    max_zoom: int = 16,
    max_tiles: int = 6000,
    overview_size: int = 1600,
    progress: Progress | None = None,
) -> OfflineData:
    """Vector tiles, orthophoto overviews, search index and chips for ``bounds`` (lon/lat)."""
    jobs: list[tuple[str, tuple[int, int, int]]] = []
    for z in range(min_zoom, max_zoom + 1):
        for layer in MVT_LAYERS:
            if z >= MIN_ZOOM.get(layer, 0):
                jobs.extend((layer, t) for t in tiles_covering(bounds, z))
    if len(jobs) > max_tiles:
        raise TooLarge(
            f"the offline extract would hold {len(jobs)} vector tiles (limit {max_tiles}): "
            "export one village (--village) or lower --max-zoom"
        )
    data = OfflineData(max_zoom=max_zoom)
    total = len(jobs) + len(flights)
    for i, (layer, (z, x, y)) in enumerate(jobs):
        mvt = render_mvt(session, layer, z, x, y)
        if mvt:
            data.tiles.setdefault(layer, {})[f"{z}/{x}/{y}"] = base64.b64encode(mvt).decode()
        if progress and i % 50 == 0:
            progress(i, total, f"矢量瓦片 {layer} {z}/{x}/{y}")
    for j, f in enumerate(flights):
        if progress:
            progress(len(jobs) + j, total, f"正射影像 {f.name}")
        try:
            png, obounds = ortho_overview(f.path, max_size=overview_size)
        except GeoEnforceError as exc:
            log.warning("orthophoto of flight %s left out of the offline map: %s", f.name, exc)
            continue
        src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        data.overviews[f.flight_id] = (src, obounds)
    data.search_index = search_index(session, bounds)
    if data_dir is not None:
        for patch_id, which, name in patch_chips(session, bounds):
            try:
                path = resolve_chip(Path(data_dir), name)
            except GeoEnforceError as exc:
                log.warning("chip %s of change patch %s left out: %s", which, patch_id, exc)
                continue
            data.chips.setdefault(patch_id, {})[which] = _data_uri(path)
    if progress:
        progress(total, total, "完成")
    return data


def offline_map_html(
    session: Session,
    *,
    village: str | None = None,
    data_dir: Path | None = None,
    max_zoom: int = 16,
    max_tiles: int = 6000,
    catalogue: Path | None = None,
    progress: Progress | None = None,
) -> str:
    """The self-contained offline page (no external reference of any kind)."""
    ctx = load_context(session, village=village, data_dir=data_dir)
    flights = [
        f
        for f in ctx.flights
        if not (
            f.bounds[2] < ctx.bounds[0]
            or f.bounds[0] > ctx.bounds[2]
            or f.bounds[3] < ctx.bounds[1]
            or f.bounds[1] > ctx.bounds[3]
        )
    ]
    ctx.flights = flights
    offline = offline_data(
        session,
        ctx.bounds,
        flights,
        data_dir=data_dir,
        max_zoom=max_zoom,
        max_tiles=max_tiles,
        progress=progress,
    )
    styles = load_styles(catalogue or default_catalogue_path())
    return render_html(build_map(ctx, styles, offline=offline), inline=True)


def export_offline_map(
    factory: sessionmaker[Session],
    out: Path | str,
    *,
    village: str | None = None,
    data_dir: Path | None = None,
    max_zoom: int = 16,
    max_tiles: int = 6000,
    progress: Progress | None = None,
    township: str | None = None,
) -> Path:
    """Write the offline map of the township (or one ``village``, by code or name) to ``out``;
    with ``township`` (a town code) of that township's records alone, when the deployment
    serves several (row-level security: connected as ``ge_app``)."""
    out = Path(out)
    with factory() as session:
        if township:
            from geo_enforce.storage.scope import narrow

            narrow(session, township)
        html = offline_map_html(
            session,
            village=village,
            data_dir=data_dir,
            max_zoom=max_zoom,
            max_tiles=max_tiles,
            progress=progress,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def write_sample_map(
    factory: sessionmaker[Session],
    out_dir: Path | str,
    *,
    data_dir: Path | None = None,
    village: str | None = None,
) -> Path:
    """Demo hook: write the offline map of the loaded (sample) township; returns its path.

    The file is ``<out_dir>/field-map.html`` (``field-map-<village>.html`` for one village).
    """
    name = f"field-map-{village}.html" if village else "field-map.html"
    return export_offline_map(factory, Path(out_dir) / name, village=village, data_dir=data_dir)
