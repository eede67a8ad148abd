"""Anonymous access serves only the public view (issue 13 item 6).

With ``auth.anonymous_role = 'public'`` a caller without a token is the ``public`` principal: it
ranks below every user role, so every route of the route-policy table that needs a role answers
403, and the routes open to everyone (公示, health, docs) carry no personal data, notes, staff
names, full addresses or undecided cases. The ledger holds all of those, so a leak would show.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api import create_app
from geo_enforce.access import policy
from geo_enforce.settings import AuthSettings, Settings
from tests.support.trust_seed import seed_ledger

#: Stand-in values for path parameters (the records they point at need not exist: a refused
#: route answers 403 before looking).
PATH_VALUES = {
    "layer": "structure",
    "collection_id": "structure",
    "table": "structure",
    "fmt": "png",
    "z": "14",
    "x": "13525",
    "y": "6240",
    "path": "x.js",
}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)


@pytest.fixture
def public_client(settings: Settings, sessions):
    seed_ledger(sessions)
    with sessions.begin() as s:  # personal data inside the address too, and staff names
        s.execute(
            text(
                "UPDATE structure SET address = '大任庄村张0某家东头⑫號之3', "
                "retired_by = NULL WHERE case_no = 'XQ-2024-0002'"
            )
        )
    app = create_app(settings.model_copy(update={"auth": AuthSettings(anonymous_role="public")}))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_anonymous_reaches_only_public_routes(public_client):
    reached = []
    for rule in policy.RULES:
        if rule.method != "GET":
            continue
        r = public_client.get(_url(rule.path))
        if rule.role == policy.PUBLIC:
            assert r.status_code not in (401, 403), rule.path
            reached.append(rule.path)
        else:
            assert r.status_code == 403, f"anonymous GET {rule.path}: {r.status_code}"
            assert r.json()["error"]["code"] == "PermissionDenied"
    assert "/public/cases" in reached and "/public/cases.geojson" in reached


def test_anonymous_browser_opening_the_map_is_sent_to_sign_in(public_client):
    """The demo reads 公示 without a token; the squad's browser opening /map there got a 403
    JSON it could not act on. A page load without credentials goes to /map/login instead."""
    r = public_client.get("/map", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/map/login?next=")
    assert public_client.get("/map").status_code == 403  # an API client keeps the JSON error
    with_token = public_client.get(
        "/map",
        headers={"Accept": "text/html", "Authorization": "Bearer ge_not-a-real-token"},
        follow_redirects=False,
    )
    assert with_token.status_code == 303  # a stale token: 401, signed in again


def test_public_routes_carry_no_personal_data(public_client, sessions):
    with sessions() as s:
        private = s.execute(
            text(
                "SELECT party_name, party_id_no, party_phone, notes, address, case_no, status "
                "FROM structure"
            )
        ).all()
    bodies = [public_client.get(p).text for p in ("/public/cases", "/public/cases.geojson")]
    published = {c["case_no"] for c in public_client.get("/public/cases").json()["items"]}
    assert published, "the seed holds decided cases"
    for body in bodies:
        for name, id_no, phone, notes, address, case_no, status in private:
            for secret in (name, id_no, phone, notes):
                assert secret not in body
            assert address not in body  # never the full address
            if status in ("suspected", "verified"):  # undecided: not published at all
                assert case_no not in body and case_no not in published
        assert "editor1" not in body and "cli:seed" not in body  # no staff names
        assert not re.search(r"\d+号", body) and "⑫" not in body and "张0某" not in body
