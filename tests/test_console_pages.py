"""Console pages over HTTP on both databases: inspections, findings, plan, search, grid, map.

Roles are checked on every action; what a form changes is in history under the user.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tenant
from tests.console_helpers import make_user, sign_in
from tilsyn.app import create_app
from tilsyn.console.web import tile_origin
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import Change, Finding, Inspection

MPID = "707057500000000017"


@pytest.fixture
def plant(client: TestClient, tenant: Tenant) -> str:
    body = {
        "meteringPointId": MPID,
        "consumptionCode": 35,
        "industrialClassification": "98.000",
        "status": "Spenningsatt",
        "address": {"addressText": "Bjørkeveien 7", "postalCode": "1440"},
        "location": {"latitude": 59.66, "longitude": 10.63},
        "connectionPoint": {
            "name": "CP-7",
            "transformer": {
                "name": "T-7",
                "netStation": {"name": "NS-7", "location": {"latitude": 59.6, "longitude": 10.6}},
            },
        },
    }
    answer = client.post("/api/import/test/plant", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return MPID


def _inspection(token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "date": today_in_oslo().isoformat(),
        "kind": "periodic",
        "findings-0-description": "Manglende jordfeilbryter",
        "findings-0-severity": "nonconformity",
        **extra,
    }


def test_inspector_records_and_moves_a_finding(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    make_user(database, tenant.instance_id, "insp@dle.no", "inspector")
    token = sign_in(client, "insp@dle.no")
    assert client.get(f"/console/plant/{plant}/inspection").status_code == 200
    saved = client.post(
        f"/console/plant/{plant}/inspection", data=_inspection(token), follow_redirects=False
    )
    assert saved.status_code == 303
    with database.read() as session:
        finding = session.scalars(select(Finding)).one()
        assert finding.status == "open"
        assert finding.deadline is not None  # the instance's default deadline
    page = client.get(f"/console/plant/{plant}")
    assert "Manglende jordfeilbryter" in page.text
    assert 'name="status"' in page.text  # the move form, for an inspector
    moved = client.post(
        f"/console/findings/{finding.id}/status",
        data={"csrf_token": token, "status": "ordered", "date": today_in_oslo().isoformat()},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert "moved=" in moved.headers["location"]
    refused = client.post(
        f"/console/findings/{finding.id}/status",
        data={"csrf_token": token, "status": "open", "date": today_in_oslo().isoformat()},
        follow_redirects=False,
    )
    assert "error=" in refused.headers["location"]  # ordered -> open is not in the chain
    listing = client.get("/console/findings?status=ordered")
    assert "Manglende jordfeilbryter" in listing.text
    # From htmx, the answer is the finding itself, to swap in place.
    swapped = client.post(
        f"/console/findings/{finding.id}/status",
        data={"csrf_token": token, "status": "corrected", "date": today_in_oslo().isoformat()},
        headers={"HX-Request": "true"},
    )
    assert swapped.status_code == 200
    assert swapped.text.lstrip().startswith(f'<article class="finding" id="finding-{finding.id}">')
    refused_htmx = client.post(
        f"/console/findings/{finding.id}/status",
        data={"csrf_token": token, "status": "escalated", "date": today_in_oslo().isoformat()},
        headers={"HX-Request": "true"},
    )
    assert "error=" in refused_htmx.headers["HX-Redirect"]
    with database.read() as session:
        actors = set(
            session.execute(
                select(Change.entity_type, Change.api_key_label).where(
                    Change.entity_type.in_(("inspection", "finding"))
                )
            )
        )
    assert ("inspection", "user:insp@dle.no") in actors
    assert ("finding", "user:insp@dle.no") in actors


def test_a_bad_inspection_form_is_shown_again_with_its_problems(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    make_user(database, tenant.instance_id, "insp@dle.no", "inspector")
    token = sign_in(client, "insp@dle.no")
    tomorrow = (today_in_oslo() + timedelta(days=1)).isoformat()
    answer = client.post(
        f"/console/plant/{plant}/inspection", data=_inspection(token, date=tomorrow)
    )
    assert answer.status_code == 400
    assert "<code>date</code>" in answer.text
    assert "Manglende jordfeilbryter" in answer.text  # what was typed is kept
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Inspection)) == 0


def test_viewer_may_not_record_move_or_build(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    make_user(database, tenant.instance_id, "insp@dle.no", "inspector")
    token = sign_in(client, "insp@dle.no")
    client.post(f"/console/plant/{plant}/inspection", data=_inspection(token))
    with database.read() as session:
        finding_id = session.scalars(select(Finding.id)).one()
    make_user(database, tenant.instance_id, "leser@dle.no", "viewer")
    client.cookies.clear()
    token = sign_in(client, "leser@dle.no")
    page = client.get(f"/console/plant/{plant}")
    assert "Manglende jordfeilbryter" in page.text
    assert f"/console/findings/{finding_id}/status" not in page.text
    assert client.get(f"/console/plant/{plant}/inspection").status_code == 403
    day = today_in_oslo().isoformat()
    refused = {
        f"/console/plant/{plant}/inspection": _inspection(token),
        f"/console/findings/{finding_id}/status": {"status": "closed", "date": day},
        "/console/plan": {"year": str(today_in_oslo().year)},
    }
    for path, data in refused.items():
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    with database.read() as session:
        assert session.get(Finding, finding_id).status == "open"
        assert session.scalar(select(func.count()).select_from(Inspection)) == 1


def test_admin_builds_the_plan_and_everyone_exports_it(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    year = str(today_in_oslo().year + 30)  # the plant is due within 20 years of today
    make_user(database, tenant.instance_id, "admin@dle.no", "admin")
    token = sign_in(client, "admin@dle.no")
    bad = client.post("/console/plan", data={"csrf_token": token, "year": year, "capacity": "x"})
    assert bad.status_code == 400
    built = client.post(
        "/console/plan",
        data={"csrf_token": token, "year": year, "capacity": "none=3"},
        follow_redirects=False,
    )
    assert built.status_code == 303
    page = client.get(f"/console/plan?year={year}")
    assert MPID in page.text
    exported = client.get(f"/console/plan/{year}.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert MPID in exported.text
    assert client.get("/console/plan/1999.csv").status_code == 404
    with database.read() as session:
        label = session.scalar(select(Change.api_key_label).where(Change.entity_type == "plan"))
    assert label == "user:admin@dle.no"


def test_search_and_grid_pages(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    make_user(database, tenant.instance_id, "leser@dle.no", "viewer")
    sign_in(client, "leser@dle.no")
    for query in ("BJØRK", "bjork", "7070575000000000"):
        found = client.get("/console/search", params={"q": query})
        assert found.status_code == 200
        assert MPID in found.text, query
    assert MPID not in client.get("/console/search", params={"q": "storgata"}).text
    assert "NS-7" in client.get("/console/grid").text
    station = client.get("/console/grid/NS-7")
    assert "T-7" in station.text
    assert "CP-7" in station.text
    assert MPID in client.get("/console/grid/connection-point/CP-7").text
    assert client.get("/console/grid/NS-unknown").status_code == 404
    assert client.get("/console/plant/707057500000000099").status_code == 404


def test_map_points_and_tile_setting(
    settings: Settings, database: Database, tenant: Tenant, plant: str
) -> None:
    make_user(database, tenant.instance_id, "leser@dle.no", "viewer")
    tiles = replace(settings, console_tile_url="https://{s}.tiles.example.no/{z}/{x}/{y}.png")
    with TestClient(create_app(tiles, database)) as client:
        sign_in(client, "leser@dle.no")
        page = client.get("/console/map")
        assert 'data-tiles="https://{s}.tiles.example.no/{z}/{x}/{y}.png"' in page.text
        policy = page.headers["content-security-policy"]
        assert re.search(r"img-src 'self' data: https://\*\.tiles\.example\.no;", policy)
        points = client.get("/console/map/points").json()
    assert points["plants"] == [
        {"id": MPID, "lat": 59.66, "lon": 10.63, "address": "Bjørkeveien 7"}
    ]
    assert points["netStations"] == [{"name": "NS-7", "lat": 59.6, "lon": 10.6}]


def test_tile_origin() -> None:
    assert tile_origin(None) is None
    assert tile_origin("https://kart.example.no/{z}/{x}/{y}.png") == "https://kart.example.no"
    assert tile_origin("http://{s}.t.example:8080/{z}/{x}/{y}.png") == "http://*.t.example:8080"
    assert tile_origin("javascript:alert(1)") is None
    assert tile_origin("https://a.example; script-src *") is None


def test_odd_requests_never_fail_with_500(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    make_user(database, tenant.instance_id, "admin@dle.no", "admin")
    token = sign_in(client, "admin@dle.no")
    odd_gets = [
        "/console/plant/%00",
        "/console/plant/" + "9" * 400,
        "/console/grid/%00",
        "/console/grid/connection-point/%00",
        "/console/search?q=%00&dueBefore=not-a-day&postalCode=%00",
        "/console/search?q=" + "ø" * 500,
        "/console/findings?status=nonsense&after=abc&overdue=2",
        "/console/findings?after=" + "9" * 30,
        "/console/plan?year=abcd",
        "/console/plan/0000.csv",
        "/console/plan/abcd.csv",
        "/console/setup/%00",
        "/console/sign-in?next=//evil.example",
    ]
    for path in odd_gets:
        answer = client.get(path)
        assert answer.status_code < 500, path
    odd_posts = {
        "/console/findings/abc/status": {"status": "x"},
        "/console/findings/99999999/status": {"status": "closed", "date": "2020-01-01"},
        f"/console/plant/{plant}/inspection": {"date": "never", "kind": "?"},
        "/console/plan": {"year": "99999", "capacity": "1=-3"},
        "/console/rules": {"rules": "rules: [[[["},
        "/console/keys/revoke": {"key": "x" * 50},
        "/console/users": {"email": "@", "role": "king"},
    }
    for path, data in odd_posts.items():
        answer = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert answer.status_code < 500, path


def test_personal_numbers_are_masked_in_the_consoles_history(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    customer = {"Number": "01017012345", "FirstName": "Kari", "LastName": "Nordmann"}
    answer = client.post("/api/import/test/customer", json=customer, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    make_user(database, tenant.instance_id, "leser@dle.no", "viewer")
    sign_in(client, "leser@dle.no")
    page = client.get("/console/").text
    assert "Nordmann" in page
    assert "01017012345" not in page


def test_console_pages_take_their_own_query_but_the_api_still_refuses_unknown_ones(
    client: TestClient, tenant: Tenant, database: Database, plant: str
) -> None:
    make_user(database, tenant.instance_id, "leser@dle.no", "viewer")
    sign_in(client, "leser@dle.no")
    assert client.get(f"/console/plant/{plant}?lang=en").status_code == 200
    assert client.get("/console/findings?status=open&overdue=1&lang=nb").status_code == 200
    api = client.get(f"/api/plant/test/getDataForImport/{plant}?lang=en", headers=tenant.headers)
    assert api.status_code == 400
