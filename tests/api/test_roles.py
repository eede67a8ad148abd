"""Every route declares its least role (or is explicitly public), and the role is enforced.

The routes are read from ``create_app(...)`` at collection time, so endpoints other engineers
add later are covered without touching this file: each one gets a request with a role just too
low (403, or 401 without a token) and one with its declared role (neither 401 nor 403).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from api import create_app
from api.deps import write_session
from geo_enforce.access import auth
from geo_enforce.settings import ROLES, Settings
from geo_enforce.storage.engine import make_engine, make_sessionmaker, transaction
from geo_enforce.storage.models import ApiToken

#: Open to everyone: health, the 公示 disclosure views, the API's own docs. Nothing else.
PUBLIC_PATHS = {
    "/health",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
#: 公示 views, and the map's static JS/CSS (no data in them).
PUBLIC_PREFIXES = ("/public/", "/static/")
PUBLIC_MOUNTS = ("/static",)

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


def _required_role(route: APIRoute) -> str | None:
    """The strongest role any dependency of the route requires (None: no role dependency)."""
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


def _routes():
    app = create_app(Settings(database_url="postgresql://u@127.0.0.1:1/none"))
    out = []
    for route in _all_routes(app):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                out.append(pytest.param(route, method, id=f"{method} {route.path}"))
    return out


ROUTES = _routes()


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
    kwargs = {"json": {}} if method in WRITE_METHODS else {}
    return client.request(method, _url(route), headers=headers, **kwargs)


def test_routes_were_found():
    paths = {p.values[0].path for p in ROUTES}
    assert "/health" in paths and "/audit" in paths and "/public/cases" in paths


@pytest.mark.parametrize(("route", "method"), ROUTES)
def test_route_declares_role_or_is_public(route: APIRoute, method: str):
    role = _required_role(route)
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
    role = _required_role(route)
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
    app = create_app(Settings(database_url="postgresql://u@127.0.0.1:1/none"))
    for route in _all_routes(app):
        if isinstance(route, APIRoute):
            continue
        path = getattr(route, "path", "")
        assert path in PUBLIC_PATHS or path.startswith(PUBLIC_MOUNTS), (
            f"route {path} ({type(route).__name__}) is neither an API route with a role nor an "
            "allowed public mount"
        )


def test_anonymous_viewer_cannot_write(module_db_url: str, tmp_path: Path):
    """The demo's anonymous_role='viewer' opens the map read-only: writes still need a token."""
    settings = Settings(database_url=module_db_url, data_dir=tmp_path / "var")
    settings.auth.anonymous_role = "viewer"
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/me").json() == {"name": "anonymous", "role": "viewer"}
        for p in ROUTES:
            route, method = p.values
            if _writes(route, method):
                r = _call(c, route, method, None)
                assert r.status_code == 403, f"anonymous {method} {route.path}: {r.status_code}"


def test_anonymous_role_cannot_be_editor():
    with pytest.raises(ValueError, match="anonymous_role"):
        Settings(auth={"anonymous_role": "editor"})
