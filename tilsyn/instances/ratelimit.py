"""Rate limits: a token bucket per API key and one per instance, shared by every server process.

An instance's limit applies to each of its keys and to the instance as a whole, so that an
instance with N keys does not get N times its budget.

The bucket is a database row (``rate_limit_buckets``), so all workers and hosts draw from one
budget. A process does not write per request: it leases a few tokens at a time (``lease_size``)
in one short write transaction and spends them under a lock of its own, leasing again when
they run out. Each of N processes may hold one unspent lease, so over any window the accepted
requests exceed ``burst + rate × window`` by at most N × lease size. From the bucket's first
use on, they never exceed ``burst + rate × elapsed``. When the bucket is empty, the process
answers 429 on its own until enough tokens for a lease will have accumulated, so a runaway
client does not turn into a stream of write transactions either.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tilsyn.core.db import Database
from tilsyn.core.models import InstanceRateLimitBucket, RateLimitBucket

# Above what one server does (a few hundred requests a second per worker), so that a nightly
# sync is never throttled by default, while a client stuck in a loop on many workers is.
DEFAULT_PER_SECOND = 1000.0
DEFAULT_BURST = 2000
MAX_LEASE = 50


@dataclass(frozen=True)
class Limit:
    """Requests per second and burst of one key; ``per_second == 0`` is no limit at all."""

    per_second: float
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0

    @property
    def lease_size(self) -> int:
        """Tokens a process takes at a time: a tenth of the burst, 1 to ``MAX_LEASE``."""
        return max(1, min(MAX_LEASE, self.burst // 10))

    def describe(self) -> str:
        return "unlimited" if self.unlimited else f"{self.per_second:g}/s, burst {self.burst}"


DEFAULT_LIMIT = Limit(DEFAULT_PER_SECOND, DEFAULT_BURST)


def default_burst(per_second: float) -> int:
    return max(1, math.ceil(2 * per_second))


def effective_limit(per_second: float | None, burst: int | None) -> Limit:
    """An instance's limit from its columns: NULL is the default, 0 per second unlimited."""
    if per_second is None:
        return DEFAULT_LIMIT
    return Limit(per_second, burst if burst is not None else default_burst(per_second))


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # seconds on the clock every process shares (Unix time)


@dataclass(frozen=True)
class Grant:
    """The outcome of a lease: ``tokens`` granted, the bucket after it, and when ``tokens``
    is 0, the seconds until the bucket holds enough for a lease again."""

    tokens: int
    bucket: Bucket
    wait: float = 0.0


def refill(bucket: Bucket, now: float, limit: Limit) -> Bucket:
    """Tokens for the time elapsed, capped at the burst; a clock that went back adds none."""
    elapsed = max(0.0, now - bucket.at)
    tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.per_second)
    return Bucket(tokens, max(now, bucket.at))


def take(bucket: Bucket, now: float, limit: Limit, want: int) -> Grant:
    """Up to ``want`` whole tokens from the bucket, refilled to ``now``."""
    full = refill(bucket, now, limit)
    # The tolerance keeps a token that float arithmetic left at 0.999999... a whole one.
    granted = min(want, math.floor(full.tokens + 1e-9))
    if granted >= 1:
        return Grant(granted, Bucket(full.tokens - granted, full.at))
    needed = min(want, limit.burst) - full.tokens
    return Grant(0, full, wait=needed / limit.per_second)


def retry_after_seconds(wait: float) -> int:
    """The Retry-After header's value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


def lease_tokens(session: Session, key_id: int, limit: Limit, *, now: float) -> Grant:
    """Take up to a lease of tokens from the key's bucket row, creating it full if absent.

    One short write: the row is locked (``FOR UPDATE`` on PostgreSQL; SQLite's write
    transaction already excludes other writers) so two processes never take the same tokens.
    """
    return _lease(session, RateLimitBucket, "api_key_id", key_id, limit, now=now)


def lease_instance_tokens(session: Session, instance_id: int, limit: Limit, *, now: float) -> Grant:
    """:func:`lease_tokens` from the instance's bucket, which all its keys share."""
    return _lease(session, InstanceRateLimitBucket, "instance_id", instance_id, limit, now=now)


def _lease(
    session: Session, model: Any, column: str, ident: int, limit: Limit, *, now: float
) -> Grant:
    locked = select(model).where(getattr(model, column) == ident).with_for_update()
    row = session.scalar(locked)
    if row is None:
        insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        session.execute(
            insert(model)
            .values({column: ident, "tokens": float(limit.burst), "refreshed_at": _moment(now)})
            .on_conflict_do_nothing(index_elements=[column])
        )
        row = session.scalars(locked).one()
    grant = take(Bucket(row.tokens, _seconds(row.refreshed_at)), now, limit, limit.lease_size)
    row.tokens = grant.bucket.tokens
    row.refreshed_at = _moment(grant.bucket.at)
    return grant


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(moment: datetime) -> float:
    # SQLite hands back naive datetimes; tilsyn stores UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


LeaseFn = Callable[[int, Limit, float], Grant]


@dataclass
class _KeyState:
    lock: threading.Lock
    tokens: int = 0
    blocked_until: float = 0.0
    # The limit the unspent lease was taken under: a changed limit drops it.
    limit: Limit | None = None


class RateLimiter:
    """One process's side of the shared buckets: its unspent leases, per key."""

    def __init__(self, lease: LeaseFn, *, clock: Callable[[], float] = time.time) -> None:
        self._lease = lease
        self._clock = clock
        self._guard = threading.Lock()
        self._keys: dict[int, _KeyState] = {}

    @classmethod
    def for_database(
        cls, database: Database, *, clock: Callable[[], float] = time.time
    ) -> RateLimiter:
        def lease(key_id: int, limit: Limit, now: float) -> Grant:
            with database.write() as session:
                return lease_tokens(session, key_id, limit, now=now)

        return cls(lease, clock=clock)

    @classmethod
    def for_instances(
        cls, database: Database, *, clock: Callable[[], float] = time.time
    ) -> RateLimiter:
        """The same, over the instances' buckets (acquire with an instance id)."""

        def lease(instance_id: int, limit: Limit, now: float) -> Grant:
            with database.write() as session:
                return lease_instance_tokens(session, instance_id, limit, now=now)

        return cls(lease, clock=clock)

    def acquire(self, key_id: int, limit: Limit) -> float | None:
        """Spend one of the key's tokens: None when granted, else seconds to wait."""
        if limit.unlimited:
            return None
        state = self._state(key_id)
        # Threads of one key wait here for one lease rather than each taking their own.
        with state.lock:
            if state.limit != limit:
                # Lowered (or raised) meanwhile: what was leased under the old limit is given
                # up, so a lowered limit holds from this request on.
                state.limit, state.tokens, state.blocked_until = limit, 0, 0.0
            if state.tokens >= 1:
                state.tokens -= 1
                return None
            now = self._clock()
            if now < state.blocked_until:
                return state.blocked_until - now
            grant = self._lease(key_id, limit, now)
            if grant.tokens >= 1:
                state.tokens = grant.tokens - 1
                return None
            state.blocked_until = now + grant.wait
            return grant.wait

    def spend_leased(self, key_id: int, limit: Limit) -> bool:
        """Spend a token of this process's lease if one is there for the taking, never
        waiting and never leasing: what the event loop may call. False means "call
        :meth:`acquire`" (off the loop: it may write a lease), not "refused"."""
        if limit.unlimited:
            return True
        state = self._state(key_id)
        if not state.lock.acquire(blocking=False):
            return False
        try:
            if state.limit != limit or state.tokens < 1:
                return False
            state.tokens -= 1
            return True
        finally:
            state.lock.release()

    def _state(self, key_id: int) -> _KeyState:
        with self._guard:
            state = self._keys.get(key_id)
            if state is None:
                state = self._keys[key_id] = _KeyState(threading.Lock())
            return state


class FailureLimiter:
    """Failed authentications per client address, in this process: a token bucket each.

    An address that has used up its budget gets 429 for every request, with or without a
    valid key, until the budget refills: guessing keys costs time, and the database is not
    asked. At most ``max_addresses`` are remembered (the oldest go first).
    """

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.limit = Limit(per_second, max(1, burst))
        self._clock = clock
        self._max = max_addresses
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {}

    def blocked(self, address: str) -> float | None:
        """Seconds until the address may try again; None when it may now."""
        if self.limit.unlimited:
            return None
        with self._lock:
            bucket = self._buckets.get(address)
            if bucket is None:
                return None
            full = refill(bucket, self._clock(), self.limit)
            if full.tokens >= 1:
                return None
            return (1 - full.tokens) / self.limit.per_second

    def fail(self, address: str) -> None:
        if self.limit.unlimited:
            return
        with self._lock:
            now = self._clock()
            bucket = self._buckets.pop(address, None) or Bucket(float(self.limit.burst), now)
            full = refill(bucket, now, self.limit)
            self._buckets[address] = Bucket(max(0.0, full.tokens - 1), full.at)
            while len(self._buckets) > self._max:
                self._buckets.pop(next(iter(self._buckets)))
