"""Test fixtures: a real PostGIS from the project's own embedded cluster.

The session starts (or reuses) the local cluster exactly as ``geo-enforce db start`` does,
builds one migrated template database, and every test that asks for ``db_url`` gets a fresh
database cloned from it (CREATE DATABASE … TEMPLATE: about a tenth of a second), so tests never
see each other's rows and nothing needs deleting (the schema refuses deletes anyway).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from geo_enforce.settings import LocalDbSettings, Settings
from geo_enforce.storage import localdb

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def pg_port():
    """The embedded cluster's port; a cluster the tests had to start is stopped afterwards.

    ``localdb.start`` creates the roles ``ge_owner`` and ``ge_app`` idempotently over the
    superuser's socket, so this works on a cluster an older version started (trusting TCP) as
    well as on a new one (SCRAM passwords over TCP).
    """
    cfg = LocalDbSettings(dir=Path(os.environ.get("GEO_ENFORCE_TEST_PGDATA", ROOT / ".pgdata")))
    was_running = localdb.status(cfg).running
    url = localdb.start(cfg, echo=lambda *_: None)
    yield int(url.split(":")[-1].split("/")[0])
    if not was_running:
        localdb.stop(cfg)


@pytest.fixture(scope="session")
def template_db(pg_port: int):
    """One migrated database (migrations as ``ge_owner``, then the app role's grants)."""
    from geo_enforce.storage.migrate import upgrade

    name = f"ge_tpl_{os.getpid()}"
    owner_url = localdb.ensure_database(pg_port, name, fresh=True)
    upgrade(owner_url)
    yield name
    localdb.drop_database(pg_port, name)


def clone_database(port: int, template: str) -> str:
    """A fresh copy of ``template``; its name (connect as the app role with ``url_for``)."""
    name = f"ge_t_{uuid.uuid4().hex[:12]}"
    localdb.clone_database(port, template, name)
    return name


@pytest.fixture
def db_url(pg_port: int, template_db: str):
    """A fresh migrated database, connected as the app role ``ge_app`` (never a superuser)."""
    name = clone_database(pg_port, template_db)
    yield localdb.url_for(pg_port, name)
    localdb.drop_database(pg_port, name)


@pytest.fixture(scope="module")
def module_db_url(pg_port: int, template_db: str):
    """One fresh database shared by a module (for read-mostly tests over a seeded township)."""
    name = clone_database(pg_port, template_db)
    yield localdb.url_for(pg_port, name)
    localdb.drop_database(pg_port, name)


@pytest.fixture(scope="module")
def module_sessions(module_db_url: str):
    """A session factory on ``module_db_url``, its engine disposed after the module."""
    from geo_enforce.storage.engine import make_engine, make_sessionmaker

    eng = make_engine(module_db_url)
    yield make_sessionmaker(eng)
    eng.dispose()


def bearer_headers(factory, *users: tuple[str, str], actor: str = "test") -> list[dict[str, str]]:
    """Create each ``(name, role)`` user in one transaction; an Authorization header per user."""
    from geo_enforce.access.auth import create_user, issue_token
    from geo_enforce.storage.engine import transaction

    with transaction(factory, actor) as s:
        for name, role in users:
            create_user(s, name, role)
        tokens = [issue_token(s, name)[0] for name, _ in users]
    return [{"Authorization": f"Bearer {token}"} for token in tokens]


def grant_townships(factory, name: str, *codes: str, actor: str = "test") -> None:
    """Scope user ``name`` to the townships ``codes`` (a deployment of several townships sees
    a user without grants as scoped to none)."""
    from geo_enforce.access.townships import grant
    from geo_enforce.storage.engine import transaction

    with transaction(factory, actor) as s:
        for code in codes:
            grant(s, name, code, actor=actor)


@pytest.fixture
def engine(db_url: str):
    from geo_enforce.storage.engine import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine):
    from geo_enforce.storage.engine import make_sessionmaker

    return make_sessionmaker(engine)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "var")


def open_to_viewers(client) -> None:
    """Let the client read as a viewer without an Authorization header: a viewer token in the
    ``ge_token`` cookie (honoured for GET and HEAD), as a browser opening /map carries it.

    Callers without any token never read as viewers (``auth.anonymous_role`` is 'public' or
    unset), so this is how the map and tile tests stand in for the squad's browser.
    """
    (headers,) = bearer_headers(client.app.state.sessions, ("cookie-viewer", "viewer"))
    client.cookies.set("ge_token", headers["Authorization"].removeprefix("Bearer "))


@pytest.fixture
def client(settings: Settings):
    from fastapi.testclient import TestClient

    from api import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def artifacts() -> Path:
    """Folder kept after the run (screenshots, rendered pages) for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
