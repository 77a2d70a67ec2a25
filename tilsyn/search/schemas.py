"""Wire shapes of the read side's listings (documentation: the routes answer dicts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tilsyn.hierarchy.schemas import ElementAddressOut, LocationOut
from tilsyn.plants.schemas import PlantAddressOut


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


class ElementCountsOut(BaseModel):
    name: str
    address: ElementAddressOut
    location: LocationOut


class NetStationItemOut(ElementCountsOut):
    transformers: int = Field(description="Transformers under it")
    connectionPoints: int = Field(description="Connection points under its transformers")
    plants: int = Field(description="Plants connected under it")


class NetStationPageOut(BaseModel):
    items: list[NetStationItemOut] = Field(description="By name")
    next: str | None = Field(description="`after` of the next page; null on the last")


class ConnectionPointNodeOut(ElementCountsOut):
    plants: int


class TransformerNodeOut(ElementCountsOut):
    plants: int
    connectionPoints: list[ConnectionPointNodeOut] = Field(description="By name")


class NetStationTreeOut(ElementCountsOut):
    transformers: list[TransformerNodeOut] = Field(description="By name")
    connectionPoints: int
    plants: int
