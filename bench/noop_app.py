"""tilsyn's app plus one no-op POST endpoint: the ceiling the single-upsert bench compares with.

The endpoint goes through the same stack as a real upsert (uvicorn, FastAPI, tilsyn's
middleware, the key check every write gets before its body is read, the route matching of the
routes tried before the upsert's, the body reader and JSON parser, a request thread) and then
does nothing: no validation, no database. The key check is the key cache's
(instances/keycache.py): a database read once a second, a rate-limit lease every 50 requests.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from tilsyn.app import app_from_env
from tilsyn.core.edge import JsonObject
from tilsyn.core.http import json_body


def app_with_noop() -> FastAPI:
    app = app_from_env()

    @app.post("/bench/noop")
    def noop(body: Annotated[JsonObject, Depends(json_body)]) -> JSONResponse:
        return JSONResponse({"result": "unchanged", "warnings": [], "data": None})

    # Matched where the plant upsert is: just before the plants' routes, so that the router
    # tries as many routes before it as before the upsert (each costs a few microseconds).
    routes = app.router.routes
    noop_route = routes.pop()
    routes.insert(next(i for i, route in enumerate(routes) if _holds_upsert(route)), noop_route)
    return app


def _holds_upsert(route: BaseRoute) -> bool:
    contexts: Any = getattr(route, "effective_route_contexts", None)
    paths = [getattr(c, "path_format", "") for c in contexts()] if contexts else []
    return "/api/import/{environment}/plant" in paths
