"""Users, roles and tokens: who am I (any role), user and token management (admins).

Role changes use optimistic locking: send the version you read (``If-Match: "3"`` or a
``version`` field); a stale edit gets 409 with ``current_version``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel, Field

from api.deps import Admin, ReadDB, Viewer, WriteDB
from api.errors import ERROR_RESPONSES
from geo_enforce.access import auth
from geo_enforce.access import townships as scoping
from geo_enforce.settings import ROLES
from geo_enforce.storage.locking import etag, expected_version, lock_for_update

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)

NAME = Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
ROLE_PATTERN = "^(" + "|".join(ROLES) + ")$"


class Me(BaseModel):
    name: str
    role: str
    townships: list[str] | None = Field(
        description="the townships (town codes) the caller works on; null: every township"
    )


class UserOut(BaseModel):
    name: str
    role: str
    display_name: str | None
    version: int
    created_at: dt.datetime
    townships: list[str] = Field(
        default_factory=list, description="townships granted (none: see docs/security.md)"
    )


class GrantIn(BaseModel):
    township: str = Field(min_length=1, max_length=40, description="town code (乡镇/街道)")


class RevokeGrantIn(BaseModel):
    reason: str = Field("revoked", min_length=1, max_length=2000)


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: str = Field(pattern=ROLE_PATTERN)
    display_name: str | None = Field(None, max_length=100)


class UserEdit(BaseModel):
    role: str | None = Field(None, pattern=ROLE_PATTERN)
    display_name: str | None = Field(None, max_length=100)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="or If-Match")


class TokenRequest(BaseModel):
    days: int = Field(180, ge=1, le=3650)
    label: str | None = Field(None, max_length=100)


class TokenOut(BaseModel):
    id: int
    user: str
    token: str = Field(description="shown once; only its SHA-256 is stored")
    expires_at: dt.datetime


class RetireIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _scoped(session, name: str) -> tuple:
    """The user ``name`` and the townships it is scoped to, for :func:`_user_out`."""
    return auth.get_user(session, name), scoping.townships_of(session, name)


def _user_out(u, townships: list[str] | None = None) -> UserOut:
    out = UserOut.model_validate(u, from_attributes=True)
    out.townships = townships or []
    return out


@router.get("/me", response_model=Me, summary="The caller's user name, role and townships")
def me(principal: Viewer) -> Me:
    townships = None if principal.townships is None else list(principal.townships)
    return Me(name=principal.name, role=principal.role, townships=townships)


@router.get("/users", response_model=list[UserOut], summary="Users (admins)")
def list_users(session: ReadDB, _: Admin) -> list[UserOut]:
    granted = scoping.grants(session)
    return [_user_out(u, granted.get(u.name)) for u in auth.list_users(session)]


@router.get("/users/{name}", response_model=UserOut, summary="One user, with its ETag")
def get_user(name: Annotated[str, NAME], session: ReadDB, _: Admin, response: Response) -> UserOut:
    u = auth.get_user(session, name)
    response.headers["ETag"] = etag(u.version)
    return _user_out(u, scoping.townships_of(session, name))


@router.post(
    "/users/{name}/townships",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Scope a user to a township as well (乡镇/街道)",
)
def grant_township(
    name: Annotated[str, NAME], body: GrantIn, session: WriteDB, principal: Admin
) -> UserOut:
    scoping.grant(
        session, name, body.township, actor=principal.actor, grantor_scope=principal.townships
    )
    return _user_out(*_scoped(session, name))


@router.post(
    "/users/{name}/townships/{code}/revoke",
    response_model=UserOut,
    summary="Take a township from a user (the grant is retired)",
)
def revoke_township(
    name: Annotated[str, NAME],
    code: Annotated[str, Path(min_length=1, max_length=40)],
    body: RevokeGrantIn,
    session: WriteDB,
    principal: Admin,
) -> UserOut:
    scoping.revoke(
        session, name, code, actor=principal.actor, reason=body.reason,
        grantor_scope=principal.townships,
    )  # fmt: skip
    return _user_out(*_scoped(session, name))


@router.post(
    "/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Add a user"
)
def create_user(body: UserCreate, session: WriteDB, _: Admin, response: Response) -> UserOut:
    u = auth.create_user(session, body.name, body.role, body.display_name)
    response.headers["ETag"] = etag(u.version)
    return _user_out(u)


@router.patch("/users/{name}", response_model=UserOut, summary="Change role or display name")
def edit_user(
    name: Annotated[str, NAME],
    body: UserEdit,
    session: WriteDB,
    _: Admin,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> UserOut:
    version = expected_version(if_match, body.version)
    u = lock_for_update(session, auth.AppUser, auth.get_user(session, name).id, version)
    if body.role is not None:
        u.role = body.role
    if "display_name" in body.model_fields_set:
        u.display_name = body.display_name
    session.flush()
    response.headers["ETag"] = etag(u.version)
    return _user_out(u, scoping.townships_of(session, name))


@router.post("/users/{name}/retire", response_model=UserOut, summary="Retire a user")
def retire_user(
    name: Annotated[str, NAME], body: RetireIn, session: WriteDB, principal: Admin
) -> UserOut:
    u = auth.get_user(session, name)
    auth.retire_user(session, name, actor=principal.actor, reason=body.reason)
    return _user_out(u)


@router.post(
    "/users/{name}/tokens",
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a token (shown once)",
)
def issue_token(
    name: Annotated[str, NAME], body: TokenRequest, session: WriteDB, _: Admin
) -> TokenOut:
    plain, tok = auth.issue_token(session, name, ttl_days=body.days, label=body.label)
    return TokenOut(id=tok.id, user=name, token=plain, expires_at=tok.expires_at)


@router.post(
    "/tokens/{token_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a token (retired, never deleted)",
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)], session: WriteDB, principal: Admin
) -> Response:
    auth.revoke_token(session, token_id, actor=principal.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
