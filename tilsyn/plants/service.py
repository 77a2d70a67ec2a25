"""Plants: read a body, upsert by metering point id, read, register builders, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, cast

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    delete,
    insert,
    literal,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from tilsyn.contract.bodies import read_model
from tilsyn.contract.diffs import diff_documents, flatten
from tilsyn.contract.errors import InvalidBody, NotFound
from tilsyn.contract.problems import Issues
from tilsyn.contract.time import utc_now
from tilsyn.core import search_index
from tilsyn.core.changelog import Actor, record_change, write_atomically, write_transaction
from tilsyn.core.db import Database
from tilsyn.core.models import CustomerPeriod, GridElement, Instance, Plant, PlantExtension
from tilsyn.core.outcome import Outcome, Result
from tilsyn.core.personal import protect_many, reveal_key, stored_key
from tilsyn.core.tenancy import scoped_select
from tilsyn.core.upsert import BatchConflict, insert_if_absent, insert_many_if_absent
from tilsyn.customers.service import existing_customers
from tilsyn.hierarchy.service import (
    CONNECTION_POINT,
    CONNECTION_POINT_ROW,
    NET_STATION_ROW,
    TRANSFORMER_ROW,
    ElementSpec,
    chain_columns,
    chain_view,
    element_specs,
    resolve_location,
    upsert_chains,
)
from tilsyn.plants.periods import Period, apply_customer_change, in_force
from tilsyn.plants.schemas import (
    STATUS_MISSPELLINGS,
    STATUSES,
    BuiltByIn,
    PlantAddressIn,
    PlantIn,
)
from tilsyn.rules.service import (
    RuleIndex,
    audit_info,
    derived_audit,
    note_stamp,
    rules_for,
    stamp_columns,
    warn_if_uncovered,
)
from tilsyn.validation import codes, identifiers, postal

AUDIT_FIELDS = ("plantType", "inspectionArea", "riskCategoryGroup", "inspectionRate")
_STATUS_BY_FOLDED = {status.casefold(): status for status in STATUSES}
_KNOWN_MISSPELLINGS = STATUS_MISSPELLINGS
MIN_EXTENSION_YEAR = 1800


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


def _normalise_status(status: str | None, issues: Issues) -> str | None:
    if status is None or not status.strip():
        return None
    folded = status.strip().casefold()
    if folded in _STATUS_BY_FOLDED:
        return _STATUS_BY_FOLDED[folded]
    if folded in _KNOWN_MISSPELLINGS:
        corrected = _KNOWN_MISSPELLINGS[folded]
        issues.warn(
            "status",
            "status_corrected",
            f"is a known misspelling; stored as '{corrected}'",
            plausibility=False,
        )
        return corrected
    issues.error("status", "invalid_status", f"must be one of {', '.join(STATUSES)}")
    return None


def _check_plant(body: PlantIn, issues: Issues, *, today: date) -> None:
    def warn_all(path: str, findings: list[Any]) -> None:
        for finding in findings:
            issues.warn(path, finding.code, finding.message)

    warn_all("meteringPointId", identifiers.metering_point_findings(body.meteringPointId))
    warn_all("consumptionCode", codes.consumption_code_findings(body.consumptionCode))
    warn_all("industrialClassification", codes.naeringskode_findings(body.industrialClassification))
    if body.buildingCode is not None:
        warn_all("buildingCode", codes.building_code_findings(body.buildingCode))
    if body.customerId and body.customerId.strip():
        warn_all(
            "customerId", identifiers.customer_number_findings(body.customerId.strip(), today=today)
        )
    if body.builtByElCompanyId is not None:
        warn_all("builtByElCompanyId", identifiers.el_company_id_findings(body.builtByElCompanyId))
    if body.connectedDate is not None and body.connectedDate > today:
        issues.warn("connectedDate", "implausible_date", "is in the future")
    if body.connectedDate is not None and body.connectedDate.year < 1900:
        issues.warn("connectedDate", "implausible_date", "is before 1900")
    change_from = body.customerChangeFrom
    if change_from is not None and (change_from.year < 1900 or (change_from - today).days > 366):
        issues.warn("customerChangeFrom", "implausible_date", "is before 1900 or over a year ahead")
    address = body.address
    if address is not None:
        if address.postalCode is not None:
            warn_all("address.postalCode", codes.postal_code_findings(address.postalCode))
            _check_postal_register(address.postalCode, address, issues)
        if address.residentialNumber:
            warn_all(
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
    tech = body.technicalData
    if tech is not None:
        for name in ("mainCircuitBreakerPhase", "overLoadPhase", "shortCircuitProtectionPhase"):
            value = getattr(tech, name)
            if value is not None:
                warn_all(f"technicalData.{name}", codes.phase_findings(value))
        if tech.mainCircuitBreakerVoltage is not None:
            warn_all(
                "technicalData.mainCircuitBreakerVoltage",
                codes.voltage_findings(tech.mainCircuitBreakerVoltage),
            )
        for name in ("mainCircuitBreakerAmps", "overLoadAmps", "shortCircuitProtectionAmps"):
            value = getattr(tech, name)
            if value is not None:
                warn_all(f"technicalData.{name}", codes.fuse_findings(value))
        if tech.earthingSystem:
            warn_all(
                "technicalData.earthingSystem", codes.earthing_system_findings(tech.earthingSystem)
            )
    audit = body.auditSpecificInfo
    if audit is not None:
        if audit.inspectionRate is not None and not 1 <= audit.inspectionRate <= 100:
            issues.warn("auditSpecificInfo.inspectionRate", "out_of_range", "should be 1–100 years")
        for name in ("inspectionArea", "riskCategoryGroup"):
            value = getattr(audit, name)
            if value is not None and value < 0:
                issues.warn(f"auditSpecificInfo.{name}", "out_of_range", "should not be negative")
        if audit.plantType is not None and not audit.plantType.strip():
            issues.warn("auditSpecificInfo.plantType", "format", "is empty")


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
    address = body.address
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
        "address": {
            name: getattr(address, name) if address else None
            for name in (
                "addressText",
                "postalCode",
                "floor",
                "apartmentNumber",
                "holdingNumber",
                "subHoldingNumber",
                "leaseNumber",
                "sectionNumber",
            )
        }
        | {
            "residentialNumber": address.residentialNumber.strip().upper()
            if address and address.residentialNumber
            else None
        }
        # Only when sent: documents stored before these fields existed stay equal.
        | {
            name: value.strip()
            for name in ("postalPlace", "municipalityNumber")
            if address and (value := getattr(address, name)) and value.strip()
        },
        "meter": {
            "meterNumber": meter.meterNumber if meter else None,
            "supplier": meter.supplier if meter else None,
            "modell": meter.modell if meter else None,
        },
        "description": body.description,
        "externalPlantNumber": body.externalPlantNumber,
        "technicalData": {
            name: getattr(tech, name) if tech else None
            for name in (
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


def upsert_plant(
    session: Session,
    actor: Actor,
    data: dict[str, Any],
    *,
    today: date,
    strict: bool = False,
    synthetic_ok: bool = False,
) -> Outcome:
    change = parse_valid_plant(data, today=today, strict=strict, synthetic_ok=synthetic_ok)
    return write_plant(session, actor, change, today=today)


@dataclass
class PlantWritten:
    """What writing one plant did: its id and result; warnings go to its change's issues."""

    plant_id: int
    result: Result


_PLANTS = cast(Table, Plant.__table__)
_PERIODS = cast(Table, CustomerPeriod.__table__)
_UPDATE_PLANT = (
    update(_PLANTS)
    .where(_PLANTS.c.id == bindparam("plant_id"))
    .values(
        data=bindparam("new_data"),
        consumption_code=bindparam("new_consumption_code"),
        industrial_classification=bindparam("new_industrial_classification"),
        status=bindparam("new_status"),
        connected_date=bindparam("new_connected_date"),
        built_by_el_company_id=bindparam("new_built_by_el_company_id"),
        connection_point_id=bindparam("new_connection_point_id"),
        updated_at=bindparam("new_updated_at"),
    )
)


def write_plant(session: Session, actor: Actor, change: PlantChange, *, today: date) -> Outcome:
    """Apply a parsed plant in the current transaction: a batch of one, then its view."""
    [written] = write_plants_atomically(session, actor, [change], today=today)
    return _written_outcome(session, actor, change, written, today=today)


def store_plant(database: Database, actor: Actor, change: PlantChange, *, today: date) -> Outcome:
    """:func:`write_plant` as a transaction of its own, as the single upsert runs it: the
    transaction rolls back where the batch's savepoint would, so it needs none."""

    def write(session: Session) -> Outcome:
        [written] = write_plants(session, actor, [change], today=today)
        return _written_outcome(session, actor, change, written, today=today)

    return write_transaction(database, write, [change.issues])


def _written_outcome(
    session: Session, actor: Actor, change: PlantChange, written: PlantWritten, *, today: date
) -> Outcome:
    view = _written_view(session, actor.instance_id, written.plant_id, today=today)
    return Outcome(written.result, view, change.issues.warnings)


def _written_view(
    session: Session, instance_id: int, plant_id: int, *, today: date
) -> dict[str, Any]:
    """The view of a plant this transaction just wrote, as the write's answer."""
    found = _read_plant(session, instance_id, _PLANT_BY_ID, {"plant_id": plant_id})
    assert found is not None, "a written plant exists"
    plant, chain = found
    return plant_view(session, plant, today=today, connection_point=chain)


def write_plants_atomically(
    session: Session, actor: Actor, changes: Sequence[PlantChange], *, today: date
) -> list[PlantWritten]:
    """:func:`write_plants` in a savepoint, tried again after a concurrent insert."""
    return write_atomically(
        session,
        lambda: write_plants(session, actor, changes, today=today),
        [change.issues for change in changes],
    )


_LOCK_PLANTS = (
    select(_PLANTS)
    .where(
        _PLANTS.c.instance_id == bindparam("instance_id"),
        _PLANTS.c.metering_point_id.in_(bindparam("metering_point_ids", expanding=True)),
    )
    .order_by(_PLANTS.c.metering_point_id)
    .with_for_update()
)


def write_plants(
    session: Session, actor: Actor, changes: Sequence[PlantChange], *, today: date
) -> list[PlantWritten]:
    """Apply parsed plants (distinct metering point ids) in the current transaction.

    The single upsert is a batch of one, so a bulk import follows exactly its rules; a batch
    costs a few statements per table instead of a dozen per plant. Raises
    :class:`BatchConflict` when another transaction created one of its plants meanwhile.
    """
    mpids = [change.metering_point_id for change in changes]
    assert len(set(mpids)) == len(mpids), "a batch holds each plant once"
    chains = upsert_chains(session, actor, [change.chain for change in changes])
    stored = {
        row.metering_point_id: row
        for row in session.connection().execute(
            _LOCK_PLANTS, {"instance_id": actor.instance_id, "metering_point_ids": mpids}
        )
    }
    # Read after the lock, not joined to it: on PostgreSQL a row locked after waiting is
    # re-read at its newest version, but a joined row is not (its old connection point).
    old_cp_names = _element_names(
        session,
        {row.connection_point_id for row in stored.values() if row.connection_point_id is not None},
    )
    now = utc_now()
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    plant_ids: dict[str, int] = {}
    results: dict[str, Result] = {}
    documents: dict[str, dict[str, Any]] = {}
    connection_points: dict[str, int | None] = {}
    reindexed: list[str] = []
    for change, (lowest_id, hierarchy_changed) in zip(changes, chains, strict=True):
        mpid = change.metering_point_id
        connection_point_id = (
            lowest_id
            if change.chain is not None and change.chain.kind == CONNECTION_POINT
            else None
        )
        connection_points[mpid] = connection_point_id
        document = dict(change.document)
        documents[mpid] = document
        row = stored.get(mpid)
        if row is None:
            document["connectedDate"] = (
                change.connected_date.isoformat() if change.connected_date else None
            )
            new_rows.append(
                {
                    "instance_id": actor.instance_id,
                    "metering_point_id": mpid,
                    **_plant_columns(document, connection_point_id),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            results[mpid] = "created"
            continue
        plant_ids[mpid] = row.id
        document["connectedDate"] = _protected_connected_date(
            row.connected_date, change.connected_date, change.issues
        )
        if document["builtByElCompanyId"] is None:
            document["builtByElCompanyId"] = row.built_by_el_company_id
        diff = diff_documents(row.data, document)
        if row.connection_point_id != connection_point_id:
            diff["connectionPoint"] = [
                old_cp_names.get(row.connection_point_id) if row.connection_point_id else None,
                change.chain.name if change.chain and connection_point_id else None,
            ]
        results[mpid] = "updated" if hierarchy_changed else "unchanged"
        if diff:
            results[mpid] = "updated"
            if search_index.plant_text_changed(row.data, document):
                reindexed.append(mpid)
            columns = _plant_columns(document, connection_point_id)
            updates.append(
                {"plant_id": row.id, **{f"new_{k}": v for k, v in columns.items()}}
                | {"new_updated_at": now}
            )
            record_change(
                session, actor, entity_type="plant", entity_key=mpid, operation="update", diff=diff
            )
    if new_rows:
        chains_by_mpid = {change.metering_point_id: change.chain for change in changes}
        inserted = insert_many_if_absent(
            session,
            Plant,
            new_rows,
            key=["instance_id", "metering_point_id"],
            returning="metering_point_id",
        )
        if len(inserted) != len(new_rows):
            raise BatchConflict("another transaction created some of these plants")
        plant_ids.update(inserted)
        for row_values in new_rows:
            mpid = row_values["metering_point_id"]
            diff = diff_documents(None, documents[mpid])
            if connection_points[mpid] is not None:
                chain = chains_by_mpid[mpid]
                diff["connectionPoint"] = [None, chain.name if chain else None]
            record_change(
                session, actor, entity_type="plant", entity_key=mpid, operation="create", diff=diff
            )
    if updates:
        session.execute(_UPDATE_PLANT, updates)
    _index_plants(
        session,
        actor.instance_id,
        new_rows=new_rows,
        reindexed=reindexed,
        plant_ids=plant_ids,
        documents=documents,
    )

    # Customers by their stored keys (core/personal.py), never by the number itself.
    customer_keys = {
        change.metering_point_id: stored_key(session, actor.instance_id, change.customer)
        for change in changes
        if change.customer is not None
    }
    periods_changed = _apply_customers(
        session,
        actor,
        changes,
        customer_keys=customer_keys,
        plant_ids=plant_ids,
        stored=stored,
        today=today,
    )
    protect_many(
        session,
        actor.instance_id,
        [
            change.customer
            for change in changes
            if change.customer is not None and change.metering_point_id in periods_changed
        ],
    )
    known_customers = existing_customers(session, actor.instance_id, set(customer_keys.values()))
    rules = rules_for(session, actor.instance_id)
    written: list[PlantWritten] = []
    for change in changes:
        mpid = change.metering_point_id
        if mpid in periods_changed and results[mpid] == "unchanged":
            results[mpid] = "updated"
        if mpid in customer_keys and customer_keys[mpid] not in known_customers:
            change.issues.warn(
                "customerId",
                "customer_not_found",
                "no customer with this number exists yet; the link resolves when it arrives",
                plausibility=False,
            )
        document = documents[mpid]
        audit = derived_audit(
            rules,
            document["auditSpecificInfo"],
            consumption_code=document["consumptionCode"],
            naeringskode=document["industrialClassification"],
        )
        warn_if_uncovered(
            audit,
            change.issues,
            consumption_code=document["consumptionCode"],
            naeringskode=document["industrialClassification"],
        )
        written.append(PlantWritten(plant_ids[mpid], results[mpid]))
    return written


def _index_plants(
    session: Session,
    instance_id: int,
    *,
    new_rows: list[dict[str, Any]],
    reindexed: list[str],
    plant_ids: dict[str, int],
    documents: dict[str, dict[str, Any]],
) -> None:
    """The search words of the batch's new plants, and of those whose address changed."""
    words = search_index.plant_words
    search_index.add_words(
        session,
        instance_id,
        {
            plant_ids[row["metering_point_id"]]: words(row["metering_point_id"], row["data"])
            for row in new_rows
        },
    )
    if reindexed:
        search_index.replace_words(
            session,
            instance_id,
            (search_index.PLANT, search_index.POSTAL_CODE),
            {plant_ids[mpid]: words(mpid, documents[mpid]) for mpid in reindexed},
        )


def _plant_columns(document: dict[str, Any], connection_point_id: int | None) -> dict[str, Any]:
    """The looked-up columns beside the stored document."""
    connected = document["connectedDate"]
    return {
        "data": document,
        "consumption_code": document["consumptionCode"],
        "industrial_classification": document["industrialClassification"],
        "status": document["status"],
        "connected_date": date.fromisoformat(connected) if connected else None,
        "built_by_el_company_id": document["builtByElCompanyId"],
        "connection_point_id": connection_point_id,
    }


def _element_names(session: Session, element_ids: set[int]) -> dict[int, str]:
    if not element_ids:
        return {}
    return dict(
        session.execute(
            select(GridElement.id, GridElement.name).where(GridElement.id.in_(sorted(element_ids)))
        ).all()
    )


def _apply_customers(
    session: Session,
    actor: Actor,
    changes: Sequence[PlantChange],
    *,
    customer_keys: dict[str, str],
    plant_ids: dict[str, int],
    stored: dict[str, Any],
    today: date,
) -> set[str]:
    """Each plant's customer change (by stored key), as periods; the metering point ids whose
    periods changed."""
    periods_of: dict[int, list[Period]] = {}
    stored_ids = sorted(plant_ids[mpid] for mpid in stored)
    if stored_ids:
        rows = session.execute(
            select(_PERIODS.c.plant_id, _PERIODS.c.valid_from, _PERIODS.c.customer_number)
            .where(_PERIODS.c.plant_id.in_(stored_ids))
            .order_by(_PERIODS.c.plant_id, _PERIODS.c.valid_from)
        )
        for plant_id, valid_from, customer in rows:
            periods_of.setdefault(plant_id, []).append(Period(valid_from, customer))
    rewritten: list[int] = []
    inserts: list[dict[str, Any]] = []
    changed: set[str] = set()
    for change in changes:
        mpid = change.metering_point_id
        plant_id = plant_ids[mpid]
        periods = periods_of.get(plant_id, [])
        start = change.customer_from or today
        customer = customer_keys.get(mpid)
        new_periods = apply_customer_change(periods, customer, start, today=today)
        if new_periods is None:
            continue
        changed.add(mpid)
        # The new list may merge with or drop periods before ``start``: write it whole.
        if periods:
            rewritten.append(plant_id)
        inserts += [
            {
                "instance_id": actor.instance_id,
                "plant_id": plant_id,
                "valid_from": period.valid_from,
                "customer_number": period.customer,
            }
            for period in new_periods
        ]
        record_change(
            session,
            actor,
            entity_type="plant",
            entity_key=mpid,
            operation="customer",
            diff={"customerPeriods": [_periods_wire(periods), _periods_wire(new_periods)]},
        )
    if rewritten:
        session.execute(delete(CustomerPeriod).where(CustomerPeriod.plant_id.in_(rewritten)))
    if inserts:
        session.execute(insert(CustomerPeriod), inserts)
    return changed


def _protected_connected_date(stored: date | None, sent: date | None, issues: Issues) -> str | None:
    """Once set, connectedDate can move earlier but is never cleared or moved later."""
    if stored is None:
        return sent.isoformat() if sent else None
    if sent is None or sent == stored:
        return stored.isoformat()
    if sent < stored:
        return sent.isoformat()
    issues.warn(
        "connectedDate",
        "connected_date_kept",
        f"cannot move to a later date; the stored date {stored.isoformat()} was kept",
        plausibility=False,
    )
    return stored.isoformat()


def _element_name(session: Session, element_id: int | None) -> str | None:
    if element_id is None:
        return None
    row = session.get(GridElement, element_id)
    return row.name if row else None


def _load_periods(session: Session, plant_id: int) -> list[Period]:
    """The plant's periods; customers by their stored keys (core/personal.py)."""
    rows = session.execute(
        select(CustomerPeriod.valid_from, CustomerPeriod.customer_number)
        .where(CustomerPeriod.plant_id == plant_id)
        .order_by(CustomerPeriod.valid_from)
    )
    return [Period(valid_from, customer) for valid_from, customer in rows]


def _periods_wire(periods: list[Period]) -> list[dict[str, Any]]:
    return [{"customerId": p.customer, "from": p.valid_from.isoformat()} for p in periods]


def extension_label(name: str, year: int | None) -> str:
    """How history names an extension: ``extensions[name|year]``."""
    return f"extensions[{name}|{year if year is not None else ''}]"


def history_state(session: Session, plant: Plant) -> dict[str, Any]:
    """The plant as its history paths name it: the document's fields, ``connectionPoint``,
    ``customerPeriods`` and each extension's builder (core/changelog.py replays these)."""
    state = flatten(plant.data)
    state["connectionPoint"] = _element_name(session, plant.connection_point_id)
    state["customerPeriods"] = _periods_wire(_load_periods(session, plant.id))
    extensions = session.execute(
        select(
            PlantExtension.extension_name,
            PlantExtension.extension_year_built,
            PlantExtension.built_by_el_company_id,
        ).where(PlantExtension.plant_id == plant.id)
    )
    for name, year, company in extensions:
        state[f"{extension_label(name, year)}.builtByElCompanyId"] = company
    return state


def _lock_plant(session: Session, instance_id: int, mpid: str) -> Plant | None:
    return session.scalar(
        scoped_select(Plant, instance_id).where(Plant.metering_point_id == mpid).with_for_update()
    )


# A plant with its chain and the rules stamp, in one read (see :func:`note_stamp`): what its
# view needs beside its periods and extensions. Built once, like every hot statement.
_VIEWED = (
    Plant.id,
    Plant.instance_id,
    Plant.metering_point_id,
    Plant.data,
    Plant.consumption_code,
    Plant.industrial_classification,
)
_PLANT_READ = (
    select(*_VIEWED, *stamp_columns(), *chain_columns())
    .join(Instance, Instance.id == Plant.instance_id)
    .outerjoin(CONNECTION_POINT_ROW, CONNECTION_POINT_ROW.id == Plant.connection_point_id)
    .outerjoin(TRANSFORMER_ROW, TRANSFORMER_ROW.id == CONNECTION_POINT_ROW.parent_id)
    .outerjoin(NET_STATION_ROW, NET_STATION_ROW.id == TRANSFORMER_ROW.parent_id)
)
_STAMP_AT = len(_VIEWED)  # stamp_columns() start here in _PLANT_READ; chain_columns() follow
_PLANT_BY_KEY = _PLANT_READ.where(
    Plant.instance_id == bindparam("instance_id"),
    Plant.metering_point_id == bindparam("metering_point_id"),
)
_PLANT_BY_ID = _PLANT_READ.where(Plant.id == bindparam("plant_id"))


def _read_plant(
    session: Session, instance_id: int, statement: Select[Any], parameters: dict[str, Any]
) -> tuple[PlantFields, dict[str, Any] | None] | None:
    """The plant (a row: every plant read pays for ORM objects otherwise) and its connection
    point's view, noting the rules stamp read with them."""
    row = session.connection().execute(statement, parameters).first()
    if row is None:
        return None
    note_stamp(session, instance_id, row[_STAMP_AT : _STAMP_AT + 2])
    return cast(PlantFields, row), chain_view(row[_STAMP_AT + 2 :])


def get_plant(session: Session, instance_id: int, mpid: str, *, today: date) -> dict[str, Any]:
    found = None
    if "\x00" not in mpid:  # from a URL; PostgreSQL cannot compare text holding NUL
        found = _read_plant(
            session,
            instance_id,
            _PLANT_BY_KEY,
            {"instance_id": instance_id, "metering_point_id": mpid.strip()},
        )
    if found is None:
        raise NotFound("No plant with that meteringPointId in this instance.")
    plant, chain = found
    return plant_view(session, plant, today=today, connection_point=chain)


MAX_LOOKUP = 1000
_PLANTS_BY_KEYS = _PLANT_READ.where(
    Plant.instance_id == bindparam("instance_id"),
    Plant.metering_point_id.in_(bindparam("metering_point_ids", expanding=True)),
)


def lookup_plants(
    session: Session, instance_id: int, mpids: Sequence[str], *, today: date
) -> tuple[list[dict[str, Any]], list[str]]:
    """Many plants' views in one read (a dry run compares a window of rows with them instead
    of sending a GET per row), and the ids this instance has no plant for."""
    wanted = list(dict.fromkeys(m.strip() for m in mpids if "\x00" not in m))
    if not wanted:
        return [], []
    rows = session.connection().execute(
        _PLANTS_BY_KEYS, {"instance_id": instance_id, "metering_point_ids": wanted}
    )
    views: dict[str, dict[str, Any]] = {}
    for row in rows:
        note_stamp(session, instance_id, row[_STAMP_AT : _STAMP_AT + 2])
        plant = cast(PlantFields, row)
        chain = chain_view(row[_STAMP_AT + 2 :])
        views[plant.metering_point_id] = plant_view(
            session, plant, today=today, connection_point=chain
        )
    return [views[m] for m in wanted if m in views], [m for m in wanted if m not in views]


def consumption_code_out(code: str) -> int | str:
    return int(code) if code.isdigit() else code


class PlantFields(Protocol):
    """What a plant's view reads of it: a :class:`Plant`, or a row of its columns."""

    @property
    def id(self) -> int | None: ...
    @property
    def instance_id(self) -> int: ...
    @property
    def metering_point_id(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def consumption_code(self) -> str: ...
    @property
    def industrial_classification(self) -> str: ...


# A plant's periods (part 0, by start) and extensions (part 1, by year, then name) in one read.
_PERIODS_AND_EXTENSIONS: Executable = union_all(
    select(
        literal(0).label("part"),
        CustomerPeriod.valid_from.label("valid_from"),
        CustomerPeriod.customer_number.label("name"),
        null().label("year"),
        null().label("company"),
    ).where(CustomerPeriod.plant_id == bindparam("plant_id")),
    select(
        literal(1),
        null(),
        PlantExtension.extension_name,
        PlantExtension.extension_year_built,
        PlantExtension.built_by_el_company_id,
    ).where(PlantExtension.plant_id == bindparam("plant_id")),
).order_by(
    literal_column("part"),
    literal_column("valid_from"),
    literal_column("year"),
    literal_column("name"),
)


def plant_view(
    session: Session,
    plant: PlantFields,
    *,
    today: date,
    connection_point: dict[str, Any] | None,
    rules: RuleIndex | None = None,
) -> dict[str, Any]:
    """The plant in import format, as GET returns it: every documented field present; its
    ``connectionPoint`` view comes read with it (:func:`chain_view`). ``rules`` are those to
    derive with (default: the instance's rules in force now)."""
    data = plant.data
    periods: list[Period] = []
    extensions: list[dict[str, Any]] = []
    for part, valid_from, name, year, company in session.connection().execute(
        _PERIODS_AND_EXTENSIONS, {"plant_id": plant.id}
    ):
        if part == 0:
            periods.append(Period(valid_from, name))
        else:
            extensions.append(
                {"extensionName": name, "extensionYearBuilt": year, "builtByElCompanyId": company}
            )
    current = in_force(periods, today)
    # Values sent are explicit; the others are derived by the rules in force (SPEC §7).
    explicit = data.get("auditSpecificInfo") or {}
    codes_of = {
        "consumption_code": plant.consumption_code,
        "naeringskode": plant.industrial_classification,
    }
    audit = (
        audit_info(session, plant.instance_id, explicit, **codes_of)
        if rules is None
        else derived_audit(rules, explicit, **codes_of)
    )
    return {
        "meteringPointId": plant.metering_point_id,
        "customerId": reveal_key(session, plant.instance_id, current.customer if current else None),
        "customerChangeFrom": current.valid_from.isoformat() if current else None,
        "plantId": data["plantId"],
        "searchCategory": data["searchCategory"],
        "consumptionCode": consumption_code_out(data["consumptionCode"]),
        "industrialClassification": data["industrialClassification"],
        "buildingCode": data["buildingCode"],
        "connectedDate": data["connectedDate"],
        "status": data["status"],
        "address": address_view(data["address"]),
        "meter": data["meter"],
        "description": data["description"],
        "externalPlantNumber": data["externalPlantNumber"],
        "technicalData": data["technicalData"],
        "builtByElCompanyId": data["builtByElCompanyId"],
        "location": data["location"],
        "auditSpecificInfo": audit,
        "connectionPoint": connection_point,
        "extensions": extensions,
    }


def register_built_by(
    session: Session,
    actor: Actor,
    data: dict[str, Any],
    *,
    today: date,
    strict: bool = False,
    synthetic_ok: bool = False,
) -> Outcome:
    """Who built a plant, or an extension of it (idempotent per plant, name and year)."""
    issues = Issues()
    body = read_model(BuiltByIn, data, issues)
    if body is not None:
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
    issues.apply_strictness(strict, synthetic_ok=synthetic_ok)
    if body is None or issues.errors:
        raise InvalidBody(
            "The registration was not stored; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    plant = _lock_plant(session, actor.instance_id, body.meteringPointId)
    if plant is None:
        raise NotFound("No plant with that meteringPointId in this instance.")
    if body.extensionName is None:
        result = _set_built_by(session, actor, plant, body.builtByElCompanyId)
    else:
        result = _record_extension(
            session,
            actor,
            plant,
            name=body.extensionName.strip(),
            year=body.extensionYearBuilt,
            company=body.builtByElCompanyId,
        )
    session.flush()
    view = _written_view(session, actor.instance_id, plant.id, today=today)
    return Outcome(result, view, issues.warnings)


def _set_built_by(session: Session, actor: Actor, plant: Plant, company: int) -> Result:
    if plant.built_by_el_company_id == company:
        return "unchanged"
    before = plant.built_by_el_company_id
    plant.built_by_el_company_id = company
    plant.data = {**plant.data, "builtByElCompanyId": company}
    plant.updated_at = utc_now()
    session.flush()
    record_change(
        session,
        actor,
        entity_type="plant",
        entity_key=plant.metering_point_id,
        operation="builtby",
        diff={"builtByElCompanyId": [before, company]},
    )
    return "updated"


def _record_extension(
    session: Session, actor: Actor, plant: Plant, *, name: str, year: int | None, company: int
) -> Result:
    key = f"{name}\x1f{year if year is not None else ''}"
    existing = session.scalar(
        select(PlantExtension)
        .where(PlantExtension.plant_id == plant.id, PlantExtension.extension_key == key)
        .with_for_update()
    )
    label = extension_label(name, year)
    if existing is None:
        inserted = insert_if_absent(
            session,
            PlantExtension,
            {
                "instance_id": actor.instance_id,
                "plant_id": plant.id,
                "extension_key": key,
                "extension_name": name,
                "extension_year_built": year,
                "built_by_el_company_id": company,
                "created_at": utc_now(),
            },
            key=["plant_id", "extension_key"],
        )
        if inserted is not None:
            record_change(
                session,
                actor,
                entity_type="plant",
                entity_key=plant.metering_point_id,
                operation="extension",
                diff={f"{label}.builtByElCompanyId": [None, company]},
            )
            return "created"
        return "unchanged"
    if existing.built_by_el_company_id == company:
        return "unchanged"
    before = existing.built_by_el_company_id
    existing.built_by_el_company_id = company
    session.flush()
    record_change(
        session,
        actor,
        entity_type="plant",
        entity_key=plant.metering_point_id,
        operation="extension",
        diff={f"{label}.builtByElCompanyId": [before, company]},
    )
    return "updated"


def delete_plant(session: Session, actor: Actor, mpid: str) -> None:
    plant = None if "\x00" in mpid else _lock_plant(session, actor.instance_id, mpid.strip())
    if plant is None:
        raise NotFound("No plant with that meteringPointId in this instance.")
    key = plant.metering_point_id
    # The tombstone holds what was deleted, so that as-of reads of earlier days still work.
    removed = diff_documents(history_state(session, plant), None)
    session.execute(delete(CustomerPeriod).where(CustomerPeriod.plant_id == plant.id))
    session.execute(delete(PlantExtension).where(PlantExtension.plant_id == plant.id))
    search_index.drop_words(session, (search_index.PLANT, search_index.POSTAL_CODE), [plant.id])
    session.delete(plant)
    session.flush()
    record_change(
        session, actor, entity_type="plant", entity_key=key, operation="delete", diff=removed
    )


MAX_KEYS_PAGE = 10_000


def list_plant_keys(
    session: Session, instance_id: int, *, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One keyset page of the instance's metering point ids (with status), in id order.

    For clients that reconcile a full export against the registry; ``next`` is the ``after``
    of the following page, ``None`` on the last one.
    """
    query = (
        scoped_select(Plant, instance_id)
        .with_only_columns(Plant.metering_point_id, Plant.status)
        .order_by(Plant.metering_point_id)
        .limit(limit + 1)
    )
    if after:
        query = query.where(Plant.metering_point_id > after)
    rows = session.execute(query).all()
    items = [{"meteringPointId": mpid, "status": status} for mpid, status in rows[:limit]]
    return items, items[-1]["meteringPointId"] if len(rows) > limit else None
