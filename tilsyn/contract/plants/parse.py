"""A plant body → a typed change and its issues: pure, no database.

Hard problems are errors; plausibility findings are warnings (docs/api.md). The server's
upsert and the sync client's dry run both parse with :func:`parse_plant`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tilsyn.contract.bodies import read_model
from tilsyn.contract.errors import InvalidBody
from tilsyn.contract.hierarchy.parse import ElementSpec, element_specs, resolve_location
from tilsyn.contract.plants.merge import plant_document
from tilsyn.contract.plants.schemas import (
    STATUS_MISSPELLINGS,
    STATUSES,
    AuditSpecificInfoIn,
    BuiltByIn,
    PlantAddressIn,
    PlantIn,
    TechnicalDataIn,
)
from tilsyn.contract.problems import Issues
from tilsyn.validation import codes, identifiers, postal
from tilsyn.validation.findings import Finding

_STATUS_BY_FOLDED = {status.casefold(): status for status in STATUSES}
_PHASES = ("mainCircuitBreakerPhase", "overLoadPhase", "shortCircuitProtectionPhase")
_FUSES = ("mainCircuitBreakerAmps", "overLoadAmps", "shortCircuitProtectionAmps")


@dataclass
class PlantChange:
    """A plant body after parsing: what to store, and the chain to write (plain data, cheap
    to send to another process)."""

    metering_point_id: str
    document: dict[str, Any]
    connected_date: date | None
    chain: ElementSpec | None
    customer: str | None
    customer_from: date | None
    issues: Issues


def parse_plant(data: dict[str, Any], *, today: date) -> tuple[PlantChange | None, Issues]:
    """Structural errors and plausibility warnings of one plant body."""
    issues = Issues()
    body = read_model(PlantIn, data, issues)
    if body is None:
        return None, issues
    status = _normalise_status(body.status, issues)
    position = resolve_location(body.location, body.coordinates, "location", issues)
    chain = element_specs(body.connectionPoint, body.transformer, body.netStation, issues)
    _check_plant(body, issues, today=today)
    document = plant_document(body, status=status, position=position)
    customer = body.customerId.strip() if body.customerId and body.customerId.strip() else None
    change = PlantChange(
        metering_point_id=body.meteringPointId,
        document=document,
        connected_date=body.connectedDate,
        chain=chain,
        customer=customer,
        customer_from=body.customerChangeFrom,
        issues=issues,
    )
    return change, issues


def parse_valid_plant(
    data: Any, *, today: date, strict: bool = False, synthetic_ok: bool = False
) -> PlantChange:
    """The parsed plant under the instance's policy; InvalidBody when it cannot be stored."""
    change, issues = parse_plant(data, today=today)
    issues.apply_strictness(strict, synthetic_ok=synthetic_ok)
    if change is None or issues.errors:
        raise InvalidBody(
            "The plant was not stored; see errors.", errors=issues.errors, warnings=issues.warnings
        )
    return change


def _normalise_status(status: str | None, issues: Issues) -> str | None:
    if status is None or not status.strip():
        return None
    folded = status.strip().casefold()
    if folded in _STATUS_BY_FOLDED:
        return _STATUS_BY_FOLDED[folded]
    if folded in STATUS_MISSPELLINGS:
        corrected = STATUS_MISSPELLINGS[folded]
        issues.warn(
            "status",
            "status_corrected",
            f"is a known misspelling; stored as '{corrected}'",
            plausibility=False,
        )
        return corrected
    issues.error("status", "invalid_status", f"must be one of {', '.join(STATUSES)}")
    return None


def _warn_all(issues: Issues, path: str, findings: Iterable[Finding]) -> None:
    for finding in findings:
        issues.warn(path, finding.code, finding.message)


def _check_plant(body: PlantIn, issues: Issues, *, today: date) -> None:
    """Every plausibility check of a plant body, each part in its own small check."""
    _check_identifiers(body, issues, today=today)
    _check_dates(body, issues, today=today)
    if body.address is not None:
        _check_address(body.address, issues)
    if body.technicalData is not None:
        _check_technical_data(body.technicalData, issues)
    if body.auditSpecificInfo is not None:
        _check_audit(body.auditSpecificInfo, issues)


def _check_identifiers(body: PlantIn, issues: Issues, *, today: date) -> None:
    _warn_all(issues, "meteringPointId", identifiers.metering_point_findings(body.meteringPointId))
    _warn_all(issues, "consumptionCode", codes.consumption_code_findings(body.consumptionCode))
    _warn_all(
        issues,
        "industrialClassification",
        codes.naeringskode_findings(body.industrialClassification),
    )
    if body.buildingCode is not None:
        _warn_all(issues, "buildingCode", codes.building_code_findings(body.buildingCode))
    if body.customerId and body.customerId.strip():
        number = body.customerId.strip()
        _warn_all(issues, "customerId", identifiers.customer_number_findings(number, today=today))
    if body.builtByElCompanyId is not None:
        company = body.builtByElCompanyId
        _warn_all(issues, "builtByElCompanyId", identifiers.el_company_id_findings(company))


def _check_dates(body: PlantIn, issues: Issues, *, today: date) -> None:
    if body.connectedDate is not None and body.connectedDate > today:
        issues.warn("connectedDate", "implausible_date", "is in the future")
    if body.connectedDate is not None and body.connectedDate.year < 1900:
        issues.warn("connectedDate", "implausible_date", "is before 1900")
    change_from = body.customerChangeFrom
    if change_from is not None and (change_from.year < 1900 or (change_from - today).days > 366):
        issues.warn("customerChangeFrom", "implausible_date", "is before 1900 or over a year ahead")


def _check_address(address: PlantAddressIn, issues: Issues) -> None:
    if address.postalCode is not None:
        _warn_all(issues, "address.postalCode", codes.postal_code_findings(address.postalCode))
        _check_postal_register(address.postalCode, address, issues)
    if address.residentialNumber:
        _warn_all(
            issues,
            "address.residentialNumber",
            codes.residential_number_findings(address.residentialNumber),
        )
    for field, finding in codes.matrikkel_findings(
        address.holdingNumber,
        address.subHoldingNumber,
        address.leaseNumber,
        address.sectionNumber,
    ):
        issues.warn(f"address.{field}", finding.code, finding.message)


def _check_postal_register(code: str, address: PlantAddressIn, issues: Issues) -> None:
    """The register's warnings for a 4-digit code; a municipality number sent that is not
    the code's is only a warning too (a municipality reform may be newer than the file)."""
    if not codes.is_postal_code(code):
        return
    for name, finding in postal.postal_findings(code, address.postalPlace):
        issues.warn(f"address.{name}", finding.code, finding.message)
    sent = address.municipalityNumber.strip() if address.municipalityNumber else None
    registered = postal.current_register().municipality_number(code)
    if sent and registered and sent != registered:
        issues.warn(
            "address.municipalityNumber",
            "municipality_mismatch",
            f"Postal code {code} lies in municipality {registered} in Bring's postal code "
            f"register, not {sent}.",
        )


def _check_technical_data(tech: TechnicalDataIn, issues: Issues) -> None:
    for name in _PHASES:
        value = getattr(tech, name)
        if value is not None:
            _warn_all(issues, f"technicalData.{name}", codes.phase_findings(value))
    if tech.mainCircuitBreakerVoltage is not None:
        _warn_all(
            issues,
            "technicalData.mainCircuitBreakerVoltage",
            codes.voltage_findings(tech.mainCircuitBreakerVoltage),
        )
    for name in _FUSES:
        value = getattr(tech, name)
        if value is not None:
            _warn_all(issues, f"technicalData.{name}", codes.fuse_findings(value))
    if tech.earthingSystem:
        _warn_all(
            issues,
            "technicalData.earthingSystem",
            codes.earthing_system_findings(tech.earthingSystem),
        )


def _check_audit(audit: AuditSpecificInfoIn, issues: Issues) -> None:
    if audit.inspectionRate is not None and not 1 <= audit.inspectionRate <= 100:
        issues.warn("auditSpecificInfo.inspectionRate", "out_of_range", "should be 1–100 years")
    for name in ("inspectionArea", "riskCategoryGroup"):
        value = getattr(audit, name)
        if value is not None and value < 0:
            issues.warn(f"auditSpecificInfo.{name}", "out_of_range", "should not be negative")
    if audit.plantType is not None and not audit.plantType.strip():
        issues.warn("auditSpecificInfo.plantType", "format", "is empty")


MIN_EXTENSION_YEAR = 1800


@dataclass
class BuiltByChange:
    """Who built a plant (``extension_name`` None) or an extension of it, after parsing."""

    metering_point_id: str
    company: int
    extension_name: str | None
    extension_year: int | None
    issues: Issues


def parse_built_by(
    data: Any, *, today: date, strict: bool = False, synthetic_ok: bool = False
) -> BuiltByChange:
    """A builder registration under the instance's policy; InvalidBody when it is not valid."""
    issues = Issues()
    body = read_model(BuiltByIn, data, issues)
    if body is not None:
        _check_built_by(body, issues, today=today)
    issues.apply_strictness(strict, synthetic_ok=synthetic_ok)
    if body is None or issues.errors:
        raise InvalidBody(
            "The registration was not stored; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    return BuiltByChange(
        metering_point_id=body.meteringPointId,
        company=body.builtByElCompanyId,
        extension_name=body.extensionName.strip() if body.extensionName is not None else None,
        extension_year=body.extensionYearBuilt,
        issues=issues,
    )


def _check_built_by(body: BuiltByIn, issues: Issues, *, today: date) -> None:
    if body.extensionYearBuilt is not None and body.extensionName is None:
        issues.error(
            "extensionYearBuilt", "requires_extension_name", "is only valid with extensionName"
        )
    year = body.extensionYearBuilt
    if year is not None and not MIN_EXTENSION_YEAR <= year <= today.year:
        issues.error(
            "extensionYearBuilt",
            "out_of_range",
            f"must be between {MIN_EXTENSION_YEAR} and this year",
        )
    if body.extensionName is not None and not body.extensionName.strip():
        issues.error("extensionName", "missing", "must not be empty")
    for finding in identifiers.el_company_id_findings(body.builtByElCompanyId):
        issues.warn("builtByElCompanyId", finding.code, finding.message)
