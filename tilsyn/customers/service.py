"""Customers: one verb per operation (upsert many, get, look up, delete, list numbers).

A single upsert is a batch of one (:func:`upsert_customers`), so a bulk import follows
exactly its rules. The SQL is in :mod:`tilsyn.customers.repository`, the comparison in
:mod:`tilsyn.contract.customers.merge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from tilsyn.contract.customers.merge import CustomerMerge, merge_customer
from tilsyn.contract.customers.parse import CustomerChange
from tilsyn.contract.errors import InvalidRequest, NotFound
from tilsyn.contract.problems import Issue
from tilsyn.contract.time import utc_now
from tilsyn.core import search_index
from tilsyn.core.changelog import Actor, creation_diff, record_change, write_atomically
from tilsyn.core.groupcommit import GroupCommit
from tilsyn.core.outcome import Outcome, Result
from tilsyn.core.personal import STORED_KEY, codec, forget, numbers_for, protect_many, stored_key
from tilsyn.core.upsert import BatchConflict
from tilsyn.customers import repository as repo
from tilsyn.customers.views import CustomerKeyOut, CustomerKeysOut, CustomerOut, customer_view
from tilsyn.history.service import erase_entity

_NO_CUSTOMER = "No customer with that number in this instance."


def upsert_customers(
    session: Session, actor: Actor, changes: Sequence[CustomerChange]
) -> list[Result]:
    """Apply checked customers (distinct numbers) in the current transaction, in a savepoint:
    one locking read, one insert and one update for the batch; one result per change, in
    order (warnings go to its change's issues); all of it or nothing, tried again after a
    concurrent insert. A bulk import needs no more; the single upsert answers the view."""
    return write_atomically(session, lambda: _write(session, actor, changes))


def upsert_customer(
    writer: GroupCommit, actor: Actor, change: CustomerChange
) -> Outcome[CustomerOut]:
    """One customer, as the single upsert writes it, with its answer: a transaction of its
    own, or a savepoint in the transaction of the single writes that arrived with it
    (core/groupcommit.py), with the same result, answer and history either way."""

    def write(session: Session) -> Outcome[CustomerOut]:
        [result] = _write(session, actor, [change])
        # The document as sent: what is stored, but for the number's stored key.
        view = customer_view(change.document, change.number)
        return Outcome(result, view, change.issues.warnings)

    return writer.run(write, [change.issues])


@dataclass
class _Batch:
    """The writes a batch of merges comes to, gathered so that each is one statement."""

    created: list[tuple[str, CustomerMerge]] = field(default_factory=list)
    updates: list[repo.CustomerUpdate] = field(default_factory=list)
    renamed: dict[int, search_index.Words] = field(default_factory=dict)


def _write(session: Session, actor: Actor, changes: Sequence[CustomerChange]) -> list[Result]:
    # Stored, and in history, under the stored key of the number (core/personal.py).
    keys = [stored_key(session, actor.instance_id, change.number) for change in changes]
    assert len(set(keys)) == len(keys), "a batch holds each customer once"
    stored = repo.lock_customers(session, actor.instance_id, keys)
    now = utc_now()
    batch = _Batch()
    results: list[Result] = []
    for change, key in zip(changes, keys, strict=True):
        row = stored.get(key)
        merged = merge_customer(row.data if row else None, change.document, key=key)
        if merged.result == "created":
            batch.created.append((change.number, merged))
        elif merged.result == "updated" and row is not None:
            _note_update(session, actor, row, merged, batch)
        results.append(merged.result)
    if batch.created:
        _insert(session, actor, batch.created, now=now)
    if batch.updates:
        repo.update_customers(session, actor.instance_id, batch.updates, now=now)
    if batch.renamed:
        search_index.replace_words(
            session, actor.instance_id, (search_index.CUSTOMER,), batch.renamed
        )
    return results


def _note_update(
    session: Session, actor: Actor, row: repo.StoredCustomer, merged: CustomerMerge, batch: _Batch
) -> None:
    batch.updates.append(repo.CustomerUpdate(row.id, merged.document))
    if search_index.customer_text_changed(row.data, merged.document):
        batch.renamed[row.id] = search_index.customer_words(merged.document)
    record_change(
        session,
        actor,
        entity_type="customer",
        entity_key=row.key,
        operation="update",
        diff=merged.diff,
    )


def _insert(
    session: Session, actor: Actor, created: list[tuple[str, CustomerMerge]], *, now: datetime
) -> None:
    """The batch's new customers: their numbers protected, rows, words and history.
    :class:`BatchConflict` when another transaction created one of them meanwhile."""
    protect_many(session, actor.instance_id, [number for number, _ in created])
    documents = [merged.document for _, merged in created]
    inserted = repo.insert_customers(session, actor.instance_id, documents, now=now)
    if len(inserted) != len(created):
        raise BatchConflict("another transaction created some of these customers")
    search_index.add_words(
        session,
        actor.instance_id,
        {inserted[doc["Number"]]: search_index.customer_words(doc) for doc in documents},
    )
    for _, merged in created:
        record_change(
            session,
            actor,
            entity_type="customer",
            entity_key=merged.document["Number"],
            operation="create",
            diff=creation_diff("customer", merged.diff),
        )


def existing_customers(session: Session, instance_id: int, keys: set[str]) -> set[str]:
    """Which of these stored keys (core/personal.py) are customers of the instance."""
    return repo.existing_keys(session, instance_id, keys)


def get_customer(session: Session, instance_id: int, number: str) -> CustomerOut:
    if "\x00" in number:  # from a URL; PostgreSQL cannot compare text holding NUL
        raise NotFound(_NO_CUSTOMER)
    number = number.strip()
    row = repo.customer_row(session, instance_id, stored_key(session, instance_id, number))
    if row is None:
        raise NotFound(_NO_CUSTOMER)
    return customer_view(row.data, number)


def lookup_customers(
    session: Session, instance_id: int, numbers: Sequence[str]
) -> tuple[list[CustomerOut], list[str]]:
    """Many customers' views in one read, and the numbers this instance has no customer for."""
    wanted = list(dict.fromkeys(n.strip() for n in numbers if "\x00" not in n))
    keys = {stored_key(session, instance_id, number): number for number in wanted}
    if not keys:
        return [], []
    found = {
        keys[row.number]: customer_view(row.data, keys[row.number])
        for row in repo.customer_rows(session, instance_id, keys)
    }
    return [found[n] for n in wanted if n in found], [n for n in wanted if n not in found]


# The tables an erasure deletes from or rewrites: purged after it (Database.purge_erased).
ERASURE_TABLES = (
    "customers",
    "customer_periods",
    "changes",
    "personal_numbers",
    "search_tokens",
)


def delete_customer(session: Session, actor: Actor, number: str) -> None:
    """Erase a customer for good (GDPR): the row, its number on plants, and in history."""
    number = number.strip()
    key = None if "\x00" in number else stored_key(session, actor.instance_id, number)
    row = None if key is None else repo.lock_customer(session, actor.instance_id, key)
    if row is None or key is None:
        raise NotFound(_NO_CUSTOMER)
    # Their name's words go with them: nothing may find the plants by it afterwards.
    search_index.drop_words(session, (search_index.CUSTOMER,), [row.id])
    repo.delete_customer(session, actor.instance_id, row, key)
    erase_entity(session, actor, entity_type="customer", entity_key=key, personal=key)
    forget(session, actor.instance_id, key)


MAX_KEYS_PAGE = 10_000
_NUMBERS_LISTING = "customer-numbers"


def list_customer_numbers(
    session: Session, instance_id: int, *, after: str | None, limit: int
) -> CustomerKeysOut:
    """One keyset page of the instance's customer numbers; ``next`` is the ``after`` of the
    following page, ``None`` on the last one.

    The pages follow the stored keys (core/personal.py), so the order is no order a reader
    can use, and ``next`` is an opaque cursor, sealed and bound to the instance and this
    listing: no stored key is shown, and nothing but such a cursor is taken as ``after``.
    """
    vault = codec(session)
    cursor = None
    if after:
        cursor = vault.open_cursor(instance_id, _NUMBERS_LISTING, after)
        if cursor is None or not STORED_KEY.fullmatch(cursor):
            raise InvalidRequest(
                "`after` is not a cursor this listing handed out; start again without it.",
                errors=[Issue("after", "invalid_cursor", "is not a cursor of this listing")],
            )
    keys = repo.key_page(session, instance_id, after=cursor, limit=limit + 1)
    numbers = numbers_for(session, instance_id, keys[:limit])
    items = [CustomerKeyOut(Number=numbers.get(key, key)) for key in keys[:limit]]
    if len(keys) <= limit:
        return CustomerKeysOut(items=items, next=None)
    return CustomerKeysOut(
        items=items, next=vault.seal_cursor(instance_id, _NUMBERS_LISTING, keys[limit - 1])
    )
