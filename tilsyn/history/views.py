"""History of plants and customers: their history pages, and their state as of a day.

As-of reads replay history backwards from the current state (core/changelog.py): the
plant's document, its customer periods, its extensions and its connection point's name, and
each hierarchy element's address, location and parent, all as they were at the end of that
day in Norway. Values derived by the audit rules are derived by the rules in force now.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from tilsyn.contract.diffs import flatten, unflatten
from tilsyn.contract.errors import NotFound
from tilsyn.core.changelog import (
    check_kept,
    end_of_day,
    entity_history,
    has_history,
    state_at,
)
from tilsyn.core.models import Customer
from tilsyn.core.personal import reveal, stored_key
from tilsyn.core.tenancy import scoped_select
from tilsyn.customers.schemas import CustomerIn
from tilsyn.customers.service import customer_document

_NO_CUSTOMER = "No customer with that number in this instance."


def _key(value: str, missing: str) -> str:
    # From a URL; PostgreSQL cannot compare text holding NUL.
    if "\x00" in value:
        raise NotFound(missing)
    return value.strip()


# --- History pages -----------------------------------------------------------------------------


def customer_history(
    session: Session, instance_id: int, number: str, *, limit: int, before: int | None
) -> dict[str, Any]:
    key = stored_key(session, instance_id, _key(number, _NO_CUSTOMER))
    changes, next_before = entity_history(
        session, instance_id, "customer", key, limit=limit, before=before
    )
    if (
        not changes
        and _customer_row(session, instance_id, key) is None
        and not has_history(session, instance_id, "customer", key)
    ):
        raise NotFound(_NO_CUSTOMER)
    return {"changes": changes, "next": next_before}


# --- As of a day -------------------------------------------------------------------------------


@cache
def _customer_skeleton() -> dict[str, Any]:
    return dict.fromkeys(flatten(customer_document(CustomerIn.model_construct(Number=""))))


def _customer_row(session: Session, instance_id: int, key: str) -> Customer | None:
    return session.scalar(scoped_select(Customer, instance_id).where(Customer.number == key))


def customer_as_of(session: Session, instance_id: int, number: str, day: date) -> dict[str, Any]:
    """The customer in import format as stored at the end of ``day`` (Europe/Oslo)."""
    number = _key(number, _NO_CUSTOMER)
    check_kept(session, instance_id, day)
    key = stored_key(session, instance_id, number)
    row = _customer_row(session, instance_id, key)
    current = flatten(row.data) if row is not None else None
    state = state_at(session, instance_id, "customer", key, current=current, moment=end_of_day(day))
    if not state or state.get("Number") is None:
        raise NotFound("No customer with that number in this instance on that day.")
    return dict(reveal(session, instance_id, unflatten(_customer_skeleton() | state)))
