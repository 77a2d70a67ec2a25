"""Inspections, findings and inspection status through HTTP, on every backend (SPEC §11)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import Tenant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.models import Change, Plant
from tilsyn.inspections.due import add_years

MPID = "707057500026392739"


def plant(mpid: str = MPID, **fields: Any) -> dict[str, Any]:
    return {
        "meteringPointId": mpid,
        "consumptionCode": 35,
        "industrialClassification": "98.200",
        "status": "Spenningsatt",
        "connectedDate": "1990-01-01",
        **fields,
    }


def put_plant(client: TestClient, tenant: Tenant, **fields: Any) -> None:
    response = client.post("/api/import/test/plant", json=plant(**fields), headers=tenant.headers)
    assert response.status_code == 200, response.text


def inspect(client: TestClient, tenant: Tenant, **fields: Any) -> Any:
    body = {"meteringPointId": MPID, "date": "2010-03-04", "kind": "periodic", **fields}
    return client.post("/api/inspection/test", json=body, headers=tenant.headers)


def status(client: TestClient, tenant: Tenant, mpid: str = MPID) -> dict[str, Any]:
    response = client.get(f"/api/plant/test/{mpid}/inspection-status", headers=tenant.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_record_read_and_upsert_by_external_id(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant)
    first = inspect(
        client,
        tenant,
        EXTERNALID="K-1",
        Inspector="Kari",
        findings=[
            {"Description": "Mangler jordfeilvern", "severity": "nonconformity"},
            {"description": "Ingen kursfortegnelse", "SEVERITY": "remark", "colour": "x"},
        ],
    )
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["result"] == "created"
    assert [w["field"] for w in answer["warnings"]] == ["findings[1].colour"]
    data = answer["data"]
    assert data["externalId"] == "K-1"
    assert data["inspector"] == "Kari"
    nonconformity, remark = data["findings"]
    assert nonconformity["status"] == "open"
    assert nonconformity["deadline"] == "2010-05-03"  # 2010-03-04 + 60 days
    assert remark["deadline"] is None
    got = client.get(f"/api/inspection/test/{data['id']}", headers=tenant.headers)
    assert got.json() == data

    same = inspect(
        client,
        tenant,
        externalId="K-1",
        inspector="Kari",
        findings=[
            {"description": "Mangler jordfeilvern", "severity": "nonconformity"},
            {"description": "Ingen kursfortegnelse", "severity": "remark"},
        ],
    )
    assert same.json()["result"] == "unchanged"
    changed = inspect(
        client,
        tenant,
        externalId="K-1",
        inspector="Per",
        findings=[{"description": "Mangler jordfeilvern", "severity": "nonconformity"}],
    )
    assert changed.json()["result"] == "updated"
    assert changed.json()["data"]["id"] == data["id"]
    assert [f["id"] for f in changed.json()["data"]["findings"]] == [nonconformity["id"]]
    without_key = inspect(client, tenant)
    assert without_key.json()["result"] == "created"
    assert without_key.json()["data"]["id"] != data["id"]
    listing = client.get(f"/api/plant/test/{MPID}/inspections", headers=tenant.headers).json()
    assert listing["items"][0]["id"] in {data["id"], without_key.json()["data"]["id"]}
    assert len(listing["items"]) == 2


def test_inspection_errors(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant)
    unknown = inspect(client, tenant, meteringPointId="707057500000000001")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "meteringPointId"
    future = inspect(client, tenant, date=(today_in_oslo() + timedelta(days=1)).isoformat())
    assert future.status_code == 400
    assert future.json()["errors"][0]["field"] == "date"
    bad = inspect(client, tenant, kind="visit", findings=[{"severity": "fatal"}])
    assert bad.status_code == 400
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"kind", "findings[0].description", "findings[0].severity"}
    missing = client.post("/api/inspection/test", json={}, headers=tenant.headers)
    assert {e["field"] for e in missing.json()["errors"]} >= {"meteringPointId", "date", "kind"}
    assert client.get("/api/inspection/test/999999", headers=tenant.headers).status_code == 404
    assert client.get("/api/inspection/test/abc", headers=tenant.headers).status_code == 400


ALLOWED = [
    ("open", "notified"),
    ("open", "ordered"),
    ("open", "corrected"),
    ("open", "closed"),
    ("notified", "ordered"),
    ("notified", "corrected"),
    ("notified", "closed"),
    ("ordered", "corrected"),
    ("ordered", "escalated"),
    ("corrected", "closed"),
    ("corrected", "ordered"),
    ("escalated", "closed"),
]
PATH_TO = {
    "open": [],
    "notified": ["notified"],
    "ordered": ["ordered"],
    "corrected": ["corrected"],
    "escalated": ["ordered", "escalated"],
    "closed": ["closed"],
}
STATUSES = ["open", "notified", "ordered", "corrected", "closed", "escalated"]


def new_finding(client: TestClient, tenant: Tenant) -> int:
    response = inspect(
        client, tenant, findings=[{"description": "Avvik", "severity": "nonconformity"}]
    )
    finding_id: int = response.json()["data"]["findings"][0]["id"]
    return finding_id


def step(client: TestClient, tenant: Tenant, finding_id: int, to: str, **extra: Any) -> Any:
    body = {"status": to, "date": "2011-01-01", **extra}
    return client.post(f"/api/finding/test/{finding_id}/status", json=body, headers=tenant.headers)


def test_every_transition_allowed_or_refused(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant)
    for start in STATUSES:
        finding_id = new_finding(client, tenant)
        for hop in PATH_TO[start]:
            assert step(client, tenant, finding_id, hop).status_code == 200
        for target in STATUSES:
            response = step(client, tenant, finding_id, target)
            if (start, target) in ALLOWED:
                assert response.status_code == 200, (start, target, response.text)
                assert response.json()["data"]["status"] == target
                # back to the start for the next target
                finding_id = new_finding(client, tenant)
                for hop in PATH_TO[start]:
                    step(client, tenant, finding_id, hop)
            else:
                assert response.status_code == 409, (start, target, response.text)
                assert f"'{start}'" in response.json()["detail"]


def test_transition_fields_history_and_listing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    put_plant(client, tenant)
    finding_id = new_finding(client, tenant)
    ordered = step(client, tenant, finding_id, "ordered", deadline="2011-03-01", note="Vedtak")
    assert ordered.json()["data"]["deadline"] == "2011-03-01"
    assert ordered.json()["data"]["meteringPointId"] == MPID
    assert step(client, tenant, finding_id, "nonsense").status_code == 400
    future = step(client, tenant, finding_id, "corrected", date="2999-01-01")
    assert future.status_code == 400
    assert (
        client.post(
            "/api/finding/test/99999/status",
            json={"status": "closed", "date": "2011-01-01"},
            headers=tenant.headers,
        ).status_code
        == 404
    )
    other = new_finding(client, tenant)
    step(client, tenant, other, "closed")
    overdue = client.get("/api/finding/test?overdue=true", headers=tenant.headers).json()
    assert [f["id"] for f in overdue["items"]] == [finding_id]
    assert overdue["items"][0]["overdue"] is True
    closed = client.get("/api/finding/test?status=closed", headers=tenant.headers).json()
    assert [f["id"] for f in closed["items"]] == [other]
    page = client.get("/api/finding/test?limit=1", headers=tenant.headers).json()
    assert len(page["items"]) == 1
    rest = client.get(f"/api/finding/test?limit=1&after={page['next']}", headers=tenant.headers)
    assert rest.json()["items"][0]["id"] == other
    assert rest.json()["next"] is None
    assert client.get("/api/finding/test?status=bad", headers=tenant.headers).status_code == 400
    assert client.get("/api/finding/test?after=x", headers=tenant.headers).status_code == 400
    with database.read() as session:
        changes = session.execute(
            select(Change.entity_type, Change.operation, Change.diff).where(
                Change.entity_type == "finding", Change.entity_key == str(finding_id)
            )
        ).all()
    operations = [c[1] for c in changes]
    assert operations == ["create", "status"]
    assert changes[1][2]["status"] == ["open", "ordered"]
    feed = client.get("/api/changes/test?limit=1000", headers=tenant.headers).json()
    assert {c["entityType"] for c in feed["changes"]} >= {"plant", "inspection", "finding"}


def test_settings_admin_scoped_and_in_history(client: TestClient, tenant: Tenant) -> None:
    path = "/api/settings/test/inspections"
    admin = {"api-key": tenant.admin_key}
    assert client.get(path, headers=tenant.headers).status_code == 403
    assert (
        client.put(path, json={"findingDeadlineDays": 5}, headers=tenant.headers).status_code == 403
    )
    assert client.get(path, headers=admin).json() == {
        "findingDeadlineDays": 60,
        "newInstallationYears": 2,
    }
    put = client.put(path, json={"findingdeadlinedays": 30}, headers=admin)
    assert put.json()["result"] == "updated"
    assert put.json()["data"] == {"findingDeadlineDays": 30, "newInstallationYears": 2}
    assert client.put(path, json={"findingDeadlineDays": 30}, headers=admin).json()["result"] == (
        "unchanged"
    )
    bad = client.put(path, json={"newInstallationYears": -1}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "newInstallationYears"
    feed = client.get("/api/changes/test", headers=tenant.headers).json()["changes"]
    assert feed[-1]["entityType"] == "settings"
    assert feed[-1]["fields"] == [{"field": "findingDeadlineDays", "before": 60, "after": 30}]
    put_plant(client, tenant)
    finding = inspect(client, tenant, findings=[{"description": "x", "severity": "nonconformity"}])
    assert finding.json()["data"]["findings"][0]["deadline"] == "2010-04-03"


# --- Due dates -----------------------------------------------------------------------------


def test_not_in_service_and_no_interval(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant, status="Inaktivt")
    assert status(client, tenant)["reasons"] == ["not_in_service"]
    assert status(client, tenant)["dueDate"] is None
    put_plant(client, tenant)  # back in service: the default rules give it an interval
    assert status(client, tenant)["reasons"] == ["interval"]
    admin = {"api-key": tenant.admin_key}
    assert (
        client.put("/api/settings/test/audit-rules", json={"rules": []}, headers=admin).status_code
        == 200
    )
    answer = status(client, tenant)
    assert answer == {
        "meteringPointId": MPID,
        "interval": None,
        "lastInspection": None,
        "dueDate": None,
        "reasons": ["no_interval"],
        "openFindings": 0,
    }


def test_interval_from_last_clock_inspection_and_29_february(
    client: TestClient, tenant: Tenant
) -> None:
    put_plant(client, tenant, auditSpecificInfo={"inspectionRate": 10})
    inspect(client, tenant, date="2016-02-29")
    inspect(client, tenant, date="2020-01-01", kind="follow_up")  # no clock
    answer = status(client, tenant)
    assert answer["interval"] == 10
    assert answer["lastInspection"] == {"date": "2016-02-29", "kind": "periodic"}
    assert answer["dueDate"] == "2026-02-28"
    assert answer["reasons"] == ["interval"]
    inspect(client, tenant, date="2017-06-01", kind="new_installation")
    assert status(client, tenant)["dueDate"] == "2027-06-01"


def test_a_rule_change_moves_the_due_date(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant)
    inspect(client, tenant, date="2010-03-04")
    admin = {"api-key": tenant.admin_key}
    rule = {"id": "bolig", "consumptionCode": 35, "inspectionRate": 20}
    client.put("/api/settings/test/audit-rules", json={"rules": [rule]}, headers=admin)
    assert status(client, tenant)["dueDate"] == "2030-03-04"
    rule["inspectionRate"] = 5
    client.put("/api/settings/test/audit-rules", json={"rules": [rule]}, headers=admin)
    assert status(client, tenant)["dueDate"] == "2015-03-04"
    assert status(client, tenant)["interval"] == 5


def test_never_inspected_cases(client: TestClient, tenant: Tenant, database: Database) -> None:
    rate = {"auditSpecificInfo": {"inspectionRate": 20}}
    recent = (today_in_oslo() - timedelta(days=200)).isoformat()
    put_plant(client, tenant, connectedDate=recent, **rate)
    assert status(client, tenant)["reasons"] == ["new_installation"]
    assert status(client, tenant)["dueDate"] == recent
    put_plant(client, tenant, connectedDate="1990-01-01", **rate)  # an earlier date is accepted
    assert status(client, tenant)["reasons"] == ["interval"]
    assert status(client, tenant)["dueDate"] == "2010-01-01"
    with database.write() as session:
        session.execute(update(Plant).values(connected_date=None))
    assert status(client, tenant)["reasons"] == ["never_inspected"]
    assert status(client, tenant)["dueDate"] == today_in_oslo().isoformat()
    # newInstallationYears decides what counts as new
    two_years_ago = add_years(today_in_oslo(), -2) - timedelta(days=30)
    put_plant(
        client, tenant, mpid="707057500026392746", connectedDate=two_years_ago.isoformat(), **rate
    )
    assert status(client, tenant, "707057500026392746")["reasons"] == ["interval"]
    client.put(
        "/api/settings/test/inspections",
        json={"newInstallationYears": 3},
        headers={"api-key": tenant.admin_key},
    )
    assert status(client, tenant, "707057500026392746")["reasons"] == ["new_installation"]


def test_changed_use_from_history(client: TestClient, tenant: Tenant, database: Database) -> None:
    rate = {"auditSpecificInfo": {"inspectionRate": 20}}
    put_plant(client, tenant, **rate)
    inspect(client, tenant, date="2010-03-04")
    assert status(client, tenant)["reasons"] == ["interval"]  # the first import is no change
    put_plant(client, tenant, consumptionCode=36, **rate)
    answer = status(client, tenant)
    assert answer["reasons"] == ["interval", "changed_use"]
    assert answer["dueDate"] == today_in_oslo().isoformat()
    # an inspection after the change restarts the clock and the change is behind it
    with database.write() as session:
        session.execute(
            update(Change)
            .where(Change.operation == "update")
            .values(at=datetime.combine(today_in_oslo() - timedelta(days=400), time(12), UTC))
        )
    inspect(client, tenant, date=(today_in_oslo() - timedelta(days=10)).isoformat())
    assert status(client, tenant)["reasons"] == ["interval"]


def test_overdue_finding(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant, auditSpecificInfo={"inspectionRate": 20})
    response = inspect(
        client,
        tenant,
        date="2020-01-01",
        findings=[
            {"description": "a", "severity": "nonconformity", "deadline": "2020-06-01"},
            {"description": "b", "severity": "remark", "deadline": "2020-02-01"},
        ],
    )
    answer = status(client, tenant)
    assert answer["reasons"] == ["interval", "overdue_finding"]
    assert answer["dueDate"] == "2020-06-01"
    assert answer["openFindings"] == 2
    finding_id = response.json()["data"]["findings"][0]["id"]
    step(client, tenant, finding_id, "closed", date="2020-07-01")
    answer = status(client, tenant)
    assert answer["reasons"] == ["interval"]
    assert answer["dueDate"] == "2040-01-01"
    assert answer["openFindings"] == 1


def test_status_of_unknown_plant(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"/api/plant/test/{MPID}/inspection-status", headers=tenant.headers)
    assert response.status_code == 404
    listing = client.get(f"/api/plant/test/{MPID}/inspections", headers=tenant.headers)
    assert listing.status_code == 404


@pytest.mark.parametrize("when", [date(2024, 2, 29)])
def test_add_years_leap_day(when: date) -> None:
    assert add_years(when, 1) == date(2025, 2, 28)
    assert add_years(when, 4) == date(2028, 2, 29)


def test_bulk_inspections(client: TestClient, tenant: Tenant) -> None:
    put_plant(client, tenant)
    items = [
        {"meteringPointId": MPID, "date": "2001-01-01", "kind": "periodic", "externalId": "A"},
        {"meteringPointId": MPID, "date": "2011-01-01", "kind": "periodic", "externalId": "B"},
        {"meteringPointId": "707057500000000001", "date": "2011-01-01", "kind": "periodic"},
        {"meteringPointId": MPID, "date": "2011-01-01", "kind": "nonsense"},
        {"meteringPointId": MPID, "date": "2001-01-01", "kind": "periodic", "externalId": "A"},
    ]
    response = client.post("/api/inspection/test/bulk", json=items, headers=tenant.headers)
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line.get("result") for line in lines[:-1]] == [
        "created",
        "created",
        "failed",
        "failed",
        "unchanged",
    ]
    assert lines[2]["errors"][0]["field"] == "meteringPointId"
    assert lines[3]["errors"][0]["field"] == "kind"
    assert lines[-1]["summary"]["created"] == 2
    ndjson = "\n".join(json.dumps(item) for item in items[:2]) + "\n{bad\n"
    again = client.post(
        "/api/inspection/test/bulk",
        content=ndjson,
        headers={**tenant.headers, "content-type": "application/x-ndjson"},
    )
    results = [json.loads(line) for line in again.text.splitlines()]
    assert [r.get("result") for r in results[:-1]] == ["unchanged", "unchanged", "failed"]
    assert status(client, tenant)["lastInspection"] == {"date": "2011-01-01", "kind": "periodic"}
