"""SPEC §2, §5 and §10: plants upserted by meteringPointId, read in import format."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    PLANT_FIELDS,
    error_codes,
    fetch_plant,
    history,
    issue_codes,
    make_mpid,
    minimal_plant,
    plant_get_url,
    plant_url,
    post,
    problem,
    seed_plant,
    upsert_customer,
    upsert_plant,
)
from tilsyn.contract.plants.schemas import SEED_PLANT_EXAMPLE
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database

SEED_MPID = "707057500026392734"
MPID = make_mpid(21)
SEED_WARNINGS = {
    ("meteringPointId", "checksum"),
    ("status", "status_corrected"),
    ("buildingCode", "unknown_code"),
    ("technicalData.earthingSystem", "unknown_code"),
    ("connectionPoint.location", "coordinates_swapped"),
    ("connectionPoint.transformer.location", "coordinates_swapped"),
    ("connectionPoint.transformer.netStation.location", "coordinates_swapped"),
    ("customerId", "customer_not_found"),
}
ADDRESS_FIELDS = (
    "addressText",
    "postalCode",
    "postalPlace",
    "municipalityNumber",
    "floor",
    "apartmentNumber",
    "holdingNumber",
    "subHoldingNumber",
    "leaseNumber",
    "sectionNumber",
    "residentialNumber",
)
METER_FIELDS = ("meterNumber", "supplier", "modell")
TECHNICAL_FIELDS = (
    "mainCircuitBreakerCurrent",
    "mainCircuitBreakerPhase",
    "mainCircuitBreakerAmps",
    "mainCircuitBreakerVoltage",
    "overLoadAmps",
    "overLoadPhase",
    "shortCircuitProtectionAmps",
    "shortCircuitProtectionPhase",
    "IO",
    "earthingSystem",
    "connectionType",
)
AUDIT_FIELDS = ("plantType", "inspectionArea", "riskCategoryGroup", "inspectionRate")
# What the default rules derive for minimal_plant's consumption code 23 with næringskode
# 55.102: the rule 'overnatting' (prefix 55); no default rule gives inspectionArea.
DERIVED_AUDIT = {
    "plantType": "Overnattingsvirksomhet",
    "inspectionArea": None,
    "riskCategoryGroup": 4,
    "inspectionRate": 5,
    "source": {
        "plantType": "rule:overnatting",
        "inspectionArea": None,
        "riskCategoryGroup": "rule:overnatting",
        "inspectionRate": "rule:overnatting",
    },
}


def test_seed_example_is_accepted_with_its_warnings(client: TestClient, tenant: Tenant) -> None:
    response = upsert_plant(client, tenant, seed_plant())
    assert response["result"] == "created"
    assert issue_codes(response["warnings"]) == SEED_WARNINGS
    data = response["data"]
    assert data["meteringPointId"] == SEED_MPID
    assert data["status"] == "Spenningsatt"
    assert data["consumptionCode"] == 23
    assert data["buildingCode"] == 114
    assert data["description"] == "New description"
    assert data["address"]["postalCode"] == "0485"
    assert data["technicalData"]["IO"] == 0
    assert data["builtByElCompanyId"] == 12345
    assert data["location"] == {"latitude": 59.911491, "longitude": 10.757933}
    assert data["customerId"] == "1234567"
    assert data["customerChangeFrom"] == "2020-01-01"
    assert data["connectedDate"] == "1989-01-01"
    assert data["connectionPoint"]["transformer"]["netStation"]["name"] == "Gamlevn.79"
    assert data["extensions"] == []


def test_upsert_twice_is_unchanged(client: TestClient, database: Database, tenant: Tenant) -> None:
    first = upsert_plant(client, tenant, seed_plant())
    rows = len(history(database, tenant.instance_id))
    second = upsert_plant(client, tenant, seed_plant())
    assert second["result"] == "unchanged"
    assert second["data"] == first["data"]
    assert issue_codes(second["warnings"]) == SEED_WARNINGS
    assert len(history(database, tenant.instance_id)) == rows


def test_get_equals_the_upsert_data(client: TestClient, tenant: Tenant) -> None:
    for body in (seed_plant(), minimal_plant(MPID), seed_plant(description="changed")):
        response = upsert_plant(client, tenant, body)
        assert fetch_plant(client, tenant, response["data"]["meteringPointId"]) == response["data"]


def test_get_shape_is_stable_for_an_empty_plant(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    plant = fetch_plant(client, tenant, MPID)
    assert set(plant) == set(PLANT_FIELDS)
    assert plant == dict.fromkeys(PLANT_FIELDS) | {
        "meteringPointId": MPID,
        "consumptionCode": 23,
        "industrialClassification": "55.102",
        "address": dict.fromkeys(ADDRESS_FIELDS),
        "meter": dict.fromkeys(METER_FIELDS),
        "technicalData": dict.fromkeys(TECHNICAL_FIELDS),
        "location": {"latitude": None, "longitude": None},
        "auditSpecificInfo": DERIVED_AUDIT,
        "extensions": [],
    }


def test_get_shape_types(client: TestClient, tenant: Tenant) -> None:
    body = seed_plant(
        buildingCode="111",
        builtByElCompanyId="12345",
        address={**SEED_PLANT_EXAMPLE["address"], "holdingNumber": "35", "sectionNumber": 5.0},
        technicalData={"IO": "0", "mainCircuitBreakerAmps": 80.0},
        auditSpecificInfo={"plantType": 7, "inspectionArea": "63", "riskCategoryGroup": 3.0},
    )
    plant = upsert_plant(client, tenant, body)["data"]
    for value in (
        plant["buildingCode"],
        plant["builtByElCompanyId"],
        plant["address"]["holdingNumber"],
        plant["address"]["sectionNumber"],
        plant["technicalData"]["IO"],
        plant["technicalData"]["mainCircuitBreakerAmps"],
        plant["auditSpecificInfo"]["inspectionArea"],
        plant["auditSpecificInfo"]["riskCategoryGroup"],
        plant["consumptionCode"],
    ):
        assert type(value) is int
    assert plant["auditSpecificInfo"]["plantType"] == "7"
    assert plant["address"]["postalCode"] == "0485"
    assert isinstance(plant["location"]["latitude"], float)
    assert plant["connectedDate"] == "1989-01-01"
    assert plant["customerChangeFrom"] == "2020-01-01"


@pytest.mark.parametrize(
    ("sent", "returned"),
    [(23, 23), ("23", 23), ("1", 1), ("1a", "1a"), ("1A", "1a"), ("29a", "29a"), (36, 36)],
)
def test_consumption_code_is_a_number_where_numeric(
    client: TestClient, tenant: Tenant, sent: Any, returned: Any
) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, consumptionCode=sent))
    assert response["data"]["consumptionCode"] == returned
    assert type(response["data"]["consumptionCode"]) is type(returned)
    assert response["warnings"] == []
    assert fetch_plant(client, tenant, MPID)["consumptionCode"] == returned


@pytest.mark.parametrize(("sent", "returned"), [(99, 99), ("37", 37), ("2b", "2b"), (0, 0)])
def test_unknown_consumption_code_is_a_warning(
    client: TestClient, tenant: Tenant, sent: Any, returned: Any
) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, consumptionCode=sent))
    assert issue_codes(response["warnings"]) == {("consumptionCode", "unknown_code")}
    assert response["data"]["consumptionCode"] == returned


def test_required_fields_missing_are_all_listed(client: TestClient, tenant: Tenant) -> None:
    codes = error_codes(post(client, tenant, plant_url(), {"description": "x"}))
    assert codes == {
        ("meteringPointId", "missing"),
        ("consumptionCode", "missing"),
        ("industrialClassification", "missing"),
    }


@pytest.mark.parametrize("value", [None, "", "   "])
def test_required_fields_null_or_blank_are_missing(
    client: TestClient, tenant: Tenant, value: Any
) -> None:
    body = {"meteringPointId": MPID, "consumptionCode": value, "industrialClassification": value}
    assert error_codes(post(client, tenant, plant_url(), body)) == {
        ("consumptionCode", "missing"),
        ("industrialClassification", "missing"),
    }


@pytest.mark.parametrize(
    "mpid",
    [
        "70705750002639273",
        "7070575000263927391",
        "70705750002639273a",
        "７０７057500026392739",  # full-width digits
        "",
        707057500026392,
        "-70705750002639273",
    ],
)
def test_metering_point_id_must_be_18_digits(client: TestClient, tenant: Tenant, mpid: Any) -> None:
    codes = error_codes(post(client, tenant, plant_url(), minimal_plant(mpid)))
    assert codes == {("meteringPointId", "metering_point_id_format")}


@pytest.mark.parametrize("mpid", [True, [MPID], {"id": MPID}])
def test_metering_point_id_of_another_type_is_400(
    client: TestClient, tenant: Tenant, mpid: Any
) -> None:
    codes = error_codes(post(client, tenant, plant_url(), minimal_plant(mpid)))
    assert codes == {("meteringPointId", "string_type")}


def test_integer_metering_point_id_is_accepted(client: TestClient, tenant: Tenant) -> None:
    response = upsert_plant(client, tenant, minimal_plant(int(MPID)))
    assert response["data"]["meteringPointId"] == MPID
    assert upsert_plant(client, tenant, minimal_plant(MPID))["result"] == "unchanged"


def test_metering_point_id_with_spaces_is_compacted(client: TestClient, tenant: Tenant) -> None:
    spaced = " ".join(MPID[i : i + 6] for i in range(0, 18, 6))
    assert upsert_plant(client, tenant, minimal_plant(spaced))["data"]["meteringPointId"] == MPID


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Spenningsatt", "Spenningsatt"),
        ("spenningsatt", "Spenningsatt"),
        ("INAKTIVT", "Inaktivt"),
        (" terminert ", "Terminert"),
        ("TeRmInErT", "Terminert"),
    ],
)
def test_status_is_case_insensitive(
    client: TestClient, tenant: Tenant, sent: str, stored: str
) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, status=sent))
    assert response["data"]["status"] == stored
    assert response["warnings"] == []


@pytest.mark.parametrize("sent", ["Spennnigsatt", "Spenningssatt", "SPENNINGSSATT"])
def test_known_status_misspellings_are_corrected(
    client: TestClient, tenant: Tenant, sent: str
) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, status=sent))
    assert response["data"]["status"] == "Spenningsatt"
    assert issue_codes(response["warnings"]) == {("status", "status_corrected")}


@pytest.mark.parametrize("sent", ["Aktiv", "Spenning", "Terminated", "1", 1])
def test_unknown_status_is_400_naming_the_valid_values(
    client: TestClient, tenant: Tenant, sent: Any
) -> None:
    errors = problem(post(client, tenant, plant_url(), minimal_plant(MPID, status=sent)), 400)[
        "errors"
    ]
    assert [(e["field"], e["code"]) for e in errors] == [("status", "invalid_status")]
    for name in ("Spenningsatt", "Inaktivt", "Terminert"):
        assert name in errors[0]["message"]
    problem(client.get(plant_get_url(MPID), headers=tenant.headers), 404)


def test_blank_status_clears_it(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, status="Inaktivt"))
    assert upsert_plant(client, tenant, minimal_plant(MPID, status=""))["data"]["status"] is None


# --- connectedDate --------------------------------------------------------------------------


def test_connected_date_later_is_kept_with_a_warning(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="1989-01-01"))
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="1999-05-05"))
    assert response["result"] == "unchanged"
    assert response["data"]["connectedDate"] == "1989-01-01"
    warnings = [w for w in response["warnings"] if w["code"] == "connected_date_kept"]
    assert [w["field"] for w in warnings] == ["connectedDate"]
    assert "1989-01-01" in warnings[0]["message"]
    assert fetch_plant(client, tenant, MPID)["connectedDate"] == "1989-01-01"


@pytest.mark.parametrize("absent", [{}, {"connectedDate": None}])
def test_connected_date_absent_is_kept_silently(
    client: TestClient, tenant: Tenant, absent: dict[str, Any]
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="1989-01-01"))
    response = upsert_plant(client, tenant, minimal_plant(MPID, **absent))
    assert response["result"] == "unchanged"
    assert response["warnings"] == []
    assert response["data"]["connectedDate"] == "1989-01-01"


def test_connected_date_earlier_is_accepted(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="1989-01-01"))
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="1975-06-30"))
    assert response["result"] == "updated"
    assert response["warnings"] == []
    assert fetch_plant(client, tenant, MPID)["connectedDate"] == "1975-06-30"


def test_connected_date_can_be_set_later_on(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="2001-02-03"))
    assert response["result"] == "updated"
    assert response["data"]["connectedDate"] == "2001-02-03"


def test_connected_date_kept_while_other_fields_change(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectedDate="1989-01-01"))
    response = upsert_plant(
        client, tenant, minimal_plant(MPID, connectedDate="2010-01-01", description="new")
    )
    assert response["result"] == "updated"
    assert response["data"]["description"] == "new"
    assert response["data"]["connectedDate"] == "1989-01-01"
    assert ("connectedDate", "connected_date_kept") in issue_codes(response["warnings"])


# --- builtByElCompanyId and auditSpecificInfo -----------------------------------------------


def test_built_by_is_kept_when_absent(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, builtByElCompanyId=12345))
    for body in (minimal_plant(MPID), minimal_plant(MPID, builtByElCompanyId=None)):
        response = upsert_plant(client, tenant, body)
        assert response["result"] == "unchanged"
        assert response["data"]["builtByElCompanyId"] == 12345
    changed = upsert_plant(client, tenant, minimal_plant(MPID, builtByElCompanyId=777))
    assert changed["result"] == "updated"
    assert fetch_plant(client, tenant, MPID)["builtByElCompanyId"] == 777


def test_built_by_set_through_builtby_is_kept_by_a_plant_upsert(
    client: TestClient, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    builtby = {"meteringPointId": MPID, "builtByElCompanyId": 4242}
    assert post(client, tenant, "/api/import/test/plant/builtby", builtby).status_code == 200
    response = upsert_plant(client, tenant, minimal_plant(MPID))
    assert response["result"] == "unchanged"
    assert response["data"]["builtByElCompanyId"] == 4242


def test_audit_specific_info_explicit_values(client: TestClient, tenant: Tenant) -> None:
    body = minimal_plant(
        MPID, auditSpecificInfo={"plantType": "Bolighus/leiligheter", "inspectionRate": 20}
    )
    audit = upsert_plant(client, tenant, body)["data"]["auditSpecificInfo"]
    assert audit == {
        "plantType": "Bolighus/leiligheter",
        "inspectionArea": None,
        "riskCategoryGroup": 4,
        "inspectionRate": 20,
        "source": {
            "plantType": "explicit",
            "inspectionArea": None,
            "riskCategoryGroup": "rule:overnatting",
            "inspectionRate": "explicit",
        },
    }
    assert fetch_plant(client, tenant, MPID)["auditSpecificInfo"] == audit


def test_audit_specific_info_all_four(client: TestClient, tenant: Tenant) -> None:
    values = {
        "plantType": "Bolighus",
        "inspectionArea": 63,
        "riskCategoryGroup": 3,
        "inspectionRate": 20,
    }
    audit = upsert_plant(client, tenant, minimal_plant(MPID, auditSpecificInfo=values))["data"][
        "auditSpecificInfo"
    ]
    assert audit == values | {"source": dict.fromkeys(AUDIT_FIELDS, "explicit")}


def test_audit_specific_info_absent_clears_explicit_values(
    client: TestClient, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, auditSpecificInfo={"inspectionArea": 63}))
    response = upsert_plant(client, tenant, minimal_plant(MPID))
    assert response["result"] == "updated"
    assert response["data"]["auditSpecificInfo"] == DERIVED_AUDIT


# --- location -------------------------------------------------------------------------------

POSITION = {"latitude": 59.911491, "longitude": 10.757933}


@pytest.mark.parametrize(
    "fields",
    [
        {"location": {"latitude": 59.911491, "longitude": 10.757933}},
        {"location": {"coordinates": {"latitude": 59.911491, "longitude": 10.757933}}},
        {"location": {"Coordinates": {"Latitude": 59.911491, "Longitude": 10.757933}}},
        {"coordinates": {"lat": 59.911491, "long": 10.757933}},
        {"Coordinates": {"LAT": "59.911491", "Long": "10.757933"}},
        {"location": {"coordinates": {"lat": 59.911491, "long": 10.757933}}},
    ],
    ids=["location", "location.coordinates", "recased", "legacy", "legacy-strings", "mixed"],
)
def test_location_forms_are_stored_the_same(
    client: TestClient, tenant: Tenant, fields: dict[str, Any]
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, location=POSITION))
    response = upsert_plant(client, tenant, minimal_plant(MPID, **fields))
    assert response["result"] == "unchanged"
    assert response["warnings"] == []
    assert fetch_plant(client, tenant, MPID)["location"] == POSITION


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        (
            {"location": {"latitude": 90.0001, "longitude": 10}},
            "location.latitude",
            "less_than_equal",
        ),
        (
            {"location": {"latitude": -91, "longitude": 10}},
            "location.latitude",
            "greater_than_equal",
        ),
        (
            {"location": {"latitude": 59, "longitude": 180.5}},
            "location.longitude",
            "less_than_equal",
        ),
        ({"coordinates": {"lat": 95, "long": 10}}, "coordinates.lat", "less_than_equal"),
        (
            {"location": {"coordinates": {"latitude": 59, "longitude": -181}}},
            "location.coordinates.longitude",
            "greater_than_equal",
        ),
        ({"location": {"latitude": "north", "longitude": 10}}, "location.latitude", "float_type"),
    ],
)
def test_coordinates_out_of_range_are_400(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], field: str, code: str
) -> None:
    assert error_codes(post(client, tenant, plant_url(), minimal_plant(MPID, **fields))) == {
        (field, code)
    }


def test_coordinates_at_the_limits_are_accepted(client: TestClient, tenant: Tenant) -> None:
    body = minimal_plant(MPID, location={"latitude": -90, "longitude": 180})
    response = upsert_plant(client, tenant, body)
    assert response["data"]["location"] == {"latitude": -90.0, "longitude": 180.0}
    assert issue_codes(response["warnings"]) == {("location", "outside_norway")}


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        ({"location": {"latitude": 52.52, "longitude": 13.40}}, ("location", "outside_norway")),
        (
            {"location": {"latitude": 10.757933, "longitude": 59.911491}},
            ("location", "coordinates_swapped"),
        ),
        ({"coordinates": {"lat": 0, "long": 0}}, ("coordinates", "outside_norway")),
        (
            {"location": {"coordinates": {"latitude": 10.75, "longitude": 59.91}}},
            ("location.coordinates", "coordinates_swapped"),
        ),
    ],
)
def test_implausible_coordinates_are_stored_with_a_warning(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], warning: tuple[str, str]
) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, **fields))
    assert issue_codes(response["warnings"]) == {warning}
    assert response["data"]["location"]["latitude"] is not None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"location": {"latitude": 59.9}}, "location.longitude"),
        ({"location": {"longitude": 10.7}}, "location.latitude"),
        ({"coordinates": {"lat": 59.9}}, "coordinates.longitude"),
    ],
)
def test_half_a_position_is_400(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], field: str
) -> None:
    assert error_codes(post(client, tenant, plant_url(), minimal_plant(MPID, **fields))) == {
        (field, "missing")
    }


# --- replacement ----------------------------------------------------------------------------


def test_absent_fields_are_cleared(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, seed_plant(meteringPointId=MPID))
    response = upsert_plant(client, tenant, minimal_plant(MPID))
    assert response["result"] == "updated"
    data = response["data"]
    for name in ("plantId", "searchCategory", "buildingCode", "status", "description"):
        assert data[name] is None, name
    assert data["externalPlantNumber"] is None
    assert data["address"] == dict.fromkeys(ADDRESS_FIELDS)
    assert data["meter"] == dict.fromkeys(METER_FIELDS)
    assert data["technicalData"] == dict.fromkeys(TECHNICAL_FIELDS)
    assert data["location"] == {"latitude": None, "longitude": None}
    assert data["connectionPoint"] is None
    assert data["customerId"] is None
    # The protected fields stay.
    assert data["connectedDate"] == "1989-01-01"
    assert data["builtByElCompanyId"] == 12345
    assert fetch_plant(client, tenant, MPID) == data


def test_null_fields_are_cleared(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, seed_plant(meteringPointId=MPID))
    body = seed_plant(meteringPointId=MPID, description=None, meter=None, address={"floor": "2"})
    data = upsert_plant(client, tenant, body)["data"]
    assert data["description"] is None
    assert data["meter"] == dict.fromkeys(METER_FIELDS)
    assert data["address"] == dict.fromkeys(ADDRESS_FIELDS) | {"floor": "2"}
    assert data["plantId"] == "123456"


def test_history_of_a_plant(client: TestClient, database: Database, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, description="one"))
    upsert_plant(client, tenant, minimal_plant(MPID, description="one"))
    upsert_plant(client, tenant, minimal_plant(MPID, description="two"))
    rows = [r for r in history(database, tenant.instance_id) if r.entity_type == "plant"]
    assert [(r.entity_key, r.operation) for r in rows] == [(MPID, "create"), (MPID, "update")]
    assert rows[1].diff == {"description": ["one", "two"]}


def test_delete_plant(client: TestClient, database: Database, tenant: Tenant) -> None:
    upsert_plant(client, tenant, seed_plant(meteringPointId=MPID))
    response = client.delete(f"/api/import/test/plant/{MPID}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {"result": "deleted"}
    problem(client.get(plant_get_url(MPID), headers=tenant.headers), 404)
    problem(client.delete(f"/api/import/test/plant/{MPID}", headers=tenant.headers), 404)
    operations = [
        r.operation for r in history(database, tenant.instance_id) if r.entity_key == MPID
    ]
    assert operations[-1] == "delete"
    assert upsert_plant(client, tenant, minimal_plant(MPID))["result"] == "created"
    assert fetch_plant(client, tenant, MPID)["connectedDate"] is None


@pytest.mark.parametrize("path", ["%00", MPID + "%00", "%ED%A0%80", "x" * 300])
def test_path_ids_a_database_cannot_hold_are_404(
    client: TestClient, tenant: Tenant, path: str
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    problem(client.get(plant_get_url(path), headers=tenant.headers), 404)
    problem(client.get(f"/api/plant/{path}", headers=tenant.headers), 404)
    problem(client.delete(f"/api/import/test/plant/{path}", headers=tenant.headers), 404)


def test_unknown_plant_is_404(client: TestClient, tenant: Tenant) -> None:
    problem(client.get(plant_get_url(MPID), headers=tenant.headers), 404)


def test_plants_are_per_instance(client: TestClient, tenant: Tenant, prod_tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, description="test"))
    response = upsert_plant(client, prod_tenant, minimal_plant(MPID, description="prod"))
    assert response["result"] == "created"
    assert fetch_plant(client, tenant, MPID)["description"] == "test"
    assert fetch_plant(client, prod_tenant, MPID)["description"] == "prod"


def test_customer_not_found_warning_goes_once_the_customer_exists(
    client: TestClient, tenant: Tenant
) -> None:
    first = upsert_plant(client, tenant, minimal_plant(MPID, customerId="4711"))
    assert issue_codes(first["warnings"]) == {("customerId", "customer_not_found")}
    upsert_customer(client, tenant, {"Number": "4711"})
    second = upsert_plant(client, tenant, minimal_plant(MPID, customerId="4711"))
    assert second["result"] == "unchanged"
    assert second["warnings"] == []


# --- strictValidation -----------------------------------------------------------------------


def test_strict_instance_rejects_the_seed_example(client: TestClient, database: Database) -> None:
    strict = make_tenant(database, "strict-test", "test", strict=True)
    response = post(client, strict, plant_url(), seed_plant())
    assert error_codes(response) == {
        ("meteringPointId", "checksum"),
        ("buildingCode", "unknown_code"),
        ("technicalData.earthingSystem", "unknown_code"),
        ("connectionPoint.location", "coordinates_swapped"),
        ("connectionPoint.transformer.location", "coordinates_swapped"),
        ("connectionPoint.transformer.netStation.location", "coordinates_swapped"),
    }
    assert issue_codes(response.json()["warnings"]) == {("status", "status_corrected")}
    problem(client.get(plant_get_url(SEED_MPID), headers=strict.headers), 404)


def test_strict_instance_accepts_a_plausible_plant_with_notices(
    client: TestClient, database: Database
) -> None:
    strict = make_tenant(database, "strict-test", "test", strict=True)
    upsert_plant(client, strict, minimal_plant(MPID, connectedDate="1989-01-01"))
    body = minimal_plant(
        MPID, status="Spennnigsatt", customerId="4711", connectedDate="2000-01-01", descripton="x"
    )
    response = upsert_plant(client, strict, body)
    assert issue_codes(response["warnings"]) == {
        ("status", "status_corrected"),
        ("customerId", "customer_not_found"),
        ("connectedDate", "connected_date_kept"),
        ("descripton", "unknown_field"),
    }


def test_today_is_the_default_customer_change_date(client: TestClient, tenant: Tenant) -> None:
    data = upsert_plant(client, tenant, minimal_plant(MPID, customerId="4711"))["data"]
    assert data["customerChangeFrom"] == today_in_oslo().isoformat()
