"""Users scoped to townships (乡镇/街道): one deployment for a district's bureaus.

A user works on the records of the townships granted to them (``user_township``); the API
scopes every transaction of theirs to those townships and the database enforces it with
row-level security (:mod:`geo_enforce.storage.scope`). Without grants:

- an ``admin`` is the deployment's administrator and sees every township;
- any other user sees every township while the deployment has at most one (a single-township
  deployment needs no configuration), and none once it has several: an admin grants them
  theirs (``geo-enforce user grant NAME CODE``, ``POST /users/{name}/townships``).

An admin scoped to townships grants only those; only an unscoped admin grants any.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, NotFound, PermissionDenied
from geo_enforce.storage.models import AppUser
from geo_enforce.storage.scope import town_codes
from geo_enforce.storage.township_models import UserTownship


def granted(session: Session, user_id: int) -> list[str]:
    """The township codes currently granted to the user ``user_id``, sorted."""
    return list(
        session.scalars(
            select(UserTownship.township_code)
            .where(UserTownship.user_id == user_id, UserTownship.retired_at.is_(None))
            .order_by(UserTownship.township_code)
        )
    )


def scope_of(session: Session, user_id: int, role: str) -> tuple[str, ...] | None:
    """The townships a user's requests see: their grants; without grants every township
    (None) for an admin or while the deployment has at most one, else none (``()``)."""
    codes = granted(session, user_id)
    if codes:
        return tuple(codes)
    if role == "admin" or len(town_codes(session)) <= 1:
        return None
    return ()


def _user(session: Session, name: str) -> AppUser:
    user = session.scalar(select(AppUser).where(AppUser.name == name, AppUser.retired_at.is_(None)))
    if user is None:
        raise NotFound(f"user '{name}' does not exist (see 'geo-enforce user list')")
    return user


def _check_grantor(code: str, grantor_scope: tuple[str, ...] | None) -> None:
    if grantor_scope is not None and code not in grantor_scope:
        raise PermissionDenied(
            f"township '{code}' is not among your townships: you can grant only your own"
        )


def grant(
    session: Session,
    name: str,
    code: str,
    *,
    actor: str,
    grantor_scope: tuple[str, ...] | None = None,
) -> UserTownship:
    """Scope user ``name`` to township ``code`` as well (a current town). Conflict when it is
    granted already; PermissionDenied when ``grantor_scope`` (the granting admin's townships,
    None for all) does not hold it. Flushes."""
    code = code.strip()
    towns = town_codes(session)
    if code not in towns:
        raise NotFound(
            f"'{code}' is not the code of a current town (乡镇/街道); townships: "
            f"{', '.join(towns) or 'none loaded'}"
        )
    _check_grantor(code, grantor_scope)
    user = _user(session, name)
    if code in granted(session, user.id):
        raise Conflict(f"user '{name}' already works on township {code}")
    row = UserTownship(user_id=user.id, township_code=code, granted_by=actor)
    session.add(row)
    session.flush()
    return row


def revoke(
    session: Session,
    name: str,
    code: str,
    *,
    actor: str,
    reason: str = "revoked",
    grantor_scope: tuple[str, ...] | None = None,
) -> UserTownship:
    """Take township ``code`` from user ``name`` (the grant is retired, never deleted).
    NotFound when it was not granted. Flushes."""
    _check_grantor(code, grantor_scope)
    user = _user(session, name)
    row = session.scalar(
        select(UserTownship).where(
            UserTownship.user_id == user.id,
            UserTownship.township_code == code,
            UserTownship.retired_at.is_(None),
        )
    )
    if row is None:
        raise NotFound(f"user '{name}' has no grant of township {code}")
    row.retired_at = dt.datetime.now(dt.UTC)
    row.retired_by = actor
    row.retire_reason = reason
    session.flush()
    return row


def townships_of(session: Session, name: str) -> list[str]:
    """The townships granted to user ``name`` (NotFound for an unknown user)."""
    return granted(session, _user(session, name).id)


def grants(session: Session) -> dict[str, list[str]]:
    """User name → granted township codes, for every current user with a grant."""
    rows = session.execute(
        select(AppUser.name, UserTownship.township_code)
        .join(UserTownship, UserTownship.user_id == AppUser.id)
        .where(UserTownship.retired_at.is_(None), AppUser.retired_at.is_(None))
        .order_by(AppUser.name, UserTownship.township_code)
    )
    out: dict[str, list[str]] = {}
    for user, code in rows:
        out.setdefault(user, []).append(code)
    return out
