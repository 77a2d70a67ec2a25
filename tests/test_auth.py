"""SPEC §1 and §10: the api-key (401), then {environment} (400), then the body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import SECRET, Tenant, make_tenant
from tests.seed_api import (
    customer_url,
    fetch_customer,
    fetch_plant,
    make_mpid,
    minimal_plant,
    plant_get_url,
    plant_url,
    post_raw,
    problem,
    seed_customer,
    upsert_customer,
    upsert_plant,
)
from tilsyn.core.db import Database
from tilsyn.core.models import ApiKey
from tilsyn.instances import service as instances

MPID = make_mpid(1)
NUMBER = "22097312401"

# (method, path with {env}, JSON body or None): every seed endpoint and the older ones.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/import/{env}/customer", {"Number": NUMBER}),
    ("GET", "/api/customer/environment/{env}/bynumber/" + NUMBER, None),
    ("POST", "/api/import/{env}/plant", minimal_plant(MPID)),
    ("GET", "/api/plant/{env}/getDataForImport/" + MPID, None),
    ("POST", "/api/import/{env}/plant/builtby", {"meteringPointId": MPID, "builtByElCompanyId": 1}),
    ("DELETE", "/api/import/{env}/customer/" + NUMBER, None),
    ("DELETE", "/api/import/{env}/plant/" + MPID, None),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]
LEGACY_GETS = ["/api/customer/" + NUMBER, "/api/plant/" + MPID]


def call(
    client: TestClient,
    endpoint: tuple[str, str, dict[str, Any] | None],
    env: str,
    headers: dict[str, str],
) -> Any:
    method, path, body = endpoint
    return client.request(method, path.format(env=env), json=body, headers=headers)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_missing_key_is_401(client: TestClient, tenant: Tenant, endpoint: Any) -> None:
    body = problem(call(client, endpoint, "test", {}), 401)
    assert "api-key" in body["detail"]


@pytest.mark.parametrize("path", LEGACY_GETS)
def test_missing_key_on_legacy_paths_is_401(client: TestClient, path: str) -> None:
    problem(client.get(path), 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_empty_key_is_401(client: TestClient, tenant: Tenant, endpoint: Any) -> None:
    problem(call(client, endpoint, "test", {"api-key": ""}), 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_unknown_key_is_401(client: TestClient, tenant: Tenant, endpoint: Any) -> None:
    forged = tenant.key[:-4] + ("AAAA" if not tenant.key.endswith("AAAA") else "BBBB")
    problem(call(client, endpoint, "test", {"api-key": forged}), 401)


def test_revoked_key_is_401(client: TestClient, database: Database, tenant: Tenant) -> None:
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        created = instances.create_key(session, instance, secret_key=SECRET, label="to revoke")
    headers = {"api-key": created.secret}
    upsert_plant(client, tenant, minimal_plant(MPID))
    assert client.get(plant_get_url(MPID), headers=headers).status_code == 200

    with database.write() as session:
        instances.revoke_key(session, created.id)

    problem(client.get(plant_get_url(MPID), headers=headers), 401)
    problem(client.post(plant_url(), json=minimal_plant(MPID), headers=headers), 401)
    problem(client.get("/api/plant/" + MPID, headers=headers), 401)
    # The instance's other keys keep working.
    assert fetch_plant(client, tenant, MPID)["meteringPointId"] == MPID


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_test_key_on_prod_url_is_400(client: TestClient, tenant: Tenant, endpoint: Any) -> None:
    body = problem(call(client, endpoint, "prod", tenant.headers), 400)
    assert body["type"].endswith("environment-mismatch")
    assert "'test'" in body["detail"]
    assert "'prod'" in body["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_prod_key_on_test_url_is_400(
    client: TestClient, prod_tenant: Tenant, endpoint: Any
) -> None:
    body = problem(call(client, endpoint, "test", prod_tenant.headers), 400)
    assert body["type"].endswith("environment-mismatch")


def test_environment_mismatch_writes_nothing(
    client: TestClient, tenant: Tenant, prod_tenant: Tenant
) -> None:
    problem(
        client.post(plant_url("test"), json=minimal_plant(MPID), headers=prod_tenant.headers), 400
    )
    problem(client.get(plant_get_url(MPID, "test"), headers=tenant.headers), 404)
    problem(client.get(plant_get_url(MPID, "prod"), headers=prod_tenant.headers), 404)


@pytest.mark.parametrize("environment", ["staging", "TEST", "tes"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_unknown_environment_is_400(
    client: TestClient, tenant: Tenant, endpoint: Any, environment: str
) -> None:
    body = problem(call(client, endpoint, environment, tenant.headers), 400)
    assert body["type"].endswith("environment-mismatch")
    assert "'test' or 'prod'" in body["detail"]


def test_missing_key_is_checked_before_the_environment(client: TestClient) -> None:
    problem(client.post("/api/import/staging/plant", json={}), 401)
    problem(client.get("/api/plant/staging/getDataForImport/" + MPID), 401)


def test_unknown_key_is_checked_before_the_environment(client: TestClient, tenant: Tenant) -> None:
    problem(client.post("/api/import/staging/plant", json={}, headers={"api-key": "nope"}), 401)


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[]", b'{"meteringPointId": 1}', b"x" * 100],
    ids=["syntax", "empty", "array", "invalid", "garbage"],
)
@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_environment_is_checked_before_the_body(
    client: TestClient, tenant: Tenant, raw: bytes, environment: str
) -> None:
    for url in (plant_url(environment), customer_url(environment)):
        body = problem(post_raw(client, tenant, url, raw), 400)
        assert body["type"].endswith("environment-mismatch")
        assert "errors" not in body


def test_environment_is_checked_before_the_body_size(client: TestClient, tenant: Tenant) -> None:
    raw = b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    body = problem(post_raw(client, tenant, plant_url("prod"), raw), 400)
    assert body["type"].endswith("environment-mismatch")


def test_legacy_paths_use_the_keys_instance(
    client: TestClient, tenant: Tenant, prod_tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, description="in test"))
    upsert_plant(client, prod_tenant, minimal_plant(MPID, description="in prod"))
    upsert_customer(client, tenant, seed_customer(FirstName="Test"))
    upsert_customer(client, prod_tenant, seed_customer(FirstName="Prod"))

    def legacy(path: str, who: Tenant) -> dict[str, Any]:
        response = client.get(path, headers=who.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert legacy("/api/plant/" + MPID, tenant)["description"] == "in test"
    assert legacy("/api/plant/" + MPID, prod_tenant)["description"] == "in prod"
    assert legacy("/api/customer/" + NUMBER, tenant)["FirstName"] == "Test"
    assert legacy("/api/customer/" + NUMBER, prod_tenant)["FirstName"] == "Prod"
    assert legacy("/api/plant/" + MPID, tenant) == fetch_plant(client, tenant, MPID)
    assert legacy("/api/customer/" + NUMBER, prod_tenant) == fetch_customer(
        client, prod_tenant, NUMBER
    )


def test_legacy_paths_answer_404_for_another_instances_data(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, "other-test", "test")
    upsert_plant(client, tenant, minimal_plant(MPID))
    upsert_customer(client, tenant, seed_customer())
    problem(client.get("/api/plant/" + MPID, headers=other.headers), 404)
    problem(client.get("/api/customer/" + NUMBER, headers=other.headers), 404)


def test_data_never_crosses_instances_of_one_environment(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, "other-test", "test")
    upsert_plant(client, tenant, minimal_plant(MPID))
    upsert_customer(client, tenant, seed_customer())
    problem(client.get(plant_get_url(MPID), headers=other.headers), 404)
    problem(
        client.get("/api/customer/environment/test/bynumber/" + NUMBER, headers=other.headers), 404
    )
    problem(client.delete(f"/api/import/test/plant/{MPID}", headers=other.headers), 404)
    problem(client.delete(f"/api/import/test/customer/{NUMBER}", headers=other.headers), 404)
    # The other instance creates its own plant under the same key; the first is untouched.
    created = upsert_plant(client, other, minimal_plant(MPID, description="other"))
    assert created["result"] == "created"
    assert fetch_plant(client, tenant, MPID)["description"] is None


def test_unknown_route_is_a_problem(client: TestClient, tenant: Tenant) -> None:
    problem(client.get("/api/nothing/here", headers=tenant.headers), 404)
    problem(client.get("/nope"), 404)


def test_wrong_method_is_a_problem(client: TestClient, tenant: Tenant) -> None:
    problem(client.get("/api/import/test/plant", headers=tenant.headers), 405)


def test_not_found_is_a_problem(client: TestClient, tenant: Tenant) -> None:
    body = problem(client.get(plant_get_url(MPID), headers=tenant.headers), 404)
    assert body["type"].endswith("not-found")
    problem(
        client.get("/api/customer/environment/test/bynumber/" + NUMBER, headers=tenant.headers), 404
    )


def _last_used(database: Database, instance_id: int) -> dict[str, Any]:
    with database.read() as session:
        rows = session.scalars(select(ApiKey).where(ApiKey.instance_id == instance_id))
        return {row.scope: row.last_used_at for row in rows}


def test_last_used_at_is_set(client: TestClient, database: Database, tenant: Tenant) -> None:
    assert _last_used(database, tenant.instance_id) == {"import": None, "admin": None}
    problem(client.get(plant_get_url(MPID), headers=tenant.headers), 404)
    used = _last_used(database, tenant.instance_id)
    assert used["import"] is not None
    assert used["admin"] is None


def test_last_used_at_is_set_even_when_the_environment_is_wrong(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    problem(client.get(plant_get_url(MPID, "prod"), headers=tenant.headers), 400)
    assert _last_used(database, tenant.instance_id)["import"] is not None


def test_revoked_key_is_not_touched(client: TestClient, database: Database, tenant: Tenant) -> None:
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        created = instances.create_key(session, instance, secret_key=SECRET, label="revoked")
        instances.revoke_key(session, created.id)
    problem(client.get(plant_get_url(MPID), headers={"api-key": created.secret}), 401)
    with database.read() as session:
        row = session.get(ApiKey, created.id)
        assert row is not None
        assert row.last_used_at is None


def test_problem_responses_leak_no_internals(client: TestClient, tenant: Tenant) -> None:
    responses = [
        client.get(plant_get_url(MPID), headers=tenant.headers),
        client.post(plant_url(), content=b"{", headers=tenant.headers),
        client.post(plant_url(), json={"meteringPointId": []}, headers=tenant.headers),
        client.get("/api/plant/prod/getDataForImport/1", headers=tenant.headers),
    ]
    for response in responses:
        body = response.json()
        text = " ".join(
            [body["title"], body["detail"], *(e["message"] for e in body.get("errors", []))]
        ).lower()
        for word in ("traceback", "sqlalchemy", "select ", "pydantic", "tilsyn.", "error:", ".py"):
            assert word not in text, (word, response.text)
