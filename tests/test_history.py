"""SPEC §8: what history records, the history endpoints, and as-of reads, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    builtby_url,
    customer_get_url,
    fetch_customer,
    fetch_plant,
    history,
    make_mpid,
    minimal_plant,
    ok,
    plant_get_url,
    post,
    problem,
    register_builtby,
    seed_customer,
    upsert_customer,
    upsert_plant,
)
from tilsyn.contract.time import today_in_oslo
from tilsyn.core import changelog as history_service
from tilsyn.core.changelog import Actor, end_of_day, record_change
from tilsyn.core.db import Database
from tilsyn.core.models import Change

MPID = make_mpid(801)
OTHER = make_mpid(802)
NUMBER = "22097312401"


class Clock:
    """History's clock, set by a test; the real time when unset."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)

    def set(self, moment: str) -> None:
        self.now = datetime.fromisoformat(moment)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(history_service, "utc_now", clock)
    return clock


def plant_history_url(mpid: str, environment: str = "test") -> str:
    return f"/api/plant/{environment}/{mpid}/history"


def customer_history_url(number: str, environment: str = "test") -> str:
    return f"/api/customer/environment/{environment}/bynumber/{number}/history"


def get(client: TestClient, tenant: Tenant, url: str, **params: Any) -> dict[str, Any]:
    return ok(client.get(url, params=params, headers=tenant.headers))


def fields(change: dict[str, Any]) -> dict[str, list[Any]]:
    return {f["field"]: [f["before"], f["after"]] for f in change["fields"]}


def cp(name: str = "CP-1", transformer: str = "T-1", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        **extra,
        "transformer": {"name": transformer, "netStation": {"name": "NS-1"}},
    }


# --- What is recorded ------------------------------------------------------------------------


def test_a_change_records_when_which_key_and_request(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    response = client.post(
        "/api/import/test/customer",
        json=seed_customer(),
        headers={**tenant.headers, "X-Request-ID": "req-4711"},
    )
    assert response.status_code == 200
    [change] = get(client, tenant, customer_history_url(NUMBER))["changes"]
    assert change["entityType"] == "customer"
    assert change["entityKey"] == NUMBER
    assert change["operation"] == "create"
    assert change["requestId"] == "req-4711"
    assert change["apiKey"]["label"] == "tests"
    assert isinstance(change["apiKey"]["id"], int)
    assert tenant.key not in str(change)
    assert change["at"].endswith("Z")
    moment = datetime.fromisoformat(change["at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert fields(change)["FirstName"] == [None, "Ola"]
    assert fields(change)["Address.PostalCode"] == [None, "0484"]


def test_an_unchanged_upsert_records_nothing(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    body = minimal_plant(MPID, customerId=NUMBER, connectionPoint=cp())
    upsert_plant(client, tenant, body)
    upsert_customer(client, tenant, seed_customer())
    rows = len(history(database, tenant.instance_id))
    assert upsert_plant(client, tenant, body)["result"] == "unchanged"
    assert upsert_customer(client, tenant, seed_customer())["result"] == "unchanged"
    assert len(history(database, tenant.instance_id)) == rows


def test_one_request_is_one_entry_per_entity(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """A plant created with a customer, a connection point and its chain: one entry for the
    plant (its fields, customer periods and connection point together), one per element."""
    upsert_plant(
        client,
        tenant,
        minimal_plant(
            MPID,
            description="one",
            customerId=NUMBER,
            customerChangeFrom="2020-01-01",
            connectionPoint=cp(),
        ),
    )
    rows = history(database, tenant.instance_id)
    assert sorted((r.entity_type, r.entity_key, r.operation) for r in rows) == [
        ("connectionPoint", "CP-1", "create"),
        ("netStation", "NS-1", "create"),
        ("plant", MPID, "create"),
        ("transformer", "T-1", "create"),
    ]
    assert len({r.request_id for r in rows}) == 1
    plant = next(r for r in rows if r.entity_type == "plant")
    assert plant.diff is not None
    assert plant.diff["description"] == [None, "one"]
    assert plant.diff["connectionPoint"] == [None, "CP-1"]
    assert plant.diff["customerPeriods"] == [[], [{"customerId": NUMBER, "from": "2020-01-01"}]]

    # Fields and customer in one later request: one update.
    upsert_plant(
        client,
        tenant,
        minimal_plant(
            MPID,
            description="two",
            customerId="B",
            customerChangeFrom="2024-01-01",
            connectionPoint=cp(),
        ),
    )
    [update] = [r for r in history(database, tenant.instance_id) if r.id > plant.id]
    assert update.operation == "update"
    assert update.diff == {
        "description": ["one", "two"],
        "customerPeriods": [
            [{"customerId": NUMBER, "from": "2020-01-01"}],
            [
                {"customerId": NUMBER, "from": "2020-01-01"},
                {"customerId": "B", "from": "2024-01-01"},
            ],
        ],
    }


def test_changes_of_one_entity_in_one_transaction_merge(database: Database, tenant: Tenant) -> None:
    actor = Actor(instance_id=tenant.instance_id, request_id="r1")

    def note(key: str, operation: str, diff: dict[str, Any] | None) -> None:
        record_change(
            session, actor, entity_type="plant", entity_key=key, operation=operation, diff=diff
        )

    with database.write() as session:
        note("a", "create", {"x": [None, 1]})
        note(
            "a", "customer", {"customerPeriods": [[], [{"customerId": "C", "from": "2020-01-01"}]]}
        )
        note("b", "update", {"x": [1, 2]})
        note("b", "update", {"x": [2, 1]})  # changed back: nothing happened
        note("c", "create", {"x": [None, 1]})
        note("c", "delete", {"x": [1, None]})  # never visible outside the transaction
        note("d", "update", {"x": [1, 2], "y": [None, 3]})
        note("d", "builtby", {"x": [2, 5]})
        note("e", "update", {"x": [1, 2]})
        note("e", "delete", {"x": [2, None], "y": [7, None]})
    rows = history(database, tenant.instance_id)
    assert [(r.entity_key, r.operation, r.diff) for r in rows] == [
        (
            "a",
            "create",
            {
                "x": [None, 1],
                "customerPeriods": [[], [{"customerId": "C", "from": "2020-01-01"}]],
            },
        ),
        ("d", "update", {"x": [1, 5], "y": [None, 3]}),
        ("e", "delete", {"x": [1, None], "y": [7, None]}),
    ]


def test_a_rolled_back_transaction_records_nothing(database: Database, tenant: Tenant) -> None:
    actor = Actor(instance_id=tenant.instance_id)

    def fail_after_noting() -> None:
        with database.write() as session:
            record_change(
                session, actor, entity_type="plant", entity_key="x", operation="update", diff={}
            )
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_after_noting()
    with database.write() as session:
        record_change(
            session, actor, entity_type="plant", entity_key="y", operation="update", diff={}
        )
    assert [r.entity_key for r in history(database, tenant.instance_id)] == ["y"]


def test_every_kind_of_change_is_recorded(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_customer(client, tenant, seed_customer())
    upsert_customer(client, tenant, seed_customer(FirstName="Kari"))
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=cp()))
    upsert_plant(  # customer period from customerChangeFrom
        client, tenant, minimal_plant(MPID, connectionPoint=cp(), customerId=NUMBER)
    )
    register_builtby(client, tenant, {"meteringPointId": MPID, "builtByElCompanyId": 12345})
    register_builtby(
        client,
        tenant,
        {"meteringPointId": MPID, "builtByElCompanyId": 777, "extensionName": "Garasje"},
    )
    upsert_plant(  # element address, and a move to another transformer
        client,
        tenant,
        minimal_plant(
            OTHER,
            connectionPoint=cp(
                transformer="T-2", address={"addressText": "Gate 2", "postalCode": "2040"}
            ),
        ),
    )
    ok(client.delete(f"/api/import/test/plant/{MPID}", headers=tenant.headers))
    ok(client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers))
    rows = [
        (r.entity_type, r.entity_key, r.operation) for r in history(database, tenant.instance_id)
    ]
    for expected in [
        ("customer", "[erased]", "create"),
        ("customer", "[erased]", "update"),
        ("netStation", "NS-1", "create"),
        ("transformer", "T-1", "create"),
        ("connectionPoint", "CP-1", "create"),
        ("plant", MPID, "create"),
        ("plant", MPID, "customer"),
        ("plant", MPID, "builtby"),
        ("plant", MPID, "extension"),
        ("transformer", "T-2", "create"),
        ("connectionPoint", "CP-1", "update"),
        ("plant", OTHER, "create"),
        ("plant", MPID, "delete"),
        ("customer", "[erased]", "erase"),
    ]:
        assert expected in rows
    moved = next(
        r
        for r in history(database, tenant.instance_id)
        if r.entity_type == "connectionPoint" and r.operation == "update"
    )
    assert moved.diff == {
        "address.addressText": [None, "Gate 2"],
        "address.postalCode": [None, "2040"],
        "parent": ["T-1", "T-2"],
    }
    tombstone = next(r for r in history(database, tenant.instance_id) if r.operation == "delete")
    assert tombstone.diff is not None
    assert tombstone.diff["consumptionCode"] == ["23", None]
    assert tombstone.diff["builtByElCompanyId"] == [12345, None]
    assert tombstone.diff["connectionPoint"] == ["CP-1", None]
    assert tombstone.diff["extensions[Garasje|].builtByElCompanyId"] == [777, None]


# --- History endpoints -----------------------------------------------------------------------


def test_plant_history_newest_first_with_customer_periods(
    client: TestClient, tenant: Tenant
) -> None:
    for number, start in (("A", "2020-01-01"), ("B", "2023-03-01"), ("C", "2024-06-01")):
        upsert_plant(
            client, tenant, minimal_plant(MPID, customerId=number, customerChangeFrom=start)
        )
    upsert_plant(  # a change dated before the current period replaces the later ones
        client, tenant, minimal_plant(MPID, customerId="D", customerChangeFrom="2024-01-01")
    )
    page = get(client, tenant, plant_history_url(MPID))
    assert [c["operation"] for c in page["changes"]] == [
        "customer",
        "customer",
        "customer",
        "create",
    ]
    ids = [c["id"] for c in page["changes"]]
    assert ids == sorted(ids, reverse=True)
    assert page["next"] is None
    replaced = fields(page["changes"][0])["customerPeriods"]
    assert replaced[0][-1] == {"customerId": "C", "from": "2024-06-01"}
    assert replaced[1][-1] == {"customerId": "D", "from": "2024-01-01"}
    assert page["customerPeriods"] == [
        {"customerId": "A", "from": "2020-01-01", "to": "2023-02-28"},
        {"customerId": "B", "from": "2023-03-01", "to": "2023-12-31"},
        {"customerId": "D", "from": "2024-01-01", "to": None},
    ]


def test_history_pages(client: TestClient, tenant: Tenant) -> None:
    for index in range(7):
        upsert_customer(client, tenant, seed_customer(FirstName=f"name {index}"))
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"before": before} if before else {})
        page = get(client, tenant, customer_history_url(NUMBER), **params)
        assert len(page["changes"]) <= 3
        seen += [c["id"] for c in page["changes"]]
        before = page["next"]
        if before is None:
            break
    assert len(seen) == 7
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 7
    everything = get(client, tenant, customer_history_url(NUMBER), limit=1000)
    assert [c["id"] for c in everything["changes"]] == seen
    assert everything["next"] is None


def test_history_of_a_deleted_plant_keeps_its_tombstone(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, customerId="A"))
    ok(client.delete(f"/api/import/test/plant/{MPID}", headers=tenant.headers))
    page = get(client, tenant, plant_history_url(MPID))
    assert [c["operation"] for c in page["changes"]] == ["delete", "create"]
    assert page["customerPeriods"] == []
    assert fields(page["changes"][0])["customerPeriods"][0][0]["customerId"] == "A"


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (plant_history_url(MPID), {"limit": 0}),
        (plant_history_url(MPID), {"limit": 1001}),
        (plant_history_url(MPID), {"before": "abc"}),
        (plant_history_url(MPID), {"before": 2**63}),
        (customer_history_url(NUMBER), {"limit": -1}),
        ("/api/changes/test", {"limit": 5000}),
        ("/api/changes/test", {"after": "not-a-cursor"}),
        (plant_get_url(MPID), {"asOf": "2024-02-30"}),
        (plant_get_url(MPID), {"asOf": "yesterday"}),
        (plant_get_url(MPID), {"asOf": "2024-5-1"}),
        (customer_get_url(NUMBER), {"asOf": "2024-13-01"}),
    ],
)
def test_invalid_parameters_are_400_problems(
    client: TestClient, tenant: Tenant, url: str, params: dict[str, Any]
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    upsert_customer(client, tenant, seed_customer())
    body = problem(client.get(url, params=params, headers=tenant.headers), 400)
    assert body["errors"]


@pytest.mark.parametrize(
    "url",
    [
        plant_history_url(MPID),
        customer_history_url(NUMBER),
        "/api/changes/test",
        plant_get_url(MPID) + "?asOf=2024-01-01",
    ],
)
def test_history_endpoints_check_key_then_environment(
    client: TestClient, tenant: Tenant, url: str
) -> None:
    problem(client.get(url + ("&" if "?" in url else "?") + "limit=0"), 401)
    problem(client.get(url, headers={"api-key": "tilsyn_test_unknown"}), 401)
    problem(client.get(url.replace("/test", "/prod", 1), headers=tenant.headers), 400)


def test_unknown_entities_are_404(client: TestClient, tenant: Tenant) -> None:
    problem(client.get(plant_history_url(MPID), headers=tenant.headers), 404)
    problem(client.get(customer_history_url(NUMBER), headers=tenant.headers), 404)
    problem(client.get(plant_history_url("x%00y"), headers=tenant.headers), 404)


def test_history_is_per_instance(client: TestClient, database: Database, tenant: Tenant) -> None:
    other = make_tenant(database, "other-test", "test")
    upsert_plant(client, other, minimal_plant(MPID, description="theirs"))
    problem(client.get(plant_history_url(MPID), headers=tenant.headers), 404)
    assert get(client, tenant, "/api/changes/test")["changes"] == []
    problem(client.get(plant_get_url(MPID) + "?asOf=2099-01-01", headers=tenant.headers), 404)


# --- As of a day -----------------------------------------------------------------------------


def test_plant_as_of_each_day(
    client: TestClient, database: Database, tenant: Tenant, clock: Clock
) -> None:
    """The plant as stored at the end of each day (Europe/Oslo): fields, customer period,
    connection point chain with addresses, builder and extensions; 404 when it did not exist."""
    last_of_day: dict[str, dict[str, Any]] = {}

    def write(moment: str, day: str, url: str, body: dict[str, Any]) -> None:
        clock.set(moment)
        last_of_day[day] = ok(post(client, tenant, url, body))["data"]

    plant_url = "/api/import/test/plant"
    address_1 = {"addressText": "Gate 1", "postalCode": "2040"}
    address_2 = {"addressText": "Gate 2", "postalCode": "2041"}
    first = minimal_plant(
        MPID,
        description="one",
        customerId="A",
        customerChangeFrom="2024-01-01",
        connectionPoint=cp(address=address_1),
    )
    write("2024-04-30T10:00:00+00:00", "2024-04-30", plant_url, first)
    # 23:30 in Oslo, still 1 May there.
    write("2024-05-01T21:30:00+00:00", "2024-05-01", plant_url, first | {"description": "two"})
    # 00:30 on 2 May in Oslo: a new customer, the connection point moved and readdressed.
    third = minimal_plant(
        MPID,
        description="three",
        customerId="B",
        customerChangeFrom="2024-05-02",
        connectionPoint=cp(transformer="T-2", address=address_2),
    )
    write("2024-05-01T22:30:00+00:00", "2024-05-02", plant_url, third)
    write(
        "2024-05-03T08:00:00+00:00",
        "2024-05-03",
        builtby_url(),
        {"meteringPointId": MPID, "builtByElCompanyId": 12345},
    )
    write(
        "2024-05-03T09:00:00+00:00",
        "2024-05-03",
        builtby_url(),
        {
            "meteringPointId": MPID,
            "builtByElCompanyId": 777,
            "extensionName": "Garasje",
            "extensionYearBuilt": 2010,
        },
    )
    clock.set("2024-05-04T10:00:00+00:00")
    ok(client.delete(f"/api/import/test/plant/{MPID}", headers=tenant.headers))
    write("2024-05-06T10:00:00+00:00", "2024-05-06", plant_url, minimal_plant(MPID))
    clock.now = None

    def as_of(day: str) -> Any:
        return client.get(plant_get_url(MPID), params={"asOf": day}, headers=tenant.headers)

    problem(as_of("2024-04-29"), 404)
    for day, data in last_of_day.items():
        assert ok(as_of(day)) == data, day
    problem(as_of("2024-05-04"), 404)
    problem(as_of("2024-05-05"), 404)

    may_1 = ok(as_of("2024-05-01"))
    assert may_1["description"] == "two"
    assert (may_1["customerId"], may_1["customerChangeFrom"]) == ("A", "2024-01-01")
    assert may_1["connectionPoint"]["address"] == address_1
    assert may_1["connectionPoint"]["transformer"]["name"] == "T-1"
    may_2 = ok(as_of("2024-05-02"))
    assert (may_2["customerId"], may_2["customerChangeFrom"]) == ("B", "2024-05-02")
    assert may_2["connectionPoint"]["address"] == address_2
    assert may_2["connectionPoint"]["transformer"]["name"] == "T-2"
    assert may_2["connectionPoint"]["transformer"]["netStation"]["name"] == "NS-1"
    assert may_2["extensions"] == []
    assert ok(as_of("2024-05-03"))["extensions"] == [
        {"extensionName": "Garasje", "extensionYearBuilt": 2010, "builtByElCompanyId": 777}
    ]
    today = today_in_oslo().isoformat()
    assert ok(as_of(today)) == fetch_plant(client, tenant, MPID)
    assert ok(as_of("9999-12-31")) == fetch_plant(client, tenant, MPID)


def test_as_of_shows_the_customer_in_force_that_day(
    client: TestClient, tenant: Tenant, clock: Clock
) -> None:
    clock.set("2024-01-10T12:00:00+00:00")
    upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="A", customerChangeFrom="2024-01-01")
    )
    upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="B", customerChangeFrom="2024-03-01")
    )
    clock.now = None

    def customer_on(day: str) -> tuple[Any, Any]:
        data = get(client, tenant, plant_get_url(MPID), asOf=day)
        return data["customerId"], data["customerChangeFrom"]

    assert customer_on("2024-01-10") == ("A", "2024-01-01")
    assert customer_on("2024-02-29") == ("A", "2024-01-01")  # stored already, not yet in force
    assert customer_on("2024-03-01") == ("B", "2024-03-01")


def test_an_element_changed_through_another_plant_shows_as_of(
    client: TestClient, tenant: Tenant, clock: Clock
) -> None:
    clock.set("2024-01-10T12:00:00+00:00")
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=cp()))
    clock.set("2024-02-10T12:00:00+00:00")
    located = cp(location={"latitude": 60.5, "longitude": 11.5})
    located["transformer"]["netStation"]["address"] = {"addressText": "Stasjonsvn. 1"}
    upsert_plant(client, tenant, minimal_plant(OTHER, connectionPoint=located))
    clock.now = None
    before = get(client, tenant, plant_get_url(MPID), asOf="2024-02-09")["connectionPoint"]
    after = get(client, tenant, plant_get_url(MPID), asOf="2024-02-10")["connectionPoint"]
    assert before["location"] == {"latitude": None, "longitude": None}
    assert before["transformer"]["netStation"]["address"]["addressText"] is None
    assert after["location"] == {"latitude": 60.5, "longitude": 11.5}
    assert after["transformer"]["netStation"]["address"]["addressText"] == "Stasjonsvn. 1"


def test_customer_as_of(client: TestClient, tenant: Tenant, clock: Clock) -> None:
    clock.set("2024-04-30T10:00:00+00:00")
    first = upsert_customer(client, tenant, seed_customer())["data"]
    clock.set("2024-05-02T10:00:00+00:00")
    second = upsert_customer(client, tenant, seed_customer(FirstName="Kari", Address=None))["data"]
    clock.now = None

    def as_of(day: str) -> Any:
        return client.get(customer_get_url(NUMBER), params={"asOf": day}, headers=tenant.headers)

    problem(as_of("2024-04-29"), 404)
    assert ok(as_of("2024-04-30")) == first
    assert ok(as_of("2024-05-01")) == first
    assert ok(as_of("2024-05-02")) == second
    assert ok(as_of(today_in_oslo().isoformat())) == fetch_customer(client, tenant, NUMBER)
    ok(client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers))
    problem(as_of("2024-04-30"), 404)
    problem(as_of(today_in_oslo().isoformat()), 404)


def test_end_of_day_is_midnight_in_oslo() -> None:
    assert end_of_day(date(2024, 5, 1)) == datetime(2024, 5, 1, 22, tzinfo=UTC)  # summer time
    assert end_of_day(date(2024, 1, 1)) == datetime(2024, 1, 1, 23, tzinfo=UTC)
    assert end_of_day(date.max) is None


def test_history_size_stays_small(client: TestClient, database: Database, tenant: Tenant) -> None:
    """Diffs, not snapshots: an update records the fields that changed and nothing else."""
    upsert_plant(client, tenant, minimal_plant(MPID, description="one"))
    upsert_plant(client, tenant, minimal_plant(MPID, description="two"))
    with database.read() as session:
        last = session.scalar(select(Change).order_by(Change.id.desc()).limit(1))
        count = session.scalar(select(func.count()).select_from(Change))
    assert last is not None
    assert last.diff == {"description": ["one", "two"]}
    assert count == 2
