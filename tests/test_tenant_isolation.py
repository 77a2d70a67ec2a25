"""Tenant isolation matrix: every endpoint, called with the keys of every other instance and
environment, never shows or changes another instance's data.

The endpoints come from the OpenAPI document, so new endpoints join the matrix by themselves.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import Tenant, make_tenant
from tests.hostile import customer_items, plant_items, send_both_ways
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.models import Change

NUMBER = "15108695088"
MPID = "707057500053182051"
SECRET_NAME = "Hemmelig-Hansen"
SECRET_NOTE = "only-in-instance-a"
YEAR = today_in_oslo().year


def customer_body(name: str) -> dict[str, Any]:
    return {"Number": NUMBER, "FirstName": name, "LastName": name, "Email": f"{name}@example.no"}


def plant_body(note: str) -> dict[str, Any]:
    return {
        "meteringPointId": MPID,
        "customerId": NUMBER,
        "consumptionCode": 35,
        "industrialClassification": "98.200",
        "description": note,
        "connectionPoint": {
            "name": f"CP-{note}",
            "transformer": {"name": f"T-{note}", "netStation": {"name": f"NS-{note}"}},
        },
    }


def body_for(path: str, method: str, marker: str) -> Any:
    if method not in {"post", "put", "patch"}:
        return None
    if path.endswith("/customer"):
        return customer_body(marker)
    if path.endswith("/plant"):
        return plant_body(marker)
    if path.endswith("/builtby"):
        return {"meteringPointId": MPID, "builtByElCompanyId": 4242}
    if path.endswith("/bulk"):
        if "inspection" in path:
            return [inspection_body(marker)]
        return [plant_body(marker)] if "plant" in path else [customer_body(marker)]
    if path == "/api/inspection/{environment}":
        return inspection_body(marker)
    if path.endswith("/status"):
        return {"status": "closed", "date": "2020-01-01", "note": marker}
    if path.endswith("/inspections"):
        return {"findingDeadlineDays": 7}
    if path.startswith("/api/plan/"):
        return {"capacity": {"63": 1}}
    if path.endswith("/validation"):
        return {"strictValidation": True}
    if path.endswith("/audit-rules"):
        return {"rules": []}
    if path.endswith("/lookup"):
        return {"Numbers": [NUMBER]} if "customer" in path else {"meteringPointIds": [MPID]}
    return {}


def inspection_body(note: str) -> dict[str, Any]:
    return {
        "meteringPointId": MPID,
        "externalId": "K-1",
        "date": "2020-01-01",
        "kind": "periodic",
        "notes": note,
        "findings": [{"description": note, "severity": "nonconformity"}],
    }


def fill(path: str, environment: str) -> str:
    """The owner's keys: its plant, its first inspection and finding (id 1), this year."""
    values = {
        "environment": environment,
        "number": NUMBER,
        "meteringPointId": MPID,
        "id": "1",
        "year": str(YEAR),
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


def snapshot(client: TestClient, tenant: Tenant) -> tuple[Any, ...]:
    customer = client.get(
        f"/api/customer/environment/test/bynumber/{NUMBER}", headers=tenant.headers
    )
    plant = client.get(f"/api/plant/test/getDataForImport/{MPID}", headers=tenant.headers)
    admin = {"api-key": tenant.admin_key}
    return (
        customer.json(),
        plant.json(),
        client.get("/api/inspection/test/1", headers=tenant.headers).json(),
        client.get("/api/settings/test/inspections", headers=admin).json(),
        client.get(f"/api/plan/test/{YEAR}", headers=tenant.headers).json()["version"],
    )


def test_no_endpoint_crosses_instances(client: TestClient, database: Database) -> None:
    owner = make_tenant(database, "owner", "test")
    same_env_other = make_tenant(database, "neighbour", "test")
    other_env = make_tenant(database, "prod-neighbour", "prod")
    assert (
        client.post(
            "/api/import/test/customer", json=customer_body(SECRET_NAME), headers=owner.headers
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/import/test/plant", json=plant_body(SECRET_NOTE), headers=owner.headers
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/inspection/test", json=inspection_body(SECRET_NOTE), headers=owner.headers
        ).json()["data"]["findings"][0]["id"]
        == 1
    )
    assert (
        client.post(
            f"/api/plan/test/{YEAR}", json={}, headers={"api-key": owner.admin_key}
        ).status_code
        == 200
    )
    before = snapshot(client, owner)
    with database.read() as session:
        owner_changes = len(
            session.scalars(select(Change.id).where(Change.instance_id == owner.instance_id)).all()
        )

    operations = [
        (path, method)
        for path, item in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if path.startswith("/api/")
        for method in item
    ]
    assert len(operations) >= 10
    called = 0
    for intruder in (same_env_other, other_env):
        for key in (intruder.key, intruder.admin_key):
            for environment in ("test", "prod"):
                for path, method in sorted(operations, key=lambda op: op[1] == "delete"):
                    url = fill(path, environment)
                    body = body_for(path, method, f"intruder-{intruder.name}")
                    response = client.request(
                        method.upper(), url, json=body, headers={"api-key": key}
                    )
                    called += 1
                    assert response.status_code < 500, (method, url, response.text[:300])
                    assert SECRET_NAME not in response.text, (method, url)
                    assert SECRET_NOTE not in response.text, (method, url)
                    if "{environment}" in path and environment != intruder.environment:
                        assert response.status_code == 400, (method, url, response.status_code)
    assert called >= 4 * len(operations)

    assert snapshot(client, owner) == before, "the owner's data is unchanged"
    with database.read() as session:
        after = len(
            session.scalars(select(Change.id).where(Change.instance_id == owner.instance_id)).all()
        )
    assert after == owner_changes, "no history was written in the owner's instance"
    assert before[0]["FirstName"] == SECRET_NAME
    assert before[1]["description"] == SECRET_NOTE
    assert before[2]["notes"] == SECRET_NOTE


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plants=st.lists(plant_items([MPID], [NUMBER]), min_size=1, max_size=6),
    customers=st.lists(customer_items([NUMBER]), min_size=1, max_size=6),
)
def test_the_bulk_doors_never_cross_instances(
    client: TestClient, database: Database, plants: list[bytes], customers: list[bytes]
) -> None:
    """Issue 14: an intruder's hostile items for the owner's number and metering point id,
    through NDJSON and JSON-array bulk, stay in the intruder's instance; the owner's data,
    history and listing cursors are its own."""
    owner = _tenant_once(database, "bulk-owner")
    intruder = _tenant_once(database, "bulk-intruder")
    client.post("/api/import/test/customer", json=customer_body(SECRET_NAME), headers=owner.headers)
    client.post("/api/import/test/plant", json=plant_body(SECRET_NOTE), headers=owner.headers)
    client.post("/api/inspection/test", json=inspection_body(SECRET_NOTE), headers=owner.headers)
    client.post(f"/api/plan/test/{YEAR}", json={}, headers={"api-key": owner.admin_key})
    before = snapshot(client, owner)
    with database.read() as session:
        owner_changes = session.scalars(
            select(Change.id).where(Change.instance_id == owner.instance_id)
        ).all()
    for kind, items in (("customer", customers), ("plant", plants)):
        url = f"/api/import/test/{kind}/bulk"
        for lines in send_both_ways(client, url, intruder.key, items):
            assert SECRET_NAME not in json.dumps(lines)
            assert SECRET_NOTE not in json.dumps(lines)
    assert snapshot(client, owner) == before
    with database.read() as session:
        assert (
            session.scalars(select(Change.id).where(Change.instance_id == owner.instance_id)).all()
            == owner_changes
        )
    listing = "/api/customer/environment/test/numbers"
    page = client.get(listing, params={"limit": 1}, headers=owner.headers).json()
    if page["next"]:
        refused = client.get(listing, params={"after": page["next"]}, headers=intruder.headers)
        assert refused.status_code == 400
    theirs = client.get(listing, headers=intruder.headers).text
    assert SECRET_NAME not in theirs


_TENANTS: dict[tuple[int, str], Tenant] = {}


def _tenant_once(database: Database, name: str) -> Tenant:
    """The tenant of that name, made on first use: hypothesis runs every example of a test on
    the one database its fixture made."""
    found = _TENANTS.get((id(database), name))
    if found is None:
        found = _TENANTS[(id(database), name)] = make_tenant(database, name, "test")
    return found
