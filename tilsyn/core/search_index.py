"""The search index: the folded words of plants, customers and grid elements.

The write paths call these in the transaction that changes the text (a batch of plants or
customers, new grid elements, an erasure), so the index never lags what a GET returns. Each
entity's words are replaced whole, in a delete and an insert per batch (COPY on PostgreSQL for
a batch's worth, core/upsert.py).

Customer names are personal data kept in clear text in ``customers`` already; their words
here are no more than that, and erasing a customer deletes them with it. Customer numbers
(sealed at rest, core/personal.py) are never indexed: the ``customer`` filter looks one up
by its stored key instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from tilsyn.core.models import SearchToken
from tilsyn.core.search_text import MAX_TOKEN, words
from tilsyn.core.upsert import insert_rows

PLANT = "p"
"""A plant's metering point id, address text and postal code (what ``q`` matches)."""
POSTAL_CODE = "z"
"""A plant's postal code as sent, for the exact ``postalCode`` filter."""
CUSTOMER = "c"
"""A customer's first and last name."""
ELEMENT = "e"
"""A grid element's name."""

Words = Mapping[str, set[str]]
"""An entity's words by kind."""

_TOKENS = cast(Table, SearchToken.__table__)
_DELETE = delete(_TOKENS).where(
    _TOKENS.c.kind.in_(bindparam("kinds", expanding=True)),
    _TOKENS.c.ref_id.in_(bindparam("ref_ids", expanding=True)),
)
_DELETE_CHUNK = 500


def plant_words(metering_point_id: str, document: Mapping[str, Any]) -> dict[str, set[str]]:
    address = document.get("address") or {}
    postal_code = (address.get("postalCode") or "").strip()
    found = {metering_point_id.strip()[:MAX_TOKEN]}
    found.update(words(address.get("addressText")))
    found.update(words(postal_code))
    return {PLANT: found, POSTAL_CODE: {postal_code[:MAX_TOKEN]} if postal_code else set()}


def customer_words(document: Mapping[str, Any]) -> dict[str, set[str]]:
    return {CUSTOMER: set(words(document.get("FirstName"))) | set(words(document.get("LastName")))}


def element_words(name: str) -> dict[str, set[str]]:
    return {ELEMENT: set(words(name))}


def plant_text_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a plant update changes its words (its key never changes)."""
    old, new = before.get("address") or {}, after.get("address") or {}
    return any(old.get(f) != new.get(f) for f in ("addressText", "postalCode"))


def customer_text_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return any(before.get(f) != after.get(f) for f in ("FirstName", "LastName"))


def token_rows(instance_id: int, entries: Mapping[int, Words]) -> list[dict[str, Any]]:
    """The rows of these entities' words (``{ref_id: words}``), sorted as the index is."""
    rows = [
        {"instance_id": instance_id, "kind": kind, "token": token, "ref_id": ref_id}
        for ref_id, by_kind in entries.items()
        for kind, tokens in by_kind.items()
        for token in tokens
        if token
    ]
    rows.sort(key=lambda row: (row["kind"], row["token"], row["ref_id"]))
    return rows


def add_words(session: Session, instance_id: int, entries: Mapping[int, Words]) -> None:
    """Index new entities."""
    insert_rows(session, _TOKENS, token_rows(instance_id, entries))


def replace_words(
    session: Session, instance_id: int, kinds: Sequence[str], entries: Mapping[int, Words]
) -> None:
    """Index changed entities: their words of these kinds go, the new ones come."""
    drop_words(session, kinds, entries.keys())
    add_words(session, instance_id, entries)


def drop_words(session: Session, kinds: Sequence[str], ref_ids: Iterable[int]) -> None:
    """Forget entities' words: a deleted plant, an erased customer."""
    ids = sorted(ref_ids)
    connection = session.connection()
    for start in range(0, len(ids), _DELETE_CHUNK):
        chunk = ids[start : start + _DELETE_CHUNK]
        connection.execute(_DELETE, {"kinds": list(kinds), "ref_ids": chunk})
