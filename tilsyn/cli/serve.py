"""``tilsyn serve``: the API server, after the schema is migrated and the secrets checked."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from tilsyn.cli.database import console, fail, open_database, settings, state
from tilsyn.core.db import Database
from tilsyn.instances import service as instances


@dataclass(frozen=True)
class ServerOptions:
    """Where and how the server listens."""

    host: str
    port: int
    workers: int = 1
    pool_size: int = 8
    read_url: str | None = None


def _log_config() -> dict[str, Any]:
    """JSON lines on stderr for tilsyn and uvicorn alike, in every worker process."""
    level = os.environ.get("TILSYN_LOG_LEVEL", "INFO").upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "tilsyn.core.observability.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": "WARNING", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def _check_secret(database: Database, *, allow_default: bool) -> None:
    """Refuse the public development secrets where they would guard production data."""
    current = settings()
    if allow_default or not (current.uses_default_secret or current.uses_default_data_key):
        return
    with database.read() as session:
        if not any(i.environment == "prod" for i in instances.list_instances(session)):
            return
    if current.uses_default_secret:
        console.print(
            "[red]error:[/red] TILSYN_SECRET_KEY is not set and this database holds a prod "
            "instance. Set TILSYN_SECRET_KEY (and create new keys under it) before serving it."
        )
    else:
        console.print(
            "[red]error:[/red] TILSYN_DATA_KEY is not set and this database holds a prod "
            "instance. Set TILSYN_DATA_KEY and run `tilsyn db rotate-data-key` with the "
            "development key as TILSYN_DATA_KEY_PREVIOUS before serving it."
        )
    raise typer.Exit(2)


def _warn_default_secrets() -> None:
    current = settings()
    if current.uses_default_secret:
        console.print(
            "[yellow]warning:[/yellow] TILSYN_SECRET_KEY is not set; API keys are hashed with a "
            "public development secret. Set it before holding real data."
        )
    if current.uses_default_data_key:
        console.print(
            "[yellow]warning:[/yellow] TILSYN_DATA_KEY is not set; customer numbers are sealed "
            "with a public development key. Set it before holding real data."
        )


def run_server(options: ServerOptions) -> None:
    """Hand over to uvicorn; the workers read their settings from the environment."""
    import uvicorn

    os.environ["TILSYN_DATABASE_URL"] = state.url
    os.environ["TILSYN_DB_POOL_SIZE"] = str(options.pool_size)
    if options.read_url:
        os.environ["TILSYN_DATABASE_READ_URL"] = options.read_url
    if options.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tilsyn-metrics-")
    _warn_default_secrets()
    uvicorn.run(
        "tilsyn.app:app_from_env",
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        access_log=False,
        server_header=False,
        log_config=_log_config(),
        log_level="warning",
    )


def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    db_pool_size: Annotated[
        int, typer.Option(help="Database connections per worker; also its request threads")
    ] = 8,
    db_read_url: Annotated[
        str | None, typer.Option(help="Read replica for GET requests (PostgreSQL)")
    ] = None,
    allow_insecure_secret: Annotated[
        bool,
        typer.Option(
            help="Serve prod instances without TILSYN_SECRET_KEY or TILSYN_DATA_KEY (never do this)"
        ),
    ] = False,
) -> None:
    """Run the API server (creates or migrates the schema first)."""
    if db_pool_size < 1 or workers < 1:
        raise fail("--workers and --db-pool-size must be at least 1")
    with open_database(create=True) as database:
        _check_secret(database, allow_default=allow_insecure_secret)
    console.print(f"tilsyn serving on http://{host}:{port} (docs at /docs)")
    run_server(ServerOptions(host, port, workers, db_pool_size, db_read_url))
