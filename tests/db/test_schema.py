"""Schema behaviour on a real PostGIS: areas kept in step, audit rows, no deletes."""

from __future__ import annotations

import pytest
from geoalchemy2.shape import from_shape
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from geo_enforce.geometry.areas import ellipsoidal_area_m2
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AuditLog, Structure
from tests.support.geometries import VALID, bowtie, with_hole


def _structure(geom, **kw):
    from shapely.geometry import MultiPolygon

    if geom.geom_type == "Polygon":
        geom = MultiPolygon([geom])
    return Structure(
        case_no=kw.pop("case_no", "WJ-T-1"),
        category="villa",
        geom=from_shape(geom, srid=4490),
        **kw,
    )


@pytest.mark.parametrize("name", sorted(VALID))
def test_stored_area_is_ellipsoidal(sessions, name):
    geom = VALID[name]
    with transaction(sessions, "tester") as s:
        st = _structure(geom, floors=3)
        s.add(st)
        s.flush()
        s.refresh(st)
        expected = ellipsoidal_area_m2(geom)
        assert st.area_m2 == pytest.approx(expected, rel=1e-9)
        assert st.area_mu == pytest.approx(st.area_m2 * 3 / 2000, rel=1e-12)
        assert st.floor_area_m2 == pytest.approx(expected * 3, rel=1e-9)


def test_measured_floor_area_wins_and_area_follows_geometry(sessions):
    with transaction(sessions, "tester") as s:
        st = _structure(VALID["square"], floors=2)
        s.add(st)
        s.flush()
        st.floor_area_measured_m2 = 123.5
        s.flush()
        s.refresh(st)
        assert st.floor_area_m2 == 123.5
        st.geom = from_shape(__import__("shapely").geometry.MultiPolygon([with_hole]), srid=4490)
        s.flush()
        s.refresh(st)
        assert st.area_m2 == pytest.approx(ellipsoidal_area_m2(with_hole), rel=1e-9)


def test_every_write_is_audited_with_actor(sessions):
    with transaction(sessions, "cli:alice") as s:
        st = _structure(VALID["square"])
        s.add(st)
        s.flush()
        sid = st.id
    with transaction(sessions, "api:bob") as s:
        got = s.get(Structure, sid)
        assert got is not None
        got.floors = 4
    with transaction(sessions, "api:carol") as s:
        row = s.get(Structure, sid)
        assert row is not None
        row.retired_at = s.scalar(text("SELECT now()"))
        row.retire_reason = "duplicate"
    with sessions() as s:
        logs = s.scalars(
            select(AuditLog).where(AuditLog.record_id == sid).order_by(AuditLog.id)
        ).all()
    assert [(x.action, x.actor) for x in logs] == [
        ("insert", "cli:alice"),
        ("update", "api:bob"),
        ("retire", "api:carol"),
    ]
    assert logs[1].old_row["floors"] == 1 and logs[1].new_row["floors"] == 4
    assert logs[1].new_row["version"] == logs[1].old_row["version"] + 1


def test_delete_and_audit_tampering_refused(sessions):
    with transaction(sessions, "tester") as s:
        s.add(_structure(VALID["square"]))
    for stmt in (
        "DELETE FROM structure",
        "TRUNCATE structure CASCADE",
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DBAPIError), transaction(sessions, "tester") as s:
            s.execute(text(stmt))
    with sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM structure")) == 1
        assert s.scalar(text("SELECT count(*) FROM audit_log")) == 1


def test_invalid_geometry_refused(sessions):
    with pytest.raises(DBAPIError, match="ck_structure_valid"), transaction(sessions, "t") as s:
        s.add(_structure(bowtie))
