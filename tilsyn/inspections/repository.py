"""Every SQL statement of inspections and findings, each scoped to its instance.

The set reads (:func:`clock_dates`, :func:`use_changes`, :func:`overdue_deadlines`,
:func:`plant_rows`) each answer for all of an instance's plants in one statement, or for a
few when ``plant_ids`` is given: due dates for a million plants cost a handful of reads,
never one per plant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.orm import Session

from tilsyn.contract.time import OSLO
from tilsyn.core.models import Change, Finding, Inspection, Instance, Plant
from tilsyn.core.tenancy import owned_by, scoped_select
from tilsyn.core.upsert import insert_if_absent
from tilsyn.inspections.due import CLOCK_KINDS
from tilsyn.inspections.merge import StoredFinding, StoredInspection

STREAM_ROWS = 20_000
_AUDIT = ("plantType", "inspectionArea", "riskCategoryGroup", "inspectionRate")


# --- Plants --------------------------------------------------------------------------------


def plant_key(session: Session, instance_id: int, mpid: str) -> tuple[int, str] | None:
    """The plant's id and key, or None: a key from a URL may hold anything."""
    if "\x00" in mpid:
        return None
    row = session.execute(
        select(Plant.id, Plant.metering_point_id).where(
            owned_by(Plant, instance_id), Plant.metering_point_id == mpid.strip()
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _explicit(name: str, as_int: bool) -> Any:
    path = Plant.data[("auditSpecificInfo", name)]
    return (path.as_integer() if as_int else path.as_string()).label(name)


PLANT_COLUMNS = (
    Plant.id,
    Plant.metering_point_id,
    Plant.status,
    Plant.connected_date,
    Plant.consumption_code,
    Plant.industrial_classification,
    _explicit("plantType", False),
    _explicit("inspectionArea", True),
    _explicit("riskCategoryGroup", True),
    _explicit("inspectionRate", True),
)


def plant_rows(
    session: Session, instance_id: int, plant_ids: Sequence[int] | None = None
) -> Iterator[Row[Any]]:
    """The plants with what their due dates need, streamed in batches (a server-side cursor
    on PostgreSQL), in id order."""
    statement = select(*PLANT_COLUMNS).where(owned_by(Plant, instance_id)).order_by(Plant.id)
    if plant_ids is not None:
        # The ids lead and the instance is checked on each: SQLite, planning without
        # statistics, would otherwise read the instance's plants through an (instance_id, …)
        # index to find twenty ids (90 ms for a search's page at a million plants).
        statement = (
            select(*PLANT_COLUMNS)
            .where(Plant.id.in_(list(plant_ids)), (Plant.instance_id + 0) == instance_id)
            .order_by(Plant.id)
        )
    # On the connection (Core): the ORM's per-row handling would cost more than the read.
    result = session.connection().execute(statement.execution_options(yield_per=STREAM_ROWS))
    yield from result


def _limited(statement: Any, column: Any, keys: Sequence[int] | Sequence[str] | None) -> Any:
    return statement if keys is None else statement.where(column.in_(list(keys)))


# --- The facts of due dates ----------------------------------------------------------------


def clock_dates(
    session: Session, instance_id: int, *, until: date, plant_ids: Sequence[int] | None = None
) -> dict[int, tuple[date, str]]:
    """Each plant's latest periodic or new-installation inspection up to ``until``: date and
    kind (new_installation wins a tie: it says more). One pass over the clock inspections;
    keeping the latest in Python spares a join back that SQLite would plan as a scan."""
    statement = select(Inspection.plant_id, Inspection.date, Inspection.kind).where(
        owned_by(Inspection, instance_id),
        Inspection.kind.in_(CLOCK_KINDS),
        Inspection.date <= until,
    )
    statement = _limited(statement, Inspection.plant_id, plant_ids)
    latest: dict[int, tuple[date, str]] = {}
    get = latest.get
    for plant_id, day, kind in session.connection().execute(statement):
        found = get(plant_id)
        if found is None or day > found[0] or (day == found[0] and kind == "new_installation"):
            latest[plant_id] = (day, kind)
    return latest


def _oslo_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(OSLO).date()


def _changed(path: str) -> Any:
    before = Change.diff[(path, 0)].as_string()
    after = Change.diff[(path, 1)].as_string()
    return and_(before.is_not(None), after.is_not(None), before != after)


def use_changes(
    session: Session, instance_id: int, *, until: date, mpids: Sequence[str] | None = None
) -> dict[str, list[date]]:
    """Days (Europe/Oslo) on which a plant's consumption code or næringskode went from one
    value to another; a plant's first import sets them and is no change."""
    statement = select(Change.entity_key, Change.at).where(
        owned_by(Change, instance_id),
        Change.entity_type == "plant",
        Change.operation == "update",
        or_(_changed("consumptionCode"), _changed("industrialClassification")),
    )
    statement = _limited(statement, Change.entity_key, mpids)
    found: dict[str, list[date]] = {}
    for mpid, at in session.execute(statement):
        day = _oslo_day(at)
        if day <= until:
            found.setdefault(mpid, []).append(day)
    return found


def overdue_deadlines(
    session: Session, instance_id: int, *, today: date, plant_ids: Sequence[int] | None = None
) -> dict[int, date]:
    """Each plant's earliest passed deadline of a nonconformity not closed by ``today``."""
    statement = (
        select(Finding.plant_id, func.min(Finding.deadline))
        .where(
            owned_by(Finding, instance_id),
            Finding.severity == "nonconformity",
            Finding.deadline < today,
            or_(Finding.closed_on.is_(None), Finding.closed_on > today),
        )
        .group_by(Finding.plant_id)
    )
    statement = _limited(statement, Finding.plant_id, plant_ids)
    return dict(session.execute(statement).all())


def open_findings(session: Session, instance_id: int, plant_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Finding)
            .where(
                owned_by(Finding, instance_id),
                Finding.plant_id == plant_id,
                Finding.status != "closed",
            )
        )
        or 0
    )


def instance_settings(session: Session, instance_id: int) -> tuple[int, int]:
    """``(findingDeadlineDays, newInstallationYears)`` of the instance."""
    row = session.execute(
        select(Instance.finding_deadline_days, Instance.new_installation_years).where(
            Instance.id == instance_id
        )
    ).one()
    return int(row[0]), int(row[1])


def lock_instance(session: Session, instance_id: int) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.id == instance_id).with_for_update())
    assert instance is not None
    return instance


# --- Inspections ---------------------------------------------------------------------------


def _stored_findings(
    session: Session, inspection_ids: Sequence[int]
) -> dict[int, list[StoredFinding]]:
    found: dict[int, list[StoredFinding]] = {}
    if not inspection_ids:
        return found
    rows = session.scalars(
        select(Finding)
        .where(Finding.inspection_id.in_(list(inspection_ids)))
        .order_by(Finding.inspection_id, Finding.position)
    )
    for row in rows:
        found.setdefault(row.inspection_id, []).append(stored_finding(row))
    return found


def stored_finding(row: Finding) -> StoredFinding:
    return StoredFinding(
        row.id,
        row.description,
        row.severity,
        row.regulation,
        row.deadline,
        row.status,
        row.status_date,
        row.closed_on,
        row.note,
    )


def _stored(
    rows: Sequence[tuple[Inspection, str]], findings: dict[int, list[StoredFinding]]
) -> list[StoredInspection]:
    return [
        StoredInspection(
            row.id,
            mpid,
            row.date,
            row.kind,
            row.external_id,
            row.inspector,
            row.notes,
            tuple(findings.get(row.id, ())),
        )
        for row, mpid in rows
    ]


def _with_key() -> Any:
    return select(Inspection, Plant.metering_point_id).join(Plant, Plant.id == Inspection.plant_id)


def inspections_where(
    session: Session,
    instance_id: int,
    *conditions: Any,
    newest_first: bool = False,
    lock: bool = False,
) -> list[StoredInspection]:
    statement = _with_key().where(owned_by(Inspection, instance_id), *conditions)
    if newest_first:
        statement = statement.order_by(Inspection.date.desc(), Inspection.id.desc())
    if lock:
        statement = statement.with_for_update(of=Inspection)
    rows = [(row[0], row[1]) for row in session.execute(statement)]
    return _stored(rows, _stored_findings(session, [row.id for row, _ in rows]))


def inspection_by_id(
    session: Session, instance_id: int, inspection_id: int
) -> StoredInspection | None:
    found = inspections_where(session, instance_id, Inspection.id == inspection_id)
    return found[0] if found else None


def inspection_by_external_id(
    session: Session, instance_id: int, external_id: str
) -> StoredInspection | None:
    found = inspections_where(
        session, instance_id, Inspection.external_id == external_id, lock=True
    )
    return found[0] if found else None


def plant_inspections(session: Session, instance_id: int, plant_id: int) -> list[StoredInspection]:
    return inspections_where(
        session, instance_id, Inspection.plant_id == plant_id, newest_first=True
    )


def insert_inspection(session: Session, values: dict[str, Any]) -> int | None:
    """The new inspection's id; None when another request created one with its externalId."""
    if values.get("external_id") is None:
        row = Inspection(**values)
        session.add(row)
        session.flush()
        return row.id
    return insert_if_absent(session, Inspection, values, key=["instance_id", "external_id"])


def update_inspection(
    session: Session, instance_id: int, inspection_id: int, values: dict[str, Any]
) -> None:
    row = session.scalar(
        scoped_select(Inspection, instance_id).where(Inspection.id == inspection_id)
    )
    assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()


def write_findings(session: Session, rows: Iterable[dict[str, Any]]) -> list[int]:
    """Insert or update findings (``id`` None: insert); their ids, in order."""
    ids: list[int] = []
    for values in rows:
        finding_id = values.pop("id")
        if finding_id is None:
            row = Finding(**values)
            session.add(row)
            session.flush()
            ids.append(row.id)
            continue
        stored = session.get(Finding, finding_id)
        assert stored is not None
        for name, value in values.items():
            setattr(stored, name, value)
        ids.append(finding_id)
    session.flush()
    return ids


def delete_findings(session: Session, instance_id: int, finding_ids: Sequence[int]) -> None:
    if finding_ids:
        for row in session.scalars(
            scoped_select(Finding, instance_id).where(Finding.id.in_(list(finding_ids)))
        ):
            session.delete(row)
        session.flush()


# --- Findings ------------------------------------------------------------------------------


def finding_for_update(session: Session, instance_id: int, finding_id: int) -> Finding | None:
    return session.scalar(
        scoped_select(Finding, instance_id).where(Finding.id == finding_id).with_for_update()
    )


FINDING_LIST = (Finding, Plant.metering_point_id)


@dataclass(frozen=True, slots=True)
class FindingFilter:
    """Which findings a listing reads; each field given narrows it (they combine with AND)."""

    status: str | None = None
    overdue_on: date | None = None
    """Only the findings not closed whose deadline is before this day."""
    finding_ids: Sequence[int] | None = None
    plant_id: int | None = None


def finding_rows(
    session: Session, instance_id: int, where: FindingFilter, *, after: int, limit: int
) -> list[tuple[Finding, str]]:
    """Findings in id order after ``after``, each with its plant's metering point id."""
    statement = (
        select(*FINDING_LIST)
        .join(Plant, Plant.id == Finding.plant_id)
        .where(owned_by(Finding, instance_id), Finding.id > after)
        .order_by(Finding.id)
        .limit(limit)
    )
    if where.status is not None:
        statement = statement.where(Finding.status == where.status)
    if where.overdue_on is not None:
        statement = statement.where(Finding.status != "closed", Finding.deadline < where.overdue_on)
    if where.finding_ids is not None:
        statement = statement.where(Finding.id.in_(list(where.finding_ids)))
    if where.plant_id is not None:
        statement = statement.where(Finding.plant_id == where.plant_id)
    return [(row[0], row[1]) for row in session.execute(statement)]


# --- The year in figures -------------------------------------------------------------------


def inspections_by_kind(
    session: Session, instance_id: int, first: date, last: date
) -> dict[str, int]:
    statement = (
        select(Inspection.kind, func.count())
        .where(owned_by(Inspection, instance_id), Inspection.date.between(first, last))
        .group_by(Inspection.kind)
    )
    return {kind: int(count) for kind, count in session.execute(statement)}


def findings_by_severity(
    session: Session, instance_id: int, first: date, last: date
) -> dict[str, int]:
    statement = (
        select(Finding.severity, func.count())
        .join(Inspection, Inspection.id == Finding.inspection_id)
        .where(owned_by(Finding, instance_id), Inspection.date.between(first, last))
        .group_by(Finding.severity)
    )
    return {severity: int(count) for severity, count in session.execute(statement)}


def findings_closed_between(session: Session, instance_id: int, first: date, last: date) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Finding)
            .where(owned_by(Finding, instance_id), Finding.closed_on.between(first, last))
        )
        or 0
    )


def findings_open_on(session: Session, instance_id: int, day: date) -> int:
    """Findings of inspections up to ``day`` not closed by the end of it."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Finding)
            .join(Inspection, Inspection.id == Finding.inspection_id)
            .where(
                owned_by(Finding, instance_id),
                Inspection.date <= day,
                or_(Finding.closed_on.is_(None), Finding.closed_on > day),
            )
        )
        or 0
    )


def clock_plants_between(session: Session, instance_id: int, first: date, last: date) -> set[int]:
    """Plants with a periodic or new-installation inspection in the period (a plan's ``done``)."""
    statement = (
        select(Inspection.plant_id)
        .where(
            owned_by(Inspection, instance_id),
            Inspection.kind.in_(CLOCK_KINDS),
            Inspection.date.between(first, last),
        )
        .distinct()
    )
    return set(session.scalars(statement))
