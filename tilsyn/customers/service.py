"""Customers: read a body, upsert by number, read, erase."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from tilsyn.contract.bodies import read_model
from tilsyn.contract.diffs import diff_documents
from tilsyn.contract.errors import InvalidBody, InvalidRequest, NotFound
from tilsyn.contract.problems import Issue, Issues
from tilsyn.contract.time import utc_now
from tilsyn.core import search_index
from tilsyn.core.changelog import Actor, record_change, write_atomically, write_transaction
from tilsyn.core.db import Database
from tilsyn.core.models import Customer, CustomerPeriod
from tilsyn.core.outcome import Outcome, Result
from tilsyn.core.personal import (
    STORED_KEY,
    codec,
    forget,
    numbers_for,
    protect_many,
    stored_key,
)
from tilsyn.core.tenancy import scoped_select, scoped_update
from tilsyn.core.upsert import BatchConflict, insert_many_if_absent
from tilsyn.customers.schemas import CustomerIn
from tilsyn.history.service import erase_entity
from tilsyn.validation import codes, identifiers, postal


def parse_customer(data: dict[str, Any], *, today: date) -> tuple[CustomerIn | None, Issues]:
    """Structural errors and plausibility warnings of one customer body."""
    issues = Issues()
    customer = read_model(CustomerIn, data, issues)
    if customer is not None:
        check_customer(customer, issues, today=today)
        _check_lost_zero(data, issues, today=today)
    return customer, issues


def _check_lost_zero(data: dict[str, Any], issues: Issues, *, today: date) -> None:
    """A ``Number`` sent as a JSON number lost any leading zero on the way (a spreadsheet or a
    numeric column in the source system): say so when putting it back gives a personal number,
    since the number stored (as sent) will not match the one the plants refer to."""
    raw = next((v for k, v in data.items() if k.casefold() == "number"), None)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 10**10:
        return
    padded = f"{raw:011d}"
    if identifiers.is_personal_number(padded, today=today):
        issues.warn(
            "Number",
            "leading_zero_lost",
            "was sent as a JSON number; with its lost leading zero(s) put back it is a valid "
            "personal number. Send the number as a string; it is stored as sent.",
        )


def check_customer(customer: CustomerIn, issues: Issues, *, today: date) -> None:
    number = customer.Number.strip()
    if not number:
        issues.error("Number", "missing", "must not be empty")
    for finding in identifiers.customer_number_findings(number, today=today):
        issues.warn("Number", finding.code, finding.message)
    if customer.OrganizationNumber:
        org = customer.OrganizationNumber.replace(" ", "")
        if len(org) == 9 and org.isdigit():
            for finding in identifiers.organisasjonsnummer_findings(org):
                issues.warn("OrganizationNumber", finding.code, finding.message)
        else:
            issues.warn("OrganizationNumber", "format", "is not a 9-digit organisation number")
    address = customer.Address
    if address is not None:
        domestic = address.Country is None or address.Country.strip().upper() == "NO"
        if address.PostalCode is not None and domestic:
            for finding in codes.postal_code_findings(address.PostalCode):
                issues.warn("Address.PostalCode", finding.code, finding.message)
            _check_postal_register(address.PostalCode, address.AddressText, issues)
        if address.Country is not None:
            for finding in codes.country_findings(address.Country.strip()):
                issues.warn("Address.Country", finding.code, finding.message)
    if customer.Email:
        for finding in codes.email_findings(customer.Email):
            issues.warn("Email", finding.code, finding.message)
    if customer.Phone:
        for finding in codes.phone_findings(customer.Phone):
            issues.warn("Phone", finding.code, finding.message)
    if customer.BirthDate is not None and not date(1880, 1, 1) <= customer.BirthDate <= today:
        issues.warn("BirthDate", "implausible_date", "is in the future or before 1880")


_LAST_LINE_PLACE = re.compile(r"(\d{4})\s+(\S.*)")


def _check_postal_register(code: str, text: str | None, issues: Issues) -> None:
    """The register's warnings for the customer's postal code, and for the postal place on
    the address text's last line (``0150 OSLO``, as a Norwegian postal address ends)."""
    if not codes.is_postal_code(code):
        return
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    match = _LAST_LINE_PLACE.fullmatch(lines[-1]) if lines else None
    place = match.group(2) if match and match.group(1) == code else None
    fields = {"postalCode": "Address.PostalCode", "postalPlace": "Address.AddressText"}
    for name, finding in postal.postal_findings(code, place):
        issues.warn(fields[name], finding.code, finding.message)


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


@dataclass
class CustomerChange:
    """A checked customer body, ready to write; plain data, so that a bulk import can check
    the next chunk elsewhere while this one is written."""

    number: str
    document: dict[str, Any]
    issues: Issues


def parse_valid_customer(
    data: dict[str, Any], *, today: date, strict: bool = False, synthetic_ok: bool = False
) -> CustomerChange:
    """The checked customer; :class:`InvalidBody` when it must not be stored."""
    customer, issues = parse_customer(data, today=today)
    issues.apply_strictness(strict, synthetic_ok=synthetic_ok)
    if customer is None or issues.errors:
        raise InvalidBody(
            "The customer was not stored; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    document = customer_document(customer)
    return CustomerChange(document["Number"], document, issues)


def upsert_customer(
    session: Session,
    actor: Actor,
    data: dict[str, Any],
    *,
    today: date,
    strict: bool = False,
    synthetic_ok: bool = False,
) -> Outcome:
    change = parse_valid_customer(data, today=today, strict=strict, synthetic_ok=synthetic_ok)
    return write_customer(session, actor, change)


def write_customer(session: Session, actor: Actor, change: CustomerChange) -> Outcome:
    """A batch of one: the single upsert follows exactly the rules of a bulk import."""
    [result] = write_customers_atomically(session, actor, [change])
    return Outcome(result, change.document, change.issues.warnings)


def store_customer(database: Database, actor: Actor, change: CustomerChange) -> Outcome:
    """:func:`write_customer` as a transaction of its own, as the single upsert runs it: the
    transaction rolls back where the batch's savepoint would, so it needs none."""

    def write(session: Session) -> Outcome:
        [result] = write_customers(session, actor, [change])
        return Outcome(result, change.document, change.issues.warnings)

    return write_transaction(database, write, [change.issues])


def write_customers_atomically(
    session: Session, actor: Actor, changes: Sequence[CustomerChange]
) -> list[Result]:
    """:func:`write_customers` in a savepoint, tried again after a concurrent insert."""
    return write_atomically(session, lambda: write_customers(session, actor, changes))


_CUSTOMERS = cast(Table, Customer.__table__)
_UPDATE_CUSTOMER = (
    update(_CUSTOMERS)
    .where(_CUSTOMERS.c.id == bindparam("customer_id"))
    .values(data=bindparam("new_data"), updated_at=bindparam("new_updated_at"))
)


def write_customers(
    session: Session, actor: Actor, changes: Sequence[CustomerChange]
) -> list[Result]:
    """Apply checked customers (distinct numbers) in the current transaction: one locking
    read, one insert and one update for the batch. Raises :class:`BatchConflict` when another
    transaction created one of them meanwhile."""
    # Stored, and in history, under the stored key of the number (core/personal.py).
    keys = [stored_key(session, actor.instance_id, change.number) for change in changes]
    assert len(set(keys)) == len(keys), "a batch holds each customer once"
    stored = {
        row.number: row
        for row in session.execute(
            select(_CUSTOMERS.c.id, _CUSTOMERS.c.number, _CUSTOMERS.c.data)
            .where(_CUSTOMERS.c.instance_id == actor.instance_id, _CUSTOMERS.c.number.in_(keys))
            .order_by(_CUSTOMERS.c.number)
            .with_for_update()
        )
    }
    now = utc_now()
    results: list[Result] = []
    new_rows: list[dict[str, Any]] = []
    new_numbers: list[str] = []
    updates: list[dict[str, Any]] = []
    renamed: dict[int, search_index.Words] = {}
    for change, key in zip(changes, keys, strict=True):
        document = {**change.document, "Number": key}
        row = stored.get(key)
        if row is None:
            new_rows.append(
                {
                    "instance_id": actor.instance_id,
                    "number": key,
                    "data": document,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            new_numbers.append(change.number)
            results.append("created")
        elif row.data == document:
            results.append("unchanged")
        else:
            updates.append({"customer_id": row.id, "new_data": document, "new_updated_at": now})
            if search_index.customer_text_changed(row.data, document):
                renamed[row.id] = search_index.customer_words(document)
            record_change(
                session,
                actor,
                entity_type="customer",
                entity_key=key,
                operation="update",
                diff=diff_documents(row.data, document),
            )
            results.append("updated")
    if new_rows:
        protect_many(session, actor.instance_id, new_numbers)
        inserted = insert_many_if_absent(
            session, Customer, new_rows, key=["instance_id", "number"], returning="number"
        )
        if len(inserted) != len(new_rows):
            raise BatchConflict("another transaction created some of these customers")
        search_index.add_words(
            session,
            actor.instance_id,
            {inserted[row["number"]]: search_index.customer_words(row["data"]) for row in new_rows},
        )
        for new_row in new_rows:
            record_change(
                session,
                actor,
                entity_type="customer",
                entity_key=new_row["number"],
                operation="create",
                diff=diff_documents(None, new_row["data"]),
            )
    if updates:
        session.execute(_UPDATE_CUSTOMER, updates)
    if renamed:
        search_index.replace_words(session, actor.instance_id, (search_index.CUSTOMER,), renamed)
    return results


def _lock_customer(session: Session, instance_id: int, key: str) -> Customer | None:
    return session.scalar(
        scoped_select(Customer, instance_id).where(Customer.number == key).with_for_update()
    )


def existing_customers(session: Session, instance_id: int, keys: set[str]) -> set[str]:
    """Which of these stored keys (core/personal.py) are customers of the instance."""
    if not keys:
        return set()
    query = select(Customer.number).where(
        Customer.instance_id == instance_id, Customer.number.in_(sorted(keys))
    )
    return set(session.scalars(query))


def get_customer(session: Session, instance_id: int, number: str) -> dict[str, Any]:
    if "\x00" in number:  # from a URL; PostgreSQL cannot compare text holding NUL
        raise NotFound("No customer with that number in this instance.")
    number = number.strip()
    key = stored_key(session, instance_id, number)
    row = session.scalar(scoped_select(Customer, instance_id).where(Customer.number == key))
    if row is None:
        raise NotFound("No customer with that number in this instance.")
    return {**row.data, "Number": number}


def lookup_customers(
    session: Session, instance_id: int, numbers: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Many customers' views in one read, and the numbers this instance has no customer for."""
    wanted = list(dict.fromkeys(n.strip() for n in numbers if "\x00" not in n))
    keys = {stored_key(session, instance_id, number): number for number in wanted}
    if not keys:
        return [], []
    rows = session.scalars(
        scoped_select(Customer, instance_id).where(Customer.number.in_(list(keys)))
    )
    found = {keys[row.number]: {**row.data, "Number": keys[row.number]} for row in rows}
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
    row = None if key is None else _lock_customer(session, actor.instance_id, key)
    if row is None or key is None:
        raise NotFound("No customer with that number in this instance.")
    # Their name's words go with them: nothing may find the plants by it afterwards.
    search_index.drop_words(session, (search_index.CUSTOMER,), [row.id])
    session.delete(row)
    session.execute(
        scoped_update(CustomerPeriod, actor.instance_id)
        .where(CustomerPeriod.customer_number == key)
        .values(customer_number=None)
    )
    erase_entity(session, actor, entity_type="customer", entity_key=key, personal=key)
    forget(session, actor.instance_id, key)


MAX_KEYS_PAGE = 10_000


def list_customer_numbers(
    session: Session, instance_id: int, *, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One keyset page of the instance's customer numbers; ``next`` is the ``after`` of the
    following page, ``None`` on the last one.

    The pages follow the stored keys (core/personal.py), so the order is no order a reader
    can use, and ``next`` is an opaque cursor, sealed and bound to the instance and this
    listing: no stored key is shown, and nothing but such a cursor is taken as ``after``.
    """
    query = (
        scoped_select(Customer, instance_id)
        .with_only_columns(Customer.number)
        .order_by(Customer.number)
        .limit(limit + 1)
    )
    vault = codec(session)
    if after:
        cursor = vault.open_cursor(instance_id, _NUMBERS_LISTING, after)
        if cursor is None or not STORED_KEY.fullmatch(cursor):
            raise InvalidRequest(
                "`after` is not a cursor this listing handed out; start again without it.",
                errors=[Issue("after", "invalid_cursor", "is not a cursor of this listing")],
            )
        query = query.where(Customer.number > cursor)
    keys = list(session.scalars(query))
    numbers = numbers_for(session, instance_id, keys[:limit])
    items = [{"Number": numbers.get(key, key)} for key in keys[:limit]]
    if len(keys) <= limit:
        return items, None
    return items, vault.seal_cursor(instance_id, _NUMBERS_LISTING, keys[limit - 1])


_NUMBERS_LISTING = "customer-numbers"
