"""The change log: every effective change, recorded in the transaction that makes it.

The ground floor every entity stands on (SPEC §8). A service notes a change with
:func:`record_change` while it works; :meth:`tilsyn.core.db.Database.write` calls
:func:`write_pending` just before it commits, so the entries are written in the same
transaction, merged to one per entity: one request's effect on a plant is one entry whatever
the number of steps it took. The entries are numbered per instance (``seq``, shown as a
change's ``id``) from a counter on the instance's row, taken last, just before the commit:
its row lock queues the instance's writers, so the numbers follow commit order, a feed cursor
that is the last number read can neither skip nor repeat a change, and no number tells
anything of another instance's activity (see :func:`_insert_serialized`).

Also here: the transaction helpers that retry a batch (:func:`write_atomically`,
:func:`write_transaction`), and the reads every entity's history and as-of view are built
from (:func:`entity_history`, :func:`state_at`). Only diffs are stored (``{path: [before,
after]}``), so an as-of read costs the changes made since that day. A plant's or customer's
creation does not store its document a second time: it is read back (:data:`KEPT_DOCUMENTS`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tilsyn.contract.diffs import flatten
from tilsyn.contract.errors import ApiError
from tilsyn.contract.problems import Issues
from tilsyn.contract.time import OSLO, utc_now
from tilsyn.core.models import Base, Change, Customer, Instance, Plant
from tilsyn.core.personal import reveal
from tilsyn.core.tenancy import scoped_select
from tilsyn.core.upsert import BatchConflict, insert_rows

if TYPE_CHECKING:
    from tilsyn.core.db import Database

RECORDING = True
"""Off only in ``bench/history.py``, to measure what recording costs."""

ERASED = "[erased]"
"""What stands in history where erased personal data was."""

_PENDING = "tilsyn.changelog.pending"
_TERMINAL = ("delete", "erase")
_CHANGES = cast(Table, Change.__table__)
# The instance's counter, moved on by the changes about to be written; the row lock it takes
# lasts to the commit.
_NEXT_SEQ = (
    update(Instance)
    .where(Instance.id == bindparam("instance"))
    .values(last_change_seq=Instance.last_change_seq + bindparam("count", type_=Integer))
    .returning(Instance.last_change_seq)
)


@dataclass(frozen=True)
class KeptDocument:
    """Where an entity's current document is kept, so that its ``create`` entry need not hold
    the document too (a plant's is over a kilobyte: as much again as the plant's row).

    Such an entry stores only the paths kept apart from the document (``apart``: a plant's
    connection point, customer periods, extensions) and :data:`IMPLIED`; its document's
    fields are the current document with the entity's later entries undone, read back by
    :func:`change_views` exactly as they would have been stored.
    """

    model: type[Base]
    key: str
    apart: tuple[str, ...]

    def is_apart(self, path: str) -> bool:
        return path.startswith(self.apart)


KEPT_DOCUMENTS = {
    "plant": KeptDocument(
        Plant, "metering_point_id", apart=("connectionPoint", "customerPeriods", "extensions[")
    ),
    # Keyed, like its history, by the stored key of its number (core/personal.py).
    "customer": KeptDocument(Customer, "number", apart=()),
}

IMPLIED = "@document"
"""In a ``create`` entry: its document's fields are read back (:class:`KeptDocument`)."""

IMPLY_CREATED_DOCUMENTS = True
"""Off only in tests and benches that compare with creations stored whole."""


class HistoryPruned(ApiError):
    status = 410
    slug = "history-pruned"
    title = "History no longer kept"


@dataclass(frozen=True)
class Actor:
    """Who made a change: the API key (its id and label, never the key) and the request."""

    instance_id: int
    api_key_id: int | None = None
    request_id: str | None = None
    api_key_label: str | None = None


@dataclass
class _Pending:
    actor: Actor
    entity_type: str
    entity_key: str
    operations: list[str]
    diff: dict[str, Any] | None
    merged: bool = False


# --- Recording ---------------------------------------------------------------------------------


def record_change(
    session: Session,
    actor: Actor,
    *,
    entity_type: str,
    entity_key: str,
    operation: str,
    diff: dict[str, Any] | None,
) -> None:
    """Note an effective change of one entity; it is written when the transaction commits.

    Changes of one entity within one transaction merge: fields keep their first ``before``
    and last ``after``, and the operation is the first one (``create``), the last one
    (``delete``, ``erase``), the only one, or else ``update``.
    """
    if not RECORDING:
        return
    pending: dict[tuple[Any, ...], _Pending] = session.info.setdefault(_PENDING, {})
    key = (actor.instance_id, entity_type, entity_key)
    entry = pending.get(key)
    if entry is None:
        pending[key] = _Pending(
            actor, entity_type, entity_key, [operation], None if diff is None else dict(diff)
        )
        return
    entry.operations.append(operation)
    entry.merged = True
    merged = dict(entry.diff or {})
    for path, value in (diff or {}).items():
        before, after = pair(value)
        merged[path] = [pair(merged[path])[0], after] if path in merged else [before, after]
    entry.diff = {path: pair for path, pair in merged.items() if pair[0] != pair[1]}


def creation_diff(entity_type: str, diff: dict[str, Any]) -> dict[str, Any]:
    """What a ``create`` entry of this entity stores: without its document's fields when the
    document is kept (:class:`KeptDocument`), else the diff itself."""
    kept = KEPT_DOCUMENTS.get(entity_type)
    if kept is None or not IMPLY_CREATED_DOCUMENTS:
        return diff
    lean = {path: value for path, value in diff.items() if kept.is_apart(path)}
    lean[IMPLIED] = [None, kept.model.__tablename__]
    return lean


def scrub_pending(
    session: Session, entity: tuple[int, str, str], scrub: Callable[[Any], Any]
) -> None:
    """Erasure: drop the entity's own noted change, pass every other noted diff through
    ``scrub``; ``entity`` is ``(instance_id, entity_type, entity_key)``."""
    pending: dict[tuple[Any, ...], _Pending] = session.info.get(_PENDING, {})
    for key in [key for key in pending if key[:3] == entity]:
        del pending[key]
    for entry in pending.values():
        entry.diff = scrub(entry.diff)


def snapshot_pending(session: Session) -> Any:
    """The changes noted so far, to put back with :func:`restore_pending` when a savepoint
    that noted more rolls back."""
    return copy.deepcopy(session.info.get(_PENDING))


def restore_pending(session: Session, snapshot: Any) -> None:
    if snapshot is None:
        session.info.pop(_PENDING, None)
    else:
        session.info[_PENDING] = snapshot


_Written = TypeVar("_Written")
BATCH_ATTEMPTS = 3


def write_atomically(
    session: Session, write: Callable[[], _Written], issues: Sequence[Issues] = ()
) -> _Written:
    """``write()`` in a savepoint: all of it or nothing, its history and the warnings it added
    to ``issues`` included. A batch that met a concurrent insert is tried again: by then the
    other transaction's rows are committed and read as stored."""

    def attempt() -> _Written:
        pending = snapshot_pending(session)
        try:
            with session.begin_nested():
                return write()
        except BaseException:
            restore_pending(session, pending)
            raise

    return _retried(attempt, issues)


def write_apart(
    session: Session, write: Callable[[], _Written], issues: Sequence[Issues] = ()
) -> _Written:
    """``write()`` in a savepoint, as :func:`write_atomically`, with the changes it notes kept
    apart from the transaction's others: entries of their own, never merged with another
    write's changes of the same entity. Group commit (core/groupcommit.py) runs each request
    so: each keeps its own history entries under its own request, as if it had committed
    alone. Dropped with the savepoint when it fails.

    Tried again here only after a concurrent insert: a database error (a deadlock with
    another process's group, say) reaches the caller at once, which runs the write again
    alone once the shared transaction has released its locks."""
    outer: dict[tuple[Any, ...], _Pending] = session.info.pop(_PENDING, None) or {}

    def attempt() -> _Written:
        session.info[_PENDING] = {}
        try:
            with session.begin_nested():
                return write()
        except BaseException:
            session.info.pop(_PENDING, None)
            raise

    try:
        written = _retried(attempt, issues, retry_on=(BatchConflict,))
        apart: dict[tuple[Any, ...], _Pending] = session.info.pop(_PENDING, None) or {}
        serial = len(outer)
        for key, entry in apart.items():
            outer[(*key, "apart", serial)] = entry
    finally:
        session.info[_PENDING] = outer
    return written


def write_transaction(
    database: Database, write: Callable[[Session], _Written], issues: Sequence[Issues] = ()
) -> _Written:
    """``write(session)`` as a transaction of its own, tried again like
    :func:`write_atomically`: when the write is the whole transaction, rolling the transaction
    back does what the savepoint would, without its two statements."""

    def attempt() -> _Written:
        with database.write() as session:
            return write(session)

    return _retried(attempt, issues)


def _retried(
    attempt: Callable[[], _Written],
    issues: Sequence[Issues],
    retry_on: tuple[type[Exception], ...] = (BatchConflict, SQLAlchemyError),
) -> _Written:
    for number in range(BATCH_ATTEMPTS):
        marks = [len(item.warnings) for item in issues]
        try:
            return attempt()
        except retry_on:
            for item, mark in zip(issues, marks, strict=True):
                del item.warnings[mark:]
            if number + 1 == BATCH_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def pair(value: Any) -> tuple[Any, Any]:
    """A diff value as ``(before, after)``; anything else a recorder stored is an ``after``."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value


def _operation(operations: list[str]) -> str | None:
    """The operation of merged changes; None when they cancel out (created, then deleted)."""
    first, last = operations[0], operations[-1]
    if first == "create" and last in _TERMINAL:
        return None
    if last in _TERMINAL:
        return last
    if first == "create":
        return "create"
    return first if len(set(operations)) == 1 else "update"


def write_pending(session: Session) -> None:
    """Write the transaction's noted changes; runs just before it commits."""
    pending: dict[tuple[Any, ...], _Pending] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    rows: list[dict[str, Any]] = []
    for entry in pending.values():
        operation = _operation(entry.operations)
        if operation is None:
            continue
        if entry.merged and not entry.diff and operation not in ("create", *_TERMINAL):
            continue  # changed and changed back within the transaction
        rows.append(
            {
                "instance_id": entry.actor.instance_id,
                "api_key_id": entry.actor.api_key_id,
                "api_key_label": entry.actor.api_key_label,
                "request_id": entry.actor.request_id,
                "entity_type": entry.entity_type,
                "entity_key": entry.entity_key,
                "operation": operation,
                "diff": entry.diff,
            }
        )
    if not rows:
        return
    # Every row lock this transaction needs is taken before the feed lock: no lock waits
    # while holding it, so no deadlock and a short queue.
    session.flush()
    now = utc_now()
    for row in rows:
        row["at"] = now
    # Instances in one order for every writer (their feed locks are taken in it).
    rows.sort(key=lambda row: row["instance_id"])
    _insert_serialized(session, rows)


def _insert_serialized(session: Session, rows: list[dict[str, Any]]) -> None:
    """Number the changes per instance and insert them; from here to its commit, the
    transaction is the only one of their instances writing history.

    The number comes from the instance's row, updated here: two writers of one instance queue
    on its row lock until the first commits, so numbers are visible in the order they were
    drawn (SQLite runs one write transaction at a time anyway). Rows arrive sorted by
    instance, so writers take these locks in one order.
    """
    connection = session.connection()
    by_instance: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_instance.setdefault(row["instance_id"], []).append(row)
    for instance_id, group in by_instance.items():
        last = connection.execute(_NEXT_SEQ, {"instance": instance_id, "count": len(group)})
        top = int(last.scalar_one())
        for offset, row in enumerate(group):
            row["seq"] = top - len(group) + 1 + offset
    insert_rows(session, _CHANGES, rows)


# --- Reading -----------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; tilsyn stores UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def change_views(session: Session, instance_id: int, changes: Sequence[Change]) -> list[Any]:
    """Changes as the history and the feed show them, customer numbers revealed."""
    diffs = stored_diffs(session, instance_id, changes)
    views = [change_view(change, diffs.get(change.id, change.diff)) for change in changes]
    return list(reveal(session, instance_id, views))


def change_view(change: Change, diff: dict[str, Any] | None) -> dict[str, Any]:
    """One change as the history and the feed show it, with its diff as recorded
    (:func:`stored_diffs` fills in what a creation did not store)."""
    return {
        "id": change.seq,
        "at": _utc(change.at).isoformat().replace("+00:00", "Z"),
        "entityType": change.entity_type,
        "entityKey": change.entity_key,
        "operation": change.operation,
        "apiKey": None
        if change.api_key_id is None and change.api_key_label is None
        else {"id": change.api_key_id, "label": change.api_key_label},
        "requestId": change.request_id,
        "fields": [_field(path, value) for path, value in sorted((diff or {}).items())],
    }


def stored_diffs(
    session: Session, instance_id: int, changes: Sequence[Change]
) -> dict[int, dict[str, Any]]:
    """The diffs of the creations among ``changes`` that did not store their document, by
    change id, as they would have been stored: the entity's current document with its later
    entries undone, newest first (as :func:`state_at` does), each field from nothing to its
    value; the paths kept apart as recorded. Two reads per entity type, whatever the number."""
    filled: dict[int, dict[str, Any]] = {}
    for entity_type, kept in KEPT_DOCUMENTS.items():
        lean = [
            change
            for change in changes
            if change.entity_type == entity_type and change.diff and IMPLIED in change.diff
        ]
        if lean:
            filled.update(_filled(session, instance_id, entity_type, kept, lean))
    return filled


def _filled(
    session: Session, instance_id: int, entity_type: str, kept: KeptDocument, lean: list[Change]
) -> Iterator[tuple[int, dict[str, Any]]]:
    keys = sorted({change.entity_key for change in lean})
    table: Any = kept.model.__table__
    documents: dict[str, dict[str, Any]] = dict(
        session.execute(
            select(table.c[kept.key], table.c.data).where(
                table.c.instance_id == instance_id, table.c[kept.key].in_(keys)
            )
        ).all()
    )
    later: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}
    for key, seq, operation, diff in session.execute(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.entity_key, Change.seq, Change.operation, Change.diff)
        .where(
            Change.entity_type == entity_type,
            Change.entity_key.in_(keys),
            Change.seq > min(change.seq for change in lean),
        )
        .order_by(Change.seq.desc())
    ):
        later.setdefault(key, []).append((seq, operation, diff))
    for change in lean:
        document = documents.get(change.entity_key)
        state = None if document is None else flatten(document)
        for seq, operation, diff in later.get(change.entity_key, []):
            if seq <= change.seq:
                break
            state = _undone(state, operation, diff)
        stored = change.diff or {}
        fields = {path: value for path, value in stored.items() if kept.is_apart(path)}
        for path, value in (state or {}).items():
            if value is not None and not kept.is_apart(path):
                fields[path] = [None, value]
        yield change.id, fields


def _field(path: str, value: Any) -> dict[str, Any]:
    before, after = pair(value)
    return {"field": path, "before": before, "after": after}


def entity_history(
    session: Session,
    instance_id: int,
    entity_type: str,
    entity_key: str,
    *,
    limit: int,
    before: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of an entity's changes, newest first; the ``before`` of the next page."""
    query = (
        scoped_select(Change, instance_id)
        .where(Change.entity_type == entity_type, Change.entity_key == entity_key)
        .order_by(Change.seq.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Change.seq < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return change_views(session, instance_id, rows), rows[-1].seq if more else None


def has_history(session: Session, instance_id: int, entity_type: str, entity_key: str) -> bool:
    query = (
        scoped_select(Change, instance_id)
        .with_only_columns(Change.id)
        .where(Change.entity_type == entity_type, Change.entity_key == entity_key)
        .limit(1)
    )
    return session.scalar(query) is not None


# --- As of a day -------------------------------------------------------------------------------


def end_of_day(day: date) -> datetime | None:
    """The first moment after ``day`` in Norway, in UTC; None for the last day there is."""
    if day >= date.max - timedelta(days=1):
        return None
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=OSLO).astimezone(UTC)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=OSLO).astimezone(UTC)


def check_kept(session: Session, instance_id: int, day: date) -> None:
    """Refuse an as-of read that would need changes an operator has pruned."""
    kept_from = history_kept_from(session, instance_id)
    if kept_from is not None and day + timedelta(days=1) < kept_from:
        earliest = (kept_from - timedelta(days=1)).isoformat()
        raise HistoryPruned(
            f"History before {kept_from.isoformat()} has been pruned; the earliest day "
            f"that can be read is {earliest}."
        )


def state_at(
    session: Session,
    instance_id: int,
    entity_type: str,
    entity_key: str,
    *,
    current: dict[str, Any] | None,
    moment: datetime | None,
) -> dict[str, Any] | None:
    """An entity's flat state (``{path: value}``) just before ``moment``; None when it did not
    exist then. ``current`` is its state now (None when it does not exist now)."""
    if moment is None:
        return current
    state = None if current is None else dict(current)
    changes = session.execute(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.operation, Change.diff)
        .where(
            Change.entity_type == entity_type,
            Change.entity_key == entity_key,
            Change.at >= moment,
        )
        .order_by(Change.seq.desc())
    )
    for operation, diff in changes:
        state = _undone(state, operation, diff)
    return state


def _undone(
    state: dict[str, Any] | None, operation: str, diff: dict[str, Any] | None
) -> dict[str, Any] | None:
    """An entity's flat state before a change, from its state after it."""
    if operation == "create":
        return None
    if operation in _TERMINAL or state is None:
        state = {}
    for path, value in (diff or {}).items():
        state[path] = pair(value)[0]
    return state


def values_before(
    session: Session, instance_id: int, entity_type: str, entity_key: str, moment: datetime
) -> Iterator[dict[str, Any]]:
    """Each change made at or after ``moment``, newest first, as ``{path: value before}``:
    undoing them in this order gives the entity's state just before ``moment``."""
    changes = session.execute(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.diff)
        .where(
            Change.entity_type == entity_type,
            Change.entity_key == entity_key,
            Change.at >= moment,
        )
        .order_by(Change.id.desc())
    )
    for (diff,) in changes:
        yield {path: pair(value)[0] for path, value in (diff or {}).items()}


# --- Retention (what as-of reads may ask for) -------------------------------------------------

PRUNE_ENTITY = ("history", "retention")


def history_kept_from(session: Session, instance_id: int) -> date | None:
    """The day from which all of the instance's history is kept; None when never pruned."""
    diff = session.scalar(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.diff)
        .where(Change.entity_type == PRUNE_ENTITY[0], Change.entity_key == PRUNE_ENTITY[1])
        .order_by(Change.seq.desc())
        .limit(1)
    )
    if not diff or "keptFrom" not in diff:
        return None
    return date.fromisoformat(diff["keptFrom"][1])


# --- Commit ------------------------------------------------------------------------------------


def commit(session: Session) -> None:
    """Write the noted changes, then commit: the only way a write transaction ends well.

    Called by :meth:`tilsyn.core.db.Database.write`; no session event hook does it behind
    the caller's back.
    """
    try:
        write_pending(session)
        session.commit()
    finally:
        session.info.pop(_PENDING, None)


def discard(session: Session) -> None:
    """Roll back, dropping the changes noted in it."""
    session.info.pop(_PENDING, None)
    session.rollback()
