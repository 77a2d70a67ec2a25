"""The one place the ``tilsyn`` command opens its database.

``tilsyn --db`` (or the settings from the environment) names it; every command that needs the
database goes through :func:`open_database`, which migrates the schema as needed and says
plainly when the data key does not open it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session

from tilsyn.core.config import Settings
from tilsyn.core.db import Database, sqlite_file
from tilsyn.core.migrate import DatabaseTooNewError, upgrade_database
from tilsyn.core.personal import DataKeyError, DataKeys
from tilsyn.instances import service as instances

console = Console(stderr=True)
out = Console()


@dataclass
class State:
    """What the main command's options chose, for the subcommand that runs after it."""

    url: str = ""


state = State()


def settings() -> Settings:
    """The settings from the environment, with the database ``--db`` chose."""
    return Settings.from_env(database_url=state.url)


def fail(message: str) -> typer.Exit:
    """Print an error; the caller raises the returned exit (status 1)."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def _data_keys() -> DataKeys:
    try:
        return DataKeys.from_settings(settings())
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def require_existing() -> None:
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


def _upgrade(database: Database, keys: DataKeys) -> None:
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


@contextmanager
def open_database(
    *, pool_size: int = 4, create: bool = False, load: bool = False
) -> Iterator[Database]:
    """The database, its schema created (``create``) or migrated as needed; closed afterwards.

    Without ``create``, an SQLite file that does not exist is an error, not a new database.
    ``load``: the command bulk-loads (``Database``'s ``load``).
    """
    if not create:
        require_existing()
    keys = _data_keys()
    database = Database(state.url, pool_size=pool_size, data_keys=keys, load=load)
    try:
        _upgrade(database, keys)
        yield database
    finally:
        database.dispose()


def instance_id_of(session: Session, name: str, *, errors: Console = console) -> int:
    """The id of the instance named ``name``; an unknown name ends the command (status 1),
    its message on ``errors`` (a command group's own console)."""
    try:
        return instances.get_instance(session, name).id
    except instances.InstanceError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
