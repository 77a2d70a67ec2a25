"""Data checked against the real registers (postal codes, næringskoder), and the smaller
points beside them: a lost leading zero, legacy element coordinates, as-of rules, set-strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from tests.conftest import Tenant
from tests.seed_api import (
    customer_url,
    fetch_plant,
    history,
    issue_codes,
    make_fnr,
    make_mpid,
    minimal_plant,
    ok,
    plant_get_url,
    post,
    upsert_customer,
    upsert_plant,
)
from tests.test_history import Clock, clock  # noqa: F401 - the fixture
from tilsyn.cli import app
from tilsyn.core.db import Database
from tilsyn.core.models import Change, Plant
from tilsyn.validation import postal
from tilsyn.validation.codes import naeringskode_findings

MPID = make_mpid(901)
runner = CliRunner()


def said(result: Any) -> str:
    """What a command printed on stderr, without the console's line wrapping."""
    return " ".join(str(result.stderr).split())


def codes_of(answer: dict[str, Any]) -> set[tuple[str, str]]:
    return issue_codes(answer["warnings"])


def messages(answer: dict[str, Any], field: str) -> str:
    return " ".join(w["message"] for w in answer["warnings"] if w["field"] == field)


# --- Postal codes -----------------------------------------------------------------------------


def test_unknown_postal_code_is_a_warning_naming_the_places_codes(
    client: TestClient, tenant: Tenant
) -> None:
    body = minimal_plant(MPID, address={"postalCode": "0002", "postalPlace": "Kløfta"})
    answer = upsert_plant(client, tenant, body)
    assert ("address.postalCode", "unknown_postal_code") in codes_of(answer)
    assert "2040" in messages(answer, "address.postalCode")
    assert answer["data"]["address"]["postalCode"] == "0002", "stored as sent"
    assert answer["data"]["address"]["municipalityNumber"] is None


def test_postal_place_not_matching_the_code_names_the_registers_place(
    client: TestClient, tenant: Tenant
) -> None:
    body = minimal_plant(MPID, address={"postalCode": "7010", "postalPlace": "Oslo"})
    answer = upsert_plant(client, tenant, body)
    assert ("address.postalPlace", "postal_place_mismatch") in codes_of(answer)
    assert "TRONDHEIM" in messages(answer, "address.postalPlace")
    assert answer["data"]["address"]["postalPlace"] == "Oslo"
    matching = minimal_plant(MPID, address={"postalCode": "7010", "postalPlace": "trondheim"})
    assert not [
        w for w in upsert_plant(client, tenant, matching)["warnings"] if "postal" in w["code"]
    ]


def test_municipality_number_comes_from_the_register_unless_sent(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    first = upsert_plant(client, tenant, minimal_plant(MPID, address={"postalCode": "2040"}))
    assert first["data"]["address"]["municipalityNumber"] == "3209"
    assert first["data"] == fetch_plant(client, tenant, MPID)
    changes = len(history(database, tenant.instance_id))
    again = upsert_plant(client, tenant, minimal_plant(MPID, address={"postalCode": "2040"}))
    assert again["result"] == "unchanged"
    assert len(history(database, tenant.instance_id)) == changes

    sent = minimal_plant(MPID, address={"postalCode": "2040", "municipalityNumber": "0235"})
    answer = upsert_plant(client, tenant, sent)
    assert answer["result"] == "updated"
    assert answer["data"]["address"]["municipalityNumber"] == "0235"
    assert ("address.municipalityNumber", "municipality_mismatch") in codes_of(answer)
    assert "3209" in messages(answer, "address.municipalityNumber")


def test_a_plant_stored_before_the_new_address_fields_stays_unchanged(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """Documents written by an older release lack postalPlace and municipalityNumber: sending
    the same plant again must not count as a change (no history for every plant)."""
    upsert_plant(client, tenant, minimal_plant(MPID, address={"postalCode": "2040"}))
    with database.write() as session:
        plant = session.scalars(select(Plant)).one()
        data = dict(plant.data)
        assert "municipalityNumber" not in data["address"], "derived, never stored"
        data["address"] = {k: v for k, v in data["address"].items() if k != "postalPlace"}
        session.execute(update(Plant).where(Plant.id == plant.id).values(data=data))
    again = upsert_plant(client, tenant, minimal_plant(MPID, address={"postalCode": "2040"}))
    assert again["result"] == "unchanged"


def test_customer_postal_place_is_read_from_the_address_texts_last_line(
    client: TestClient, tenant: Tenant
) -> None:
    body = {
        "Number": make_fnr(),
        "Address": {"AddressText": "Storgata 1\n7010 OSLO", "PostalCode": "7010"},
    }
    answer = upsert_customer(client, tenant, body)
    assert ("Address.AddressText", "postal_place_mismatch") in codes_of(answer)
    assert "TRONDHEIM" in messages(answer, "Address.AddressText")
    body["Address"] = {"AddressText": "Storgata 1\n0002 OSLO", "PostalCode": "0002"}
    answer = upsert_customer(client, tenant, body)
    assert ("Address.PostalCode", "unknown_postal_code") in codes_of(answer)
    body["Address"] = {"AddressText": "Storgata 1\n0150 OSLO", "PostalCode": "0150"}
    assert not [
        w for w in upsert_customer(client, tenant, body)["warnings"] if "postal" in w["code"]
    ]


def _register_text(extra: str = "") -> str:
    packaged = Path(str(postal.register_path())).read_text(encoding="utf-8")
    return packaged.rstrip("\n") + "\n" + extra


def test_refresh_puts_a_newer_register_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bring's own file is Windows-1252; after the refresh every check reads the new file."""
    monkeypatch.delenv(postal.DATA_DIR_VARIABLE, raising=False)
    assert postal.postal_findings("0002", "ØRJE")[0][1].code == "unknown_postal_code"
    source = tmp_path / "Postnummerregister-ansi.txt"
    source.write_bytes(_register_text("0002\tØRJE\t3118\tINDRE ØSTFOLD\tG\n").encode("cp1252"))
    data_dir = tmp_path / "data"
    result = runner.invoke(
        app, ["postal-codes", "refresh", str(source), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.stderr
    assert "Windows-1252" in said(result)
    assert "1 added, 0 removed, 0 changed" in said(result)
    assert (data_dir / "postal-codes.tsv").read_text(encoding="utf-8").startswith("0001\tOSLO")
    monkeypatch.setenv(postal.DATA_DIR_VARIABLE, str(data_dir))
    assert postal.register_path() == data_dir / "postal-codes.tsv"
    assert postal.postal_findings("0002", "Ørje") == []
    assert postal.current_register().municipality_number("0002") == "3118"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0001\tOSLO\t0301\tOSLO\tP\n", "only 1 postal codes"),
        ("12345\tOSLO\t0301\tOSLO\tP\n", "line 1: '12345' is not a 4-digit postal code"),
        ("0001\tOSLO\n", "line 1: expected 5 tab-separated columns"),
    ],
)
def test_refresh_refuses_a_file_that_is_not_the_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.setenv(postal.DATA_DIR_VARIABLE, str(tmp_path / "data"))
    source = tmp_path / "register.txt"
    source.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["postal-codes", "refresh", str(source)])
    assert result.exit_code == 1
    assert message in said(result)
    assert not (tmp_path / "data" / "postal-codes.tsv").exists()


# --- Næringskode ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["55.102", "01.410", "41.200", "62.010", "35.140", "86.211"])
def test_naeringskoder_of_sn2007_pass(code: str) -> None:
    assert naeringskode_findings(code) == []


@pytest.mark.parametrize("code", ["99.991", "55.400", "00.000", "62.050"])
def test_unknown_naeringskode_is_a_warning(code: str) -> None:
    [finding] = naeringskode_findings(code)
    assert finding.code == "unknown_code"
    assert code[:5] in finding.message


def test_unknown_naeringskode_is_stored_with_a_warning(client: TestClient, tenant: Tenant) -> None:
    answer = upsert_plant(client, tenant, minimal_plant(MPID, industrialClassification="99.991"))
    assert ("industrialClassification", "unknown_code") in codes_of(answer)
    assert answer["data"]["industrialClassification"] == "99.991"


# --- A personal number that lost its leading zero ---------------------------------------------


def test_number_sent_as_json_number_that_lost_its_zero_gets_a_warning(
    client: TestClient, tenant: Tenant
) -> None:
    fnr = make_fnr("010190")
    assert fnr.startswith("0")
    answer = upsert_customer(client, tenant, {"Number": int(fnr)})
    assert ("Number", "leading_zero_lost") in codes_of(answer)
    assert fnr[1:] not in str(answer["warnings"]), "the number never appears in a message"
    assert answer["data"]["Number"] == fnr[1:], "stored as sent"
    as_text = upsert_customer(client, tenant, {"Number": fnr})
    assert ("Number", "leading_zero_lost") not in codes_of(as_text)


def test_a_number_that_is_no_personal_number_padded_gets_no_such_warning(
    client: TestClient, tenant: Tenant
) -> None:
    answer = ok(post(client, tenant, customer_url(), {"Number": 1234567890}))
    assert ("Number", "leading_zero_lost") not in codes_of(answer)


# --- Legacy coordinates on hierarchy elements -------------------------------------------------


def test_legacy_coordinates_on_an_element_are_its_location(
    client: TestClient, tenant: Tenant
) -> None:
    body = minimal_plant(
        MPID,
        connectionPoint={
            "name": "CP-9",
            "coordinates": {"lat": 63.43, "long": 10.39},
            "transformer": {
                "name": "T-9",
                "coordinates": {"latitude": 63.44, "longitude": 10.4},
                "netStation": {"name": "NS-9", "coordinates": {"lat": 10.41, "long": 63.45}},
            },
        },
    )
    answer = upsert_plant(client, tenant, body)
    point = answer["data"]["connectionPoint"]
    assert point["location"] == {"latitude": 63.43, "longitude": 10.39}
    assert point["transformer"]["location"] == {"latitude": 63.44, "longitude": 10.4}
    assert point["transformer"]["netStation"]["location"] == {"latitude": 10.41, "longitude": 63.45}
    assert (
        "connectionPoint.transformer.netStation.coordinates",
        "coordinates_swapped",
    ) in codes_of(answer)
    assert not [w for w in answer["warnings"] if w["code"] == "unknown_field"]
    swapped = next(w for w in answer["warnings"] if w["code"] == "coordinates_swapped")
    assert swapped["message"].startswith("Stored as sent")
    assert fetch_plant(client, tenant, MPID)["connectionPoint"] == point


# --- As-of reads derive with that day's rules -------------------------------------------------


def test_as_of_derives_with_the_rules_in_force_that_day(
    client: TestClient,
    tenant: Tenant,
    clock: Clock,  # noqa: F811 - the fixture
) -> None:
    url = "/api/settings/test/audit-rules"
    admin = {"api-key": tenant.admin_key}
    rule = {"id": "hotell", "consumptionCode": "23", "plantType": "Hotell", "inspectionRate": 5}
    clock.set("2024-03-01T10:00:00+00:00")
    ok(client.put(url, json={"rules": [rule]}, headers=admin))
    upsert_plant(client, tenant, minimal_plant(MPID))
    clock.set("2024-04-01T10:00:00+00:00")
    ok(client.put(url, json={"rules": [{**rule, "inspectionRate": 10}]}, headers=admin))
    clock.set("2024-05-01T10:00:00+00:00")
    extra = {"id": "alle", "plantType": "Annet", "riskCategoryGroup": 2}
    ok(client.put(url, json={"rules": [{**rule, "id": "hotell2"}, extra]}, headers=admin))
    clock.now = None

    def audit_on(day: str) -> dict[str, Any]:
        view = ok(client.get(plant_get_url(MPID), params={"asOf": day}, headers=tenant.headers))
        audit: dict[str, Any] = view["auditSpecificInfo"]
        return audit

    march = audit_on("2024-03-15")
    assert (march["inspectionRate"], march["source"]["inspectionRate"]) == (5, "rule:hotell")
    assert march["riskCategoryGroup"] is None
    assert audit_on("2024-04-15")["inspectionRate"] == 10
    may = audit_on("2024-05-15")
    assert (may["inspectionRate"], may["source"]["inspectionRate"]) == (5, "rule:hotell2")
    assert (may["riskCategoryGroup"], may["source"]["riskCategoryGroup"]) == (2, "rule:alle")
    assert fetch_plant(client, tenant, MPID)["auditSpecificInfo"] == may


# --- set-strict is in history ------------------------------------------------------------------


def test_set_strict_records_the_change_in_history(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    for value, result in (("true", "updated"), ("true", "unchanged"), ("false", "updated")):
        answer = runner.invoke(
            app, ["--db", database_url, "instance", "set-strict", tenant.name, value]
        )
        assert answer.exit_code == 0, answer.stderr
        assert result in said(answer)
    with database.read() as session:
        changes = session.scalars(
            select(Change).where(Change.entity_type == "settings").order_by(Change.id)
        ).all()
    assert [(c.entity_key, c.diff) for c in changes] == [
        ("validation", {"strictValidation": [False, True]}),
        ("validation", {"strictValidation": [True, False]}),
    ]
