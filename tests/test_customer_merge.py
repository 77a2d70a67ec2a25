"""The customer merge is pure: tested directly, without a database or HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tilsyn.contract.customers.merge import customer_document, merge_customer
from tilsyn.contract.customers.parse import parse_customer, parse_valid_customer
from tilsyn.contract.customers.schemas import SEED_CUSTOMER_EXAMPLE, CustomerIn
from tilsyn.contract.diffs import flatten

TODAY = date(2026, 6, 1)
KEY = "pn1:" + "A" * 43

_text = st.none() | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
customers = st.builds(
    CustomerIn,
    Number=st.from_regex(r"[0-9A-Za-z-]{1,20}", fullmatch=True),
    FirstName=_text,
    LastName=_text,
    Email=_text,
    Phone=_text,
    BirthDate=st.none() | st.dates(),
    OrganizationNumber=_text,
    AcceptElectronicCommunication=st.none() | st.booleans(),
)


@given(customers)
def test_merging_a_change_onto_its_own_result_changes_nothing(customer: CustomerIn) -> None:
    document = customer_document(customer)
    created = merge_customer(None, document, key=KEY)
    assert created.result == "created"
    assert created.document["Number"] == KEY
    again = merge_customer(created.document, document, key=KEY)
    assert again.result == "unchanged"
    assert again.diff == {}
    assert again.document == created.document


@given(customers, customers)
def test_the_diff_names_exactly_the_fields_that_differ(old: CustomerIn, new: CustomerIn) -> None:
    stored = merge_customer(None, customer_document(old), key=KEY).document
    merged = merge_customer(stored, customer_document(new), key=KEY)
    before, after = flatten(stored), flatten(merged.document)
    changed = {path for path in before.keys() | after.keys() if before[path] != after[path]}
    assert set(merged.diff) == changed
    assert merged.result == ("updated" if changed else "unchanged")
    for path, (was, now) in merged.diff.items():
        assert (was, now) == (before[path], after[path])


def test_a_created_customer_records_every_field_it_has() -> None:
    document = customer_document(CustomerIn.model_validate(SEED_CUSTOMER_EXAMPLE))
    merged = merge_customer(None, document, key=KEY)
    assert merged.diff["Number"] == [None, KEY]
    assert merged.diff["Address.Country"] == [None, "SE"]


def test_warnings_pass_through_the_merge() -> None:
    change = parse_valid_customer({"Number": "4711", "Email": "not an address"}, today=TODAY)
    assert change.issues.warnings
    merged = merge_customer(None, change.document, key=KEY, warnings=change.issues.warnings)
    assert merged.warnings == change.issues.warnings


def test_parse_keeps_the_order_of_the_checks() -> None:
    body: dict[str, Any] = {
        "Number": "12345678901",
        "OrganizationNumber": "12",
        "Address": {"PostalCode": "12", "Country": "XX"},
        "Email": "nope",
        "Phone": "x",
        "BirthDate": "1800-01-01",
    }
    _, issues = parse_customer(body, today=TODAY)
    fields = [w.field for w in issues.warnings]
    assert fields == sorted(fields, key=_ORDER.index)


_ORDER = [
    "Number",
    "OrganizationNumber",
    "Address.PostalCode",
    "Address.AddressText",
    "Address.Country",
    "Email",
    "Phone",
    "BirthDate",
]
