"""Cases for test_suite_backends.py, which runs them in a pytest of their own.

Not collected by the suite itself (the name does not start with ``test_``).
"""

from __future__ import annotations

from tilsyn.core.db import Database


def test_every_backend(database: Database) -> None:
    with database.read() as session:
        assert session.connection().dialect.name in {"sqlite", "postgresql"}


def test_postgresql_only(postgres_database_url: str) -> None:
    assert postgres_database_url.startswith("postgresql")
