"""Run the packaged Alembic migrations against a database URL, then the app role's grants.

Migrations run as the owner role (``ge_owner``; a superuser works too); afterwards
``storage/sql/grants.sql`` gives ``ge_app`` exactly its rights on every table, so a table a
migration added is usable by the app at once and ``audit_log`` stays append-only for it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """The Alembic configuration of the packaged migrations for ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema at ``url`` up to ``revision`` (all heads by default), then grant.

    A no-op when the database is already at every head, so a notebook or a tool connected as
    the app role (``ge_app``, which may neither migrate nor grant) can call it safely; when a
    migration is due it must run as ``ge_owner`` or a superuser.
    """
    if revision == "heads" and current_heads(url) == script_heads():
        return
    command.upgrade(alembic_config(url), revision)
    apply_grants(url)


def script_heads() -> set[str]:
    """The head revisions of the packaged migrations."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())


def apply_grants(url: str) -> None:
    """Run ``grants.sql`` at ``url`` (as the tables' owner or a superuser); idempotent."""
    from sqlalchemy import create_engine

    from geo_enforce.storage.localdb import sql_file

    eng = create_engine(url)
    try:
        raw = eng.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql_file("grants.sql"))  # no parameters: format()'s '%s' stay literal
            cur.close()
            raw.commit()
        finally:
            raw.close()
    finally:
        eng.dispose()


def current_heads(url: str) -> set[str]:
    """The migration revisions the database at ``url`` is at."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        eng.dispose()
