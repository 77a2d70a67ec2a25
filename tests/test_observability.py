"""Logs, metrics, readiness and response hygiene; personal numbers never reach logs."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import METRICS_HEADERS, METRICS_TOKEN, SECRET, Tenant, make_tenant
from tests.servers import running_server
from tilsyn import app as app_module
from tilsyn.core.db import Database

PERSON = "15108695088"
OTHER_PERSON = "57019149104"
COMPANY = "988077917"
MPID = "707057500053182051"


def test_readyz_and_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_by_route_template(client: TestClient, tenant: Tenant) -> None:
    client.post(
        "/api/import/test/customer",
        json={"Number": PERSON, "LastName": "Hansen"},
        headers=tenant.headers,
    )
    client.get(f"/api/customer/environment/test/bynumber/{PERSON}", headers=tenant.headers)
    client.get(f"/api/customer/environment/test/bynumber/{OTHER_PERSON}", headers=tenant.headers)
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    assert 'route="/api/customer/environment/{environment}/bynumber/{number}"' in text
    assert "tilsyn_request_duration_seconds_bucket" in text
    assert 'tilsyn_upserts_total{entity="customer",result="created"}' in text
    assert PERSON not in text
    assert OTHER_PERSON not in text


def test_security_headers_and_request_id(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"/api/plant/test/getDataForImport/{MPID}", headers=tenant.headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.headers["X-Request-ID"]) == 32
    echoed = client.get("/healthz", headers={"X-Request-ID": "sync-2026-11-26.42"})
    assert echoed.headers["X-Request-ID"] == "sync-2026-11-26.42"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert unsafe.headers["X-Request-ID"] != "a b\tc"
    assert "access-control-allow-origin" not in response.headers


def test_logs_are_json_and_never_hold_personal_numbers(
    database: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILSYN_METRICS_TOKEN", METRICS_TOKEN)
    tenant = make_tenant(database, "logged", "test")
    log_path = tmp_path / "server.log"
    with (
        running_server(
            database_url, secret=SECRET, workers=2, log_path=log_path, log_level="INFO"
        ) as base,
        httpx.Client(base_url=base, headers=tenant.headers) as client,
    ):
        for number in (PERSON, OTHER_PERSON, COMPANY):
            assert (
                client.post(
                    "/api/import/test/customer", json={"Number": number, "LastName": "Berg"}
                ).status_code
                == 200
            )
            client.get(f"/api/customer/environment/test/bynumber/{number}")
            client.get(f"/api/customer/{number}")
        plant = {
            "meteringPointId": MPID,
            "customerId": PERSON,
            "consumptionCode": 35,
            "industrialClassification": "98.200",
        }
        assert client.post("/api/import/test/plant", json=plant).status_code == 200
        bad = client.post("/api/import/test/plant", json={**plant, "customerId": [PERSON]})
        assert bad.status_code == 400
        assert PERSON not in bad.text
        client.post("/api/import/test/customer", content=f'{{"Number": "{PERSON}",')
        client.delete(f"/api/import/test/customer/{OTHER_PERSON}")
        client.get(f"/api/customer/environment/test/bynumber/{OTHER_PERSON}")
        client.get("/api/customer/environment/test/bynumber/12345678901", headers={"api-key": "x"})
        metrics = client.get("/metrics", headers=METRICS_HEADERS).text
    logs = log_path.read_text()
    for number in (PERSON, OTHER_PERSON, "12345678901"):
        assert number not in logs
        assert number not in metrics
    access = [json.loads(line) for line in logs.splitlines() if '"tilsyn.access"' in line]
    assert len(access) >= 14
    for entry in access:
        assert {
            "ts",
            "level",
            "request_id",
            "method",
            "route",
            "status",
            "duration_ms",
        } <= entry.keys()
    authenticated = [e for e in access if e["status"] == 200 and e["route"].startswith("/api/")]
    assert authenticated
    assert all(e["instance"] == "logged" and isinstance(e["key_id"], int) for e in authenticated)
    assert (
        'tilsyn_requests_total{method="POST",route="/api/import/{environment}/customer",status="200"}'
        in metrics
    )


def test_the_heap_at_startup_is_frozen_once(client: TestClient) -> None:
    """A started app has moved what exists at its first start out of the collector's scans
    (tilsyn/app.py ``_freeze_startup_heap``); a second start does not freeze again."""
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert app_module._heap_frozen
    app_module._freeze_startup_heap()
    assert gc.get_freeze_count() == frozen
