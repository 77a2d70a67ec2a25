"""The yearly plan and the year in figures through HTTP, on every backend (SPEC §11)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.conftest import Tenant
from tilsyn.contract.time import today_in_oslo

YEAR = today_in_oslo().year


def mpid(n: int) -> str:
    return f"7070575000{n:08d}"


def put_plant(client: TestClient, tenant: Tenant, n: int, **fields: Any) -> None:
    body = {
        "meteringPointId": mpid(n),
        "consumptionCode": 35,
        "industrialClassification": "98.200",
        "status": "Spenningsatt",
        "connectedDate": "1990-01-01",
        "auditSpecificInfo": {"inspectionRate": 20, "inspectionArea": 63, "plantType": "Bolig"},
        **fields,
    }
    response = client.post("/api/import/test/plant", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


def inspect(
    client: TestClient, tenant: Tenant, n: int, day: str, kind: str = "periodic", **extra: Any
) -> Any:
    body = {"meteringPointId": mpid(n), "date": day, "kind": kind, **extra}
    response = client.post("/api/inspection/test", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def build(client: TestClient, tenant: Tenant, body: Any = None, year: int = YEAR) -> Any:
    return client.post(f"/api/plan/test/{year}", json=body, headers={"api-key": tenant.admin_key})


def fixture(client: TestClient, tenant: Tenant) -> None:
    """Area 63: three due plants of different urgency; area 64: one; one without interval;
    one not in service; one not due until long after the year."""
    put_plant(client, tenant, 1)  # never inspected, connected 1990: due 2010
    put_plant(client, tenant, 2)
    inspect(client, tenant, 2, f"{YEAR - 20}-06-01")  # due this June
    put_plant(client, tenant, 3)
    inspect(client, tenant, 3, f"{YEAR - 21}-01-15")  # due last January
    put_plant(
        client,
        tenant,
        4,
        auditSpecificInfo={"inspectionRate": 10, "inspectionArea": 64, "plantType": "Hytte"},
    )
    put_plant(
        client,
        tenant,
        5,
        consumptionCode="29a",
        industrialClassification="42.220",
        auditSpecificInfo={"plantType": "Gatelys"},
    )
    put_plant(client, tenant, 6, status="Inaktivt")
    put_plant(client, tenant, 7)
    inspect(client, tenant, 7, f"{YEAR - 1}-01-01")


def test_plan_capacity_deferral_versions_and_done(client: TestClient, tenant: Tenant) -> None:
    client.put(
        "/api/settings/test/audit-rules", json={"rules": []}, headers={"api-key": tenant.admin_key}
    )
    fixture(client, tenant)
    assert build(client, tenant).json()["version"] == 1
    assert client.post(f"/api/plan/test/{YEAR}", headers=tenant.headers).status_code == 403
    plan = build(client, tenant, {"capacity": {"63": 2}}).json()
    assert plan["version"] == 2
    items = {i["meteringPointId"]: i for i in plan["items"]}
    assert set(items) == {mpid(1), mpid(2), mpid(3), mpid(4)}
    assert items[mpid(1)]["status"] == "planned"  # due 2010, the most urgent
    assert items[mpid(3)]["status"] == "planned"
    assert items[mpid(2)]["status"] == "deferred"  # the least urgent of area 63
    assert items[mpid(4)]["status"] == "planned"  # area 64 has no limit
    assert items[mpid(2)]["explanation"] == (
        f"Last periodic inspection {YEAR - 20}-06-01; interval 20 years; due {YEAR}-06-01"
    )
    assert items[mpid(1)]["reasons"] == ["interval"]
    assert items[mpid(1)]["plantType"] == "Bolig"
    assert [u["meteringPointId"] for u in plan["unplanned"]] == [mpid(5)]
    assert plan["unplanned"][0]["reasons"] == ["no_interval"]
    summary = {s["inspectionArea"]: s for s in plan["summary"]}
    assert summary[63] == {
        "inspectionArea": 63,
        "capacity": 2,
        "planned": 2,
        "deferred": 1,
        "done": 0,
    }

    inspect(client, tenant, 3, f"{YEAR}-01-02")
    latest = client.get(f"/api/plan/test/{YEAR}", headers=tenant.headers).json()
    assert latest["version"] == 2
    items = {i["meteringPointId"]: i for i in latest["items"]}
    assert items[mpid(3)]["status"] == "done"
    assert {s["inspectionArea"]: s["done"] for s in latest["summary"]}[63] == 1
    page = client.get(f"/api/plan/test/{YEAR}?limit=2", headers=tenant.headers).json()
    assert len(page["items"]) == 2
    rest = client.get(f"/api/plan/test/{YEAR}?after={page['next']}", headers=tenant.headers).json()
    assert len(rest["items"]) + len(rest["unplanned"]) == 3

    text = client.get(f"/api/plan/test/{YEAR}?format=csv", headers=tenant.headers)
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert len(rows) == 5
    assert {r["status"] for r in rows} == {"planned", "deferred", "done", "unplanned"}
    xlsx = client.get(f"/api/plan/test/{YEAR}?format=xlsx", headers=tenant.headers)
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    sheet = book[f"Plan {YEAR}"]
    assert sum(1 for _ in sheet.iter_rows()) == 6
    assert "Summary" in book.sheetnames


def test_plan_errors(client: TestClient, tenant: Tenant) -> None:
    admin = {"api-key": tenant.admin_key}
    assert client.get(f"/api/plan/test/{YEAR}", headers=tenant.headers).status_code == 404
    assert (
        client.get(f"/api/plan/test/{YEAR}?format=csv", headers=tenant.headers).status_code == 404
    )
    bad = client.post(f"/api/plan/test/{YEAR}", json={"capacity": {"x": -1}}, headers=admin)
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"capacity.x"}
    assert client.post("/api/plan/test/99999", headers=admin).status_code == 400
    assert client.post(f"/api/plan/test/{YEAR}", content=b"[", headers=admin).status_code == 400
    empty = client.post(f"/api/plan/test/{YEAR}", headers=admin)
    assert empty.status_code == 200
    assert empty.json()["items"] == []


def test_report_against_a_hand_counted_fixture(client: TestClient, tenant: Tenant) -> None:
    client.put(
        "/api/settings/test/audit-rules", json={"rules": []}, headers={"api-key": tenant.admin_key}
    )
    fixture(client, tenant)
    year = YEAR - 1
    found = inspect(
        client,
        tenant,
        4,
        f"{year}-03-01",
        findings=[
            {"description": "a", "severity": "nonconformity"},
            {"description": "b", "severity": "nonconformity"},
            {"description": "c", "severity": "remark"},
        ],
    )
    inspect(client, tenant, 4, f"{year}-05-01", kind="follow_up")
    inspect(client, tenant, 1, f"{year}-06-01", kind="audit")
    inspect(
        client,
        tenant,
        2,
        f"{year - 1}-06-01",
        findings=[{"description": "d", "severity": "remark"}],
    )
    first, second, _ = (f["id"] for f in found["findings"])
    admin = tenant.headers
    client.post(
        f"/api/finding/test/{first}/status",
        json={"status": "closed", "date": f"{year}-04-01"},
        headers=admin,
    )
    report = client.get(f"/api/report/test/{year}", headers=tenant.headers).json()
    # Hand count: inspections dated in the year: plant 7 periodic (Jan 1), plant 4 periodic,
    # plant 4 follow_up, plant 1 audit. Findings of them: 2 nonconformities, 1 remark.
    # Closed in the year: 1. Open at year end: 3 of plant 4's minus 1 closed, plus plant 2's = 3.
    # In service: plants 1, 2, 3, 4, 5, 7 = 6. Due by year end (as of then): plant 1 (2010),
    # plant 3 (last January), plant 2 (due this June? no: the year before's inspection, so due
    # in 20 years) -> 1 and 3; plant 4 was inspected in the year (10 years) but its second
    # nonconformity passed its default deadline (March 1 + 60 days) unclosed -> 4 as well;
    # 5 has no interval; 7 was inspected on 1 January of the year.
    assert report == {
        "year": year,
        "inspections": {"periodic": 2, "new_installation": 0, "follow_up": 1, "audit": 1},
        "findings": {"nonconformity": 2, "remark": 1},
        "findingsClosed": 1,
        "findingsOpenAtYearEnd": 3,
        "plantsInService": 6,
        "plantsOverdueAtYearEnd": 3,
    }
    assert second != first
