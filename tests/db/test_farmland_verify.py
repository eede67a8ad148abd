"""Verification records: validation, status moves and history, opening a structure case."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy
from shapely.geometry import box

from api.farmland_out import VerificationOut
from geo_enforce.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from geo_enforce.farmland import verify
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import Structure
from tests.support import farmland_seed as fs


@pytest.fixture
def ids(sessions):
    return fs.seed(sessions)


def test_create_validates(sessions, ids):
    with transaction(sessions, "api:l") as s:
        with pytest.raises(InvalidInput, match="result 'built'"):
            verify.create_verification(
                s, target_kind="farmland_parcel", target_id=ids["P1"], result="built", actor="l"
            )
        with pytest.raises(InvalidInput, match="target_kind"):
            verify.create_verification(
                s, target_kind="house", target_id=1, result="farmland", actor="l"
            )
        with pytest.raises(NotFound, match="farmland_parcel 999"):
            verify.create_verification(
                s, target_kind="farmland_parcel", target_id=999, result="farmland", actor="l"
            )
        with pytest.raises(InvalidInput, match="future"):
            verify.create_verification(
                s,
                target_kind="farmland_parcel",
                target_id=ids["P1"],
                result="farmland",
                actor="l",
                verified_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2),
            )


def test_status_moves_and_history(sessions, ids):
    with transaction(sessions, "api:liaison1") as s:
        v = verify.create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=ids["P2"],
            result="facility_agri",
            actor="liaison1",
            notes="大棚",
        )
    with transaction(sessions, "api:chief") as s:
        with pytest.raises(InvalidInput, match="reason"):
            verify.set_status(s, v.id, "returned", actor="chief")
        verify.set_status(s, v.id, "returned", actor="chief", reason="补拍东侧照片")
    with transaction(sessions, "api:liaison1") as s:
        verify.set_status(s, v.id, "submitted", actor="liaison1")
    with transaction(sessions, "api:chief") as s:
        verify.set_status(s, v.id, "reviewed", actor="chief")
    with pytest.raises(IllegalTransition, match="cannot move"), transaction(sessions, "x") as s:
        verify.set_status(s, v.id, "submitted", actor="x")
    with sessions() as s:
        info = verify.verification_info(s, verify.get_verification(s, v.id), history=True)
        d = VerificationOut.of(info).model_dump()
    assert [(h["status"], h["actor"]) for h in d["history"]] == [
        ("submitted", "api:liaison1"),
        ("returned", "api:chief"),
        ("submitted", "api:liaison1"),
        ("reviewed", "api:chief"),
    ]
    assert d["status_label"] == "已审核" and d["result_label"] == "设施农用地"
    assert "补拍东侧照片" in d["notes"] and d["notes"].startswith("大棚")


def test_open_structure_case(sessions, ids):
    with transaction(sessions, "api:liaison1") as s:
        ok = verify.create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=ids["P1"],
            result="construction",
            actor="liaison1",
        )
        farm = verify.create_verification(
            s,
            target_kind="farmland_parcel",
            target_id=ids["P1"],
            result="farmland",
            actor="liaison1",
        )
    with pytest.raises(Conflict, match="not a farmland parcel found occupied"):
        with transaction(sessions, "api:liaison1") as s:
            verify.open_structure_case(s, farm.id, actor="liaison1")
    far = box(fs.X0 + 0.01, fs.Y0 + 0.01, fs.X0 + 0.0102, fs.Y0 + 0.0102)
    with pytest.raises(InvalidInput, match="does not overlap parcel P1"):
        with transaction(sessions, "api:liaison1") as s:
            verify.open_structure_case(s, ok.id, actor="liaison1", footprint=far)
    footprint = box(fs.X0 + 0.0011, fs.Y0 + 0.0003, fs.X0 + 0.0014, fs.Y0 + 0.0006)
    with transaction(sessions, "api:liaison1") as s:
        st = verify.open_structure_case(
            s, ok.id, actor="liaison1", category="steel_shed", footprint=footprint
        )
        sid = st.id
    with sessions() as s:
        st2 = s.get(Structure, sid)
        assert st2 is not None
        assert (st2.status, st2.category, st2.village_code) == ("suspected", "steel_shed", "V1")
        assert st2.case_no.startswith("NY") and "P1" in st2.case_no
        assert st2.area_m2 > 0
        assert verify.get_verification(s, ok.id).structure_id == sid
    with pytest.raises(Conflict, match="already opened"), transaction(sessions, "x") as s:
        verify.open_structure_case(s, ok.id, actor="x")


def test_listing_costs_three_queries_whatever_the_number_of_records(sessions, ids):
    """Records, their photos and their targets' codes: one query each (no N+1)."""
    targets = [
        ("farmland_parcel", ids["P1"]),
        ("farmland_parcel", ids["P2"]),
        ("change_patch", ids["BH-2024-01"]),
        ("change_patch", ids["BH-2025-01"]),
    ]
    with transaction(sessions, "api:liaison1") as s:
        for kind, tid in targets * 2:
            verify.create_verification(
                s, target_kind=kind, target_id=tid, result="construction", actor="api:liaison1"
            )
    with sessions() as s:
        statements: list[str] = []
        engine = s.get_bind()

        def record(conn, cursor, statement, *rest) -> None:
            statements.append(statement)

        sqlalchemy.event.listen(engine, "before_cursor_execute", record)
        try:
            found = verify.list_verifications(s)
        finally:
            sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    assert len(found) == 8
    assert {(v.target_kind, v.target_code) for v in found} == {
        ("farmland_parcel", "P1"),
        ("farmland_parcel", "P2"),
        ("change_patch", "BH-2024-01"),
        ("change_patch", "BH-2025-01"),
    }
    assert len(statements) == 3, statements
