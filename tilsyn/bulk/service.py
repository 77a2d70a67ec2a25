"""Bulk upserts: each item goes through the single-entity service, a chunk per transaction.

Plants are parsed one by one and written as one batch by the same writer a single upsert uses
(a batch of one there); should the batch fail in the database, they are written one by one in
savepoints. Customers go one by one, each in its own savepoint. So a bad item never sinks its
neighbours; a chunk is one transaction, so a client that disconnects loses no committed chunk
and leaves no item half-written. Within a chunk, a key sent twice keeps the last item and
reports the earlier ones as superseded (across chunks the items apply in order: the last wins).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tilsyn.bulk.stream import RawItem
from tilsyn.core.db import Database
from tilsyn.core.errors import ApiError, InvalidBody
from tilsyn.core.problems import Issues
from tilsyn.core.upsert import BatchConflict
from tilsyn.customers.service import upsert_customer
from tilsyn.history.service import Actor, restore_pending, snapshot_pending
from tilsyn.plants.service import PlantChange, parse_valid_plant, write_plants_atomically

Kind = Literal["customer", "plant"]
CHUNK_SIZE = 500
KEY_FIELD: dict[Kind, str] = {"customer": "number", "plant": "meteringpointid"}


@dataclass
class ItemResult:
    index: int
    key: str | None
    result: str
    warnings: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "key": self.key,
            "result": self.result,
            "warnings": self.warnings,
            "errors": self.errors,
        }


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
    """The item's key as sent (any casing of the name), for results and de-duplication."""
    if not isinstance(value, dict):
        return None
    wanted = KEY_FIELD[kind]
    for name, item in value.items():
        if name.casefold() == wanted and isinstance(item, str | int) and not isinstance(item, bool):
            return str(item).replace(" ", "").strip() or None
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
    customers: list[tuple[int, RawItem, str | None]]


def prepare_chunk(
    kind: Kind, items: list[RawItem], *, today: date, strict: bool, synthetic_ok: bool
) -> PreparedChunk:
    keys = [item_key(kind, item.value) for item in items]
    last_of_key = {key: position for position, key in enumerate(keys) if key is not None}
    prepared = PreparedChunk(kind, len(items), {}, [], [])
    for position, (item, key) in enumerate(zip(items, keys, strict=True)):
        if item.error is not None:
            error = {"field": "", "code": "invalid_json", "message": item.error}
            prepared.settled[position] = ItemResult(item.index, key, "failed", errors=[error])
        elif key is not None and last_of_key[key] != position:
            prepared.settled[position] = ItemResult(item.index, key, "superseded")
        elif kind == "customer":
            prepared.customers.append((position, item, key))
        else:
            try:
                change = parse_valid_plant(
                    item.value, today=today, strict=strict, synthetic_ok=synthetic_ok
                )
            except InvalidBody as exc:
                prepared.settled[position] = _failed(item, key, exc)
                continue
            prepared.plants.append((position, item.index, key, change))
    return prepared


def write_chunk(
    database: Database,
    actor: Actor,
    prepared: PreparedChunk,
    *,
    today: date,
    strict: bool = False,
    synthetic_ok: bool = False,
) -> list[ItemResult]:
    """Write a prepared chunk in one transaction; one result per item, in order."""
    results = dict(prepared.settled)
    with database.write() as session:
        if prepared.plants:
            results |= _write_plants(session, actor, prepared.plants, today=today)
        for position, item, key in prepared.customers:
            results[position] = _apply_customer(
                session, actor, item, key, today=today, strict=strict, synthetic_ok=synthetic_ok
            )
    return [results[position] for position in range(prepared.size)]


def process_chunk(
    database: Database,
    actor: Actor,
    kind: Kind,
    items: list[RawItem],
    *,
    today: date,
    strict: bool = False,
    synthetic_ok: bool = False,
) -> list[ItemResult]:
    """Apply one chunk in one transaction; one result per item, in order."""
    prepared = prepare_chunk(kind, items, today=today, strict=strict, synthetic_ok=synthetic_ok)
    return write_chunk(
        database, actor, prepared, today=today, strict=strict, synthetic_ok=synthetic_ok
    )


def _write_plants(
    session: Session,
    actor: Actor,
    valid: list[tuple[int, int, str | None, PlantChange]],
    *,
    today: date,
) -> dict[int, ItemResult]:
    """The valid plants as one batch; should the batch fail in the database, one by one, so
    that only the item at fault fails."""
    results: dict[int, ItemResult] = {}
    try:
        written = write_plants_atomically(
            session, actor, [change for *_, change in valid], today=today
        )
    except (BatchConflict, SQLAlchemyError):
        written = None
    if written is not None:
        for (position, index, key, change), outcome in zip(valid, written, strict=True):
            results[position] = _written(index, key, outcome.result, change.issues)
        return results
    for position, index, key, change in valid:
        try:
            [outcome] = write_plants_atomically(session, actor, [change], today=today)
        except (BatchConflict, SQLAlchemyError):
            error = {"field": "", "code": "not_stored", "message": "the item could not be stored"}
            results[position] = ItemResult(index, key, "failed", errors=[error])
            continue
        results[position] = _written(index, key, outcome.result, change.issues)
    return results


def _written(index: int, key: str | None, result: str, issues: Issues) -> ItemResult:
    return ItemResult(index, key, result, warnings=[w.as_dict() for w in issues.warnings])


def _failed(item: RawItem, key: str | None, exc: InvalidBody) -> ItemResult:
    return ItemResult(
        item.index,
        key,
        "failed",
        warnings=[w.as_dict() for w in exc.warnings],
        errors=[e.as_dict() for e in exc.errors],
    )


def _apply_customer(
    session: Session,
    actor: Actor,
    item: RawItem,
    key: str | None,
    *,
    today: date,
    strict: bool,
    synthetic_ok: bool,
) -> ItemResult:
    # History waits in the session until commit: put it back as it was if the item fails.
    pending = snapshot_pending(session)
    try:
        with session.begin_nested():
            outcome = upsert_customer(
                session, actor, item.value, today=today, strict=strict, synthetic_ok=synthetic_ok
            )
    except InvalidBody as exc:
        restore_pending(session, pending)
        return _failed(item, key, exc)
    except ApiError as exc:
        restore_pending(session, pending)
        error = {"field": "", "code": exc.slug, "message": exc.detail}
        return ItemResult(item.index, key, "failed", errors=[error])
    except SQLAlchemyError:
        restore_pending(session, pending)
        error = {"field": "", "code": "not_stored", "message": "the item could not be stored"}
        return ItemResult(item.index, key, "failed", errors=[error])
    return ItemResult(
        item.index,
        key,
        outcome.result,
        warnings=[w.as_dict() for w in outcome.warnings],
    )
