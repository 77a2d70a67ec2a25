"""A customer body -> a checked change: structural errors and plausibility warnings.

The sync client's dry run calls :func:`parse_customer` too, so it warns exactly as the
server would; nothing here touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from tilsyn.contract.bodies import read_model
from tilsyn.contract.customers.merge import customer_document
from tilsyn.contract.customers.schemas import CustomerAddressIn, CustomerIn
from tilsyn.contract.errors import InvalidBody
from tilsyn.contract.problems import Issues
from tilsyn.validation import codes, identifiers, postal
from tilsyn.validation.findings import Finding


@dataclass
class CustomerChange:
    """A checked customer body, ready to write; plain data, so that a bulk import can check
    the next chunk elsewhere while this one is written."""

    number: str
    document: dict[str, Any]
    issues: Issues


def parse_customer(data: dict[str, Any], *, today: date) -> tuple[CustomerIn | None, Issues]:
    """Structural errors and plausibility warnings of one customer body."""
    issues = Issues()
    customer = read_model(CustomerIn, data, issues)
    if customer is not None:
        check_customer(customer, issues, today=today)
        _check_lost_zero(data, issues, today=today)
    return customer, issues


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


def _warn_all(issues: Issues, path: str, findings: list[Finding]) -> None:
    for finding in findings:
        issues.warn(path, finding.code, finding.message)


def check_customer(customer: CustomerIn, issues: Issues, *, today: date) -> None:
    """Every check of a read customer, field by field, in the order the answer lists them."""
    _check_number(customer.Number, issues, today=today)
    _check_organisation_number(customer.OrganizationNumber, issues)
    if customer.Address is not None:
        _check_address(customer.Address, issues)
    _check_contact(customer, issues)
    if customer.BirthDate is not None and not date(1880, 1, 1) <= customer.BirthDate <= today:
        issues.warn("BirthDate", "implausible_date", "is in the future or before 1880")


def _check_number(number: str, issues: Issues, *, today: date) -> None:
    number = number.strip()
    if not number:
        issues.error("Number", "missing", "must not be empty")
    _warn_all(issues, "Number", identifiers.customer_number_findings(number, today=today))


def _check_organisation_number(value: str | None, issues: Issues) -> None:
    if not value:
        return
    org = value.replace(" ", "")
    if len(org) == 9 and org.isdigit():
        _warn_all(issues, "OrganizationNumber", identifiers.organisasjonsnummer_findings(org))
    else:
        issues.warn("OrganizationNumber", "format", "is not a 9-digit organisation number")


def _check_address(address: CustomerAddressIn, issues: Issues) -> None:
    domestic = address.Country is None or address.Country.strip().upper() == "NO"
    if address.PostalCode is not None and domestic:
        _warn_all(issues, "Address.PostalCode", codes.postal_code_findings(address.PostalCode))
        _check_postal_register(address.PostalCode, address.AddressText, issues)
    if address.Country is not None:
        _warn_all(issues, "Address.Country", codes.country_findings(address.Country.strip()))


def _check_contact(customer: CustomerIn, issues: Issues) -> None:
    if customer.Email:
        _warn_all(issues, "Email", codes.email_findings(customer.Email))
    if customer.Phone:
        _warn_all(issues, "Phone", codes.phone_findings(customer.Phone))


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
