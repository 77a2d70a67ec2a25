"""Dependencies shared by every route: the database, the settings, the JSON body, problems.

A route takes its body through core/edge.py, which reads it here and documents its model.

The caller's key is checked first (SPEC §10: ``api-key`` 401, ``{environment}`` 400, then
the body); those dependencies need the instances' keys, so they live in instances/http.py.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from tilsyn.contract.bodies import parse_json_object
from tilsyn.contract.errors import PayloadTooLarge, RequestTimeout
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.groupcommit import GroupCommit


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_db(request: Request) -> Database:
    """Async, as every dependency without I/O: a sync one costs a thread-pool hop per request."""
    return database_of(request)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The `next` of the page before, for keyset-paged listings.
PageAfter = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[^\x00]*$", description="`next` of the page before"),
]


async def read_body(request: Request) -> bytes:
    """The raw body, within the size limit and the time a slow client may take to send it."""
    settings = get_settings(request)
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"The body did not arrive within {settings.body_timeout_seconds:g} seconds."
        ) from None
    return b"".join(chunks)


# Below this, parsing costs less than handing the body to a thread and back.
INLINE_PARSE_BYTES = 64 * 1024


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; a large one (up to 10 MiB) is parsed off the event loop."""
    raw = await read_body(request)
    if len(raw) <= INLINE_PARSE_BYTES:
        return parse_json_object(raw)
    return await run_in_threadpool(parse_json_object, raw)


def request_id(request: Request) -> str:
    existing = getattr(request.state, "request_id", None)
    if existing:
        return str(existing)
    rid = uuid.uuid4().hex
    request.state.request_id = rid
    return rid


Db = Annotated[Database, Depends(get_db)]


async def get_group_commit(request: Request) -> GroupCommit:
    group: GroupCommit = request.app.state.group_commit
    return group


# The process's group commit (core/groupcommit.py), for single writes.
Writer = Annotated[GroupCommit, Depends(get_group_commit)]


class ProblemIssue(BaseModel):
    """One field at fault: the same shape as a stored record's warnings."""

    field: str = Field(description="Canonical JSON path of the field, e.g. `address.postalCode`")
    code: str = Field(description="Stable machine-readable code, e.g. `required`")
    message: str = Field(description="What is wrong, for people")


class Problem(BaseModel):
    """RFC 9457 problem details, with every field at fault listed in ``errors``."""

    type: str = Field(description="URI naming the kind of problem")
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    errors: list[ProblemIssue] | None = Field(
        default=None, description="Every field at fault (requests with a body)"
    )
    warnings: list[ProblemIssue] | None = Field(
        default=None, description="Findings that did not reject the request on their own"
    )


PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": f"#/components/schemas/{Problem.__name__}"}


def problem(description: str) -> dict[str, Any]:
    """An error response as the schema declares it: the Problem schema, as problem+json."""
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def rate_limited() -> dict[str, Any]:
    return {
        **problem("Over this key's rate limit; retry after `Retry-After` seconds"),
        "headers": {
            "Retry-After": {
                "description": "Seconds until a request will be accepted again",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }


# Every keyed endpoint documents at least 401 and 429 (KEY_ERRORS).
KEY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem("Missing, unknown or revoked API key"),
    403: problem("The key's scope does not allow this (a read-only key writing, say)"),
    429: rate_limited(),
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem("Wrong environment for this key, or an invalid request"),
    **KEY_ERRORS,
    404: problem("Not found in this instance"),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem("Invalid JSON or body; every problem is listed in `errors`"),
    **KEY_ERRORS,
    413: problem("Body over 10 MiB"),
}
