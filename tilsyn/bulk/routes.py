"""HTTP edge for bulk upserts: a streamed body in, a streamed NDJSON answer out."""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from tilsyn.bulk.service import (
    CHUNK_SIZE,
    ChunkCheckers,
    Kind,
    LoadStatistics,
    PreparedChunk,
    Summary,
    prepare_chunk,
    write_chunk,
)
from tilsyn.bulk.stream import split_body
from tilsyn.contract.answers import IssueOut
from tilsyn.contract.customers.schemas import CustomerIn
from tilsyn.contract.items import ItemResult, RawItem
from tilsyn.contract.plants.schemas import PlantIn
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.edge import DocumentedBody, documented, schema_ref
from tilsyn.core.http import WRITE_ERRORS, Db, get_settings
from tilsyn.core.observability import observe_outcome
from tilsyn.inspections import bulk as inspections_bulk
from tilsyn.inspections.schemas import InspectionIn
from tilsyn.instances.http import Env, EnvironmentPath, actor_for
from tilsyn.instances.service import KeyContext, key_is_active

# The bulk doors: customers and plants (tagged "bulk"), and inspections (tagged
# "inspections", beside the other inspection routes in the API document).
router = APIRouter()
bulk_router = APIRouter(tags=["bulk"])
inspection_router = APIRouter(tags=["inspections"])
NDJSON = "application/x-ndjson"


class RequestStreamingResponse(StreamingResponse):
    """Streams the answer while the request body is still being read.

    Starlette's StreamingResponse listens for a disconnect on ``receive`` while it streams,
    which would take the body's chunks away from the reader; here a disconnect shows as a
    failed send instead, and the chunk in progress is either committed or not at all.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)


class BulkItemOut(BaseModel):
    """One line of the answer per item sent; then one line ``{"summary": {...}}``."""

    index: int
    key: str | None
    result: str
    warnings: list[IssueOut]
    errors: list[IssueOut]


@dataclass(frozen=True)
class StreamedBody(DocumentedBody):
    """Documents a bulk door's body, which the route streams itself: many of the single door's
    model, as NDJSON or a JSON array; the answer's lines are :class:`BulkItemOut`."""

    def request_body(self) -> dict[str, Any]:
        item = schema_ref(self.model)
        return {
            "required": True,
            "description": "NDJSON (one object per line, streamed) or a JSON array",
            "content": {
                "application/json": {"schema": {"type": "array", "items": item}},
                NDJSON: {"schema": item},
            },
        }

    def components(self) -> tuple[type[BaseModel], ...]:
        return (BulkItemOut, self.model)


def _streamed(model: type[BaseModel]) -> list[Any]:
    return [documented(StreamedBody(model))]


class BulkStopped(Exception):
    """The request's stream ends here: a bound was reached or the key was revoked. The
    answer's last line (the summary) says why, under ``stopped``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives, within the request's bounds: a client that stalls longer than
    the body timeout, sends more than the bytes allowed or takes longer than the time allowed
    is cut."""
    settings = get_settings(request)
    timeout = settings.body_timeout_seconds
    deadline = time.monotonic() + settings.max_bulk_seconds
    received = 0
    stream = request.stream().__aiter__()
    while True:
        left = deadline - time.monotonic()
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), max(0.0, min(timeout, left)))
        except StopAsyncIteration:
            return
        except TimeoutError:
            if time.monotonic() < deadline:
                raise BulkStopped(
                    "request_timeout", f"No data arrived for {timeout:g} seconds."
                ) from None
            chunk = b""
        if time.monotonic() >= deadline:
            raise BulkStopped(
                "request_too_long",
                f"The request took longer than {settings.max_bulk_seconds:g} seconds; "
                "send the rest in another.",
            )
        received += len(chunk)
        if received > settings.max_bulk_bytes:
            raise BulkStopped(
                "request_too_large",
                f"The request is larger than {settings.max_bulk_bytes} bytes; "
                "send the rest in another.",
            )
        yield chunk


def _is_ndjson(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    return "json" not in content_type or "ndjson" in content_type or "jsonl" in content_type


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _off_the_loop(split: Callable[[], list[RawItem]]) -> list[RawItem]:
    return await run_in_threadpool(split)


def check_key(db: Database, key_id: int) -> None:
    """Before each chunk is written: a key revoked meanwhile writes no more."""
    with db.lookup() as session:
        active = key_is_active(session, key_id)
    if not active:
        raise BulkStopped(
            "key_revoked",
            "The API key was revoked during this request; the items from here on were not written.",
        )


async def bounded_items(request: Request) -> AsyncIterator[RawItem]:
    """The body's items, split and decoded off the event loop, within the request's bounds
    (bytes, time, stalls, items): :class:`BulkStopped` at the first bound reached."""
    limit = get_settings(request).max_bulk_items
    items = split_body(_chunks(request), ndjson=_is_ndjson(request), run=_off_the_loop)
    async for item in items:
        if item.index >= limit:
            raise BulkStopped(
                "too_many_items",
                f"More than {limit} items in one request; send the rest in another.",
            )
        yield item


class ChunkWriter(ABC):
    """Writes one request's chunks and answers their lines; counts them in ``summary``."""

    def __init__(self) -> None:
        self.summary = Summary()

    @abstractmethod
    def flush(self, items: list[RawItem]) -> AsyncIterator[bytes]:
        """Write ``items`` (or start to); the lines of what is written by then."""

    async def drain(self) -> AsyncIterator[bytes]:
        """The lines of a chunk still being written; none unless a writer overlaps them."""
        pending: tuple[bytes, ...] = ()
        for line in pending:
            yield line


async def answer_lines(
    request: Request, writer: ChunkWriter, *, chunk_size: int
) -> AsyncIterator[bytes]:
    """The answer of a bulk request: the body's items in chunks through ``writer``, one line
    per item, then the summary, with why the stream stopped early, if it did."""
    chunk: list[RawItem] = []
    stopped: BulkStopped | None = None
    try:
        async for item in bounded_items(request):
            chunk.append(item)
            if len(chunk) >= chunk_size:
                full, chunk = chunk, []
                async for line in writer.flush(full):
                    yield line
    except BulkStopped as exc:
        stopped = exc
    if chunk:  # the items read before the end, or before a bound stopped the stream
        try:
            async for line in writer.flush(chunk):
                yield line
        except BulkStopped as exc:
            stopped = exc
    async for line in writer.drain():
        yield line
    end = writer.summary.as_dict()
    if stopped is not None:
        end["summary"]["stopped"] = {"code": stopped.code, "message": stopped.message}
    yield answer_line(end)


class _OverlappedWriter(ChunkWriter):
    """Customers and plants: one chunk is written while the next is read and checked, so the
    database's work (and SQLite's, which releases the GIL) overlaps with parsing."""

    def __init__(self, kind: Kind, request: Request, ctx: KeyContext, db: Database) -> None:
        super().__init__()
        self.kind = kind
        self.db = db
        self.key_id = ctx.key_id
        self.actor = actor_for(request, ctx)
        self.checkers: ChunkCheckers = request.app.state.chunk_checkers
        self.statistics = LoadStatistics(db)
        self.today = today_in_oslo()
        self.strict = ctx.strict_validation
        self.synthetic_ok = ctx.environment == "test"
        self.writing: asyncio.Future[list[ItemResult]] | None = None
        self.flushed = 0

    async def drain(self) -> AsyncIterator[bytes]:
        if self.writing is None:
            return
        results, self.writing = await self.writing, None
        self.summary.add(results)
        for result in results:
            if result.result not in {"failed", "superseded"}:
                observe_outcome(self.kind, result.result, [w["code"] for w in result.warnings])
            yield answer_line(result.as_dict())

    async def _prepare(self, items: list[RawItem], *, first: bool) -> PreparedChunk:
        """In a checker process, so that checking and writing each get a core; in a thread
        for a request's first chunk (most requests have only one)."""
        check = partial(
            prepare_chunk,
            self.kind,
            items,
            today=self.today,
            strict=self.strict,
            synthetic_ok=self.synthetic_ok,
        )
        pool = None if first else self.checkers.pool()
        if pool is not None:
            try:
                return await asyncio.wrap_future(pool.submit(check))
            except BrokenProcessPool:
                self.checkers.restart()
        return await run_in_threadpool(check)

    async def flush(self, items: list[RawItem]) -> AsyncIterator[bytes]:
        prepared = await self._prepare(items, first=self.flushed == 0)
        self.flushed += 1
        async for line in self.drain():
            yield line
        await run_in_threadpool(check_key, self.db, self.key_id)
        write = partial(
            write_chunk, self.db, self.actor, prepared, today=self.today, statistics=self.statistics
        )
        self.writing = asyncio.ensure_future(run_in_threadpool(write))
        # A client that leaves mid-stream cancels this generator: the chunk being written
        # still commits whole, and its outcome must not surface as an unretrieved error.
        self.writing.add_done_callback(_consume)


class _InspectionWriter(ChunkWriter):
    """Inspections: each chunk written before the next is read, each item in a savepoint
    (tilsyn/inspections/bulk.py)."""

    def __init__(self, request: Request, ctx: KeyContext, db: Database) -> None:
        super().__init__()
        self.db = db
        self.key_id = ctx.key_id
        self.instance_id = ctx.instance_id
        self.actor = actor_for(request, ctx)
        self.today = today_in_oslo()

    async def flush(self, items: list[RawItem]) -> AsyncIterator[bytes]:
        """Like the other bulk doors: a key revoked meanwhile writes no more."""
        await run_in_threadpool(check_key, self.db, self.key_id)
        results = await run_in_threadpool(
            partial(
                inspections_bulk.write_chunk,
                self.db,
                self.instance_id,
                items,
                actor=self.actor,
                today=self.today,
            )
        )
        self.summary.add(results)
        for result in results:
            yield answer_line(result.as_dict())


def _bulk(kind: Kind, request: Request, ctx: KeyContext, db: Database) -> StreamingResponse:
    writer = _OverlappedWriter(kind, request, ctx, db)
    lines = answer_lines(request, writer, chunk_size=CHUNK_SIZE)
    return RequestStreamingResponse(lines, media_type=NDJSON)


def answer_line(record: dict[str, Any]) -> bytes:
    """One answer line. Nothing read can hold text that is not UTF-8 (the reader refuses
    it); should anything slip through, the line is escaped rather than the stream broken."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        return (text + "\n").encode()
    except UnicodeEncodeError:
        return (json.dumps(record) + "\n").encode()


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_ERRORS,
    200: {
        "description": "One result line per item, then a summary line",
        "content": {NDJSON: {"schema": schema_ref(BulkItemOut)}},
    },
}


@bulk_router.post(
    "/api/import/{environment}/customer/bulk",
    operation_id="upsertCustomers",
    summary="Create or update many customers; one result line per item",
    response_class=StreamingResponse,
    responses=_RESPONSES,
    dependencies=_streamed(CustomerIn),
)
def bulk_customers(
    request: Request, environment: EnvironmentPath, ctx: Env, db: Db
) -> StreamingResponse:
    """Each item follows exactly the rules of the single customer endpoint."""
    return _bulk("customer", request, ctx, db)


@bulk_router.post(
    "/api/import/{environment}/plant/bulk",
    operation_id="upsertPlants",
    summary="Create or update many plants; one result line per item",
    response_class=StreamingResponse,
    responses=_RESPONSES,
    dependencies=_streamed(PlantIn),
)
def bulk_plants(
    request: Request, environment: EnvironmentPath, ctx: Env, db: Db
) -> StreamingResponse:
    """Each item follows exactly the rules of the single plant endpoint."""
    return _bulk("plant", request, ctx, db)


@inspection_router.post(
    "/api/inspection/{environment}/bulk",
    operation_id="bulkInspections",
    summary="Record many inspections (NDJSON or a JSON array); one result line per item",
    response_class=StreamingResponse,
    responses=_RESPONSES,
    dependencies=_streamed(InspectionIn),
)
def bulk_inspections(
    request: Request, environment: EnvironmentPath, ctx: Env, db: Db
) -> StreamingResponse:
    """Each item follows the single endpoint's rules; a chunk of items commits at a time."""
    writer = _InspectionWriter(request, ctx, db)
    lines = answer_lines(request, writer, chunk_size=inspections_bulk.CHUNK_SIZE)
    return RequestStreamingResponse(lines, media_type=NDJSON)


@inspection_router.api_route(
    "/api/inspection/{environment}/bulk",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def bulk_other_methods() -> None:
    """Only POST: without this, a GET would be read as an inspection whose id is 'bulk'."""
    raise HTTPException(status_code=405, headers={"Allow": "POST"})


router.include_router(bulk_router)
router.include_router(inspection_router)
