"""Optimistic locking for every editable ledger record.

Every ledger table carries ``version`` (see ``LedgerMixin``): SQLAlchemy bumps it on ORM updates
(``version_id_col``) and the ``ge_touch`` trigger bumps it for raw SQL, so any write moves it on.
An editor reads a record with its version, edits it, and sends the version back (HTTP
``If-Match: "7"`` or a ``version`` field); a write against an older version is refused with
:class:`StaleVersion` (HTTP 409) that carries the current version, so two editors can never
silently overwrite each other.

Library helpers, no web stack:

- :func:`parse_if_match` / :func:`etag`: the HTTP spelling of a version.
- :func:`expected_version`: pick the version from an If-Match header or a body field.
- :func:`lock_for_update`: ``SELECT … FOR UPDATE`` a record and check its version, for
  handlers that need the row (transitions): the row stays locked until the transaction ends,
  so the check and the write cannot be interleaved by another editor.
- :func:`update_versioned`: one atomic ``UPDATE … WHERE id = :id AND version = :v``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geo_enforce.errors import Conflict, InvalidInput, NotFound

T = TypeVar("T")

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


class StaleVersion(Conflict):
    """The record changed since the caller read it (HTTP 409 with ``current_version``)."""

    def __init__(self, what: str, record_id: int, expected: int, current: int) -> None:
        super().__init__(
            f"{what} {record_id} 已被他人修改 (was changed by someone else): you sent version "
            f"{expected}, the current version is {current}; reload it and apply your edit again"
        )
        self.extra = {"current_version": current, "expected_version": expected}
        self.current_version = current


class PreconditionRequired(InvalidInput):
    """A versioned write sent without the version it is based on (HTTP 428)."""


def etag(version: int) -> str:
    """The ETag of a record version: ``"7"`` (a strong validator)."""
    return f'"{int(version)}"'


def parse_if_match(header: str | None) -> int | None:
    """The version in an ``If-Match`` header (``"7"``, ``W/"7"`` or ``7``); None when absent.

    ``*`` means "any version" and returns None (no check). A malformed header is refused rather
    than ignored, so a client bug cannot silently skip the check.
    """
    if header is None or header.strip() in ("", "*"):
        return None
    m = _IF_MATCH.match(header)
    if m is None:
        raise InvalidInput(
            f"If-Match header '{header[:40]}' is not a record version; send the ETag you "
            'received, e.g. If-Match: "3"'
        )
    return int(m.group(1))


def expected_version(
    if_match: str | None, body_version: int | None, *, required: bool = True
) -> int | None:
    """The version the caller edits from: If-Match header or ``version`` body field.

    When both are given they must agree. With ``required`` a write without either is refused
    with :class:`PreconditionRequired` (HTTP 428) so no client can write blind.
    """
    header_version = parse_if_match(if_match)
    if header_version is not None and body_version is not None and header_version != body_version:
        raise InvalidInput(
            f"If-Match says version {header_version} but the body says version {body_version}"
        )
    version = header_version if header_version is not None else body_version
    if version is None and required:
        raise PreconditionRequired(
            'this edit needs the version you read: send If-Match: "<version>" (the ETag of '
            "the record) or a 'version' field (GET the record first)"
        )
    return version


def _label(model: type) -> str:
    return getattr(model, "__tablename__", model.__name__)


def check_version(record: Any, expected_version: int | None, what: str) -> None:
    """The one optimistic-locking check: refuse a write based on a stale version (409).

    ``expected_version`` None means the caller did not say which version it read: no check.
    """
    if expected_version is not None and expected_version != record.version:
        raise StaleVersion(what, record.id, expected_version, record.version)


def lock_for_update(session: Session, model: type[T], record_id: int, expected: int | None) -> T:
    """Load ``model`` row ``record_id`` locked for update and check its version.

    Raises NotFound when the record does not exist or is retired, StaleVersion when
    ``expected`` is given and differs from the stored version. The lock lasts until the
    caller's transaction ends.
    """
    row: Any = session.scalar(
        select(model)  # type: ignore[arg-type]
        .where(model.id == record_id)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or getattr(row, "retired_at", None) is not None:
        raise NotFound(f"{_label(model)} {record_id} does not exist (or was retired)")
    check_version(row, expected, _label(model))
    return row


def update_versioned(
    session: Session, model: type, record_id: int, expected: int, values: dict[str, Any]
) -> int:
    """Apply ``values`` to one record only if it is still at version ``expected``.

    One statement (``UPDATE … WHERE id = :id AND version = :expected``), so it is atomic
    without holding a lock across the request. Returns the new version. Raises NotFound or
    StaleVersion (with the current version) when nothing matched.
    """
    if not values:
        raise InvalidInput("nothing to change: the edit names no field")
    forbidden = {"id", "version", "created_at", "updated_at", "area_m2", "area_mu"} & set(values)
    if forbidden:
        raise InvalidInput(f"fields {sorted(forbidden)} are maintained by the system")
    new_version = session.execute(
        update(model)
        .where(model.id == record_id, model.version == expected)  # type: ignore[attr-defined]
        .where(model.retired_at.is_(None))  # type: ignore[attr-defined]
        .values(**values, version=expected + 1)
        .returning(model.version)  # type: ignore[attr-defined]
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if new_version is not None:
        return int(new_version)
    current = session.execute(
        select(model.version, model.retired_at).where(model.id == record_id)  # type: ignore[attr-defined]
    ).first()
    if current is None or current.retired_at is not None:
        raise NotFound(f"{_label(model)} {record_id} does not exist (or was retired)")
    raise StaleVersion(_label(model), record_id, expected, int(current.version))
