"""Application factory."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import routers
from api.deps import enforce_policy
from api.errors import document_errors, install_error_handlers
from api.guards import install_guards, refuse_control_characters
from geo_enforce import __version__
from geo_enforce.settings import Settings
from geo_enforce.storage.engine import make_engine, make_sessionmaker, resolve_database_url

log = logging.getLogger("geo_enforce.api")


def _routers():
    """Every module in ``api.routers`` that defines ``router`` (one per resource)."""
    for mod in sorted(pkgutil.iter_modules(routers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routers.__name__}.{mod.name}")
        router = getattr(module, "router", None)
        if router is not None:
            yield router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. The engine is made in the lifespan, so importing this module is cheap."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # the settings the app serves with (a test may hand the app a copy before it starts)
        engine = make_engine(resolve_database_url(app.state.settings))
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="geo-enforce",
        version=__version__,
        description="违法建设台账、变化图斑与面积统计 API (township enforcement ledger)",
        lifespan=lifespan,
        # Swagger UI and ReDoc are served by api.routers.docs from local files, not a CDN
        docs_url=None,
        redoc_url=None,
        # every route: the role the route-policy table gives it, then no control characters
        # in the JSON/form body it parsed (api.guards)
        dependencies=[Depends(enforce_policy), Depends(refuse_control_characters)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_guards(app)
    for router in _routers():
        # the error statuses each route can answer go into its OpenAPI responses before the
        # router is included (FastAPI copies them at inclusion)
        app.include_router(document_errors(router))
    return app
