"""Local copies of Leaflet and its plugins, and rewriting a folium page to use them.

``scripts/install_web_assets.sh`` installs the files from the npm registry into
``geo_enforce/web/static/vendor/``; the API serves that folder at ``/static/vendor/`` and the
map's own script and style at ``/static/webmap/``. A served page links them; the offline export
inlines them (CSS ``url()`` references become data URIs), so the page needs no network at all.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from pathlib import Path

from branca.element import Element, Figure

from geo_enforce.errors import ConfigError

VENDOR_DIR = Path(__file__).resolve().parents[1] / "web" / "static" / "vendor"
OWN_DIR = Path(__file__).resolve().parent / "static"

#: folium's asset names (and our own) → file, relative to the vendor folder ("own/" = ours).
JS: dict[str, str] = {
    "leaflet": "leaflet/leaflet.js",
    "vectorGrid": "vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "leaflet.sidebyside": "sidebyside/leaflet-side-by-side.js",
    "Control.Fullscreen.js": "fullscreen/Control.FullScreen.js",
    "Control_locate_min_js": "locate/L.Control.Locate.min.js",
    "proj4": "proj4/proj4.js",
    "geoenforce": "own/geoenforce.js",
    "geocapture": "own/capture.js",
    "geooffline": "own/offline.js",
}
CSS: dict[str, str] = {
    "leaflet_css": "leaflet/leaflet.css",
    "sidebyside_css": "sidebyside/layout.css",
    "Control.FullScreen.css": "fullscreen/Control.FullScreen.css",
    "Control_locate_min_css": "locate/L.Control.Locate.min.css",
    "geoenforce_css": "own/geoenforce.css",
}


def asset_path(rel: str) -> Path:
    """The file behind an asset name's relative path; a clear error when not installed."""
    path = OWN_DIR / rel[4:] if rel.startswith("own/") else VENDOR_DIR / rel
    if not path.is_file():
        raise ConfigError(
            f"web asset {path} is missing: run scripts/install_web_assets.sh (or make setup) "
            "to install Leaflet and the map plugins"
        )
    return path


def served_url(rel: str) -> str:
    """The URL the API serves the asset ``rel`` at."""
    if rel.startswith("own/"):
        return "/static/webmap/" + rel[4:]
    return "/static/vendor/" + rel


def localize(figure: Figure) -> None:
    """Point every element's ``default_js``/``default_css`` at the local copies (served URLs).

    An asset we do not carry raises :class:`ConfigError` naming it, so a page can never
    silently fall back to a CDN.
    """

    def walk(element: Element) -> None:
        for attr, table in (("default_js", JS), ("default_css", CSS)):
            entries = getattr(element, attr, None)
            if entries:
                local = []
                for name, url in entries:
                    if name not in table:
                        raise ConfigError(
                            f"map element {type(element).__name__} needs '{name}' ({url}), "
                            "which is not installed locally: add it to scripts/"
                            "install_web_assets.sh and geo_enforce/webmap/assets.py"
                        )
                    asset_path(table[name])
                    local.append((name, served_url(table[name])))
                setattr(element, attr, local)
        for child in element._children.values():
            walk(child)

    walk(figure)


_URL_REF = re.compile(r"""url\((['"]?)([^'")]+)\1\)""")
_LINK = re.compile(r"""<link[^>]*href="(/static/[^"]+)"[^>]*>""")
_SCRIPT = re.compile(r"""<script[^>]*src="(/static/[^"]+)"[^>]*>\s*</script>""")


def _file_for_url(url: str) -> Path:
    if url.startswith("/static/webmap/"):
        return asset_path("own/" + url.removeprefix("/static/webmap/"))
    return asset_path(url.removeprefix("/static/vendor/"))


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _inline_css(path: Path) -> str:
    css = path.read_text("utf-8")

    def repl(m: re.Match[str]) -> str:
        ref = m.group(2)
        if ref.startswith(("data:", "#")):
            return m.group(0)
        target = (path.parent / ref).resolve()
        if not target.is_file():  # a plugin's stylesheet naming an image it does not ship
            return "none"
        return f'url("{_data_uri(target)}")'

    return _URL_REF.sub(repl, css)


def inline_assets(html: str) -> str:
    """Replace the page's local ``<script src>`` and ``<link href>`` by inline copies."""

    def script(m: re.Match[str]) -> str:
        code = _file_for_url(m.group(1)).read_text("utf-8").replace("</script", "<\\/script")
        return f"<script>{code}</script>"

    def link(m: re.Match[str]) -> str:
        return f"<style>{_inline_css(_file_for_url(m.group(1)))}</style>"

    return _LINK.sub(link, _SCRIPT.sub(script, html))
