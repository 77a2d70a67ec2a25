"""Dialect-neutral statements that PostgreSQL and SQLite spell differently."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tilsyn.core.models import Base


def insert_if_absent(
    session: Session, model: type[Base], values: dict[str, Any], *, key: list[str]
) -> int | None:
    """Insert a row unless its key exists; the new id, or None when another row won.

    Two requests that create the same new element at once both get here; the loser sees
    None and re-reads the winner's row instead of failing on the unique constraint.
    """
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    table: Any = model.__table__
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(table.c.id)
    )
    result: int | None = session.execute(statement).scalar()
    return result


class BatchConflict(Exception):
    """A batch met a row another transaction wrote meanwhile; retry it item by item."""


def insert_many_if_absent(
    session: Session,
    model: type[Base],
    rows: list[dict[str, Any]],
    *,
    key: list[str],
    returning: str,
) -> dict[Any, int]:
    """Insert rows whose key does not exist yet, in one statement; ``{row[returning]: id}``
    of the rows inserted (those missing lost to another transaction)."""
    connection = session.connection()
    statement = _insert_many(connection.dialect.name, model, tuple(key), returning)
    return dict(connection.execute(statement, rows).all())


@functools.cache
def _insert_many(dialect: str, model: type[Base], key: tuple[str, ...], returning: str) -> Any:
    """Built once per table and key: single upserts run this on every create."""
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    table: Any = model.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(table.c[returning], table.c.id)
    )
