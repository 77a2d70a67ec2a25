"""Stored plant + change → the document to store, its diff and warnings: pure, no I/O.

The body replaces the plant's imported fields, but for those docs/api.md names:
``connectedDate`` can move earlier but is never cleared or moved later, and
``builtByElCompanyId`` is kept when absent. The server's upsert and the sync client's dry run
both merge with these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from tilsyn.contract.diffs import diff_documents
from tilsyn.contract.plants.schemas import PlantIn
from tilsyn.contract.problems import Issue
from tilsyn.validation import postal

AUDIT_FIELDS = ("plantType", "inspectionArea", "riskCategoryGroup", "inspectionRate")
_ADDRESS_FIELDS = (
    "addressText",
    "postalCode",
    "floor",
    "apartmentNumber",
    "holdingNumber",
    "subHoldingNumber",
    "leaseNumber",
    "sectionNumber",
)
_TECHNICAL_FIELDS = (
    "mainCircuitBreakerCurrent",
    "mainCircuitBreakerPhase",
    "mainCircuitBreakerAmps",
    "mainCircuitBreakerVoltage",
    "overLoadAmps",
    "overLoadPhase",
    "shortCircuitProtectionAmps",
    "shortCircuitProtectionPhase",
    "IO",
    "earthingSystem",
    "connectionType",
)


class PlantSent(Protocol):
    """What merging reads of a parsed change (contract/plants/parse.py's PlantChange)."""

    @property
    def document(self) -> dict[str, Any]: ...
    @property
    def connected_date(self) -> date | None: ...


@dataclass(frozen=True, slots=True)
class ConnectionPointRef:
    """A plant's connection point: its id, and its name as history shows it."""

    id: int
    name: str | None


@dataclass(frozen=True, slots=True)
class StoredPlant:
    """What merging reads of a stored plant."""

    data: dict[str, Any]
    connected_date: date | None
    built_by_el_company_id: int | None
    connection_point: ConnectionPointRef | None


@dataclass(frozen=True, slots=True)
class PlantMerge:
    """The document to store, what changed (history's diff) and the warnings of merging."""

    document: dict[str, Any]
    diff: dict[str, Any]
    warnings: tuple[Issue, ...]


def merge_plant(
    stored: StoredPlant | None,
    change: PlantSent,
    *,
    connection_point: ConnectionPointRef | None,
) -> PlantMerge:
    """The change applied to the stored plant (None: a new one); ``connection_point`` is the
    one the change's chain resolved to (None: the plant has none)."""
    document, warnings = merged_document(
        change,
        connected_date=stored.connected_date if stored else None,
        built_by=stored.built_by_el_company_id if stored else None,
    )
    diff = diff_documents(stored.data if stored else None, document)
    before = stored.connection_point if stored else None
    if (before.id if before else None) != (connection_point.id if connection_point else None):
        diff["connectionPoint"] = [
            before.name if before else None,
            connection_point.name if connection_point else None,
        ]
    return PlantMerge(document, diff, warnings)


def merged_document(
    change: PlantSent, *, connected_date: date | None, built_by: int | None
) -> tuple[dict[str, Any], tuple[Issue, ...]]:
    """The change's document with the stored fields it cannot clear kept."""
    document = dict(change.document)
    document["connectedDate"], warnings = protected_connected_date(
        connected_date, change.connected_date
    )
    if document["builtByElCompanyId"] is None:
        document["builtByElCompanyId"] = built_by
    return document, warnings


def protected_connected_date(
    stored: date | None, sent: date | None
) -> tuple[str | None, tuple[Issue, ...]]:
    """Once set, connectedDate can move earlier but is never cleared or moved later."""
    if stored is None:
        return (sent.isoformat() if sent else None), ()
    if sent is None or sent <= stored:
        return (sent or stored).isoformat(), ()
    kept = Issue(
        "connectedDate",
        "connected_date_kept",
        f"cannot move to a later date; the stored date {stored.isoformat()} was kept",
        plausibility=False,
    )
    return stored.isoformat(), (kept,)


def extension_label(name: str, year: int | None) -> str:
    """How history names an extension: ``extensions[name|year]``."""
    return f"extensions[{name}|{year if year is not None else ''}]"


def extension_key(name: str, year: int | None) -> str:
    """An extension's key: unique per plant, name and year."""
    return f"{name}\x1f{year if year is not None else ''}"


def consumption_code_out(code: str) -> int | str:
    """A consumption code as the seed sends it: a number when it is one (the dry run
    compares the output shape with the GET's)."""
    return int(code) if code.isdigit() else code


def address_view(stored: dict[str, Any]) -> dict[str, Any]:
    """A plant address as GET shows it: ``postalPlace`` and ``municipalityNumber`` as sent;
    a municipality number not sent is the postal code's in the register in use, derived at
    read time so that the stored document stays what was sent (``unchanged`` stays exact)."""
    view = dict(stored)
    view.setdefault("postalPlace", None)
    if not view.get("municipalityNumber"):
        register = postal.current_register()
        view["municipalityNumber"] = register.municipality_number(view.get("postalCode"))
    return view


def plant_document(
    body: PlantIn, *, status: str | None, position: tuple[float, float] | None
) -> dict[str, Any]:
    """The imported fields as stored (hierarchy and customer live in their own tables)."""
    meter = body.meter
    tech = body.technicalData
    audit = body.auditSpecificInfo
    return {
        "plantId": body.plantId,
        "searchCategory": body.searchCategory,
        "consumptionCode": body.consumptionCode,
        "industrialClassification": body.industrialClassification.strip(),
        "buildingCode": body.buildingCode,
        "connectedDate": None,
        "status": status,
        "address": _address_document(body),
        "meter": {
            "meterNumber": meter.meterNumber if meter else None,
            "supplier": meter.supplier if meter else None,
            "modell": meter.modell if meter else None,
        },
        "description": body.description,
        "externalPlantNumber": body.externalPlantNumber,
        "technicalData": {
            name: getattr(tech, name) if tech else None for name in _TECHNICAL_FIELDS
        },
        "builtByElCompanyId": body.builtByElCompanyId,
        "location": {
            "latitude": position[0] if position else None,
            "longitude": position[1] if position else None,
        },
        "auditSpecificInfo": {
            name: getattr(audit, name) if audit else None for name in AUDIT_FIELDS
        },
    }


def _address_document(body: PlantIn) -> dict[str, Any]:
    address = body.address
    residential = address.residentialNumber if address else None
    return (
        {name: getattr(address, name) if address else None for name in _ADDRESS_FIELDS}
        | {"residentialNumber": residential.strip().upper() if residential else None}
        # Only when sent: documents stored before these fields existed stay equal.
        | {
            name: value.strip()
            for name in ("postalPlace", "municipalityNumber")
            if address and (value := getattr(address, name)) and value.strip()
        }
    )
