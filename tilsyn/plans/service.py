"""The yearly plan (SPEC §11): built on demand, versions kept, progress computed when read.

A build streams every plant's due date once (inspections/service.py ``iter_due``), keeps
those due by 31 December and those that can never come due, fills each inspection area's
capacity most urgent first, and stores the result as the year's next version.
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tilsyn.contract.bodies import read_model
from tilsyn.contract.errors import InvalidBody, NotFound
from tilsyn.contract.problems import Issue, Issues
from tilsyn.contract.time import today_in_oslo, utc_now
from tilsyn.core.changelog import Actor, record_change
from tilsyn.core.models import Plan, PlanItem
from tilsyn.core.tenancy import owned_by
from tilsyn.inspections.due import NO_INTERVAL
from tilsyn.inspections.repository import clock_plants_between, lock_instance
from tilsyn.inspections.schemas import PlanAreaOut, PlanIn, PlanItemOut, PlanOut, UnplannedOut
from tilsyn.inspections.service import PlantDue, iter_due
from tilsyn.plans.explain import explanation

NO_AREA = "none"
"""The capacity key of plants without an inspection area."""
MAX_PAGE = 100_000
CSV_COLUMNS = (
    "meteringPointId",
    "inspectionArea",
    "plantType",
    "riskCategoryGroup",
    "dueDate",
    "reasons",
    "explanation",
    "status",
)


def parse_capacity(data: Any) -> dict[str, int]:
    """The body's ``capacity`` (optional body); keys are inspection areas or ``none``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    issues = Issues()
    body = read_model(PlanIn, data, issues)
    capacity = dict(body.capacity or {}) if body else {}
    for key in capacity:
        if key != NO_AREA and not key.strip().lstrip("-").isdigit():
            issues.error(
                f"capacity.{key}", "invalid_area", "must be an inspection area number or 'none'"
            )
    if body is None or issues.errors:
        raise InvalidBody(
            "The plan was not built; see errors.", errors=issues.errors, warnings=issues.warnings
        )
    return {_area_key(int(k) if k != NO_AREA else None): v for k, v in capacity.items()}


def _area_key(area: int | None) -> str:
    return NO_AREA if area is None else str(area)


@dataclass(frozen=True, slots=True)
class _Row:
    item: PlantDue
    status: str


def _choose(items: list[PlantDue], capacity: Mapping[str, int]) -> list[_Row]:
    """Per area, the most urgent (earliest due) are planned up to its capacity; the least
    urgent are deferred."""
    by_area: dict[int | None, list[PlantDue]] = {}
    for item in items:
        by_area.setdefault(item.inspection_area, []).append(item)
    chosen: list[_Row] = []
    for area in sorted(by_area, key=lambda a: (a is None, a or 0)):
        ranked = sorted(by_area[area], key=lambda i: (i.due.due_date, i.metering_point_id))
        limit = capacity.get(_area_key(area))
        for rank, item in enumerate(ranked):
            chosen.append(_Row(item, "planned" if limit is None or rank < limit else "deferred"))
    return chosen


ITEM_COLUMNS = (
    "plan_id",
    "position",
    "plant_id",
    "metering_point_id",
    "inspection_area",
    "plant_type",
    "risk_category_group",
    "due_date",
    "reasons",
    "explanation",
    "status",
)


def _item_row(plan_id: int, position: int, item: PlantDue, status: str) -> tuple[Any, ...]:
    """A plan item in the order of ITEM_COLUMNS; the due date as ISO text, as both
    databases take it."""
    due_date = item.due_date
    return (
        plan_id,
        position,
        item.plant_id,
        item.metering_point_id,
        item.inspection_area,
        item.plant_type,
        item.risk_category_group,
        None if due_date is None else due_date.isoformat(),
        ",".join(item.reasons),
        explanation(item),
        status,
    )


def _insert_items(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Store a plan's items through the driver: COPY on PostgreSQL (an executemany there is
    a round trip per row), executemany on SQLite, whose driver loops in C. A million items
    through the ORM or Core's parameter handling would take longer than the whole build."""
    if not rows:
        return
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    names = ", ".join(ITEM_COLUMNS)
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY plan_items ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in ITEM_COLUMNS)
    cursor = raw.cursor()
    try:
        cursor.executemany(f"INSERT INTO plan_items ({names}) VALUES ({marks})", rows)  # noqa: S608
    finally:
        cursor.close()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A build holds a million small objects it will not free: the cyclic collector would
    walk them over and over while they pile up, for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _built_summary(
    rows: list[tuple[Any, ...]], capacity: Mapping[str, int], done: set[int]
) -> list[PlanAreaOut]:
    """The summary per area of rows just built (the read-back of a stored plan would cost as
    much as the build's own reads)."""
    counts: dict[int | None, dict[str, int]] = {}
    for row in rows:
        if row[10] == "unplanned":
            continue
        entry = counts.setdefault(row[4], {"planned": 0, "deferred": 0, "done": 0})
        entry["done" if row[2] in done else row[10]] += 1
    return _areas(counts, capacity)


def _areas(
    counts: Mapping[int | None, Mapping[str, int]], capacity: Mapping[str, int]
) -> list[PlanAreaOut]:
    """The summary per area, areas in order and the plants without one last."""
    return [
        PlanAreaOut(inspectionArea=area, capacity=capacity.get(_area_key(area)), **entry)
        for area, entry in sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    ]


def build_plan(
    session: Session,
    actor: Actor,
    year: int,
    *,
    capacity: Mapping[str, int],
    today: date | None = None,
    limit: int = 1000,
) -> PlanOut:
    """Build and store the year's next plan version; its view (the first ``limit`` items).

    The plan belongs to the actor's instance: whoever builds it is recorded in its history.
    """
    instance = actor.instance_id
    today = today or today_in_oslo()
    with _collector_paused():
        plan, rows = _build(session, instance, year, capacity=capacity, today=today)
    diff: dict[str, Any] = {"version": [plan.version - 1 or None, plan.version]}
    if capacity:
        diff["capacity"] = [None, dict(capacity)]
    record_change(
        session, actor, entity_type="plan", entity_key=str(year), operation="build", diff=diff
    )
    done = _done_plants(session, instance, year)
    return plan_view(
        session, instance, plan, limit=limit, summary=_built_summary(rows, capacity, done)
    )


def _build(
    session: Session, instance: int, year: int, *, capacity: Mapping[str, int], today: date
) -> tuple[Plan, list[tuple[Any, ...]]]:
    # Two builds at once would both take the next version: the second waits for the first.
    lock_instance(session, instance)
    year_end = date(year, 12, 31)
    due_items: list[PlantDue] = []
    unplanned: list[PlantDue] = []
    for item in iter_due(session, instance, today=today):
        due_date = item.due.due_date
        if due_date is not None and due_date <= year_end:
            due_items.append(item)
        elif NO_INTERVAL in item.reasons:
            unplanned.append(item)
    version = 1 + (
        session.scalar(
            select(func.max(Plan.version)).where(owned_by(Plan, instance), Plan.year == year)
        )
        or 0
    )
    plan = Plan(
        instance_id=instance,
        year=year,
        version=version,
        capacity=dict(capacity),
        built_on=today,
        built_at=utc_now(),
    )
    session.add(plan)
    session.flush()
    rows = [
        _item_row(plan.id, position, row.item, row.status)
        for position, row in enumerate(_choose(due_items, capacity))
    ]
    start = len(rows)
    rows += [
        _item_row(plan.id, start + n, item, "unplanned")
        for n, item in enumerate(sorted(unplanned, key=lambda i: i.metering_point_id))
    ]
    _insert_items(session, rows)
    return plan, rows


def _latest(session: Session, instance: int, year: int) -> Plan:
    plan = session.scalar(
        select(Plan)
        .where(owned_by(Plan, instance), Plan.year == year)
        .order_by(Plan.version.desc())
        .limit(1)
    )
    if plan is None:
        raise NotFound(f"No plan for {year} has been built in this instance.")
    return plan


def check_plan(session: Session, instance: int, year: int) -> None:
    """404 when the year has no plan yet."""
    _latest(session, instance, year)


def latest_plan(
    session: Session, instance: int, year: int, *, limit: int = 1000, after: int | None = None
) -> PlanOut:
    """The year's latest plan with progress (``done``) as recorded now."""
    return plan_view(session, instance, _latest(session, instance, year), limit=limit, after=after)


def _done_plants(session: Session, instance: int, year: int) -> set[int]:
    return clock_plants_between(session, instance, date(year, 1, 1), date(year, 12, 31))


def _status(row: Any, done: set[int]) -> str:
    if row.status != "unplanned" and row.plant_id in done:
        return "done"
    return str(row.status)


def _summary(session: Session, plan: Plan, done: set[int]) -> list[PlanAreaOut]:
    counts: dict[int | None, dict[str, int]] = {}
    statement = select(PlanItem.inspection_area, PlanItem.status, PlanItem.plant_id).where(
        PlanItem.plan_id == plan.id, PlanItem.status != "unplanned"
    )
    for area, status, plant_id in session.execute(statement):
        entry = counts.setdefault(area, {"planned": 0, "deferred": 0, "done": 0})
        entry["done" if plant_id in done else status] += 1
    return _areas(counts, plan.capacity or {})


def _item_view(row: Any, done: set[int]) -> dict[str, Any]:
    return {
        "meteringPointId": row.metering_point_id,
        "inspectionArea": row.inspection_area,
        "plantType": row.plant_type,
        "riskCategoryGroup": row.risk_category_group,
        "dueDate": None if row.due_date is None else row.due_date.isoformat(),
        "reasons": row.reasons.split(",") if row.reasons else [],
        "explanation": row.explanation,
        "status": _status(row, done),
    }


def _items(session: Session, plan: Plan, *, after: int, limit: int | None) -> list[PlanItem]:
    statement = (
        select(PlanItem)
        .where(PlanItem.plan_id == plan.id, PlanItem.position > after)
        .order_by(PlanItem.position)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def plan_view(
    session: Session,
    instance: int,
    plan: Plan,
    *,
    limit: int = 1000,
    after: int | None = None,
    summary: list[PlanAreaOut] | None = None,
) -> PlanOut:
    done = _done_plants(session, instance, plan.year)
    rows = _items(session, plan, after=-1 if after is None else after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_item_view(row, done) for row in rows]
    return PlanOut(
        year=plan.year,
        version=plan.version,
        builtAt=plan.built_at.isoformat().replace("+00:00", "Z"),
        builtOn=plan.built_on.isoformat(),
        capacity=plan.capacity or {},
        summary=_summary(session, plan, done) if summary is None else summary,
        items=[PlanItemOut.model_validate(i) for i in items if i["status"] != "unplanned"],
        # An unplanned plant has neither a due date nor a status: the model leaves them out.
        unplanned=[UnplannedOut.model_validate(i) for i in items if i["status"] == "unplanned"],
        next=rows[-1].position if more else None,
    )


def plan_rows(session: Session, instance: int, year: int) -> Iterator[dict[str, Any]]:
    """Every item of the latest plan, unplanned last, as CSV and xlsx write them."""
    plan = _latest(session, instance, year)
    done = _done_plants(session, instance, year)
    statement = (
        select(PlanItem)
        .where(PlanItem.plan_id == plan.id)
        .order_by(PlanItem.position)
        .execution_options(yield_per=10_000)
    )
    for row in session.scalars(statement):
        view = _item_view(row, done)
        view["reasons"] = " ".join(view["reasons"])
        yield view


def plan_csv(session: Session, instance: int, year: int) -> Iterator[str]:
    """The latest plan as CSV text, a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for number, row in enumerate(plan_rows(session, instance, year), start=1):
        writer.writerow(row)
        if number % 5000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def plan_xlsx(session: Session, instance: int, year: int) -> bytes:
    """The latest plan as an Excel workbook a DLE can send on: the items, then the summary."""
    plan = _latest(session, instance, year)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(f"Plan {year}")
    sheet.append(list(CSV_COLUMNS))
    for row in plan_rows(session, instance, year):
        sheet.append([row[name] for name in CSV_COLUMNS])
    summary = workbook.create_sheet("Summary")
    summary.append(["inspectionArea", "capacity", "planned", "deferred", "done"])
    for area in _summary(session, plan, _done_plants(session, instance, year)):
        summary.append([area.inspectionArea, area.capacity, area.planned, area.deferred, area.done])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def check_year(year: int) -> None:
    if not 1900 <= year <= 2200:
        raise InvalidBody(
            "The year must be between 1900 and 2200.",
            errors=[Issue("year", "out_of_range", "must be between 1900 and 2200")],
        )
