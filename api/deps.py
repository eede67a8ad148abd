"""Request dependencies: settings, sessions that own the transaction, the caller and its role.

Every session a request gets is scoped to the caller's townships (``ge.townships`` set at the
start of each transaction, enforced by row-level security in the database; see
:mod:`geo_enforce.storage.scope`): routes read and write through :data:`ReadDB`,
:data:`WriteDB` or :func:`scoped_sessions`, never through ``app.state.sessions`` (the
unscoped factory of the operator, used to authenticate and by tests to seed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.access import policy
from geo_enforce.access.auth import ROLE_RANK, Principal, authenticate
from geo_enforce.errors import AuthenticationFailed, PermissionDenied
from geo_enforce.settings import Settings
from geo_enforce.storage.engine import set_actor
from geo_enforce.storage.scope import ALL, scoped_sessionmaker, set_scope

log = logging.getLogger("geo_enforce.api")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def _token(request: Request) -> str | None:
    """The caller's token: the Bearer header, or (reads only) the ``ge_token`` cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    # browsers opening /map cannot send headers: accept a token cookie as well, but only for
    # reads: a cookie rides along on cross-site form posts (CSRF), a Bearer header never does
    if request.method in ("GET", "HEAD"):
        return request.cookies.get("ge_token") or None
    return None


def get_principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = _token(request)
    settings: Settings = request.app.state.settings
    if token is None:
        if settings.auth.anonymous_role:
            principal = Principal(name="anonymous", role=settings.auth.anonymous_role)
        else:
            raise AuthenticationFailed("this endpoint needs a token: 'Authorization: Bearer …'")
    else:
        with request.app.state.sessions() as session:
            principal = authenticate(session, token)
    request.state.principal = principal
    return principal


def route_role(request: Request) -> str:
    """The least role of the matched route from the route-policy table (deny by default)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    role = policy.required_role(request.method, path)
    if role is None:
        raise PermissionDenied(
            f"route {request.method} {path} is not in the route-policy table "
            "(geo_enforce/access/policy.py); add it with its least role"
        )
    return role


def enforce_policy(request: Request) -> None:
    """Installed on every route by ``create_app``: the caller must hold the role the
    route-policy table gives the matched route (``geo_enforce.access.policy``)."""
    role = route_role(request)
    if role == policy.PUBLIC:
        return
    principal = get_principal(request)
    if not principal.has(role):
        raise PermissionDenied(f"需要 {role} 权限 (role '{role}' required)")


def require_role(role: str):
    """Dependency factory: the caller must hold ``role`` or a higher one."""
    if role not in ROLE_RANK:
        raise ValueError(role)

    def dep(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(role):
            raise PermissionDenied(f"需要 {role} 权限 (role '{role}' required)")
        return principal

    dep.required_role = role  # type: ignore[attr-defined]
    return dep


def request_scope(request: Request) -> str:
    """The township setting of this request's transactions: every township for the routes open
    to everyone (health, 公示, docs), else the caller's (``Principal.scope``)."""
    cached = getattr(request.state, "township_scope", None)
    if cached is not None:
        return cached
    if route_role(request) == policy.PUBLIC:
        value = ALL
    else:
        principal = get_principal(request)
        if principal.townships == () and request.url.path != "/me":
            raise PermissionDenied(
                f"用户 {principal.name} 未分配乡镇/街道: this deployment serves several townships "
                f"and none is granted to '{principal.name}'; an admin grants one with "
                f"'geo-enforce user grant {principal.name} CODE' (or POST "
                f"/users/{principal.name}/townships)"
            )
        value = principal.scope
    request.state.township_scope = value
    return value


#: scoped session factories kept per scope value (few: one per set of townships in use)
_MAX_FACTORIES = 256


def scoped_sessions(request: Request) -> sessionmaker[Session]:
    """A session factory whose transactions are scoped to the caller's townships (for a
    handler that runs several transactions, or work in the background after the response)."""
    value = request_scope(request)
    state = request.app.state
    factories: dict[str, sessionmaker[Session]] | None = getattr(state, "scoped_factories", None)
    if factories is None or getattr(state, "scoped_engine", None) is not state.engine:
        factories = state.scoped_factories = {}
        state.scoped_engine = state.engine
    factory = factories.get(value)
    if factory is None:
        if len(factories) >= _MAX_FACTORIES:
            factories.clear()
        factory = factories[value] = scoped_sessionmaker(state.engine, value)
    return factory


@contextmanager
def scoped_connection(request: Request) -> Iterator[Connection]:
    """A connection whose (first) transaction is scoped to the caller's townships."""
    with request.app.state.engine.connect() as conn:
        set_scope(conn, request_scope(request))
        yield conn


def read_session(request: Request) -> Iterator[Session]:
    """A session for reading; rolled back at the end.

    The close runs after the response is sent: if the database went away meanwhile, the read
    has already been answered, so the failed rollback is logged, not raised (raising there
    would drop the client's connection mid-response).
    """
    session = scoped_sessions(request)()
    try:
        yield session
    finally:
        try:
            session.close()
        except DBAPIError as exc:
            log.warning("closing a read session failed (database restarted?): %s", exc.orig)


def write_session(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Iterator[Session]:
    """A session whose transaction commits when the handler returns, rolls back on error.

    The audit actor is the authenticated user, so every API write is attributed; the session
    sees and writes only the caller's townships.
    """
    with scoped_sessions(request)() as session, session.begin():
        set_actor(session, principal.actor)
        yield session


Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Liaison = Annotated[Principal, Depends(require_role("liaison"))]
Inspector = Annotated[Principal, Depends(require_role("inspector"))]
Editor = Annotated[Principal, Depends(require_role("editor"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
ReadDB = Annotated[Session, Depends(read_session)]
#: a session factory scoped to the caller's townships
Sessions = Annotated[sessionmaker[Session], Depends(scoped_sessions)]
# scope="function": commit before the response is sent, so a failed commit becomes a clean
# 503/409 instead of a 201 for a write that never landed (or a dropped connection).
WriteDB = Annotated[Session, Depends(write_session, scope="function")]
