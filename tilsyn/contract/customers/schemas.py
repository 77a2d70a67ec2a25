"""The customer's wire format: the seed's PascalCase names, matched case-insensitively."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from tilsyn.contract.wire import Bool, Date, Key, Text
from tilsyn.contract.wire import PostalCode as PostalCodeText

SEED_CUSTOMER_EXAMPLE: JsonDict = {
    "Number": "22097312401",
    "FirstName": "Ola",
    "LastName": "Normann",
    "Address": {
        "AddressText": "Testveien 24",
        "PostalCode": "0484",
        "ForeignCity": "Stockholm",
        "Country": "SE",
    },
    "Email": "ola.normann@test.com",
    "Phone": "40506070",
    "BirthDate": "1982-01-01",
    "OrganizationNumber": "951123123",
    "AcceptElectronicCommunication": True,
}


class CustomerAddressIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    AddressText: Text | None = Field(None, description="Postal address; lines split by \\n")
    PostalCode: PostalCodeText | None = Field(None, description="Norwegian postal code, 4 digits")
    ForeignCity: Text | None = Field(None, description="City of a foreign address")
    Country: Text | None = Field(None, description="ISO 3166-1 alpha-2 country code")


class CustomerIn(BaseModel):
    """A customer upsert. Absent or null fields are cleared (the body replaces the customer)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [SEED_CUSTOMER_EXAMPLE]},
    )

    Number: Key = Field(
        max_length=64,  # customers.number
        description="Key: 11-digit personal number, 9-digit organisation number, or an agreed id",
    )
    FirstName: Text | None = None
    LastName: Text | None = Field(None, description="Last name, or the company name")
    Address: CustomerAddressIn | None = None
    Email: Text | None = None
    Phone: Text | None = None
    BirthDate: Date | None = None
    OrganizationNumber: Text | None = None
    AcceptElectronicCommunication: Bool | None = None


class CustomerLookupIn(BaseModel):
    """Customers to read in one request (at most 1,000)."""

    model_config = ConfigDict(extra="ignore")

    Numbers: list[Annotated[Text, Field(max_length=64)]] = Field(max_length=1000)
