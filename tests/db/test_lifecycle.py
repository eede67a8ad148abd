"""Structure lifecycle: legal paths, refused moves, stale versions; library, API and CLI."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import mapping
from sqlalchemy import func, select

from geo_enforce.errors import Conflict, IllegalTransition, InvalidInput
from geo_enforce.io import sanity
from geo_enforce.ledger import edits as ledger
from geo_enforce.ledger import lifecycle
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.models import AuditLog, Structure, StructureTransition
from tests.conftest import bearer_headers
from tests.support.geometries import bowtie, square


def _new(session, case_no="JX-2024-9001"):
    return ledger.create_structure(
        session,
        case_no=case_no,
        geometry=square,
        category="steel_shed",
        discovered_on=dt.date(2024, 3, 1),
    )


def test_full_path_sets_dates_and_records_each_step(sessions):
    with transaction(sessions, "cli:alice") as s:
        st = _new(s)
        for to, day in (
            ("verified", "2024-03-05"),
            ("notice_served", "2024-03-10"),
            ("demolished", "2024-05-01"),
        ):
            lifecycle.transition(
                s,
                st,
                to,
                actor="cli:alice",
                reason=f"步骤 {to}",
                effective_on=dt.date.fromisoformat(day),
                deadline=dt.date(2024, 4, 10) if to == "notice_served" else None,
            )
    with sessions() as s:
        st = s.scalar(select(Structure))
        assert st.status == "demolished"
        assert (st.notice_on, st.deadline_on, st.demolished_on, st.closed_on) == (
            dt.date(2024, 3, 10),
            dt.date(2024, 4, 10),
            dt.date(2024, 5, 1),
            dt.date(2024, 5, 1),
        )
        steps = [(t.from_status, t.to_status) for t in lifecycle.history(s, st.id)]
        assert steps == [
            ("suspected", "verified"),
            ("verified", "notice_served"),
            ("notice_served", "demolished"),
        ]
        # 1 insert + 3 updates of the structure, 3 transition inserts
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 7


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], "demolished"),  # suspected → demolished skips verification
        ([], "notice_served"),
        (["verified", "notice_served", "demolished"], "verified"),  # closed case stays closed
        (["dismissed"], "verified"),
    ],
)
def test_illegal_transitions_refused_and_nothing_written(sessions, path, bad):
    with transaction(sessions, "t") as s:
        st = _new(s)
        for to in path:
            deadline = (
                sanity.beijing_today() + dt.timedelta(days=30) if to == "notice_served" else None
            )
            lifecycle.transition(s, st, to, actor="t", reason="ok", deadline=deadline)
        sid = st.id
    with pytest.raises(IllegalTransition, match="cannot go from"), transaction(sessions, "t") as s:
        got = s.get(Structure, sid)
        assert got is not None
        lifecycle.transition(s, got, bad, actor="t", reason="x")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StructureTransition)) == len(path)


def test_reason_required_and_stale_version_refused(sessions):
    with transaction(sessions, "t") as s:
        st = _new(s)
        with pytest.raises(InvalidInput, match="reason"):
            lifecycle.transition(s, st, "verified", actor="t", reason="  ")
        with pytest.raises(Conflict, match="changed by someone else"):
            lifecycle.transition(
                s, st, "verified", actor="t", reason="r", expected_version=st.version + 1
            )


def test_invalid_geometry_refused_by_name(sessions):
    with pytest.raises(InvalidInput, match=r"JX-BAD.*invalid"), transaction(sessions, "t") as s:
        ledger.create_structure(s, case_no="JX-BAD", geometry=bowtie, category="wall")


@pytest.fixture
def editor_headers(sessions):
    editor, viewer = bearer_headers(sessions, ("ed", "editor"), ("vw", "viewer"), actor="setup")
    return editor, viewer


def test_api_create_edit_transition_with_locking(client, editor_headers):
    ed, vw = editor_headers
    body = {
        "case_no": "JX-2024-9100",
        "category": "villa",
        "floors": 2,
        "discovered_on": "2024-02-01",
        "party_name": "张某",
        "geometry": mapping(square),
    }
    r = client.post("/structures", json=body, headers=ed)
    assert r.status_code == 201, r.text
    feat = r.json()
    sid, version = feat["id"], feat["properties"]["version"]
    assert feat["properties"]["floor_area_m2"] == pytest.approx(2 * feat["properties"]["area_m2"])
    assert client.post("/structures", json=body, headers=vw).status_code == 403
    # viewers do not see personal data; editors do
    assert (
        "party_name"
        not in client.get("/structures/by-case/JX-2024-9100", headers=vw).json()["properties"]
    )
    r = client.patch(f"/structures/{sid}", json={"floors": 3, "version": version}, headers=ed)
    assert r.status_code == 200 and r.json()["properties"]["floors"] == 3
    stale = client.patch(f"/structures/{sid}", json={"floors": 4, "version": version}, headers=ed)
    assert stale.status_code == 409
    assert stale.json()["error"]["current_version"] == version + 1
    current = client.get(f"/structures/{sid}", headers=vw).headers["ETag"]
    assert current == f'"{version + 1}"'
    r = client.post(
        f"/structures/{sid}/transitions",
        json={"to_status": "demolished", "reason": "x"},
        headers={**ed, "If-Match": current},
    )
    assert r.status_code == 409 and "cannot go from suspected" in r.json()["error"]["message"]
    r = client.post(
        f"/structures/{sid}/transitions",
        json={"to_status": "verified", "reason": "现场核实", "effective_on": "2024-02-03"},
        headers={**ed, "If-Match": current},
    )
    assert r.status_code == 201 and r.json()["to_status_label"] == "已核实"
    hist = client.get(f"/structures/{sid}/transitions", headers=vw).json()
    assert [h["to_status"] for h in hist] == ["verified"]
    assert (
        client.post(
            f"/structures/{sid}/retire", json={"reason": "重复登记"}, headers=ed
        ).status_code
        == 403
    )


def test_cli_transition(sessions, db_url, monkeypatch):
    from typer.testing import CliRunner

    from geo_enforce.cli import app, common

    with transaction(sessions, "t") as s:
        _new(s, "JX-2024-9200")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:tester")
    common.settings.cache_clear()
    common.engine.cache_clear()
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "structure",
            "transition",
            "JX-2024-9200",
            "verified",
            "--reason",
            "巡查发现",
            "--on",
            "2024-03-02",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "suspected → verified" in res.output
    res = runner.invoke(
        app, ["structure", "transition", "JX-2024-9200", "demolished", "--reason", "x"]
    )
    assert res.exit_code != 0
    common.settings.cache_clear()
    common.engine.cache_clear()
    with sessions() as s:
        t = s.scalar(select(StructureTransition))
        assert (t.actor, t.effective_on) == ("cli:tester", dt.date(2024, 3, 2))
