"""The answers built from what was written or read."""

from __future__ import annotations

from datetime import date

from tilsyn.core.models import Finding
from tilsyn.inspections.merge import StoredFinding, StoredInspection
from tilsyn.inspections.repository import stored_finding
from tilsyn.inspections.schemas import (
    FindingListItemOut,
    FindingOut,
    InspectionOut,
    InspectionStatusOut,
    LastInspectionOut,
)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def finding_view(finding: StoredFinding) -> FindingOut:
    return FindingOut(
        id=finding.id,
        description=finding.description,
        severity=finding.severity,
        regulation=finding.regulation,
        deadline=_day(finding.deadline),
        status=finding.status,
        statusDate=finding.status_date.isoformat(),
        note=finding.note,
    )


def inspection_view(inspection: StoredInspection) -> InspectionOut:
    return InspectionOut(
        id=inspection.id,
        externalId=inspection.external_id,
        meteringPointId=inspection.metering_point_id,
        date=inspection.date.isoformat(),
        kind=inspection.kind,
        inspector=inspection.inspector,
        notes=inspection.notes,
        findings=[finding_view(f) for f in inspection.findings],
    )


def is_overdue(row: Finding, today: date) -> bool:
    return row.status != "closed" and row.deadline is not None and row.deadline < today


def finding_list_item(row: Finding, mpid: str, *, today: date) -> FindingListItemOut:
    """A finding as the findings listing shows it: with its plant and whether it is overdue."""
    return FindingListItemOut(
        **dict(finding_view(stored_finding(row))),
        meteringPointId=mpid,
        inspectionId=row.inspection_id,
        overdue=is_overdue(row, today),
    )


def status_view(
    mpid: str,
    *,
    interval: int | None,
    clock: tuple[date, str] | None,
    due_date: date | None,
    reasons: tuple[str, ...],
    open_findings: int,
) -> InspectionStatusOut:
    return InspectionStatusOut(
        meteringPointId=mpid,
        interval=interval,
        lastInspection=None
        if clock is None
        else LastInspectionOut(date=clock[0].isoformat(), kind=clock[1]),
        dueDate=_day(due_date),
        reasons=list(reasons),
        openFindings=open_findings,
    )
