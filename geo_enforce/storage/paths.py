"""Stored file paths: relative to the data directory, so a restore on another machine (or into
another ``data_dir``) still finds every orthophoto, DSM, photo and chip.

Files the application writes live under ``settings.data_dir`` and are stored as POSIX paths
relative to it (``flights/f1/ortho.tif``). A COG registered in place outside the data directory
keeps its absolute path (backups carry it under ``external/``). Photos and evidence chips are
stored by generated name only (``geo_enforce.io.uploads.stored_path``).
"""

from __future__ import annotations

from pathlib import Path


def to_stored(path: str | Path, data_dir: str | Path) -> str:
    """The value to store for ``path``: relative to ``data_dir`` when inside it, else absolute."""
    p = Path(path).resolve()
    root = Path(data_dir).resolve()
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)


def resolve_stored(value: str, data_dir: str | Path | None) -> Path:
    """The file a stored path names: an absolute path as it is; a relative one under
    ``data_dir``. Values written by versions before paths were relative (``var/flights/…``,
    relative to the working directory) are still found when the ``data_dir`` reading is not."""
    p = Path(value)
    if p.is_absolute() or data_dir is None:
        return p
    under = Path(data_dir) / p
    return under if under.exists() or not p.exists() else p
