"""A customer's history page, and the customer as stored at the end of a day.

As-of reads replay history backwards from the current state (core/changelog.py).
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from tilsyn.contract.customers.merge import customer_document
from tilsyn.contract.customers.schemas import CustomerIn
from tilsyn.contract.diffs import flatten, unflatten
from tilsyn.contract.errors import NotFound
from tilsyn.core.changelog import check_kept, end_of_day, entity_history, has_history, state_at
from tilsyn.core.personal import reveal, stored_key
from tilsyn.customers.repository import customer_row
from tilsyn.customers.views import CustomerOut

_NO_CUSTOMER = "No customer with that number in this instance."


def _number(value: str) -> str:
    # From a URL; PostgreSQL cannot compare text holding NUL.
    if "\x00" in value:
        raise NotFound(_NO_CUSTOMER)
    return value.strip()


def customer_history(
    session: Session, instance_id: int, number: str, *, limit: int, before: int | None
) -> dict[str, Any]:
    key = stored_key(session, instance_id, _number(number))
    changes, next_before = entity_history(
        session, instance_id, "customer", key, limit=limit, before=before
    )
    if (
        not changes
        and customer_row(session, instance_id, key) is None
        and not has_history(session, instance_id, "customer", key)
    ):
        raise NotFound(_NO_CUSTOMER)
    return {"changes": changes, "next": next_before}


@cache
def _customer_skeleton() -> dict[str, Any]:
    """Every path of a stored customer document, empty: what a reconstructed one starts from."""
    return dict.fromkeys(flatten(customer_document(CustomerIn.model_construct(Number=""))))


def customer_as_of(session: Session, instance_id: int, number: str, day: date) -> CustomerOut:
    """The customer in import format as stored at the end of ``day`` (Europe/Oslo)."""
    number = _number(number)
    check_kept(session, instance_id, day)
    key = stored_key(session, instance_id, number)
    row = customer_row(session, instance_id, key)
    current = flatten(row.data) if row is not None else None
    state = state_at(session, instance_id, "customer", key, current=current, moment=end_of_day(day))
    if not state or state.get("Number") is None:
        raise NotFound("No customer with that number in this instance on that day.")
    return CustomerOut.model_validate(
        reveal(session, instance_id, unflatten(_customer_skeleton() | state))
    )
