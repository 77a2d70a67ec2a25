"""HTTP edge for bulk upserts: a streamed body in, a streamed NDJSON answer out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from tilsyn.bulk.service import (
    CHUNK_SIZE,
    ChunkCheckers,
    ItemResult,
    Kind,
    LoadStatistics,
    PreparedChunk,
    Summary,
    prepare_chunk,
    write_chunk,
)
from tilsyn.bulk.stream import RawItem, split_body
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.http import WRITE_ERRORS, Db, get_settings
from tilsyn.core.observability import observe_outcome
from tilsyn.customers.routes import IssueOut
from tilsyn.instances.http import Env, EnvironmentPath, actor_for
from tilsyn.instances.service import key_is_active

router = APIRouter(tags=["bulk"])
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


def _openapi(schema_name: str) -> dict[str, Any]:
    item = {"$ref": f"#/components/schemas/{schema_name}"}
    return {
        "requestBody": {
            "required": True,
            "description": "NDJSON (one object per line, streamed) or a JSON array",
            "content": {
                "application/json": {"schema": {"type": "array", "items": item}},
                NDJSON: {"schema": item},
            },
        }
    }


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


def _bulk(kind: Kind, request: Request, ctx: Any, db: Any) -> StreamingResponse:
    actor = actor_for(request, ctx)
    checkers: ChunkCheckers = request.app.state.chunk_checkers
    statistics = LoadStatistics(db)

    today, strict, synthetic_ok = today_in_oslo(), ctx.strict_validation, ctx.environment == "test"

    async def lines() -> AsyncIterator[bytes]:
        summary = Summary()
        chunk: list[RawItem] = []
        # One chunk is written while the next is read and checked: the database's work (and
        # SQLite's, which releases the GIL) overlaps with parsing.
        writing: asyncio.Future[list[ItemResult]] | None = None
        flushed = 0

        async def written() -> AsyncIterator[bytes]:
            nonlocal writing
            if writing is None:
                return
            results, writing = await writing, None
            summary.add(results)
            for result in results:
                if result.result not in {"failed", "superseded"}:
                    observe_outcome(kind, result.result, [w["code"] for w in result.warnings])
                yield answer_line(result.as_dict())

        async def prepare(items: list[RawItem], first: bool) -> PreparedChunk:
            """In a checker process, so that checking and writing each get a core; in a
            thread for a request's first chunk (most requests have only one)."""
            check = partial(
                prepare_chunk, kind, items, today=today, strict=strict, synthetic_ok=synthetic_ok
            )
            pool = None if first else checkers.pool()
            if pool is not None:
                try:
                    return await asyncio.wrap_future(pool.submit(check))
                except BrokenProcessPool:
                    checkers.restart()
            return await run_in_threadpool(check)

        async def flush(items: list[RawItem]) -> AsyncIterator[bytes]:
            nonlocal writing, flushed
            prepared = await prepare(items, first=flushed == 0)
            flushed += 1
            async for line in written():
                yield line
            await run_in_threadpool(check_key, db, ctx.key_id)
            writing = asyncio.ensure_future(
                run_in_threadpool(
                    partial(write_chunk, db, actor, prepared, today=today, statistics=statistics)
                )
            )
            # A client that leaves mid-stream cancels this generator: the chunk being written
            # still commits whole, and its outcome must not surface as an unretrieved error.
            writing.add_done_callback(_consume)

        stopped: BulkStopped | None = None
        try:
            async for item in bounded_items(request):
                chunk.append(item)
                if len(chunk) >= CHUNK_SIZE:
                    full, chunk = chunk, []
                    async for line in flush(full):
                        yield line
        except BulkStopped as exc:
            stopped = exc
        if chunk:  # the items read before the end, or before a bound stopped the stream
            try:
                async for line in flush(chunk):
                    yield line
            except BulkStopped as exc:
                stopped = exc
        async for line in written():
            yield line
        end = summary.as_dict()
        if stopped is not None:
            end["summary"]["stopped"] = {"code": stopped.code, "message": stopped.message}
        yield answer_line(end)

    return RequestStreamingResponse(lines(), media_type=NDJSON)


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
        "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/BulkItemOut"}}},
    },
}


@router.post(
    "/api/import/{environment}/customer/bulk",
    operation_id="upsertCustomers",
    summary="Create or update many customers; one result line per item",
    response_class=StreamingResponse,
    responses=_RESPONSES,
    openapi_extra=_openapi("CustomerIn"),
)
def bulk_customers(
    request: Request, environment: EnvironmentPath, ctx: Env, db: Db
) -> StreamingResponse:
    """Each item follows exactly the rules of the single customer endpoint."""
    return _bulk("customer", request, ctx, db)


@router.post(
    "/api/import/{environment}/plant/bulk",
    operation_id="upsertPlants",
    summary="Create or update many plants; one result line per item",
    response_class=StreamingResponse,
    responses=_RESPONSES,
    openapi_extra=_openapi("PlantIn"),
)
def bulk_plants(
    request: Request, environment: EnvironmentPath, ctx: Env, db: Db
) -> StreamingResponse:
    """Each item follows exactly the rules of the single plant endpoint."""
    return _bulk("plant", request, ctx, db)
