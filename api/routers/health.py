"""Health: database and PostGIS versions. Open to everyone (no personal data)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ReadDB
from geo_enforce import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str
    postgis: str
    schema_heads: list[str]


@router.get("/health", response_model=Health)
def health(session: ReadDB) -> Health:
    db_version = session.execute(text("SHOW server_version")).scalar_one()
    postgis = session.execute(text("SELECT postgis_full_version()")).scalar_one()
    heads = session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return Health(
        status="ok",
        version=__version__,
        database=f"PostgreSQL {db_version}",
        postgis=postgis.split('"')[1] if '"' in postgis else postgis,
        schema_heads=sorted(heads),
    )
