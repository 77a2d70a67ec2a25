"""The ``tilsyn`` command. Each command only parses options and calls services.

Output meant for scripts (a new key) prints only the value; everything else is for people.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tilsyn.bulk.cli import demo_data, import_files
from tilsyn.client.cli import sync as sync_command
from tilsyn.core.backup import BackupError, backup, restore
from tilsyn.core.config import Settings
from tilsyn.core.db import Database, sqlite_file
from tilsyn.core.migrate import (
    DatabaseTooNewError,
    current_revision,
    head_revision,
    upgrade_database,
)
from tilsyn.core.models import Instance
from tilsyn.core.personal import DataKeyError, DataKeys
from tilsyn.history.cli import history_app
from tilsyn.instances import service as instances
from tilsyn.plans.cli import plan_app, report
from tilsyn.rules.cli import rules_app
from tilsyn.users.cli import user_app
from tilsyn.validation.postal_cli import postal_app

app = typer.Typer(
    no_args_is_help=True,
    help="tilsyn: registry of customers and plants for DLE.",
    pretty_exceptions_show_locals=False,  # locals may hold keys or personal data
)
instance_app = typer.Typer(no_args_is_help=True, help="Instances: separated registries.")
key_app = typer.Typer(no_args_is_help=True, help="API keys of an instance.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
app.add_typer(instance_app, name="instance")
app.add_typer(key_app, name="key")
app.add_typer(db_app, name="db")
app.add_typer(rules_app, name="rules")
app.add_typer(history_app, name="history")
app.add_typer(postal_app, name="postal-codes")
app.add_typer(user_app, name="user")
app.command("sync")(sync_command)
app.command("import")(import_files)
app.command("demo-data")(demo_data)
app.add_typer(plan_app, name="plan")
app.command("report")(report)

console = Console(stderr=True)
out = Console()


class State:
    url: str = ""


state = State()


@app.callback()
def main_options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: TILSYN_DATABASE_URL or sqlite:///tilsyn.db)"
        ),
    ] = None,
) -> None:
    state.url = Settings.from_env(database_url=db).database_url


def _settings() -> Settings:
    return Settings.from_env(database_url=state.url)


def _data_keys() -> DataKeys:
    try:
        return DataKeys.from_settings(_settings())
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _require_existing() -> None:
    """A command that looks something up must not leave an empty SQLite file behind (in
    whatever folder it was run from): it says where it looked instead."""
    path = sqlite_file(state.url)
    if path is not None and not path.exists():
        console.print(
            f"[red]error:[/red] no tilsyn database at {path}. Give --db or set "
            "TILSYN_DATABASE_URL to the server's database (`tilsyn instance create` or "
            "`tilsyn db upgrade` creates a new one)."
        )
        raise typer.Exit(1)


@contextmanager
def _database(*, pool_size: int = 4, create: bool = False) -> Iterator[Database]:
    """The database, its schema created (``create``) or migrated as needed; closed afterwards.

    Without ``create``, an SQLite file that does not exist is an error, not a new database.
    """
    if not create:
        _require_existing()
    keys = _data_keys()
    database = Database(state.url, pool_size=pool_size, data_keys=keys)
    try:
        try:
            upgrade_database(database.engine, data_keys=keys)
        except DatabaseTooNewError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        except DataKeyError as exc:
            console.print(
                f"[red]error:[/red] the data key does not open this database: {exc}. "
                "Set TILSYN_DATA_KEY (and TILSYN_DATA_KEY_PREVIOUS while rotating)."
            )
            raise typer.Exit(2) from None
        yield database
    finally:
        database.dispose()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


@instance_app.command("create")
def instance_create(
    name: str,
    environment: Annotated[str, typer.Option("--environment", "-e", help="test or prod")],
    strict_validation: Annotated[bool, typer.Option(help="Reject implausible values")] = False,
) -> None:
    """Create an instance."""
    with _database(create=True) as database:
        try:
            with database.write() as session:
                instance = instances.create_instance(
                    session, name=name, environment=environment, strict_validation=strict_validation
                )
                console.print(f"created instance {instance.name} ({instance.environment})")
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None


@instance_app.command("list")
def instance_list() -> None:
    """List instances."""
    with _database() as database:
        with database.read() as session:
            table = Table("name", "environment", "strict validation", "rate limit per key")
            for instance in instances.list_instances(session):
                table.add_row(
                    instance.name,
                    instance.environment,
                    str(instance.strict_validation),
                    _rate_limit_text(instance),
                )
        out.print(table)


@instance_app.command("set-strict")
def instance_set_strict(name: str, strict: Annotated[bool, typer.Argument()]) -> None:
    """Turn strict validation on or off (plausibility warnings become 400 errors).

    Recorded in the instance's history like the settings API's change of it.
    """
    from tilsyn.core.changelog import Actor
    from tilsyn.rules.service import put_validation

    with _database() as database:
        try:
            with database.write() as session:
                instance = instances.get_instance(session, name)
                outcome = put_validation(
                    session, Actor(instance_id=instance.id), {"strictValidation": strict}
                )
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None
    console.print(f"{name}: strict validation {'on' if strict else 'off'} ({outcome.result})")


@instance_app.command("set-rate-limit")
def instance_set_rate_limit(
    name: str,
    per_second: Annotated[
        float | None,
        typer.Option("--per-second", help="Requests per second per API key; 0 for no limit"),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option(help="Requests a key may send at once (default: two seconds' worth)"),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Back to the server's default limit")
    ] = False,
) -> None:
    """Limit how fast each of the instance's API keys may send requests (429 above it)."""
    if default == (per_second is not None):
        raise _fail("give either --per-second (with an optional --burst) or --default")
    with _database() as database:
        try:
            with database.write() as session:
                instance = instances.get_instance(session, name)
                instances.set_rate_limit(session, instance, per_second=per_second, burst=burst)
                console.print(f"{name}: rate limit per API key {_rate_limit_text(instance)}")
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None


def _rate_limit_text(instance: Instance) -> str:
    text = instances.rate_limit_of(instance).describe()
    return text + " (default)" if instance.rate_limit_per_second is None else text


@key_app.command("create")
def key_create(
    instance: str,
    admin: Annotated[bool, typer.Option("--admin", help="Admin scope (settings too)")] = False,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Read scope: GETs only, no customer numbers")
    ] = False,
    label: Annotated[str | None, typer.Option(help="What the key is for")] = None,
) -> None:
    """Create an API key; prints only the key, which is not shown again."""
    if admin and read_only:
        raise _fail("choose --admin or --read-only, not both")
    scope = "admin" if admin else "read" if read_only else "import"
    with _database() as database:
        try:
            with database.write() as session:
                created = instances.create_key(
                    session,
                    instances.get_instance(session, instance),
                    secret_key=_settings().secret_key,
                    scope=scope,
                    label=label,
                )
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None
        print(created.secret)


@key_app.command("list")
def key_list(instance: str) -> None:
    """List an instance's keys (never the keys themselves)."""
    with _database() as database:
        try:
            with database.read() as session:
                rows = instances.list_keys(session, instances.get_instance(session, instance))
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None
        table = Table("id", "prefix", "scope", "label", "created", "last used", "revoked")
        for row in rows:
            table.add_row(
                str(row.id),
                row.display_prefix + "…",
                row.scope,
                row.label or "",
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
        out.print(table)


@key_app.command("revoke")
def key_revoke(key_id: int) -> None:
    """Revoke a key by its id (see `tilsyn key list`)."""
    with _database() as database:
        try:
            with database.write() as session:
                instances.revoke_key(session, key_id)
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None
        console.print(f"revoked key {key_id}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to this release's head."""
    with _database(create=True) as database:
        out.print(current_revision(database.engine))


@db_app.command("rotate-data-key")
def db_rotate_data_key(
    batch: Annotated[int, typer.Option(help="Numbers re-sealed per transaction")] = 1000,
) -> None:
    """Re-seal every customer number under TILSYN_DATA_KEY (safe to re-run).

    Numbers sealed under a key in TILSYN_DATA_KEY_PREVIOUS are opened and sealed again;
    afterwards the previous keys can be removed from the configuration.
    """
    from tilsyn.core import personal

    if batch < 1:
        raise _fail("--batch must be at least 1")
    with _database() as database:
        keys = database.data_keys
        try:
            with database.write() as session:
                personal.rewrap_lookup_key(session, keys)
            with database.read() as session:
                total = personal.count_stale(session, keys)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("re-sealing customer numbers", total=total)
                while True:
                    with database.write() as session:
                        done = personal.reseal_batch(session, keys, batch=batch)
                    if not done:
                        break
                    progress.advance(task, done)
        except DataKeyError as exc:
            raise _fail(f"{exc}; add the key that sealed it to TILSYN_DATA_KEY_PREVIOUS") from None
    console.print(f"every customer number is sealed under data key {keys.current_id}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database (and the code's head)."""
    _require_existing()
    database = Database(state.url)
    console.print(f"code head: {head_revision()}")
    out.print(current_revision(database.engine) or "empty")
    database.dispose()


@db_app.command("backup")
def db_backup(destination: Path) -> None:
    """Write a consistent backup while the server runs (SQLite file, or pg_dump archive)."""
    with _database() as database:
        try:
            backup(database, destination)
        except BackupError as exc:
            raise _fail(str(exc)) from None
    console.print(f"backup written to {destination}")


@db_app.command("restore")
def db_restore(source: Path) -> None:
    """Replace the database with a backup. Stop every server on it first."""
    try:
        restore(state.url, source)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    with _database(create=True):
        pass  # a backup from an older release is migrated now
    console.print(f"restored from {source}")


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
    settings = _settings()
    if allow_default or not (settings.uses_default_secret or settings.uses_default_data_key):
        return
    with database.read() as session:
        if not any(i.environment == "prod" for i in instances.list_instances(session)):
            return
    if settings.uses_default_secret:
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


def _run_server(
    host: str, port: int, workers: int, pool_size: int, read_url: str | None = None
) -> None:
    import uvicorn

    os.environ["TILSYN_DATABASE_URL"] = state.url
    os.environ["TILSYN_DB_POOL_SIZE"] = str(pool_size)
    if read_url:
        os.environ["TILSYN_DATABASE_READ_URL"] = read_url
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tilsyn-metrics-")
    settings = _settings()
    if settings.uses_default_secret:
        console.print(
            "[yellow]warning:[/yellow] TILSYN_SECRET_KEY is not set; API keys are hashed with a "
            "public development secret. Set it before holding real data."
        )
    if settings.uses_default_data_key:
        console.print(
            "[yellow]warning:[/yellow] TILSYN_DATA_KEY is not set; customer numbers are sealed "
            "with a public development key. Set it before holding real data."
        )
    uvicorn.run(
        "tilsyn.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        server_header=False,
        log_config=_log_config(),
        log_level="warning",
    )


@app.command()
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
        raise _fail("--workers and --db-pool-size must be at least 1")
    with _database(create=True) as database:
        _check_secret(database, allow_default=allow_insecure_secret)
    console.print(f"tilsyn serving on http://{host}:{port} (docs at /docs)")
    _run_server(host, port, workers, db_pool_size, db_read_url)


def _check_port_free(host: str, port: int) -> None:
    """Before loading anything: a demo that prints keys and a curl line for a port another
    program holds would send the reader to that program."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _fail(f"cannot bind to {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            raise _fail(
                f"port {port} on {host} is in use by another program; choose another with --port"
            ) from None


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    plants: Annotated[int, typer.Option(help="Sample plants to load")] = 300,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load data and exit")] = False,
) -> None:
    """A ready-to-try server: demo instances, sample data, and fresh admin keys printed
    (the keys of earlier demo runs are revoked)."""
    from tilsyn.demo import load_demo

    if not no_serve:
        _check_port_free(host, port)
    with (
        _database(create=True) as database,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
    ):
        summary = load_demo(
            database, secret_key=_settings().secret_key, plants=plants, progress=progress
        )
    base = f"http://{host}:{port}"
    out.print("\n[bold]tilsyn demo[/bold]")
    for line in summary.lines():
        out.print(line)
    out.print("\nTry it:")
    out.print(
        f"  curl -H 'api-key: {summary.test_key}' "
        f"{base}/api/plant/test/getDataForImport/{summary.sample_metering_point}",
        soft_wrap=True,
    )
    out.print(f"  open {base}/docs\n")
    if not no_serve:
        _run_server(host, port, 1, 8)


def main() -> Any:
    return app()
