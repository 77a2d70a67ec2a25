"""Many inspections at once, for moving years of them from an older system: the bulk
endpoint and ``tilsyn import`` write them here, each item by the single endpoint's rules.

A chunk is one transaction; each item in it is a savepoint, so an item that fails (bad
body, unknown plant) fails alone and the others of its chunk are stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tilsyn.contract.errors import ApiError
from tilsyn.contract.items import ItemResult, RawItem
from tilsyn.core.changelog import Actor, write_atomically
from tilsyn.core.db import Database
from tilsyn.inspections.parse import parse_valid_inspection
from tilsyn.inspections.service import record_inspection

CHUNK_SIZE = 500


def _key(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    for name in ("externalid", "meteringpointid"):
        for sent, item in value.items():
            if (
                sent.casefold() == name
                and isinstance(item, str | int)
                and not isinstance(item, bool)
            ):
                return str(item)
    return None


def _failed(index: int, key: str | None, exc: ApiError) -> ItemResult:
    errors = [e.as_dict() for e in exc.errors] or [
        {"field": "", "code": exc.slug, "message": exc.detail}
    ]
    return ItemResult(index, key, "failed", [w.as_dict() for w in exc.warnings], errors)


def write_chunk(
    database: Database, instance: int, items: list[RawItem], *, actor: Actor, today: date
) -> list[ItemResult]:
    """One chunk in one transaction; one result per item, in order."""
    results: list[ItemResult] = []
    with database.write() as session:
        for raw in items:
            key = None
            try:
                value = raw.read()
                key = _key(value)
                change = parse_valid_inspection(value, today=today)
                outcome = write_atomically(
                    session,
                    lambda change=change: record_inspection(session, instance, change, actor=actor),  # type: ignore[misc]
                )
            except ApiError as exc:
                results.append(_failed(raw.index, key, exc))
                continue
            except SQLAlchemyError:
                error = {"field": "", "code": "not_stored", "message": "could not be stored"}
                results.append(ItemResult(raw.index, key, "failed", errors=[error]))
                continue
            warnings = [w.as_dict() for w in outcome.warnings]
            results.append(ItemResult(raw.index, key, outcome.result, warnings))
    return results


def record_inspections(
    database: Database,
    instance: int,
    items: Iterable[RawItem],
    *,
    actor: Actor,
    today: date,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[ItemResult]:
    """Every item's result, chunk by chunk, as each chunk commits."""
    iterator = iter(items)
    while chunk := list(islice(iterator, chunk_size)):
        yield from write_chunk(database, instance, chunk, actor=actor, today=today)
