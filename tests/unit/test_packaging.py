"""The package list in pyproject.toml covers every package folder, and resources resolve."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("geo_enforce", "api")
        for p in (ROOT / top).rglob("__init__.py")
        if ".venv" not in p.parts
    }
    assert found | {"geo_enforce.layers"} == listed
    assert conf["package-dir"] == {"geo_enforce.layers": "layers"}


def test_catalogue_and_sample_are_package_resources():
    from geo_enforce.demo.sample import SAMPLE_GPKG
    from geo_enforce.io.catalogue import DEFAULT_PATH, load_catalogue

    assert DEFAULT_PATH == Path(str(files("geo_enforce.layers") / "catalogue.yaml"))
    assert DEFAULT_PATH.is_file() and SAMPLE_GPKG.is_file()
    assert "structure" in load_catalogue().layers
