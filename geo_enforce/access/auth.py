"""Users, roles and API tokens.

Roles are ranked: viewer (squad) < liaison < inspector (squad member capturing evidence and
patrol records) < editor < admin; an endpoint declares the least role it needs. Tokens are
random 32-byte strings shown once; only their SHA-256 is stored. Tokens expire and are revoked
by retiring them (never deleted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from geo_enforce.settings import ROLES
from geo_enforce.storage.audit import api_actor
from geo_enforce.storage.models import ApiToken, AppUser
from geo_enforce.storage.scope import scope_value

#: The role of a caller without a token when ``auth.anonymous_role = "public"``: below every
#: user role, so it reaches only the routes open to everyone (公示, health, docs, static files).
#: Never a user's role.
PUBLIC_ROLE = "public"
ROLE_RANK = {PUBLIC_ROLE: -1, **{r: i for i, r in enumerate(ROLES)}}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: user name, role and townships (None: every township; see
    :mod:`geo_enforce.access.townships`)."""

    name: str
    role: str
    townships: tuple[str, ...] | None = None

    def has(self, role: str) -> bool:
        """Whether this caller holds ``role`` or a higher one."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def actor(self) -> str:
        """How the audit trail and the records' ``*_by`` fields name this caller."""
        return api_actor(self.name)

    @property
    def scope(self) -> str:
        """The township setting of this caller's transactions (``geo_enforce.storage.scope``)."""
        return scope_value(self.townships)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (only digests are stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, role: str, display_name: str | None = None) -> AppUser:
    """Create a user with ``role``; Conflict when the name is taken. Flushes."""
    if role not in ROLES:
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
    """Revoke one token now, recording who and why. Flushes."""
    tok = session.get(ApiToken, token_id)
    if tok is None:
        raise NotFound(f"token {token_id} does not exist")
    if tok.retired_at is None:
        tok.retired_at = dt.datetime.now(dt.UTC)
        tok.retired_by = actor
        tok.retire_reason = reason
        session.flush()


def authenticate(session: Session, token: str) -> Principal:
    """The principal a token stands for, with the townships it works on; raises
    AuthenticationFailed when invalid/expired."""
    from geo_enforce.access.townships import scope_of

    row = session.execute(
        select(AppUser.id, AppUser.name, AppUser.role, ApiToken.expires_at)
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
    return Principal(name=row.name, role=row.role, townships=scope_of(session, row.id, row.role))


def list_users(session: Session, *, include_retired: bool = False) -> list[AppUser]:
    """Users by name; retired ones only when asked."""
    q = select(AppUser).order_by(AppUser.name)
    if not include_retired:
        q = q.where(AppUser.retired_at.is_(None))
    return list(session.scalars(q))


def get_user(session: Session, name: str) -> AppUser:
    """The user called ``name``; NotFound when there is none."""
    user = session.scalar(select(AppUser).where(AppUser.name == name))
    if user is None or user.retired_at is not None:
        raise NotFound(f"user '{name}' does not exist (see 'geo-enforce user list')")
    return user


def list_tokens(session: Session, user_name: str | None = None) -> list[tuple[ApiToken, str]]:
    """Live (unretired) tokens with their user's name; never the token itself."""
    q = (
        select(ApiToken, AppUser.name)
        .join(AppUser, AppUser.id == ApiToken.user_id)
        .where(ApiToken.retired_at.is_(None))
        .order_by(ApiToken.id)
    )
    if user_name is not None:
        q = q.where(AppUser.name == user_name)
    return [(row[0], row[1]) for row in session.execute(q)]


def revoke_user_tokens(session: Session, user_name: str, *, actor: str) -> int:
    """Revoke every live token of ``user_name``; returns how many."""
    return _revoke_tokens_of(session, get_user(session, user_name), actor=actor)


def _revoke_tokens_of(session: Session, user: AppUser, *, actor: str) -> int:
    toks = list_tokens(session, user.name)
    for tok, _ in toks:
        revoke_token(session, tok.id, actor=actor, reason=f"all tokens of {user.name} revoked")
    return len(toks)


def set_role(
    session: Session, name: str, role: str, *, expected_version: int | None = None
) -> AppUser:
    """Change a user's role; with ``expected_version`` a stale edit is refused (409)."""
    from geo_enforce.storage.locking import lock_for_update

    if role not in ROLES:
        raise InvalidInput(f"role '{role}' is unknown; use one of {', '.join(ROLES)}")
    user = lock_for_update(session, AppUser, get_user(session, name).id, expected_version)
    user.role = role
    session.flush()
    return user


def retire_user(session: Session, name: str, *, actor: str, reason: str) -> int:
    """Retire a user and revoke all their tokens; returns the number of tokens revoked."""
    user = get_user(session, name)
    n = _revoke_tokens_of(session, user, actor=actor)
    user.retired_at = dt.datetime.now(dt.UTC)
    user.retired_by = actor
    user.retire_reason = reason
    session.flush()
    return n


def ensure_demo_users(session: Session, *, ttl_days: int = 30) -> dict[str, str]:
    """One user per role (``demo_viewer`` … ``demo_admin``) with a fresh token each.

    For the demo only: returns role → plaintext token (print them once). Existing demo users
    are reused; each call issues new tokens.
    """
    tokens: dict[str, str] = {}
    for role in ROLES:
        name = f"demo_{role}"
        if session.scalar(select(AppUser).where(AppUser.name == name)) is None:
            create_user(session, name, role, display_name=f"演示{role}")
        tokens[role], _ = issue_token(session, name, ttl_days=ttl_days, label="demo")
    return tokens
