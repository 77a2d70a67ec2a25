"""Answer shapes every door shares: a warning or error as listed in an answer, a deletion."""

from __future__ import annotations

from pydantic import BaseModel


class IssueOut(BaseModel):
    field: str
    code: str
    message: str


class DeletedOut(BaseModel):
    result: str
