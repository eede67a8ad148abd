"""One source for settings: everything in the frozen ``Settings``, read from the environment."""

from __future__ import annotations

import getpass
from pathlib import Path

import pydantic
import pytest

from geo_enforce.access.auth import Principal
from geo_enforce.settings import FarmlandSettings, Settings
from geo_enforce.storage.audit import api_actor, cli_actor


def test_farmland_catalogue_and_actor_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_ENFORCE_FARMLAND__FAR_PHOTO_M", "150")
    monkeypatch.setenv("GEO_ENFORCE_CATALOGUE", str(tmp_path / "cat.yaml"))
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:night-shift")
    s = Settings()
    assert s.farmland == FarmlandSettings(far_photo_m=150.0, sliver_m2=0.01)
    assert s.catalogue == Path(tmp_path / "cat.yaml")
    assert s.actor == "cli:night-shift"


def test_settings_are_frozen():
    s = Settings()
    with pytest.raises(pydantic.ValidationError):
        s.data_dir = Path("elsewhere")  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        s.farmland.far_photo_m = 1.0  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        FarmlandSettings(far_photo_m=0)


def test_one_actor_spelling(monkeypatch):
    """API writes are ``api:<user>``, CLI writes ``cli:<login>`` (or GEO_ENFORCE_ACTOR)."""
    from geo_enforce.cli import common

    assert Principal(name="wang.li", role="editor").actor == api_actor("wang.li") == "api:wang.li"
    monkeypatch.delenv("GEO_ENFORCE_ACTOR", raising=False)
    common.settings.cache_clear()
    try:
        assert common.actor() == cli_actor(getpass.getuser()) == f"cli:{getpass.getuser()}"
        monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:root")
        common.settings.cache_clear()
        assert common.actor() == "cli:root"
    finally:
        common.settings.cache_clear()
