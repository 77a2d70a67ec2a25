"""Stored state + change -> what to write and what history records: pure, no I/O.

Findings of an upserted inspection are matched by their position in ``findings``: the
finding at the same place keeps its id and its case (status, steps), and takes the
description, severity, regulation and deadline sent; findings beyond the new list are
removed, new ones start ``open``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from tilsyn.contract.diffs import diff_documents
from tilsyn.contract.errors import ApiError
from tilsyn.inspections.parse import FindingChange, FindingMove, InspectionChange

TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"notified", "ordered", "corrected", "closed"}),
    "notified": frozenset({"ordered", "corrected", "closed"}),
    "ordered": frozenset({"corrected", "escalated"}),
    "corrected": frozenset({"closed", "ordered"}),
    "escalated": frozenset({"closed"}),
    "closed": frozenset(),
}
"""The case chain of a finding (SPEC §11): from each status, the statuses it may move to."""


class TransitionRefused(ApiError):
    status = 409
    slug = "transition-refused"
    title = "The finding cannot move to that status"


@dataclass(frozen=True, slots=True)
class StoredFinding:
    id: int
    description: str
    severity: str
    regulation: str | None
    deadline: date | None
    status: str
    status_date: date
    closed_on: date | None
    note: str | None


@dataclass(frozen=True, slots=True)
class StoredInspection:
    id: int
    metering_point_id: str
    date: date
    kind: str
    external_id: str | None
    inspector: str | None
    notes: str | None
    findings: tuple[StoredFinding, ...]


@dataclass(frozen=True, slots=True)
class FindingWrite:
    """One finding as it is to be stored; ``id`` None: a new one."""

    id: int | None
    position: int
    description: str
    severity: str
    regulation: str | None
    deadline: date | None


@dataclass(frozen=True, slots=True)
class InspectionMerge:
    changed: bool
    diff: dict[str, Any]
    findings: tuple[FindingWrite, ...]
    removed: tuple[int, ...]


def default_deadline(finding: FindingChange, inspected: date, days: int) -> date | None:
    """A nonconformity without a deadline gets the instance's default after the visit."""
    if finding.deadline is not None or finding.severity != "nonconformity":
        return finding.deadline
    return inspected + timedelta(days=days)


def _finding_doc(
    description: str, severity: str, regulation: str | None, deadline: Any
) -> dict[str, Any]:
    return {
        "description": description,
        "severity": severity,
        "regulation": regulation,
        "deadline": None if deadline is None else str(deadline),
    }


class InspectionHeader(Protocol):
    """The fields an inspection's history document names besides its findings."""

    @property
    def metering_point_id(self) -> str: ...
    @property
    def date(self) -> date: ...
    @property
    def kind(self) -> str: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def inspector(self) -> str | None: ...
    @property
    def notes(self) -> str | None: ...


def inspection_document(header: InspectionHeader, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """The inspection as history names its fields (``findings[0].deadline``)."""
    document: dict[str, Any] = {
        "meteringPointId": header.metering_point_id,
        "date": header.date.isoformat(),
        "kind": header.kind,
        "externalId": header.external_id,
        "inspector": header.inspector,
        "notes": header.notes,
    }
    for index, finding in enumerate(findings):
        document[f"findings[{index}]"] = finding
    return document


def stored_document(stored: StoredInspection) -> dict[str, Any]:
    return inspection_document(
        stored,
        [
            _finding_doc(f.description, f.severity, f.regulation, f.deadline)
            for f in stored.findings
        ],
    )


def merge_inspection(
    stored: StoredInspection | None, change: InspectionChange, *, deadline_days: int
) -> InspectionMerge:
    """What an upsert writes: every finding with its id (kept by position) and deadline."""
    old = stored.findings if stored else ()
    writes = tuple(
        FindingWrite(
            old[index].id if index < len(old) else None,
            index,
            finding.description,
            finding.severity,
            finding.regulation,
            default_deadline(finding, change.date, deadline_days),
        )
        for index, finding in enumerate(change.findings)
    )
    new_document = inspection_document(
        change,
        [_finding_doc(w.description, w.severity, w.regulation, w.deadline) for w in writes],
    )
    diff = diff_documents(stored_document(stored) if stored else None, new_document)
    removed = tuple(f.id for f in old[len(writes) :])
    return InspectionMerge(bool(diff) or stored is None, diff, writes, removed)


def move(finding: StoredFinding, step: FindingMove, *, deadline_days: int) -> dict[str, Any]:
    """The finding's new fields after ``step``, or TransitionRefused (409).

    A decision (``ordered``) without a deadline keeps the one the finding has, or gets the
    instance's default after the step's day.
    """
    if step.status not in TRANSITIONS[finding.status]:
        allowed = sorted(TRANSITIONS[finding.status])
        raise TransitionRefused(
            f"The finding is '{finding.status}'; it can move to "
            f"{', '.join(allowed) if allowed else 'no other status'}, not '{step.status}'."
        )
    deadline = step.deadline or finding.deadline
    if step.status == "ordered" and deadline is None:
        deadline = step.date + timedelta(days=deadline_days)
    return {
        "status": step.status,
        "status_date": step.date,
        "deadline": deadline,
        "closed_on": step.date if step.status == "closed" else None,
        "note": step.note if step.note is not None else finding.note,
    }


def move_diff(finding: StoredFinding, fields: dict[str, Any]) -> dict[str, Any]:
    """History of one step: ``status``, ``statusDate`` and what else it changed."""
    before = {
        "status": finding.status,
        "statusDate": finding.status_date.isoformat(),
        "deadline": None if finding.deadline is None else finding.deadline.isoformat(),
        "note": finding.note,
    }
    after = {
        "status": fields["status"],
        "statusDate": fields["status_date"].isoformat(),
        "deadline": None if fields["deadline"] is None else fields["deadline"].isoformat(),
        "note": fields["note"],
    }
    return {name: [before[name], after[name]] for name in before if before[name] != after[name]}
