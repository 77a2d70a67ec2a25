"""History: every effective change, recorded in the transaction that makes it (SPEC §8).

A change is noted by :func:`record_change` while a request works and written when its
transaction commits, merged to one entry per entity, so that one request's effect on a plant
is one entry whatever the number of steps it took. The entries are written under a
per-instance lock taken last, just before the commit: the ids of an instance's changes then
follow commit order, and a feed cursor that is the last id read can neither skip nor repeat
a change (see :func:`_insert_serialized`, the only place the dialects differ).

Reading: newest-first pages per entity, the instance-wide feed in commit order, and the
state of an entity at a moment, replayed backwards from its current state. Only the diffs are
stored (``{path: [before, after]}``), so an as-of read costs the changes made since that day
and history costs the size of what changed, not of whole documents.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from tilsyn.core.db import Database
from tilsyn.core.errors import ApiError, InvalidRequest
from tilsyn.core.models import Change
from tilsyn.core.personal import reveal
from tilsyn.core.problems import Issue, Issues
from tilsyn.core.tenancy import scoped_select
from tilsyn.core.time import OSLO, utc_now
from tilsyn.core.upsert import BatchConflict

RECORDING = True
"""Off only in ``bench/history.py``, to measure what recording costs."""

ERASED = "[erased]"
"""What stands in history where erased personal data was."""

MAX_ID = 2**63 - 1
_PENDING = "tilsyn.history.pending"
_TERMINAL = ("delete", "erase")
# pg_advisory_xact_lock(space, instance id): the space keeps tilsyn's locks apart from others'.
_FEED_LOCK_SPACE = 0x7469_6C73  # "tils"
_CURSOR_PREFIX = "c1."
_INSERT = insert(Change)  # run on the connection (Core), built once: the cheapest path
_COLUMNS = (
    "instance_id",
    "at",
    "api_key_id",
    "api_key_label",
    "request_id",
    "entity_type",
    "entity_key",
    "operation",
    "diff",
)
# PostgreSQL: the feed lock and the insert in one statement, so the commit-ordered section is
# this statement and the commit. The lock is a volatile CTE, evaluated before its row reaches
# the insert and so before the row's id is drawn; taken again by later rows it is re-entrant.
_LOCKED_INSERT = insert(Change).from_select(
    list(_COLUMNS),
    select(
        *(bindparam(name, type_=Change.__table__.c[name].type) for name in _COLUMNS)
    ).select_from(
        select(
            func.pg_advisory_xact_lock(
                bindparam("feed_space", type_=Integer), bindparam("feed_instance", type_=Integer)
            ).label("locked")
        ).cte("feed_lock")
    ),
)


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


# --- Diffs -------------------------------------------------------------------------------------


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaf values, so that a diff names fields the way errors do."""
    if isinstance(document, dict):
        out: dict[str, Any] = {}
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                out.update(flatten(value, path))
            else:
                out[path] = value
        return out
    return {prefix: document}


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """The nested document of :func:`flatten`'s paths."""
    document: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = document
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return document


def diff_documents(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{path: [before, after]}`` for every leaf that differs."""
    old = flatten(before) if before else {}
    new = flatten(after) if after else {}
    changed: dict[str, Any] = {}
    for path in sorted(old.keys() | new.keys() if old and new else old or new):
        was, now = old.get(path), new.get(path)
        if was != now:
            changed[path] = [was, now]
    return changed


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
    pending: dict[tuple[int, str, str], _Pending] = session.info.setdefault(_PENDING, {})
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
        before, after = _pair(value)
        merged[path] = [_pair(merged[path])[0], after] if path in merged else [before, after]
    entry.diff = {path: pair for path, pair in merged.items() if pair[0] != pair[1]}


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


def _retried(attempt: Callable[[], _Written], issues: Sequence[Issues]) -> _Written:
    for number in range(BATCH_ATTEMPTS):
        marks = [len(item.warnings) for item in issues]
        try:
            return attempt()
        except (BatchConflict, SQLAlchemyError):
            for item, mark in zip(issues, marks, strict=True):
                del item.warnings[mark:]
            if number + 1 == BATCH_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _pair(value: Any) -> tuple[Any, Any]:
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
    pending: dict[tuple[int, str, str], _Pending] | None = session.info.pop(_PENDING, None)
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
    """Insert the changes; from here to its commit, the transaction is the only one of their
    instances writing history.

    Ids are drawn at insert, so two writers that committed in the other order than they
    inserted would let a feed reader pass an id that becomes visible later. On PostgreSQL a
    transaction-level advisory lock per instance, released after the commit is visible,
    queues them; SQLite already runs one write transaction at a time (``BEGIN IMMEDIATE``).
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(_INSERT, rows if len(rows) > 1 else rows[0])
        return
    locked = [
        row | {"feed_space": _FEED_LOCK_SPACE, "feed_instance": row["instance_id"]} for row in rows
    ]
    connection.execute(_LOCKED_INSERT, locked if len(locked) > 1 else locked[0])


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    # SQLAlchemy fires this when a savepoint is released too; writing then would take the
    # feed lock early and hold it through the rest of the transaction (a single upsert's
    # view reads, a chunk's remaining items), queueing every other writer behind that work.
    if session.in_nested_transaction():
        return
    write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (written) or rolled back (dropped)
        session.info.pop(_PENDING, None)


# --- Erasure (GDPR) ----------------------------------------------------------------------------


def erase_entity(
    session: Session, actor: Actor, *, entity_type: str, entity_key: str, personal: str
) -> list[int]:
    """Erase an entity's data from history, keeping when and by whom it changed.

    Its own entries keep their time, key and operation, with key and fields erased; every
    other entry that holds ``personal`` (a plant's customer periods hold the customer number)
    has those values replaced by ``[erased]``. A tombstone lists the ids of the entries
    erased, so that a downstream copy can erase the same; it names nothing erased. Returns
    those ids.
    """
    instance_id = actor.instance_id
    pending: dict[tuple[int, str, str], _Pending] = session.info.get(_PENDING, {})
    pending.pop((instance_id, entity_type, entity_key), None)
    for entry in pending.values():
        entry.diff = _scrub(entry.diff, personal)

    own = session.scalars(
        scoped_select(Change, instance_id).where(
            Change.entity_type == entity_type, Change.entity_key == entity_key
        )
    ).all()
    for change in own:
        change.entity_key = ERASED
        change.diff = None
    erased = {change.id for change in own}
    # The stored text of a diff, as each dialect renders it (SQLite's JSON escapes non-ASCII).
    patterns = {personal, json.dumps(personal)[1:-1]}
    mentions = session.scalars(
        scoped_select(Change, instance_id).where(
            or_(*(cast(Change.diff, String).contains(p, autoescape=True) for p in patterns))
        )
    )
    for change in mentions:
        scrubbed = _scrub(change.diff, personal)
        if scrubbed != change.diff:
            change.diff = scrubbed
            erased.add(change.id)
    session.flush()
    ids = sorted(erased)
    record_change(
        session,
        actor,
        entity_type=entity_type,
        entity_key=ERASED,
        operation="erase",
        diff={"erasedChanges": [None, ids]},
    )
    return ids


def _scrub(value: Any, personal: str) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, personal) for v in value]
    if isinstance(value, str) and value.strip() == personal:
        return ERASED
    return value


# --- Reading -----------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; tilsyn stores UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def change_view(change: Change) -> dict[str, Any]:
    """One change as the history and the feed show it."""
    return {
        "id": change.id,
        "at": _utc(change.at).isoformat().replace("+00:00", "Z"),
        "entityType": change.entity_type,
        "entityKey": change.entity_key,
        "operation": change.operation,
        "apiKey": None
        if change.api_key_id is None and change.api_key_label is None
        else {"id": change.api_key_id, "label": change.api_key_label},
        "requestId": change.request_id,
        "fields": [_field(path, value) for path, value in sorted((change.diff or {}).items())],
    }


def _field(path: str, value: Any) -> dict[str, Any]:
    before, after = _pair(value)
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
        .order_by(Change.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Change.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    views = reveal(session, instance_id, [change_view(row) for row in rows])
    return views, rows[-1].id if more else None


def has_history(session: Session, instance_id: int, entity_type: str, entity_key: str) -> bool:
    query = (
        scoped_select(Change, instance_id)
        .with_only_columns(Change.id)
        .where(Change.entity_type == entity_type, Change.entity_key == entity_key)
        .limit(1)
    )
    return session.scalar(query) is not None


def encode_cursor(change_id: int) -> str:
    raw = f"{_CURSOR_PREFIX}{change_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The last change id a reader has seen; 0 before the first."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if raw.startswith(_CURSOR_PREFIX) and digits.isascii() and digits.isdigit():
        value = int(digits)
        if value <= MAX_ID and encode_cursor(value) == cursor.rstrip("="):
            return value
    raise InvalidRequest(
        "The cursor is not one this feed handed out; start again without `after`.",
        errors=[Issue("after", "invalid_cursor", "is not a cursor of this feed")],
    )


def change_feed(
    session: Session,
    instance_id: int,
    *,
    after: str | None,
    limit: int,
    since: datetime | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """The instance's changes after the cursor, in commit order, and the cursor to go on from.

    With nothing new, the cursor handed back is the one given: poll with it again later.
    ``since`` (instead of a cursor) starts at the first change recorded at or after that
    moment: a new follower need not read the whole history first.
    """
    last = decode_cursor(after) if since is None else _before_moment(session, instance_id, since)
    rows = list(
        session.scalars(
            scoped_select(Change, instance_id)
            .where(Change.id > last)
            .order_by(Change.id)
            .limit(limit)
        )
    )
    views = reveal(session, instance_id, [change_view(row) for row in rows])
    return views, encode_cursor(rows[-1].id if rows else last)


def _before_moment(session: Session, instance_id: int, since: datetime) -> int:
    """The feed position just before the first change recorded at or after ``since`` (by
    ``ix_changes_instance_id_at``); past the last change when none is that recent."""
    first = session.scalar(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.id)
        .where(Change.at >= since)
        .order_by(Change.at, Change.id)
        .limit(1)
    )
    if first is not None:
        return int(first) - 1
    newest = session.scalar(
        scoped_select(Change, instance_id).with_only_columns(func.max(Change.id))
    )
    return int(newest or 0)


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
        .order_by(Change.id.desc())
    )
    for operation, diff in changes:
        if operation == "create":
            state = None
            continue
        if operation in _TERMINAL or state is None:
            state = {}
        for path, value in (diff or {}).items():
            state[path] = _pair(value)[0]
    return state


# --- Retention ---------------------------------------------------------------------------------

PRUNE_ENTITY = ("history", "retention")


def history_kept_from(session: Session, instance_id: int) -> date | None:
    """The day from which all of the instance's history is kept; None when never pruned."""
    diff = session.scalar(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.diff)
        .where(Change.entity_type == PRUNE_ENTITY[0], Change.entity_key == PRUNE_ENTITY[1])
        .order_by(Change.id.desc())
        .limit(1)
    )
    if not diff or "keptFrom" not in diff:
        return None
    return date.fromisoformat(diff["keptFrom"][1])


def start_prune(session: Session, actor: Actor, *, before: date) -> date | None:
    """Record that history before ``before`` goes; the day it was kept from until now.

    Recorded first, so that as-of reads refuse the days being removed from then on.
    """
    kept_from = history_kept_from(session, actor.instance_id)
    if kept_from is None or before > kept_from:
        record_change(
            session,
            actor,
            entity_type=PRUNE_ENTITY[0],
            entity_key=PRUNE_ENTITY[1],
            operation="prune",
            diff={"keptFrom": [None if kept_from is None else kept_from.isoformat(), str(before)]},
        )
    return kept_from


def prune_batch(session: Session, instance_id: int, *, before: date, batch: int = 5000) -> int:
    """Remove up to ``batch`` changes made before the day; the number removed.

    The latest change of every entity stays, whatever its age: each entity keeps the record
    of its last change (a deleted one its tombstone), and the instance's newest id is never
    removed, so ids are never reused and feed cursors stay valid.
    """
    latest = (
        select(func.max(Change.id))
        .where(Change.instance_id == instance_id)
        .group_by(Change.entity_type, Change.entity_key)
    )
    ids = list(
        session.scalars(
            scoped_select(Change, instance_id)
            .with_only_columns(Change.id)
            .where(Change.at < start_of_day(before), Change.id.not_in(latest))
            .order_by(Change.id)
            .limit(batch)
        )
    )
    if ids:
        session.execute(delete(Change).where(Change.id.in_(ids)))
    return len(ids)


def count_changes(session: Session, instance_id: int) -> int:
    query = scoped_select(Change, instance_id).with_only_columns(func.count())
    return int(session.scalar(query) or 0)
