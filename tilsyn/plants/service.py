"""Plants: one verb per operation (upsert, get, look up, register the builder, delete, list).

Parsing and merging are the contract's (contract/plants/); every statement is the
repository's; the answers are views.py's. Writes note their changes with ``record_change``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from tilsyn.contract.diffs import diff_documents, flatten
from tilsyn.contract.errors import NotFound
from tilsyn.contract.hierarchy.parse import CONNECTION_POINT
from tilsyn.contract.plants.merge import (
    ConnectionPointRef,
    extension_key,
    extension_label,
    merge_plant,
)
from tilsyn.contract.plants.parse import BuiltByChange, PlantChange
from tilsyn.contract.plants.schemas import PlantOut
from tilsyn.contract.time import utc_now
from tilsyn.core.changelog import Actor, creation_diff, record_change, write_atomically
from tilsyn.core.groupcommit import GroupCommit
from tilsyn.core.models import Plant
from tilsyn.core.outcome import Outcome, Result
from tilsyn.core.personal import protect_many, stored_key
from tilsyn.customers.service import existing_customers
from tilsyn.hierarchy.service import upsert_chains
from tilsyn.plants import repository
from tilsyn.plants.periods import Period, apply_customer_change
from tilsyn.plants.repository import LockedPlant
from tilsyn.plants.views import PlantKeyOut, PlantKeysOut, periods_wire, plant_view
from tilsyn.rules.service import derived_audit, rules_for, warn_if_uncovered

MAX_LOOKUP = 1000
MAX_KEYS_PAGE = 10_000
_NO_PLANT = "No plant with that meteringPointId in this instance."


@dataclass
class PlantWritten:
    """What writing one plant did: its id and result; warnings go to its change's issues."""

    plant_id: int
    result: Result


# --- Upsert --------------------------------------------------------------------------------


def upsert_plants(
    session: Session, actor: Actor, changes: Sequence[PlantChange], *, today: date
) -> list[PlantWritten]:
    """Apply parsed plants (distinct metering point ids) in the current transaction, in a
    savepoint: all of them or none, tried again after a concurrent insert.

    The single upsert is a batch of one, so a bulk import follows exactly its rules; a batch
    costs a few statements per table instead of a dozen per plant.
    """
    return write_atomically(
        session,
        lambda: _write_plants(session, actor, changes, today=today),
        [change.issues for change in changes],
    )


def upsert_plant(
    writer: GroupCommit, actor: Actor, change: PlantChange, *, today: date
) -> Outcome[PlantOut]:
    """One plant, as the single upsert writes it, with its answer: a transaction of its own,
    or a savepoint in the transaction of the single writes that arrived with it
    (core/groupcommit.py), with the same result, answer and history either way."""

    def write(session: Session) -> Outcome[PlantOut]:
        [written] = _write_plants(session, actor, [change], today=today)
        return written_outcome(session, actor.instance_id, change, written, today=today)

    return writer.run(write, [change.issues])


def written_outcome(
    session: Session, instance_id: int, change: PlantChange, written: PlantWritten, *, today: date
) -> Outcome[PlantOut]:
    """The answer to a single upsert: its result, the plant's view and the warnings."""
    view = _written_view(session, instance_id, written.plant_id, today=today)
    return Outcome(written.result, view, change.issues.warnings)


def _written_view(session: Session, instance_id: int, plant_id: int, *, today: date) -> PlantOut:
    """The view of a plant this transaction just wrote, as the write's answer."""
    found = repository.plant_by_id(session, instance_id, plant_id)
    assert found is not None, "a written plant exists"
    plant, chain = found
    return plant_view(session, plant, today=today, connection_point=chain)


@dataclass
class _Batch:
    """What writing a batch decided so far, plant by plant (by metering point id)."""

    actor: Actor
    today: date
    now: datetime
    stored: dict[str, LockedPlant]
    plant_ids: dict[str, int] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    updated: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    customer_keys: dict[str, str] = field(default_factory=dict)

    @property
    def instance_id(self) -> int:
        return self.actor.instance_id


def _write_plants(
    session: Session, actor: Actor, changes: Sequence[PlantChange], *, today: date
) -> list[PlantWritten]:
    """:func:`upsert_plants` without the savepoint. Raises :class:`BatchConflict` when
    another transaction created one of its plants meanwhile."""
    mpids = [change.metering_point_id for change in changes]
    assert len(set(mpids)) == len(mpids), "a batch holds each plant once"
    chains = upsert_chains(session, actor, [change.chain for change in changes])
    stored = repository.lock_plants(session, actor.instance_id, mpids)
    batch = _Batch(actor, today, utc_now(), stored)
    for change, (lowest_id, hierarchy_changed) in zip(changes, chains, strict=True):
        point = None
        chain = change.chain
        if chain is not None and chain.kind == CONNECTION_POINT and lowest_id is not None:
            point = ConnectionPointRef(lowest_id, chain.name)
        _merge_one(session, batch, change, point, hierarchy_changed=hierarchy_changed)
    _store(session, batch)
    _apply_customers(session, batch, changes)
    _warn(session, batch, changes)
    return [PlantWritten(batch.plant_ids[mpid], batch.results[mpid]) for mpid in mpids]


def _merge_one(
    session: Session,
    batch: _Batch,
    change: PlantChange,
    point: ConnectionPointRef | None,
    *,
    hierarchy_changed: bool,
) -> None:
    """Merge one change onto its stored plant; note what to insert or update."""
    mpid = change.metering_point_id
    locked = batch.stored.get(mpid)
    merged = merge_plant(locked.stored if locked else None, change, connection_point=point)
    change.issues.warnings.extend(merged.warnings)
    batch.documents[mpid] = merged.document
    columns = repository.plant_columns(merged.document, point.id if point else None)
    if locked is None:
        batch.new_rows.append(
            {
                "instance_id": batch.instance_id,
                "metering_point_id": mpid,
                **columns,
                "created_at": batch.now,
                "updated_at": batch.now,
            }
        )
        batch.created[mpid] = merged.diff
        batch.results[mpid] = "created"
        return
    batch.plant_ids[mpid] = locked.id
    batch.results[mpid] = "updated" if hierarchy_changed or merged.diff else "unchanged"
    if not merged.diff:
        return
    batch.updated[locked.id] = (mpid, locked.stored.data, merged.document)
    batch.updates.append(
        {"plant_id": locked.id, **{f"new_{k}": v for k, v in columns.items()}}
        | {"new_updated_at": batch.now}
    )
    record_change(
        session,
        batch.actor,
        entity_type="plant",
        entity_key=mpid,
        operation="update",
        diff=merged.diff,
    )


def _store(session: Session, batch: _Batch) -> None:
    """Insert the new plants, update the changed ones, and index both for search."""
    inserted = repository.insert_plants(session, batch.new_rows)
    batch.plant_ids.update(inserted)
    for mpid, diff in batch.created.items():
        record_change(
            session,
            batch.actor,
            entity_type="plant",
            entity_key=mpid,
            operation="create",
            diff=creation_diff("plant", diff),
        )
    repository.update_plants(session, batch.instance_id, batch.updates)
    repository.index_plants(
        session,
        batch.instance_id,
        created={inserted[mpid]: (mpid, batch.documents[mpid]) for mpid in batch.created},
        updated=batch.updated,
    )


def _apply_customers(session: Session, batch: _Batch, changes: Sequence[PlantChange]) -> None:
    """Each plant's customer change (by stored key, never by the number itself), as periods;
    a plant whose periods changed is updated."""
    batch.customer_keys = {
        change.metering_point_id: stored_key(session, batch.instance_id, change.customer)
        for change in changes
        if change.customer is not None
    }
    stored_ids = [batch.plant_ids[mpid] for mpid in batch.stored]
    periods_of = repository.periods_of(session, batch.instance_id, stored_ids)
    written: dict[int, list[Period]] = {}
    rewritten: list[int] = []
    protected: list[str] = []
    for change in changes:
        mpid = change.metering_point_id
        plant_id = batch.plant_ids[mpid]
        periods = periods_of.get(plant_id, [])
        start = change.customer_from or batch.today
        customer = batch.customer_keys.get(mpid)
        new_periods = apply_customer_change(periods, customer, start, today=batch.today)
        if new_periods is None:
            continue
        if batch.results[mpid] == "unchanged":
            batch.results[mpid] = "updated"
        if change.customer is not None:
            protected.append(change.customer)
        # The new list may merge with or drop periods before ``start``: write it whole.
        if periods:
            rewritten.append(plant_id)
        written[plant_id] = new_periods
        record_change(
            session,
            batch.actor,
            entity_type="plant",
            entity_key=mpid,
            operation="customer",
            diff={"customerPeriods": [periods_wire(periods), periods_wire(new_periods)]},
        )
    repository.replace_periods(session, batch.instance_id, written, rewritten=rewritten)
    protect_many(session, batch.instance_id, protected)


def _warn(session: Session, batch: _Batch, changes: Sequence[PlantChange]) -> None:
    """A customer not known yet, and a plant no rule covers: warnings, never errors."""
    keys = batch.customer_keys
    known = existing_customers(session, batch.instance_id, set(keys.values()))
    rules = rules_for(session, batch.instance_id)
    for change in changes:
        mpid = change.metering_point_id
        if mpid in keys and keys[mpid] not in known:
            change.issues.warn(
                "customerId",
                "customer_not_found",
                "no customer with this number exists yet; the link resolves when it arrives",
                plausibility=False,
            )
        document = batch.documents[mpid]
        codes_of = {
            "consumption_code": document["consumptionCode"],
            "naeringskode": document["industrialClassification"],
        }
        audit = derived_audit(rules, document["auditSpecificInfo"], **codes_of)
        warn_if_uncovered(audit, change.issues, **codes_of)


# --- Reads ---------------------------------------------------------------------------------


def get_plant(session: Session, instance_id: int, mpid: str, *, today: date) -> PlantOut:
    found = None
    if "\x00" not in mpid:  # from a URL; PostgreSQL cannot compare text holding NUL
        found = repository.plant_by_key(session, instance_id, mpid.strip())
    if found is None:
        raise NotFound(_NO_PLANT)
    plant, chain = found
    return plant_view(session, plant, today=today, connection_point=chain)


def lookup_plants(
    session: Session, instance_id: int, mpids: Sequence[str], *, today: date
) -> tuple[list[PlantOut], list[str]]:
    """Many plants' views in one read (a dry run compares a window of rows with them instead
    of sending a GET per row), and the ids this instance has no plant for."""
    wanted = list(dict.fromkeys(m.strip() for m in mpids if "\x00" not in m))
    if not wanted:
        return [], []
    views = {
        plant.metering_point_id: plant_view(session, plant, today=today, connection_point=chain)
        for plant, chain in repository.plants_by_keys(session, instance_id, wanted)
    }
    return [views[m] for m in wanted if m in views], [m for m in wanted if m not in views]


def list_plant_keys(
    session: Session, instance_id: int, *, after: str | None, limit: int
) -> PlantKeysOut:
    """One keyset page of the instance's metering point ids (with status), in id order.

    For clients that reconcile a full export against the registry; ``next`` is the ``after``
    of the following page, ``None`` on the last one.
    """
    rows = repository.plant_keys(session, instance_id, after=after, limit=limit + 1)
    items = [PlantKeyOut(meteringPointId=mpid, status=status) for mpid, status in rows[:limit]]
    return PlantKeysOut(items=items, next=items[-1].meteringPointId if len(rows) > limit else None)


def history_state(session: Session, plant: Plant) -> dict[str, Any]:
    """The plant as its history paths name it: the document's fields, ``connectionPoint``,
    ``customerPeriods`` and each extension's builder (core/changelog.py replays these)."""
    instance_id = plant.instance_id
    point = plant.connection_point_id
    state = flatten(plant.data)
    names = repository.element_names(session, instance_id, [point] if point is not None else [])
    state["connectionPoint"] = names.get(point) if point is not None else None
    periods = repository.plant_periods(session, instance_id, plant.id)
    state["customerPeriods"] = periods_wire(periods)
    for extension in repository.plant_extensions(session, instance_id, plant.id):
        label = extension_label(extension.name, extension.year)
        state[f"{label}.builtByElCompanyId"] = extension.company
    return state


# --- Builders and delete -------------------------------------------------------------------


def register_built_by(
    session: Session,
    actor: Actor,
    change: BuiltByChange,
    *,
    today: date,
) -> Outcome[PlantOut]:
    """Who built a plant, or an extension of it (idempotent per plant, name and year)."""
    plant = repository.lock_plant(session, actor.instance_id, change.metering_point_id)
    if plant is None:
        raise NotFound(_NO_PLANT)
    if change.extension_name is None:
        result = _set_built_by(session, actor, plant, change.company)
    else:
        result = _record_extension(session, actor, plant, change)
    session.flush()
    view = _written_view(session, actor.instance_id, plant.id, today=today)
    return Outcome(result, view, change.issues.warnings)


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
    session: Session, actor: Actor, plant: Plant, change: BuiltByChange
) -> Result:
    assert change.extension_name is not None
    name, year, company = change.extension_name, change.extension_year, change.company
    key = extension_key(name, year)
    existing = repository.lock_extension(session, actor.instance_id, plant.id, key)
    before = existing.built_by_el_company_id if existing else None
    if existing is None:
        if _insert_extension(session, actor, plant, change) is None:
            return "unchanged"
    elif before == company:
        return "unchanged"
    else:
        existing.built_by_el_company_id = company
        session.flush()
    record_change(
        session,
        actor,
        entity_type="plant",
        entity_key=plant.metering_point_id,
        operation="extension",
        diff={f"{extension_label(name, year)}.builtByElCompanyId": [before, company]},
    )
    return "created" if existing is None else "updated"


def _insert_extension(
    session: Session, actor: Actor, plant: Plant, change: BuiltByChange
) -> int | None:
    """A new extension row; None when another transaction inserted it first."""
    assert change.extension_name is not None
    return repository.insert_extension(
        session,
        {
            "instance_id": actor.instance_id,
            "plant_id": plant.id,
            "extension_key": extension_key(change.extension_name, change.extension_year),
            "extension_name": change.extension_name,
            "extension_year_built": change.extension_year,
            "built_by_el_company_id": change.company,
            "created_at": utc_now(),
        },
    )


def delete_plant(session: Session, actor: Actor, mpid: str) -> None:
    plant = (
        None if "\x00" in mpid else repository.lock_plant(session, actor.instance_id, mpid.strip())
    )
    if plant is None:
        raise NotFound(_NO_PLANT)
    key = plant.metering_point_id
    # The tombstone holds what was deleted, so that as-of reads of earlier days still work.
    removed = diff_documents(history_state(session, plant), None)
    repository.delete_plant(session, actor.instance_id, plant)
    record_change(
        session, actor, entity_type="plant", entity_key=key, operation="delete", diff=removed
    )
