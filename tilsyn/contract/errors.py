"""The API's error hierarchy: each error knows its status and its problem+json type."""

from __future__ import annotations

from collections.abc import Sequence

from tilsyn.contract.problems import Issue

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://tilsyn.dev/problems/"


class ApiError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[Issue] = (),
        warnings: Sequence[Issue] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.warnings = list(warnings)
        self.headers = headers or {}


class Unauthorized(ApiError):
    status = 401
    slug = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(ApiError):
    status = 403
    slug = "forbidden"
    title = "This API key may not do that"


class BadEnvironment(ApiError):
    status = 400
    slug = "environment-mismatch"
    title = "Wrong environment"


class InvalidBody(ApiError):
    status = 400
    slug = "invalid-body"
    title = "The request body is not valid"


class InvalidRequest(ApiError):
    """A query parameter that its schema lets through but its meaning does not (a date)."""

    status = 400
    slug = "invalid-request"
    title = "The request is not valid"


class NotFound(ApiError):
    status = 404
    slug = "not-found"
    title = "Not found"


class PayloadTooLarge(ApiError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class RequestTimeout(ApiError):
    status = 408
    slug = "request-timeout"
    title = "The request body came too slowly"


class TooManyRequests(ApiError):
    """Over the key's rate limit; ``Retry-After`` says when a request will be accepted again."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailableError(ApiError):
    status = 503
    slug = "unavailable"
    title = "Service temporarily unavailable"
