"""Per-key rate limits (issue 7): the bucket, its leases on a real database, the 429, workers."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import METRICS_HEADERS, SECRET, Tenant, make_tenant
from tests.servers import running_server
from tilsyn.core.db import Database
from tilsyn.core.models import InstanceRateLimitBucket, RateLimitBucket
from tilsyn.instances import service as instances
from tilsyn.instances.ratelimit import (
    DEFAULT_LIMIT,
    Bucket,
    Grant,
    Limit,
    RateLimiter,
    lease_tokens,
    retry_after_seconds,
    take,
)

MISSING_PLANT = "/api/plant/test/getDataForImport/707057500053182051"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class MemoryBuckets:
    """The shared bucket as the database keeps it, without the database: the lease is `take`."""

    def __init__(self) -> None:
        self.buckets: dict[int, Bucket] = {}

    def lease(self, key_id: int, limit: Limit, now: float) -> Grant:
        bucket = self.buckets.get(key_id, Bucket(float(limit.burst), now))
        grant = take(bucket, now, limit, limit.lease_size)
        self.buckets[key_id] = grant.bucket
        return grant


def set_limit(database: Database, tenant: Tenant, per_second: float, burst: int | None) -> None:
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        instances.set_rate_limit(session, instance, per_second=per_second, burst=burst)


# --- the bucket as plain functions ---------------------------------------------------------

limits = st.builds(
    Limit,
    per_second=st.floats(min_value=0.01, max_value=2000, allow_nan=False),
    burst=st.integers(min_value=1, max_value=4000),
)


@settings(max_examples=300, deadline=None)
@given(
    limit=limits,
    processes=st.integers(min_value=1, max_value=4),
    requests=st.lists(
        st.tuples(st.floats(min_value=0, max_value=2, allow_nan=False), st.integers(0, 3)),
        max_size=400,
    ),
)
def test_accepted_never_exceed_burst_plus_rate_times_elapsed(
    limit: Limit, processes: int, requests: list[tuple[float, int]]
) -> None:
    """Whatever the request times and however they spread over processes sharing a bucket."""
    clock = Clock()
    shared = MemoryBuckets()
    limiters = [RateLimiter(shared.lease, clock=clock) for _ in range(processes)]
    start = clock.now
    accepted = 0
    for gap, process in requests:
        clock.now += gap
        if limiters[process % processes].acquire(7, limit) is None:
            accepted += 1
    assert accepted <= limit.burst + limit.per_second * (clock.now - start) + 1e-3


@settings(max_examples=200, deadline=None)
@given(limit=limits, burst_of=st.integers(min_value=1, max_value=5000))
def test_retry_after_is_honest(limit: Limit, burst_of: int) -> None:
    """After a 429, a request sent Retry-After seconds later is accepted (one process)."""
    clock = Clock()
    limiter = RateLimiter(MemoryBuckets().lease, clock=clock)
    waits = [limiter.acquire(1, limit) for _ in range(burst_of)]
    assert all(wait is None for wait in waits[: limit.burst])
    wait = next((w for w in waits if w is not None), None)
    if wait is None:
        return
    assert wait > 0
    clock.now += retry_after_seconds(wait)
    assert limiter.acquire(1, limit) is None


def test_a_full_bucket_stays_at_its_burst_and_a_clock_going_back_adds_nothing() -> None:
    limit = Limit(per_second=10, burst=5)
    grant = take(Bucket(5.0, 100.0), 1000.0, limit, want=3)
    assert (grant.tokens, grant.bucket.tokens) == (3, 2.0)
    back = take(Bucket(0.5, 100.0), 90.0, limit, want=3)
    assert back.tokens == 0
    assert back.bucket.at == 100.0
    assert back.wait == pytest.approx(0.25)  # until 3 tokens are there again


def test_lease_size_is_a_small_part_of_the_burst() -> None:
    assert DEFAULT_LIMIT.lease_size == 50
    assert Limit(1, 3).lease_size == 1
    assert Limit(100, 200).lease_size == 20
    assert Limit(0, 1).unlimited


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_seconds(0.001) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.2) == 2


# --- leases on the database ----------------------------------------------------------------


def test_leases_take_from_one_row_per_key(database: Database) -> None:
    tenant = make_tenant(database, "lease", "test")
    with database.read() as session:
        ctx = instances.authenticate(session, secret_key=SECRET, api_key=tenant.key)
    assert ctx is not None
    limit = Limit(per_second=2, burst=20)  # leases of 2
    now = 1_800_000_000.0
    granted = 0
    for _ in range(12):
        with database.write() as session:
            grant = lease_tokens(session, ctx.key_id, limit, now=now)
        granted += grant.tokens
    assert granted == 20
    assert grant.tokens == 0
    assert grant.wait == pytest.approx(1.0)  # 2 tokens at 2/s
    with database.write() as session:
        assert lease_tokens(session, ctx.key_id, limit, now=now + 1).tokens == 2
    with database.write() as session:  # a long pause refills only up to the burst
        assert lease_tokens(session, ctx.key_id, limit, now=now + 3600).tokens == 2
    with database.read() as session:
        row = session.scalars(select(RateLimitBucket)).one()
    assert row.api_key_id == ctx.key_id
    assert row.tokens == pytest.approx(18)


# --- HTTP ----------------------------------------------------------------------------------


def test_over_the_limit_is_429_with_retry_after_and_recovers(
    client: TestClient, database: Database
) -> None:
    slow = make_tenant(database, "slow", "test")
    other = make_tenant(database, "other", "test")
    set_limit(database, slow, per_second=1, burst=2)
    assert [client.get(MISSING_PLANT, headers=slow.headers).status_code for _ in range(2)] == [
        404,
        404,
    ]
    answer = client.get(MISSING_PLANT, headers=slow.headers)
    assert answer.status_code == 429
    assert answer.headers["content-type"] == "application/problem+json"
    retry_after = int(answer.headers["retry-after"])
    assert 1 <= retry_after <= 2
    body = answer.json()
    assert body["type"] == "https://tilsyn.dev/problems/rate-limited"
    assert body["status"] == 429
    assert "1/s, burst 2" in body["detail"]
    # Before the body is read: a body that would be a 400 is not even looked at.
    posted = client.post("/api/import/test/plant", content=b"{not json", headers={**slow.headers})
    assert posted.status_code == 429
    # Another instance's key, and the server's own endpoints, are not affected.
    assert client.get(MISSING_PLANT, headers=other.headers).status_code == 404
    assert client.get("/healthz").status_code == 200
    metrics = client.get("/metrics", headers=METRICS_HEADERS).text
    assert 'tilsyn_rate_limited_total{instance="slow"}' in metrics
    time.sleep(retry_after)
    assert client.get(MISSING_PLANT, headers=slow.headers).status_code == 404


def test_keys_of_one_instance_share_its_budget(client: TestClient, database: Database) -> None:
    """Issue 14, finding 10: the limit was per key only, so N keys had N budgets."""
    tenant = make_tenant(database, "two-keys", "test")
    set_limit(database, tenant, per_second=0.1, burst=1)
    assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 404
    assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 429
    admin = client.get("/api/settings/test/validation", headers={"api-key": tenant.admin_key})
    assert admin.status_code == 429
    assert "all its keys together" in admin.json()["detail"]
    other = make_tenant(database, "elsewhere", "test")
    assert client.get(MISSING_PLANT, headers=other.headers).status_code == 404


def test_no_limit_writes_no_bucket(client: TestClient, database: Database) -> None:
    tenant = make_tenant(database, "free", "test")
    set_limit(database, tenant, per_second=0, burst=None)
    for _ in range(30):
        assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 404
    with database.read() as session:
        assert session.scalars(select(RateLimitBucket)).all() == []
        assert session.scalars(select(InstanceRateLimitBucket)).all() == []


def test_the_rate_limit_is_documented_on_keyed_endpoints(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            keyed = "401" in operation["responses"]
            assert keyed == ("429" in operation["responses"]), path
            if keyed:
                assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "429" not in schema["paths"]["/healthz"]["get"]["responses"]


def test_set_rate_limit_validates(database: Database) -> None:
    make_tenant(database, "config", "test")
    with database.write() as session:
        instance = instances.get_instance(session, "config")
        for per_second, burst in [(-1.0, None), (float("nan"), None), (5.0, 0), (None, 5)]:
            with pytest.raises(instances.InstanceError):
                instances.set_rate_limit(session, instance, per_second=per_second, burst=burst)
        limit = instances.set_rate_limit(session, instance, per_second=5, burst=None)
    assert (limit.per_second, limit.burst) == (5, 10)
    with database.read() as session:
        instance = instances.get_instance(session, "config")
        assert (instance.rate_limit_per_second, instance.rate_limit_burst) == (5, 10)


# --- across worker processes ---------------------------------------------------------------


@pytest.mark.slow
def test_workers_share_one_bucket(database: Database, database_url: str) -> None:
    """Two workers, many connections: the total accepted stays within the one key's limit.

    Buckets kept per process would accept about twice as many.
    """
    tenant = make_tenant(database, "shared", "test")
    limit = Limit(per_second=2, burst=20)  # leases of 2
    set_limit(database, tenant, per_second=limit.per_second, burst=limit.burst)
    statuses: list[int] = []
    lock = threading.Lock()
    with running_server(database_url, secret=SECRET, workers=2) as base:

        def client_loop() -> None:
            # A new connection for each request, so that both workers take requests.
            no_reuse = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=base, timeout=30, limits=no_reuse) as http:
                for _ in range(25):
                    status = http.get(MISSING_PLANT, headers=tenant.headers).status_code
                    with lock:
                        statuses.append(status)

        threads = [threading.Thread(target=client_loop) for _ in range(6)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    accepted = statuses.count(404)
    assert set(statuses) <= {404, 429}
    slack = 2 * limit.lease_size  # one unspent lease per worker, documented
    bound = limit.burst + limit.per_second * elapsed + slack
    assert accepted <= bound, (accepted, elapsed)
    assert accepted >= limit.burst - slack, (accepted, elapsed)
    assert statuses.count(429) == len(statuses) - accepted > 0
