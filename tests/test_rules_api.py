"""SPEC §5 and §7: the settings API (audit rules, strict validation) and derivation in GET."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import SECRET, Tenant, make_tenant
from tests.seed_api import (
    PROBLEM_JSON,
    error_codes,
    fetch_plant,
    history,
    issue_codes,
    make_mpid,
    minimal_plant,
    ok,
    plant_url,
    problem,
    seed_plant,
    service_upsert_plant,
    upsert_plant,
)
from tests.servers import NO_AUTH_FAILURE_LIMIT, running_server
from tests.test_api_fuzz import pinned_schema
from tilsyn.app import create_app
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import Instance, Plant
from tilsyn.rules import service
from tilsyn.rules.service import Rule, default_rules

RULES_URL = "/api/settings/{environment}/audit-rules"
VALIDATION_URL = "/api/settings/{environment}/validation"
MPID = make_mpid(701)
AUDIT_FIELDS = ("plantType", "inspectionArea", "riskCategoryGroup", "inspectionRate")

HOUSEHOLD = {
    "id": "bolig",
    "consumptionCode": 35,
    "plantType": "Bolighus/leiligheter",
    "inspectionArea": 63,
    "riskCategoryGroup": 3,
    "inspectionRate": 20,
}
HOTEL = {"id": "hotell", "naeringskodePrefix": "55.1", "plantType": "Hotell", "inspectionRate": 5}
ANY = {"id": "alle", "plantType": "Virksomhet", "riskCategoryGroup": 2, "inspectionRate": 10}


def admin(tenant: Tenant) -> dict[str, str]:
    return {"api-key": tenant.admin_key}


def rules_url(tenant: Tenant) -> str:
    return RULES_URL.format(environment=tenant.environment)


def validation_url(tenant: Tenant) -> str:
    return VALIDATION_URL.format(environment=tenant.environment)


def put_rules(client: TestClient, tenant: Tenant, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return ok(client.put(rules_url(tenant), json={"rules": rules}, headers=admin(tenant)))


def get_rules(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = ok(client.get(rules_url(tenant), headers=admin(tenant)))["rules"]
    return rules


def rules_version(database: Database, instance_id: int) -> int:
    with database.read() as session:
        version = session.scalar(select(Instance.rules_version).where(Instance.id == instance_id))
    assert version is not None
    return version


def audit(client: TestClient, tenant: Tenant, mpid: str = MPID) -> dict[str, Any]:
    info: dict[str, Any] = fetch_plant(client, tenant, mpid)["auditSpecificInfo"]
    return info


def full(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as GET shows it: every field present."""
    return {
        "id": rule["id"],
        "consumptionCode": rule.get("consumptionCode"),
        "naeringskodePrefix": rule.get("naeringskodePrefix"),
        "plantType": rule.get("plantType"),
        "inspectionArea": rule.get("inspectionArea"),
        "riskCategoryGroup": rule.get("riskCategoryGroup"),
        "inspectionRate": rule.get("inspectionRate"),
        "description": rule.get("description"),
    }


# --- reading and replacing ---------------------------------------------------------------


def test_a_new_instance_starts_with_the_default_rules(client: TestClient, tenant: Tenant) -> None:
    assert get_rules(client, tenant) == [rule.wire() for rule in default_rules()]


def test_put_replaces_the_rule_set(client: TestClient, database: Database, tenant: Tenant) -> None:
    version = rules_version(database, tenant.instance_id)
    response = put_rules(client, tenant, [HOUSEHOLD, HOTEL, ANY])
    assert response["result"] == "updated"
    assert response["warnings"] == []
    assert response["data"] == {"rules": [full(HOUSEHOLD), full(HOTEL), full(ANY)]}
    assert get_rules(client, tenant) == response["data"]["rules"]
    assert rules_version(database, tenant.instance_id) == version + 1


def test_put_of_the_same_rules_is_unchanged(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    put_rules(client, tenant, [HOUSEHOLD, ANY])
    version = rules_version(database, tenant.instance_id)
    rows = len(history(database, tenant.instance_id))
    again = put_rules(client, tenant, [{**HOUSEHOLD, "consumptionCode": "35"}, ANY])
    assert again["result"] == "unchanged"
    # The GET's own body, sent back, changes nothing either.
    body = ok(client.get(rules_url(tenant), headers=admin(tenant)))
    response = ok(client.put(rules_url(tenant), json=body, headers=admin(tenant)))
    assert response["result"] == "unchanged"
    assert rules_version(database, tenant.instance_id) == version
    assert len(history(database, tenant.instance_id)) == rows


def test_a_rule_change_is_recorded_in_history(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    put_rules(client, tenant, [HOUSEHOLD, ANY])
    put_rules(client, tenant, [{**HOUSEHOLD, "inspectionRate": 25}, HOTEL])
    rows = [row for row in history(database, tenant.instance_id) if row.entity_type == "rules"]
    assert [(row.entity_key, row.operation) for row in rows] == [
        ("audit-rules", "replace"),
        ("audit-rules", "replace"),
    ]
    assert rows[-1].api_key_id is not None
    assert rows[-1].diff == {
        "rules[bolig].inspectionRate": [20, 25],
        "rules[hotell]": [None, full(HOTEL)],
        "rules[alle]": [full(ANY), None],
    }


def test_property_names_match_case_insensitively(client: TestClient, tenant: Tenant) -> None:
    body = {
        "RULES": [
            {"ID": "a", "ConsumptionCode": "35", "PLANTTYPE": "x", "Naeringskodeprefix": "55"}
        ]
    }
    response = ok(client.put(rules_url(tenant), json=body, headers=admin(tenant)))
    assert response["data"]["rules"] == [
        full({"id": "a", "consumptionCode": 35, "naeringskodePrefix": "55", "plantType": "x"})
    ]


def test_warnings_come_with_a_saved_rule_set(client: TestClient, tenant: Tenant) -> None:
    response = put_rules(
        client, tenant, [{"id": "a", "consumptionCode": "99", "plantType": "x", "typo": 1}]
    )
    assert response["result"] == "updated"
    assert issue_codes(response["warnings"]) == {
        ("rules[0].consumptionCode", "unknown_code"),
        ("rules[0].typo", "unknown_field"),
    }


def test_every_bad_rule_is_reported_and_nothing_changes(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    before = get_rules(client, tenant)
    version = rules_version(database, tenant.instance_id)
    bad = [
        HOUSEHOLD,
        {"id": "b", "consumptionCode": "35", "inspectionRate": 30},
        {"id": "c", "naeringskodePrefix": "5", "plantType": "x"},
        {"id": "d", "naeringskodePrefix": 55.1, "plantType": "x"},
        {"id": "bolig", "inspectionRate": 0},
        {"id": "e"},
    ]
    response = client.put(rules_url(tenant), json={"rules": bad}, headers=admin(tenant))
    assert error_codes(response) == {
        ("rules[1].inspectionRate", "tie"),
        ("rules[2].naeringskodePrefix", "naeringskode_prefix"),
        ("rules[3].naeringskodePrefix", "prefix_type"),
        ("rules[4].id", "duplicate_id"),
        ("rules[4].inspectionRate", "greater_than_equal"),
        ("rules[5]", "no_values"),
    }
    tie = next(e for e in response.json()["errors"] if e["code"] == "tie")
    assert "rules[0] ('bolig')" in tie["message"]
    assert get_rules(client, tenant) == before
    assert rules_version(database, tenant.instance_id) == version


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"rules": [}', 400),
        (b"[]", 400),
        (b'{"rules": {"id": "a"}}', 400),
        (b"{}", 400),
    ],
)
def test_bodies_that_are_not_rule_sets(
    client: TestClient, tenant: Tenant, raw: bytes, status: int
) -> None:
    headers = {**admin(tenant), "content-type": "application/json"}
    problem(client.put(rules_url(tenant), content=raw, headers=headers), status)


def test_an_empty_rule_set_is_allowed(client: TestClient, tenant: Tenant) -> None:
    assert put_rules(client, tenant, [])["data"] == {"rules": []}
    assert get_rules(client, tenant) == []


def test_rules_belong_to_their_instance(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    other = make_tenant(database, "nett-other", "test")
    put_rules(client, tenant, [ANY])
    upsert_plant(client, other, minimal_plant(MPID))
    assert get_rules(client, other) == [rule.wire() for rule in default_rules()]
    assert audit(client, other)["source"]["plantType"] == "rule:overnatting"


# --- keys ------------------------------------------------------------------------------------


SETTINGS_CALLS = [
    ("get", RULES_URL, None),
    ("put", RULES_URL, {"rules": [ANY]}),
    ("get", VALIDATION_URL, None),
    ("put", VALIDATION_URL, {"strictValidation": True}),
]


@pytest.mark.parametrize(("method", "url", "body"), SETTINGS_CALLS)
def test_import_keys_are_forbidden(
    client: TestClient, database: Database, tenant: Tenant, method: str, url: str, body: Any
) -> None:
    response = client.request(
        method, url.format(environment="test"), json=body, headers=tenant.headers
    )
    assert "admin" in problem(response, 403)["detail"]
    assert get_rules(client, tenant) == [rule.wire() for rule in default_rules()]
    with database.read() as session:
        instance = session.get(Instance, tenant.instance_id)
        assert instance is not None
        assert instance.strict_validation is False


@pytest.mark.parametrize(("method", "url", "body"), SETTINGS_CALLS)
def test_settings_check_key_then_environment(
    client: TestClient, tenant: Tenant, prod_tenant: Tenant, method: str, url: str, body: Any
) -> None:
    test_url = url.format(environment="test")
    problem(client.request(method, test_url, json=body), 401)
    problem(client.request(method, test_url, json=body, headers={"api-key": "nope"}), 401)
    problem(client.request(method, test_url, json=body, headers=admin(prod_tenant)), 400)
    problem(client.request(method, url.format(environment="dev"), headers=admin(tenant)), 400)
    # 403 comes before the body: an import key learns nothing from a bad body.
    headers = {**tenant.headers, "content-type": "application/json"}
    problem(client.request(method, test_url, content=b"{", headers=headers), 403)


def test_settings_are_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for url, name in ((RULES_URL, "AuditRulesIn"), (VALIDATION_URL, "ValidationSettingsIn")):
        operations = schema["paths"][url]
        assert set(operations) == {"get", "put"}
        for operation in operations.values():
            assert {"200", "400", "401", "403"} <= set(operation["responses"])
            assert PROBLEM_JSON in operation["responses"]["403"]["content"]
        body = operations["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{name}"}
        assert name in schema["components"]["schemas"]
    assert "AuditRuleIn" in schema["components"]["schemas"]


# --- derivation in the plant's GET -----------------------------------------------------------


def test_explicit_beats_derived_value_by_value(client: TestClient, tenant: Tenant) -> None:
    put_rules(client, tenant, [HOUSEHOLD, HOTEL, ANY])
    body = minimal_plant(
        MPID,
        consumptionCode=35,
        industrialClassification="55.102",
        auditSpecificInfo={"plantType": "Sendt", "riskCategoryGroup": None},
    )
    response = upsert_plant(client, tenant, body)
    expected = {
        "plantType": "Sendt",
        "inspectionArea": 63,
        "riskCategoryGroup": 3,
        "inspectionRate": 5,
        "source": {
            "plantType": "explicit",
            "inspectionArea": "rule:bolig",
            "riskCategoryGroup": "rule:bolig",
            "inspectionRate": "rule:hotell",
        },
    }
    assert response["data"]["auditSpecificInfo"] == expected
    assert audit(client, tenant) == expected
    assert issue_codes(response["warnings"]) == set()


def test_explicit_values_are_kept_as_sent_whatever_the_rules(
    client: TestClient, tenant: Tenant
) -> None:
    sent = {"plantType": "Egen", "inspectionArea": 1, "riskCategoryGroup": 1, "inspectionRate": 99}
    upsert_plant(client, tenant, minimal_plant(MPID, auditSpecificInfo=sent))
    put_rules(client, tenant, [ANY])
    assert audit(client, tenant) == sent | {"source": dict.fromkeys(AUDIT_FIELDS, "explicit")}


def test_a_rule_change_shows_at_once_without_rewriting_plants(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    put_rules(client, tenant, [HOUSEHOLD])
    upsert_plant(client, tenant, minimal_plant(MPID, consumptionCode=35))
    assert audit(client, tenant)["inspectionRate"] == 20
    with database.read() as session:
        stored = session.scalars(select(Plant)).one()
    plant_rows = [r for r in history(database, tenant.instance_id) if r.entity_type == "plant"]

    put_rules(client, tenant, [{**HOUSEHOLD, "inspectionRate": 15}])
    assert audit(client, tenant)["inspectionRate"] == 15
    put_rules(client, tenant, [{**HOUSEHOLD, "consumptionCode": 36}])
    assert audit(client, tenant)["source"] == dict.fromkeys(AUDIT_FIELDS)

    with database.read() as session:
        assert session.scalars(select(Plant)).one().updated_at == stored.updated_at
    after = [r for r in history(database, tenant.instance_id) if r.entity_type == "plant"]
    assert len(after) == len(plant_rows)
    # An upsert of the same body is still "unchanged": derived values are not stored.
    assert upsert_plant(client, tenant, minimal_plant(MPID, consumptionCode=35))["result"] == (
        "unchanged"
    )


@pytest.fixture
def second_app(settings: Settings, database_url: str) -> Iterator[TestClient]:
    """Another server process in all but name: its own Database object, pool and rules cache."""
    other = Database(database_url)
    with TestClient(create_app(settings, other)) as test_client:
        yield test_client
    other.dispose()


def test_a_rule_change_through_one_process_shows_in_another_at_once(
    client: TestClient, second_app: TestClient, tenant: Tenant
) -> None:
    household = minimal_plant(MPID, consumptionCode=35, industrialClassification="98.000")
    upsert_plant(client, tenant, household)
    # The second process compiles and caches the rules in force...
    assert audit(second_app, tenant)["source"]["plantType"] == "rule:husholdning"
    assert audit(second_app, tenant)["inspectionRate"] == 20
    # ...the first changes them...
    put_rules(client, tenant, [{**HOUSEHOLD, "inspectionRate": 12}])
    # ...and the second's very next read shows the change, in GET and upsert alike.
    assert audit(second_app, tenant)["inspectionRate"] == 12
    response = upsert_plant(second_app, tenant, household)
    assert response["data"]["auditSpecificInfo"]["source"]["inspectionRate"] == "rule:bolig"
    put_rules(second_app, tenant, [ANY])
    assert audit(client, tenant)["source"]["inspectionRate"] == "rule:alle"


# --- no_rule -------------------------------------------------------------------------------------


def test_a_plant_no_rule_covers_gets_a_warning(client: TestClient, tenant: Tenant) -> None:
    put_rules(client, tenant, [HOUSEHOLD])
    response = upsert_plant(client, tenant, minimal_plant(MPID))
    assert ("auditSpecificInfo", "no_rule") in issue_codes(response["warnings"])
    message = next(w for w in response["warnings"] if w["code"] == "no_rule")["message"]
    assert "23" in message
    assert "55.102" in message
    assert response["data"]["auditSpecificInfo"]["source"] == dict.fromkeys(AUDIT_FIELDS)
    # Covered once a rule applies: no warning.
    put_rules(client, tenant, [HOUSEHOLD, HOTEL])
    again = upsert_plant(client, tenant, minimal_plant(MPID))
    assert ("auditSpecificInfo", "no_rule") not in issue_codes(again["warnings"])


def test_no_warning_when_a_value_is_sent(client: TestClient, tenant: Tenant) -> None:
    put_rules(client, tenant, [])
    body = minimal_plant(MPID, auditSpecificInfo={"inspectionRate": 20})
    assert ("auditSpecificInfo", "no_rule") not in issue_codes(
        upsert_plant(client, tenant, body)["warnings"]
    )


def test_strict_validation_does_not_reject_an_uncovered_plant(
    client: TestClient, tenant: Tenant
) -> None:
    put_rules(client, tenant, [])
    ok(client.put(validation_url(tenant), json={"strictValidation": True}, headers=admin(tenant)))
    response = upsert_plant(client, tenant, minimal_plant(MPID))
    assert issue_codes(response["warnings"]) == {("auditSpecificInfo", "no_rule")}


# --- the validation setting ----------------------------------------------------------------


def test_validation_setting(client: TestClient, database: Database, tenant: Tenant) -> None:
    url = validation_url(tenant)
    assert ok(client.get(url, headers=admin(tenant))) == {"strictValidation": False}
    assert upsert_plant(client, tenant, seed_plant())["result"] == "created"

    response = ok(client.put(url, json={"StrictValidation": "true"}, headers=admin(tenant)))
    assert response == {"result": "updated", "warnings": [], "data": {"strictValidation": True}}
    assert ok(client.get(url, headers=admin(tenant))) == {"strictValidation": True}
    # The seed's metering point id fails its check digit: now an error, not a warning.
    rejected = client.post(plant_url(), json=seed_plant(), headers=tenant.headers)
    assert ("meteringPointId", "checksum") in error_codes(rejected)

    again = ok(client.put(url, json={"strictValidation": True}, headers=admin(tenant)))
    assert again["result"] == "unchanged"
    rows = [r for r in history(database, tenant.instance_id) if r.entity_type == "settings"]
    assert [(r.entity_key, r.operation, r.diff) for r in rows] == [
        ("validation", "update", {"strictValidation": [False, True]})
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, ("strictValidation", "missing")),
        ({"strictValidation": "maybe"}, ("strictValidation", "bool_type")),
        ({"strictValidation": 1}, ("strictValidation", "bool_type")),
    ],
)
def test_validation_setting_bodies(
    client: TestClient, tenant: Tenant, body: dict[str, Any], error: tuple[str, str]
) -> None:
    response = client.put(validation_url(tenant), json=body, headers=admin(tenant))
    assert error in error_codes(response)


# --- the per-process cache ---------------------------------------------------------------


def test_the_compiled_rules_are_cached_until_the_version_changes(
    database: Database, tenant: Tenant
) -> None:
    with database.read() as session:
        first = service.rules_for(session, tenant.instance_id)
    with database.read() as session:
        assert service.rules_for(session, tenant.instance_id) is first
    with database.write() as session:
        service.replace_rules(session, Actor(tenant.instance_id), [Rule("x", plant_type="y")])
    with database.read() as session:
        changed = service.rules_for(session, tenant.instance_id)
    assert changed is not first
    assert changed.rules == (Rule("x", plant_type="y"),)


def test_a_change_rolled_back_never_reaches_the_cache(database: Database, tenant: Tenant) -> None:
    class Abort(Exception):
        pass

    def change_then_fail() -> None:
        with database.write() as session:
            service.replace_rules(session, Actor(tenant.instance_id), [Rule("x", plant_type="y")])
            # Read inside the changing transaction: its own rules, but not cached.
            seen = service.rules_for(session, tenant.instance_id).rules
            assert seen == (Rule("x", plant_type="y"),)
            raise Abort

    with pytest.raises(Abort):
        change_then_fail()
    with database.read() as session:
        assert service.rules_for(session, tenant.instance_id).rules == default_rules()
    with database.write() as session:
        service.replace_rules(session, Actor(tenant.instance_id), [Rule("z", plant_type="w")])
    with database.read() as session:
        assert service.rules_for(session, tenant.instance_id).rules == (Rule("z", plant_type="w"),)


# --- fuzzing -------------------------------------------------------------------------------------


def test_fuzzed_settings_requests_conform(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Schemathesis on the settings endpoints with an admin key (test_api_fuzz uses an import
    key, which these endpoints answer with 403 before reading the body)."""
    tenant = make_tenant(database, "fuzz-settings", "test")
    # Schemathesis sends hundreds of requests without a key from one address; the limit on
    # failed authentications per address has tests of its own (test_doors.py).
    with running_server(database_url, secret=SECRET, env_extra=NO_AUTH_FAILURE_LIMIT) as base:
        seeded = httpx.post(
            f"{base}/api/import/test/plant",
            json=minimal_plant(MPID),
            headers=tenant.headers,
        )
        assert seeded.status_code == 200
        schema_file = tmp_path / "openapi.json"
        pinned_schema(base, schema_file)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(schema_file),
                "--url",
                base,
                "-H",
                f"api-key: {tenant.admin_key}",
                "--include-path-regex",
                "^/api/settings/",
                "--max-examples",
                "60",
                "--seed",
                "20261127",
                "--exclude-checks",
                "positive_data_acceptance,negative_data_rejection",
                "--phases",
                "examples,coverage,fuzzing",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "30",
                "--warnings",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        # Whatever the fuzzer left, the plant still reads (no rule set can break a GET).
        plant = httpx.get(f"{base}/api/plant/test/getDataForImport/{MPID}", headers=tenant.headers)
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    assert "generated" in summary
    assert plant.status_code == 200, plant.text
    assert plant.json()["meteringPointId"] == MPID


@pytest.mark.parametrize("url", [RULES_URL, VALIDATION_URL])
def test_other_methods_are_not_allowed(client: TestClient, tenant: Tenant, url: str) -> None:
    response = client.request("DELETE", url.format(environment="test"), headers=admin(tenant))
    problem(response, 405)
    assert response.headers["allow"] == "GET, PUT"


def test_concurrent_rule_replacements_and_upserts(database: Database, tenant: Tenant) -> None:
    """Replacements queue on the instance row; plant upserts never wait for them to fail."""
    base = rules_version(database, tenant.instance_id)
    failures: list[BaseException] = []
    today = today_in_oslo()

    def replace(number: int) -> None:
        try:
            ruleset = [Rule(f"r{number}-{i}", f"{i}", plant_type=f"t{number}") for i in range(30)]
            with database.write() as session:
                assert service.replace_rules(session, Actor(tenant.instance_id), ruleset)
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            failures.append(exc)

    def upsert(number: int) -> None:
        try:
            for round_number in range(3):
                body = minimal_plant(make_mpid(800 + number), description=f"{round_number}")
                with database.write() as session:
                    service_upsert_plant(session, Actor(tenant.instance_id), body, today=today)
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=replace, args=(n,)) for n in range(8)]
    threads += [threading.Thread(target=upsert, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert rules_version(database, tenant.instance_id) == base + 8
    with database.read() as session:
        stored = service.load_rules(session, tenant.instance_id)
    assert len(stored) == 30
    assert len({rule.plant_type for rule in stored}) == 1
