"""The OpenAPI document describes the wire exactly, for every operation there is or will be.

Each test walks every operation of the live ``/openapi.json`` rather than a list of known
ones, so a route added later is held to the same rules: a short camelCase operationId, the
``api-key`` security scheme wherever a key is checked, every error status as an RFC 9457
problem with its schema, no FastAPI ``422`` that tilsyn never answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from tests.conftest import Tenant
from tests.seed_api import minimal_plant, plant_url
from tilsyn.app import create_app
from tilsyn.core.config import Settings

PROBLEM_JSON = "application/problem+json"
NDJSON = "application/x-ndjson"
CAMEL_CASE = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
MPID = "707057500026392739"


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema as served; building it touches no database."""
    path = tmp_path_factory.mktemp("schema") / "schema.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{path}"))) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_schema_is_valid_openapi(schema: dict[str, Any]) -> None:
    validate(schema)


def test_every_operation_has_a_unique_camel_case_id(schema: dict[str, Any]) -> None:
    ids = [op.get("operationId", f"<none: {m} {p}>") for p, m, op in operations(schema)]
    assert len(ids) >= 20
    assert [i for i in ids if not CAMEL_CASE.match(i) or len(i) > 40] == []
    assert len(set(ids)) == len(ids)
    assert {"upsertPlant", "getPlant", "upsertCustomer", "getCustomer"} <= set(ids)


def test_keyed_operations_declare_the_api_key_scheme(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"] == {
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "api-key",
            "description": schema["components"]["securitySchemes"]["apiKey"]["description"],
        }
    }
    for path, method, operation in operations(schema):
        keyed = path.startswith("/api/")
        assert keyed == ("401" in operation["responses"]), (method, path)
        assert operation.get("security") == ([{"apiKey": []}] if keyed else None), (method, path)
        # The key is the scheme's, not a parameter of its own.
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "api-key" not in names, (method, path)


def test_every_error_is_a_problem_with_its_schema(schema: dict[str, Any]) -> None:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    declared = 0
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM_JSON: {"schema": problem_ref}}, (
                    method,
                    path,
                    status,
                )
                declared += 1
    assert declared > 60
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert set(components["Problem"]["required"]) == {"type", "title", "status", "detail"}
    issue = components["ProblemIssue"]
    assert set(issue["required"]) == {"field", "code", "message"}


def test_bulk_operations_declare_ndjson_both_ways(schema: dict[str, Any]) -> None:
    bulk = [(p, op) for p, _m, op in operations(schema) if p.endswith("/bulk")]
    assert {path for path, _ in bulk} >= {
        "/api/import/{environment}/customer/bulk",
        "/api/import/{environment}/plant/bulk",
        "/api/inspection/{environment}/bulk",
    }
    for path, operation in bulk:
        assert NDJSON in operation["requestBody"]["content"], path
        assert set(operation["responses"]["200"]["content"]) == {NDJSON}, path


def _validator(schema: dict[str, Any], name: str) -> OAS31Validator:
    """Validates against one component; its references resolve in the document's components."""
    return OAS31Validator(
        {"$ref": f"#/components/schemas/{name}", "components": schema["components"]}
    )


def test_real_problems_match_the_declared_schema(
    schema: dict[str, Any], client: TestClient, tenant: Tenant
) -> None:
    validator = _validator(schema, "Problem")
    invalid = client.post(
        plant_url(), json=minimal_plant(MPID, status="Aktiv"), headers=tenant.headers
    )
    unkeyed = client.post(plant_url(), json=minimal_plant(MPID))
    missing = client.get(f"/api/plant/test/getDataForImport/{MPID}", headers=tenant.headers)
    bad_query = client.get("/api/changes/test?limit=0", headers=tenant.headers)
    for response, status in ((invalid, 400), (unkeyed, 401), (missing, 404), (bad_query, 400)):
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON
        validator.validate(response.json())
    assert [e["field"] for e in invalid.json()["errors"]] == ["status"]
    # The key check is the scheme's now; its answer is the one it always was.
    assert unkeyed.json()["detail"] == "Send the instance's API key in the 'api-key' header."
