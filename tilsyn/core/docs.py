"""The interactive documentation pages, served from the package's vendored assets.

FastAPI's default pages load Swagger UI and ReDoc from a CDN: on a grid company's closed
network they stay blank. Here both load from ``/static/vendor`` (see its VENDORED.md), and the
pages carry a Content-Security-Policy that lets the browser fetch nothing from another host.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_URL = "/static"
SWAGGER_UI = f"{STATIC_URL}/vendor/swagger-ui-dist-5.35.0"
REDOC = f"{STATIC_URL}/vendor/redoc-2.5.4"

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


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) and the assets they load."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")

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
