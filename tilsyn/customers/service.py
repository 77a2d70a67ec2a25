"""Customers: read a body, upsert by number, read, erase."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from tilsyn.core.bodies import read_model
from tilsyn.core.errors import InvalidBody, NotFound
from tilsyn.core.models import Change, Customer, CustomerPeriod
from tilsyn.core.outcome import Outcome, Result
from tilsyn.core.problems import Issues
from tilsyn.core.tenancy import scoped_delete, scoped_select, scoped_update
from tilsyn.core.time import utc_now
from tilsyn.core.upsert import insert_if_absent
from tilsyn.customers.schemas import CustomerIn
from tilsyn.history.service import Actor, diff_documents, record_change
from tilsyn.validation import codes, identifiers

ERASED = "[erased]"


def parse_customer(data: dict[str, Any], *, today: date) -> tuple[CustomerIn | None, Issues]:
    """Structural errors and plausibility warnings of one customer body."""
    issues = Issues()
    customer = read_model(CustomerIn, data, issues)
    if customer is not None:
        check_customer(customer, issues, today=today)
    return customer, issues


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


def upsert_customer(
    session: Session,
    actor: Actor,
    data: dict[str, Any],
    *,
    today: date,
    strict: bool = False,
    synthetic_ok: bool = False,
) -> Outcome:
    customer, issues = parse_customer(data, today=today)
    issues.apply_strictness(strict, synthetic_ok=synthetic_ok)
    if customer is None or issues.errors:
        raise InvalidBody(
            "The customer was not stored; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    document = customer_document(customer)
    number = document["Number"]
    result: Result = "updated"
    row = _lock_customer(session, actor.instance_id, number)
    if row is None:
        now = utc_now()
        new_id = insert_if_absent(
            session,
            Customer,
            {
                "instance_id": actor.instance_id,
                "number": number,
                "data": document,
                "created_at": now,
                "updated_at": now,
            },
            key=["instance_id", "number"],
        )
        if new_id is not None:
            record_change(
                session,
                actor,
                entity_type="customer",
                entity_key=number,
                operation="create",
                diff=diff_documents(None, document),
            )
            return Outcome("created", document, issues.warnings)
        row = _lock_customer(session, actor.instance_id, number)
        assert row is not None, "a conflicting insert must leave a row"
    if row.data == document:
        return Outcome("unchanged", document, issues.warnings)
    diff = diff_documents(row.data, document)
    row.data = document
    row.updated_at = utc_now()
    session.flush()
    record_change(
        session, actor, entity_type="customer", entity_key=number, operation="update", diff=diff
    )
    return Outcome(result, document, issues.warnings)


def _lock_customer(session: Session, instance_id: int, number: str) -> Customer | None:
    return session.scalar(
        scoped_select(Customer, instance_id).where(Customer.number == number).with_for_update()
    )


def customer_exists(session: Session, instance_id: int, number: str) -> bool:
    query = select(Customer.id).where(
        Customer.instance_id == instance_id, Customer.number == number
    )
    return session.scalar(query) is not None


def get_customer(session: Session, instance_id: int, number: str) -> dict[str, Any]:
    if "\x00" in number:  # from a URL; PostgreSQL cannot compare text holding NUL
        raise NotFound("No customer with that number in this instance.")
    row = session.scalar(
        scoped_select(Customer, instance_id).where(Customer.number == number.strip())
    )
    if row is None:
        raise NotFound("No customer with that number in this instance.")
    return row.data


def delete_customer(session: Session, actor: Actor, number: str) -> None:
    """Erase a customer for good (GDPR): the row, its number on plants, and its history."""
    number = number.strip()
    row = None if "\x00" in number else _lock_customer(session, actor.instance_id, number)
    if row is None:
        raise NotFound("No customer with that number in this instance.")
    session.delete(row)
    session.execute(
        scoped_update(CustomerPeriod, actor.instance_id)
        .where(CustomerPeriod.customer_number == number)
        .values(customer_number=None)
    )
    erase_from_history(session, actor.instance_id, number)
    record_change(
        session, actor, entity_type="customer", entity_key=ERASED, operation="erase", diff=None
    )
    session.flush()


def erase_from_history(session: Session, instance_id: int, number: str) -> None:
    """Remove a customer's data from every history record that holds it."""
    session.execute(
        scoped_delete(Change, instance_id).where(
            Change.entity_type == "customer", Change.entity_key == number
        )
    )
    mentions = session.scalars(
        scoped_select(Change, instance_id).where(cast(Change.diff, String).contains(number))
    )
    for change in mentions:
        change.diff = _scrub(change.diff, number)


def _scrub(value: Any, number: str) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, number) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, number) for v in value]
    if isinstance(value, str) and number in value:
        return ERASED
    return value
