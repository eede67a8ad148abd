"""The FastAPI service: thin handlers over ``geo_enforce``. Build it with ``create_app``."""

from api.app import create_app

__all__ = ["create_app"]
