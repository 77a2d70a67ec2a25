"""SPEC §3 and §10: strict JSON, case-insensitive names, coercions, limits, every problem named."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.seed_api import (
    customer_url,
    error_codes,
    fetch_customer,
    fetch_plant,
    issue_codes,
    make_mpid,
    minimal_plant,
    plant_url,
    post,
    post_raw,
    problem,
    seed_customer,
    seed_plant,
    upsert_customer,
    upsert_plant,
)
from tilsyn.contract.customers.schemas import SEED_CUSTOMER_EXAMPLE
from tilsyn.contract.plants.schemas import SEED_PLANT_EXAMPLE

MPID = make_mpid(7)
MIB = 1024 * 1024
HTTP_EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- JSON syntax, shape and limits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "line", "column"),
    [
        (b'{\n  "meteringPointId": "1",\n}', 3, 1),  # trailing comma, as in the seed
        (b'{\n  "a": 1\n  "b": 2\n}', 3, 3),  # missing comma, as in the seed
        (b'{"address": {"postalCode": 0485}}', 1, 29),  # leading zero, as in the seed
        (b'{"a": tru}', 1, 7),
        (b'{"a": "unterminated}', 1, 7),
    ],
)
def test_syntax_error_names_line_and_column(
    client: TestClient, tenant: Tenant, raw: bytes, line: int, column: int
) -> None:
    body = problem(post_raw(client, tenant, plant_url(), raw), 400)
    assert f"line {line}, column {column}" in body["detail"]


def test_syntax_error_in_customer_body(client: TestClient, tenant: Tenant) -> None:
    raw = json.dumps(SEED_CUSTOMER_EXAMPLE, indent=2).replace('"SE"', '"SE",').encode()
    body = problem(post_raw(client, tenant, customer_url(), raw), 400)
    assert "line 10, column 3" in body["detail"]


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"text"', b"42", b"null", b"true"])
@pytest.mark.parametrize("url", [plant_url(), customer_url(), "/api/import/test/plant/builtby"])
def test_body_must_be_an_object(client: TestClient, tenant: Tenant, raw: bytes, url: str) -> None:
    body = problem(post_raw(client, tenant, url, raw), 400)
    assert "JSON object" in body["detail"]


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n\r\n"])
def test_empty_body(client: TestClient, tenant: Tenant, raw: bytes) -> None:
    body = problem(post_raw(client, tenant, plant_url(), raw), 400)
    assert "empty" in body["detail"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client: TestClient, tenant: Tenant, constant: str) -> None:
    raw = f'{{"meteringPointId": "{MPID}", "consumptionCode": 1, '
    raw += f'"industrialClassification": "55.102", "location": {{"latitude": {constant}}}}}'
    body = problem(post_raw(client, tenant, plant_url(), raw.encode()), 400)
    assert constant.lstrip("-") in body["detail"]


def test_a_number_that_overflows_a_float_is_400(client: TestClient, tenant: Tenant) -> None:
    raw = json.dumps(minimal_plant(MPID, buildingCode="X", location={"latitude": "Y"}))
    raw = raw.replace('"X"', "1e400").replace('"Y"', "-1e999")
    codes = error_codes(post_raw(client, tenant, plant_url(), raw.encode()))
    assert codes == {("buildingCode", "int_type"), ("location.latitude", "float_type")}


def test_integer_too_large_for_a_float_is_400(client: TestClient, tenant: Tenant) -> None:
    body = minimal_plant(MPID, location={"latitude": 10**400, "longitude": 10})
    codes = error_codes(post(client, tenant, plant_url(), body))
    assert ("location.latitude", "float_type") in codes


def test_integer_with_too_many_digits_is_400(client: TestClient, tenant: Tenant) -> None:
    raw = b'{"buildingCode": ' + b"1" * 5000 + b"}"
    body = problem(post_raw(client, tenant, plant_url(), raw), 400)
    assert "too many digits" in body["detail"]
    assert "sys." not in body["detail"]


def test_body_that_is_not_utf8(client: TestClient, tenant: Tenant) -> None:
    body = problem(post_raw(client, tenant, plant_url(), b'{"description": "\xff"}'), 400)
    assert "UTF-8" in body["detail"]


def test_utf8_bom_is_accepted(client: TestClient, tenant: Tenant) -> None:
    raw = b"\xef\xbb\xbf" + json.dumps(minimal_plant(MPID)).encode()
    assert post_raw(client, tenant, plant_url(), raw).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b'{"description": "\\ud800"}',
        b'{"description": "a\\udfffb"}',
        b'{"meter": {"\\udc00": 1}}',
        b'{"x": ["\\ud83d"]}',
    ],
)
def test_unpaired_surrogate_escapes_are_400(client: TestClient, tenant: Tenant, raw: bytes) -> None:
    for url in (plant_url(), customer_url()):
        body = problem(post_raw(client, tenant, url, raw), 400)
        assert "surrogate" in body["detail"]


def test_paired_surrogate_escapes_are_text(client: TestClient, tenant: Tenant) -> None:
    raw = json.dumps(minimal_plant(MPID, description="plug \U0001f50c")).encode()
    assert b"\\ud83d\\udd0c" in raw
    data = upsert_plant(client, tenant, json.loads(raw))["data"]
    assert data["description"] == "plug \U0001f50c"
    assert post_raw(client, tenant, plant_url(), raw).json()["result"] == "unchanged"


def test_nul_in_a_stored_string_is_400(client: TestClient, tenant: Tenant) -> None:
    body = minimal_plant(MPID, description="a\x00b")
    assert ("description", "string_nul") in error_codes(post(client, tenant, plant_url(), body))


def _nested(depth: int) -> bytes:
    """A plant body whose deepest value sits ``depth`` levels down (the body is level 1)."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return json.dumps(minimal_plant(MPID, deep="__INNER__")).replace('"__INNER__"', inner).encode()


def test_nesting_of_64_levels_is_accepted(client: TestClient, tenant: Tenant) -> None:
    response = post_raw(client, tenant, plant_url(), _nested(64))
    assert response.status_code == 200, response.text
    assert ("deep", "unknown_field") in issue_codes(response.json()["warnings"])


@pytest.mark.parametrize("depth", [65, 100, 100_000])
def test_nesting_deeper_than_64_levels_is_400(
    client: TestClient, tenant: Tenant, depth: int
) -> None:
    body = problem(post_raw(client, tenant, plant_url(), _nested(depth)), 400)
    assert "64" in body["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting(
    client: TestClient, tenant: Tenant
) -> None:
    body = minimal_plant(MPID, description='[{"[' * 200 + '\\"')
    assert upsert_plant(client, tenant, body)["data"]["description"] == body["description"]


def test_string_of_10000_characters_is_accepted(client: TestClient, tenant: Tenant) -> None:
    text = "x" * 10_000
    data = upsert_plant(client, tenant, minimal_plant(MPID, description=text))["data"]
    assert data["description"] == text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (minimal_plant(MPID, description="x" * 10_001), "description"),
        (minimal_plant(MPID, address={"addressText": "x" * 10_001}), "address.addressText"),
        (minimal_plant(MPID, meter={"Modell": "x" * 20_000}), "meter.modell"),
        (minimal_plant(MPID, notAField={"inner": ["x" * 10_001]}), "notAField.inner[0]"),
        (
            minimal_plant(
                MPID, connectionPoint={"name": "cp", "address": {"addressText": "x" * 10_001}}
            ),
            "connectionPoint.address.addressText",
        ),
    ],
)
def test_string_over_10000_characters_is_400_naming_the_field(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    errors = problem(post(client, tenant, plant_url(), body), 400)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, "string_too_long")]


def test_long_customer_string_is_400_naming_the_field(client: TestClient, tenant: Tenant) -> None:
    body = seed_customer(Address={"addressText": "x" * 10_001})
    codes = error_codes(post(client, tenant, customer_url(), body))
    assert codes == {("Address.AddressText", "string_too_long")}


@pytest.mark.parametrize(
    ("body", "field", "limit"),
    [
        ({"consumptionCode": "1" * 21}, "consumptionCode", 20),
        ({"industrialClassification": "5" * 41}, "industrialClassification", 40),
        ({"customerId": "1" * 65}, "customerId", 64),
        ({"connectionPoint": {"name": "c" * 201}}, "connectionPoint.name", 200),
        (
            {"connectionPoint": {"name": "c", "transformer": {"name": "t" * 201}}},
            "connectionPoint.transformer.name",
            200,
        ),
        ({"netStation": {"name": "n" * 201}}, "netStation.name", 200),
        (
            {"connectionPoint": {"name": "c", "address": {"postalCode": "1" * 21}}},
            "connectionPoint.address.postalCode",
            20,
        ),
    ],
)
def test_values_longer_than_their_column_are_400(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str, limit: int
) -> None:
    """PostgreSQL refuses them; they must be a 400 on both databases, never a 500."""
    errors = problem(post(client, tenant, plant_url(), minimal_plant(MPID, **body)), 400)["errors"]
    assert [(e["field"], e["code"], e["message"]) for e in errors] == [
        (field, "string_too_long", f"is longer than {limit} characters")
    ]


def test_customer_number_longer_than_its_column_is_400(client: TestClient, tenant: Tenant) -> None:
    codes = error_codes(post(client, tenant, customer_url(), {"Number": "1" * 65}))
    assert codes == {("Number", "string_too_long")}
    assert upsert_customer(client, tenant, {"Number": "1" * 64})["result"] == "created"


def test_body_over_10_mib_is_413(client: TestClient, tenant: Tenant) -> None:
    body = json.dumps(minimal_plant(MPID, description="")).encode()
    padding = 10 * MIB - len(body) + 1
    raw = body[:-1] + b', "pad": "' + b" " * padding + b'"}'
    assert len(raw) > 10 * MIB
    problem(post_raw(client, tenant, plant_url(), raw), 413)
    problem(post_raw(client, tenant, customer_url(), raw), 413)


def test_body_of_10_mib_is_read(client: TestClient, tenant: Tenant) -> None:
    """Just under the limit the body is read; here its long string is the problem."""
    head = json.dumps(minimal_plant(MPID)).encode()[:-1] + b', "pad": "'
    raw = head + b"x" * (10 * MIB - len(head) - 2) + b'"}'
    assert len(raw) == 10 * MIB
    assert ("pad", "string_too_long") in error_codes(post_raw(client, tenant, plant_url(), raw))


def test_chunked_body_over_10_mib_is_413(client: TestClient, tenant: Tenant) -> None:
    """Without a Content-Length the limit holds while the body streams in."""

    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(11):
            yield b"x" * MIB
        yield b'"}'

    headers = {**tenant.headers, "content-type": "application/json"}
    response = client.post(plant_url(), content=chunks(), headers=headers)
    problem(response, 413)


# --- Property names -------------------------------------------------------------------------


def test_property_names_match_case_insensitively_at_every_level(
    client: TestClient, tenant: Tenant
) -> None:
    canonical = minimal_plant(
        MPID,
        address={"addressText": "Testveien 8", "postalCode": "0485"},
        location={"latitude": 59.9, "longitude": 10.7},
        connectionPoint={"name": "cp", "location": {"latitude": 60.1, "longitude": 10.2}},
    )
    shouted = {
        "METERINGPOINTID": MPID,
        "ConsumptionCode": 23,
        "industrialclassification": "55.102",
        "Address": {"AddressText": "Testveien 8", "POSTALCODE": "0485"},
        "Location": {"Latitude": 59.9, "Longitude": 10.7},
        "connectionpoint": {"NAME": "cp", "LOCATION": {"LATITUDE": 60.1, "longitude": 10.2}},
    }
    first = upsert_plant(client, tenant, canonical)
    second = upsert_plant(client, tenant, shouted)
    assert second["result"] == "unchanged"
    assert second["warnings"] == first["warnings"] == []
    assert second["data"] == first["data"] == fetch_plant(client, tenant, MPID)


def test_customer_names_match_case_insensitively(client: TestClient, tenant: Tenant) -> None:
    first = upsert_customer(client, tenant, seed_customer())

    def lower_names(value: Any) -> Any:
        if isinstance(value, dict):
            return {key.lower(): lower_names(item) for key, item in value.items()}
        return value

    second = upsert_customer(client, tenant, lower_names(SEED_CUSTOMER_EXAMPLE))
    assert second["result"] == "unchanged"
    assert issue_codes(second["warnings"]) == issue_codes(first["warnings"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "Inaktivt", "STATUS": "Terminert"}, "status"),
        ({"address": {"postalCode": "0485", "PostalCode": "0486"}}, "address.postalCode"),
        ({"meteringpointid": MPID}, "meteringPointId"),
        (
            {"location": {"Coordinates": {"lat": 59.9, "LAT": 59.8, "long": 10.7}}},
            "location.coordinates.lat",
        ),
    ],
)
def test_two_spellings_of_one_field_are_400(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    codes = error_codes(post(client, tenant, plant_url(), {**minimal_plant(MPID), **body}))
    assert (field, "duplicate_field") in codes


def test_one_name_given_twice_is_400(client: TestClient, tenant: Tenant) -> None:
    raw = json.dumps(minimal_plant(MPID, status="Inaktivt"))[:-1] + ', "status": "Terminert"}'
    body = problem(post_raw(client, tenant, plant_url(), raw.encode()), 400)
    assert ("status", "duplicate_field") in issue_codes(body["errors"])


def test_customer_duplicate_field_is_400(client: TestClient, tenant: Tenant) -> None:
    body = seed_customer(email="other@example.no")
    assert ("Email", "duplicate_field") in error_codes(post(client, tenant, customer_url(), body))


@pytest.mark.parametrize(
    ("body", "field", "hint"),
    [
        ({"meter": {"model": "ML2784"}}, "meter.model", "modell"),
        ({"descripton": "x"}, "descripton", "description"),
        ({"consumptioncod": 23}, "consumptioncod", "consumptionCode"),
        ({"address": {"postalcodes": "0485"}}, "address.postalcodes", "postalCode"),
        (
            {"technicalData": {"earthingsystems": "TN"}},
            "technicalData.earthingsystems",
            "earthingSystem",
        ),
        ({"connectionPoint": {"name": "cp", "nmae": "x"}}, "connectionPoint.nmae", "name"),
    ],
)
def test_unknown_field_is_a_warning_naming_the_closest_field(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str, hint: str
) -> None:
    full = minimal_plant(MPID)
    for key, value in body.items():
        full[key] = value
    response = upsert_plant(client, tenant, full)
    warning = next(w for w in response["warnings"] if w["code"] == "unknown_field")
    assert warning["field"] == field
    assert f"'{hint}'" in warning["message"]


def test_unknown_field_without_a_close_name(client: TestClient, tenant: Tenant) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, zzz=1))
    assert response["warnings"] == [
        {"field": "zzz", "code": "unknown_field", "message": "is not a known field and was ignored"}
    ]


def test_unknown_field_is_ignored(client: TestClient, tenant: Tenant) -> None:
    first = upsert_plant(client, tenant, minimal_plant(MPID))
    second = upsert_plant(client, tenant, minimal_plant(MPID, meter={"model": "ML2784"}))
    assert second["result"] == "unchanged"
    assert second["data"] == first["data"]
    assert second["data"]["meter"]["modell"] is None


def test_customer_unknown_field_is_a_warning(client: TestClient, tenant: Tenant) -> None:
    response = upsert_customer(client, tenant, seed_customer(Adress={"PostalCode": "0484"}))
    warning = next(w for w in response["warnings"] if w["code"] == "unknown_field")
    assert warning["field"] == "Adress"
    assert "'Address'" in warning["message"]


# --- Coercions ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [23, "23", 23.0, " 23 ", "023"])
def test_numeric_consumption_code_forms(client: TestClient, tenant: Tenant, code: Any) -> None:
    data = upsert_plant(client, tenant, minimal_plant(MPID, consumptionCode=code))["data"]
    assert data["consumptionCode"] == 23


@pytest.mark.parametrize(
    ("value", "expected"), [("35", 35), (35.0, 35), (35, 35), ("-1", -1), (" 7", 7)]
)
def test_integers_from_strings_and_integral_floats(
    client: TestClient, tenant: Tenant, value: Any, expected: int
) -> None:
    body = minimal_plant(MPID, address={"holdingNumber": value}, builtByElCompanyId=value)
    data = upsert_plant(client, tenant, body)["data"]
    assert data["address"]["holdingNumber"] == expected
    assert data["builtByElCompanyId"] == expected
    assert type(data["address"]["holdingNumber"]) is int


@pytest.mark.parametrize("value", [True, False, 35.5, "35.5", "3 5", "x", [35], {"n": 35}, ""])
def test_not_an_integer_is_400(client: TestClient, tenant: Tenant, value: Any) -> None:
    body = minimal_plant(MPID, address={"holdingNumber": value}, technicalData={"IO": value})
    codes = error_codes(post(client, tenant, plant_url(), body))
    assert codes == {("address.holdingNumber", "int_type"), ("technicalData.IO", "int_type")}


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_never_a_number(client: TestClient, tenant: Tenant, value: bool) -> None:
    body = minimal_plant(MPID, consumptionCode=value, location={"latitude": value, "longitude": 10})
    codes = error_codes(post(client, tenant, plant_url(), body))
    assert ("consumptionCode", "string_type") in codes
    assert ("location.latitude", "float_type") in codes


@pytest.mark.parametrize(
    ("value", "expected"), [(123456, "123456"), (123456.0, "123456"), ("123456", "123456")]
)
def test_numbers_become_strings(
    client: TestClient, tenant: Tenant, value: Any, expected: str
) -> None:
    body = minimal_plant(MPID, plantId=value, searchCategory=value, externalPlantNumber=value)
    data = upsert_plant(client, tenant, body)["data"]
    assert data["plantId"] == data["searchCategory"] == data["externalPlantNumber"] == expected


def test_a_large_float_is_not_turned_into_a_key(client: TestClient, tenant: Tenant) -> None:
    """707057500026392739.0 decodes to ...704: a float that large has lost digits."""
    raw = json.dumps(minimal_plant(MPID)).replace(f'"{MPID}"', f"{MPID}.0").encode()
    codes = error_codes(post_raw(client, tenant, plant_url(), raw))
    assert codes == {("meteringPointId", "string_type")}


@pytest.mark.parametrize(("sent", "stored"), [(485, "0485"), (2040, "2040"), (0, "0000")])
def test_numeric_postal_code_is_zero_padded(
    client: TestClient, tenant: Tenant, sent: int, stored: str
) -> None:
    body = minimal_plant(
        MPID,
        address={"postalCode": sent},
        connectionPoint={"name": "cp", "address": {"postalCode": sent}},
    )
    data = upsert_plant(client, tenant, body)["data"]
    assert data["address"]["postalCode"] == stored
    assert data["connectionPoint"]["address"]["postalCode"] == stored
    customer = upsert_customer(client, tenant, seed_customer(Address={"PostalCode": sent}))
    assert customer["data"]["Address"]["PostalCode"] == stored


@pytest.mark.parametrize(
    "value",
    [
        "1989-01-01T00:00:00",
        "1989-01-01T23:59:59+01:00",
        "1989-01-01T12:00:00Z",
        "1989-01-01 08:00",
    ],
)
def test_date_time_becomes_its_date(client: TestClient, tenant: Tenant, value: str) -> None:
    data = upsert_plant(client, tenant, minimal_plant(MPID, connectedDate=value))["data"]
    assert data["connectedDate"] == "1989-01-01"
    customer = upsert_customer(client, tenant, seed_customer(BirthDate=value))["data"]
    assert customer["BirthDate"] == "1989-01-01"


@pytest.mark.parametrize("value", ["2021-02-30", "2021-13-01", "2021-00-10", "2019-02-29T10:00:00"])
def test_impossible_date_is_400(client: TestClient, tenant: Tenant, value: str) -> None:
    body = minimal_plant(MPID, connectedDate=value, customerChangeFrom=value)
    codes = error_codes(post(client, tenant, plant_url(), body))
    assert codes == {("connectedDate", "date_invalid"), ("customerChangeFrom", "date_invalid")}


@pytest.mark.parametrize(
    "value", ["01.01.1989", "1989/01/01", "19890101", "1989-W01-1", "yesterday", 19890101, True]
)
def test_date_in_another_form_is_400(client: TestClient, tenant: Tenant, value: Any) -> None:
    codes = error_codes(post(client, tenant, customer_url(), seed_customer(BirthDate=value)))
    assert codes == {("BirthDate", "date_type")}


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), ("true", True)])
def test_booleans(client: TestClient, tenant: Tenant, value: Any, expected: bool) -> None:
    data = upsert_customer(client, tenant, seed_customer(AcceptElectronicCommunication=value))
    assert data["data"]["AcceptElectronicCommunication"] is expected


@pytest.mark.parametrize("value", [1, 0, "yes", "ja", [], {}])
def test_not_a_boolean_is_400(client: TestClient, tenant: Tenant, value: Any) -> None:
    body = seed_customer(AcceptElectronicCommunication=value)
    assert error_codes(post(client, tenant, customer_url(), body)) == {
        ("AcceptElectronicCommunication", "bool_type")
    }


# --- Every problem, at its canonical path ---------------------------------------------------


def test_every_plant_problem_is_reported_at_once(client: TestClient, tenant: Tenant) -> None:
    body = {
        "METERINGPOINTID": "12345",
        "Address": {"PostalCode": True, "HoldingNumber": "x"},
        "connectedDate": "2021-02-30",
        "STATUS": "Aktiv",
        "Location": {"LATITUDE": 91, "longitude": 10},
        "technicaldata": {"Io": False},
        "connectionPoint": {"address": {"postalCode": "2040"}},
        "meter": "ML2784",
        "builtbyelcompanyid": True,
    }
    errors = problem(post(client, tenant, plant_url(), body), 400)["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("meteringPointId", "metering_point_id_format"),
        ("consumptionCode", "missing"),
        ("industrialClassification", "missing"),
        ("address.postalCode", "string_type"),
        ("address.holdingNumber", "int_type"),
        ("connectedDate", "date_invalid"),
        ("location.latitude", "less_than_equal"),
        ("technicalData.IO", "int_type"),
        ("connectionPoint.name", "missing"),
        ("meter", "model_type"),
        ("status", "invalid_status"),
        ("builtByElCompanyId", "int_type"),
    }
    assert len(errors) == 12


def test_partial_position_is_400(client: TestClient, tenant: Tenant) -> None:
    body = minimal_plant(MPID, location={"latitude": 59.9}, coordinates={"long": 10.7})
    codes = error_codes(post(client, tenant, plant_url(), body))
    assert codes == {("location.longitude", "missing")}


def test_every_customer_problem_is_reported_at_once(client: TestClient, tenant: Tenant) -> None:
    body = {
        "number": "22097312401",
        "ADDRESS": {"postalcode": True, "COUNTRY": 47},
        "birthdate": "2021-02-30",
        "acceptelectroniccommunication": "maybe",
        "email": ["a@b.no"],
    }
    errors = problem(post(client, tenant, customer_url(), body), 400)["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("Address.PostalCode", "string_type"),
        ("BirthDate", "date_invalid"),
        ("AcceptElectronicCommunication", "bool_type"),
        ("Email", "string_type"),
    }


def test_customer_number_is_required(client: TestClient, tenant: Tenant) -> None:
    for body in ({}, {"Number": None}, {"Number": "  "}, {"FirstName": "Ola"}):
        assert ("Number", "missing") in error_codes(post(client, tenant, customer_url(), body))


def test_customer_warnings_use_canonical_paths(client: TestClient, tenant: Tenant) -> None:
    body = {"number": "x-1", "address": {"postalcode": "485"}, "EMAIL": "not-an-address"}
    warnings = upsert_customer(client, tenant, body)["warnings"]
    assert issue_codes(warnings) == {("Address.PostalCode", "format"), ("Email", "format")}


def test_plant_warnings_use_canonical_paths(client: TestClient, tenant: Tenant) -> None:
    body = {
        "METERINGPOINTID": MPID,
        "CONSUMPTIONCODE": 23,
        "INDUSTRIALCLASSIFICATION": "55.102",
        "ADDRESS": {"POSTALCODE": "485", "RESIDENTIALNUMBER": "X1"},
        "LOCATION": {"LATITUDE": 52.5, "LONGITUDE": 13.4},
    }
    warnings = upsert_plant(client, tenant, body)["warnings"]
    assert issue_codes(warnings) == {
        ("address.postalCode", "format"),
        ("address.residentialNumber", "format"),
        ("location", "outside_norway"),
    }


PERSONAL_NUMBER = "22097312401"


@pytest.mark.parametrize(
    "body",
    [
        {"Number": PERSONAL_NUMBER, "BirthDate": PERSONAL_NUMBER, "Email": {"x": PERSONAL_NUMBER}},
        {"Number": PERSONAL_NUMBER, "Phone": [PERSONAL_NUMBER], "Address": PERSONAL_NUMBER},
        {"Number": PERSONAL_NUMBER, "AcceptElectronicCommunication": PERSONAL_NUMBER},
        {"Number": PERSONAL_NUMBER, "OrganizationNumber": PERSONAL_NUMBER, "Email": "x"},
        {"Number": PERSONAL_NUMBER + "9" * 60},
        {"Number": int(PERSONAL_NUMBER), "BirthDate": "2021-02-30"},
        {"Number": PERSONAL_NUMBER, "number": PERSONAL_NUMBER},
    ],
)
def test_customer_messages_never_contain_the_number(
    client: TestClient, tenant: Tenant, body: dict[str, Any]
) -> None:
    response = post(client, tenant, customer_url(), body)
    assert response.status_code in {200, 400}
    text = json.dumps(response.json().get("errors", []) + response.json().get("warnings", []))
    text += response.json().get("detail", "")
    assert PERSONAL_NUMBER not in text


def test_plant_messages_never_contain_the_customer_number(
    client: TestClient, tenant: Tenant
) -> None:
    body = seed_plant(customerId=PERSONAL_NUMBER, status=PERSONAL_NUMBER, buildingCode="x")
    response = post(client, tenant, plant_url(), body)
    assert PERSONAL_NUMBER not in json.dumps(problem(response, 400))
    ok_body = seed_plant(customerId=PERSONAL_NUMBER, customerChangeFrom=PERSONAL_NUMBER + "x")
    response = post(client, tenant, plant_url(), ok_body)
    assert PERSONAL_NUMBER not in json.dumps(problem(response, 400))
    accepted = upsert_plant(client, tenant, seed_plant(customerId=PERSONAL_NUMBER))
    assert PERSONAL_NUMBER not in json.dumps(accepted["warnings"])


def test_errors_and_warnings_come_together(client: TestClient, tenant: Tenant) -> None:
    """A rejected body still tells the client about its unknown fields."""
    body = minimal_plant(MPID, connectedDate="2021-02-30", descripton="x")
    response = problem(post(client, tenant, plant_url(), body), 400)
    assert issue_codes(response["errors"]) == {("connectedDate", "date_invalid")}
    assert ("descripton", "unknown_field") in issue_codes(response["warnings"])


# --- Properties -----------------------------------------------------------------------------


@st.composite
def recased(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with every property name re-cased at random, character by character."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            upper = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
            name = "".join(c.upper() if u else c.lower() for c, u in zip(key, upper, strict=True))
            out[name] = draw(recased(item))
        return out
    if isinstance(value, list):
        return [draw(recased(item)) for item in value]
    return value


@given(data=st.data())
@HTTP_EXAMPLES
def test_recasing_property_names_stores_the_same_plant(
    client: TestClient, tenant: Tenant, data: st.DataObject
) -> None:
    canonical = upsert_plant(client, tenant, SEED_PLANT_EXAMPLE)
    body = data.draw(recased(copy.deepcopy(SEED_PLANT_EXAMPLE)))
    response = upsert_plant(client, tenant, body)
    assert response["result"] == "unchanged"
    assert response["warnings"] == canonical["warnings"]
    assert fetch_plant(client, tenant, SEED_PLANT_EXAMPLE["meteringPointId"]) == canonical["data"]


@given(data=st.data())
@HTTP_EXAMPLES
def test_recasing_property_names_stores_the_same_customer(
    client: TestClient, tenant: Tenant, data: st.DataObject
) -> None:
    canonical = upsert_customer(client, tenant, SEED_CUSTOMER_EXAMPLE)
    response = upsert_customer(client, tenant, data.draw(recased(SEED_CUSTOMER_EXAMPLE)))
    assert response["result"] == "unchanged"
    assert response["warnings"] == canonical["warnings"]
    assert fetch_customer(client, tenant, "22097312401") == canonical["data"]


def _names(value: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            names.add(key)
            names |= _names(item)
    return names


PLANT_NAMES = sorted(
    _names(SEED_PLANT_EXAMPLE)
    | {"lat", "long", "coordinates", "auditSpecificInfo", "plantType", "inspectionRate"}
    | {"transformer", "netStation", "extensionName", "extensionYearBuilt"}
)
CUSTOMER_NAMES = sorted(_names(SEED_CUSTOMER_EXAMPLE))

# Characters a database or a JSON encoder may refuse: lone surrogates, NUL, BOM, separators.
odd_text = st.lists(
    st.one_of(
        st.sampled_from(["\ud800", "\udfff", "\x00", "\ufeff", "\u2028", "ø"]), st.characters()
    ),
    max_size=6,
).map("".join)  # text() would drop the surrogates
text_values = st.one_of(
    st.text(max_size=12),
    odd_text,
    st.integers(min_value=0, max_value=300).map(lambda n: "7" * n),
    st.sampled_from(
        [
            "707057500026392739",
            "1989-01-01",
            "2021-02-30",
            "1989-01-01T10:00:00Z",
            "Spennnigsatt",
            "inaktivt",
            "23",
            "1a",
            "55.102",
            "0485",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.just(10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    text_values,
)


def json_values(names: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON value; objects mostly use the schema's own names, in any casing."""
    keys = st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(str.upper),
        st.text(max_size=8),
        odd_text,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(keys, children, max_size=5),
        ),
        max_leaves=12,
    )


def like(original: Any, names: list[str]) -> st.SearchStrategy[Any]:
    """Values of the same JSON type as ``original`` mostly, of any type sometimes."""
    if isinstance(original, bool):
        same: st.SearchStrategy[Any] = st.booleans()
    elif isinstance(original, int):
        same = st.one_of(st.integers(), st.just(10**400), st.integers(-5, 3000))
    elif isinstance(original, float):
        same = st.floats(allow_nan=False, allow_infinity=False)
    elif isinstance(original, str):
        same = text_values
    else:
        same = json_values(names)
    return st.one_of(same, same, same, json_values(names))


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], names: list[str]) -> Any:
    """A valid body with a few values changed, removed or added, or any JSON value at all."""
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        return draw(json_values(names))
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = body
        while True:
            nested = [k for k, v in target.items() if isinstance(v, dict)]
            if not nested or draw(st.booleans()):
                break
            target = target[draw(st.sampled_from(nested))]
        action = draw(st.sampled_from(["change", "change", "delete", "add"]))
        if action == "add" or not target:
            key = draw(st.one_of(st.sampled_from(names), odd_text, st.text(max_size=8)))
            target[key] = draw(json_values(names))
            continue
        key = draw(st.sampled_from(sorted(target)))
        if action == "delete":
            del target[key]
        else:
            target[key] = draw(like(target[key], names))
    return body


TEXT_FIELDS = [
    ("description",),
    ("plantId",),
    ("customerId",),
    ("consumptionCode",),
    ("industrialClassification",),
    ("status",),
    ("address", "addressText"),
    ("address", "postalCode"),
    ("address", "residentialNumber"),
    ("meter", "supplier"),
    ("technicalData", "earthingSystem"),
    ("connectionPoint", "name"),
    ("connectionPoint", "address", "postalCode"),
    ("connectionPoint", "transformer", "netStation", "address", "addressText"),
]
# Stored exactly as sent; the others are trimmed, folded or checked against a list.
AS_SENT = {"description", "plantId", "addressText", "postalCode", "supplier", "earthingSystem"}


@given(
    field=st.sampled_from(TEXT_FIELDS),
    text=st.one_of(odd_text, st.integers(min_value=0, max_value=300).map(lambda n: "7" * n)),
)
@HTTP_EXAMPLES
def test_any_text_in_a_text_field_is_stored_or_refused(
    client: TestClient, tenant: Tenant, field: tuple[str, ...], text: str
) -> None:
    body = seed_plant()
    target = body
    for name in field[:-1]:
        target = target[name]
    target[field[-1]] = text
    response = _assert_handled(client, tenant, plant_url(), body)
    text = json.loads(json.dumps(text))  # as the server reads it: escaped pairs join
    if response.status_code == 200:
        data = response.json()["data"]
        assert fetch_plant(client, tenant, body["meteringPointId"]) == data
        stored: Any = data
        for name in field:
            stored = stored[name]
        if field[-1] in AS_SENT:
            assert stored == text
        elif field[-1] in {"customerId", "name"}:
            assert stored == (text.strip() or None)
    else:
        problem(response, 400)


@given(name=st.one_of(odd_text, st.text(max_size=10)), nested=st.booleans())
@HTTP_EXAMPLES
def test_any_property_name_is_stored_or_refused(
    client: TestClient, tenant: Tenant, name: str, nested: bool
) -> None:
    body = seed_plant()
    (body["meter"] if nested else body)[name] = "value"
    response = _assert_handled(client, tenant, plant_url(), body)
    assert response.status_code in {200, 400}


def _assert_handled(client: TestClient, tenant: Tenant, url: str, body: Any) -> Any:
    raw = json.dumps(body).encode()  # ensure_ascii: surrogates travel as \\u escapes
    response = post_raw(client, tenant, url, raw)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        problem(response, response.status_code)
    return response


@given(body=mutated(SEED_PLANT_EXAMPLE, PLANT_NAMES))
@settings(HTTP_EXAMPLES, max_examples=100)
def test_no_plant_body_gets_a_server_error(client: TestClient, tenant: Tenant, body: Any) -> None:
    response = _assert_handled(client, tenant, plant_url(), body)
    if response.status_code == 200:
        data = response.json()["data"]
        assert fetch_plant(client, tenant, data["meteringPointId"]) == data


@given(body=mutated(SEED_CUSTOMER_EXAMPLE, CUSTOMER_NAMES))
@settings(HTTP_EXAMPLES, max_examples=100)
def test_no_customer_body_gets_a_server_error(
    client: TestClient, tenant: Tenant, body: Any
) -> None:
    response = _assert_handled(client, tenant, customer_url(), body)
    if response.status_code == 200:
        data = response.json()["data"]
        assert fetch_customer(client, tenant, data["Number"]) == data


@given(
    body=mutated(
        {"meteringPointId": SEED_PLANT_EXAMPLE["meteringPointId"], "builtByElCompanyId": 12345},
        PLANT_NAMES,
    )
)
@settings(HTTP_EXAMPLES, max_examples=50)
def test_no_builtby_body_gets_a_server_error(client: TestClient, tenant: Tenant, body: Any) -> None:
    upsert_plant(client, tenant, SEED_PLANT_EXAMPLE)
    response = _assert_handled(client, tenant, "/api/import/test/plant/builtby", body)
    assert response.status_code in {200, 400, 404}
