"""What an upsert answers: SPEC §2's ``{result, warnings, data}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from tilsyn.contract.answers import IssueOut, issues_out
from tilsyn.contract.problems import Issue

Result = Literal["created", "updated", "unchanged"]
Data = TypeVar("Data")


@dataclass
class Outcome(Generic[Data]):
    """``data`` is the record's view: the model the route declares, built once by the
    writer, which the route answers as it is."""

    result: Result
    data: Data
    warnings: list[Issue] = field(default_factory=list)

    def warnings_out(self) -> list[IssueOut]:
        return issues_out(self.warnings)
