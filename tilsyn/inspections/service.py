"""Inspections, findings and due dates: one verb per operation, keyword-only.

Services take the session and the instance id; writes take the ``actor`` whose changes
history records. The console calls these directly, the routes through HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tilsyn.contract.bodies import read_model
from tilsyn.contract.errors import InvalidBody, InvalidRequest, NotFound
from tilsyn.contract.problems import Issue, Issues
from tilsyn.contract.time import utc_now
from tilsyn.core.changelog import Actor, record_change
from tilsyn.core.outcome import Outcome
from tilsyn.inspections import repository as repo
from tilsyn.inspections.due import IN_SERVICE, Due, PlantFacts, due, first_use_change_after
from tilsyn.inspections.merge import (
    InspectionMerge,
    StoredInspection,
    merge_inspection,
    move,
    move_diff,
)
from tilsyn.inspections.parse import FindingMove, InspectionChange
from tilsyn.inspections.schemas import (
    FINDING_STATUSES,
    FindingListItemOut,
    InspectionListOut,
    InspectionOut,
    InspectionSettingsIn,
    InspectionSettingsOut,
    InspectionStatusOut,
    ReportFindingsOut,
    ReportInspectionsOut,
    ReportOut,
)
from tilsyn.inspections.views import finding_list_item, inspection_view, status_view
from tilsyn.rules.service import RuleIndex, rules_for

MAX_FINDINGS_PAGE = 1000


# --- Due dates -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlantDue:
    """A plant's due date with what it was computed from (the plan explains it from this)."""

    plant_id: int
    metering_point_id: str
    plant_type: str | None
    inspection_area: int | None
    risk_category_group: int | None
    facts: PlantFacts
    clock_kind: str | None
    due: Due

    @property
    def due_date(self) -> date | None:
        return self.due.due_date

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.due.reasons

    @property
    def interval(self) -> int | None:
        return self.facts.interval


class _Audit:
    """The effective auditSpecificInfo values: explicit where stored, else by the rules;
    computed once per distinct (codes, explicit values), which a million plants share."""

    def __init__(self, rules: RuleIndex) -> None:
        self.rules = rules
        self.cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def values(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """``key``: consumption code, næringskode, then the four explicit values."""
        found = self.cache.get(key)
        if found is None:
            rules = self.rules.lookup(key[0], key[1].strip())
            found = tuple(
                explicit
                if explicit is not None
                else (None if rule is None else rule.values[position])
                for position, (explicit, rule) in enumerate(zip(key[2:], rules, strict=True))
            )
            self.cache[key] = found
        return found


def iter_due(
    session: Session, instance: int, *, today: date, plant_ids: Sequence[int] | None = None
) -> Iterator[PlantDue]:
    """Every plant's (or the given plants') due date as of ``today``, in one pass: a few
    set reads, then one streamed read of the plants."""
    _, new_years = repo.instance_settings(session, instance)
    audit = _Audit(rules_for(session, instance))
    clocks = repo.clock_dates(session, instance, until=today, plant_ids=plant_ids)
    overdue = repo.overdue_deadlines(session, instance, today=today, plant_ids=plant_ids)
    rows: Any = repo.plant_rows(session, instance, plant_ids)
    mpids: list[str] | None = None
    if plant_ids is not None:
        rows = list(rows)
        mpids = [row.metering_point_id for row in rows]
    changes = repo.use_changes(session, instance, until=today, mpids=mpids)
    values = audit.values
    for row in rows:
        plant_id, mpid, status, connected = row[:4]
        plant_type, area, risk, rate = values(row[4:])
        clock = clocks.get(plant_id)
        clock_day = None if clock is None else clock[0]
        used = changes.get(mpid)
        facts = PlantFacts(
            status == IN_SERVICE,
            rate,
            connected,
            clock_day,
            None if used is None else first_use_change_after(used, clock_day),
            overdue.get(plant_id),
        )
        yield PlantDue(
            plant_id,
            mpid,
            plant_type,
            area,
            risk,
            facts,
            None if clock is None else clock[1],
            due(facts, today=today, new_installation_years=new_years),
        )


def due_dates(
    session: Session, instance: int, *, today: date, plant_ids: Sequence[int] | None = None
) -> dict[int, PlantDue]:
    """Due dates by plant id, for a set of plants or all of them (search's ``dueBefore``)."""
    return {
        item.plant_id: item
        for item in iter_due(session, instance, today=today, plant_ids=plant_ids)
    }


def plant_not_found() -> NotFound:
    """The answer for a meteringPointId this instance has no plant for."""
    return NotFound(
        "No plant with that meteringPointId in this instance.",
        errors=[Issue("meteringPointId", "not_found", "no plant with this id in this instance")],
    )


def _plant(session: Session, instance: int, mpid: str) -> tuple[int, str]:
    found = repo.plant_key(session, instance, mpid)
    if found is None:
        raise plant_not_found()
    return found


def inspection_status(
    session: Session, instance: int, metering_point_id: str, *, today: date
) -> InspectionStatusOut:
    """When the plant is due and why (SPEC §11)."""
    plant_id, mpid = _plant(session, instance, metering_point_id)
    item = next(iter_due(session, instance, today=today, plant_ids=[plant_id]))
    clock = None if item.facts.clock is None else (item.facts.clock, item.clock_kind or "")
    return status_view(
        mpid,
        interval=item.interval,
        clock=clock,
        due_date=item.due_date,
        reasons=item.reasons,
        open_findings=repo.open_findings(session, instance, plant_id),
    )


# --- Inspections ---------------------------------------------------------------------------


def _stored_or_404(session: Session, instance: int, inspection_id: int) -> StoredInspection:
    found = repo.inspection_by_id(session, instance, inspection_id)
    if found is None:
        raise NotFound("No inspection with that id in this instance.")
    return found


def get_inspection(session: Session, instance: int, inspection_id: int) -> InspectionOut:
    return inspection_view(_stored_or_404(session, instance, inspection_id))


def list_inspections(session: Session, instance: int, metering_point_id: str) -> InspectionListOut:
    """A plant's inspections, newest first."""
    plant_id, mpid = _plant(session, instance, metering_point_id)
    items = repo.plant_inspections(session, instance, plant_id)
    return InspectionListOut(meteringPointId=mpid, items=[inspection_view(i) for i in items])


def record_inspection(
    session: Session, instance: int, change: InspectionChange, *, actor: Actor
) -> Outcome[InspectionOut]:
    """Create the inspection, or update the one with the same ``externalId``."""
    plant_id, mpid = _plant(session, instance, change.metering_point_id)
    change.metering_point_id = mpid
    deadline_days, _ = repo.instance_settings(session, instance)
    stored = None
    if change.external_id is not None:
        stored = repo.inspection_by_external_id(session, instance, change.external_id)
    now = utc_now()
    values = {
        "plant_id": plant_id,
        "date": change.date,
        "kind": change.kind,
        "external_id": change.external_id,
        "inspector": change.inspector,
        "notes": change.notes,
        "updated_at": now,
    }
    if stored is None:
        new_id = repo.insert_inspection(
            session, {"instance_id": instance, "created_at": now, **values}
        )
        if new_id is not None:
            write = _InspectionWrite(instance, new_id, None, change, values)
            return _written(session, write, actor=actor, deadline_days=deadline_days)
        # another request created it meanwhile: update that one
        assert change.external_id is not None
        stored = repo.inspection_by_external_id(session, instance, change.external_id)
    assert stored is not None
    write = _InspectionWrite(instance, stored.id, stored, change, values)
    return _written(session, write, actor=actor, deadline_days=deadline_days)


@dataclass(frozen=True, slots=True)
class _InspectionWrite:
    """One upsert as record_inspection settled it: which row, what it held, what to write."""

    instance: int
    inspection_id: int
    stored: StoredInspection | None
    change: InspectionChange
    values: dict[str, Any]

    @property
    def created(self) -> bool:
        return self.stored is None


def _written(
    session: Session, write: _InspectionWrite, *, actor: Actor, deadline_days: int
) -> Outcome[InspectionOut]:
    merged = merge_inspection(write.stored, write.change, deadline_days=deadline_days)
    warnings = write.change.issues.warnings
    if write.stored is not None and not merged.changed:
        return Outcome("unchanged", inspection_view(write.stored), warnings)
    if write.stored is not None:
        repo.update_inspection(session, write.instance, write.inspection_id, write.values)
    ids = repo.write_findings(session, _finding_rows(write, merged))
    repo.delete_findings(session, write.instance, merged.removed)
    _record_inspection_history(session, actor, write, merged, ids)
    view = inspection_view(_stored_or_404(session, write.instance, write.inspection_id))
    return Outcome("created" if write.created else "updated", view, warnings)


def _finding_rows(write: _InspectionWrite, merged: InspectionMerge) -> list[dict[str, Any]]:
    """The findings' columns; a new finding also gets its owner and starts ``open``."""
    now = write.values["updated_at"]
    new_only = {
        "instance_id": write.instance,
        "inspection_id": write.inspection_id,
        "status": "open",
        "status_date": write.change.date,
        "created_at": now,
    }
    return [
        {
            "id": finding.id,
            "position": finding.position,
            "description": finding.description,
            "severity": finding.severity,
            "regulation": finding.regulation,
            "deadline": finding.deadline,
            "plant_id": write.values["plant_id"],
            "updated_at": now,
        }
        | (new_only if finding.id is None else {})
        for finding in merged.findings
    ]


def _record_inspection_history(
    session: Session,
    actor: Actor,
    write: _InspectionWrite,
    merged: InspectionMerge,
    finding_ids: Sequence[int],
) -> None:
    """History of one upsert: the inspection's diff, each finding created or removed."""
    record_change(
        session,
        actor,
        entity_type="inspection",
        entity_key=str(write.inspection_id),
        operation="create" if write.created else "update",
        diff=merged.diff,
    )
    for finding, finding_id in zip(merged.findings, finding_ids, strict=True):
        if finding.id is None:
            record_change(
                session,
                actor,
                entity_type="finding",
                entity_key=str(finding_id),
                operation="create",
                diff={"status": [None, "open"], "inspectionId": [None, write.inspection_id]},
            )
    for finding_id in merged.removed:
        record_change(
            session,
            actor,
            entity_type="finding",
            entity_key=str(finding_id),
            operation="delete",
            diff=None,
        )


# --- Findings ------------------------------------------------------------------------------


def move_finding(
    session: Session,
    instance: int,
    finding_id: int,
    step: FindingMove,
    *,
    actor: Actor,
    today: date,
) -> Outcome[FindingListItemOut]:
    """One step of a finding's case; a step not in the chain is refused with 409.

    The step's warnings (from reading its body) are answered with the moved finding.
    """
    row = repo.finding_for_update(session, instance, finding_id)
    if row is None:
        raise NotFound("No finding with that id in this instance.")
    deadline_days, _ = repo.instance_settings(session, instance)
    stored = repo.stored_finding(row)
    fields = move(stored, step, deadline_days=deadline_days)
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utc_now()
    session.flush()
    record_change(
        session,
        actor,
        entity_type="finding",
        entity_key=str(finding_id),
        operation="status",
        diff=move_diff(stored, fields),
    )
    found = repo.finding_rows(
        session, instance, repo.FindingFilter(finding_ids=[finding_id]), after=0, limit=1
    )
    finding, mpid = found[0]
    return Outcome("updated", finding_list_item(finding, mpid, today=today), list(step.warnings))


def _cursor(after: str | None) -> int:
    if after is None:
        return 0
    if not after.isdigit() or len(after) > 18:
        raise InvalidRequest(
            "after must be the `next` of the page before.",
            errors=[Issue("after", "invalid_cursor", "is not a cursor of this listing")],
        )
    return int(after)


@dataclass(frozen=True, slots=True)
class FindingQuery:
    """What a findings listing asks for: filters (AND) and the keyset page."""

    status: str | None = None
    overdue: bool = False
    """Only unclosed findings whose deadline has passed."""
    metering_point_id: str | None = None
    limit: int = 100
    after: str | None = None


def list_findings(
    session: Session, instance: int, *, today: date, query: FindingQuery = FindingQuery()
) -> tuple[list[FindingListItemOut], str | None]:
    """A page of findings in id order, each with its plant; ``next`` for the page after."""
    if query.status is not None and query.status not in FINDING_STATUSES:
        raise InvalidRequest(
            f"status must be one of {', '.join(FINDING_STATUSES)}.",
            errors=[
                Issue("status", "invalid_status", f"must be one of {', '.join(FINDING_STATUSES)}")
            ],
        )
    plant_id = None
    if query.metering_point_id is not None:
        plant_id, _ = _plant(session, instance, query.metering_point_id)
    where = repo.FindingFilter(
        status=query.status, overdue_on=today if query.overdue else None, plant_id=plant_id
    )
    limit = query.limit
    rows = repo.finding_rows(session, instance, where, after=_cursor(query.after), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [finding_list_item(row, mpid, today=today) for row, mpid in rows]
    return items, str(rows[-1][0].id) if more else None


# --- Settings ------------------------------------------------------------------------------


def get_inspection_settings(session: Session, instance: int) -> InspectionSettingsOut:
    days, years = repo.instance_settings(session, instance)
    return InspectionSettingsOut(findingDeadlineDays=days, newInstallationYears=years)


def put_inspection_settings(
    session: Session, actor: Actor, data: Any
) -> Outcome[InspectionSettingsOut]:
    """Change the settings sent; history records each change."""
    issues = Issues()
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    body = read_model(InspectionSettingsIn, data, issues)
    if body is None or issues.errors:
        raise InvalidBody(
            "The settings were not saved; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    instance = repo.lock_instance(session, actor.instance_id)
    before = {
        "findingDeadlineDays": instance.finding_deadline_days,
        "newInstallationYears": instance.new_installation_years,
    }
    if body.findingDeadlineDays is not None:
        instance.finding_deadline_days = body.findingDeadlineDays
    if body.newInstallationYears is not None:
        instance.new_installation_years = body.newInstallationYears
    after = {
        "findingDeadlineDays": instance.finding_deadline_days,
        "newInstallationYears": instance.new_installation_years,
    }
    diff = {name: [before[name], after[name]] for name in before if before[name] != after[name]}
    view = InspectionSettingsOut.model_validate(after)
    if not diff:
        return Outcome("unchanged", view, issues.warnings)
    session.flush()
    record_change(
        session,
        actor,
        entity_type="settings",
        entity_key="inspections",
        operation="update",
        diff=diff,
    )
    return Outcome("updated", view, issues.warnings)


# --- The year in figures -------------------------------------------------------------------


def year_report(session: Session, instance: int, year: int) -> ReportOut:
    """The figures of DSB's yearly report: the year's inspections and findings, what was
    closed and what was left open, and the plants overdue at the year's end."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    kinds = repo.inspections_by_kind(session, instance, first, last)
    severities = repo.findings_by_severity(session, instance, first, last)
    in_service = overdue = 0
    for item in iter_due(session, instance, today=last):
        if item.facts.in_service:
            in_service += 1
            if item.due_date is not None and item.due_date <= last:
                overdue += 1
    return ReportOut(
        year=year,
        inspections=ReportInspectionsOut(
            **{k: kinds.get(k, 0) for k in ("periodic", "new_installation", "follow_up", "audit")}
        ),
        findings=ReportFindingsOut(
            **{s: severities.get(s, 0) for s in ("nonconformity", "remark")}
        ),
        findingsClosed=repo.findings_closed_between(session, instance, first, last),
        findingsOpenAtYearEnd=repo.findings_open_on(session, instance, last),
        plantsInService=in_service,
        plantsOverdueAtYearEnd=overdue,
    )
