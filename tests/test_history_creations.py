"""A plant's or customer's creation is recorded without its document (core/changelog.py,
``KeptDocument``): the feed, the history pages and the console read it back exactly as if it
had been stored whole, whatever happened to the entity afterwards. On both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    make_mpid,
    minimal_plant,
    ok,
    register_builtby,
    seed_customer,
    seed_plant,
    service_upsert_plant,
    upsert_customer,
    upsert_plant,
)
from tilsyn.console.queries import latest_changes
from tilsyn.contract.time import today_in_oslo
from tilsyn.core import changelog
from tilsyn.core.changelog import IMPLIED, Actor
from tilsyn.core.db import Database
from tilsyn.core.models import Change

FIRST, SECOND, THIRD = make_mpid(901), make_mpid(902), make_mpid(903)
NUMBER = "22097312401"
KEPT = "01019012345"


def cp(name: str, transformer: str = "T-1") -> dict[str, Any]:
    return {"name": name, "transformer": {"name": transformer, "netStation": {"name": "NS-1"}}}


def stored_creation(database: Database, tenant: Tenant, mpid: str) -> dict[str, Any]:
    with database.read() as session:
        diff = session.scalar(
            select(Change.diff).where(
                Change.instance_id == tenant.instance_id,
                Change.entity_key == mpid,
                Change.operation == "create",
            )
        )
    assert diff is not None
    return diff


def test_a_creation_stores_what_the_plant_does_not_hold(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """The stored entry keeps the connection point and the customer periods (an erasure
    finds the number there) and no field of the document; the feed shows them all."""
    body = seed_plant(meteringPointId=FIRST, customerId=NUMBER, connectionPoint=cp("CP-1"))
    upsert_plant(client, tenant, body)

    stored = stored_creation(database, tenant, FIRST)
    assert set(stored) == {IMPLIED, "connectionPoint", "customerPeriods"}
    assert len(json.dumps(stored)) < 200

    feed = ok(client.get("/api/changes/test", headers=tenant.headers))["changes"]
    [creation] = [c for c in feed if c["entityKey"] == FIRST]
    shown = {f["field"]: (f["before"], f["after"]) for f in creation["fields"]}
    assert shown["consumptionCode"] == (None, str(body["consumptionCode"]))
    assert shown["connectionPoint"] == (None, "CP-1")
    assert shown["customerPeriods"][1][0]["customerId"] == NUMBER
    assert IMPLIED not in shown
    assert all(before is None for field, (before, _) in shown.items() if field != "customerPeriods")


def _story(client: TestClient, database: Database, tenant: Tenant) -> None:
    """Every way a plant's later life can change what its creation must read back."""
    upsert_customer(client, tenant, seed_customer(Number=NUMBER))
    upsert_customer(client, tenant, seed_customer(Number=KEPT, FirstName="Kari"))
    upsert_customer(client, tenant, seed_customer(Number=KEPT, FirstName="Ola", Address=None))
    upsert_plant(
        client,
        tenant,
        minimal_plant(
            FIRST,
            description="one",
            customerId=NUMBER,
            customerChangeFrom="2020-01-01",
            connectionPoint=cp("CP-1"),
            location={"latitude": 59.9, "longitude": 10.7},
        ),
    )
    upsert_plant(client, tenant, minimal_plant(SECOND, status="Spenningsatt"))
    # Fields changed, removed and added; moved; builder and an extension.
    upsert_plant(
        client,
        tenant,
        minimal_plant(
            FIRST, description="two", connectionPoint=cp("CP-2", "T-2"), status="Inaktivt"
        ),
    )
    register_builtby(client, tenant, {"meteringPointId": FIRST, "builtByElCompanyId": 12345})
    register_builtby(
        client,
        tenant,
        {"meteringPointId": FIRST, "builtByElCompanyId": 777, "extensionName": "Garasje"},
    )
    # Deleted, created again with other fields, changed again.
    ok(client.delete(f"/api/import/test/plant/{SECOND}", headers=tenant.headers))
    upsert_plant(client, tenant, minimal_plant(SECOND, description="again", customerId=NUMBER))
    upsert_plant(client, tenant, minimal_plant(SECOND, description="and again"))
    # Created and changed within one transaction (as single upserts grouped in one commit).
    today = today_in_oslo()
    with database.write() as session:
        actor = Actor(tenant.instance_id, request_id="grouped")
        service_upsert_plant(session, actor, minimal_plant(THIRD, description="a"), today=today)
        service_upsert_plant(
            session, actor, minimal_plant(THIRD, description="b", status="Terminert"), today=today
        )
    # A bulk request creating one plant and changing another.
    lines = [
        minimal_plant(make_mpid(904), connectionPoint=cp("CP-1")),
        minimal_plant(FIRST, description="three"),
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    answer = client.post(
        "/api/import/test/plant/bulk",
        content=body,
        headers={**tenant.headers, "content-type": "application/x-ndjson"},
    )
    assert answer.status_code == 200, answer.text
    assert '"created"' in answer.text
    assert '"updated"' in answer.text
    # The customer erased: their number leaves every entry, creations included.
    ok(client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers))


def _read(client: TestClient, database: Database, tenant: Tenant) -> dict[str, Any]:
    """What a reader sees, without what differs between two instances (times, keys)."""

    def plain(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in change.items() if k not in ("at", "apiKey", "requestId")}
            for change in changes
        ]

    feed = ok(client.get("/api/changes/test", params={"limit": 1000}, headers=tenant.headers))
    pages = {
        mpid: ok(client.get(f"/api/plant/test/{mpid}/history", headers=tenant.headers))
        for mpid in (FIRST, SECOND, THIRD, make_mpid(904))
    }
    pages[KEPT] = ok(
        client.get(
            f"/api/customer/environment/test/bynumber/{KEPT}/history", headers=tenant.headers
        )
    )
    with database.read() as session:
        console = latest_changes(session, tenant.instance_id, limit=50)
    return {
        "feed": plain(feed["changes"]),
        "pages": {key: plain(page["changes"]) for key, page in pages.items()},
        "console": plain(console),
    }


def _stored_bytes(database: Database, tenant: Tenant) -> int:
    """The stored size of the plants' and customers' creations."""
    with database.read() as session:
        diffs = session.scalars(
            select(Change.diff).where(
                Change.instance_id == tenant.instance_id,
                Change.entity_type.in_(["plant", "customer"]),
                Change.operation == "create",
            )
        ).all()
    return sum(len(json.dumps(diff)) for diff in diffs)


def test_creations_read_the_same_as_when_stored_whole(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same story told to two instances, one recording creations whole (as before), one
    without their documents: every reader sees the same entries."""
    whole, lean = make_tenant(database, "whole"), make_tenant(database, "lean")
    monkeypatch.setattr(changelog, "IMPLY_CREATED_DOCUMENTS", False)
    _story(client, database, whole)
    monkeypatch.setattr(changelog, "IMPLY_CREATED_DOCUMENTS", True)
    _story(client, database, lean)

    expected, found = _read(client, database, whole), _read(client, database, lean)
    creations = [c for c in expected["feed"] if c["operation"] == "create"]
    assert sum(c["entityType"] == "plant" for c in creations) == 5
    assert sum(c["entityType"] == "customer" for c in creations) == 2  # one of them erased
    assert found == expected
    assert _stored_bytes(database, lean) < _stored_bytes(database, whole) * 0.6
    assert NUMBER not in json.dumps(found)


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_feed_pages_read_creations_whatever_the_page_holds(
    client: TestClient, database: Database, tenant: Tenant, limit: int
) -> None:
    """A creation read on a page without the entries that changed its plant later."""
    _story(client, database, tenant)
    whole = ok(client.get("/api/changes/test", params={"limit": 1000}, headers=tenant.headers))
    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        page = ok(client.get("/api/changes/test", params=params, headers=tenant.headers))
        paged.extend(page["changes"])
        if not page["changes"]:
            break
        params = {"limit": limit, "after": page["next"]}
    assert paged == whole["changes"]
