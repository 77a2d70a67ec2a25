"""Builders and checks shared by the seed API tests: identifiers, bodies, requests, history."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Tenant
from tilsyn.contract.customers.schemas import SEED_CUSTOMER_EXAMPLE
from tilsyn.contract.plants.parse import parse_valid_plant
from tilsyn.contract.plants.schemas import SEED_PLANT_EXAMPLE
from tilsyn.core.changelog import Actor, stored_diffs
from tilsyn.core.db import Database
from tilsyn.core.models import Change
from tilsyn.core.outcome import Outcome
from tilsyn.core.personal import reveal
from tilsyn.plants import service as plants
from tilsyn.validation.identifiers import (
    fodselsnummer_check_digits,
    gsrn_check_digit,
    orgnr_check_digit,
)

PROBLEM_JSON = "application/problem+json"

PLANT_FIELDS = (
    "meteringPointId",
    "customerId",
    "customerChangeFrom",
    "plantId",
    "searchCategory",
    "consumptionCode",
    "industrialClassification",
    "buildingCode",
    "connectedDate",
    "status",
    "address",
    "meter",
    "description",
    "externalPlantNumber",
    "technicalData",
    "builtByElCompanyId",
    "location",
    "auditSpecificInfo",
    "connectionPoint",
    "extensions",
)
CUSTOMER_FIELDS = (
    "Number",
    "FirstName",
    "LastName",
    "Address",
    "Email",
    "Phone",
    "BirthDate",
    "OrganizationNumber",
    "AcceptElectronicCommunication",
)


def make_mpid(serial: int) -> str:
    """A Norwegian metering point id with a correct GS1 check digit."""
    body = f"7070575{serial:010d}"
    return body + gsrn_check_digit(body)


def make_fnr(birth: str = "010190") -> str:
    """A fødselsnummer with correct check digits for a DDMMYY birth date."""
    for individ in range(100, 500):
        check = fodselsnummer_check_digits(f"{birth}{individ}")
        if check is not None:
            return f"{birth}{individ}{check}"
    raise AssertionError("no individnummer gives valid check digits")


def make_orgnr(serial: int) -> str:
    """An organisasjonsnummer with a correct check digit."""
    for base in range(serial, serial + 100):
        first8 = f"9{base:07d}"
        check = orgnr_check_digit(first8)
        if check is not None:
            return f"{first8}{check}"
    raise AssertionError("no check digit found")


def seed_plant(**overrides: Any) -> dict[str, Any]:
    """The seed's plant example (made valid), with top-level fields replaced.

    An override replaces the field whatever its casing (the seed writes ``Description``).
    """
    body = copy.deepcopy(SEED_PLANT_EXAMPLE)
    for name in overrides:
        for key in [k for k in body if k.casefold() == name.casefold()]:
            del body[key]
    body.update(overrides)
    return body


def seed_customer(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_CUSTOMER_EXAMPLE)
    body.update(overrides)
    return body


def minimal_plant(mpid: str, **fields: Any) -> dict[str, Any]:
    """Only the required fields, plus ``fields``."""
    return {
        "meteringPointId": mpid,
        "consumptionCode": 23,
        "industrialClassification": "55.102",
        **fields,
    }


def plant_url(environment: str = "test") -> str:
    return f"/api/import/{environment}/plant"


def customer_url(environment: str = "test") -> str:
    return f"/api/import/{environment}/customer"


def builtby_url(environment: str = "test") -> str:
    return f"/api/import/{environment}/plant/builtby"


def plant_get_url(mpid: str, environment: str = "test") -> str:
    return f"/api/plant/{environment}/getDataForImport/{mpid}"


def customer_get_url(number: str, environment: str = "test") -> str:
    return f"/api/customer/environment/{environment}/bynumber/{number}"


def post(client: TestClient, tenant: Tenant, url: str, body: Any) -> Response:
    return client.post(url, json=body, headers=tenant.headers)


def post_raw(client: TestClient, tenant: Tenant, url: str, raw: bytes) -> Response:
    headers = {**tenant.headers, "content-type": "application/json"}
    return client.post(url, content=raw, headers=headers)


def upsert_plant(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    """POST a plant that must be accepted; the response envelope."""
    return ok(post(client, tenant, plant_url(tenant.environment), body))


def service_upsert_plant(session: Session, actor: Actor, body: Any, *, today: date) -> Outcome:
    """A plant body through the service, in the caller's transaction, with its answer."""
    change = parse_valid_plant(body, today=today)
    [written] = plants.upsert_plants(session, actor, [change], today=today)
    return plants.written_outcome(session, actor.instance_id, change, written, today=today)


def upsert_customer(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    return ok(post(client, tenant, customer_url(tenant.environment), body))


def register_builtby(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    return ok(post(client, tenant, builtby_url(tenant.environment), body))


def fetch_plant(client: TestClient, tenant: Tenant, mpid: str) -> dict[str, Any]:
    return ok(client.get(plant_get_url(mpid, tenant.environment), headers=tenant.headers))


def fetch_customer(client: TestClient, tenant: Tenant, number: str) -> dict[str, Any]:
    return ok(client.get(customer_get_url(number, tenant.environment), headers=tenant.headers))


def ok(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def problem(response: Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with the given status; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def issue_codes(issues: list[dict[str, str]] | None) -> set[tuple[str, str]]:
    """``{(field, code)}`` of a warnings or errors list."""
    return {(issue["field"], issue["code"]) for issue in issues or []}


def error_codes(response: Response) -> set[tuple[str, str]]:
    return issue_codes(problem(response, 400).get("errors"))


def history(database: Database, instance_id: int) -> list[Change]:
    """The instance's history rows as tilsyn reads them: customer numbers revealed (stored,
    they are keyed hashes; core/personal.py), a creation's document filled in where it was
    not stored (core/changelog.py, ``stored_diffs``). Copies, detached from any session."""
    with database.read() as session:
        rows = list(
            session.scalars(
                select(Change).where(Change.instance_id == instance_id).order_by(Change.id)
            )
        )
        filled = stored_diffs(session, instance_id, rows)
        revealed = reveal(
            session,
            instance_id,
            [[row.entity_key, filled.get(row.id, row.diff)] for row in rows],
        )
    copies = []
    for row, (entity_key, diff) in zip(rows, revealed, strict=True):
        shown = Change(**{c.key: getattr(row, c.key) for c in Change.__table__.columns})
        shown.entity_key, shown.diff = entity_key, diff
        copies.append(shown)
    return copies


def history_text(database: Database, instance_id: int) -> str:
    """Every history row of an instance as one text, to search for erased data."""
    return "\n".join(
        json.dumps([row.entity_type, row.entity_key, row.operation, row.diff], ensure_ascii=False)
        for row in history(database, instance_id)
    )
