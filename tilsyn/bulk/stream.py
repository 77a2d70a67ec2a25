"""Splitting a streamed bulk body into items: NDJSON lines, or the elements of a JSON array.

Both are read incrementally, so a body of any size is held one chunk at a time. Each item
comes with its index (0-based) and either its decoded value or why it could not be decoded;
a bad item never stops the items after it, except in a JSON array whose structure is broken
(nothing after that point can be located).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tilsyn.core.bodies import MAX_DEPTH, _check_depth, _object_pairs, _reject_constant
from tilsyn.core.errors import InvalidBody

_DECODER = json.JSONDecoder(object_pairs_hook=_object_pairs, parse_constant=_reject_constant)
_WHITESPACE = " \t\r\n"
# One item may be as large as a single request's body.
MAX_ITEM_CHARS = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawItem:
    index: int
    value: Any = None
    error: str | None = None
    # An NDJSON line not decoded yet: decoded where its chunk is checked (in a checker
    # process), so that the process reading the body only splits it.
    text: str | None = None

    def decoded(self) -> RawItem:
        return self if self.text is None else decode_item(self.text, self.index)


def decode_item(text: str, index: int) -> RawItem:
    """One item's JSON, with the same limits as a single request's body."""
    try:
        _check_depth(text, MAX_DEPTH)
        value = _DECODER.decode(text)
    except InvalidBody as exc:
        return RawItem(index, error=exc.detail)
    except json.JSONDecodeError as exc:
        return RawItem(index, error=f"not valid JSON: {exc.msg} at column {exc.colno}")
    except (ValueError, RecursionError) as exc:
        return RawItem(index, error=f"not valid JSON: {exc}")
    if not isinstance(value, dict):
        return RawItem(index, error="an item must be a JSON object")
    return RawItem(index, value)


def split_ndjson(lines: Iterable[str]) -> Iterator[RawItem]:
    index = 0
    for line in lines:
        if not line.strip():
            continue
        yield decode_item(line, index)
        index += 1


class ArraySplitter:
    """Feeds text chunks in, takes complete array elements out."""

    def __init__(self) -> None:
        self.buffer = ""
        self.started = False
        self.finished = False
        self.broken = False
        self.index = 0

    def feed(self, text: str, *, final: bool = False) -> Iterator[RawItem]:
        self.buffer += text
        while not (self.finished or self.broken):
            self.buffer = self.buffer.lstrip(_WHITESPACE)
            if not self.started:
                if not self.buffer:
                    break
                if self.buffer[0] != "[":
                    self.broken = True
                    yield RawItem(self.index, error="the body must be a JSON array or NDJSON")
                    break
                self.started = True
                self.buffer = self.buffer[1:]
                continue
            if not self.buffer:
                break
            if self.buffer[0] == "]":
                self.finished = True
                break
            if self.buffer[0] == ",":
                self.buffer = self.buffer[1:]
                continue
            try:
                value, end = _DECODER.raw_decode(self.buffer)
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                if not final and len(self.buffer) <= MAX_ITEM_CHARS:
                    break  # the element may continue in the next chunk
                self.broken = True
                message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield RawItem(self.index, error=f"not valid JSON: {message}")
                break
            if not isinstance(value, dict) and end == len(self.buffer) and not final:
                break  # a bare number at the end of the buffer may go on
            self.buffer = self.buffer[end:]
            if isinstance(value, dict):
                yield RawItem(self.index, value)
            else:
                yield RawItem(self.index, error="an item must be a JSON object")
            self.index += 1
        if final and not (self.finished or self.broken):
            self.broken = True
            yield RawItem(self.index, error="the JSON array is not closed")


async def split_body(chunks: AsyncIterable[bytes], *, ndjson: bool) -> AsyncIterator[RawItem]:
    """Items of a streamed body as they arrive: NDJSON lines still to decode
    (:meth:`RawItem.decoded`), or the decoded elements of a JSON array."""
    if ndjson:
        pending = b""
        index = 0
        async for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield RawItem(index, text=line.decode("utf-8", errors="replace"))
                    index += 1
        if pending.strip():
            yield RawItem(index, text=pending.decode("utf-8", errors="replace"))
        return
    splitter = ArraySplitter()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for chunk in chunks:
        for item in splitter.feed(decoder.decode(chunk)):
            yield item
    for item in splitter.feed(decoder.decode(b"", final=True), final=True):
        yield item
