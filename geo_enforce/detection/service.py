"""Detection runs between two registered flights, stored as change patches.

:func:`create_run` records a pending run; :func:`execute_run` aligns the flights, runs the
windowed detection (resumable: state under ``data_dir/runs/<run id>``), checks each region
against the stored layers, writes evidence chips and stores the change patches, all in one
transaction at the end, so a killed run leaves either no patches or all of them. Calling
:func:`execute_run` again on an unfinished run resumes it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from rasterio.features import geometry_mask
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely import affinity
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.detection import learn, rules
from geo_enforce.detection.chips import write_chips
from geo_enforce.detection.detectors import CombinedDetector, DsmHeightDetector, make_detector
from geo_enforce.detection.pipeline import PairResult, detect_pair
from geo_enforce.detection.runner import load_alignment
from geo_enforce.errors import Conflict, GeoEnforceError, ImageryError, NotFound
from geo_enforce.geometry.crs import transform_geometry
from geo_enforce.imagery.align import Alignment, align_flights, read_on_grid
from geo_enforce.imagery.flights import get_flight, outside_warning
from geo_enforce.ledger import pipelines
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import ChangePatch, DetectionRun, Flight
from geo_enforce.storage.paths import resolve_stored

DEFAULT_PARAMS = {
    "detector": "combined",
    "min_height_m": 2.2,
    "min_area_m2": 10.0,
    "tile": 2048,
    "max_shift_px": 5.0,
}


_PARAM_RANGES: dict[str, tuple[type, float, float]] = {
    "min_height_m": (float, 0.5, 100.0),
    "min_area_m2": (float, 0.0, 1e6),
    "tile": (int, 128, 8192),
    "max_shift_px": (float, 0.0, 50.0),
}


def check_params(params: dict) -> dict:
    """Defaults merged with ``params``; unknown names, wrong types or ranges are refused."""
    from geo_enforce.detection.detectors import DETECTORS

    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise ImageryError(
            f"unknown detection parameters: {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(DEFAULT_PARAMS)}"
        )
    merged = {**DEFAULT_PARAMS, **params}
    if not isinstance(merged["detector"], str) or merged["detector"] not in DETECTORS:
        raise ImageryError(f"detector {merged['detector']!r}: one of {', '.join(DETECTORS)}")
    for key, (kind, lo, hi) in _PARAM_RANGES.items():
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ImageryError(f"detection parameter {key}: a number is required")
        if not lo <= value <= hi or (kind is int and int(value) != value):
            raise ImageryError(f"detection parameter {key}={value}: expected {lo:g}–{hi:g}")
        merged[key] = kind(value)
    return merged


def create_run(
    session: Session, *, before: int | str, after: int | str, params: dict | None = None
) -> DetectionRun:
    """A pending detection run between two current flights (before flown earlier)."""
    fb, fa = get_flight(session, before), get_flight(session, after)
    if fb.id == fa.id:
        raise ImageryError(f"flight {fb.name!r} cannot be compared with itself")
    if fb.flown_on > fa.flown_on:
        raise ImageryError(
            f"the before flight {fb.name!r} ({fb.flown_on}) is later than the after flight "
            f"{fa.name!r} ({fa.flown_on}); swap them"
        )
    g_b, g_a = to_shape(fb.footprint), to_shape(fa.footprint)
    if not g_b.intersects(g_a) or g_b.intersection(g_a).area == 0:
        raise ImageryError(f"flights {fb.name!r} and {fa.name!r} do not overlap")
    merged = check_params(params or {})
    earlier = find_run(session, before=fb.id, after=fa.id, params=merged)
    if earlier is not None:
        # a second run of the same pair would store every patch twice (and split the
        # liaison's rulings between the copies)
        raise Conflict(
            f"flights {fb.name!r} and {fa.name!r} were already compared with these settings in "
            f"detection run {earlier.id} ({earlier.status}); resume or read it "
            f"(geo-enforce detect --resume {earlier.id}), or retire it before running again"
        )
    run = DetectionRun(
        before_flight_id=fb.id, after_flight_id=fa.id, status="pending", params=merged
    )
    session.add(run)
    session.flush()
    return run


def find_run(session: Session, *, before: int, after: int, params: dict) -> DetectionRun | None:
    """The current (not failed, not retired) run of flight ids ``before`` → ``after`` with
    ``params`` (already checked), if any."""
    return session.scalar(
        select(DetectionRun)
        .where(
            DetectionRun.before_flight_id == before,
            DetectionRun.after_flight_id == after,
            DetectionRun.params == params,
            DetectionRun.status.in_(("pending", "running", "done")),
            DetectionRun.retired_at.is_(None),
        )
        .order_by(DetectionRun.id.desc())
        .limit(1)
    )


def get_run(session: Session, run_id: int) -> DetectionRun:
    """The detection run ``run_id``; NotFound otherwise."""
    run = session.get(DetectionRun, run_id) if 0 < run_id < 2**63 else None
    if run is None or run.retired_at is not None:
        raise NotFound(f"detection run {run_id} not found")
    return run


def list_runs(session: Session, *, limit: int = 100) -> list[DetectionRun]:
    """Current (not retired) detection runs, newest first."""
    q = select(DetectionRun).where(DetectionRun.retired_at.is_(None))
    return list(session.scalars(q.order_by(DetectionRun.id.desc()).limit(limit)))


def run_state_dir(data_dir: Path, run_id: int) -> Path:
    """Where a run keeps its per-window state: ``data_dir/runs/<id>``."""
    return Path(data_dir) / "runs" / str(run_id)


def _detector(params: dict):
    name = params.get("detector", "combined")
    if name == "combined":
        return CombinedDetector(dsm=DsmHeightDetector(min_height_m=params["min_height_m"]))
    if name == "dsm":
        return make_detector("dsm", min_height_m=params["min_height_m"])
    return make_detector(name)


def execute_run(
    factory: sessionmaker[Session],
    run_id: int,
    *,
    data_dir: Path,
    actor: str,
    scheduler=None,
    progress: Callable[[int, int], None] | None = None,
    max_windows: int | None = None,
) -> dict:
    """Run (or resume) detection run ``run_id`` to completion; returns its summary.

    Failures are recorded on the run (status ``failed``, error text) and re-raised.
    """
    state = run_state_dir(data_dir, run_id)
    with transaction(factory, actor) as s:
        run = get_run(s, run_id)
        if run.status == "done":
            return dict(run.summary)
        fb, fa = s.get(Flight, run.before_flight_id), s.get(Flight, run.after_flight_id)
        assert fb is not None and fa is not None
        # stored relative to data_dir (geo_enforce.storage.paths)
        paths = (
            str(resolve_stored(fb.ortho_path, data_dir)),
            str(resolve_stored(fa.ortho_path, data_dir)),
            str(resolve_stored(fb.dsm_path, data_dir)) if fb.dsm_path else None,
            str(resolve_stored(fa.dsm_path, data_dir)) if fa.dsm_path else None,
        )
        dates = (fb.flown_on, fa.flown_on)
        params = dict(run.params)
        run.status = "running"
        run.error = None
        run.work_dir = str(state)
        run.started_at = run.started_at or dt.datetime.now(dt.UTC)

    last = [0.0]

    def _progress(done: int, total: int) -> None:
        if progress:
            progress(done, total)
        now = time.monotonic()
        if now - last[0] > 2.0 or done == total:
            last[0] = now
            with transaction(factory, actor) as s2:
                get_run(s2, run_id).progress = round(done / max(total, 1), 4)

    try:
        alignment = load_alignment(state) or align_flights(
            paths[0],
            paths[1],
            before_dsm=paths[2],
            after_dsm=paths[3],
            max_shift_px=params["max_shift_px"],
        )
        result = detect_pair(
            alignment,
            state,
            detector=_detector(params),
            scheduler=scheduler,
            tile=params["tile"],
            min_area_m2=params["min_area_m2"],
            progress=_progress,
            max_windows=max_windows,
        )
        if not result.complete:
            with transaction(factory, actor) as s:
                run = get_run(s, run_id)
                run.status = "pending"
                run.summary = result.summary()
            return result.summary()
        with transaction(factory, actor) as s:
            run = get_run(s, run_id)
            if s.scalar(select(func.count()).where(ChangePatch.run_id == run_id)):
                raise Conflict(f"detection run {run_id} already has patches")
            summary = store_patches(
                s, run, result, data_dir=data_dir, dates=dates, min_height_m=params["min_height_m"]
            )
            run.status = "done"
            run.progress = 1.0
            run.finished_at = dt.datetime.now(dt.UTC)
            run.summary = summary
        return summary
    except GeoEnforceError as exc:
        _fail(factory, actor, run_id, str(exc))
        raise
    except Exception as exc:
        _fail(factory, actor, run_id, f"{type(exc).__name__}: {exc}")
        raise


def _fail(factory, actor: str, run_id: int, message: str) -> None:
    with transaction(factory, actor) as s:
        run = get_run(s, run_id)
        run.status = "failed"
        run.error = message[:2000]


def _patch_code(run: DetectionRun, n: int, flown_on: dt.date) -> str:
    return f"BH{flown_on:%Y%m%d}-R{run.id}-{n:04d}"


def _multi(g):
    return g if isinstance(g, MultiPolygon) else MultiPolygon([g])


def store_patches(
    session: Session,
    run: DetectionRun,
    result: PairResult,
    *,
    data_dir: Path,
    dates: tuple[dt.date, dt.date],
    min_height_m: float = 2.2,
) -> dict:
    """Check every region against the stored layers and store it as a change patch with chips.

    Also flags registered structures marked demolished that still stand in the after DSM.
    """
    alignment = result.alignment
    n = 0
    hits_count: dict[str, int] = {}
    covered = []
    stored: list[ChangePatch] = []
    warnings: list[str] = []
    outside = township_warning(session, alignment)
    if outside:
        warnings.append(outside)
    colour_only = 0
    for region in result.regions:
        if region.geom_4490 is None:
            continue
        rr = rules.evaluate(session, region.geom_4490, kind=region.kind)
        evidence = dict(getattr(region, "evidence", None) or {})
        suggested: str | None = rr.suggested_ruling
        if evidence.get("colour_only"):
            # colour alone (light, season, soil) never suggests a ruling: 颜色变化，需现场核实
            suggested = None
            colour_only += 1
        if outside:
            suggested = None  # the layers do not cover this place: the rule hits mean nothing
        n += 1
        before_chip, after_chip = write_chips(alignment, region.geom_px, data_dir)
        patch = ChangePatch(
            run_id=run.id,
            before_flight_id=run.before_flight_id,
            after_flight_id=run.after_flight_id,
            code=_patch_code(run, n, dates[1]),
            village_code=rr.village_code,
            change_kind=rr.change_kind,
            height_gain_mean_m=region.height_gain_mean_m,
            height_gain_max_m=region.height_gain_max_m,
            confidence=region.confidence,
            rule_hits=rr.hits,
            suggested_ruling=suggested,
            status="new",
            structure_id=rr.structure_id,
            chip_before=before_chip,
            chip_after=after_chip,
            detected_on=dates[1],
            evidence=evidence,
            geom=from_shape(_multi(region.geom_4490), srid=4490),
        )
        session.add(patch)
        stored.append(patch)
        covered.append(region.geom_4490)
        for h in rr.hits:
            hits_count[h["code"]] = hits_count.get(h["code"], 0) + 1
    standing = 0
    if alignment.dsm_after is not None:
        for s, geom_px, g4490, height in still_standing(
            session, alignment, as_of=dates[1], min_height_m=min_height_m
        ):
            if any(g4490.intersects(c) for c in covered):
                continue  # already reported as a change
            n += 1
            standing += 1
            before_chip, after_chip = write_chips(alignment, geom_px, data_dir)
            hit = rules._hit(
                "demolished_still_standing",
                rules.ellipsoidal_area_m2(g4490),
                case_no=s.case_no,
                height_m=round(height, 2),
            )
            # a structure left standing inside a line's safety zone hits the 占压 rule too
            standing_hits = [hit, *pipelines.outline_hits(session, g4490)]
            session.add(
                ChangePatch(
                    run_id=run.id,
                    before_flight_id=run.before_flight_id,
                    after_flight_id=run.after_flight_id,
                    code=_patch_code(run, n, dates[1]),
                    village_code=s.village_code,
                    change_kind="still_standing",
                    height_gain_mean_m=None,
                    height_gain_max_m=None,
                    confidence=round(min(1.0, height / (2 * min_height_m)), 3),
                    rule_hits=standing_hits,
                    suggested_ruling="illegal",
                    status="new",
                    structure_id=s.id,
                    chip_before=before_chip,
                    chip_after=after_chip,
                    detected_on=dates[1],
                    geom=from_shape(_multi(g4490), srid=4490),
                )
            )
            for h in standing_hits:
                hits_count[h["code"]] = hits_count.get(h["code"], 0) + 1
    session.flush()
    model = learn.score_patches(session, stored)
    summary = {
        **result.summary(),
        "patches": n,
        "still_standing": standing,
        "rule_hits": hits_count,
        "colour_only": colour_only,
        "model_version": model.model_version if model is not None else None,
        "set_aside": sum(1 for p in stored if p.set_aside),
    }
    if warnings:
        summary["warnings"] = warnings
    return summary


def township_warning(session: Session, alignment: Alignment) -> str | None:
    """A warning when the flights overlap none of the stored administrative areas (registered
    far from the township, or the wrong CRS): its rule hits mean nothing there."""
    if alignment.grid.crs is None:
        return None
    return outside_warning(session, _grid_footprint(alignment))


def _grid_footprint(alignment: Alignment):
    g = alignment.grid
    t = g.affine
    box = shapely.box(0, 0, g.width, g.height)
    in_crs = affinity.affine_transform(box, [t.a, t.b, t.d, t.e, t.c, t.f])
    return transform_geometry(in_crs, g.crs, 4490)


def still_standing(
    session: Session, alignment: Alignment, *, as_of: dt.date, min_height_m: float = 2.2
):
    """Structures marked demolished (by ``as_of``) that still rise ≥ ``min_height_m`` above the
    surrounding ground in the after DSM: yields (structure, geom_px, geom_4490, height_m)."""
    g = alignment.grid
    if g.crs is None or alignment.dsm_after is None:
        return
    t = ~g.affine
    inv = [t.a, t.b, t.d, t.e, t.c, t.f]
    area = _grid_footprint(alignment)
    for s in rules.demolished_structures(session, area, as_of=as_of):
        g4490 = shapely.intersection(to_shape(s.geom), area)
        if g4490.is_empty:
            continue
        geom_px = affinity.affine_transform(transform_geometry(g4490, 4490, g.crs), inv)
        ring_px = geom_px.buffer(8.0 / g.gsd).difference(geom_px.buffer(2.0 / g.gsd))
        minx, miny, maxx, maxy = ring_px.bounds
        c0, r0 = max(0, int(minx)), max(0, int(miny))
        c1, r1 = min(g.width, int(maxx) + 1), min(g.height, int(maxy) + 1)
        if c1 <= c0 or r1 <= r0:
            continue
        win = Window(c0, r0, c1 - c0, r1 - r0)
        dsm, valid = read_on_grid(alignment.dsm_after, g, win)
        shp = (win.height, win.width)
        to_win = [1, 0, 0, 1, -c0, -r0]
        inner = affinity.affine_transform(geom_px.buffer(-1.0 / g.gsd), to_win)
        ring = affinity.affine_transform(ring_px, to_win)
        if inner.is_empty:
            continue
        m_in = ~geometry_mask([inner], shp, Affine.identity()) & valid
        m_ring = ~geometry_mask([ring], shp, Affine.identity()) & valid
        if m_in.sum() < 10 or m_ring.sum() < 10:
            continue
        height = float(np.median(dsm[0][m_in]) - np.percentile(dsm[0][m_ring], 20))
        if height >= min_height_m:
            yield s, geom_px, g4490, height
