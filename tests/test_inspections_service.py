"""The services the console calls, without HTTP, on every backend: each rule of SPEC §11
once more at the level below the routes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.conftest import Tenant
from tests.seed_api import service_upsert_plant
from tilsyn.contract.errors import NotFound
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.inspections import service
from tilsyn.inspections.merge import TransitionRefused
from tilsyn.inspections.parse import FindingMove, parse_valid_inspection
from tilsyn.plans import service as plans
from tilsyn.rules.service import put_rules

TODAY = date(2026, 6, 15)


def _plant(session: object, actor: Actor, n: int, **fields: object) -> str:
    mpid = f"70705750000000{n:04d}"
    body = {
        "meteringPointId": mpid,
        "consumptionCode": 35,
        "industrialClassification": "98.200",
        "status": "Spenningsatt",
        "connectedDate": "1990-01-01",
        "auditSpecificInfo": {"inspectionRate": 20, "inspectionArea": 7},
        **fields,
    }
    service_upsert_plant(session, actor, body, today=TODAY)  # type: ignore[arg-type]
    return mpid


def _inspect(session: object, tenant: Tenant, actor: Actor, body: dict[str, object]) -> dict:  # type: ignore[type-arg]
    change = parse_valid_inspection(body, today=TODAY)
    return service.record_inspection(
        session, tenant.instance_id, change, actor=actor
    ).data.model_dump()  # type: ignore[arg-type]


def test_services_end_to_end(database: Database, tenant: Tenant) -> None:
    actor = Actor(instance_id=tenant.instance_id)
    with database.write() as session:
        put_rules(session, actor, {"rules": []})  # the third plant has no interval at all
        first = _plant(session, actor, 1)
        second = _plant(session, actor, 2)
        third = _plant(session, actor, 3, auditSpecificInfo={"inspectionArea": 7})
        service.put_inspection_settings(session, actor, {"findingDeadlineDays": 10})
        data = _inspect(
            session,
            tenant,
            actor,
            {
                "meteringPointId": first,
                "date": "2026-05-01",
                "kind": "periodic",
                "findings": [{"description": "x", "severity": "nonconformity"}],
            },
        )
        finding_id = data["findings"][0]["id"]
        assert data["findings"][0]["deadline"] == "2026-05-11"
        _inspect(
            session,
            tenant,
            actor,
            {"meteringPointId": second, "date": "2006-07-01", "kind": "periodic"},
        )

    with database.read() as session:
        status = service.inspection_status(
            session, tenant.instance_id, first, today=TODAY
        ).model_dump()
        assert status["reasons"] == ["interval", "overdue_finding"]
        assert status["dueDate"] == "2026-05-11"
        items, _ = service.list_findings(
            session, tenant.instance_id, today=TODAY, query=service.FindingQuery(overdue=True)
        )
        assert [i.id for i in items] == [finding_id]
        with pytest.raises(NotFound):
            service.inspection_status(
                session, tenant.instance_id, "707057500099999999", today=TODAY
            )

    with database.write() as session:
        with pytest.raises(TransitionRefused):
            service.move_finding(
                session,
                tenant.instance_id,
                finding_id,
                FindingMove("escalated", TODAY, None, None),
                actor=actor,
                today=TODAY,
            )
        moved = service.move_finding(
            session,
            tenant.instance_id,
            finding_id,
            FindingMove("closed", TODAY, None, "ok"),
            actor=actor,
            today=TODAY,
        )
        assert moved.data.status == "closed"
        plan = plans.build_plan(session, actor, 2026, capacity={"7": 1}, today=TODAY).model_dump()
    # first: inspected 2026-05-01 -> due 2046; second: due 2026-07-01; third: no interval
    assert [(i["meteringPointId"], i["status"]) for i in plan["items"]] == [(second, "planned")]
    assert [u["meteringPointId"] for u in plan["unplanned"]] == [third]
    with database.write() as session:
        again = plans.build_plan(session, actor, 2026, capacity={"7": 0}, today=TODAY).model_dump()
        _inspect(
            session,
            tenant,
            actor,
            {"meteringPointId": second, "date": "2026-06-01", "kind": "periodic"},
        )
    assert again["version"] == 2
    assert again["items"][0]["status"] == "deferred"
    with database.read() as session:
        latest = plans.latest_plan(session, tenant.instance_id, 2026).model_dump()
        assert latest["items"][0]["status"] == "done"
        report = service.year_report(session, tenant.instance_id, 2026).model_dump()
    assert report["inspections"]["periodic"] == 2
    assert report["findingsClosed"] == 1
    assert report["findingsOpenAtYearEnd"] == 0
    assert report["plantsInService"] == 3


def test_due_window_of_new_installations(database: Database, tenant: Tenant) -> None:
    actor = Actor(instance_id=tenant.instance_id)
    connected = TODAY - timedelta(days=365)
    with database.write() as session:
        mpid = _plant(session, actor, 4, connectedDate=connected.isoformat())
    with database.read() as session:
        status = service.inspection_status(
            session, tenant.instance_id, mpid, today=TODAY
        ).model_dump()
    assert (status["dueDate"], status["reasons"]) == (connected.isoformat(), ["new_installation"])
