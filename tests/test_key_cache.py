"""The key cache (instances/keycache.py): a checked key is trusted for ``key_cache_seconds`` in
one process, then read again; a revocation holds within that time everywhere, at once where it
was made; the limits and scopes hold on cached keys. Over HTTP on both databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select

from tests.conftest import SECRET, Tenant
from tests.console_helpers import make_user, sign_in
from tests.seed_api import make_mpid, minimal_plant, plant_get_url, plant_url
from tilsyn.app import create_app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import ApiKey
from tilsyn.instances import service as instances
from tilsyn.instances.keycache import KeyCache
from tilsyn.instances.service import KeyContext

MPID = make_mpid(77)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def context(key_id: int = 1, instance_id: int = 1) -> KeyContext:
    return KeyContext(
        key_id=key_id,
        scope="import",
        instance_id=instance_id,
        instance_name="nett",
        environment="test",
        strict_validation=False,
    )


def test_an_entry_lives_for_the_ttl_and_no_longer() -> None:
    clock = Clock()
    cache = KeyCache(1.0, clock=clock)
    cache.put("d1", context())
    clock.now += 0.99
    assert cache.get("d1") == context()
    clock.now += 0.01
    assert cache.get("d1") is None
    assert cache.get("never-put") is None


def test_a_ttl_of_zero_keeps_nothing() -> None:
    cache = KeyCache(0)
    cache.put("d1", context())
    assert not cache.enabled
    assert cache.get("d1") is None


def test_forgetting_a_key_or_an_instance_drops_only_its_entries() -> None:
    cache = KeyCache(60)
    cache.put("a", context(key_id=1, instance_id=1))
    cache.put("b", context(key_id=2, instance_id=1))
    cache.put("c", context(key_id=3, instance_id=2))
    cache.forget_key(1)
    assert cache.get("a") is None
    assert cache.get("b") is not None
    cache.forget_instance(1)
    assert cache.get("b") is None
    assert cache.get("c") is not None


def test_a_full_cache_drops_expired_entries_then_the_oldest() -> None:
    clock = Clock()
    cache = KeyCache(10, max_entries=4, clock=clock)
    for n in range(3):
        cache.put(f"old{n}", context(key_id=n))
    clock.now += 11  # all three expired
    cache.put("new0", context(key_id=10))
    cache.put("new1", context(key_id=11))
    assert [cache.get(f"old{n}") for n in range(3)] == [None, None, None]
    cache.put("new2", context(key_id=12))
    cache.put("new3", context(key_id=13))  # full of live entries: the oldest half goes
    cache.put("new4", context(key_id=14))
    assert cache.get("new0") is None
    assert cache.get("new1") is None
    assert all(cache.get(f"new{n}") is not None for n in (2, 3, 4))


@contextmanager
def key_reads(database: Database, verb: str = "SELECT") -> Iterator[list[str]]:
    """The statements of this verb on the api_keys table while the block runs."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement and statement.lstrip().upper().startswith(verb):
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", before)


def new_key(database: Database, tenant: Tenant, **options: Any) -> instances.CreatedKey:
    """Another key of the tenant's instance (``label``, ``scope`` as ``create_key`` takes them)."""
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        return instances.create_key(session, instance, secret_key=SECRET, **options)


def cached_client(settings: Settings, database: Database, seconds: float) -> TestClient:
    return TestClient(create_app(replace(settings, key_cache_seconds=seconds), database))


def test_a_cached_key_is_not_read_again_within_the_ttl(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    with cached_client(settings, database, 60) as client:
        assert client.post(plant_url(), json=minimal_plant(MPID), headers=tenant.headers).is_success
        with key_reads(database) as reads:
            for _ in range(5):
                assert client.get(plant_get_url(MPID), headers=tenant.headers).status_code == 200
                answer = client.post(plant_url(), json=minimal_plant(MPID), headers=tenant.headers)
                assert answer.is_success
        assert reads == []
        # An unknown key is never cached: each try goes to the database (and is refused).
        with key_reads(database) as reads:
            for _ in range(3):
                bad = client.get(plant_get_url(MPID), headers={"api-key": "tilsyn_test_nope"})
                assert bad.status_code == 401
        assert len(reads) == 3


def test_a_revocation_made_elsewhere_holds_within_the_ttl(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    """As ``tilsyn key revoke`` in another process: the worker learns it when its entry expires."""
    ttl = 0.5
    created = new_key(database, tenant, label="cached")
    headers = {"api-key": created.secret}
    with cached_client(settings, database, ttl) as client:
        assert client.post(plant_url(), json=minimal_plant(MPID), headers=headers).is_success
        with database.write() as session:
            instances.revoke_key(session, created.id)
        revoked_at = time.monotonic()
        while client.get(plant_get_url(MPID), headers=headers).status_code == 200:
            assert time.monotonic() - revoked_at < ttl + 0.5, "the revoked key kept working"
            time.sleep(0.05)
        assert client.get(plant_get_url(MPID), headers=headers).status_code == 401
        answer = client.post(plant_url(), json=minimal_plant(MPID), headers=headers)
        assert answer.status_code == 401
        # The instance's other keys keep working.
        assert client.get(plant_get_url(MPID), headers=tenant.headers).status_code == 200


def test_a_revocation_in_the_console_holds_at_once_in_its_worker(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    created = new_key(database, tenant, label="console")
    headers = {"api-key": created.secret}
    make_user(database, tenant.instance_id, "admin@dle.no", "admin")
    with cached_client(settings, database, 3600) as client:
        assert client.post(plant_url(), json=minimal_plant(MPID), headers=headers).is_success
        token = sign_in(client, "admin@dle.no")
        answer = client.post(
            "/console/keys/revoke", data={"key": str(created.id), "csrf_token": token}
        )
        assert answer.status_code == 200
        assert client.get(plant_get_url(MPID), headers=headers).status_code == 401


def test_a_cached_read_only_key_still_may_not_write(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    reader = new_key(database, tenant, scope="read")
    headers = {"api-key": reader.secret}
    with cached_client(settings, database, 60) as client:
        assert client.post(plant_url(), json=minimal_plant(MPID), headers=tenant.headers).is_success
        for _ in range(2):
            assert client.get(plant_get_url(MPID), headers=headers).status_code == 200
        answer = client.post(plant_url(), json=minimal_plant(MPID), headers=headers)
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_cached_key_is_still_rate_limited(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        instances.set_rate_limit(session, instance, per_second=0.01, burst=3)
    with cached_client(settings, database, 60) as client:
        codes = [
            client.get(plant_get_url(MPID), headers=tenant.headers).status_code for _ in range(6)
        ]
    assert codes[:3] == [404, 404, 404]
    assert codes[3:] == [429, 429, 429]


def test_last_used_is_written_once_not_per_cached_request(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    with cached_client(settings, database, 60) as client, key_reads(database, "UPDATE") as writes:
        for _ in range(4):
            client.get(plant_get_url(MPID), headers=tenant.headers)
    assert len(writes) == 1
    with database.read() as session:
        used = session.scalars(
            select(ApiKey.last_used_at).where(
                ApiKey.instance_id == tenant.instance_id, ApiKey.scope == "import"
            )
        ).one()
    assert used is not None
