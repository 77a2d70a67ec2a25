"""Migrations are the schema: every command builds or upgrades it, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.conftest import BACKENDS, POSTGRES_URL
from tilsyn.cli import app
from tilsyn.core.db import Database
from tilsyn.core.migrate import (
    DatabaseTooNewError,
    current_revision,
    head_revision,
    upgrade_database,
)
from tilsyn.core.models import Base

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        # An empty file is an SQLite database without tables (a command that only looks
        # things up refuses a missing file rather than leave a new one behind).
        (tmp_path / "empty.db").touch()
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = make_url(POSTGRES_URL)
    name = f"tilsyn_empty_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_db_upgrade_builds_every_table(empty_database_url: str) -> None:
    result = runner.invoke(app, ["--db", empty_database_url, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == head_revision()
    database = Database(empty_database_url)
    tables = set(inspect(database.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    result = runner.invoke(app, ["--db", empty_database_url, "db", "current"])
    assert result.stdout.strip() == head_revision()
    database.dispose()


def test_any_command_migrates_a_new_database(empty_database_url: str) -> None:
    result = runner.invoke(app, ["--db", empty_database_url, "instance", "list"])
    assert result.exit_code == 0, result.stderr
    database = Database(empty_database_url)
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_upgrade_is_idempotent(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    upgrade_database(database.engine)
    upgrade_database(database.engine)
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_a_database_from_a_newer_release_is_refused(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    upgrade_database(database.engine)
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    with pytest.raises(DatabaseTooNewError, match="newer than this tilsyn"):
        upgrade_database(database.engine)
    result = runner.invoke(app, ["--db", empty_database_url, "serve", "--port", "1"])
    assert result.exit_code == 2
    assert "newer than this tilsyn" in result.stderr
    database.dispose()
