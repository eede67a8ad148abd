"""Static pages around the field map (no ledger data): the token login page.

Served by the API as they are; each loads only its own script and style from
``/static/webmap/`` (no inline script, so the strict Content-Security-Policy holds).
"""

from __future__ import annotations

from geo_enforce.webmap.assets import OWN_DIR


def login_html() -> str:
    """HTML of ``/map/login``: a token field whose script keeps it as the ``ge_token`` cookie."""
    return (OWN_DIR / "login.html").read_text("utf-8")
