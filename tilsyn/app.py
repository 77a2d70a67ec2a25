"""The FastAPI application: routers, error handlers, request logging, OpenAPI."""

from __future__ import annotations

import gc
import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import text
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tilsyn import __version__
from tilsyn.bulk.routes import router as bulk_router
from tilsyn.bulk.service import ChunkCheckers
from tilsyn.console.routes import install_console
from tilsyn.contract.errors import NotFound, Unauthorized
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.docs import install_docs
from tilsyn.core.errors import install_error_handlers
from tilsyn.core.groupcommit import GroupCommit
from tilsyn.core.http import problem
from tilsyn.core.observability import LATENCY, REQUESTS, metrics_payload
from tilsyn.core.openapi import build_openapi
from tilsyn.core.personal import DataKeys
from tilsyn.customers.routes import router as customers_router
from tilsyn.hierarchy.routes import router as grid_router
from tilsyn.history.routes import router as history_router
from tilsyn.inspections.routes import router as inspections_router
from tilsyn.instances.http import guard_writes, reject_unknown_query
from tilsyn.instances.keycache import KeyCache
from tilsyn.instances.ratelimit import FailureLimiter, RateLimiter
from tilsyn.plans.routes import router as plans_router
from tilsyn.plants.routes import history_router as plant_history_router
from tilsyn.plants.routes import router as plants_router
from tilsyn.rules.routes import router as rules_router
from tilsyn.search.routes import router as search_router

access_log = logging.getLogger("tilsyn.access")

DESCRIPTION = """
tilsyn is an open registry of customers and electrical installations (plants) for Norwegian
grid companies and their local electrical-safety inspection (DLE).

The import API is a drop-in server for integrations written against the vendor's
"API for kunde og anlegg": same paths, field names and status codes. Every request carries
the instance's key in the `api-key` header. Property names match case-insensitively;
unknown properties and implausible values come back as `warnings`; structural problems are
answered with 400 and an RFC 9457 problem listing every field at fault.
"""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _request_id(sent: str | None) -> str:
    """The client's X-Request-ID when it is a plain token, else a new one."""
    if sent and _REQUEST_ID.match(sent):
        return sent
    return uuid.uuid4().hex


class ObserveRequests:
    """Request id, security headers, the access log line and request metrics.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs
    each request through extra tasks and streams, a cost every request paid. The duration runs
    to the response's last byte, so a streamed bulk answer is timed whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(Headers(scope=scope).get("x-request-id"))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            # The route template, never the raw path: paths carry personal numbers.
            route = getattr(scope.get("route"), "path", "<unmatched>")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "request_id": request_id,
                    "key_id": state.get("key_id"),
                    "instance": state.get("instance"),
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Once per process, at the first start: what exists now (modules, the app, its routes and
    models) lives as long as the process, so the collector stops scanning it. Each full
    collection otherwise walks all of it, pausing the request it falls on: searches at 1M
    plants whose median is 20 ms took about 100 ms when one did (bench/search.py)."""
    global _heap_frozen  # noqa: PLW0603 - one process, one freeze
    if not _heap_frozen:
        gc.collect()
        gc.freeze()
        _heap_frozen = True


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in AnyIO's thread pool; each holds at most one connection at a
        # time, so as many threads as pooled connections means no request waits on the pool.
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
        _freeze_startup_heap()
        try:
            yield
        finally:
            app.state.chunk_checkers.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="tilsyn",
        version=__version__,
        description=DESCRIPTION,
        # Served by install_docs from the package's own assets, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        # On every route, those included below and any added later.
        dependencies=[Depends(reject_unknown_query), Depends(guard_writes)],
    )
    _attach_state(app, settings, db)
    install_error_handlers(app)
    if settings.docs_enabled:
        install_docs(app, "/openapi.json")
    _include_routers(app)
    _install_health(app)
    _install_metrics(app, settings)
    app.add_middleware(ObserveRequests)
    _install_openapi(app)
    return app


def _attach_state(app: FastAPI, settings: Settings, db: Database | None) -> None:
    """What routes find on ``app.state``: settings, the database, limiters and workers."""
    app.state.settings = settings
    app.state.db = db or Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        read_url=settings.read_database_url,
        data_keys=DataKeys.from_settings(settings),
    )
    # This process's leases on the keys' shared token buckets (instances/ratelimit.py).
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.group_commit = GroupCommit(app.state.db, max_group=settings.group_commit_size)
    app.state.rate_limiter = RateLimiter.for_database(app.state.db)
    app.state.instance_rate_limiter = RateLimiter.for_instances(app.state.db)
    app.state.auth_failures = FailureLimiter(
        settings.auth_failures_per_second, settings.auth_failures_burst
    )
    app.state.chunk_checkers = ChunkCheckers(settings.bulk_check_workers)


def _include_routers(app: FastAPI) -> None:
    """The domains' routers, in the order their paths must be tried."""
    # Bulk first: its paths would otherwise partly match the DELETE routes of one entity.
    app.include_router(bulk_router)
    app.include_router(customers_router)
    # Before plants: the search's /api/plant/test would else be read as the older API's
    # /api/plant/{meteringPointId} (a metering point id is never 'test' or 'prod').
    app.include_router(search_router)
    app.include_router(grid_router)
    app.include_router(plants_router)
    app.include_router(history_router)
    app.include_router(plant_history_router)
    app.include_router(rules_router)
    app.include_router(inspections_router)
    app.include_router(plans_router)
    install_console(app)


def _install_health(app: FastAPI) -> None:
    """Liveness and readiness probes for the orchestrator."""

    @app.get(
        "/healthz",
        operation_id="healthz",
        tags=["operations"],
        summary="Liveness: answers once the server is up",
    )
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        operation_id="readyz",
        tags=["operations"],
        summary="Readiness: answers 200 when the database answers",
        responses={503: problem("The database is not reachable")},
    )
    def readyz() -> dict[str, str]:
        with app.state.db.read() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ready"}


def _install_metrics(app: FastAPI, settings: Settings) -> None:
    metrics_on = settings.metrics_enabled or settings.metrics_token is not None

    @app.get(
        "/metrics",
        operation_id="getMetrics",
        tags=["operations"],
        summary="Prometheus metrics (when enabled; with a token, for that bearer only)",
        response_class=PlainTextResponse,
        # Not part of the API: an operator's endpoint, with a bearer token of its own.
        include_in_schema=False,
    )
    def metrics(request: Request) -> Response:
        """Off by default: metrics name instances and show their activity."""
        if not metrics_on:
            raise NotFound("Not found.")
        if settings.metrics_token is not None:
            sent = request.headers.get("authorization", "")
            expected = f"Bearer {settings.metrics_token}"
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                raise Unauthorized("Send the metrics token as `Authorization: Bearer <token>`.")
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)


def _install_openapi(app: FastAPI) -> None:
    """The schema is built on first request, request bodies as the routes declare them."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """Entry point for uvicorn workers: settings come from the environment."""
    return create_app(Settings.from_env())
