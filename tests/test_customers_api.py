"""SPEC §2 and §4: customers upserted by Number, read, and erased for good."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    CUSTOMER_FIELDS,
    customer_get_url,
    customer_url,
    error_codes,
    fetch_customer,
    fetch_plant,
    history,
    history_text,
    issue_codes,
    make_fnr,
    make_mpid,
    make_orgnr,
    minimal_plant,
    plant_get_url,
    post,
    problem,
    seed_customer,
    upsert_customer,
    upsert_plant,
)
from tilsyn.core.db import Database
from tilsyn.core.models import Customer, CustomerPeriod

NUMBER = "22097312401"
SEED_DOCUMENT = {
    "Number": "22097312401",
    "FirstName": "Ola",
    "LastName": "Normann",
    "Address": {
        "AddressText": "Testveien 24",
        "PostalCode": "0484",
        "ForeignCity": "Stockholm",
        "Country": "SE",
    },
    "Email": "ola.normann@test.com",
    "Phone": "40506070",
    "BirthDate": "1982-01-01",
    "OrganizationNumber": "951123123",
    "AcceptElectronicCommunication": True,
}
EMPTY_ADDRESS = {"AddressText": None, "PostalCode": None, "ForeignCity": None, "Country": None}


def test_seed_example_is_accepted_with_its_checksum_warnings(
    client: TestClient, tenant: Tenant
) -> None:
    response = upsert_customer(client, tenant, seed_customer())
    assert response["result"] == "created"
    assert issue_codes(response["warnings"]) == {
        ("Number", "checksum"),
        ("OrganizationNumber", "checksum"),
    }
    assert response["data"] == SEED_DOCUMENT
    assert fetch_customer(client, tenant, NUMBER) == SEED_DOCUMENT


def test_envelope_has_result_warnings_and_data(client: TestClient, tenant: Tenant) -> None:
    response = upsert_customer(client, tenant, {"Number": "agreed-1"})
    assert set(response) == {"result", "warnings", "data"}
    assert response["warnings"] == []
    for warning in upsert_customer(client, tenant, seed_customer())["warnings"]:
        assert set(warning) == {"field", "code", "message"}


def test_created_updated_unchanged(client: TestClient, tenant: Tenant) -> None:
    assert upsert_customer(client, tenant, seed_customer())["result"] == "created"
    assert upsert_customer(client, tenant, seed_customer())["result"] == "unchanged"
    changed = upsert_customer(client, tenant, seed_customer(Phone="+47 99 88 77 66"))
    assert changed["result"] == "updated"
    assert changed["data"]["Phone"] == "+47 99 88 77 66"
    assert fetch_customer(client, tenant, NUMBER)["Phone"] == "+47 99 88 77 66"
    assert upsert_customer(client, tenant, seed_customer(Phone="+47 99 88 77 66"))["result"] == (
        "unchanged"
    )


def test_upserts_answer_200_for_every_result(client: TestClient, tenant: Tenant) -> None:
    for body in (seed_customer(), seed_customer(), seed_customer(FirstName="Kari")):
        assert post(client, tenant, customer_url(), body).status_code == 200


def test_history_records_effective_changes_only(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_customer(client, tenant, seed_customer())
    upsert_customer(client, tenant, seed_customer())
    upsert_customer(client, tenant, seed_customer(FirstName="Kari"))
    rows = [
        (r.entity_type, r.entity_key, r.operation) for r in history(database, tenant.instance_id)
    ]
    assert rows == [("customer", NUMBER, "create"), ("customer", NUMBER, "update")]
    update = history(database, tenant.instance_id)[-1]
    assert update.diff == {"FirstName": ["Ola", "Kari"]}
    assert update.api_key_id is not None


def test_absent_fields_are_cleared(client: TestClient, tenant: Tenant) -> None:
    upsert_customer(client, tenant, seed_customer())
    response = upsert_customer(client, tenant, {"Number": NUMBER, "LastName": "Normann"})
    assert response["result"] == "updated"
    expected = dict.fromkeys(CUSTOMER_FIELDS) | {
        "Number": NUMBER,
        "LastName": "Normann",
        "Address": EMPTY_ADDRESS,
    }
    assert response["data"] == expected
    assert fetch_customer(client, tenant, NUMBER) == expected


def test_null_fields_are_cleared(client: TestClient, tenant: Tenant) -> None:
    upsert_customer(client, tenant, seed_customer())
    body = seed_customer(Email=None, Address={"AddressText": "Storgata 1", "PostalCode": None})
    data = upsert_customer(client, tenant, body)["data"]
    assert data["Email"] is None
    assert data["Address"] == EMPTY_ADDRESS | {"AddressText": "Storgata 1"}


def test_get_shape_is_stable(client: TestClient, tenant: Tenant) -> None:
    upsert_customer(client, tenant, {"Number": "agreed-2"})
    customer = fetch_customer(client, tenant, "agreed-2")
    assert set(customer) == set(CUSTOMER_FIELDS)
    assert set(customer["Address"]) == set(EMPTY_ADDRESS)
    assert customer == dict.fromkeys(CUSTOMER_FIELDS) | {
        "Number": "agreed-2",
        "Address": EMPTY_ADDRESS,
    }


def test_values_are_kept_as_sent(client: TestClient, tenant: Tenant) -> None:
    body = seed_customer(
        Address={"AddressText": "c/o Hansen\nStorgata 1\nLeil. 3", "Country": "se"},
        AcceptElectronicCommunication=False,
    )
    data = upsert_customer(client, tenant, body)["data"]
    assert data["Address"]["AddressText"] == "c/o Hansen\nStorgata 1\nLeil. 3"
    assert data["Address"]["Country"] == "SE"
    assert data["AcceptElectronicCommunication"] is False
    assert fetch_customer(client, tenant, NUMBER) == data


def test_number_is_trimmed(client: TestClient, tenant: Tenant) -> None:
    data = upsert_customer(client, tenant, {"Number": "  4711 "})["data"]
    assert data["Number"] == "4711"
    assert fetch_customer(client, tenant, "4711")["Number"] == "4711"
    assert upsert_customer(client, tenant, {"Number": "4711"})["result"] == "unchanged"


def test_number_given_as_a_json_number(client: TestClient, tenant: Tenant) -> None:
    fnr = make_fnr("150585")
    data = upsert_customer(client, tenant, {"Number": int(fnr)})["data"]
    assert data["Number"] == fnr


@pytest.mark.parametrize(
    "number",
    [make_fnr(), make_fnr("150585"), make_orgnr(2360901), "K-100234", "1234567"],
    ids=["fnr", "fnr2", "orgnr", "agreed", "seed-plant-customer"],
)
def test_valid_numbers_have_no_warnings(client: TestClient, tenant: Tenant, number: str) -> None:
    body = {
        "Number": number,
        "Email": "a@b.no",
        "Phone": "40506070",
        "Address": {"PostalCode": "0150"},
    }
    assert upsert_customer(client, tenant, body)["warnings"] == []


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        ({"Number": "22097312401"}, ("Number", "checksum")),
        ({"Number": "923609017"}, ("Number", "checksum")),
        ({"OrganizationNumber": "92360901"}, ("OrganizationNumber", "format")),
        ({"Email": "ola.normann(at)test.com"}, ("Email", "format")),
        ({"Phone": "4050607"}, ("Phone", "format")),
        ({"Address": {"PostalCode": "484"}}, ("Address.PostalCode", "format")),
        ({"Address": {"Country": "Sverige"}}, ("Address.Country", "format")),
        ({"Address": {"Country": "XX"}}, ("Address.Country", "unknown_code")),
        ({"BirthDate": "1870-01-01"}, ("BirthDate", "implausible_date")),
        ({"BirthDate": "2999-01-01"}, ("BirthDate", "implausible_date")),
    ],
)
def test_plausibility_problems_are_warnings(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], warning: tuple[str, str]
) -> None:
    body = {"Number": "agreed-3", **fields}
    response = upsert_customer(client, tenant, body)
    assert issue_codes(response["warnings"]) == {warning}
    number = response["data"]["Number"]
    assert fetch_customer(client, tenant, number) == response["data"]


def test_foreign_postal_code_is_not_checked(client: TestClient, tenant: Tenant) -> None:
    body = {"Number": "agreed-4", "Address": {"PostalCode": "114 55", "Country": "SE"}}
    assert upsert_customer(client, tenant, body)["warnings"] == []


def test_unknown_customer_is_404(client: TestClient, tenant: Tenant) -> None:
    body = problem(client.get(customer_get_url(NUMBER), headers=tenant.headers), 404)
    assert NUMBER not in body["detail"]
    problem(client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers), 404)


def test_invalid_body_stores_nothing(client: TestClient, tenant: Tenant) -> None:
    body = seed_customer(BirthDate="1982-02-30", Nickname="Ola")
    response = post(client, tenant, customer_url(), body)
    assert error_codes(response) == {("BirthDate", "date_invalid")}
    # The rejected body's unknown fields are reported with the problem.
    assert issue_codes(response.json()["warnings"]) == {("Nickname", "unknown_field")}
    problem(client.get(customer_get_url(NUMBER), headers=tenant.headers), 404)


# --- Erasure (GDPR) -------------------------------------------------------------------------


def _customer_rows(database: Database, instance_id: int) -> int:
    with database.read() as session:
        query = (
            select(func.count()).select_from(Customer).where(Customer.instance_id == instance_id)
        )
        return int(session.scalar(query) or 0)


def test_delete_erases_the_customer(client: TestClient, database: Database, tenant: Tenant) -> None:
    number = make_fnr("150585")
    mpid = make_mpid(11)
    upsert_customer(client, tenant, seed_customer(Number=number))
    upsert_customer(client, tenant, seed_customer(Number=number, Email="ola@normann.no"))
    upsert_plant(
        client, tenant, minimal_plant(mpid, customerId=number, customerChangeFrom="2020-01-01")
    )
    assert fetch_plant(client, tenant, mpid)["customerId"] == number
    assert number in history_text(database, tenant.instance_id)

    response = client.delete(f"/api/import/test/customer/{number}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {"result": "deleted"}

    problem(client.get(customer_get_url(number), headers=tenant.headers), 404)
    plant = fetch_plant(client, tenant, mpid)
    assert plant["customerId"] is None
    assert plant["meteringPointId"] == mpid
    assert _customer_rows(database, tenant.instance_id) == 0
    text = history_text(database, tenant.instance_id)
    for personal in (
        number,
        "Ola",
        "Normann",
        "ola@normann.no",
        "ola.normann@test.com",
        "Testveien",
    ):
        assert personal not in text
    with database.read() as session:
        numbers = set(session.scalars(select(CustomerPeriod.customer_number)))
    assert number not in numbers


def test_delete_keeps_a_tombstone(client: TestClient, database: Database, tenant: Tenant) -> None:
    upsert_customer(client, tenant, seed_customer())
    client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers)
    rows = history(database, tenant.instance_id)
    # The customer's own entries stay (when, which key), emptied; the tombstone names them.
    assert [(r.entity_type, r.entity_key, r.operation) for r in rows] == [
        ("customer", "[erased]", "create"),
        ("customer", "[erased]", "erase"),
    ]
    assert rows[0].diff is None
    assert rows[0].api_key_id is not None
    assert rows[1].diff == {"erasedChanges": [None, [rows[0].id]]}


def test_delete_only_touches_its_own_instance(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, "other-test", "test")
    upsert_customer(client, tenant, seed_customer())
    upsert_customer(client, other, seed_customer())
    client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers)
    assert fetch_customer(client, other, NUMBER) == SEED_DOCUMENT
    assert NUMBER in history_text(database, other.instance_id)


def test_deleted_customer_can_be_created_again(client: TestClient, tenant: Tenant) -> None:
    upsert_customer(client, tenant, seed_customer())
    client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers)
    assert upsert_customer(client, tenant, seed_customer())["result"] == "created"
    assert fetch_customer(client, tenant, NUMBER) == SEED_DOCUMENT


def test_delete_with_a_trimmed_number(client: TestClient, tenant: Tenant) -> None:
    upsert_customer(client, tenant, {"Number": "4711"})
    response = client.delete("/api/import/test/customer/%204711%20", headers=tenant.headers)
    assert response.status_code == 200
    problem(client.get(customer_get_url("4711"), headers=tenant.headers), 404)


@pytest.mark.parametrize("path", ["%00", "4711%00", "%ED%A0%80"])
def test_path_numbers_a_database_cannot_hold_are_404(
    client: TestClient, tenant: Tenant, path: str
) -> None:
    upsert_customer(client, tenant, {"Number": "4711"})
    problem(client.get(customer_get_url(path), headers=tenant.headers), 404)
    problem(client.get(f"/api/customer/{path}", headers=tenant.headers), 404)
    problem(client.delete(f"/api/import/test/customer/{path}", headers=tenant.headers), 404)


def test_plants_of_a_deleted_customer_accept_the_next_customer(
    client: TestClient, tenant: Tenant
) -> None:
    mpid = make_mpid(12)
    upsert_customer(client, tenant, seed_customer())
    upsert_plant(client, tenant, minimal_plant(mpid, customerId=NUMBER))
    client.delete(f"/api/import/test/customer/{NUMBER}", headers=tenant.headers)
    new = make_orgnr(1234567)
    upsert_customer(client, tenant, {"Number": new, "LastName": "Firma AS"})
    response = upsert_plant(client, tenant, minimal_plant(mpid, customerId=new))
    assert response["result"] == "updated"
    assert response["data"]["customerId"] == new
    assert response["warnings"] == []


# --- strictValidation -----------------------------------------------------------------------


def test_strict_instance_turns_plausibility_warnings_into_errors(
    client: TestClient, database: Database
) -> None:
    strict = make_tenant(database, "strict-test", "test", strict=True)
    response = post(client, strict, customer_url(), seed_customer())
    assert error_codes(response) == {("Number", "checksum"), ("OrganizationNumber", "checksum")}
    problem(client.get(customer_get_url(NUMBER), headers=strict.headers), 404)


def test_strict_instance_keeps_unknown_fields_as_warnings(
    client: TestClient, database: Database
) -> None:
    strict = make_tenant(database, "strict-test", "test", strict=True)
    body = {"Number": make_fnr(), "FirstName": "Ola", "Nickname": "Olemann"}
    response = upsert_customer(client, strict, body)
    assert response["result"] == "created"
    assert issue_codes(response["warnings"]) == {("Nickname", "unknown_field")}


def test_strict_instance_reports_structural_and_plausibility_errors_together(
    client: TestClient, database: Database
) -> None:
    strict = make_tenant(database, "strict-test", "test", strict=True)
    body = {"Number": make_fnr(), "Email": "nope", "Phone": "12"}
    assert error_codes(post(client, strict, customer_url(), body)) == {
        ("Email", "format"),
        ("Phone", "format"),
    }


def test_strictness_is_per_instance(client: TestClient, database: Database, tenant: Tenant) -> None:
    make_tenant(database, "strict-test", "test", strict=True)
    assert upsert_customer(client, tenant, seed_customer())["result"] == "created"


def test_customers_are_per_instance(
    client: TestClient, tenant: Tenant, prod_tenant: Tenant
) -> None:
    upsert_customer(client, tenant, seed_customer(FirstName="Test"))
    assert upsert_customer(client, prod_tenant, seed_customer())["result"] == "created"
    assert fetch_customer(client, tenant, NUMBER)["FirstName"] == "Test"
    assert fetch_customer(client, prod_tenant, NUMBER)["FirstName"] == "Ola"
    problem(client.get(plant_get_url(make_mpid(1), "prod"), headers=prod_tenant.headers), 404)


def test_synthetic_numbers_are_expected_in_test_but_flagged_in_prod(
    client: TestClient, tenant: Tenant, prod_tenant: Tenant
) -> None:
    """DOMAIN.md §12 row 8: Tenor test numbers are normal in a test instance."""
    tenor = "10915596784"
    body = {"Number": tenor, "LastName": "Testesen"}
    in_test = client.post("/api/import/test/customer", json=body, headers=tenant.headers)
    in_prod = client.post("/api/import/prod/customer", json=body, headers=prod_tenant.headers)
    assert in_test.status_code == 200
    assert in_prod.status_code == 200
    assert [w["code"] for w in in_test.json()["warnings"]] == []
    assert [w["code"] for w in in_prod.json()["warnings"]] == ["synthetic_number"]
