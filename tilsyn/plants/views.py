"""A plant as the API answers it (``PlantOut``): the import format, every field present.

The view builds the model itself, validated once as it is built; routes return it and FastAPI
sends it as the declared ``response_model`` without validating it again."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from tilsyn.contract.plants.merge import address_view, consumption_code_out
from tilsyn.contract.plants.schemas import ExtensionOut, PlantOut
from tilsyn.core.personal import reveal_key
from tilsyn.plants import repository
from tilsyn.plants.periods import Period, in_force
from tilsyn.plants.repository import Extension, PlantFields
from tilsyn.rules.service import RuleIndex, audit_info, derived_audit


class PlantKeyOut(BaseModel):
    meteringPointId: str
    status: str | None


class PlantKeysOut(BaseModel):
    items: list[PlantKeyOut]
    next: str | None


def periods_wire(periods: list[Period]) -> list[dict[str, Any]]:
    """Customer periods as history names them."""
    return [{"customerId": p.customer, "from": p.valid_from.isoformat()} for p in periods]


def extension_view(extension: Extension) -> ExtensionOut:
    return ExtensionOut(
        extensionName=extension.name,
        extensionYearBuilt=extension.year,
        builtByElCompanyId=extension.company,
    )


def plant_view(
    session: Session,
    plant: PlantFields,
    *,
    today: date,
    connection_point: dict[str, Any] | None,
    rules: RuleIndex | None = None,
) -> PlantOut:
    """The plant in import format, as GET returns it: every documented field present; its
    ``connectionPoint`` view comes read with it (:func:`chain_view`). ``rules`` are those to
    derive with (default: the instance's rules in force now)."""
    periods, extensions = repository.periods_and_extensions(session, plant.instance_id, plant.id)
    return plant_out(
        session,
        plant,
        customer=in_force(periods, today),
        connection_point=connection_point,
        extensions=[extension_view(extension) for extension in extensions],
        rules=rules,
    )


def plant_out(
    session: Session,
    plant: PlantFields,
    *,
    customer: Period | None,
    connection_point: dict[str, Any] | None,
    extensions: list[ExtensionOut],
    rules: RuleIndex | None,
) -> PlantOut:
    """The answer from its parts: the stored document, the customer period in force, the
    connection point's view and the extensions (as of a day, history hands in its own)."""
    data = plant.data
    return PlantOut(
        meteringPointId=plant.metering_point_id,
        customerId=reveal_key(session, plant.instance_id, customer.customer if customer else None),
        customerChangeFrom=customer.valid_from.isoformat() if customer else None,
        plantId=data["plantId"],
        searchCategory=data["searchCategory"],
        consumptionCode=consumption_code_out(data["consumptionCode"]),
        industrialClassification=data["industrialClassification"],
        buildingCode=data["buildingCode"],
        connectedDate=data["connectedDate"],
        status=data["status"],
        address=address_view(data["address"]),
        meter=data["meter"],
        description=data["description"],
        externalPlantNumber=data["externalPlantNumber"],
        technicalData=data["technicalData"],
        builtByElCompanyId=data["builtByElCompanyId"],
        location=data["location"],
        auditSpecificInfo=_audit(session, plant, rules),
        connectionPoint=connection_point,
        extensions=extensions,
    )


def _audit(session: Session, plant: PlantFields, rules: RuleIndex | None) -> dict[str, Any]:
    """Values sent are explicit; the others are derived by the rules in force (SPEC §7)."""
    explicit = plant.data.get("auditSpecificInfo") or {}
    codes_of = {
        "consumption_code": plant.consumption_code,
        "naeringskode": plant.industrial_classification,
    }
    if rules is None:
        return audit_info(session, plant.instance_id, explicit, **codes_of)
    return derived_audit(rules, explicit, **codes_of)
