"""Editing ledger records one at a time (the API's and CLI's write path; bulk loads use
``geo_enforce.io``). Geometries come in as shapely objects in EPSG:4490; invalid ones are
refused with the reason rather than silently repaired, because a case's outline is evidence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, InvalidInput, NotFound
from geo_enforce.geometry.crs import check_geographic_bounds
from geo_enforce.io import sanity
from geo_enforce.ledger.vocab import STRUCTURE_CATEGORIES
from geo_enforce.storage.locking import check_version
from geo_enforce.storage.models import LAYER_MODELS, Structure

STRUCTURE_EDITABLE = frozenset(
    {
        "village_code",
        "address",
        "category",
        "floors",
        "households",
        "discovered_on",
        "floor_area_measured_m2",
        "party_name",
        "party_id_no",
        "party_phone",
        "notes",
        # the township (乡镇/街道) by hand; empty: the town containing the outline (trigger)
        "township_code",
    }
)


def polygon_for_storage(
    geom: BaseGeometry, what: str, max_vertices: int | None = None
) -> MultiPolygon:
    """Check a lon/lat (EPSG:4490) polygon for storage and return it as a MultiPolygon.

    More than ``max_vertices`` vertices (default 100 000) is refused before any other check.
    """
    if geom is None or geom.is_empty:
        raise InvalidInput(f"{what}: geometry is empty")
    sanity.check_vertices(geom, max_vertices, what)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(
            f"{what}: geometry must be a Polygon or MultiPolygon, not {geom.geom_type}"
        )
    check_geographic_bounds(geom.bounds, what)
    if not geom.is_valid:
        raise InvalidInput(
            f"{what}: geometry is invalid ({explain_validity(geom)}); redraw it or import it "
            "with geo-enforce import, which repairs and lists repairs"
        )
    geom = shapely.force_2d(geom)
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def _check_structure_fields(values: dict[str, Any], what: str) -> None:
    cat = values.get("category")
    if cat is not None and cat not in STRUCTURE_CATEGORIES:
        raise InvalidInput(
            f"{what}: category '{cat}' is unknown; use one of {', '.join(STRUCTURE_CATEGORIES)}"
        )
    floors = values.get("floors")
    if floors is not None and not 1 <= int(floors) <= 100:
        raise InvalidInput(f"{what}: floors must be between 1 and 100, got {floors}")
    if values.get("discovered_on") is not None:
        sanity.check_date(values["discovered_on"], f"{what}: discovered_on")


def create_structure(
    session: Session, *, case_no: str, geometry: BaseGeometry, **values: Any
) -> Structure:
    """Register a new structure case (status 'suspected' unless given). Flushes."""
    what = f"structure {case_no}"
    unknown = set(values) - STRUCTURE_EDITABLE - {"status"}
    if unknown:
        raise InvalidInput(f"{what}: unknown fields {', '.join(sorted(unknown))}")
    _check_structure_fields(values, what)
    if session.scalar(select(Structure.id).where(Structure.case_no == case_no)) is not None:
        raise Conflict(f"case number {case_no} is already registered")
    st = Structure(
        case_no=case_no,
        geom=from_shape(polygon_for_storage(geometry, what), 4490),
        **{k: v for k, v in values.items() if v is not None},
    )
    session.add(st)
    session.flush()
    session.refresh(st)
    return st


def update_structure(
    session: Session,
    st: Structure,
    changes: dict[str, Any],
    *,
    geometry: BaseGeometry | None = None,
    expected_version: int | None = None,
) -> Structure:
    """Apply field changes (status only via lifecycle.transition). Flushes."""
    what = f"structure {st.case_no}"
    check_version(st, expected_version, what)
    if "status" in changes:
        raise InvalidInput(f"{what}: status changes go through a transition (with a reason)")
    unknown = set(changes) - STRUCTURE_EDITABLE
    if unknown:
        raise InvalidInput(f"{what}: fields {', '.join(sorted(unknown))} cannot be edited")
    _check_structure_fields(changes, what)
    for key, value in changes.items():
        setattr(st, key, value)
    if geometry is not None:
        st.geom = from_shape(polygon_for_storage(geometry, what), 4490)
    session.flush()
    session.refresh(st)
    return st


def retire(
    session: Session,
    layer: str,
    record_id: int,
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
):
    """Retire (never delete) a record of ``layer``. Flushes."""
    model = LAYER_MODELS.get(layer)
    if model is None:
        raise NotFound(f"layer '{layer}' does not exist")
    rec: Any = session.get(model, record_id)
    if rec is None or rec.retired_at is not None:
        raise NotFound(f"{layer} {record_id} does not exist or is already retired")
    return retire_record(
        session,
        rec,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        what=f"{layer} {record_id}",
    )


def retire_record(
    session: Session,
    rec: Any,
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
    what: str,
):
    """Retire a loaded, current ledger record: who, when, why (the audit trigger records it)."""
    if not reason or not reason.strip():
        raise InvalidInput(f"retiring {what} needs a reason")
    check_version(rec, expected_version, what)
    rec.retired_at = dt.datetime.now(dt.UTC)
    rec.retired_by = actor
    rec.retire_reason = reason.strip()
    session.flush()
    return rec
