"""Settings of the farmland-verification work, under ``GEO_ENFORCE_FARMLAND__``.

Kept apart from the shared :class:`geo_enforce.settings.Settings` so the liaison's thresholds
can be tuned without touching it: ``GEO_ENFORCE_FARMLAND__FAR_PHOTO_M=150``.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class FarmlandSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEO_ENFORCE_FARMLAND__", extra="ignore")

    #: A photo taken farther than this from the checked parcel (metres, geodesic) is flagged.
    far_photo_m: float = 100.0
    #: Overlaps smaller than this (m²) are slivers from shared edges and are left out.
    sliver_m2: float = 0.01
