"""The demo's field map: the offline page of the loaded (sample) township."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.settings import Settings
from geo_enforce.webmap.export import export_offline_map


def write_demo_map(factory: sessionmaker[Session], settings: Settings, out: Path | str) -> Path:
    """Write the offline field map of everything loaded (township, flights, patches) to ``out``.

    Orthophotos and evidence chips are found through ``settings.data_dir``; returns the path.
    """
    return export_offline_map(factory, Path(out), data_dir=Path(settings.data_dir))
