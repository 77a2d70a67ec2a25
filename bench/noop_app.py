"""tilsyn's app plus one no-op POST endpoint: the ceiling the single-upsert bench compares with.

The endpoint goes through the same stack as a real upsert (uvicorn, FastAPI, tilsyn's
middleware, the key check every write gets before its body is read, the body reader and JSON
parser, a request thread) and then does nothing: no validation, no database. The key check is
the key cache's (instances/keycache.py): a database read once a second, a rate-limit lease
every 50 requests.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from tilsyn.app import app_from_env
from tilsyn.core.edge import JsonObject
from tilsyn.core.http import json_body


def app_with_noop() -> FastAPI:
    app = app_from_env()

    @app.post("/bench/noop")
    def noop(body: Annotated[JsonObject, Depends(json_body)]) -> JSONResponse:
        return JSONResponse({"result": "unchanged", "warnings": [], "data": None})

    return app
