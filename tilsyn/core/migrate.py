"""Bring a database to the schema this code expects, using the one Alembic tree."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from tilsyn.core.personal import DataKeys, ensure_lookup_key

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class DatabaseTooNewError(RuntimeError):
    """The database was migrated by a newer tilsyn; running older code on it could corrupt it."""


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


DATA_KEYS = "tilsyn.data_keys"
"""Where migrations that seal data find the data keys (``config.attributes``)."""


def upgrade_database(engine: Engine, *, data_keys: DataKeys | None = None) -> None:
    """Create or migrate the schema; refuse a database from a newer release.

    Also makes the database's lookup key if it has none yet (core/personal.py), sealed under
    ``data_keys`` (default: ``TILSYN_DATA_KEY``).
    """
    keys = data_keys or DataKeys.from_env()
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(engine)
    if current is not None and not _known(script, current):
        raise DatabaseTooNewError(
            f"database schema revision {current} is newer than this tilsyn "
            f"(head {script.get_current_head()}); upgrade tilsyn before using this database"
        )
    if current != script.get_current_head():
        config = alembic_config()
        config.attributes[DATA_KEYS] = keys
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    with engine.begin() as conn:
        ensure_lookup_key(conn, keys)
