"""Every SQL statement about plants, each scoped to the caller's instance the same way.

Each statement carries the condition of :func:`~tilsyn.core.tenancy.owned_by_caller`: its
parameter ``CALLER`` is the caller's instance. Hot statements are built once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, cast

from sqlalchemy import (
    Row,
    Table,
    bindparam,
    delete,
    literal,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from tilsyn.contract.plants.merge import ConnectionPointRef, StoredPlant
from tilsyn.core import search_index
from tilsyn.core.models import CustomerPeriod, GridElement, Instance, Plant, PlantExtension
from tilsyn.core.tenancy import CALLER, owned_by_caller
from tilsyn.core.upsert import insert_if_absent, insert_new, insert_rows
from tilsyn.hierarchy.service import (
    CONNECTION_POINT_ROW,
    NET_STATION_ROW,
    TRANSFORMER_ROW,
    chain_columns,
    chain_view,
)
from tilsyn.plants.periods import Period
from tilsyn.rules.service import note_stamp, stamp_columns

_PLANTS = cast(Table, Plant.__table__)
_PERIODS = cast(Table, CustomerPeriod.__table__)


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


@dataclass(frozen=True, slots=True)
class LockedPlant:
    """A stored plant locked for a write: its id, and what merging reads of it."""

    id: int
    stored: StoredPlant


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    year: int | None
    company: int | None


# --- Reads for a view ----------------------------------------------------------------------

# A plant with its chain and the rules stamp, in one read (see :func:`note_stamp`): what its
# view needs beside its periods and extensions.
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
    .where(owned_by_caller(Plant))
)
_STAMP_AT = len(_VIEWED)  # stamp_columns() start here in _PLANT_READ; chain_columns() follow
_PLANT_BY_KEY = _PLANT_READ.where(Plant.metering_point_id == bindparam("metering_point_id"))
_PLANT_BY_ID = _PLANT_READ.where(Plant.id == bindparam("plant_id"))
_PLANTS_BY_KEYS = _PLANT_READ.where(
    Plant.metering_point_id.in_(bindparam("metering_point_ids", expanding=True))
)

ViewedPlant = tuple[PlantFields, dict[str, Any] | None]
"""A plant as its view reads it, and its connection point's view."""


def _viewed(session: Session, instance_id: int, row: Row[Any]) -> ViewedPlant:
    """The plant and its chain's view, noting the rules stamp read with them."""
    note_stamp(session, instance_id, row[_STAMP_AT : _STAMP_AT + 2])
    return cast(PlantFields, row), chain_view(row[_STAMP_AT + 2 :])


def plant_by_key(session: Session, instance_id: int, mpid: str) -> ViewedPlant | None:
    """The plant (a row: every plant read pays for ORM objects otherwise) and its chain."""
    row = (
        session.connection()
        .execute(_PLANT_BY_KEY, {CALLER: instance_id, "metering_point_id": mpid})
        .first()
    )
    return None if row is None else _viewed(session, instance_id, row)


def plant_by_id(session: Session, instance_id: int, plant_id: int) -> ViewedPlant | None:
    row = (
        session.connection()
        .execute(_PLANT_BY_ID, {CALLER: instance_id, "plant_id": plant_id})
        .first()
    )
    return None if row is None else _viewed(session, instance_id, row)


def plants_by_keys(
    session: Session, instance_id: int, mpids: Sequence[str]
) -> Iterator[ViewedPlant]:
    """Many plants in one read, in no particular order."""
    rows = session.connection().execute(
        _PLANTS_BY_KEYS, {CALLER: instance_id, "metering_point_ids": list(mpids)}
    )
    for row in rows:
        yield _viewed(session, instance_id, row)


# A plant's periods (part 0, by start) and extensions (part 1, by year, then name) in one read.
_PERIODS_AND_EXTENSIONS: Executable = union_all(
    select(
        literal(0).label("part"),
        CustomerPeriod.valid_from.label("valid_from"),
        CustomerPeriod.customer_number.label("name"),
        null().label("year"),
        null().label("company"),
    ).where(owned_by_caller(CustomerPeriod), CustomerPeriod.plant_id == bindparam("plant_id")),
    select(
        literal(1),
        null(),
        PlantExtension.extension_name,
        PlantExtension.extension_year_built,
        PlantExtension.built_by_el_company_id,
    ).where(owned_by_caller(PlantExtension), PlantExtension.plant_id == bindparam("plant_id")),
).order_by(
    literal_column("part"),
    literal_column("valid_from"),
    literal_column("year"),
    literal_column("name"),
)


def periods_and_extensions(
    session: Session, instance_id: int, plant_id: int | None
) -> tuple[list[Period], list[Extension]]:
    """A plant's customer periods (by start) and extensions (by year, then name)."""
    periods: list[Period] = []
    extensions: list[Extension] = []
    for part, valid_from, name, year, company in session.connection().execute(
        _PERIODS_AND_EXTENSIONS, {CALLER: instance_id, "plant_id": plant_id}
    ):
        if part == 0:
            periods.append(Period(valid_from, name))
        else:
            extensions.append(Extension(name, year, company))
    return periods, extensions


def plant_periods(session: Session, instance_id: int, plant_id: int) -> list[Period]:
    """The plant's periods; customers by their stored keys (core/personal.py)."""
    return periods_of(session, instance_id, [plant_id]).get(plant_id, [])


def plant_extensions(session: Session, instance_id: int, plant_id: int) -> list[Extension]:
    rows = session.execute(
        select(
            PlantExtension.extension_name,
            PlantExtension.extension_year_built,
            PlantExtension.built_by_el_company_id,
        ).where(owned_by_caller(PlantExtension), PlantExtension.plant_id == plant_id),
        {CALLER: instance_id},
    )
    return [Extension(name, year, company) for name, year, company in rows]


def element_names(session: Session, instance_id: int, element_ids: Iterable[int]) -> dict[int, str]:
    """Grid elements' names by id."""
    ids = sorted(set(element_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(GridElement.id, GridElement.name).where(
            owned_by_caller(GridElement), GridElement.id.in_(ids)
        ),
        {CALLER: instance_id},
    )
    return dict(rows.all())


def element_by_name(session: Session, instance_id: int, kind: str, name: str) -> GridElement | None:
    """A grid element as stored now (history replays it back to a day)."""
    return session.scalar(
        select(GridElement).where(
            owned_by_caller(GridElement), GridElement.kind == kind, GridElement.name == name
        ),
        {CALLER: instance_id},
    )


# --- Plants --------------------------------------------------------------------------------


def lock_plant(session: Session, instance_id: int, mpid: str) -> Plant | None:
    """One plant, locked for a write of its own (builder, delete)."""
    return session.scalar(
        select(Plant)
        .where(owned_by_caller(Plant), Plant.metering_point_id == mpid)
        .with_for_update(),
        {CALLER: instance_id},
    )


def find_plant(session: Session, instance_id: int, mpid: str) -> Plant | None:
    """One plant, unlocked (history reads)."""
    return session.scalar(
        select(Plant).where(owned_by_caller(Plant), Plant.metering_point_id == mpid),
        {CALLER: instance_id},
    )


_LOCK_PLANTS = (
    select(_PLANTS)
    .where(
        owned_by_caller(Plant),
        _PLANTS.c.metering_point_id.in_(bindparam("metering_point_ids", expanding=True)),
    )
    .order_by(_PLANTS.c.metering_point_id)
    .with_for_update()
)


def lock_plants(session: Session, instance_id: int, mpids: list[str]) -> dict[str, LockedPlant]:
    """The stored plants of a batch, locked in key order, with their connection points' names."""
    rows = session.connection().execute(
        _LOCK_PLANTS, {CALLER: instance_id, "metering_point_ids": mpids}
    )
    stored = {row.metering_point_id: row for row in rows}
    # Read after the lock, not joined to it: on PostgreSQL a row locked after waiting is
    # re-read at its newest version, but a joined row is not (its old connection point).
    names = element_names(
        session,
        instance_id,
        (row.connection_point_id for row in stored.values() if row.connection_point_id),
    )
    return {
        mpid: LockedPlant(
            row.id,
            StoredPlant(
                data=row.data,
                connected_date=row.connected_date,
                built_by_el_company_id=row.built_by_el_company_id,
                connection_point=ConnectionPointRef(
                    row.connection_point_id, names.get(row.connection_point_id)
                )
                if row.connection_point_id is not None
                else None,
            ),
        )
        for mpid, row in stored.items()
    }


def plant_columns(document: dict[str, Any], connection_point_id: int | None) -> dict[str, Any]:
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


def insert_plants(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """New plants (each row holds its ``instance_id``); their ids by metering point id.
    Raises :class:`BatchConflict` when another transaction created one of them meanwhile."""
    return insert_new(
        session,
        Plant,
        rows,
        key=["instance_id", "metering_point_id"],
        returning="metering_point_id",
    )


_UPDATE_PLANT = (
    update(_PLANTS)
    .where(owned_by_caller(Plant), _PLANTS.c.id == bindparam("plant_id"))
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


def update_plants(session: Session, instance_id: int, updates: list[dict[str, Any]]) -> None:
    """Changed plants: ``plant_id`` and ``new_<column>`` for each column written."""
    if updates:
        session.execute(_UPDATE_PLANT, [{CALLER: instance_id, **row} for row in updates])


def index_plants(
    session: Session,
    instance_id: int,
    *,
    created: dict[int, tuple[str, dict[str, Any]]],
    updated: dict[int, tuple[str, dict[str, Any], dict[str, Any]]],
) -> None:
    """The search words of new plants (id: key, document), and of updated ones (id: key,
    document before, after) whose words changed."""
    words = search_index.plant_words
    search_index.add_words(
        session, instance_id, {plant_id: words(*entry) for plant_id, entry in created.items()}
    )
    reindexed = {
        plant_id: words(mpid, after)
        for plant_id, (mpid, before, after) in updated.items()
        if search_index.plant_text_changed(before, after)
    }
    if reindexed:
        search_index.replace_words(
            session, instance_id, (search_index.PLANT, search_index.POSTAL_CODE), reindexed
        )


def delete_plant(session: Session, instance_id: int, plant: Plant) -> None:
    """A plant with its periods, extensions and search words."""
    session.execute(
        delete(CustomerPeriod).where(
            owned_by_caller(CustomerPeriod), CustomerPeriod.plant_id == plant.id
        ),
        {CALLER: instance_id},
    )
    session.execute(
        delete(PlantExtension).where(
            owned_by_caller(PlantExtension), PlantExtension.plant_id == plant.id
        ),
        {CALLER: instance_id},
    )
    search_index.drop_words(session, (search_index.PLANT, search_index.POSTAL_CODE), [plant.id])
    session.delete(plant)
    session.flush()


def plant_keys(
    session: Session, instance_id: int, *, after: str | None, limit: int
) -> list[tuple[str, str | None]]:
    """Up to ``limit`` metering point ids (with status) after ``after``, in id order."""
    query = (
        select(Plant.metering_point_id, Plant.status)
        .where(owned_by_caller(Plant))
        .order_by(Plant.metering_point_id)
        .limit(limit)
    )
    if after:
        query = query.where(Plant.metering_point_id > after)
    return [(mpid, status) for mpid, status in session.execute(query, {CALLER: instance_id})]


# --- Customer periods ----------------------------------------------------------------------


def periods_of(
    session: Session, instance_id: int, plant_ids: Iterable[int]
) -> dict[int, list[Period]]:
    """Plants' periods by start, by plant id."""
    ids = sorted(plant_ids)
    found: dict[int, list[Period]] = {}
    if not ids:
        return found
    rows = session.execute(
        select(_PERIODS.c.plant_id, _PERIODS.c.valid_from, _PERIODS.c.customer_number)
        .where(owned_by_caller(CustomerPeriod), _PERIODS.c.plant_id.in_(ids))
        .order_by(_PERIODS.c.plant_id, _PERIODS.c.valid_from),
        {CALLER: instance_id},
    )
    for plant_id, valid_from, customer in rows:
        found.setdefault(plant_id, []).append(Period(valid_from, customer))
    return found


def replace_periods(
    session: Session, instance_id: int, periods: dict[int, list[Period]], *, rewritten: list[int]
) -> None:
    """Plants' periods written whole: those of ``rewritten`` go first."""
    if rewritten:
        session.execute(
            delete(CustomerPeriod).where(
                owned_by_caller(CustomerPeriod), CustomerPeriod.plant_id.in_(rewritten)
            ),
            {CALLER: instance_id},
        )
    rows = [
        {
            "instance_id": instance_id,
            "plant_id": plant_id,
            "valid_from": period.valid_from,
            "customer_number": period.customer,
        }
        for plant_id, new_periods in periods.items()
        for period in new_periods
    ]
    insert_rows(session, _PERIODS, rows)


# --- Extensions ----------------------------------------------------------------------------


def lock_extension(
    session: Session, instance_id: int, plant_id: int, key: str
) -> PlantExtension | None:
    return session.scalar(
        select(PlantExtension)
        .where(
            owned_by_caller(PlantExtension),
            PlantExtension.plant_id == plant_id,
            PlantExtension.extension_key == key,
        )
        .with_for_update(),
        {CALLER: instance_id},
    )


def insert_extension(session: Session, values: dict[str, Any]) -> int | None:
    """A new extension; None when another transaction inserted it first."""
    return insert_if_absent(session, PlantExtension, values, key=["plant_id", "extension_key"])
