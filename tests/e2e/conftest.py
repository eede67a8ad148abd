"""Fixtures of the browser tests: the map server (per module) and Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import ARGS, CHROMIUM, Server, serve_map


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory) -> Iterator[Server]:
    with serve_map(module_db_url, tmp_path_factory.mktemp("mapvar")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def shots(artifacts: Path) -> Path:
    d = artifacts / "map"
    d.mkdir(parents=True, exist_ok=True)
    return d
