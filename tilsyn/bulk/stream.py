"""Splitting a streamed bulk body into items: NDJSON lines, or the elements of a JSON array.

Both are split as bytes, incrementally, so a body of any size is held one item at a time; an
item is decoded later, by the reader every door shares (:func:`tilsyn.contract.bodies.parse_item`),
where its chunk is checked (a thread or a checker process, never the event loop). Each item
comes with its index (0-based) and either its bytes, its decoded value (a row of a file) or
why it could not be read; a bad item never stops the items after it, except in a JSON array
whose structure is broken (nothing after that point can be located).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

from tilsyn.contract.bodies import ITEM, MAX_ITEM_BYTES, MAX_TOKENS, TOKEN
from tilsyn.contract.items import RawItem

# RawItem, what the splitters yield, is defined with the body reader (contract/items.py),
# where the domains that write items find it without importing this package.
__all__ = ["ArraySplitter", "NdjsonSplitter", "RawItem", "Splitter", "split_body"]

_NOT_SPACE = re.compile(rb"[^ \t\r\n]")


class NdjsonSplitter:
    """Feeds byte chunks in, takes lines out; a line longer than an item may be is reported
    once and skipped to its end without being held."""

    def __init__(self, max_item_bytes: int = MAX_ITEM_BYTES) -> None:
        self.max_item_bytes = max_item_bytes
        self.pending = bytearray()
        self.skipping = False
        self.index = 0

    def feed(self, data: bytes, *, final: bool = False) -> list[RawItem]:
        out: list[RawItem] = []
        self.pending += data
        start = 0
        while (end := self.pending.find(b"\n", start)) != -1:
            self._line(bytes(self.pending[start:end]), out)
            start = end + 1
        del self.pending[:start]
        if final:
            self._line(bytes(self.pending), out)
            self.pending.clear()
        elif len(self.pending) > self.max_item_bytes:
            if not self.skipping:
                self._too_large(out)
            self.skipping = True
            self.pending.clear()
        return out

    def _line(self, line: bytes, out: list[RawItem]) -> None:
        if self.skipping:
            self.skipping = False  # the end of the line reported as too large
            return
        if not line.strip():
            return
        if len(line) > self.max_item_bytes:
            self._too_large(out)
            return
        out.append(RawItem(self.index, text=line))
        self.index += 1

    def _too_large(self, out: list[RawItem]) -> None:
        out.append(RawItem(self.index, error=f"{ITEM} is larger than {self.max_item_bytes} bytes."))
        self.index += 1


class ArraySplitter:
    """Feeds byte chunks in, takes array elements out, undecoded.

    Elements are found by their brackets and commas outside strings (one regular expression,
    so a large element costs little); an element still incomplete is looked at again once the
    buffer has doubled, so a large element is scanned a few times, not once per chunk.
    """

    def __init__(self, max_item_bytes: int = MAX_ITEM_BYTES) -> None:
        self.max_item_bytes = max_item_bytes
        self.buffer = bytearray()
        self.started = False
        self.finished = False
        self.broken = False
        self.index = 0
        self.retry_at = 0

    def feed(self, data: bytes, *, final: bool = False) -> list[RawItem]:
        out: list[RawItem] = []
        if self.finished or self.broken:
            return out
        self.buffer += data
        if not final and len(self.buffer) < self.retry_at:
            return out
        self.retry_at = 0
        while not (self.finished or self.broken):
            found = _NOT_SPACE.search(self.buffer)
            if found is None:
                self.buffer.clear()
                break
            first = self.buffer[found.start()]
            if not self.started:
                if first != ord("["):
                    self._break(out, "the body must be a JSON array or NDJSON")
                    break
                self.started = True
                del self.buffer[: found.start() + 1]
            elif first == ord("]"):
                self.finished = True
            elif first == ord(","):
                del self.buffer[: found.start() + 1]
            elif not self._element(found.start(), out, final=final):
                break
        if final and not (self.finished or self.broken):
            self._break(out, "the JSON array is not closed")
        return out

    def _element(self, start: int, out: list[RawItem], *, final: bool) -> bool:
        """Take one element out of the buffer; False when it is not complete yet."""
        end = _element_end(self.buffer, start)
        if end is None:
            if len(self.buffer) - start > self.max_item_bytes:
                self._break(out, f"{ITEM} is larger than {self.max_item_bytes} bytes.")
            elif final:
                self._break(out, "the JSON array is not closed")
            else:
                self.retry_at = 2 * len(self.buffer)
            return False
        if end < 0:
            self._break(out, f"{ITEM} has more than {MAX_TOKENS} JSON strings, brackets and commas")
            return False
        out.append(RawItem(self.index, text=bytes(self.buffer[start:end])))
        self.index += 1
        del self.buffer[:end]
        return True

    def _break(self, out: list[RawItem], message: str) -> None:
        self.broken = True
        out.append(RawItem(self.index, error=message))


def _element_end(buffer: bytearray, start: int) -> int | None:
    """Where the element at ``start`` ends (the comma or bracket after it); None if not yet in
    the buffer, -1 if it has more tokens than an item may."""
    depth = 0
    for tokens, match in enumerate(TOKEN.finditer(buffer, start), start=1):
        if tokens > MAX_TOKENS + 1:
            return -1
        char = buffer[match.start()]
        if char in b"[{":
            depth += 1
        elif char in b"]}":
            if depth == 0:
                return match.start()
            depth -= 1
        elif char == ord(","):
            if depth == 0:
                return match.start()
        elif match.end() - match.start() == 1:
            return None  # a string that goes on in the next chunk
    return None


Splitter = NdjsonSplitter | ArraySplitter


async def split_body(
    chunks: AsyncIterable[bytes],
    *,
    ndjson: bool,
    run: Callable[[Callable[[], list[RawItem]]], Awaitable[list[RawItem]]] | None = None,
) -> AsyncIterator[RawItem]:
    """Items of a streamed body as they arrive; ``run`` runs the splitting of a chunk (off
    the event loop, in a thread, for a server)."""
    splitter: Splitter = NdjsonSplitter() if ndjson else ArraySplitter()

    async def feed(data: bytes, final: bool = False) -> list[RawItem]:
        if run is None:
            return splitter.feed(data, final=final)
        return await run(lambda: splitter.feed(data, final=final))

    async for chunk in chunks:
        for item in await feed(chunk):
            yield item
    for item in await feed(b"", final=True):
        yield item
