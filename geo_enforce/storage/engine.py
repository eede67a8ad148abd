"""Engines, sessions and the audit actor.

Repository functions take ``session`` as a keyword, flush, and leave the commit to the caller:
the request or the CLI command owns the transaction. The actor recorded by the audit trigger is
set per transaction with :func:`set_actor` (``SET LOCAL`` semantics), so every write path names
who did it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.errors import ConfigError, DatabaseUnavailable
from geo_enforce.settings import Settings
from geo_enforce.storage import safe_types
from geo_enforce.storage.scope import township_error


def resolve_database_url(
    settings: Settings, *, start_local: bool = False, owner: bool = False
) -> str:
    """The database URL as the app role, or as the schema owner when ``owner`` (migrations,
    restores).

    DATABASE_URL (and OWNER_DATABASE_URL) when set; else the embedded cluster's URL (started
    when ``start_local``), as ``ge_app`` or ``ge_owner``.
    """
    if settings.database_url:
        url = (owner and settings.owner_database_url) or settings.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
        return url
    from geo_enforce.storage import localdb

    if start_local:
        localdb.start(settings.local_db, echo=lambda *_: None)
    st = localdb.status(settings.local_db)
    if not st.url or st.port is None:
        raise ConfigError(
            f"no DATABASE_URL and the local PostGIS in {st.data_dir} is not running (or was "
            "started by an older version, before its roles existed): run 'geo-enforce db "
            "start' (or set DATABASE_URL)"
        )
    if owner:
        return localdb.url_for(st.port, settings.local_db.dbname, localdb.OWNER_ROLE)
    return st.url


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url`` with the project's pool settings."""
    # stored dates Python cannot hold are read as NULL and logged, never a failed query
    safe_types.install()
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def set_actor(session: Session, actor: str) -> None:
    """Name the actor for the audit trail for the rest of the current transaction."""
    session.execute(text("SELECT set_config('geo_enforce.actor', :actor, true)"), {"actor": actor})


@contextmanager
def transaction(factory: sessionmaker[Session], actor: str) -> Iterator[Session]:
    """A session in one transaction with the audit actor set; commits on success.

    A write the township rules refuse (outside every township, outside the session's
    townships; :mod:`geo_enforce.storage.scope`) raises the library error with its message.
    """
    try:
        with factory() as session, session.begin():
            set_actor(session, actor)
            yield session
    except OperationalError as exc:
        raise DatabaseUnavailable(f"database unavailable: {exc.orig}") from exc
    except DBAPIError as exc:
        refused = township_error(exc)
        if refused is None:
            raise
        raise refused from exc
