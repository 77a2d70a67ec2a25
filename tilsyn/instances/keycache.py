"""Checked keys, remembered briefly in this process, so a request does not query the database
to learn what the previous one learned a moment ago.

A key's context (its scope, instance, environment, limits) is kept for ``ttl`` seconds
(``TILSYN_KEY_CACHE_SECONDS``, 1 s by default) from the moment it was read. A change made
elsewhere (``tilsyn key revoke`` in another process, another worker, the console of another
server) therefore holds in every worker at most ``ttl`` seconds later, with no message between
processes: each entry simply expires. A change made in this process (the console's "revoke")
forgets the key's entries at once. Only keys that checked out are kept: an unknown or revoked
key goes to the database every time, behind the per-address failure limit.

Entries are keyed by the key's HMAC digest, as stored; the key itself is not kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tilsyn.instances.service import KeyContext

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    context: KeyContext
    expires: float


class KeyCache:
    """Digest → the key's context, each entry until ``ttl`` seconds after it was read."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, digest: str) -> KeyContext | None:
        """The key's context if it was read less than ``ttl`` seconds ago."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self._clock() >= entry.expires:
            self._entries.pop(digest, None)
            return None
        return entry.context

    def put(self, digest: str, context: KeyContext) -> None:
        if not self.enabled:
            return
        with self._guard:
            if len(self._entries) >= self._max_entries:
                self._evict()
            self._entries[digest] = _Entry(context, self._clock() + self.ttl)

    def forget_key(self, key_id: int) -> None:
        """A key changed here (revoked): its entries go now, not when they expire."""
        with self._guard:
            for digest in [d for d, e in self._entries.items() if e.context.key_id == key_id]:
                del self._entries[digest]

    def forget_instance(self, instance_id: int) -> None:
        """An instance changed here (its limits, its validation): its keys are read anew."""
        with self._guard:
            stale = [d for d, e in self._entries.items() if e.context.instance_id == instance_id]
            for digest in stale:
                del self._entries[digest]

    def _evict(self) -> None:
        """Expired entries first; if the cache is still full, the oldest half."""
        now = self._clock()
        for digest in [d for d, e in self._entries.items() if now >= e.expires]:
            del self._entries[digest]
        if len(self._entries) >= self._max_entries:
            for digest in list(self._entries)[: self._max_entries // 2]:
                del self._entries[digest]
