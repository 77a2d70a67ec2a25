"""Wire shapes of inspections, findings, inspection status and the inspection settings.

Request bodies are read like every import body (core/bodies.py): names match
case-insensitively, unknown names are warnings, every problem is reported at its path.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from tilsyn.contract.answers import IssueOut
from tilsyn.contract.wire import Int, MeteringPointId, RequiredText, Text, required, to_date

KINDS = ("periodic", "new_installation", "follow_up", "audit")
SEVERITIES = ("nonconformity", "remark")
FINDING_STATUSES = ("open", "notified", "ordered", "corrected", "closed", "escalated")


def _one_of(values: tuple[str, ...], code: str) -> AfterValidator:
    def check(value: str) -> str:
        folded = value.strip().lower()
        if folded not in values:
            raise PydanticCustomError(code, f"must be one of {', '.join(values)}")
        return folded

    return AfterValidator(check)


RequiredDate = Annotated[
    date,
    BeforeValidator(to_date),
    BeforeValidator(required),
    WithJsonSchema({"type": "string", "format": "date", "description": "YYYY-MM-DD"}),
]
Kind = Annotated[RequiredText, _one_of(KINDS, "invalid_kind")]
Severity = Annotated[RequiredText, _one_of(SEVERITIES, "invalid_severity")]
FindingStatus = Annotated[RequiredText, _one_of(FINDING_STATUSES, "invalid_status")]
OptionalDate = Annotated[
    date | None,
    BeforeValidator(to_date),
    WithJsonSchema({"type": ["string", "null"], "format": "date"}),
]
ExternalId = Annotated[Text, Field(max_length=200)]


class FindingIn(BaseModel):
    """A nonconformity (avvik) or a remark (anmerkning) found at the inspection."""

    model_config = ConfigDict(extra="ignore")

    description: RequiredText
    severity: Severity = Field(description="nonconformity or remark")
    regulation: Text | None = Field(None, description="The rule it breaks, e.g. FEL § 10")
    deadline: OptionalDate = Field(
        None, description="A nonconformity without one gets date + findingDeadlineDays"
    )


INSPECTION_EXAMPLE: JsonDict = {
    "externalId": "KONTROLL-2024-0042",
    "meteringPointId": "707057500026392739",
    "date": "2024-05-11",
    "kind": "periodic",
    "inspector": "Kari Kontrollør",
    "notes": "Bolig, 2 etasjer",
    "findings": [
        {
            "description": "Manglende jordfeilvern på kurs 3",
            "severity": "nonconformity",
            "regulation": "FEL § 10",
        },
        {"description": "Sikringsskap uten kursfortegnelse", "severity": "remark"},
    ],
}


class InspectionIn(BaseModel):
    """An inspection; with ``externalId`` it is upserted by it, else always created."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [INSPECTION_EXAMPLE]})

    meteringPointId: MeteringPointId
    date: RequiredDate = Field(description="YYYY-MM-DD, not in the future")
    kind: Kind = Field(description="periodic, new_installation, follow_up or audit")
    externalId: ExternalId | None = Field(None, description="The client's own id")
    inspector: Text | None = None
    notes: Text | None = None
    findings: list[FindingIn] | None = None


class FindingStatusIn(BaseModel):
    """A step of a finding's case: its new status, the day of the step, and perhaps a new
    deadline (a decision, an extension) and a note."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"status": "ordered", "date": "2024-06-01", "deadline": "2024-08-01"}]
        },
    )

    status: FindingStatus = Field(description=", ".join(FINDING_STATUSES))
    date: RequiredDate = Field(description="YYYY-MM-DD, not in the future")
    deadline: OptionalDate = None
    note: Text | None = None


class InspectionSettingsIn(BaseModel):
    """Each setting sent is changed; one left out keeps its value."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"findingDeadlineDays": 60, "newInstallationYears": 2}]},
    )

    findingDeadlineDays: Annotated[Int, Field(ge=1, le=3650)] | None = Field(
        None, description="Days a nonconformity has to be corrected when no deadline is sent"
    )
    newInstallationYears: Annotated[Int, Field(ge=0, le=100)] | None = Field(
        None, description="Years after connection that a never-inspected plant is new"
    )


class PlanIn(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"capacity": {"63": 400, "64": 120}}]}
    )

    capacity: dict[str, Annotated[Int, Field(ge=0)]] | None = Field(
        None,
        description="Inspections each inspection area can take this year; an area left out "
        "has no limit; 'none' is the plants without an area",
    )


# --- Answers -------------------------------------------------------------------------------


class FindingOut(BaseModel):
    id: int
    description: str
    severity: str
    regulation: str | None
    deadline: str | None
    status: str
    statusDate: str = Field(description="Day of the latest step of the case")
    note: str | None


class InspectionOut(BaseModel):
    id: int
    externalId: str | None
    meteringPointId: str
    date: str
    kind: str
    inspector: str | None
    notes: str | None
    findings: list[FindingOut]


class InspectionUpsertOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: InspectionOut


class InspectionListOut(BaseModel):
    meteringPointId: str
    items: list[InspectionOut] = Field(description="Newest first")


class FindingListItemOut(FindingOut):
    meteringPointId: str
    inspectionId: int
    overdue: bool = Field(description="Not closed and its deadline has passed")


class FindingListOut(BaseModel):
    items: list[FindingListItemOut]
    next: str | None = Field(description="`after` of the next page; null on the last")


class FindingMoveOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: FindingListItemOut


class LastInspectionOut(BaseModel):
    date: str
    kind: str


class InspectionStatusOut(BaseModel):
    meteringPointId: str
    interval: int | None = Field(description="Effective inspectionRate, years")
    lastInspection: LastInspectionOut | None = Field(
        description="The latest periodic or new-installation inspection (the clock)"
    )
    dueDate: str | None
    reasons: list[str]
    openFindings: int = Field(description="Findings not closed")


class InspectionSettingsOut(BaseModel):
    findingDeadlineDays: int
    newInstallationYears: int


class InspectionSettingsPutOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: InspectionSettingsOut


class PlanItemOut(BaseModel):
    meteringPointId: str
    inspectionArea: int | None
    plantType: str | None
    riskCategoryGroup: int | None
    dueDate: str | None
    reasons: list[str]
    explanation: str
    status: str = Field(description="planned, deferred or done")


class UnplannedOut(BaseModel):
    meteringPointId: str
    inspectionArea: int | None
    plantType: str | None
    riskCategoryGroup: int | None
    reasons: list[str]
    explanation: str


class PlanAreaOut(BaseModel):
    inspectionArea: int | None
    capacity: int | None
    planned: int
    deferred: int
    done: int


class PlanOut(BaseModel):
    year: int
    version: int
    builtAt: str
    builtOn: str = Field(description="The day the due dates were computed for")
    capacity: dict[str, int]
    summary: list[PlanAreaOut]
    items: list[PlanItemOut]
    unplanned: list[UnplannedOut]
    next: int | None = Field(description="`after` of the next page of items; null on the last")


class ReportInspectionsOut(BaseModel):
    periodic: int
    new_installation: int
    follow_up: int
    audit: int


class ReportFindingsOut(BaseModel):
    nonconformity: int
    remark: int


class ReportOut(BaseModel):
    year: int
    inspections: ReportInspectionsOut
    findings: ReportFindingsOut
    findingsClosed: int = Field(description="Findings closed during the year")
    findingsOpenAtYearEnd: int
    plantsInService: int
    plantsOverdueAtYearEnd: int
