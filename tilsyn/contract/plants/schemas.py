"""The plant's wire format: the seed's camelCase names, matched case-insensitively."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from tilsyn.contract.hierarchy.schemas import (
    ConnectionPointIn,
    ConnectionPointOut,
    CoordinatesIn,
    LocationIn,
    LocationOut,
    NetStationIn,
    TransformerIn,
)
from tilsyn.contract.wire import (
    ConsumptionCode,
    Date,
    Int,
    MeteringPointId,
    PostalCode,
    RequiredInt,
    RequiredText,
    Text,
)

STATUSES = ("Spenningsatt", "Inaktivt", "Terminert")
STATUS_MISSPELLINGS = {
    "spennnigsatt": "Spenningsatt",
    "spenningssatt": "Spenningsatt",
    "spenningsat": "Spenningsatt",
    "spenningsett": "Spenningsatt",
    "inaktiv": "Inaktivt",
    "terminet": "Terminert",
    "terminiert": "Terminert",
}
"""Known misspellings, stored corrected with a warning (the seed's own example has one)."""
_KNOWN_STATUSES = {status.casefold() for status in STATUSES} | set(STATUS_MISSPELLINGS)


def _known_status(value: str) -> str:
    """An unknown status is a structural error, reported with the body's other errors."""
    if value.strip() and value.strip().casefold() not in _KNOWN_STATUSES:
        raise PydanticCustomError("invalid_status", f"must be one of {', '.join(STATUSES)}")
    return value


Status = Annotated[Text, AfterValidator(_known_status)]

SEED_PLANT_EXAMPLE: JsonDict = {
    "customerChangeFrom": "2020-01-01",
    "customerId": "1234567",
    "meteringPointId": "707057500026392734",
    "plantId": "123456",
    "searchCategory": "123456",
    "consumptionCode": 23,
    "industrialClassification": "55.102",
    "buildingCode": 114,
    "connectedDate": "1989-01-01",
    "status": "Spennnigsatt",
    "address": {
        "addressText": "Testveien 8",
        "postalCode": "0485",
        "floor": "1",
        "apartmentNumber": "1",
        "holdingNumber": 35,
        "subHoldingNumber": 108,
        "leaseNumber": 2,
        "sectionNumber": 5,
        "residentialNumber": "H0101",
    },
    "meter": {
        "meterNumber": "7359992893145468",
        "supplier": "Målerleverandør AS",
        "modell": "ML2784",
    },
    "Description": "New description",
    "externalPlantNumber": "ExternalId",
    "technicalData": {
        "mainCircuitBreakerCurrent": 230,
        "mainCircuitBreakerPhase": 3,
        "mainCircuitBreakerAmps": 80,
        "mainCircuitBreakerVoltage": 400,
        "overLoadAmps": 30,
        "overLoadPhase": 3,
        "shortCircuitProtectionAmps": 400,
        "shortCircuitProtectionPhase": 3,
        "IO": 0,
        "earthingSystem": "xxx",
        "connectionType": "xxx",
    },
    "builtByElCompanyId": 12345,
    "location": {"latitude": 59.911491, "longitude": 10.757933},
    "connectionPoint": {
        "name": "6293115",
        "address": {"addressText": "Averstadmoen 24", "postalCode": "2040"},
        "location": {"Longitude": 59.911491, "Latitude": 10.757933},
        "transformer": {
            "name": "TU2839-1",
            "address": {"addressText": "Gamlevn.79", "postalCode": "2040"},
            "location": {"Longitude": 59.911491, "Latitude": 10.757933},
            "netStation": {
                "name": "Gamlevn.79",
                "address": {"addressText": "Gamlevn.79", "postalCode": "2040"},
                "location": {"Longitude": 59.911491, "Latitude": 10.757933},
            },
        },
    },
}


class PlantAddressIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    addressText: Text | None = None
    postalCode: PostalCode | None = Field(None, description="4 digits; a number is zero-padded")
    postalPlace: Text | None = Field(None, description="Poststed; checked against the register")
    municipalityNumber: Text | None = Field(
        None, description="Kommunenummer; when absent, GET gives the postal code's"
    )
    floor: Text | None = None
    apartmentNumber: Text | None = Field(None, description="Not the bruksenhetsnummer")
    holdingNumber: Int | None = Field(None, description="Gårdsnummer (gnr)")
    subHoldingNumber: Int | None = Field(None, description="Bruksnummer (bnr)")
    leaseNumber: Int | None = Field(None, description="Festenummer (fnr)")
    sectionNumber: Int | None = Field(None, description="Seksjonsnummer (snr)")
    residentialNumber: Text | None = Field(None, description="Bruksenhetsnummer, e.g. H0101")


class MeterIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meterNumber: Text | None = None
    supplier: Text | None = Field(None, description="Meter manufacturer")
    modell: Text | None = Field(None, description="Meter model (the seed spells it 'modell')")


class TechnicalDataIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mainCircuitBreakerCurrent: Int | None = None
    mainCircuitBreakerPhase: Int | None = None
    mainCircuitBreakerAmps: Int | None = None
    mainCircuitBreakerVoltage: Int | None = None
    overLoadAmps: Int | None = None
    overLoadPhase: Int | None = None
    shortCircuitProtectionAmps: Int | None = None
    shortCircuitProtectionPhase: Int | None = None
    IO: Int | None = None
    earthingSystem: Text | None = None
    connectionType: Text | None = Field(None, description="Distribution system")


class AuditSpecificInfoIn(BaseModel):
    """Values sent here are explicit; the ones left out are derived by the instance's rules."""

    model_config = ConfigDict(extra="ignore")

    plantType: Text | None = None
    inspectionArea: Int | None = None
    riskCategoryGroup: Int | None = None
    inspectionRate: Int | None = Field(None, description="Inspection interval in years")


class PlantIn(BaseModel):
    """A plant upsert; the body replaces the plant's imported fields, but for those that
    docs/api.md names (connectedDate, builtByElCompanyId, extensions)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [SEED_PLANT_EXAMPLE]})

    meteringPointId: MeteringPointId
    customerChangeFrom: Date | None = Field(
        None, description="Date the customer change applies from (default: today, Europe/Oslo)"
    )
    customerId: Annotated[Text, Field(max_length=64)] | None = Field(
        None, description="Customer number; need not exist yet"
    )
    plantId: Text | None = None
    searchCategory: Text | None = None
    # The lengths are those of the columns the values are also kept in.
    consumptionCode: ConsumptionCode = Field(
        max_length=20, description="Elhub forbrukskode: 1, 1a, 2–29, 29a, 30–36"
    )
    industrialClassification: RequiredText = Field(
        max_length=40, description="Næringskode (SN2007), e.g. 55.102"
    )
    buildingCode: Int | None = Field(None, description="SSB building type code")
    connectedDate: Date | None = Field(None, description="Cannot be cleared or moved later")
    status: Status | None = Field(None, description="Spenningsatt, Inaktivt or Terminert")
    address: PlantAddressIn | None = None
    meter: MeterIn | None = None
    description: Text | None = None
    externalPlantNumber: Text | None = None
    technicalData: TechnicalDataIn | None = None
    builtByElCompanyId: Int | None = Field(None, description="Elvirksomhets-ID; kept when absent")
    location: LocationIn | None = None
    coordinates: CoordinatesIn | None = Field(None, description="Legacy form of location")
    auditSpecificInfo: AuditSpecificInfoIn | None = None
    connectionPoint: ConnectionPointIn | None = None
    transformer: TransformerIn | None = Field(None, description="Flat form: the connection point's")
    netStation: NetStationIn | None = Field(None, description="Flat form: the transformer's")


class BuiltByIn(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"meteringPointId": "707057500026392739", "builtByElCompanyId": 12345},
                {
                    "meteringPointId": "707057500026392739",
                    "builtByElCompanyId": 12345,
                    "extensionName": "Kjøkken",
                    "extensionYearBuilt": 2019,
                },
            ]
        },
    )

    meteringPointId: MeteringPointId
    builtByElCompanyId: RequiredInt = Field(description="Elvirksomhets-ID from DSB's register")
    extensionName: Annotated[Text, Field(max_length=200)] | None = None
    extensionYearBuilt: Int | None = None


class PlantAddressOut(BaseModel):
    addressText: str | None
    postalCode: str | None
    postalPlace: str | None
    municipalityNumber: str | None = Field(
        description="As sent, else the postal code's in Bring's postal code register"
    )
    floor: str | None
    apartmentNumber: str | None
    holdingNumber: int | None
    subHoldingNumber: int | None
    leaseNumber: int | None
    sectionNumber: int | None
    residentialNumber: str | None


class MeterOut(BaseModel):
    meterNumber: str | None
    supplier: str | None
    modell: str | None


class TechnicalDataOut(BaseModel):
    mainCircuitBreakerCurrent: int | None
    mainCircuitBreakerPhase: int | None
    mainCircuitBreakerAmps: int | None
    mainCircuitBreakerVoltage: int | None
    overLoadAmps: int | None
    overLoadPhase: int | None
    shortCircuitProtectionAmps: int | None
    shortCircuitProtectionPhase: int | None
    IO: int | None
    earthingSystem: str | None
    connectionType: str | None


Source = Literal["explicit"] | str | None


class AuditSourceOut(BaseModel):
    plantType: str | None = Field(description="'explicit', 'rule:<id>' or null")
    inspectionArea: str | None
    riskCategoryGroup: str | None
    inspectionRate: str | None


class AuditSpecificInfoOut(BaseModel):
    plantType: str | None
    inspectionArea: int | None
    riskCategoryGroup: int | None
    inspectionRate: int | None
    source: AuditSourceOut


class ExtensionOut(BaseModel):
    extensionName: str
    extensionYearBuilt: int | None
    builtByElCompanyId: int | None


class PlantOut(BaseModel):
    meteringPointId: str
    customerId: str | None
    customerChangeFrom: str | None
    plantId: str | None
    searchCategory: str | None
    consumptionCode: int | str
    industrialClassification: str
    buildingCode: int | None
    connectedDate: str | None
    status: str | None
    address: PlantAddressOut
    meter: MeterOut
    description: str | None
    externalPlantNumber: str | None
    technicalData: TechnicalDataOut
    builtByElCompanyId: int | None
    location: LocationOut
    auditSpecificInfo: AuditSpecificInfoOut
    connectionPoint: ConnectionPointOut | None
    extensions: list[ExtensionOut]


class PlantLookupIn(BaseModel):
    """Plants to read in one request (at most 1,000)."""

    model_config = ConfigDict(extra="ignore")

    meteringPointIds: list[Annotated[Text, Field(max_length=64)]] = Field(max_length=1000)


class PlantLookupOut(BaseModel):
    items: list[PlantOut]
    missing: list[str] = Field(description="Ids sent that this instance has no plant for")


__all__ = ["STATUSES", "NetStationIn", "PlantIn", "PlantLookupIn", "TransformerIn"]
