"""Request bodies to typed changes; the tolerant reader's warnings travel with them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tilsyn.contract.bodies import fold_keys, read_model, shape_of
from tilsyn.contract.errors import InvalidBody
from tilsyn.contract.problems import Issue, Issues, join_path
from tilsyn.inspections.schemas import FindingIn, FindingStatusIn, InspectionIn


@dataclass(frozen=True, slots=True)
class FindingChange:
    description: str
    severity: str
    regulation: str | None
    deadline: date | None


@dataclass
class InspectionChange:
    """An inspection as sent, checked; ``issues`` holds the warnings to answer with."""

    metering_point_id: str
    date: date
    kind: str
    external_id: str | None
    inspector: str | None
    notes: str | None
    findings: list[FindingChange]
    issues: Issues = field(default_factory=Issues)


@dataclass(frozen=True, slots=True)
class FindingMove:
    status: str
    date: datetime.date
    deadline: datetime.date | None
    note: str | None
    warnings: tuple[Issue, ...] = ()
    """The reader's warnings about the step's body, answered with the moved finding."""


def _fold_findings(data: dict[str, Any], issues: Issues) -> dict[str, Any]:
    """Property names inside the ``findings`` list are matched case-insensitively too."""
    for name, value in data.items():
        if name.casefold() == "findings" and isinstance(value, list):
            shape = shape_of(FindingIn)
            data = dict(data)
            data[name] = [
                fold_keys(item, shape, join_path(join_path("", "findings"), index), issues)
                for index, item in enumerate(value)
            ]
    return data


def _not_future(day: date, path: str, today: date, issues: Issues) -> None:
    if day > today:
        issues.error(path, "future_date", "must not be in the future")


def parse_inspection(
    data: dict[str, Any], *, today: date
) -> tuple[InspectionChange | None, Issues]:
    issues = Issues()
    body = read_model(InspectionIn, _fold_findings(data, issues), issues)
    if body is None:
        return None, issues
    _not_future(body.date, "date", today, issues)
    change = InspectionChange(
        metering_point_id=body.meteringPointId,
        date=body.date,
        kind=body.kind,
        external_id=body.externalId.strip() if body.externalId else None,
        inspector=body.inspector,
        notes=body.notes,
        findings=[
            FindingChange(item.description.strip(), item.severity, item.regulation, item.deadline)
            for item in body.findings or ()
        ],
        issues=issues,
    )
    for index, finding in enumerate(change.findings):
        if finding.deadline is not None and finding.deadline < change.date:
            issues.warn(
                f"findings[{index}].deadline",
                "deadline_before_inspection",
                "is before the inspection's date",
                plausibility=False,
            )
    return change, issues


def parse_valid_inspection(data: Any, *, today: date) -> InspectionChange:
    """The parsed inspection; InvalidBody naming every problem when it cannot be stored."""
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    change, issues = parse_inspection(data, today=today)
    if change is None or issues.errors:
        raise InvalidBody(
            "The inspection was not stored; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    return change


def parse_finding_move(data: Any, *, today: date) -> FindingMove:
    """The step asked for, carrying the reader's warnings; InvalidBody when it cannot be taken."""
    issues = Issues()
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    body = read_model(FindingStatusIn, data, issues)
    if body is not None:
        _not_future(body.date, "date", today, issues)
    if body is None or issues.errors:
        raise InvalidBody(
            "The finding was not changed; see errors.",
            errors=issues.errors,
            warnings=issues.warnings,
        )
    return FindingMove(
        body.status, body.date, body.deadline, body.note, warnings=tuple(issues.warnings)
    )
