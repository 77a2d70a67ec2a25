"""Wire shapes of the read side's listings (documentation: the routes answer dicts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tilsyn.contract.plants.schemas import PlantAddressOut


class PlantItemOut(BaseModel):
    meteringPointId: str
    address: PlantAddressOut | None = Field(description="The plant's address as stored")
    customerName: str | None = Field(
        description="First and last name of the customer in force today; null: none"
    )
    connectionPoint: str | None = Field(description="Name of its connection point")
    status: str | None
    dueDate: str | None = Field(description="When its next inspection is due, YYYY-MM-DD")


class PlantPageOut(BaseModel):
    items: list[PlantItemOut] = Field(description="In meteringPointId order")
    next: str | None = Field(description="`after` of the next page; null on the last")
