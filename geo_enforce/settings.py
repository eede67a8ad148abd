"""Settings, one small class per concern under the ``GEO_ENFORCE_`` prefix.

Nested values use ``__``: ``GEO_ENFORCE_LOCAL_DB__DIR=/srv/pg``. ``DATABASE_URL`` (unprefixed,
as docker-compose sets it) points everything at an external PostGIS instead of the embedded one.
Library modules never build settings at import time: the CLI and ``create_app`` build them once
and pass values down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("viewer", "liaison", "inspector", "editor", "admin")


class LocalDbSettings(BaseModel):
    """The embedded PostGIS cluster used when no DATABASE_URL is given."""

    model_config = ConfigDict(frozen=True)

    dir: Path = Path(".pgdata")
    dbname: str = "geo_enforce"
    port: int | None = None  # None: pick a free loopback port on first start


class AuthSettings(BaseModel):
    """Tokens and the role of requests without one."""

    model_config = ConfigDict(frozen=True)

    #: Role of requests without a token: None (refused with 401) or "public", which reaches only
    #: what everyone may see (公示 views, health, docs). Never a user role: an anonymous caller
    #: must not read party names, full addresses, notes or staff names.
    anonymous_role: str | None = None
    token_ttl_days: int = 180

    @field_validator("anonymous_role")
    @classmethod
    def _read_only_anonymous(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if v != "public":
            raise ValueError(
                f"anonymous_role may only be 'public' (or unset), not {v!r}: callers without a "
                "token see the 公示 views only; give the squad viewer tokens (a browser sends "
                "one as the ge_token cookie)"
            )
        return v


class LimitSettings(BaseModel):
    """Upper bounds of uploads, imports and pages."""

    model_config = ConfigDict(frozen=True)

    max_upload_bytes: int = 50 * 1024 * 1024
    max_upload_pixels: int = 80_000_000
    max_import_features: int = 2_000_000
    max_page_size: int = 10_000
    #: vertices of one feature (import, API writes, polygon queries); a 1e6-vertex polygon
    #: would stall the service and bloat every page that lists it
    max_vertices: int = 100_000


class PublicSettings(BaseModel):
    """The public disclosure (公示) views: decided cases without the parties' personal data."""

    model_config = ConfigDict(frozen=True)

    #: replace house/door numbers in addresses (12号, 3排, 5栋 …) with ＊
    mask_house_numbers: bool = True
    #: statuses published as decided cases
    statuses: tuple[str, ...] = ("notice_served", "demolished", "rectified", "legalized")
    #: decimals of the published centroid (4 ≈ 10 m)
    coordinate_decimals: int = 4


class MapSettings(BaseModel):
    """The web map's base layers and the size limits of a village kept for offline use."""

    model_config = ConfigDict(frozen=True)

    tianditu_key: SecretStr | None = None
    osm_basemap: bool = False
    #: a village kept for offline use (离线 panel, z14–z19) may take at most this much
    #: (estimated MB) and this many tiles; larger ones are refused before the download
    offline_max_mb: int = Field(default=200, ge=1)
    offline_max_tiles: int = Field(default=40_000, ge=1)


class FarmlandSettings(BaseModel):
    """Thresholds of the farmland verification (``GEO_ENFORCE_FARMLAND__FAR_PHOTO_M=150``)."""

    model_config = ConfigDict(frozen=True)

    #: A photo taken farther than this from the checked parcel (metres, geodesic) is flagged.
    far_photo_m: float = Field(default=100.0, gt=0)
    #: Overlaps smaller than this (m²) are slivers from shared edges and are left out.
    sliver_m2: float = Field(default=0.01, ge=0)


class TileSettings(BaseModel):
    """The vector-tile cache (``GEO_ENFORCE_TILES__CACHE_DIR=/var/cache/geo-enforce``)."""

    model_config = ConfigDict(frozen=True)

    #: memory per API worker for cached tiles (MB); 0 turns the cache off
    cache_mb: int = Field(default=128, ge=0)
    #: optional directory shared by the workers of one machine (second level)
    cache_dir: Path | None = None


class Settings(BaseSettings):
    """Every setting of the application, read once from the environment and then frozen.

    The CLI and ``create_app`` build it and pass it (or the part a call needs) down; library
    functions take values as arguments and never read the environment themselves.
    """

    model_config = SettingsConfigDict(
        env_prefix="GEO_ENFORCE_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GEO_ENFORCE_DATABASE_URL")
    )
    #: The schema owner's URL (``OWNER_DATABASE_URL``) for migrations and restores; the API
    #: and CLI use ``database_url`` (the app role). Unset: ``database_url`` is used for both.
    owner_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OWNER_DATABASE_URL", "GEO_ENFORCE_OWNER_DATABASE_URL"),
    )
    local_db: LocalDbSettings = LocalDbSettings()
    #: Where stored files live: COGs, evidence chips, verification photos.
    data_dir: Path = Path("var")
    #: Address of a dask.distributed scheduler; None runs windows on local threads.
    dask_scheduler: str | None = None
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    map: MapSettings = MapSettings()
    public: PublicSettings = PublicSettings()
    farmland: FarmlandSettings = FarmlandSettings()
    tiles: TileSettings = TileSettings()
    #: The layer catalogue (``GEO_ENFORCE_CATALOGUE``); None: the packaged
    #: ``geo_enforce/layers/catalogue.yaml``.
    catalogue: Path | None = None
    #: Audit actor of CLI writes (``GEO_ENFORCE_ACTOR``); None: ``cli:<login>``.
    actor: str | None = None

    @field_validator("database_url", "owner_database_url")
    @classmethod
    def _no_placeholder(cls, v: str | None) -> str | None:
        if v and ("changeme" in v or "CHANGE_ME" in v):
            raise ValueError("DATABASE_URL still holds a placeholder password; set a real one")
        return v or None
