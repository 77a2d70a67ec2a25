"""Instance-wide history: the change feed, retention (pruning) and erasure (GDPR).

Recording changes and reading one entity's history live on the ground floor,
:mod:`tilsyn.core.changelog`; each entity's history and as-of views live with the entity.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    String,
    cast,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from tilsyn.contract.errors import InvalidRequest
from tilsyn.contract.problems import Issue
from tilsyn.core.changelog import (
    ERASED,
    PRUNE_ENTITY,
    Actor,
    change_views,
    history_kept_from,
    record_change,
    scrub_pending,
    start_of_day,
)
from tilsyn.core.models import Change
from tilsyn.core.tenancy import scoped_select

MAX_ID = 2**63 - 1
_CURSOR_PREFIX = "c1."


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
    scrub_pending(
        session, (instance_id, entity_type, entity_key), lambda diff: _scrub(diff, personal)
    )

    own = session.scalars(
        scoped_select(Change, instance_id).where(
            Change.entity_type == entity_type, Change.entity_key == entity_key
        )
    ).all()
    for change in own:
        change.entity_key = ERASED
        change.diff = None
    erased = {change.seq for change in own}
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
            erased.add(change.seq)
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
            .where(Change.seq > last)
            .order_by(Change.seq)
            .limit(limit)
        )
    )
    views = change_views(session, instance_id, rows)
    return views, encode_cursor(rows[-1].seq if rows else last)


def _before_moment(session: Session, instance_id: int, since: datetime) -> int:
    """The feed position just before the first change recorded at or after ``since`` (by
    ``ix_changes_instance_id_at``); past the last change when none is that recent."""
    first = session.scalar(
        scoped_select(Change, instance_id)
        .with_only_columns(Change.seq)
        .where(Change.at >= since)
        .order_by(Change.at, Change.seq)
        .limit(1)
    )
    if first is not None:
        return int(first) - 1
    newest = session.scalar(
        scoped_select(Change, instance_id).with_only_columns(func.max(Change.seq))
    )
    return int(newest or 0)


# --- Retention ---------------------------------------------------------------------------------


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
