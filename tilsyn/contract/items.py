"""One item of a bulk body, and the answer line for it: what every bulk door (customers,
plants, inspections; HTTP or a file) reads and answers, below the domains that write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tilsyn.contract.bodies import check_item, parse_item
from tilsyn.contract.errors import InvalidBody


@dataclass(frozen=True, slots=True)
class RawItem:
    index: int
    value: Any = None
    error: str | None = None
    # An item not decoded yet (an NDJSON line, an array element): decoded where its chunk is
    # checked, so that the process reading the body only splits it.
    text: bytes | str | None = None

    def read(self) -> dict[str, Any]:
        """The item as a JSON object; :class:`InvalidBody` when it is not one."""
        if self.error is not None:
            raise InvalidBody(self.error)
        if self.text is not None:
            return parse_item(self.text)
        return check_item(self.value)


@dataclass
class ItemResult:
    index: int
    key: str | None
    result: str
    warnings: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "key": self.key,
            "result": self.result,
            "warnings": self.warnings,
            "errors": self.errors,
        }
