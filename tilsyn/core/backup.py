"""Consistent backups and restores for both databases.

SQLite: the online backup API copies a consistent snapshot while the server keeps writing.
PostgreSQL: ``pg_dump`` in custom format (a consistent snapshot too) and ``pg_restore``.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from tilsyn.core.db import Database


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why."""


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(database)


def backup(database: Database, destination: Path) -> None:
    if database.dialect == "sqlite":
        raw = database.engine.raw_connection()
        try:
            source = raw.driver_connection
            assert isinstance(source, sqlite3.Connection)
            with sqlite3.connect(destination) as target:
                source.backup(target)
        finally:
            raw.close()
        return
    _run(
        [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--file",
            str(destination),
            _libpq_url(database.url),
        ]
    )


def restore(url: str, source: Path) -> None:
    """Replace the database's content with a backup. Stop the servers first."""
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    if make_url(url).get_backend_name() == "sqlite":
        target = _sqlite_path(url)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target)
        return
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--dbname",
            _libpq_url(url),
            str(source),
        ]
    )


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL client tools)")
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        # pg tools may echo the connection string; report only the tool and its first line.
        first = (result.stderr.strip().splitlines() or ["failed"])[0]
        raise BackupError(f"{command[0]} failed: {first.split('://')[0]}")
