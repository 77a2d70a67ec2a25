"""Bulk upserts: each item goes through the single-entity service, a chunk per transaction.

Plants are parsed one by one and written as one batch by the same writer a single upsert uses
(a batch of one there); should the batch fail in the database, they are written one by one in
savepoints. Customers go one by one, each in its own savepoint. So a bad item never sinks its
neighbours; a chunk is one transaction, so a client that disconnects loses no committed chunk
and leaves no item half-written. Within a chunk, a key sent twice keeps the last item and
reports the earlier ones as superseded (across chunks the items apply in order: the last wins).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, TypedDict, TypeVar, Unpack

from sqlalchemy.exc import SQLAlchemyError

from tilsyn.contract.customers.parse import CustomerChange, parse_valid_customer
from tilsyn.contract.errors import InvalidBody
from tilsyn.contract.items import ItemResult, RawItem
from tilsyn.contract.plants.parse import PlantChange, parse_valid_plant
from tilsyn.contract.problems import Issues
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.upsert import BatchConflict
from tilsyn.customers.service import upsert_customers
from tilsyn.plants.service import upsert_plants

Kind = Literal["customer", "plant"]
CHUNK_SIZE = 500
KEY_FIELD: dict[Kind, str] = {"customer": "number", "plant": "meteringpointid"}


@dataclass
class Summary:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "unchanged", "superseded", "failed"), 0
        )
    )

    def add(self, results: Iterable[ItemResult]) -> None:
        for result in results:
            self.counts[result.result] += 1

    def add_counts(self, other: Summary) -> None:
        for name, count in other.counts.items():
            self.counts[name] += count

    def as_dict(self) -> dict[str, Any]:
        return {"summary": {**self.counts, "total": sum(self.counts.values())}}


def item_key(kind: Kind, value: Any) -> str | None:
    """The item's key (any casing of the name), normalised as the single endpoint stores it:
    a customer's number without surrounding spaces (inner ones are part of it), a metering
    point id without any. Used for results and de-duplication."""
    if not isinstance(value, dict):
        return None
    wanted = KEY_FIELD[kind]
    for name, item in value.items():
        if name.casefold() == wanted and isinstance(item, str | int) and not isinstance(item, bool):
            text = str(item)
            return (text.replace(" ", "") if kind == "plant" else text.strip()) or None
    return None


@dataclass
class PreparedChunk:
    """A chunk read and checked without the database: results of the items already settled
    (bad JSON, superseded, invalid plants) and the items still to write, in order. Plain data,
    so that another process can prepare the next chunk while this one writes."""

    kind: Kind
    size: int
    settled: dict[int, ItemResult]
    plants: list[tuple[int, int, str | None, PlantChange]]
    customers: list[tuple[int, int, str | None, CustomerChange]]


def checker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes that check chunks (:func:`prepare_chunk`) while the caller writes. spawn: the
    caller has threads (a server's thread pool, the importer's progress bar), and forking a
    process with threads is unsafe."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


def _exit_with_parent(parent: int) -> None:
    """In a checker process: end once the process that started it is gone (killed, crashed),
    rather than wait on its queue for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ChunkCheckers:
    """A server's checker processes, started with the first request long enough to use them
    (a request of one chunk is checked in a thread: starting a process costs more)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor | None:
        if self.workers < 1:
            return None
        if self._pool is None:
            self._pool = checker_pool(self.workers)
        return self._pool

    def restart(self) -> None:
        """After a checker process died (killed, out of memory): the next use starts anew."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """When the server stops: the checkers finish their chunk and exit."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def prepare_chunk(
    kind: Kind, items: list[RawItem], *, today: date, strict: bool, synthetic_ok: bool
) -> PreparedChunk:
    values: list[dict[str, Any] | InvalidBody] = []
    for item in items:
        try:
            values.append(item.read())
        except InvalidBody as exc:
            values.append(exc)
    keys = [None if isinstance(v, InvalidBody) else item_key(kind, v) for v in values]
    last_of_key = {key: position for position, key in enumerate(keys) if key is not None}
    prepared = PreparedChunk(kind, len(items), {}, [], [])
    for position, (item, value, key) in enumerate(zip(items, values, keys, strict=True)):
        if isinstance(value, InvalidBody):
            prepared.settled[position] = _unreadable(item.index, value)
        elif key is not None and last_of_key[key] != position:
            prepared.settled[position] = ItemResult(item.index, key, "superseded")
        elif kind == "customer":
            try:
                customer = parse_valid_customer(
                    value, today=today, strict=strict, synthetic_ok=synthetic_ok
                )
            except InvalidBody as exc:
                prepared.settled[position] = _failed(item, key, exc)
                continue
            prepared.customers.append((position, item.index, key, customer))
        else:
            try:
                plant = parse_valid_plant(
                    value, today=today, strict=strict, synthetic_ok=synthetic_ok
                )
            except InvalidBody as exc:
                prepared.settled[position] = _failed(item, key, exc)
                continue
            prepared.plants.append((position, item.index, key, plant))
    return prepared


# What a chunk's locking reads look up by lists of keys.
BULK_TABLES = ("plants", "grid_elements", "customer_periods", "customers", "personal_numbers")


class LoadStatistics:
    """Keeps PostgreSQL's statistics in step with one long bulk load.

    A chunk's locking reads look up 500 keys at once (``key IN (...)``). Planned on statistics
    of a much smaller table (autovacuum analyzes a growing table late, or never where it is
    off), such a read scans every row of the instance instead of using the unique index: at
    500,000 plants, 0.6 s per chunk instead of a few milliseconds. So the load analyzes the
    tables it writes each time the items it has written double, from 10,000 on: about seven
    times in a load of a million, a second each.
    """

    FIRST = 10_000

    def __init__(self, database: Database) -> None:
        self.database = database
        self.written = 0
        self.next_at = self.FIRST

    def add(self, items: int) -> None:
        self.written += items
        if self.written >= self.next_at:
            self.database.analyze(BULK_TABLES)
            while self.next_at <= self.written:
                self.next_at *= 2


def write_chunk(
    database: Database,
    actor: Actor,
    prepared: PreparedChunk,
    *,
    today: date,
    statistics: LoadStatistics | None = None,
) -> list[ItemResult]:
    """Write a prepared chunk in one transaction; one result per item, in order. With
    ``statistics``, a chunk that is part of a long load keeps them in step (after its commit)."""
    results = dict(prepared.settled)
    with database.write() as session:
        if prepared.plants:
            results |= _write_batch(
                prepared.plants,
                lambda changes: [
                    written.result
                    for written in upsert_plants(session, actor, changes, today=today)
                ],
            )
        if prepared.customers:
            results |= _write_batch(
                prepared.customers,
                lambda changes: upsert_customers(session, actor, changes),
            )
    if statistics is not None:
        statistics.add(len(prepared.plants) + len(prepared.customers))
    return [results[position] for position in range(prepared.size)]


class Checks(TypedDict, total=False):
    """How strictly items are checked (the key's instance): both off unless given."""

    strict: bool
    synthetic_ok: bool


def process_chunk(
    database: Database,
    actor: Actor,
    kind: Kind,
    items: list[RawItem],
    *,
    today: date,
    **checks: Unpack[Checks],
) -> list[ItemResult]:
    """Apply one chunk in one transaction; one result per item, in order."""
    prepared = prepare_chunk(
        kind,
        items,
        today=today,
        strict=checks.get("strict", False),
        synthetic_ok=checks.get("synthetic_ok", False),
    )
    return write_chunk(database, actor, prepared, today=today)


_Change = TypeVar("_Change", PlantChange, CustomerChange)


def _write_batch(
    valid: list[tuple[int, int, str | None, _Change]],
    write: Callable[[list[_Change]], Sequence[str]],
) -> dict[int, ItemResult]:
    """The valid items as one batch; should the batch fail in the database, one by one, so
    that only the item at fault fails."""
    results: dict[int, ItemResult] = {}
    try:
        written = write([change for *_, change in valid])
    except (BatchConflict, SQLAlchemyError):
        written = None
    if written is not None:
        for (position, index, key, change), outcome in zip(valid, written, strict=True):
            results[position] = _written(index, key, outcome, change.issues)
        return results
    for position, index, key, change in valid:
        try:
            [outcome] = write([change])
        except (BatchConflict, SQLAlchemyError):
            error = {"field": "", "code": "not_stored", "message": "the item could not be stored"}
            results[position] = ItemResult(index, key, "failed", errors=[error])
            continue
        results[position] = _written(index, key, outcome, change.issues)
    return results


def _written(index: int, key: str | None, result: str, issues: Issues) -> ItemResult:
    return ItemResult(index, key, result, warnings=[w.as_dict() for w in issues.warnings])


def _unreadable(index: int, exc: InvalidBody) -> ItemResult:
    """An item that is not a readable JSON object: the reader's problems, or its message."""
    errors = [e.as_dict() for e in exc.errors] or [
        {"field": "", "code": "invalid_json", "message": exc.detail}
    ]
    return ItemResult(index, None, "failed", errors=errors)


def _failed(item: RawItem, key: str | None, exc: InvalidBody) -> ItemResult:
    return ItemResult(
        item.index,
        key,
        "failed",
        warnings=[w.as_dict() for w in exc.warnings],
        errors=[e.as_dict() for e in exc.errors],
    )
