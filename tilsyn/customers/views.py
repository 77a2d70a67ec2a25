"""The customer as answered (``CustomerOut``): the stored document under the number as sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


class CustomerAddressOut(BaseModel):
    AddressText: str | None
    PostalCode: str | None
    ForeignCity: str | None
    Country: str | None


class CustomerOut(BaseModel):
    Number: str
    FirstName: str | None
    LastName: str | None
    Address: CustomerAddressOut
    Email: str | None
    Phone: str | None
    BirthDate: str | None = Field(description="YYYY-MM-DD")
    OrganizationNumber: str | None
    AcceptElectronicCommunication: bool | None


class CustomerKeyOut(BaseModel):
    Number: str


class CustomerKeysOut(BaseModel):
    items: list[CustomerKeyOut]
    next: str | None


class CustomerLookupOut(BaseModel):
    items: list[CustomerOut]
    missing: list[str] = Field(description="Numbers sent that this instance has no customer for")


def customer_view(document: Mapping[str, Any], number: str) -> CustomerOut:
    """The stored document (its ``Number`` a stored key, core/personal.py) as answered: with
    the number the caller knows. Validated once, here; the routes return the model as is."""
    return CustomerOut.model_validate({**document, "Number": number})
