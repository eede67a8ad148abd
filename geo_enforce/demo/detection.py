"""Demo: two synthetic flights over part of the stored township, registered and compared.

:func:`plan_over_layers` reads the stored layers around a cleared parcel and plants known
changes where the rules must fire: a new building on permanent basic farmland, one on the
cleared parcel, a structure marked demolished that still stands, an enlarged registered
structure, plus ordinary stable and new buildings. :func:`run_demo_detection` renders the two
flights (with DSMs), registers them, runs detection and returns a summary with the planted truth.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Polygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.demo.synthetic import Building, enlarge, make_scene, synthetic_pair
from geo_enforce.detection.service import check_params, create_run, execute_run, find_run
from geo_enforce.errors import NotFound
from geo_enforce.geometry.crs import GK39_CM117, transform_geometry
from geo_enforce.imagery.flights import register_flight
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import ClearedParcel, FarmlandParcel, Flight, RedLine, Structure

GSD = 0.3


def _gk(geom):
    return transform_geometry(to_shape(geom), 4490, GK39_CM117)


def _largest(geom) -> Polygon:
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    return max(parts, key=lambda g: g.area)


def _spot(area, rng, occupied, size=(12.0, 9.0)) -> Polygon | None:
    """A building rectangle wholly inside ``area`` clear of ``occupied``."""
    inner = area.buffer(-max(size))
    if inner.is_empty:
        return None
    minx, miny, maxx, maxy = inner.bounds
    for _ in range(300):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not inner.contains(shapely.Point(x, y)):
            continue
        g = box(x - size[0] / 2, y - size[1] / 2, x + size[0] / 2, y + size[1] / 2)
        if not any(g.buffer(6).intersects(o) for o in occupied):
            return g
    return None


def plan_over_layers(
    session: Session, *, seed: int = 2024, size_m: float = 420.0, as_of: dt.date | None = None
) -> dict:
    """Choose a ``size_m`` square (EPSG:4548) around a cleared parcel and plan the buildings.

    Returns ``{"bounds", "buildings", "planted"}``; ``planted`` lists the expected findings
    (kind, rule code, structure case number) for checking the result.
    """
    rng = np.random.default_rng(seed)
    cur = ClearedParcel.retired_at.is_(None)
    parcels = list(session.scalars(select(ClearedParcel).where(cur).order_by(ClearedParcel.id)))
    if not parcels:
        raise NotFound("no cleared parcel stored: load the sample township first")
    basic_q = select(RedLine).where(RedLine.retired_at.is_(None), RedLine.kind == "basic_farmland")
    for parcel in parcels:
        c = _gk(parcel.geom).centroid
        win = box(c.x - size_m / 2, c.y - size_m / 2, c.x + size_m / 2, c.y + size_m / 2)
        w4490 = from_shape(transform_geometry(win, GK39_CM117, 4490), srid=4490)
        structures = list(
            session.scalars(
                select(Structure).where(
                    Structure.retired_at.is_(None), func.ST_Within(Structure.geom, w4490)
                )
            )
        )
        demolished = [
            s
            for s in structures
            if s.status == "demolished"
            and (as_of is None or s.demolished_on is None or s.demolished_on <= as_of)
        ]
        standing = [s for s in structures if s.status != "demolished" and s.floors <= 3]
        basic = [
            _gk(r.geom)
            for r in session.scalars(basic_q.where(func.ST_Intersects(RedLine.geom, w4490)))
        ]
        basic += [
            _gk(f.geom)
            for f in session.scalars(
                select(FarmlandParcel).where(
                    FarmlandParcel.retired_at.is_(None),
                    FarmlandParcel.is_permanent_basic,
                    func.ST_Intersects(FarmlandParcel.geom, w4490),
                )
            )
        ]
        if demolished and standing and basic:
            break
    else:
        raise NotFound(
            "no cleared parcel has a demolished structure, a standing structure and permanent "
            f"basic farmland within {size_m:g} m: load the sample township"
        )
    occupied = [_gk(s.geom) for s in structures]
    buildings: list[Building] = []
    planted: list[dict] = []
    # registered structures: standing ones are stable, demolished ones are gone...
    enlarged = standing[0]
    for s in structures:
        g = _largest(_gk(s.geom).intersection(win))
        if s.id == enlarged.id:
            buildings.append(Building(g, 4.5, "blue_steel", after_geom=enlarge(g, rng), tag="enl"))
            planted.append({"kind": "enlarged", "rule": "structure_enlarged", "case": s.case_no})
        elif s.id == demolished[0].id:
            # ...except one that still stands although marked demolished
            buildings.append(Building(g, 5.0, "red_tile", tag="standing"))
            planted.append(
                {"kind": "still_standing", "rule": "demolished_still_standing", "case": s.case_no}
            )
        elif s.status != "demolished":
            buildings.append(Building(g, float(rng.uniform(3.5, 7)), "concrete"))
    win_in = win.buffer(-20)
    farm = shapely.union_all(basic).intersection(win_in)
    g = _spot(farm, rng, occupied)
    if g is not None:
        buildings.append(Building(g, 4.0, "blue_steel", before=False, tag="farmland"))
        occupied.append(g)
        planted.append({"kind": "new", "rule": "basic_farmland", "case": None})
    cleared = _gk(parcel.geom).intersection(win_in)
    g = _spot(cleared, rng, occupied, size=(10.0, 8.0))
    if g is not None:
        buildings.append(Building(g, 3.5, "white", before=False, tag="cleared"))
        occupied.append(g)
        planted.append({"kind": "new", "rule": "cleared_parcel_rebuilt", "case": parcel.parcel_no})
    return {"bounds": win.bounds, "buildings": buildings, "planted": planted}


def _flight(session: Session, name: str) -> Flight | None:
    return session.scalar(select(Flight).where(Flight.name == name, Flight.retired_at.is_(None)))


def run_demo_detection(
    factory: sessionmaker[Session],
    data_dir: Path,
    *,
    seed: int = 2024,
    actor: str = "cli:demo",
    dates: tuple[dt.date, dt.date] = (dt.date(2024, 4, 10), dt.date(2024, 9, 20)),
    scheduler=None,
) -> dict:
    """Render, register and compare two synthetic flights over the stored township.

    Needs the sample township (or any layers with a cleared parcel, a demolished and a standing
    structure and permanent basic farmland nearby). Returns the run summary, the flights and the
    planted changes. Re-running reuses the flights registered by an earlier call.
    """
    data_dir = Path(data_dir)
    names = (f"demo-{seed}-before", f"demo-{seed}-after")
    with transaction(factory, actor) as session:
        plan = plan_over_layers(session, seed=seed, as_of=dates[1])
        fb, fa = _flight(session, names[0]), _flight(session, names[1])
        if fb is None or fa is None:
            x0, y0, x1, y1 = plan["bounds"]
            size = (round((x1 - x0) / GSD), round((y1 - y0) / GSD))
            scene = make_scene(
                plan["bounds"],
                seed=seed,
                n_stable=6,
                n_new=3,
                n_demolished=1,
                n_enlarged=0,
                extra_buildings=plan["buildings"],
            )
            pair = synthetic_pair(
                data_dir / "demo_flights" / str(seed),
                seed=seed,
                origin=(x0, y1),
                size_px=size,
                gsd=GSD,
                scene=scene,
                shift_px=(1.2, -0.6),
            )
            fb = register_flight(
                session,
                ortho_path=pair.before_ortho,
                dsm_path=pair.before_dsm,
                flown_on=dates[0],
                name=names[0],
                data_dir=data_dir,
            )
            fa = register_flight(
                session,
                ortho_path=pair.after_ortho,
                dsm_path=pair.after_dsm,
                flown_on=dates[1],
                name=names[1],
                data_dir=data_dir,
            )
        # a second demo reads (or finishes) the run of the first instead of duplicating it
        run = find_run(session, before=fb.id, after=fa.id, params=check_params({}))
        if run is None:
            run = create_run(session, before=fb.id, after=fa.id)
        run_id, flights = run.id, {"before": fb.name, "after": fa.name}
    summary = execute_run(factory, run_id, data_dir=data_dir, actor=actor, scheduler=scheduler)
    return {"run_id": run_id, "flights": flights, "planted": plan["planted"], **summary}
