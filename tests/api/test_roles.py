"""The route-policy table lists every route and nothing else, and its roles are enforced.

The routes are read from ``create_app(...)`` at collection time, so endpoints other engineers
add later are covered without touching this file: a route missing from
``geo_enforce/access/policy.py`` fails here (and is refused for everyone at run time); each route
gets a request with a role just too low (403, or 401 without a token) and one with its role
from the table (neither 401 nor 403); the handler's own Viewer/Liaison/Editor/Admin declaration
must agree with the table; and docs/security.md carries the table as generated.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from api import create_app
from api.deps import write_session
from geo_enforce.access import auth, policy
from geo_enforce.settings import ROLES, AuthSettings, Settings
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from geo_enforce.storage.models import ApiToken

#: Open to everyone: health, the 公示 disclosure views, the API's own docs, static files, and
#: the field map's sign-in page and web-app files (no data: the page asks /me, the worker caches
#: only what the viewer's own requests fetch). The table may open nothing else.
PUBLIC_PATHS = {
    "/health",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/map/login",
    "/map/sw.js",
    "/map/manifest.webmanifest",
    "/map/icons/{size}.png",
}
PUBLIC_PREFIXES = ("/public/", "/static/")
ROOT = Path(__file__).resolve().parents[2]

#: Dummy values for path parameters, by name (others: 1 for ints, "x" for strings).
PATH_VALUES = {
    "layer": "structure",
    "collection_id": "structure",
    "collection": "structure",
    "table": "structure",
    "fmt": "png",
    "z": "14",
    "x": "13525",
    "y": "6240",
    "name": "nobody",
    "case_no": "NONE-1",
}
#: Integer path parameters point at no record, so a request that passes the role check
#: changes nothing (e.g. revoking token 1 would lock this test's own viewer out).
MISSING_ID = "999999"

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: POST endpoints that only read (a polygon in the body is too large for a query string).
#: Any other POST/PUT/PATCH counts as a write, whatever session it uses.
READ_ONLY_POSTS = {"/parcels/search", "/parcels/overlay", "/parcels/overlay/sheet"}


def _all_routes(app):
    """Every route of the app with its effective path (routers included with a prefix)."""
    it = getattr(fastapi.routing, "_iter_included_route_candidates", None)
    return list(it(app.routes)) if it else list(app.routes)


def _declared_role(route: APIRoute) -> str | None:
    """The strongest role any dependency of the handler declares (None: no role dependency)."""
    found: list[str] = []

    def walk(dep) -> None:
        role = getattr(dep.call, "required_role", None)
        if role:
            found.append(role)
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    if not found:
        return None
    return max(found, key=auth.ROLE_RANK.__getitem__)


def _writes(route: APIRoute, method: str) -> bool:
    """Whether the route writes: it opens ``WriteDB``, or it is a POST/PUT/PATCH that is not
    on the explicit read-only list."""

    def walk(dep) -> bool:
        return dep.call is write_session or any(walk(sub) for sub in dep.dependencies)

    if walk(route.dependant):
        return True
    return method in WRITE_METHODS and route.path not in READ_ONLY_POSTS


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _required_role(route: APIRoute, method: str) -> str | None:
    """The route's least role from the route-policy table (None: public)."""
    role = policy.required_role(method, route.path)
    assert role is not None, f"{method} {route.path} is not in geo_enforce/access/policy.py"
    return None if role == policy.PUBLIC else role


def _app():
    return create_app(Settings(database_url="postgresql://u@127.0.0.1:1/none"))


def _routes():
    out = []
    for route in _all_routes(_app()):
        if isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                out.append(pytest.param(route, method, id=f"{method} {route.path}"))
    return out


ROUTES = _routes()


def _app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, API routes and the framework's own."""
    out = set()
    for route in _all_routes(_app()):
        for method in (getattr(route, "methods", None) or {"GET"}) - {"HEAD"}:
            out.add((method, route.path))
    return out


def test_policy_table_lists_every_route_and_nothing_else():
    table = set(policy.POLICY)
    routes = _app_routes()
    assert not routes - table, f"routes missing from the policy table: {sorted(routes - table)}"
    assert not table - routes, f"policy rows for no route: {sorted(table - routes)}"


def test_handler_declarations_agree_with_the_table():
    for p in ROUTES:
        route, method = p.values
        assert _declared_role(route) == _required_role(route, method), (
            f"{method} {route.path}: the handler declares {_declared_role(route)}, the policy "
            f"table says {_required_role(route, method)}"
        )


def test_only_health_public_views_docs_and_static_files_are_public():
    for (method, path), role in policy.POLICY.items():
        if role == policy.PUBLIC:
            assert method == "GET" and _is_public(path), f"{method} {path} must not be public"


def test_decided_roles():
    """Flights are admin's, opening a case is editor's (issue 13, item 9)."""
    assert policy.required_role("POST", "/flights") == "admin"
    assert policy.required_role("POST", "/flights/{ref}/retire") == "admin"
    assert policy.required_role("POST", "/verifications/{verification_id}/structure-case") == (
        "editor"
    )
    assert policy.required_role("POST", "/structures") == "editor"


def test_security_doc_carries_the_generated_table():
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    start, end = "<!-- route-policy:start -->", "<!-- route-policy:end -->"
    assert start in doc and end in doc, "docs/security.md lost its route-policy markers"
    block = doc.split(start, 1)[1].split(end, 1)[0].strip()
    assert block == policy.markdown_table(), (
        "docs/security.md's route table differs from geo_enforce/access/policy.py: paste the "
        "output of `python -m geo_enforce.access.policy` between the markers"
    )


def test_unlisted_route_is_refused_for_everyone(module_db_url: str, tmp_path: Path):
    """Deny by default: a route someone adds without a policy row answers 403, even to admin."""
    app = create_app(Settings(database_url=module_db_url, data_dir=tmp_path / "var"))

    @app.get("/unlisted-probe")
    def probe() -> dict:
        return {"ok": True}

    engine = make_engine(module_db_url)
    with transaction(make_sessionmaker(engine), "test:roles") as s:
        auth.create_user(s, "t_unlisted", "admin")
        token, _ = auth.issue_token(s, "t_unlisted", ttl_days=1)
    engine.dispose()
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/unlisted-probe", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert "policy.py" in r.json()["error"]["message"]


def _url(route: APIRoute) -> str:
    params = {p.name: p for p in route.dependant.path_params}

    def value(m: re.Match) -> str:
        name = m.group(1).split(":")[0]
        if name in PATH_VALUES:
            return PATH_VALUES[name]
        p = params.get(name)
        return MISSING_ID if p is not None and p.field_info.annotation is int else "x"

    return re.sub(r"\{([^}]+)\}", value, route.path)


@pytest.fixture(scope="module")
def role_client(module_db_url: str, tmp_path_factory):
    settings = Settings(
        database_url=module_db_url, data_dir=Path(tmp_path_factory.mktemp("roles")) / "var"
    )
    engine = make_engine(module_db_url)
    tokens: dict[str, str] = {}
    with transaction(make_sessionmaker(engine), "test:roles") as s:
        for role in ROLES:
            auth.create_user(s, f"t_{role}", role)
            tokens[role], _ = auth.issue_token(s, f"t_{role}", ttl_days=1)
        auth.create_user(s, "t_expired", "admin")
        tokens["expired"], tok = auth.issue_token(s, "t_expired", ttl_days=1)
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == tok.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
        auth.create_user(s, "t_revoked", "admin")
        tokens["revoked"], tok = auth.issue_token(s, "t_revoked", ttl_days=1)
        auth.revoke_token(s, tok.id, actor="test")
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c, tokens


def _call(client: TestClient, route: APIRoute, method: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] | None = {} if method in WRITE_METHODS else None
    return client.request(method, _url(route), headers=headers, json=body)


def test_routes_were_found():
    paths = {p.values[0].path for p in ROUTES}
    assert "/health" in paths and "/audit" in paths and "/public/cases" in paths


@pytest.mark.parametrize(("route", "method"), ROUTES)
def test_route_declares_role_or_is_public(route: APIRoute, method: str):
    role = _required_role(route, method)
    if role is None:
        assert _is_public(route.path), (
            f"{method} {route.path} declares no role: add Viewer/Liaison/Editor/Admin from "
            "api.deps, or (only for health and 公示 views) add it to the public allow-list"
        )
    assert method != "DELETE", f"{route.path}: no endpoint hard-deletes; add a retire action"
    if _writes(route, method):
        # the squad's viewers (and anonymous map users) are read-only
        assert role is not None and auth.ROLE_RANK[role] > auth.ROLE_RANK["viewer"], (
            f"{method} {route.path} writes but does not require more than viewer"
        )


@pytest.mark.parametrize(("route", "method"), ROUTES)
def test_role_is_enforced(route: APIRoute, method: str, role_client):
    client, tokens = role_client
    role = _required_role(route, method)
    if role is None:
        r = _call(client, route, method, None)
        assert r.status_code not in (401, 403), f"public {route.path} refused: {r.text[:200]}"
        return
    rank = auth.ROLE_RANK[role]
    # no token at all
    r = _call(client, route, method, None)
    assert r.status_code == 401, f"{method} {route.path} without token: {r.status_code}"
    assert r.json()["error"]["code"] == "AuthenticationFailed"
    for bad in ("expired", "revoked"):
        r = _call(client, route, method, tokens[bad])
        assert r.status_code == 401, f"{method} {route.path} with {bad} token: {r.status_code}"
    # every role below the declared one
    for lower in ROLES[:rank]:
        r = _call(client, route, method, tokens[lower])
        assert r.status_code == 403, f"{method} {route.path} as {lower}: {r.status_code}"
        assert r.json()["error"]["code"] == "PermissionDenied"
    # the declared role and every higher one get through the role check
    for ok in ROLES[rank:]:
        r = _call(client, route, method, tokens[ok])
        assert r.status_code not in (401, 403), (
            f"{method} {route.path} as {ok}: {r.status_code} {r.text[:200]}"
        )


def test_non_api_routes_are_known():
    for route in _all_routes(_app()):
        if isinstance(route, APIRoute):
            continue
        path = getattr(route, "path", "")
        assert policy.required_role("GET", path) == policy.PUBLIC and _is_public(path), (
            f"route {path} ({type(route).__name__}) is neither an API route with a role nor an "
            "allowed public page"
        )


def test_anonymous_public_cannot_write(module_db_url: str, tmp_path: Path):
    """anonymous_role='public' opens the 公示 views only: writes (and reads) need a token."""
    settings = Settings(
        database_url=module_db_url,
        data_dir=tmp_path / "var",
        auth=AuthSettings(anonymous_role="public"),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/me").status_code == 403
        for p in ROUTES:
            route, method = p.values
            if _writes(route, method):
                r = _call(c, route, method, None)
                assert r.status_code == 403, f"anonymous {method} {route.path}: {r.status_code}"


@pytest.mark.parametrize("role", ["viewer", "liaison", "editor", "admin"])
def test_anonymous_role_cannot_be_a_user_role(role: str):
    with pytest.raises(ValueError, match="anonymous_role may only be 'public'"):
        Settings(auth={"anonymous_role": role})  # type: ignore[arg-type]  # validated from a dict
