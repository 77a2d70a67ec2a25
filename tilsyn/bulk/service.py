"""Bulk upserts: each item goes through the single-entity service, a chunk per transaction.

An item runs in its own savepoint, so a bad item never sinks its neighbours; a chunk is one
transaction, so a client that disconnects loses no committed chunk and leaves no item
half-written. Within a chunk, a key sent twice keeps the last item and reports the earlier
ones as superseded (across chunks the items simply apply in order, so the last wins too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tilsyn.bulk.stream import RawItem
from tilsyn.core.db import Database
from tilsyn.core.errors import ApiError, InvalidBody
from tilsyn.core.outcome import Outcome
from tilsyn.customers.service import upsert_customer
from tilsyn.history.service import _PENDING, Actor
from tilsyn.plants.service import upsert_plant

Kind = Literal["customer", "plant"]
CHUNK_SIZE = 500
KEY_FIELD: dict[Kind, str] = {"customer": "number", "plant": "meteringpointid"}
Upsert = Callable[..., Outcome]
UPSERTS: dict[Kind, Upsert] = {"customer": upsert_customer, "plant": upsert_plant}


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
    keys = [item_key(kind, item.value) for item in items]
    last_of_key = {key: position for position, key in enumerate(keys) if key is not None}
    results: list[ItemResult] = []
    upsert = UPSERTS[kind]
    with database.write() as session:
        for position, (item, key) in enumerate(zip(items, keys, strict=True)):
            if item.error is not None:
                error = {"field": "", "code": "invalid_json", "message": item.error}
                results.append(ItemResult(item.index, key, "failed", errors=[error]))
                continue
            if key is not None and last_of_key[key] != position:
                results.append(ItemResult(item.index, key, "superseded"))
                continue
            results.append(
                _apply(
                    session,
                    upsert,
                    actor,
                    item,
                    key,
                    today=today,
                    strict=strict,
                    synthetic_ok=synthetic_ok,
                )
            )
    return results


def _apply(
    session: Session,
    upsert: Upsert,
    actor: Actor,
    item: RawItem,
    key: str | None,
    *,
    today: date,
    strict: bool,
    synthetic_ok: bool,
) -> ItemResult:
    # History waits in the session until commit: put it back as it was if the item fails.
    pending = copy.deepcopy(session.info.get(_PENDING))
    try:
        with session.begin_nested():
            outcome = upsert(
                session, actor, item.value, today=today, strict=strict, synthetic_ok=synthetic_ok
            )
    except InvalidBody as exc:
        _restore(session, pending)
        return ItemResult(
            item.index,
            key,
            "failed",
            warnings=[w.as_dict() for w in exc.warnings],
            errors=[e.as_dict() for e in exc.errors],
        )
    except ApiError as exc:
        _restore(session, pending)
        error = {"field": "", "code": exc.slug, "message": exc.detail}
        return ItemResult(item.index, key, "failed", errors=[error])
    except SQLAlchemyError:
        _restore(session, pending)
        error = {"field": "", "code": "not_stored", "message": "the item could not be stored"}
        return ItemResult(item.index, key, "failed", errors=[error])
    return ItemResult(
        item.index,
        key,
        outcome.result,
        warnings=[w.as_dict() for w in outcome.warnings],
    )


def _restore(session: Session, pending: Any) -> None:
    if pending is None:
        session.info.pop(_PENDING, None)
    else:
        session.info[_PENDING] = pending
