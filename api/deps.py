"""Request dependencies: settings, sessions that own the transaction, the caller and its role."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo_enforce.access import policy
from geo_enforce.access.auth import ROLE_RANK, Principal, authenticate
from geo_enforce.errors import AuthenticationFailed, PermissionDenied
from geo_enforce.settings import Settings
from geo_enforce.storage.engine import set_actor

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


def read_session(request: Request) -> Iterator[Session]:
    """A session for reading; rolled back at the end.

    The close runs after the response is sent: if the database went away meanwhile, the read
    has already been answered, so the failed rollback is logged, not raised (raising there
    would drop the client's connection mid-response).
    """
    session = request.app.state.sessions()
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

    The audit actor is the authenticated user, so every API write is attributed.
    """
    with request.app.state.sessions() as session, session.begin():
        set_actor(session, principal.actor)
        yield session


Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Liaison = Annotated[Principal, Depends(require_role("liaison"))]
Inspector = Annotated[Principal, Depends(require_role("inspector"))]
Editor = Annotated[Principal, Depends(require_role("editor"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
ReadDB = Annotated[Session, Depends(read_session)]
# scope="function": commit before the response is sent, so a failed commit becomes a clean
# 503/409 instead of a 201 for a write that never landed (or a dropped connection).
WriteDB = Annotated[Session, Depends(write_session, scope="function")]
