"""Reading stored change patches as GeoJSON features (EPSG:4490 lon/lat, Chinese labels)."""

from __future__ import annotations

from pathlib import Path

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import box, mapping, shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_enforce.errors import InvalidInput, NotFound
from geo_enforce.ledger.vocab import PATCH_SOURCES, PATCH_STATUSES, RULINGS, label
from geo_enforce.storage.models import ChangePatch

CHANGE_KINDS: dict[str, str] = {
    "new": "新增建设",
    "enlarged": "扩建",
    "rebuilt": "拆后复建",
    "demolished": "建筑消失",
    "still_standing": "已拆除未拆",
}


#: What a patch found by colour alone says of itself (no height evidence behind it).
COLOUR_ONLY_LABEL = "颜色变化，需现场核实"


def patch_feature(p: ChangePatch, *, chip_url: str | None = None) -> dict:
    """A change patch as a GeoJSON Feature; ``chip_url`` is a format string with ``{id}`` and
    ``{which}`` for links to the evidence chips."""
    props = {
        "code": p.code,
        "source": p.source,
        "source_label": label(PATCH_SOURCES, p.source),
        "source_no": p.source_no,
        "run_id": p.run_id,
        "change_kind": p.change_kind,
        "change_kind_label": CHANGE_KINDS.get(p.change_kind, p.change_kind),
        "area_m2": round(p.area_m2, 2),
        "area_mu": round(p.area_mu, 4),
        "height_gain_mean_m": p.height_gain_mean_m,
        "height_gain_max_m": p.height_gain_max_m,
        "confidence": p.confidence,
        "rule_hits": p.rule_hits,
        "suggested_ruling": p.suggested_ruling,
        "suggested_ruling_label": label(RULINGS, p.suggested_ruling),
        "ruling": p.ruling,
        "ruling_label": label(RULINGS, p.ruling),
        "status": p.status,
        "status_label": label(PATCH_STATUSES, p.status),
        "structure_id": p.structure_id,
        "village_code": p.village_code,
        "detected_on": p.detected_on.isoformat() if p.detected_on else None,
        "before_flight_id": p.before_flight_id,
        "after_flight_id": p.after_flight_id,
        "chip_before": p.chip_before,
        "chip_after": p.chip_after,
        "evidence": p.evidence or {},
        "detection_note": COLOUR_ONLY_LABEL if (p.evidence or {}).get("colour_only") else None,
        "learned_score": p.learned_score,
        "model_id": p.model_id,
        "set_aside": p.set_aside,
    }
    if props["detection_note"] and p.suggested_ruling is None:
        props["suggested_ruling_label"] = "需现场核实"
    if chip_url:
        props["chip_before_url"] = (
            chip_url.format(id=p.id, which="before") if p.chip_before else None
        )
        props["chip_after_url"] = chip_url.format(id=p.id, which="after") if p.chip_after else None
    return {
        "type": "Feature",
        "id": p.id,
        "geometry": mapping(to_shape(p.geom)),
        "properties": props,
    }


def list_patches(
    session: Session,
    *,
    run_id: int | None = None,
    status: str | None = None,
    suggested_ruling: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    offset: int = 0,
    source: str | None = None,
) -> tuple[list[ChangePatch], int]:
    """Current patches matching the filters (bbox in lon/lat; ``source`` ``flight`` or ``mnr``),
    newest first, and their count."""
    q = select(ChangePatch).where(ChangePatch.retired_at.is_(None))
    if run_id is not None:
        if not 0 < run_id < 2**63:
            return [], 0
        q = q.where(ChangePatch.run_id == run_id)
    if status is not None:
        if status not in PATCH_STATUSES:
            raise InvalidInput(f"status {status!r}: one of {', '.join(PATCH_STATUSES)}")
        q = q.where(ChangePatch.status == status)
    if suggested_ruling is not None:
        q = q.where(ChangePatch.suggested_ruling == suggested_ruling)
    if source is not None:
        if source not in PATCH_SOURCES:
            raise InvalidInput(f"source {source[:20]!r}: one of {', '.join(PATCH_SOURCES)}")
        q = q.where(ChangePatch.source == source)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        if not (minx < maxx and miny < maxy):
            raise InvalidInput(f"bbox {bbox}: expected minlon,minlat,maxlon,maxlat")
        q = q.where(func.ST_Intersects(ChangePatch.geom, from_shape(box(*bbox), srid=4490)))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(
        # newest first; within a date the learned ranker's order (most likely real change
        # first) when a model scored them, set-aside patches (likely 伪变化) last
        q.order_by(
            ChangePatch.detected_on.desc(),
            ChangePatch.set_aside,
            ChangePatch.learned_score.desc().nulls_last(),
            ChangePatch.id,
        )
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def get_patch(session: Session, patch_id: int) -> ChangePatch:
    """The current change patch ``patch_id``; NotFound otherwise (ids beyond bigint too)."""
    p = session.get(ChangePatch, patch_id) if 0 < patch_id < 2**63 else None
    if p is None or p.retired_at is not None:
        raise NotFound(f"change patch {patch_id} not found")
    return p


def patches_map(features: list[dict], *, chips_dir: Path | None = None, zoom: int = 18):
    """A folium map of patch features (EPSG:4490 ≈ WGS 84 for display), popups in Chinese with
    the rule hits and, when ``chips_dir`` is given, the before/after chips embedded."""
    import base64

    import folium

    if not features:
        raise InvalidInput("no change patches to map")
    geoms = [shape(f["geometry"]) for f in features]
    c = shapely.union_all(geoms).centroid
    m = folium.Map(location=[c.y, c.x], zoom_start=zoom, tiles=None, control_scale=True)
    colours = {"illegal": "#d7191c", "legal": "#1a9641", "other": "#fdae61"}
    for f in features:
        p = f["properties"]
        hits = "".join(
            f"<li>{h['label']}: {h['area_m2']} m²"
            + (f"，距线 {h['distance_m']} m" if h.get("distance_m") is not None else "")
            + "</li>"
            for h in p["rule_hits"]
        )
        html = (
            f"<b>{p['code']}</b> {p['change_kind_label']}<br>面积 {p['area_m2']} m² "
            f"({p['area_mu']} 亩)<br>建议认定: {p['suggested_ruling_label']}<ul>{hits}</ul>"
        )
        if chips_dir is not None and p.get("chip_before"):
            for key in ("chip_before", "chip_after"):
                data = base64.b64encode((Path(chips_dir) / p[key]).read_bytes()).decode()
                html += f'<img src="data:image/png;base64,{data}" width="160">'
        colour = colours.get(p["suggested_ruling"] or "other", "#fdae61")
        layer = folium.GeoJson(
            f,
            style_function=lambda _f, col=colour: {"color": col, "weight": 2, "fillOpacity": 0.3},
            tooltip=p["code"],
        )
        folium.Popup(html, max_width=360).add_to(layer)
        layer.add_to(m)
    return m
