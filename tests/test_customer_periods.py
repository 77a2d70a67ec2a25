"""SPEC §5 and §10: a plant's customer periods, customerChangeFrom, and the customer in force."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.seed_api import (
    customer_get_url,
    fetch_plant,
    history,
    issue_codes,
    make_mpid,
    minimal_plant,
    problem,
    service_upsert_plant,
    upsert_customer,
    upsert_plant,
)
from tilsyn.contract.plants.schemas import PlantOut
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.outcome import Outcome
from tilsyn.plants import service as plants
from tilsyn.plants.periods import Period, apply_customer_change, in_force, normalise

D = date.fromisoformat
TODAY = D("2025-06-15")
MPID = make_mpid(31)


# --- The pure rules -------------------------------------------------------------------------


def test_in_force() -> None:
    periods = [Period(D("2024-01-01"), "B"), Period(D("2020-01-01"), "A")]
    assert in_force([], TODAY) is None
    assert in_force(periods, D("2019-12-31")) is None
    assert in_force(periods, D("2020-01-01")) == Period(D("2020-01-01"), "A")
    assert in_force(periods, D("2023-12-31")) == Period(D("2020-01-01"), "A")
    assert in_force(periods, D("2024-01-01")) == Period(D("2024-01-01"), "B")
    assert in_force(periods, TODAY) == Period(D("2024-01-01"), "B")


def test_normalise() -> None:
    assert normalise([]) == []
    assert normalise([Period(D("2020-01-01"), None)]) == []
    assert normalise(
        [
            Period(D("2023-01-01"), "A"),
            Period(D("2019-01-01"), None),
            Period(D("2020-01-01"), "A"),
            Period(D("2024-01-01"), None),
            Period(D("2025-01-01"), None),
        ]
    ) == [Period(D("2020-01-01"), "A"), Period(D("2024-01-01"), None)]


def test_first_customer() -> None:
    assert apply_customer_change([], "A", D("2020-01-01"), today=TODAY) == [
        Period(D("2020-01-01"), "A")
    ]


def test_no_customer_on_a_plant_without_one_changes_nothing() -> None:
    assert apply_customer_change([], None, TODAY, today=TODAY) is None
    assert apply_customer_change([], None, D("2030-01-01"), today=TODAY) is None


@pytest.mark.parametrize(
    "start", ["2020-01-01", "2010-05-05", "2023-03-03", "2025-06-15", "2030-01-01"]
)
def test_the_customer_in_force_again_changes_nothing(start: str) -> None:
    periods = [Period(D("2020-01-01"), "A")]
    assert apply_customer_change(periods, "A", D(start), today=TODAY) is None


def test_the_customer_in_force_again_keeps_a_pending_change() -> None:
    periods = [Period(D("2020-01-01"), "A"), Period(D("2030-01-01"), "B")]
    assert apply_customer_change(periods, "A", TODAY, today=TODAY) is None
    assert apply_customer_change(periods, "B", D("2030-01-01"), today=TODAY) is None


def test_another_customer_from_today() -> None:
    periods = [Period(D("2020-01-01"), "A")]
    assert apply_customer_change(periods, "B", TODAY, today=TODAY) == [
        Period(D("2020-01-01"), "A"),
        Period(TODAY, "B"),
    ]


def test_no_customer_ends_the_current_one() -> None:
    periods = [Period(D("2020-01-01"), "A")]
    assert apply_customer_change(periods, None, TODAY, today=TODAY) == [
        Period(D("2020-01-01"), "A"),
        Period(TODAY, None),
    ]


def test_a_change_before_the_current_period_replaces_the_periods_from_then_on() -> None:
    periods = [Period(D("2020-01-01"), "A"), Period(D("2024-01-01"), "B")]
    assert apply_customer_change(periods, "C", D("2022-01-01"), today=TODAY) == [
        Period(D("2020-01-01"), "A"),
        Period(D("2022-01-01"), "C"),
    ]
    assert apply_customer_change(periods, "C", D("2019-01-01"), today=TODAY) == [
        Period(D("2019-01-01"), "C")
    ]


def test_a_past_change_back_to_the_earlier_customer_joins_its_period() -> None:
    periods = [Period(D("2020-01-01"), "A"), Period(D("2024-01-01"), "B")]
    assert apply_customer_change(periods, "A", D("2022-01-01"), today=TODAY) == [
        Period(D("2020-01-01"), "A")
    ]


def test_a_future_change_is_added_after_the_current_period() -> None:
    periods = [Period(D("2020-01-01"), "A")]
    after = apply_customer_change(periods, "B", D("2025-09-01"), today=TODAY)
    assert after == [Period(D("2020-01-01"), "A"), Period(D("2025-09-01"), "B")]
    assert in_force(after, TODAY) == Period(D("2020-01-01"), "A")
    assert apply_customer_change(after, "B", D("2025-09-01"), today=TODAY) is None


def test_a_future_change_can_be_moved_or_cancelled() -> None:
    periods = [Period(D("2020-01-01"), "A"), Period(D("2025-09-01"), "B")]
    assert apply_customer_change(periods, "B", D("2025-08-01"), today=TODAY) == [
        Period(D("2020-01-01"), "A"),
        Period(D("2025-08-01"), "B"),
    ]
    cancelled = apply_customer_change(periods, "A", D("2025-09-01"), today=TODAY)
    assert cancelled == [Period(D("2020-01-01"), "A")]
    # B from a later date is already true of a change from 1 September: to move it later,
    # cancel it first.
    assert apply_customer_change(periods, "B", D("2025-10-01"), today=TODAY) is None
    assert apply_customer_change(cancelled, "B", D("2025-10-01"), today=TODAY) == [
        Period(D("2020-01-01"), "A"),
        Period(D("2025-10-01"), "B"),
    ]


def test_without_today_the_date_of_the_change_decides() -> None:
    periods = [Period(D("2020-01-01"), "A")]
    assert apply_customer_change(periods, "A", D("2022-01-01")) is None
    assert apply_customer_change(periods, "A", D("2018-01-01")) == [Period(D("2018-01-01"), "A")]


days = st.dates(min_value=D("2015-01-01"), max_value=D("2035-12-31"))
customers = st.sampled_from(["A", "B", "C", None])
period_lists = st.dictionaries(days, customers, max_size=5).map(
    lambda d: [Period(day, customer) for day, customer in d.items()]
)


def _customer_on(periods: list[Period], day: date) -> str | None:
    current = in_force(periods, day)
    return current.customer if current else None


@given(periods=period_lists, customer=customers, start=days, today=days)
@settings(max_examples=100, deadline=None, derandomize=True)
def test_a_change_rules_from_its_date_and_leaves_the_past(
    periods: list[Period], customer: str | None, start: date, today: date
) -> None:
    after = apply_customer_change(periods, customer, start, today=today)
    probes = sorted(
        {start, today, start - timedelta(days=1), D("2014-12-31"), D("2036-01-01")}
        | {p.valid_from for p in periods}
        | {p.valid_from - timedelta(days=1) for p in periods}
    )
    if after is None:
        # Nothing to do: the customer is the one in force today (for a change dated today
        # or earlier), or already the one from the change's date on.
        resent = start <= today and _customer_on(periods, today) == customer
        already = all(_customer_on(periods, day) == customer for day in probes if day >= start)
        assert resent or already
        return
    assert after == normalise(after)
    for day in probes:
        expected = customer if day >= start else _customer_on(periods, day)
        assert _customer_on(after, day) == expected, day


# --- Through the service, with a chosen "today" ---------------------------------------------


def _upsert(database: Database, tenant: Tenant, today: date, **fields: Any) -> Outcome[PlantOut]:
    with database.write() as session:
        return service_upsert_plant(
            session,
            Actor(instance_id=tenant.instance_id),
            minimal_plant(MPID, **fields),
            today=today,
        )


def _get(database: Database, tenant: Tenant, today: date) -> PlantOut:
    with database.read() as session:
        return plants.get_plant(session, tenant.instance_id, MPID, today=today)


def _customer(database: Database, tenant: Tenant, today: date) -> tuple[Any, Any]:
    plant = _get(database, tenant, today)
    return plant.customerId, plant.customerChangeFrom


def test_change_dated_in_the_past(database: Database, tenant: Tenant) -> None:
    outcome = _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    assert (outcome.data.customerId, outcome.data.customerChangeFrom) == ("A", "2020-01-01")
    assert _customer(database, tenant, TODAY) == ("A", "2020-01-01")
    assert _customer(database, tenant, D("2019-12-31")) == (None, None)


def test_change_dated_today_by_default(database: Database, tenant: Tenant) -> None:
    _upsert(database, tenant, TODAY, customerId="A")
    assert _customer(database, tenant, TODAY) == ("A", TODAY.isoformat())
    assert _customer(database, tenant, TODAY - timedelta(days=1)) == (None, None)


def test_future_dated_first_upsert_leaves_no_customer_until_then(
    database: Database, tenant: Tenant
) -> None:
    outcome = _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2025-09-01")
    assert outcome.result == "created"
    assert (outcome.data.customerId, outcome.data.customerChangeFrom) == (None, None)
    assert _customer(database, tenant, TODAY) == (None, None)
    assert _customer(database, tenant, D("2025-08-31")) == (None, None)
    assert _customer(database, tenant, D("2025-09-01")) == ("A", "2025-09-01")
    again = _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2025-09-01")
    assert again.result == "unchanged"


def test_future_change_shows_from_its_date(database: Database, tenant: Tenant) -> None:
    _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    outcome = _upsert(database, tenant, TODAY, customerId="B", customerChangeFrom="2025-09-01")
    assert outcome.result == "updated"
    assert _customer(database, tenant, TODAY) == ("A", "2020-01-01")
    assert _customer(database, tenant, D("2025-09-01")) == ("B", "2025-09-01")
    # The nightly sync goes on sending the current customer: the pending change stays.
    assert _upsert(database, tenant, TODAY, customerId="A").result == "unchanged"
    assert _customer(database, tenant, D("2025-09-02")) == ("B", "2025-09-01")
    # On the day itself the sync sends the new one: nothing to change either.
    later = D("2025-09-01")
    assert _upsert(database, tenant, later, customerId="B").result == "unchanged"
    assert _customer(database, tenant, later) == ("B", "2025-09-01")


@pytest.mark.parametrize(
    "fields",
    [
        {"customerChangeFrom": "2020-01-01"},
        {},
        {"customerChangeFrom": None},
        {"customerChangeFrom": "2015-01-01"},
        {"customerChangeFrom": "2023-07-01"},
        {"customerChangeFrom": "2026-01-01"},
    ],
    ids=["same-date", "no-date", "null-date", "earlier", "later", "future"],
)
def test_the_current_customer_sent_again_changes_nothing(
    database: Database, tenant: Tenant, fields: dict[str, Any]
) -> None:
    _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    rows = len(history(database, tenant.instance_id))
    assert _upsert(database, tenant, TODAY, customerId="A", **fields).result == "unchanged"
    assert len(history(database, tenant.instance_id)) == rows
    assert _customer(database, tenant, TODAY) == ("A", "2020-01-01")


def test_change_before_the_current_period_replaces_the_periods_from_then(
    database: Database, tenant: Tenant
) -> None:
    _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    _upsert(database, tenant, TODAY, customerId="B", customerChangeFrom="2024-01-01")
    assert _customer(database, tenant, TODAY) == ("B", "2024-01-01")
    outcome = _upsert(database, tenant, TODAY, customerId="C", customerChangeFrom="2022-01-01")
    assert outcome.result == "updated"
    assert _customer(database, tenant, TODAY) == ("C", "2022-01-01")
    assert _customer(database, tenant, D("2021-12-31")) == ("A", "2020-01-01")
    # History keeps what was replaced.
    last = [r for r in history(database, tenant.instance_id) if r.operation == "customer"][-1]
    assert last.diff == {
        "customerPeriods": [
            [
                {"customerId": "A", "from": "2020-01-01"},
                {"customerId": "B", "from": "2024-01-01"},
            ],
            [
                {"customerId": "A", "from": "2020-01-01"},
                {"customerId": "C", "from": "2022-01-01"},
            ],
        ]
    }


def test_absent_customer_ends_the_customer_from_today(database: Database, tenant: Tenant) -> None:
    _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    outcome = _upsert(database, tenant, TODAY)
    assert outcome.result == "updated"
    assert outcome.data.customerId is None
    assert _customer(database, tenant, TODAY) == (None, TODAY.isoformat())
    assert _customer(database, tenant, TODAY - timedelta(days=1)) == ("A", "2020-01-01")
    assert _upsert(database, tenant, TODAY).result == "unchanged"
    assert _upsert(database, tenant, TODAY + timedelta(days=3), customerId=None).result == (
        "unchanged"
    )


def test_absent_customer_with_a_date_ends_it_then(database: Database, tenant: Tenant) -> None:
    _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    _upsert(database, tenant, TODAY, customerChangeFrom="2025-07-01")
    assert _customer(database, tenant, TODAY) == ("A", "2020-01-01")
    assert _customer(database, tenant, D("2025-07-01")) == (None, "2025-07-01")


def test_customer_periods_are_per_plant(database: Database, tenant: Tenant) -> None:
    _upsert(database, tenant, TODAY, customerId="A", customerChangeFrom="2020-01-01")
    other = make_mpid(32)
    with database.write() as session:
        service_upsert_plant(
            session,
            Actor(instance_id=tenant.instance_id),
            minimal_plant(other, customerId="B"),
            today=TODAY,
        )
    with database.read() as session:
        assert plants.get_plant(session, tenant.instance_id, other, today=TODAY).customerId == "B"
    assert _customer(database, tenant, TODAY) == ("A", "2020-01-01")


# --- Through the API ------------------------------------------------------------------------


def test_api_past_today_and_future_changes(client: TestClient, tenant: Tenant) -> None:
    today = today_in_oslo()
    first = upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="A", customerChangeFrom="2020-01-01")
    )
    assert (first["data"]["customerId"], first["data"]["customerChangeFrom"]) == ("A", "2020-01-01")
    future = (today + timedelta(days=30)).isoformat()
    pending = upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="B", customerChangeFrom=future)
    )
    assert pending["result"] == "updated"
    assert (pending["data"]["customerId"], pending["data"]["customerChangeFrom"]) == (
        "A",
        "2020-01-01",
    )
    now = upsert_plant(client, tenant, minimal_plant(MPID, customerId="C"))
    assert (now["data"]["customerId"], now["data"]["customerChangeFrom"]) == (
        "C",
        today.isoformat(),
    )
    plant = fetch_plant(client, tenant, MPID)
    assert (plant["customerId"], plant["customerChangeFrom"]) == ("C", today.isoformat())


def test_api_future_dated_first_upsert(client: TestClient, tenant: Tenant) -> None:
    future = (today_in_oslo() + timedelta(days=10)).isoformat()
    response = upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="A", customerChangeFrom=future)
    )
    assert response["result"] == "created"
    plant = fetch_plant(client, tenant, MPID)
    assert plant["customerId"] is None
    assert plant["customerChangeFrom"] is None


def test_api_current_customer_again_is_unchanged(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="A", customerChangeFrom="2020-01-01")
    )
    for fields in ({"customerChangeFrom": "2020-01-01"}, {}, {"customerChangeFrom": "2001-01-01"}):
        response = upsert_plant(client, tenant, minimal_plant(MPID, customerId="A", **fields))
        assert response["result"] == "unchanged"
    assert fetch_plant(client, tenant, MPID)["customerChangeFrom"] == "2020-01-01"


def test_api_customer_id_is_trimmed_and_may_be_a_number(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, customerId=" 4711 "))
    response = upsert_plant(client, tenant, minimal_plant(MPID, customerId=4711))
    assert response["result"] == "unchanged"
    assert response["data"]["customerId"] == "4711"


def test_api_blank_customer_id_means_none(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(
        client, tenant, minimal_plant(MPID, customerId="4711", customerChangeFrom="2020-01-01")
    )
    response = upsert_plant(client, tenant, minimal_plant(MPID, customerId="  "))
    assert response["result"] == "updated"
    assert response["data"]["customerId"] is None


def test_customer_not_found_then_created(client: TestClient, tenant: Tenant) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, customerId="4711"))
    assert ("customerId", "customer_not_found") in issue_codes(response["warnings"])
    warning = next(w for w in response["warnings"] if w["code"] == "customer_not_found")
    assert "4711" not in warning["message"]
    assert response["data"]["customerId"] == "4711"
    problem(client.get(customer_get_url("4711"), headers=tenant.headers), 404)

    upsert_customer(client, tenant, {"Number": "4711", "LastName": "Firma AS"})
    plant = fetch_plant(client, tenant, MPID)
    assert plant["customerId"] == "4711"
    customer = client.get(customer_get_url(plant["customerId"]), headers=tenant.headers)
    assert customer.json()["LastName"] == "Firma AS"
    again = upsert_plant(client, tenant, minimal_plant(MPID, customerId="4711"))
    assert again["result"] == "unchanged"
    assert again["warnings"] == []


def test_customer_not_found_for_a_future_customer_too(client: TestClient, tenant: Tenant) -> None:
    future = (today_in_oslo() + timedelta(days=5)).isoformat()
    body = minimal_plant(MPID, customerId="4711", customerChangeFrom=future)
    assert ("customerId", "customer_not_found") in issue_codes(
        upsert_plant(client, tenant, body)["warnings"]
    )


def test_implausible_change_date_is_a_warning(client: TestClient, tenant: Tenant) -> None:
    far = (today_in_oslo() + timedelta(days=800)).isoformat()
    for when in ("1850-01-01", far):
        body = minimal_plant(MPID, customerId="A", customerChangeFrom=when)
        assert ("customerChangeFrom", "implausible_date") in issue_codes(
            upsert_plant(client, tenant, body)["warnings"]
        )
