"""tilsyn's app plus no-op endpoints that each add one part of what a request pays before any
work, for bench/stack_cost.py. Every endpoint answers ``{}``:

- ``/stack/first/async``: an async POST placed first among the routes: tilsyn's middleware and
  the key check every keyed write gets (guard_writes), no body read, no thread;
- ``/stack/first/body``: the same, reading and parsing the JSON body as the upserts do;
- ``/stack/first/thread``: the same as ``async``, as a plain ``def`` (a request thread);
- ``/stack/first/get``: an async GET placed first: middleware only (GETs pass guard_writes);
- ``/stack/last/async``: ``/stack/first/async`` placed after every route of tilsyn, so that it
  is matched only after all of them were tried.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from tilsyn.app import app_from_env
from tilsyn.core.edge import JsonObject
from tilsyn.core.http import json_body

FIRST = ("/stack/first/async", "/stack/first/body", "/stack/first/thread", "/stack/first/get")


def app_with_stack_parts() -> FastAPI:
    app = app_from_env()

    @app.post("/stack/first/async")
    async def first_async() -> dict[str, str]:
        return {}

    @app.post("/stack/first/body")
    async def first_body(body: Annotated[JsonObject, Depends(json_body)]) -> dict[str, str]:
        return {}

    @app.post("/stack/first/thread")
    def first_thread() -> dict[str, str]:
        return {}

    @app.get("/stack/first/get/{key}")
    async def first_get(key: str) -> dict[str, str]:
        return {}

    routes = app.router.routes
    moved = [route for route in routes if getattr(route, "path", "").startswith(FIRST)]
    for route in moved:
        routes.remove(route)
    routes[0:0] = moved

    @app.post("/stack/last/async")
    async def last_async() -> dict[str, str]:
        return {}

    return app
