"""Audit history, public disclosure (公示), optimistic locking, users/tokens and upload checks."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm.exc import StaleDataError

from geo_enforce.access import auth
from geo_enforce.errors import InvalidInput, NotFound, TooLarge
from geo_enforce.io import uploads
from geo_enforce.ledger import public
from geo_enforce.settings import ROLES, PublicSettings
from geo_enforce.storage import audit
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.locking import (
    StaleVersion,
    expected_version,
    lock_for_update,
    parse_if_match,
    update_versioned,
)
from geo_enforce.storage.models import AppUser, Structure
from tests.support.trust_seed import seed_ledger


@pytest.fixture
def seeded(sessions):
    return seed_ledger(sessions)


@pytest.fixture
def tokens(sessions):
    out = {}
    with transaction(sessions, "test") as s:
        for role in ("viewer", "editor", "admin"):
            auth.create_user(s, f"u_{role}", role)
            out[role], _ = auth.issue_token(s, f"u_{role}", ttl_days=1)
    return {k: {"Authorization": f"Bearer {v}"} for k, v in out.items()}


# --- audit ---------------------------------------------------------------------------------


def test_record_history_shows_who_when_old_new(sessions, seeded):
    sid = seeded["structure"][0]
    with sessions() as s:
        entries = audit.record_history(s, "structure", sid)
    assert [e.action for e in entries] == ["insert", "update"]
    assert entries[0].actor == "cli:seed"
    edit = entries[1]
    assert edit.actor == "api:editor1"
    assert edit.changes["floors"] == {"old": 1, "new": 3}
    assert edit.changes["notes"]["new"] == "复核后层数更正"
    assert "version" not in edit.changes and edit.version == 2
    assert entries[0].at <= edit.at


def test_history_filters(sessions, seeded):
    with sessions() as s:
        retired, n = audit.history(s, action="retire")
        assert n == 1 and retired[0].record_id == seeded["structure"][-1]
        by_editor, n_ed = audit.history(s, actor="editor1")
        assert n_ed == 2 and {e.actor for e in by_editor} == {"api:editor1"}
        assert audit.history(s, actor="api:editor1")[1] == 2
        future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        assert audit.history(s, since=future)[1] == 0
        assert audit.history(s, until=future, table="cleared_parcel")[1] == 2
        with pytest.raises(InvalidInput, match="not audited"):
            audit.history(s, table="pg_authid")
        with pytest.raises(NotFound):
            audit.record_history(s, "structure", 999_999)


def test_audit_api(client, seeded, tokens):
    sid = seeded["structure"][0]
    r = client.get(f"/audit/structure/{sid}", headers=tokens["editor"])
    assert r.status_code == 200
    assert [e["action"] for e in r.json()] == ["insert", "update"]
    assert r.json()[1]["changes"]["floors"] == {"old": 1, "new": 3}
    assert r.json()[0]["changes"]["geom"]["new"] == audit.GEOMETRY_MARK
    r = client.get("/audit", params={"actor": "editor1", "limit": 1}, headers=tokens["editor"])
    assert r.json()["total"] == 2 and len(r.json()["items"]) == 1
    assert client.get("/audit", headers=tokens["viewer"]).status_code == 403
    r = client.get(
        "/audit", params={"table": "x'; DROP TABLE audit_log; --"}, headers=tokens["editor"]
    )
    assert r.status_code == 422 and "not audited" in r.json()["error"]["message"]


def test_audit_log_cannot_be_rewritten(engine, seeded):
    # the app role has no UPDATE on audit_log; the owner meets the append-only trigger
    # (tests/db/test_db_roles.py)
    with engine.connect() as conn, pytest.raises(Exception, match="permission denied"):
        conn.execute(text("UPDATE audit_log SET actor = 'someone else'"))


# --- public disclosure --------------------------------------------------------------------


def test_mask_address():
    assert public.mask_address("大任庄村东街12号") == "大任庄村东街＊号"
    assert public.mask_address("小南河村3排5号院") == "小南河村＊排＊号院"
    assert public.mask_address("联系13800001234") == "联系＊"
    assert public.mask_address(None) is None


def test_public_cases_carry_no_personal_data(client, seeded):
    r = client.get("/public/cases")  # no token
    assert r.status_code == 200
    body = r.json()
    raw = r.text
    # decided statuses only, the retired case never
    assert {c["status"] for c in body["items"]} <= set(PublicSettings().statuses)
    assert body["total"] == len(body["items"]) > 0
    retired_case = "XQ-2024-0011"
    assert retired_case not in raw
    for i in range(12):
        assert f"张{i}某" not in raw
        assert f"12011119800101{i:04d}" not in raw
        assert f"1380000{i:04d}" not in raw
    assert "案卷" not in raw  # notes are never published
    case = body["items"][0]
    assert case["address"].endswith("＊号") and case["village_name"] == "大任庄村"
    assert case["area_m2"] > 0 and case["decision_label"]
    assert abs(case["lon"] - 117.2) < 0.02
    r = client.get("/public/cases", params={"status": "suspected"})
    assert r.status_code == 422


def test_public_cases_unmasked_when_configured(sessions, seeded):
    with sessions() as s:
        items, _ = public.decided_cases(s, PublicSettings(mask_house_numbers=False))
    assert any(c.address and c.address[-2].isdigit() for c in items)


# --- optimistic locking -------------------------------------------------------------------


def test_if_match_parsing():
    assert parse_if_match('"7"') == 7
    assert parse_if_match('W/"7"') == 7
    assert parse_if_match("*") is None and parse_if_match(None) is None
    with pytest.raises(InvalidInput):
        parse_if_match("yesterday")
    with pytest.raises(InvalidInput, match="needs the version"):
        expected_version(None, None)
    with pytest.raises(InvalidInput, match="body says"):
        expected_version('"2"', 3)


def test_update_versioned_refuses_stale_writes(sessions, seeded):
    sid = seeded["structure"][1]
    with transaction(sessions, "api:a") as s:
        assert update_versioned(s, Structure, sid, 1, {"floors": 2}) == 2
    with transaction(sessions, "api:b") as s, pytest.raises(StaleVersion) as err:
        update_versioned(s, Structure, sid, 1, {"floors": 4})
    assert err.value.current_version == 2
    with transaction(sessions, "api:b") as s, pytest.raises(NotFound):
        update_versioned(s, Structure, seeded["structure"][-1], 1, {"floors": 4})


def test_orm_writes_are_version_checked(sessions, seeded):
    """Two sessions load the same version; the second ORM write fails instead of overwriting."""
    sid = seeded["structure"][2]
    a, b = sessions(), sessions()
    try:
        sa, sb = a.get(Structure, sid), b.get(Structure, sid)
        sa.floors = 2
        a.commit()
        sb.floors = 5
        with pytest.raises(StaleDataError):
            b.commit()
    finally:
        a.close()
        b.close()
    with sessions() as s:
        assert s.get(Structure, sid).floors == 2


def test_raw_sql_update_bumps_version(engine, seeded):
    sid = seeded["structure"][3]
    with engine.begin() as conn:
        conn.execute(text("UPDATE structure SET notes = 'x' WHERE id = :i"), {"i": sid})
        assert (
            conn.execute(text("SELECT version FROM structure WHERE id = :i"), {"i": sid}).scalar()
            == 2
        )


def test_lock_for_update_serialises_editors(sessions, seeded):
    """While one editor holds the row, a second waits, then sees the new version and fails."""
    sid = seeded["structure"][4]
    first_locked = threading.Event()
    results: list[str] = []

    def second():
        first_locked.wait(10)
        with transaction(sessions, "api:b") as s:
            try:
                lock_for_update(s, Structure, sid, 1)
                results.append("wrote")
            except StaleVersion as exc:
                results.append(f"stale {exc.current_version}")

    t = threading.Thread(target=second)
    t.start()
    with transaction(sessions, "api:a") as s:
        st = lock_for_update(s, Structure, sid, 1)
        first_locked.set()
        st.notes = "first editor's note"
    t.join(20)
    assert results == ["stale 2"]


def test_user_edit_conflict_over_http(client, tokens):
    h = tokens["admin"]
    r = client.post("/users", json={"name": "li.ming", "role": "viewer"}, headers=h)
    assert r.status_code == 201 and r.headers["etag"] == '"1"'
    r1 = client.patch("/users/li.ming", json={"role": "liaison"}, headers={**h, "If-Match": '"1"'})
    assert r1.status_code == 200 and r1.json()["version"] == 2
    r2 = client.patch("/users/li.ming", json={"role": "editor"}, headers={**h, "If-Match": '"1"'})
    assert r2.status_code == 409
    assert r2.json()["error"]["current_version"] == 2
    r3 = client.patch("/users/li.ming", json={"role": "editor"}, headers=h)
    assert r3.status_code == 428  # no version: no blind writes (Precondition Required)
    assert r3.json()["error"]["code"] == "PreconditionRequired"
    r4 = client.patch("/users/li.ming", json={"role": "editor", "version": 2}, headers=h)
    assert r4.status_code == 200 and r4.json()["role"] == "editor"


# --- users and tokens ---------------------------------------------------------------------


def test_token_lifecycle_over_http(client, tokens, sessions):
    h = tokens["admin"]
    client.post("/users", json={"name": "zhao", "role": "editor"}, headers=h)
    r = client.post("/users/zhao/tokens", json={"days": 1, "label": "tablet"}, headers=h)
    assert r.status_code == 201
    tok = r.json()
    mine = {"Authorization": f"Bearer {tok['token']}"}
    assert client.get("/me", headers=mine).json() == {
        "name": "zhao",
        "role": "editor",
        "townships": None,  # one township (or none): every record
    }
    with sessions() as s:  # only the hash is stored
        stored = s.scalars(text("SELECT token_sha256 FROM api_token")).all()
        assert tok["token"] not in stored and auth.hash_token(tok["token"]) in stored
    assert client.post(f"/tokens/{tok['id']}/revoke", headers=h).status_code == 204
    assert client.get("/me", headers=mine).status_code == 401
    assert (
        client.post("/users", json={"name": "zhao", "role": "editor"}, headers=h).status_code == 409
    )
    r = client.post("/users/zhao/retire", json={"reason": "调离"}, headers=h)
    assert r.status_code == 200
    with sessions() as s:
        u = s.scalar(select(AppUser).where(AppUser.name == "zhao"))
        assert u.retired_at is not None and u.retired_by == "api:u_admin"


def test_cli_user_commands(db_url, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "geo-enforce")
    env = {**os.environ, "DATABASE_URL": db_url, "GEO_ENFORCE_ACTOR": "cli:test"}

    def run(*args):
        return subprocess.run([exe, "user", *args], env=env, capture_output=True, text=True)

    r = run("add", "wang", "--role", "liaison", "--token")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("ge_")
    r = run("token", "wang", "--days", "7", "--label", "phone")
    assert r.returncode == 0 and r.stdout.strip().startswith("ge_")
    r = run("list", "--tokens")
    assert r.returncode == 0 and "wang" in r.stdout and token not in r.stdout
    r = run("revoke", "wang", "--all")
    assert r.returncode == 0 and "2 token(s)" in r.stderr
    r = run("add", "wang", "--role", "editor")
    assert r.returncode == 2 and "already exists" in r.stderr
    r = run("add", "li", "--role", "boss")
    assert r.returncode == 2 and "unknown" in r.stderr


# --- uploads and request guards -----------------------------------------------------------


def test_upload_checks(tmp_path):
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 100
    with pytest.raises(TooLarge):
        uploads.read_limited(io.BytesIO(b"x" * 2000), 1000)
    ok = uploads.check_content(
        jpeg,
        allowed=uploads.PHOTO_KINDS,
        declared_type="image/jpeg",
        original_name="../../etc/passwd.jpg",
    )
    assert ok.kind == "jpeg" and ok.original_name == "passwd.jpg"
    with pytest.raises(InvalidInput, match="declared as 'image/png'"):
        uploads.check_content(jpeg, allowed=uploads.PHOTO_KINDS, declared_type="image/png")
    with pytest.raises(InvalidInput, match="accepted here"):
        uploads.check_content(b"<?php echo 1; ?>", allowed=uploads.PHOTO_KINDS)
    with pytest.raises(TooLarge):
        uploads.check_pixels(100_000, 100_000, 80_000_000)
    with pytest.raises(TooLarge):
        uploads.check_features(10, 5)
    name = uploads.store_bytes(tmp_path, "photos", ok)
    assert (tmp_path / "photos" / name).read_bytes() == jpeg and name.endswith(".jpg")
    with pytest.raises(InvalidInput):
        uploads.stored_path(tmp_path, "photos", "../secret.jpg")


def test_request_guards(client, tokens):
    r = client.get("/public/cases", params={"village_code": "a\x00b"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "InvalidInput"
    r = client.post(
        "/users", content=b"x", headers={**tokens["admin"], "Content-Length": str(10**12)}
    )
    assert r.status_code == 413
    # database-level errors never leak SQL or driver text
    r = client.get("/audit", params={"record_id": 2**62}, headers=tokens["editor"])
    assert r.status_code == 200


def test_no_internal_text_in_errors(client, tokens):
    r = client.get("/users/nobody", headers=tokens["admin"])
    assert r.status_code == 404
    body = r.text
    for leak in ("Traceback", "psycopg2", "SELECT", "/work/", "sqlalchemy"):
        assert leak not in body


def test_demo_users_get_one_token_per_role(sessions):
    for _ in range(2):  # reusable: a second call reuses the users, issues new tokens
        with transaction(sessions, "cli:demo") as s:
            tokens = auth.ensure_demo_users(s, ttl_days=1)
    with sessions() as s:
        for role, token in tokens.items():
            assert auth.authenticate(s, token) == auth.Principal(name=f"demo_{role}", role=role)
        assert len(auth.list_users(s)) == len(ROLES) == len(tokens)


def test_public_cases_geojson(client, seeded):
    r = client.get("/public/cases.geojson", params={"status": "demolished"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == len(fc["features"]) == 2
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and f["properties"]["decision_label"] == "已拆除"
    assert "张" not in r.text and "party" not in r.text


def test_token_cookie_is_for_reads_only(client, tokens):
    """The map's ge_token cookie opens reads; writes need the Bearer header (no CSRF)."""
    token = tokens["admin"]["Authorization"].removeprefix("Bearer ")
    client.cookies.set("ge_token", token)
    try:
        assert client.get("/me").json()["name"] == "u_admin"
        r = client.post("/users", json={"name": "csrf", "role": "admin"})
        assert r.status_code == 401
    finally:
        client.cookies.clear()
    r = client.post("/users", json={"name": "csrf", "role": "viewer"}, headers=tokens["admin"])
    assert r.status_code == 201


def test_cli_audit(db_url, sessions):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    ids = seed_ledger(sessions)
    exe = str(Path(sys.executable).parent / "geo-enforce")
    env = {**os.environ, "DATABASE_URL": db_url}
    r = subprocess.run(
        [exe, "audit", "history", "structure", str(ids["structure"][0]), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert [e["action"] for e in entries] == ["insert", "update"]
    assert entries[1]["changes"]["floors"] == {"old": 1, "new": 3}
    r = subprocess.run(
        [exe, "audit", "log", "--actor", "editor1", "--since", "2000-01-01"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "2 of 2 entries" in r.stdout
    r = subprocess.run(
        [exe, "audit", "history", "nonsense", "1"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2 and "not audited" in r.stderr


def test_database_constraint_errors_map_to_clean_statuses(client, sessions, monkeypatch):
    """Unique violations → 409, check violations → 422, out-of-range → 422: never the SQL."""
    from fastapi import Depends

    from geo_enforce.access import policy

    # the probe routes get rows in the route-policy table (unlisted routes are refused)
    for path in ("/_test/dup", "/_test/check", "/_test/range"):
        monkeypatch.setitem(policy.POLICY, ("POST", path), "admin")

    from api.deps import write_session

    wdb = Depends(write_session, scope="function")

    with transaction(sessions, "test") as s:
        auth.create_user(s, "dup", "viewer")

    @client.app.post("/_test/dup")
    def dup(session=wdb):
        session.execute(text("INSERT INTO app_user (name, role) VALUES ('dup', 'viewer')"))

    @client.app.post("/_test/check")
    def check(session=wdb):
        session.execute(text("INSERT INTO app_user (name, role) VALUES ('x', 'boss')"))

    @client.app.post("/_test/range")
    def out_of_range(session=wdb):
        session.execute(text("SELECT CAST(:v AS integer)"), {"v": str(10**12)})

    with transaction(sessions, "test") as s:
        auth.create_user(s, "root", "admin")
        token, _ = auth.issue_token(s, "root", ttl_days=1)
    h = {"Authorization": f"Bearer {token}"}
    for path, status in (("/_test/dup", 409), ("/_test/check", 422), ("/_test/range", 422)):
        r = client.post(path, headers=h)
        assert r.status_code == status, r.text
        assert "INSERT" not in r.text and "app_user" not in r.text and "psycopg2" not in r.text
