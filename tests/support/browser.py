"""Driving the field map in real headless Chromium (Debian's), with the network closed.

``serve_map`` runs the API on a loopback port (uvicorn in a thread) over a real PostGIS seeded
with ``tests/support/mapdata``; ``open_page`` aborts and records every request to anything but
that server (or, offline, to anything but the file itself). Phone pages are 390×844 with touch
(``isMobile``), desktop pages 1366×768 unless told otherwise.
"""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image
from sqlalchemy import text

from geo_enforce.settings import Settings
from geo_enforce.storage.engine import make_engine, make_sessionmaker
from tests.conftest import bearer_headers
from tests.support.live_server import free_port
from tests.support.mapdata import CLICK_CASE, seed_ledger

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


@dataclass
class Server:
    url: str
    settings: Settings
    factory: Any
    seeded: Any
    area: dict = field(default_factory=dict)
    token: str = ""
    #: the path of every HTTP request the server received, in order (what reached the network)
    paths: list[str] = field(default_factory=list)


@contextmanager
def serve_map(db_url: str, data_dir: Path) -> Iterator[Server]:
    """The API over ``db_url`` seeded with the map ledger, and a viewer token for the cookie."""
    import uvicorn

    from api import create_app

    settings = Settings(database_url=db_url, data_dir=data_dir)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    seeded = seed_ledger(factory, data_dir)
    # the squad's browser carries a viewer token as the ge_token cookie (no anonymous viewers)
    (headers,) = bearer_headers(factory, ("map-viewer", "viewer"))
    with factory() as s:
        row = s.execute(
            text("SELECT area_m2, area_mu FROM structure WHERE case_no = :c"), {"c": CLICK_CASE}
        ).one()
    port = free_port()
    app = create_app(settings)
    paths: list[str] = []

    async def recorded(scope, receive, send):
        if scope["type"] == "http":
            paths.append(scope["path"])
        await app(scope, receive, send)

    config = uvicorn.Config(recorded, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield Server(
            f"http://127.0.0.1:{port}",
            settings,
            factory,
            seeded,
            {"m2": float(row.area_m2), "mu": float(row.area_mu)},
            headers["Authorization"].removeprefix("Bearer "),
            paths,
        )
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@dataclass
class Net:
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def open_page(
    browser,
    allowed: tuple[str, ...],
    server: Server | None = None,
    *,
    viewport: dict | None = None,
    phone: bool = False,
):
    """A page whose requests outside ``allowed`` schemes/hosts are aborted and recorded; with
    ``server``, it carries the server's viewer token as the ge_token cookie. ``phone``: a
    390×844 touch screen (``isMobile``, device pixel ratio 2)."""
    if phone:
        context = browser.new_context(
            viewport=viewport or PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
        )
    else:
        context = browser.new_context(viewport=viewport or {"width": 1200, "height": 800})
    # two shared cores under load: a page may take a while to load, never a timed assertion
    context.set_default_navigation_timeout(90_000)
    page = context.new_page()
    if server is not None:
        context.add_cookies([{"name": "ge_token", "value": server.token, "url": server.url}])
    net = Net()

    def route(r):
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob") or u.scheme in allowed or u.hostname in allowed:
            r.continue_()
        else:
            net.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda req: net.failed.append(f"{req.url} {req.failure}"))
    page.on(
        "response",
        lambda resp: net.failed.append(f"{resp.url} {resp.status}") if resp.status >= 400 else None,
    )
    page.on("console", lambda m: net.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: net.console_errors.append(str(e)))
    return page, net


def wait_drawn(page, layers: list[str], timeout: float = 20_000) -> dict:
    page.wait_for_function(
        "(names) => window.geoEnforce && names.every(n => (geoEnforce.state.drawn[n] || 0) > 0)",
        arg=layers,
        timeout=timeout,
    )
    page.wait_for_timeout(300)  # let the last tiles paint
    return page.evaluate("geoEnforce.state")


def show_only(page, keep: str | None) -> None:
    """Leave only one vector layer on the map: no orthophoto, labels or controls."""
    page.evaluate(
        """(keep) => {
            if (!document.getElementById("ge-bare")) {
                const st = document.createElement("style");
                st.id = "ge-bare";
                st.textContent = ".leaflet-control-container, .ge-village-label, " +
                    ".leaflet-sbs-divider { display: none !important; }";
                document.head.appendChild(st);
            }
            const m = geoEnforce.map;
            m.eachLayer(l => { if (l instanceof L.GridLayer && !(l.options && l.options.geLayer))
                m.removeLayer(l); });
            for (const [n, l] of Object.entries(geoEnforce.layers)) {
                if (n === keep) { if (!m.hasLayer(l)) m.addLayer(l); } else m.removeLayer(l);
            }
        }""",
        keep,
    )


def non_blank(png: bytes) -> int:
    """How many pixels differ from the map container's own background colour (#ddd)."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(img - 221).max(axis=2) > 30).sum())


def map_point(page, lon: float, lat: float) -> tuple[float, float]:
    """Where (lon, lat) is on the page, read once no zoom or pan animation is running (during
    one, Leaflet still answers for the view it is leaving)."""
    page.wait_for_function(
        "() => !geoEnforce.map._animatingZoom"
        " && !(geoEnforce.map._panAnim && geoEnforce.map._panAnim._inProgress)"
    )
    box = page.locator("#" + page.evaluate("geoEnforce.map.getContainer().id")).bounding_box()
    pt = page.evaluate(
        "([lat, lon]) => { const p = geoEnforce.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lat, lon],
    )
    return box["x"] + pt[0], box["y"] + pt[1]
