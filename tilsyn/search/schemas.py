"""Wire shapes of the read side's listings (search/service.py's ``plant_items`` builds the
items from their rows; the routes answer them as built)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PlantItemAddressOut(BaseModel):
    """A listed plant's address as stored (the plant's GET shows it whole): every field may
    be missing from a stored document, and is then null, so a listing never fails on one.
    The fields in the order a stored address holds them."""

    addressText: str | None = None
    postalCode: str | None = None
    floor: str | None = None
    apartmentNumber: str | None = None
    holdingNumber: int | None = None
    subHoldingNumber: int | None = None
    leaseNumber: int | None = None
    sectionNumber: int | None = None
    residentialNumber: str | None = None
    postalPlace: str | None = None
    municipalityNumber: str | None = Field(
        None, description="As sent, else the postal code's in Bring's postal code register"
    )


class PlantItemOut(BaseModel):
    meteringPointId: str
    address: PlantItemAddressOut | None = Field(description="The plant's address as stored")
    customerName: str | None = Field(
        description="First and last name of the customer in force today; null: none"
    )
    connectionPoint: str | None = Field(description="Name of its connection point")
    status: str | None
    dueDate: str | None = Field(description="When its next inspection is due, YYYY-MM-DD")


class PlantPageOut(BaseModel):
    items: list[PlantItemOut] = Field(description="In meteringPointId order")
    next: str | None = Field(description="`after` of the next page; null on the last")
