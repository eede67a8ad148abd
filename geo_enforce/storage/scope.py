"""Township scope of a database session: which townships' records it sees and writes.

Every record a bureau owns carries ``township_code`` (migration ``0030_township_scope``).
PostgreSQL row-level security on the app role (``ge_app``) shows a transaction only the rows of
the townships named in its setting ``ge.townships``:

- a comma-separated list of town codes (``120111100,120116001``): those townships;
- :data:`NONE` (``none``): no township at all (a user scoped to none);
- unset, empty or :data:`ALL` (``*``): every township. The CLI and maintenance paths connect as
  ``ge_app`` without a setting and keep seeing everything; the schema owner is not subject to
  the policies at all.

The API sets the caller's townships at the start of every transaction of its sessions
(:func:`scoped_sessionmaker`, ``SET LOCAL`` semantics through ``set_config(…, true)``);
:func:`narrow` narrows a transaction to one of them (a report or the map of one township).
Writes are checked by the same policies and, with a message naming the record and its
township, by the trigger ``t20_township``; :func:`township_error` turns those refusals into the
library's errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.errors import GeoEnforceError, InvalidInput, NotFound, PermissionDenied

#: the session setting the row-level security policies read
SETTING = "ge.townships"
#: every township
ALL = "*"
#: no township (a value no town code can take)
NONE = "none"


def scope_value(codes: Iterable[str] | None) -> str:
    """The setting for ``codes``: :data:`ALL` for None, :data:`NONE` for none, else the sorted
    codes separated by commas."""
    if codes is None:
        return ALL
    codes = sorted({c for c in codes if c})
    return ",".join(codes) if codes else NONE


def parse_scope(value: str | None) -> tuple[str, ...] | None:
    """The townships a setting names: None for every township, ``()`` for none."""
    if value is None or value.strip() in ("", ALL):
        return None
    if value.strip() == NONE:
        return ()
    return tuple(sorted({c.strip() for c in value.split(",") if c.strip()}))


def set_scope(conn: Session | Connection, value: str) -> None:
    """Scope the current transaction of ``conn`` (a Session or Connection) to ``value``."""
    conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": value})


def current_scope(session: Session | Connection) -> tuple[str, ...] | None:
    """The townships the current transaction is scoped to (None: every township)."""
    value = session.execute(text("SELECT current_setting(:name, true)"), {"name": SETTING})
    return parse_scope(value.scalar_one_or_none())


def scoped_sessionmaker(engine: Engine, value: str) -> sessionmaker[Session]:
    """A session factory whose every transaction starts scoped to ``value`` (see module)."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    @event.listens_for(factory, "after_begin")
    def _scope(session: Session, transaction: Any, connection: Any) -> None:
        connection.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": value}
        )

    return factory


def town_codes(session: Session | Connection) -> list[str]:
    """The codes of every current town (township) of the deployment, whatever the scope."""
    return list(session.execute(text("SELECT unnest(ge_town_codes())")).scalars())


def town_names(session: Session) -> dict[str, str]:
    """Code → name of the current towns the session may see."""
    rows = session.execute(
        text(
            "SELECT code, name FROM admin_area WHERE level = 'town' AND retired_at IS NULL "
            "ORDER BY code"
        )
    )
    return {code: name for code, name in rows}


def visible_towns(session: Session) -> list[str]:
    """The current towns this transaction may see (its scope within the deployment's towns)."""
    scope = current_scope(session)
    codes = town_codes(session)
    return codes if scope is None else [c for c in codes if c in scope]


def default_township(session: Session) -> str | None:
    """The one township this transaction sees, when it sees exactly one (a user of one
    township, or a single-township deployment); else None (several or none)."""
    towns = visible_towns(session)
    return towns[0] if len(towns) == 1 else None


def narrow(session: Session | Connection, township: str) -> str:
    """Scope the current transaction to ``township`` alone (reports and the map of one
    township). NotFound when it is not a current town; PermissionDenied when it lies outside
    the transaction's own scope (a user cannot widen their townships this way)."""
    code = township.strip()
    codes = town_codes(session)
    if code not in codes:
        raise NotFound(
            f"township '{township}' is not a current town (乡镇/街道); townships: "
            f"{', '.join(codes) or 'none loaded'}"
        )
    scope = current_scope(session)
    if scope is not None and code not in scope:
        raise PermissionDenied(f"township '{code}' is not among your townships")
    set_scope(session, code)
    return code


#: constraint names the township trigger raises with → the library error they become
_CONSTRAINTS: dict[str, type[GeoEnforceError]] = {
    "ge_township_required": InvalidInput,
    "ge_township_known": InvalidInput,
    "ge_township_scope": PermissionDenied,
}


def township_error(exc: BaseException) -> GeoEnforceError | None:
    """The library error for a database refusal of the township rules (a record outside every
    township, an unknown township, a write outside the session's townships, or the row-level
    security policy itself); None for any other error."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    message = getattr(diag, "message_primary", None) or str(orig)
    if name in _CONSTRAINTS:
        return _CONSTRAINTS[name](message)
    if getattr(orig, "pgcode", None) == "42501" and "row-level security" in message:
        return PermissionDenied(
            "the record is outside your townships (row-level security refused the write)"
        )
    return None
