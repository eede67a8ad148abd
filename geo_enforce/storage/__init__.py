"""Storage: engine and sessions, models, migrations, repositories."""

from geo_enforce.storage.engine import make_engine, make_sessionmaker, set_actor, transaction

__all__ = ["make_engine", "make_sessionmaker", "set_actor", "transaction"]
