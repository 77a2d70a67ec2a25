"""GDPR: deleting a customer erases its personal data from every table, history included.

History keeps that an erasure happened, when and by which key; the number's own entries stay
as empty shells (so feed positions and the times of changes stay), and a tombstone lists the
ids of every entry that was erased, so a downstream copy can erase the same.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    customer_get_url,
    fetch_plant,
    make_fnr,
    make_mpid,
    minimal_plant,
    ok,
    plant_get_url,
    problem,
    upsert_customer,
    upsert_plant,
)
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.models import Base
from tilsyn.core.personal import stored_key

NUMBER = make_fnr("170379")
FIRST, LAST = "Ingeborgine", "Tvedtbakken"
EMAIL = "ingeborgine.tvedtbakken@example.no"
PHONE = "41 23 45 67"
STREET = "Sjøbodveien 17"
PERSONAL = (NUMBER, FIRST, LAST, "Tvedt", EMAIL, PHONE, STREET, "Sjøbod", "1979-03-17")
PLANT, OTHER_PLANT = make_mpid(901), make_mpid(902)


def customer(**fields: Any) -> dict[str, Any]:
    return {
        "Number": NUMBER,
        "FirstName": FIRST,
        "LastName": LAST,
        "Address": {"AddressText": STREET, "PostalCode": "0150"},
        "Email": EMAIL,
        "Phone": PHONE,
        "BirthDate": "1979-03-17",
        **fields,
    }


def every_table_as_text(database: Database) -> str:
    """Every row of every table of the schema, as JSON text (raw and ASCII-escaped)."""
    lines: list[str] = []
    with database.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                lines.append(
                    f"{table.name}: {json.dumps(list(row), default=str, ensure_ascii=False)}"
                )
    raw = "\n".join(lines)
    return raw + "\n" + raw.encode("ascii", "backslashreplace").decode()


def test_erasure_leaves_no_personal_data_in_any_table(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_customer(client, tenant, customer(FirstName="Inge", Email="old@example.no"))
    upsert_customer(client, tenant, customer())
    # Periods: in force, replaced later, and future-dated, on two plants.
    upsert_plant(
        client, tenant, minimal_plant(PLANT, customerId=NUMBER, customerChangeFrom="2020-01-01")
    )
    upsert_plant(
        client, tenant, minimal_plant(PLANT, customerId="B", customerChangeFrom="2022-01-01")
    )
    upsert_plant(
        client, tenant, minimal_plant(PLANT, customerId=NUMBER, customerChangeFrom="2021-01-01")
    )
    upsert_plant(
        client,
        tenant,
        minimal_plant(OTHER_PLANT, customerId=NUMBER, customerChangeFrom="2099-01-01"),
    )
    # Another instance's customer with the same data stays untouched.
    other = make_tenant(database, "other-test", "test")
    upsert_customer(client, other, customer())
    other_text = every_table_as_text(database)
    # The number is stored only as its keyed hash (core/personal.py), the rest as sent.
    with database.read() as session:
        key = stored_key(session, tenant.instance_id, NUMBER)
    assert NUMBER not in other_text
    assert all(value in other_text for value in (*PERSONAL[1:], key))

    ok(client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers))
    ok(client.delete(f"/api/import/test/customer/{NUMBER}", headers=other.headers))

    text = every_table_as_text(database)
    for value in (*PERSONAL, key):
        assert value not in text, f"{value!r} survived the erasure"
    problem(client.get(customer_get_url(NUMBER), headers=tenant.headers), 404)
    problem(
        client.get(
            f"/api/customer/environment/test/bynumber/{NUMBER}/history", headers=tenant.headers
        ),
        404,
    )
    problem(
        client.get(customer_get_url(NUMBER), params={"asOf": "2024-01-01"}, headers=tenant.headers),
        404,
    )
    # The plants stay, without customer, today and as of any day.
    assert fetch_plant(client, tenant, PLANT)["customerId"] is None
    as_of = ok(
        client.get(
            plant_get_url(PLANT), params={"asOf": str(today_in_oslo())}, headers=tenant.headers
        )
    )
    assert as_of == fetch_plant(client, tenant, PLANT)
    assert as_of["customerId"] is None


def test_history_keeps_that_an_erasure_happened(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_customer(client, tenant, customer())
    upsert_plant(client, tenant, minimal_plant(PLANT, customerId=NUMBER))
    response = client.delete(
        f"/api/import/test/customer/{NUMBER}",
        headers={**tenant.headers, "X-Request-ID": "gdpr-1"},
    )
    assert response.status_code == 200
    feed = ok(client.get("/api/changes/test", headers=tenant.headers))["changes"]
    created, plant, erase = feed
    assert (created["entityType"], created["entityKey"], created["operation"]) == (
        "customer",
        "[erased]",
        "create",
    )
    assert created["fields"] == []
    assert created["apiKey"]["label"] == "tests"
    assert plant["entityKey"] == PLANT
    periods = next(f for f in plant["fields"] if f["field"] == "customerPeriods")
    assert periods["after"][0]["customerId"] == "[erased]"
    assert erase["operation"] == "erase"
    assert erase["entityKey"] == "[erased]"
    assert erase["requestId"] == "gdpr-1"
    assert erase["apiKey"]["label"] == "tests"
    assert erase["fields"] == [
        {"field": "erasedChanges", "before": None, "after": [created["id"], plant["id"]]}
    ]
    assert NUMBER not in json.dumps(feed)


def test_erasure_touches_only_exact_numbers(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """A short agreed customer number erases that number, not values that contain it."""
    upsert_customer(client, tenant, {"Number": "47"})
    upsert_plant(client, tenant, minimal_plant(PLANT, customerId="47", description="Bygg 47B"))
    upsert_plant(client, tenant, minimal_plant(OTHER_PLANT, customerId="4711"))
    ok(client.delete("/api/import/test/customer/47", headers=tenant.headers))
    feed = ok(client.get("/api/changes/test", headers=tenant.headers))["changes"]
    text = json.dumps(feed)
    assert "Bygg 47B" in text
    assert "4711" in text
    assert fetch_plant(client, tenant, OTHER_PLANT)["customerId"] == "4711"
