"""Stored customer + change -> what to write and what history records: pure, no I/O.

A customer body replaces the stored customer whole (absent fields are cleared), so the merge
is a comparison: the new document, the result and the diff history records. The sync
client's dry run builds the same document, so its prediction is the server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tilsyn.contract.customers.schemas import CustomerIn
from tilsyn.contract.diffs import diff_documents
from tilsyn.contract.problems import Issue

MergeResult = Literal["created", "updated", "unchanged"]


def customer_document(customer: CustomerIn) -> dict[str, Any]:
    """The stored and returned form: every field present, null when empty."""
    address = customer.Address
    return {
        "Number": customer.Number.strip(),
        "FirstName": customer.FirstName,
        "LastName": customer.LastName,
        "Address": {
            "AddressText": address.AddressText if address else None,
            "PostalCode": address.PostalCode if address else None,
            "ForeignCity": address.ForeignCity if address else None,
            "Country": address.Country.strip().upper() if address and address.Country else None,
        },
        "Email": customer.Email,
        "Phone": customer.Phone,
        "BirthDate": customer.BirthDate.isoformat() if customer.BirthDate else None,
        "OrganizationNumber": customer.OrganizationNumber,
        "AcceptElectronicCommunication": customer.AcceptElectronicCommunication,
    }


@dataclass(frozen=True, slots=True)
class CustomerMerge:
    """What an upsert does to one customer: ``document`` is what to store (its ``Number`` the
    stored key), ``diff`` what history records (empty when unchanged)."""

    result: MergeResult
    document: dict[str, Any]
    diff: dict[str, Any]
    warnings: list[Issue] = field(default_factory=list)


def merge_customer(
    stored: Mapping[str, Any] | None,
    document: Mapping[str, Any],
    *,
    key: str,
    warnings: list[Issue] | None = None,
) -> CustomerMerge:
    """The change's ``document`` onto the ``stored`` one (None: no such customer yet), the
    number stored under ``key`` (core/personal.py). Warnings pass through: a customer's merge
    finds none of its own."""
    new = {**document, "Number": key}
    kept = list(warnings or [])
    if stored is None:
        return CustomerMerge("created", new, diff_documents(None, new), kept)
    if dict(stored) == new:
        return CustomerMerge("unchanged", new, {}, kept)
    return CustomerMerge("updated", new, diff_documents(dict(stored), new), kept)
