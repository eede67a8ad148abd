"""Users, roles and API tokens.

Roles are ranked: viewer (squad) < liaison < editor < admin; an endpoint declares the least role
it needs. Tokens are random 32-byte strings shown once; only their SHA-256 is stored. Tokens
expire and are revoked by retiring them (never deleted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.db.models import ApiToken, AppUser
from geo_enforce.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from geo_enforce.settings import ROLES

ROLE_RANK = {r: i for i, r in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def has(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, role: str, display_name: str | None = None) -> AppUser:
    if role not in ROLE_RANK:
        raise InvalidInput(f"role '{role}' is unknown; use one of {', '.join(ROLES)}")
    if session.scalar(select(AppUser).where(AppUser.name == name)) is not None:
        raise Conflict(f"user '{name}' already exists")
    user = AppUser(name=name, role=role, display_name=display_name)
    session.add(user)
    session.flush()
    return user


def issue_token(
    session: Session, user_name: str, *, ttl_days: int = 180, label: str | None = None
) -> tuple[str, ApiToken]:
    """Create a token for ``user_name``; returns the plaintext (shown once) and the record."""
    user = session.scalar(
        select(AppUser).where(AppUser.name == user_name, AppUser.retired_at.is_(None))
    )
    if user is None:
        raise NotFound(f"user '{user_name}' does not exist (create it with 'geo-enforce user add')")
    plain = "ge_" + secrets.token_urlsafe(32)
    tok = ApiToken(
        user_id=user.id,
        token_sha256=hash_token(plain),
        label=label,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=ttl_days),
    )
    session.add(tok)
    session.flush()
    return plain, tok


def revoke_token(session: Session, token_id: int, *, actor: str, reason: str = "revoked") -> None:
    tok = session.get(ApiToken, token_id)
    if tok is None:
        raise NotFound(f"token {token_id} does not exist")
    if tok.retired_at is None:
        tok.retired_at = dt.datetime.now(dt.UTC)
        tok.retired_by = actor
        tok.retire_reason = reason
        session.flush()


def authenticate(session: Session, token: str) -> Principal:
    """The principal a token stands for; raises AuthenticationFailed when invalid/expired."""
    row = session.execute(
        select(AppUser.name, AppUser.role, ApiToken.expires_at)
        .join(ApiToken, ApiToken.user_id == AppUser.id)
        .where(
            ApiToken.token_sha256 == hash_token(token),
            ApiToken.retired_at.is_(None),
            AppUser.retired_at.is_(None),
        )
    ).first()
    if row is None:
        raise AuthenticationFailed("invalid or revoked token")
    if row.expires_at <= dt.datetime.now(dt.UTC):
        raise AuthenticationFailed("token expired; ask an admin for a new one")
    return Principal(name=row.name, role=row.role)
