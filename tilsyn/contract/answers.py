"""Answer shapes every door shares: a warning or error as listed in an answer, a deletion."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from tilsyn.contract.problems import Issue


class IssueOut(BaseModel):
    field: str
    code: str
    message: str


def issues_out(issues: Iterable[Issue]) -> list[IssueOut]:
    """Issues as an answer lists them (``plausibility`` is the server's own business)."""
    return [IssueOut(field=i.field, code=i.code, message=i.message) for i in issues]


class DeletedOut(BaseModel):
    result: str
