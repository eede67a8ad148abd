"""The API against its own OpenAPI schema (schemathesis), and every filter against SQL injection.

schemathesis generates requests for every operation in ``/openapi.json`` (including endpoints
other engineers add later) with an admin token, and checks there is no 5xx, every status code
is one the operation documents (``api.errors.document_errors`` lists the error statuses each
route can give) and every documented response matches its schema. The tally of cases by status
is written to ``test-artifacts/schemathesis.json`` (the figures in docs/security.md). The
injection test sends classic SQL-injection strings in every query parameter and every string
path parameter of every operation, and checks the answers are clean (no 5xx, no SQL or driver
text) and that the database is intact afterwards.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from api import create_app
from geo_enforce.access import auth
from geo_enforce.settings import Settings
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from tests.conftest import ARTIFACTS
from tests.support.trust_seed import seed_ledger

INJECTIONS = (
    "' OR '1'='1",
    "1' OR 1=1 --",
    "1; DROP TABLE structure; --",
    "'; DELETE FROM audit_log; --",
    "x' UNION SELECT usename, passwd FROM pg_shadow --",
    "1 AND 1=CAST((SELECT version()) AS int)",
    "%' AND pg_sleep(5) IS NULL AND '%'='",
    "\\'; SELECT 1; --",
    "$$; SELECT 1; $$",
    '"; DROP TABLE app_user; --',
    "村' OR 1=1 --",
    "1e309",
    "-1",
    "9" * 40,
)
ROOT = Path(__file__).resolve().parents[2]
LEAKS = ("Traceback", "psycopg2", "sqlalchemy", "syntax error", "SELECT ", "/work/", 'File "')
#: cases run by the schema test, by operation and status (written at module teardown)
TALLY: collections.Counter[tuple[str, int]] = collections.Counter()


@pytest.fixture(scope="module")
def app_and_token(module_db_url: str, tmp_path_factory):
    engine = make_engine(module_db_url)
    factory = make_sessionmaker(engine)
    seed_ledger(factory)
    with transaction(factory, "test:schemathesis") as s:
        auth.create_user(s, "st_admin", "admin")
        token, _ = auth.issue_token(s, "st_admin", ttl_days=1)
    engine.dispose()
    data_dir = Path(tmp_path_factory.mktemp("st")) / "var"
    APP.state.settings = Settings(database_url=module_db_url, data_dir=data_dir)
    with TestClient(APP, raise_server_exceptions=False) as client:  # runs the lifespan
        yield APP, token, client
    if TALLY:
        ARTIFACTS.mkdir(exist_ok=True)
        by_status: collections.Counter[int] = collections.Counter()
        for (_, status), n in TALLY.items():
            by_status[status] += n
        (ARTIFACTS / "schemathesis.json").write_text(
            json.dumps(
                {
                    "cases": sum(TALLY.values()),
                    "operations": len({op for op, _ in TALLY}),
                    "by_status": {str(k): v for k, v in sorted(by_status.items())},
                },
                indent=1,
            )
        )


#: Built at import so schemathesis can read the schema at collection; the module fixture hands
#: the app its real settings (database, data directory) before the lifespan starts.
APP = create_app(Settings(database_url="postgresql://placeholder@127.0.0.1:1/none"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def no_internal_text(ctx, response, case) -> None:
    """No traceback, driver/ORM name or server path in any textual response."""
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if not ctype.startswith(("application/json", "text/", "application/geo+json")):
        return
    body = response.text
    for leak in ("Traceback", "psycopg2", "sqlalchemy", str(ROOT), "/tmp/"):
        if leak in body:
            raise AssertionError(f"response leaks {leak!r}: {body[:300]}")


# Revoking random token ids would revoke this test's own token and turn the rest of the run
# into 401s; revocation is tested directly in test_trust_api.py.
@pytest.mark.slow
@schema.exclude(path="/tokens/{token_id}/revoke").parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, app_and_token):
    _, token, _ = app_and_token
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            no_internal_text,
        ],
    )
    TALLY[(case.operation.label, response.status_code)] += 1
    assert response.status_code != 401, "the test's admin token stopped working"


def _operations(app) -> list[tuple[str, str, dict]]:
    ops = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                ops.append((method.upper(), path, op))
    return ops


def _fill(path: str, op: dict, override: dict[str, str]) -> str:
    for p in op.get("parameters", []):
        if p["in"] == "path":
            value = override.get(p["name"])
            if value is None:
                kind = p.get("schema", {}).get("type")
                value = "1" if kind == "integer" else "structure"
            path = path.replace("{" + p["name"] + "}", value)
    return path


def _clean(r, where: str, sent: str) -> None:
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
    # an error may quote the caller's own value back; anything else is a leak
    body = r.text
    for echo in (json.dumps(sent, ensure_ascii=False)[1:-1], sent, sent[:20], sent[:30]):
        body = body.replace(echo, "")
    for leak in LEAKS:
        assert leak not in body, f"{where} leaks {leak!r}: {r.text[:300]}"


def test_every_filter_resists_sql_injection(app_and_token, module_db_url):
    app, token, client = app_and_token
    headers = {"Authorization": f"Bearer {token}"}
    engine = make_engine(module_db_url)
    with engine.connect() as conn:
        before = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("structure", "audit_log", "app_user")
        }
    tried = 0
    for method, path, op in _operations(app):
        if method != "GET":
            continue
        params = op.get("parameters", [])
        for p in params:
            targets = []
            if p["in"] == "query":
                targets = [(p["name"], "query")]
            elif p["in"] == "path" and p.get("schema", {}).get("type") != "integer":
                targets = [(p["name"], "path")]
            for name, where in targets:
                for bad in INJECTIONS:
                    if where == "query":
                        url = _fill(path, op, {})
                        r = client.get(url, params={name: bad}, headers=headers)
                    else:
                        url = _fill(path, op, {name: bad.replace("/", "")})
                        r = client.get(url, headers=headers)
                    _clean(r, f"GET {path} {name}={bad!r}", bad)
                    tried += 1
    assert tried > 50  # audit, public and the other engineers' filters were all exercised
    with engine.connect() as conn:
        after = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("structure", "audit_log", "app_user")
        }
    engine.dispose()
    assert after == before


def test_injection_in_bodies_is_stored_as_data(app_and_token):
    """A name full of SQL is refused by validation or stored verbatim, never executed."""
    _, token, client = app_and_token
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(
        "/users",
        json={"name": "x'); DROP TABLE app_user; --", "role": "viewer"},
        headers=headers,
    )
    assert r.status_code == 422
    r = client.post(
        "/users",
        json={"name": "inj", "role": "viewer", "display_name": "'); DROP TABLE app_user; --"},
        headers=headers,
    )
    assert r.status_code == 201
    assert client.get("/users/inj", headers=headers).json()["display_name"].startswith("');")


def test_injection_in_a_case_number_is_data(app_and_token):
    _, token, client = app_and_token
    headers = {"Authorization": f"Bearer {token}"}
    case_no = "XQ'; DROP TABLE structure; --"
    square = [[117.21, 39.01], [117.2103, 39.01], [117.2103, 39.0103], [117.21, 39.0103]]
    r = client.post(
        "/structures",
        json={
            "case_no": case_no,
            "category": "wall",
            "geometry": {"type": "Polygon", "coordinates": [[*square, square[0]]]},
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = client.get(f"/structures/by-case/{case_no}", headers=headers)
    assert r.status_code == 200 and case_no in r.text
    assert client.get("/public/cases").status_code == 200  # the table is still there
