"""SPEC §2: who built a plant, and extensions of it, through /plant/builtby."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    builtby_url,
    error_codes,
    fetch_plant,
    history,
    issue_codes,
    make_mpid,
    make_orgnr,
    minimal_plant,
    post,
    problem,
    register_builtby,
    upsert_plant,
)
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database

MPID = make_mpid(51)


@pytest.fixture
def plant(client: TestClient, tenant: Tenant) -> str:
    upsert_plant(client, tenant, minimal_plant(MPID))
    return MPID


def test_builtby_sets_the_builder(client: TestClient, tenant: Tenant, plant: str) -> None:
    response = register_builtby(
        client, tenant, {"meteringPointId": plant, "builtByElCompanyId": 12345}
    )
    assert response["result"] == "updated"
    assert response["data"]["builtByElCompanyId"] == 12345
    assert response["data"]["extensions"] == []
    assert fetch_plant(client, tenant, plant)["builtByElCompanyId"] == 12345


def test_builtby_same_again_is_unchanged(
    client: TestClient, database: Database, tenant: Tenant, plant: str
) -> None:
    body = {"meteringPointId": plant, "builtByElCompanyId": 12345}
    register_builtby(client, tenant, body)
    rows = len(history(database, tenant.instance_id))
    assert register_builtby(client, tenant, body)["result"] == "unchanged"
    assert len(history(database, tenant.instance_id)) == rows


def test_builtby_replaces_the_builder(
    client: TestClient, database: Database, tenant: Tenant, plant: str
) -> None:
    register_builtby(client, tenant, {"meteringPointId": plant, "builtByElCompanyId": 1})
    response = register_builtby(client, tenant, {"meteringPointId": plant, "builtByElCompanyId": 2})
    assert response["result"] == "updated"
    assert fetch_plant(client, tenant, plant)["builtByElCompanyId"] == 2
    rows = [r for r in history(database, tenant.instance_id) if r.operation == "builtby"]
    assert [r.diff for r in rows] == [
        {"builtByElCompanyId": [None, 1]},
        {"builtByElCompanyId": [1, 2]},
    ]


def test_builtby_envelope_data_is_the_plant(client: TestClient, tenant: Tenant, plant: str) -> None:
    response = register_builtby(client, tenant, {"meteringPointId": plant, "builtByElCompanyId": 7})
    assert set(response) == {"result", "warnings", "data"}
    assert response["warnings"] == []
    assert response["data"] == fetch_plant(client, tenant, plant)


def test_builtby_with_an_extension(client: TestClient, tenant: Tenant, plant: str) -> None:
    body = {
        "meteringPointId": plant,
        "builtByElCompanyId": 12345,
        "extensionName": "Kjøkken",
        "extensionYearBuilt": 2019,
    }
    response = register_builtby(client, tenant, body)
    assert response["result"] == "created"
    expected = [
        {"extensionName": "Kjøkken", "extensionYearBuilt": 2019, "builtByElCompanyId": 12345}
    ]
    assert response["data"]["extensions"] == expected
    plant_now = fetch_plant(client, tenant, plant)
    assert plant_now["extensions"] == expected
    # An extension does not say who built the plant.
    assert plant_now["builtByElCompanyId"] is None


def test_extension_is_idempotent(
    client: TestClient, database: Database, tenant: Tenant, plant: str
) -> None:
    body = {
        "meteringPointId": plant,
        "builtByElCompanyId": 1,
        "extensionName": "Bad",
        "extensionYearBuilt": 2020,
    }
    assert register_builtby(client, tenant, body)["result"] == "created"
    rows = len(history(database, tenant.instance_id))
    second = register_builtby(client, tenant, body)
    assert second["result"] == "unchanged"
    assert len(second["data"]["extensions"]) == 1
    assert len(history(database, tenant.instance_id)) == rows


def test_extension_name_is_trimmed(client: TestClient, tenant: Tenant, plant: str) -> None:
    body = {"meteringPointId": plant, "builtByElCompanyId": 1, "extensionName": "Bad"}
    register_builtby(client, tenant, body)
    again = register_builtby(client, tenant, {**body, "extensionName": "  Bad "})
    assert again["result"] == "unchanged"


def test_extensions_differ_by_name_and_year(client: TestClient, tenant: Tenant, plant: str) -> None:
    base = {"meteringPointId": plant, "builtByElCompanyId": 1}
    register_builtby(client, tenant, {**base, "extensionName": "Bad", "extensionYearBuilt": 2020})
    register_builtby(client, tenant, {**base, "extensionName": "Bad", "extensionYearBuilt": 2021})
    register_builtby(client, tenant, {**base, "extensionName": "Bad"})
    register_builtby(
        client, tenant, {**base, "extensionName": "Garasje", "extensionYearBuilt": 2020}
    )
    extensions = fetch_plant(client, tenant, plant)["extensions"]
    assert sorted((e["extensionName"], e["extensionYearBuilt"] or 0) for e in extensions) == [
        ("Bad", 0),
        ("Bad", 2020),
        ("Bad", 2021),
        ("Garasje", 2020),
    ]


def test_extension_builder_can_change(client: TestClient, tenant: Tenant, plant: str) -> None:
    body = {
        "meteringPointId": plant,
        "builtByElCompanyId": 1,
        "extensionName": "Bad",
        "extensionYearBuilt": 2020,
    }
    register_builtby(client, tenant, body)
    response = register_builtby(client, tenant, {**body, "builtByElCompanyId": 2})
    assert response["result"] == "updated"
    assert response["data"]["extensions"] == [
        {"extensionName": "Bad", "extensionYearBuilt": 2020, "builtByElCompanyId": 2}
    ]


def test_unknown_metering_point_is_404(client: TestClient, tenant: Tenant) -> None:
    response = post(
        client, tenant, builtby_url(), {"meteringPointId": MPID, "builtByElCompanyId": 1}
    )
    problem(response, 404)
    problem(
        post(
            client,
            tenant,
            builtby_url(),
            {"meteringPointId": MPID, "builtByElCompanyId": 1, "extensionName": "Bad"},
        ),
        404,
    )


def test_plant_of_another_instance_is_404(
    client: TestClient, database: Database, tenant: Tenant, plant: str
) -> None:
    other = make_tenant(database, "other-test", "test")
    response = post(
        client, other, builtby_url(), {"meteringPointId": plant, "builtByElCompanyId": 1}
    )
    problem(response, 404)


def test_year_without_name_is_400(client: TestClient, tenant: Tenant, plant: str) -> None:
    body = {"meteringPointId": plant, "builtByElCompanyId": 1, "extensionYearBuilt": 2019}
    assert error_codes(post(client, tenant, builtby_url(), body)) == {
        ("extensionYearBuilt", "requires_extension_name")
    }
    assert fetch_plant(client, tenant, plant)["builtByElCompanyId"] is None


def test_invalid_body_is_400_before_the_plant_is_looked_up(
    client: TestClient, tenant: Tenant
) -> None:
    body = {"meteringPointId": MPID, "builtByElCompanyId": 1, "extensionYearBuilt": 2019}
    problem(post(client, tenant, builtby_url(), body), 400)


@pytest.mark.parametrize("year", [1799, 1000, 0, -5, "future"])
def test_year_out_of_range_is_400(
    client: TestClient, tenant: Tenant, plant: str, year: Any
) -> None:
    if year == "future":
        year = today_in_oslo().year + 1
    body = {
        "meteringPointId": plant,
        "builtByElCompanyId": 1,
        "extensionName": "Bad",
        "extensionYearBuilt": year,
    }
    assert error_codes(post(client, tenant, builtby_url(), body)) == {
        ("extensionYearBuilt", "out_of_range")
    }
    assert fetch_plant(client, tenant, plant)["extensions"] == []


@pytest.mark.parametrize("year", [1800, 1950, "this year"])
def test_year_in_range_is_accepted(
    client: TestClient, tenant: Tenant, plant: str, year: Any
) -> None:
    if year == "this year":
        year = today_in_oslo().year
    body = {
        "meteringPointId": plant,
        "builtByElCompanyId": 1,
        "extensionName": "Bad",
        "extensionYearBuilt": year,
    }
    assert (
        register_builtby(client, tenant, body)["data"]["extensions"][0]["extensionYearBuilt"]
        == year
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"builtByElCompanyId": None}, ("builtByElCompanyId", "missing")),
        ({"builtByElCompanyId": "x"}, ("builtByElCompanyId", "int_type")),
        ({"builtByElCompanyId": True}, ("builtByElCompanyId", "int_type")),
        ({"meteringPointId": "123"}, ("meteringPointId", "metering_point_id_format")),
        ({"extensionName": "  "}, ("extensionName", "missing")),
        ({"extensionName": "x" * 201}, ("extensionName", "string_too_long")),
        (
            {"extensionName": "Bad", "extensionYearBuilt": "2019b"},
            ("extensionYearBuilt", "int_type"),
        ),
    ],
)
def test_invalid_builtby_fields_are_400(
    client: TestClient, tenant: Tenant, plant: str, fields: dict[str, Any], error: tuple[str, str]
) -> None:
    body = {"meteringPointId": plant, "builtByElCompanyId": 1, **fields}
    assert error_codes(post(client, tenant, builtby_url(), body)) == {error}


def test_builtby_missing_company_id(client: TestClient, tenant: Tenant, plant: str) -> None:
    codes = error_codes(post(client, tenant, builtby_url(), {"meteringPointId": plant}))
    assert codes == {("builtByElCompanyId", "missing")}


def test_builtby_accepts_numbers_as_strings_and_any_casing(
    client: TestClient, tenant: Tenant, plant: str
) -> None:
    body = {
        "METERINGPOINTID": int(plant),
        "builtbyelcompanyid": "12345",
        "ExtensionName": "Loft",
        "EXTENSIONYEARBUILT": "2001",
    }
    response = register_builtby(client, tenant, body)
    assert response["data"]["extensions"] == [
        {"extensionName": "Loft", "extensionYearBuilt": 2001, "builtByElCompanyId": 12345}
    ]


def test_builtby_warnings(client: TestClient, tenant: Tenant, plant: str) -> None:
    orgnr = int(make_orgnr(2360901))
    body = {"meteringPointId": plant, "builtByElCompanyId": orgnr, "builtBy": 1}
    response = register_builtby(client, tenant, body)
    codes = issue_codes(response["warnings"])
    assert ("builtBy", "unknown_field") in codes
    assert any(field == "builtByElCompanyId" for field, _ in codes)


def test_plant_upsert_never_removes_extensions(
    client: TestClient, tenant: Tenant, plant: str
) -> None:
    ext = {
        "meteringPointId": plant,
        "builtByElCompanyId": 9,
        "extensionName": "Bad",
        "extensionYearBuilt": 2020,
    }
    register_builtby(client, tenant, ext)
    for body in (
        minimal_plant(plant),
        minimal_plant(plant, description="x"),
        minimal_plant(plant, builtByElCompanyId=5),
    ):
        response = upsert_plant(client, tenant, body)
        assert response["data"]["extensions"] == [
            {"extensionName": "Bad", "extensionYearBuilt": 2020, "builtByElCompanyId": 9}
        ]
    assert fetch_plant(client, tenant, plant)["builtByElCompanyId"] == 5


def test_delete_plant_removes_its_extensions(
    client: TestClient, tenant: Tenant, plant: str
) -> None:
    register_builtby(
        client, tenant, {"meteringPointId": plant, "builtByElCompanyId": 9, "extensionName": "Bad"}
    )
    assert (
        client.delete(f"/api/import/test/plant/{plant}", headers=tenant.headers).status_code == 200
    )
    assert upsert_plant(client, tenant, minimal_plant(plant))["data"]["extensions"] == []


def test_strict_instance_rejects_an_implausible_builder(
    client: TestClient, database: Database
) -> None:
    strict = make_tenant(database, "strict-test", "test", strict=True)
    upsert_plant(client, strict, minimal_plant(MPID))
    body = {"meteringPointId": MPID, "builtByElCompanyId": -3}
    assert error_codes(post(client, strict, builtby_url(), body)) == {
        ("builtByElCompanyId", "not_positive")
    }
