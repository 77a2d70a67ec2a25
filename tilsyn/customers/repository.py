"""Every SQL statement about customers, each scoped to the caller's instance by
:func:`tilsyn.core.tenancy.owned_by` (through ``scoped_select``/``scoped_update``).

Customers are stored, and looked up, under the stored key of their number
(core/personal.py): every ``key`` here is such a key, never a number as sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from tilsyn.core.models import Customer, CustomerPeriod
from tilsyn.core.tenancy import owned_by, scoped_select, scoped_update
from tilsyn.core.upsert import insert_many_if_absent

_CUSTOMERS = cast(Table, Customer.__table__)
_UPDATE_CUSTOMER = (
    update(_CUSTOMERS)
    .where(
        _CUSTOMERS.c.instance_id == bindparam("owner"),
        _CUSTOMERS.c.id == bindparam("customer_id"),
    )
    .values(data=bindparam("new_data"), updated_at=bindparam("new_updated_at"))
)


@dataclass(frozen=True, slots=True)
class StoredCustomer:
    """A stored customer as a batch write reads it: its id, key and document."""

    id: int
    key: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CustomerUpdate:
    id: int
    data: dict[str, Any]


def lock_customers(
    session: Session, instance_id: int, keys: Sequence[str]
) -> dict[str, StoredCustomer]:
    """The stored customers of these keys, locked for the batch, in key order."""
    rows = session.execute(
        select(_CUSTOMERS.c.id, _CUSTOMERS.c.number, _CUSTOMERS.c.data)
        .where(owned_by(Customer, instance_id), _CUSTOMERS.c.number.in_(keys))
        .order_by(_CUSTOMERS.c.number)
        .with_for_update()
    )
    return {row.number: StoredCustomer(row.id, row.number, row.data) for row in rows}


def insert_customers(
    session: Session, instance_id: int, documents: Sequence[dict[str, Any]], *, now: datetime
) -> dict[str, int]:
    """Insert new customers (``Number``: the stored key) in one statement; ``{key: id}`` of
    those inserted: a key missing lost to another transaction."""
    rows = [
        {
            "instance_id": instance_id,
            "number": document["Number"],
            "data": document,
            "created_at": now,
            "updated_at": now,
        }
        for document in documents
    ]
    return insert_many_if_absent(
        session, Customer, rows, key=["instance_id", "number"], returning="number"
    )


def update_customers(
    session: Session, instance_id: int, updates: Sequence[CustomerUpdate], *, now: datetime
) -> None:
    """Replace the documents of stored customers: one statement for the batch."""
    session.execute(
        _UPDATE_CUSTOMER,
        [
            {"owner": instance_id, "customer_id": u.id, "new_data": u.data, "new_updated_at": now}
            for u in updates
        ],
    )


def lock_customer(session: Session, instance_id: int, key: str) -> Customer | None:
    return session.scalar(
        scoped_select(Customer, instance_id).where(Customer.number == key).with_for_update()
    )


def customer_row(session: Session, instance_id: int, key: str) -> Customer | None:
    return session.scalar(scoped_select(Customer, instance_id).where(Customer.number == key))


def customer_rows(session: Session, instance_id: int, keys: Iterable[str]) -> list[Customer]:
    return list(
        session.scalars(scoped_select(Customer, instance_id).where(Customer.number.in_(list(keys))))
    )


def existing_keys(session: Session, instance_id: int, keys: set[str]) -> set[str]:
    """Which of these keys are customers of the instance."""
    if not keys:
        return set()
    query = select(Customer.number).where(
        owned_by(Customer, instance_id), Customer.number.in_(sorted(keys))
    )
    return set(session.scalars(query))


def delete_customer(session: Session, instance_id: int, row: Customer, key: str) -> None:
    """The customer's row, and its number (``key``) on the plants' customer periods."""
    session.delete(row)
    session.execute(
        scoped_update(CustomerPeriod, instance_id)
        .where(CustomerPeriod.customer_number == key)
        .values(customer_number=None)
    )


def key_page(session: Session, instance_id: int, *, after: str | None, limit: int) -> list[str]:
    """Up to ``limit`` stored keys after ``after``, in key order."""
    query = (
        scoped_select(Customer, instance_id)
        .with_only_columns(Customer.number)
        .order_by(Customer.number)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Customer.number > after)
    return list(session.scalars(query))
