"""The interactive documentation pages, served from the package's vendored assets.

FastAPI's default pages load Swagger UI and ReDoc from a CDN: on a grid company's closed
network they stay blank. Here both load from ``/docs/vendor``, the package's
``tilsyn/static/vendor`` (see its VENDORED.md), and the pages carry a Content-Security-Policy
that lets the browser fetch nothing from another host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

VENDOR_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"
# Under /docs, so that no other part of the app that serves files of its own collides with it.
VENDOR_URL = "/docs/vendor"
SWAGGER_UI = f"{VENDOR_URL}/swagger-ui-dist-5.35.0"
REDOC = f"{VENDOR_URL}/redoc-2.5.4"

# Inline scripts and styles: FastAPI's page starts Swagger UI inline, and both UIs style
# elements inline. ReDoc's search runs in a worker made from a blob: URL.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)


class VendoredFiles(StaticFiles):
    """The vendored assets, cacheable: their paths name their version, so they never change.

    Without this the server-wide ``Cache-Control: no-store`` would send 3 MB per page view.
    """

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=604800, immutable"
        return response


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) and the assets they load."""
    app.mount(VENDOR_URL, VendoredFiles(directory=VENDOR_DIR), name="docs-vendor")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API documentation",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
            # No validator badge: it would send the schema's address to a public validator.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )
        return _with_policy(page)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API reference",
            redoc_js_url=f"{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
            with_google_fonts=False,
        )
        return _with_policy(page)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
