"""The Python SDK against a real `tilsyn serve`, with a proxy that injects 429/503."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.conftest import SECRET, Tenant, make_tenant
from tests.http_proxy import Fault, HttpProxy
from tests.servers import running_server
from tilsyn.client import (
    ClientOptions,
    ProblemError,
    RetryPolicy,
    TilsynClient,
    TransportFailure,
)
from tilsyn.client.sdk import parse_retry_after
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.demo_data import generate_customers, generate_plants

pytestmark = pytest.mark.slow


@dataclass
class Live:
    base: str
    tenant: Tenant
    proxy: HttpProxy


@pytest.fixture
def live(database: Database, database_url: str) -> Iterator[Live]:
    tenant = make_tenant(database, "nett")
    with running_server(database_url, secret=SECRET) as base, HttpProxy(base) as proxy:
        yield Live(base, tenant, proxy)


class Sleeps:
    """Records the pauses the client takes instead of sleeping them."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


def test_every_seed_endpoint_round_trips(live: Live) -> None:
    customer = next(generate_customers(1, seed=5, synthetic_ids=True))
    plant = next(generate_plants(1, customer_numbers=[customer["Number"]], seed=5))
    with TilsynClient(live.base, live.tenant.key) as client:
        assert client.environment == "test", "a tilsyn key names its environment"
        assert client.health()
        created = client.upsert_customer(customer)
        assert created.result == "created"
        assert created.data == client.get_customer(customer["Number"])
        assert client.upsert_customer(customer).result == "unchanged"

        outcome = client.upsert_plant(plant)
        assert outcome.result == "created"
        mpid = plant["meteringPointId"]
        assert client.get_plant(mpid) == outcome.data
        assert client.find_plant("707057500000000007") is None

        built = client.register_built_by(
            mpid, 12345, extension_name="Kjøkken", extension_year_built=2019
        )
        assert built.result == "created"
        assert built.data["extensions"][0]["extensionName"] == "Kjøkken"

        client.delete_plant(mpid)
        assert client.find_plant(mpid) is None
        client.delete_customer(customer["Number"])
        assert client.find_customer(customer["Number"]) is None
        with pytest.raises(ProblemError) as caught:
            client.delete_customer(customer["Number"])
        assert caught.value.status == 404


def test_problem_details_carry_every_field_error(live: Live) -> None:
    with (
        TilsynClient(live.proxy.url, live.tenant.key) as client,
        pytest.raises(ProblemError) as caught,
    ):
        client.upsert_plant({"meteringPointId": "123", "status": "Ukjent"})
    problem = caught.value
    assert problem.status == 400
    fields = {issue.field for issue in problem.errors}
    assert {"meteringPointId", "consumptionCode", "industrialClassification"} <= fields
    assert problem.request_id
    assert len(live.proxy.posts()) == 1, "a 400 is never retried"


def test_wrong_key_and_wrong_environment_are_not_retried(live: Live) -> None:
    with TilsynClient(live.proxy.url, "nope", environment="test") as client:
        with pytest.raises(ProblemError) as caught:
            client.get_plant("707057500026392739")
        assert caught.value.status == 401
    with TilsynClient(live.proxy.url, live.tenant.key, environment="prod") as client:
        with pytest.raises(ProblemError) as caught:
            client.get_plant("707057500026392739")
        assert caught.value.status == 400
    assert len(live.proxy.seen) == 2


def test_key_listings_page_through_everything(live: Live) -> None:
    customers = list(generate_customers(25, seed=8, synthetic_ids=True))
    numbers = [c["Number"] for c in customers]
    plants = list(generate_plants(23, customer_numbers=numbers, seed=8))
    with TilsynClient(live.base, live.tenant.key) as client:
        for body in customers:
            client.upsert_customer(body)
        for body in plants:
            client.upsert_plant(body)
        page = client.plant_ids(limit=10)
        assert len(page.items) == 10
        assert page.next == page.items[-1]["meteringPointId"]
        ids = [item["meteringPointId"] for item in client.iter_plant_ids(page_size=10)]
        assert ids == sorted(p["meteringPointId"] for p in plants)
        assert all(item["status"] for item in client.iter_plant_ids(page_size=7))
        # Stored as keyed hashes, customer numbers page in an order of their own
        # (core/personal.py), every one once, with opaque cursors.
        listed = list(client.iter_customer_numbers(page_size=4))
        assert sorted(listed) == sorted(numbers)
        last = client.customer_numbers(after=client.customer_numbers(limit=len(numbers) - 1).next)
        assert len(last.items) == 1
        assert last.next is None
        capabilities = client.capabilities()
        assert capabilities.list_plants
        assert capabilities.list_customers
        assert capabilities.bulk_plants
        assert capabilities.bulk_customers


def test_listings_are_scoped_to_the_keys_instance(live: Live, database: Database) -> None:
    other = make_tenant(database, "annet", "test")
    plant = next(generate_plants(1, customer_numbers=[], seed=9))
    with TilsynClient(live.base, other.key) as client:
        client.upsert_plant(plant)
        client.upsert_customer({"Number": "910000008"})
    with TilsynClient(live.base, live.tenant.key) as client:
        assert list(client.iter_plant_ids()) == []
        assert list(client.iter_customer_numbers()) == []


def test_history_change_feed_and_settings(live: Live) -> None:
    plant = next(generate_plants(1, customer_numbers=[], seed=12))
    mpid = plant["meteringPointId"]
    with TilsynClient(live.base, live.tenant.key) as client:
        capabilities = client.capabilities()
        assert capabilities.changes
        assert capabilities.history
        assert capabilities.settings
        client.upsert_customer({"Number": "910000008", "FirstName": "Kari"})
        client.upsert_customer({"Number": "910000008", "FirstName": "Kristin"})
        client.upsert_plant(plant)
        client.upsert_plant({**plant, "description": "Endret"})
        assert len(client.customer_history("910000008")["changes"]) == 2
        page = client.plant_history(mpid, limit=1)
        assert len(page["changes"]) == 1
        assert page["next"] is not None
        feed = list(client.iter_changes(limit=2))
        assert len(feed) >= 4
        assert client.changes(after=client.changes(limit=1000).next).changes == []
        assert client.get_plant(mpid, as_of=today_in_oslo())["meteringPointId"] == mpid
    with TilsynClient(live.base, live.tenant.admin_key) as admin:
        assert admin.get_validation_settings() == {"strictValidation": False}
        admin.put_validation_settings({"strictValidation": True})
        assert admin.get_validation_settings() == {"strictValidation": True}
        rules = admin.get_audit_rules()
        assert "rules" in rules
        admin.put_audit_rules(rules)
    with TilsynClient(live.base, live.tenant.key) as client, pytest.raises(ProblemError) as denied:
        client.get_audit_rules()
    assert denied.value.status == 403


def test_retries_429_with_retry_after_then_503_then_a_dropped_connection(live: Live) -> None:
    sleeps = Sleeps()
    live.proxy.inject(
        Fault(429, (("Retry-After", "2"),)),
        Fault(503, (("Retry-After", "1"),)),
        Fault(503),
        Fault(0),
    )
    plant = next(generate_plants(1, customer_numbers=[], seed=10))
    with TilsynClient(
        live.proxy.url, live.tenant.key, options=ClientOptions(sleep=sleeps, seed=1)
    ) as client:
        outcome = client.upsert_plant(plant)
        assert outcome.result == "created"
        assert client.stats.retries == 4
        assert client.stats.retried_statuses == {429: 1, 503: 2}
    assert live.proxy.injected == 4
    assert len(live.proxy.posts()) == 5
    assert 2 <= sleeps.pauses[0] <= 2.5, "Retry-After is honoured"
    assert 1 <= sleeps.pauses[1] <= 1.5
    assert all(0 <= pause <= 30 for pause in sleeps.pauses[2:]), "backoff with full jitter"


def test_retries_really_wait(live: Live) -> None:
    live.proxy.inject(Fault(429, (("Retry-After", "1"),)))
    with TilsynClient(live.proxy.url, live.tenant.key) as client:
        started = time.monotonic()
        client.upsert_customer({"Number": "910000008"})
        assert time.monotonic() - started >= 1


def test_gives_up_after_the_attempt_cap(live: Live) -> None:
    sleeps = Sleeps()
    live.proxy.inject(*(Fault(503) for _ in range(5)))
    policy = RetryPolicy(max_attempts=3)
    with TilsynClient(
        live.proxy.url, live.tenant.key, retry=policy, options=ClientOptions(sleep=sleeps)
    ) as client:
        with pytest.raises(ProblemError) as caught:
            client.upsert_customer({"Number": "910000008"})
        assert caught.value.status == 503
    assert len(live.proxy.posts()) == 3
    assert len(sleeps.pauses) == 2


def test_gives_up_when_the_total_time_is_spent(live: Live) -> None:
    live.proxy.inject(Fault(429, (("Retry-After", "120"),)))
    policy = RetryPolicy(max_total=60)
    with (
        TilsynClient(
            live.proxy.url,
            live.tenant.key,
            retry=policy,
            options=ClientOptions(sleep=Sleeps()),
        ) as client,
        pytest.raises(ProblemError) as caught,
    ):
        client.upsert_customer({"Number": "910000008"})
    assert caught.value.status == 429
    assert caught.value.retry_after == 120


def test_unreachable_server_is_a_transport_failure() -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    with (
        TilsynClient("http://127.0.0.1:9", "tilsyn_test_x", retry=policy) as client,
        pytest.raises(TransportFailure),
    ):
        client.upsert_customer({"Number": "910000008"})


def test_retry_after_as_http_date_and_backoff_bounds() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("soon") is None
    policy = RetryPolicy(base_delay=1, max_delay=8)
    rng = random.Random(3)
    for attempt in range(1, 10):
        cap = min(8, 2 ** (attempt - 1))
        assert all(0 <= policy.backoff(attempt, rng) <= cap for _ in range(50))


def test_environment_must_be_known() -> None:
    with pytest.raises(ValueError, match="environment"):
        TilsynClient("http://127.0.0.1:9", "a-vendor-key")
    client = TilsynClient("http://127.0.0.1:9", "tilsyn_prod_abc")
    assert client.environment == "prod"
    client.close()


def test_bulk_methods_against_the_server(live: Live) -> None:
    """The SDK's bulk methods against the server's real bulk endpoints."""
    customers = list(generate_customers(3, seed=6, synthetic_ids=True))
    plants = list(generate_plants(4, customer_numbers=[c["Number"] for c in customers], seed=6))
    plants[2] = {**plants[2], "status": "Nope"}
    with TilsynClient(live.base, live.tenant.key) as client:
        answer = client.bulk_upsert_customers(customers)
        assert [item.result for item in answer.items] == ["created"] * 3
        assert answer.summary["summary"]["created"] == 3
        answer = client.bulk_upsert_plants(plants)
        assert [item.result for item in answer.items] == ["created", "created", "failed", "created"]
        assert answer.items[2].errors[0].field == "status"
        assert answer.items[0].key == plants[0]["meteringPointId"]
        assert (
            client.get_plant(plants[3]["meteringPointId"])["customerId"] == plants[3]["customerId"]
        )
