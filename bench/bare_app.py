"""A bare FastAPI app (no tilsyn middleware, no database): the framework's ceiling for the
HTTP benches, served by uvicorn with the same settings as tilsyn."""

from __future__ import annotations

from fastapi import FastAPI


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/noop")
    async def noop_post() -> dict[str, str]:
        return {}

    @app.get("/noop/{key}")
    async def noop_get(key: str) -> dict[str, str]:
        return {}

    return app
