"""What an upsert answers: SPEC §2's ``{result, warnings, data}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tilsyn.contract.problems import Issue

Result = Literal["created", "updated", "unchanged"]


@dataclass
class Outcome:
    result: Result
    data: dict[str, Any]
    warnings: list[Issue] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "warnings": [w.as_dict() for w in self.warnings],
            "data": self.data,
        }
