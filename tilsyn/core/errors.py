"""One handler renders every API error as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tilsyn.contract.errors import (
    PROBLEM_BASE,
    PROBLEM_JSON,
    ApiError,
    ServiceUnavailableError,
)
from tilsyn.contract.problems import Issue
from tilsyn.core.observability import DATABASE_ERRORS

log = logging.getLogger("tilsyn")


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem+json answer: what every handler below reduces its exception to."""

    status: int
    title: str
    detail: str
    slug: str
    errors: Sequence[Issue] = ()
    warnings: Sequence[Issue] = ()
    headers: dict[str, str] | None = None


def problem_response(problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = [issue.as_dict() for issue in problem.errors]
    if problem.warnings:
        body["warnings"] = [issue.as_dict() for issue in problem.warnings]
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


_HTTP_TITLES = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}

_INTERNAL = Problem(500, "Internal error", "The request could not be completed.", "internal")


async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return problem_response(
        Problem(
            exc.status,
            exc.title,
            exc.detail,
            exc.slug,
            errors=exc.errors,
            warnings=exc.warnings,
            headers=exc.headers,
        )
    )


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404:
        detail = "No such resource; see /docs for the API."
    return problem_response(
        Problem(exc.status_code, title, detail, slug, headers=dict(exc.headers or {}))
    )


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    issues = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in {"body", "query", "path"}]
        issues.append(Issue(".".join(loc), str(err.get("type", "invalid")), str(err.get("msg"))))
    return problem_response(
        Problem(
            400,
            "The request is not valid",
            "One or more parameters are invalid.",
            "invalid-request",
            errors=issues,
        )
    )


async def _db_unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
    log.error("database unavailable: %s", type(exc.orig).__name__)
    DATABASE_ERRORS.labels("unavailable").inc()
    return problem_response(
        Problem(
            503,
            ServiceUnavailableError.title,
            "The database is not reachable right now; retry shortly.",
            ServiceUnavailableError.slug,
            headers={"Retry-After": "5"},
        )
    )


async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
    if exc.connection_invalidated:
        return await _db_unavailable(request, OperationalError("", {}, exc))
    log.error("database error: %s", type(exc.orig).__name__)
    DATABASE_ERRORS.labels("error").inc()
    return problem_response(_INTERNAL)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=False)
    return problem_response(_INTERNAL)


_HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]], ...] = (
    (ApiError, _api_error),
    (StarletteHTTPException, _http_error),
    (RequestValidationError, _validation_error),
    (OperationalError, _db_unavailable),
    (DBAPIError, _db_error),
    (Exception, _unexpected),
)
"""Each exception class and its renderer; Starlette picks the most specific class raised."""


def install_error_handlers(app: FastAPI) -> None:
    for exc_class, handler in _HANDLERS:
        app.add_exception_handler(exc_class, handler)
