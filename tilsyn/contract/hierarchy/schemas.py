"""Wire format of grid hierarchy elements and of locations (all three historical forms)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tilsyn.contract.wire import Float, Key, Latitude, Longitude, PostalCode, Text


class CoordinatesIn(BaseModel):
    """``{latitude, longitude}`` or the legacy ``{lat, long}`` (change note 4/4/22)."""

    model_config = ConfigDict(extra="ignore")

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    lat: Latitude | None = Field(None, description="Legacy spelling of latitude")
    long: Longitude | None = Field(None, description="Legacy spelling of longitude")


class LocationIn(BaseModel):
    """WGS84 position; ``{"coordinates": {...}}`` inside it is accepted too."""

    model_config = ConfigDict(extra="ignore")

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    coordinates: CoordinatesIn | None = None


class ElementAddressIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    addressText: Text | None = None
    postalCode: Annotated[PostalCode, Field(max_length=20)] | None = None


class NetStationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Key = Field(max_length=200, description="Key of the net station within the instance")
    address: ElementAddressIn | None = None
    location: LocationIn | None = None
    coordinates: CoordinatesIn | None = Field(None, description="Legacy form of location")


class TransformerIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Key = Field(max_length=200, description="Key of the transformer within the instance")
    address: ElementAddressIn | None = None
    location: LocationIn | None = None
    coordinates: CoordinatesIn | None = Field(None, description="Legacy form of location")
    netStation: NetStationIn | None = None


class ConnectionPointIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Key = Field(max_length=200, description="Key of the connection point within the instance")
    address: ElementAddressIn | None = None
    location: LocationIn | None = None
    coordinates: CoordinatesIn | None = Field(None, description="Legacy form of location")
    transformer: TransformerIn | None = None


class LocationOut(BaseModel):
    latitude: float | None
    longitude: float | None


class ElementAddressOut(BaseModel):
    addressText: str | None
    postalCode: str | None


class NetStationOut(BaseModel):
    name: str
    address: ElementAddressOut
    location: LocationOut


class TransformerOut(NetStationOut):
    netStation: NetStationOut | None


class ConnectionPointOut(NetStationOut):
    transformer: TransformerOut | None


# Grid browsing (hierarchy/browse.py builds these).


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


__all__ = [
    "ConnectionPointIn",
    "ConnectionPointOut",
    "CoordinatesIn",
    "ElementAddressIn",
    "Float",
    "LocationIn",
    "LocationOut",
    "NetStationIn",
    "TransformerIn",
]
