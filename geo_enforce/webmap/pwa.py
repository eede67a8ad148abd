"""The served field map as an installable web app: manifest, icons and service worker.

The API serves them next to ``/map`` (``api/routers/map.py``); they hold no ledger data. The
worker's app shell is the page and every file the page loads from ``/static/`` (Leaflet and
the plugins from the vendor folder, the map's own script and style), versioned by a hash of
those files, so a new install replaces the cached shell. The offline single file
(``geo-enforce map``) needs none of this.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

from geo_enforce.webmap.assets import CSS, JS, OWN_DIR, VENDOR_DIR, served_url

#: Theme colour of the installed app (title bar, splash screen).
THEME_COLOR = "#1f5fae"
#: Icon sizes the manifest offers (px, square).
ICON_SIZES = (192, 512)


def shell_files() -> list[tuple[str, Path]]:
    """(served URL, file) of everything the map page loads from ``/static/``.

    Every file of the folders of the page's scripts and styles (the stylesheets' images with
    them), licences left out; our own script and style.
    """
    out: dict[str, Path] = {}
    for rel in [*JS.values(), *CSS.values()]:
        if rel.startswith("own/"):
            out[served_url(rel)] = OWN_DIR / rel[4:]
            continue
        folder = (VENDOR_DIR / rel).parent
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.upper().startswith(("LICENSE", "NOTICE")):
                out[served_url(path.relative_to(VENDOR_DIR).as_posix())] = path
    return sorted(out.items())


def shell_version(files: list[tuple[str, Path]]) -> str:
    """A short hash of the shell files' names and contents."""
    h = hashlib.sha256()
    for url, path in files:
        h.update(url.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def service_worker_js(*, page: str, data_prefixes: list[str]) -> str:
    """The worker's script: caches ``page`` and the shell files; keeps data under the prefixes."""
    files = shell_files()
    template = (OWN_DIR / "sw.js").read_text("utf-8")
    return (
        template.replace("__GE_VERSION__", shell_version(files))
        .replace("__GE_PAGE__", page)
        .replace("__GE_SHELL__", json.dumps([page, *(u for u, _ in files)]))
        .replace("__GE_DATA__", json.dumps(data_prefixes))
    )


def manifest(*, start_url: str, scope: str, icon_url: str) -> dict:
    """The web app manifest (``icon_url`` with ``{size}``)."""
    return {
        "name": "违法建设外业图",
        "short_name": "外业图",
        "description": "违法建设治理外业巡查地图（geo-enforce）",
        "lang": "zh-CN",
        "start_url": start_url,
        "scope": scope,
        "display": "standalone",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOR,
        "icons": [
            {
                "src": icon_url.replace("{size}", str(size)),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for size in ICON_SIZES
        ],
    }


@functools.cache
def icon_png(size: int) -> bytes:
    """The app icon, drawn (no font, no file): a house outline struck through, on the theme
    colour, inside the maskable safe zone (the middle 80 %)."""
    if size not in ICON_SIZES:
        raise ValueError(f"icon size {size} not offered: use one of {ICON_SIZES}")
    img = Image.new("RGB", (size, size), THEME_COLOR)
    d = ImageDraw.Draw(img)
    s = size / 100
    w = max(2, round(5 * s))
    roof = [(24 * s, 50 * s), (50 * s, 27 * s), (76 * s, 50 * s)]
    d.line(roof, fill="white", width=w, joint="curve")
    d.rectangle([31 * s, 48 * s, 69 * s, 74 * s], outline="white", width=w)
    d.line([(28 * s, 78 * s), (72 * s, 30 * s)], fill="#e53935", width=round(w * 1.4))
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
