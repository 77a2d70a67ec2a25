"""HTTP edge for history: an entity's changes, the instance's change feed, as-of reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tilsyn.contract.errors import InvalidRequest
from tilsyn.contract.problems import Issue
from tilsyn.core import changelog
from tilsyn.core.http import KEY_ERRORS, READ_ERRORS, Db, problem
from tilsyn.history import service
from tilsyn.history.schemas import ChangeFeedOut
from tilsyn.instances.http import Env, EnvironmentPath

router = APIRouter(tags=["history"])

MAX_PAGE = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Changes per page")]
Before = Annotated[
    int | None,
    Query(ge=1, le=service.MAX_ID, description="`next` of the page before: older changes"),
]
After = Annotated[
    str | None,
    Query(max_length=64, description="`next` of the answer before; absent: from the start"),
]
AsOf = Annotated[
    str | None,
    Query(
        alias="asOf",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="YYYY-MM-DD: as stored at the end of that day (Europe/Oslo)",
        json_schema_extra={"format": "date"},
    ),
]
Since = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2}))?$",
        description="Start at the first change at or after this moment: "
        "2026-01-01T00:00:00Z, or a date (from 00:00 Europe/Oslo)",
    ),
]
AS_OF_ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    410: problem("History of that day has been pruned"),
}


def as_of_day(value: str | None) -> date | None:
    """The ``asOf`` day; a 400 problem (never a 422) for a date that does not exist."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            "asOf must be a date, YYYY-MM-DD.",
            errors=[Issue("asOf", "invalid_date", "is not a valid date")],
        ) from None


def since_moment(value: str | None) -> datetime | None:
    """The ``since`` moment, in UTC; a 400 problem for one that does not exist."""
    if value is None:
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            return changelog.start_of_day(date.fromisoformat(value))
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        raise InvalidRequest(
            "since must be a date-time with Z or an offset, or a date.",
            errors=[Issue("since", "invalid_datetime", "is not a valid date or date-time")],
        ) from None


@router.get(
    "/api/changes/{environment}",
    operation_id="getChanges",
    summary="The instance's change feed, in commit order",
    description="Follow it with `after=next`: the cursor never skips or repeats a change. "
    "Start it from a moment with `since` (a date-time with `Z` or an offset, or a date: "
    "from the start of that day in Norway) instead of from the beginning.",
    response_model=ChangeFeedOut,
    responses={400: READ_ERRORS[400], **KEY_ERRORS},
)
def change_feed(
    environment: EnvironmentPath,
    ctx: Env,
    db: Db,
    *,
    after: After = None,
    limit: Limit = 50,
    since: Since = None,
) -> ChangeFeedOut:
    moment = since_moment(since)
    if moment is not None and after is not None:
        raise InvalidRequest(
            "Give either `after` (a cursor) or `since` (a moment), not both.",
            errors=[Issue("since", "conflict", "cannot be combined with after")],
        )
    with db.read() as session:
        changes, next_cursor = service.change_feed(
            session, ctx.instance_id, after=after, limit=limit, since=moment
        )
    return ChangeFeedOut.model_validate({"changes": changes, "next": next_cursor})
