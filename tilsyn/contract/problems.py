"""Problems found in a request: errors reject it, warnings travel with a stored record.

Both have the same wire shape ``{field, code, message}`` with ``field`` the canonical JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SYNTHETIC_NUMBER = "synthetic_number"


@dataclass(frozen=True, slots=True)
class Issue:
    """A warning or error: the field's canonical JSON path, a code and a message.

    The server reports it and the SDK reads it back (``from_wire``): one class, so the
    client's and the server's idea of an issue cannot drift apart.
    """

    field: str
    code: str
    message: str
    # Plausibility findings become errors under an instance's strictValidation setting;
    # notices about how the request was applied (unknown field, kept date) never do.
    plausibility: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}

    @classmethod
    def from_wire(cls, value: Any) -> Issue:
        """An issue as a server sent it; anything that is not an object becomes its text."""
        if not isinstance(value, dict):
            return cls("", "unknown", str(value))
        return cls(
            str(value.get("field") or ""),
            str(value.get("code") or ""),
            str(value.get("message") or ""),
        )

    def __str__(self) -> str:
        return f"{self.field}: {self.message} ({self.code})" if self.field else self.message


@dataclass
class Issues:
    """Collects every problem of one body, so that a client sees all of them at once."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    # Unknown property names seen; past a limit they are no longer listed one by one.
    unknown: int = 0

    def error(self, path: str, code: str, message: str) -> None:
        # One problem found by two checks (the reader's and the type's) is reported once.
        if any(e.field == path and e.code == code for e in self.errors):
            return
        self.errors.append(Issue(path, code, message))

    def warn(self, path: str, code: str, message: str, *, plausibility: bool = True) -> None:
        self.warnings.append(Issue(path, code, message, plausibility))

    def extend(self, other: Issues) -> None:
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    def apply_strictness(self, strict: bool, *, synthetic_ok: bool = False) -> None:
        """Apply the instance's policy: test instances expect synthetic personal numbers
        (DOMAIN.md §12 row 8); strict instances reject implausible values."""
        if synthetic_ok:
            self.warnings = [w for w in self.warnings if w.code != SYNTHETIC_NUMBER]
        if not strict:
            return
        promoted = [w for w in self.warnings if w.plausibility]
        self.warnings = [w for w in self.warnings if not w.plausibility]
        self.errors.extend(promoted)


def join_path(parent: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{parent}[{name}]"
    return f"{parent}.{name}" if parent else name
