"""The caller's key as FastAPI dependencies: who is asking, in which environment, may they.

The order of checks is the contract's (SPEC §10): ``api-key`` (401), then ``{environment}``
(400), then the body (core/http.py). These live with the instances, not in core, because
checking a key needs the instances' keys and rate limits; core/http.py keeps what every route
needs without a key (the database, the body, the problem responses).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from tilsyn.contract.errors import (
    ApiError,
    BadEnvironment,
    Forbidden,
    InvalidRequest,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from tilsyn.contract.problems import Issue
from tilsyn.contract.time import utc_now
from tilsyn.core.changelog import Actor
from tilsyn.core.http import database_of, get_settings, request_id
from tilsyn.core.observability import RATE_LIMITED
from tilsyn.instances.keycache import KeyCache
from tilsyn.instances.ratelimit import FailureLimiter, Limit, RateLimiter, retry_after_seconds
from tilsyn.instances.service import (
    ADMIN_SCOPE,
    ENVIRONMENTS,
    IMPORT_SCOPE,
    READ_SCOPE,
    KeyContext,
    authenticate,
    hash_key,
    touch_key,
)

# The schema's security scheme: every route that depends on key_context declares it, so
# "Try it out" sends the key and generated clients send it in this header. auto_error=False:
# a missing key is answered by key_context with the problem below, not FastAPI's 403.
API_KEY_HEADER = APIKeyHeader(
    name="api-key",
    scheme_name="apiKey",
    description="An instance's API key (`tilsyn key create INSTANCE`)",
    auto_error=False,
)

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_KEY_CONTEXT = "key_context"


async def key_context(
    request: Request, api_key: Annotated[str | None, Security(API_KEY_HEADER)] = None
) -> KeyContext:
    """The caller's key, checked once per request (:func:`guard_writes` may have done it).

    A key checked less than ``key_cache_seconds`` ago in this process is taken from the key
    cache (instances/keycache.py) on the event loop; otherwise it is read from the database
    off the loop. The rate limit, the read-only scope and the once-per-minute "last used"
    hold either way.
    """
    known: KeyContext | None = getattr(request.state, _KEY_CONTEXT, None)
    if known is not None:
        return known
    failures: FailureLimiter = request.app.state.auth_failures
    address = request.client.host if request.client else "unknown"
    blocked = failures.blocked(address)
    if blocked is not None:
        seconds = retry_after_seconds(blocked)
        raise TooManyRequests(
            f"Too many requests with a missing or unknown API key from this address; "
            f"retry in {seconds} s.",
            retry_after=seconds,
        )
    if not api_key:
        failures.fail(address)
        raise Unauthorized("Send the instance's API key in the 'api-key' header.")
    settings = get_settings(request)
    cache: KeyCache = request.app.state.key_cache
    digest = hash_key(settings.secret_key, api_key)
    ctx = cache.get(digest)
    touch_needed = False
    if ctx is None:
        ctx = await run_in_threadpool(_read_key, request, api_key)
        if ctx is None:
            failures.fail(address)
            raise Unauthorized("The API key is unknown or has been revoked.")
        touch_needed = ctx.needs_touch
        # Cached as touched: the touch below follows, and the next read of the key sees it.
        cache.put(digest, replace(ctx, last_used_at=utc_now(), rehash_to=None))
    request.state.key_id = ctx.key_id
    request.state.instance = ctx.instance_name
    # Before the body is read: a throttled client's upload is not waited for.
    await _throttle(request, ctx)
    if touch_needed:
        await run_in_threadpool(_touch, request, ctx)
    if ctx.scope == READ_SCOPE and request.method not in READ_ONLY_METHODS:
        raise Forbidden("This API key is read-only: it may only read (GET).")
    setattr(request.state, _KEY_CONTEXT, ctx)
    return ctx


def _read_key(request: Request, api_key: str) -> KeyContext | None:
    settings = get_settings(request)
    with database_of(request).lookup() as session:
        return authenticate(
            session,
            secret_key=settings.secret_key,
            previous_secret_key=settings.previous_secret_key,
            api_key=api_key,
        )


def _touch(request: Request, ctx: KeyContext) -> None:
    with database_of(request).write() as session:
        touch_key(session, ctx.key_id, rehash_to=ctx.rehash_to)


async def _throttle(request: Request, ctx: KeyContext) -> None:
    """The key's limit, then the instance's: its keys together get one instance's budget."""
    wait = await _acquire(request.app.state.rate_limiter, ctx.key_id, ctx.rate_limit)
    whose = "API key"
    if wait is None:
        instance_limiter: RateLimiter = request.app.state.instance_rate_limiter
        wait = await _acquire(instance_limiter, ctx.instance_id, ctx.rate_limit)
        whose = "instance, all its keys together,"
    if wait is not None:
        RATE_LIMITED.labels(ctx.instance_name).inc()
        seconds = retry_after_seconds(wait)
        raise TooManyRequests(
            f"This {whose} may send {ctx.rate_limit.describe()}; retry in {seconds} s.",
            retry_after=seconds,
        )


async def _acquire(limiter: RateLimiter, ident: int, limit: Limit) -> float | None:
    """A token of this process's lease on the loop; a new lease (a database write) off it."""
    if limiter.spend_leased(ident, limit):
        return None
    return await run_in_threadpool(limiter.acquire, ident, limit)


async def guard_writes(request: Request) -> None:
    """Every keyed write checks its key before anything else of the request (its body
    included), so a read-only key meets 403 on every POST, PUT and DELETE, whatever the
    route and whoever adds it. Installed on the whole application (app.py)."""
    if request.method in READ_ONLY_METHODS:
        return
    api_key = request.headers.get("api-key")
    if api_key:  # without one, the route's own key check answers 401
        await key_context(request, api_key)


_DECLARED: dict[int, tuple[frozenset[str], bool]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _keyed(dependant: Dependant) -> bool:
    return any(sub.call is key_context or _keyed(sub) for sub in dependant.dependencies)


async def reject_unknown_query(request: Request) -> None:
    """An unknown query parameter is a 400 naming it, on every route: a filter silently
    ignored would answer everything and look like an answer. Installed on the whole
    application (app.py), so routes added later get it too. Pages outside the API's schema
    (the console's HTML) are not endpoints: ``?lang=en`` works on each of them. On a keyed
    route the key is checked first, as everywhere: no key, 401, whatever the parameters."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema or not request.query_params:
        return
    known = _DECLARED.get(id(route))
    if known is None:
        known = _DECLARED[id(route)] = (
            frozenset(_query_names(route.dependant)),
            _keyed(route.dependant),
        )
    declared, keyed = known
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        if keyed:
            await key_context(request, request.headers.get("api-key"))
        raise InvalidRequest(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            errors=[
                Issue(name, "unknown_parameter", "is not a parameter of this endpoint")
                for name in unknown
            ],
        )


# Documented as an enum, checked by hand: the key must be checked (401) before it (400).
EnvironmentPath = Annotated[
    str,
    Path(
        description="'test' or 'prod'; must match the environment of the key's instance",
        json_schema_extra={"enum": list(ENVIRONMENTS)},
    ),
]


async def environment_context(
    environment: EnvironmentPath, ctx: Annotated[KeyContext, Depends(key_context)]
) -> KeyContext:
    if environment not in ENVIRONMENTS:
        raise BadEnvironment("The environment in the URL must be 'test' or 'prod'.")
    if environment != ctx.environment:
        raise BadEnvironment(
            f"This API key belongs to a '{ctx.environment}' instance, "
            f"but the URL names '{environment}'."
        )
    return ctx


async def import_context(ctx: Annotated[KeyContext, Depends(environment_context)]) -> KeyContext:
    """An import or admin key: what listing every customer number needs."""
    if ctx.scope not in (IMPORT_SCOPE, ADMIN_SCOPE):
        raise Forbidden("This endpoint needs an import or admin API key.")
    return ctx


async def admin_context(ctx: Annotated[KeyContext, Depends(environment_context)]) -> KeyContext:
    if ctx.scope != "admin":
        raise Forbidden("This endpoint needs an admin-scoped API key.")
    return ctx


def actor_for(request: Request, ctx: KeyContext) -> Actor:
    return Actor(
        instance_id=ctx.instance_id,
        api_key_id=ctx.key_id,
        request_id=request_id(request),
        api_key_label=ctx.label,
    )


async def caller_checked(
    request: Request, ctx: Annotated[KeyContext, Depends(key_context)]
) -> None:
    """The key (401), then the URL's environment where it has one (400): what every keyed
    route answers before anything about the rest of its path."""
    environment = request.path_params.get("environment")
    if environment is not None:
        await environment_context(environment, ctx)


@dataclass(frozen=True)
class KeyPath:
    """A key in the URL path (a metering point id, a customer number), as a dependency:
    ``Annotated[str, Depends(KeyPath("meteringPointId", not_found))]``.

    A key holding NUL names nothing (PostgreSQL cannot even compare such text): it is
    answered as the route answers an unknown key, ``not_found()``, once the caller's key and
    environment are checked, wherever the route lists it. The path parameter is declared
    under its own name, as a plain string, so the document shows it as before.
    """

    name: str
    not_found: Callable[[], ApiError]

    def __post_init__(self) -> None:
        keyword = inspect.Parameter.KEYWORD_ONLY
        checked = Annotated[None, Depends(caller_checked)]
        signature = inspect.Signature(
            [
                inspect.Parameter(self.name, keyword, annotation=str),
                inspect.Parameter("caller", keyword, annotation=checked),
            ]
        )
        object.__setattr__(self, "__signature__", signature)

    async def __call__(self, **values: Any) -> str:
        key: str = values[self.name]
        if "\x00" in key:
            raise self.not_found()
        return key


def not_found(detail: str) -> Callable[[], ApiError]:
    """A KeyPath's answer for a key that cannot name anything: the route's own 404."""
    return lambda: NotFound(detail)


Env = Annotated[KeyContext, Depends(environment_context)]
ImportEnv = Annotated[KeyContext, Depends(import_context)]
AnyEnvKey = Annotated[KeyContext, Depends(key_context)]
