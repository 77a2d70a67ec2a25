"""``tilsyn db``: the schema, the data key, and backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tilsyn.cli.database import console, fail, open_database, out, require_existing, state
from tilsyn.core import personal
from tilsyn.core.backup import BackupError, backup, restore
from tilsyn.core.db import Database
from tilsyn.core.migrate import current_revision, head_revision
from tilsyn.core.personal import DataKeyError

db_app = typer.Typer(no_args_is_help=True, help="The database schema.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to this release's head."""
    with open_database(create=True) as database:
        out.print(current_revision(database.engine))


@db_app.command("rotate-data-key")
def db_rotate_data_key(
    batch: Annotated[int, typer.Option(help="Numbers re-sealed per transaction")] = 1000,
) -> None:
    """Re-seal every customer number under TILSYN_DATA_KEY (safe to re-run).

    Numbers sealed under a key in TILSYN_DATA_KEY_PREVIOUS are opened and sealed again;
    afterwards the previous keys can be removed from the configuration.
    """
    if batch < 1:
        raise fail("--batch must be at least 1")
    with open_database() as database:
        try:
            _reseal(database, batch)
        except DataKeyError as exc:
            raise fail(f"{exc}; add the key that sealed it to TILSYN_DATA_KEY_PREVIOUS") from None
    console.print(f"every customer number is sealed under data key {database.data_keys.current_id}")


def _reseal(database: Database, batch: int) -> None:
    """The lookup key first, then the numbers in batches, each its own transaction."""
    keys = database.data_keys
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


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database (and the code's head)."""
    require_existing()
    database = Database(state.url)
    console.print(f"code head: {head_revision()}")
    out.print(current_revision(database.engine) or "empty")
    database.dispose()


@db_app.command("backup")
def db_backup(destination: Path) -> None:
    """Write a consistent backup while the server runs (SQLite file, or pg_dump archive)."""
    with open_database() as database:
        try:
            backup(database, destination)
        except BackupError as exc:
            raise fail(str(exc)) from None
    console.print(f"backup written to {destination}")


@db_app.command("restore")
def db_restore(source: Path) -> None:
    """Replace the database with a backup. Stop every server on it first."""
    try:
        restore(state.url, source)
    except BackupError as exc:
        raise fail(str(exc)) from None
    with open_database(create=True):
        pass  # a backup from an older release is migrated now
    console.print(f"restored from {source}")
