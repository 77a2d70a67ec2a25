"""Dialect-neutral statements that PostgreSQL and SQLite spell differently.

Also the one place that chooses how many new rows are written: ``COPY … FROM STDIN`` on
PostgreSQL for a batch's worth (no statement per row: the bulk import's plants, history rows,
search words and customer periods), an ``INSERT`` otherwise (SQLite, and the few rows of a
single upsert).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Integer, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tilsyn.core.models import Base

COPY_FROM_ROWS = 50
"""From this many rows on, PostgreSQL gets them by COPY; below, COPY's extra round trip
costs more than the statements it saves."""


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


def insert_new(
    session: Session,
    model: type[Base],
    rows: list[dict[str, Any]],
    *,
    key: list[str],
    returning: str,
) -> dict[Any, int]:
    """Insert rows the transaction read as absent (under its locks); ``{row[returning]: id}``.

    Raises :class:`BatchConflict` when another transaction created one of them meanwhile (its
    uncommitted row is waited for, as ``ON CONFLICT`` would): the caller's batch is written
    again, reading that row as stored. On PostgreSQL a batch's worth gets its ids from the
    sequence first and goes by COPY.
    """
    if not rows:
        return {}
    connection = session.connection()
    if not _copies(connection, rows):
        inserted = insert_many_if_absent(session, model, rows, key=key, returning=returning)
        if len(inserted) != len(rows):
            raise BatchConflict(f"another transaction created some of these {model.__tablename__}")
        return inserted
    table = cast(Table, model.__table__)
    ids = sorted(connection.execute(_next_ids(table), {"count": len(rows)}).scalars())
    numbered = [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)]
    try:
        _copy(connection, table, numbered)
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
            raise BatchConflict(
                f"another transaction created some of these {model.__tablename__}"
            ) from exc
        raise
    return {row[returning]: row["id"] for row in numbered}


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that only this transaction can write (new ids, or keys it just deleted),
    each row with the same columns: one executemany, or COPY on PostgreSQL."""
    if not rows:
        return
    connection = session.connection()
    if _copies(connection, rows):
        _copy(connection, table, rows)
    else:
        connection.execute(_insert(table), rows if len(rows) > 1 else rows[0])


_UNIQUE_VIOLATION = "23505"


def _copies(connection: Connection, rows: Sequence[object]) -> bool:
    return connection.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS


@functools.cache
def _insert(table: Table) -> Any:
    return insert(table)


@functools.cache
def _next_ids(table: Table) -> Any:
    """PostgreSQL: ``count`` new ids from the table's sequence."""
    sequence = func.pg_get_serial_sequence(table.name, "id")
    count = bindparam("count", type_=Integer)
    return select(func.nextval(sequence)).select_from(func.generate_series(1, count))


def _copy(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: ``rows`` by ``COPY … FROM STDIN``, each value bound as an INSERT would bind
    it (the column type's bind processing: a JSON document, a JSON null). A database error is
    raised as SQLAlchemy raises it for a statement (an :class:`IntegrityError` for a
    constraint), so callers handle both paths alike."""
    columns = tuple(rows[0])
    statement, processors = _copy_plan(connection.dialect, table, columns)
    driver = connection.connection.driver_connection
    assert driver is not None, "a live connection"
    error = cast(Any, connection.dialect).loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(
                    [
                        row[name] if process is None else process(row[name])
                        for name, process in zip(columns, processors, strict=True)
                    ]
                )
    except error as exc:
        lost = connection.dialect.is_disconnect(exc, driver, None)
        wrapped = DBAPIError.instance(statement, None, exc, error, connection_invalidated=lost)
        if lost:
            connection.invalidate(exc)
        raise wrapped from exc


@functools.lru_cache(maxsize=64)  # per engine's dialect: a few in a server, many in tests
def _copy_plan(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """The COPY statement for these columns and each column's bind processor."""
    missing = [c.name for c in table.columns if c.default is not None and c.name not in columns]
    assert not missing, f"COPY would not apply the defaults of {missing}"
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ]
    return statement, processors
