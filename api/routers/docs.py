"""The API's own documentation pages, Swagger UI (``/docs``) and ReDoc (``/redoc``).

Both load their scripts and styles from ``/static/vendor/`` (installed from npm by
``scripts/install_web_assets.sh``), never from a CDN, so they work on a machine without
internet; each page sends a Content-Security-Policy that allows only this origin and the page's
own inline script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.guards import page_csp

router = APIRouter(include_in_schema=False)

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui/swagger-ui.css"
SWAGGER_ICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"


def _page(page: HTMLResponse, *, blob_workers: bool = False) -> HTMLResponse:
    html = bytes(page.body).decode()
    return HTMLResponse(
        html,
        headers={"Content-Security-Policy": page_csp(html, blob_workers=blob_workers)},
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(
        get_swagger_ui_html(
            openapi_url=request.app.openapi_url,
            title=f"{request.app.title} – Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=SWAGGER_ICON,
            # no badge fetched from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _page(
        get_redoc_html(
            openapi_url=request.app.openapi_url,
            title=f"{request.app.title} – ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=SWAGGER_ICON,
            with_google_fonts=False,
        ),
        blob_workers=True,
    )
