"""Demo data: deterministic, unique keys, clean under every validation check, streamable."""

from __future__ import annotations

import tracemalloc
from collections import Counter, defaultdict
from datetime import date
from itertools import islice, pairwise
from typing import Any

import pytest

from tilsyn.demo_data import generate_customers, generate_plants
from tilsyn.validation.codes import (
    building_code_findings,
    consumption_code_findings,
    country_findings,
    earthing_system_findings,
    email_findings,
    fuse_findings,
    matrikkel_findings,
    naeringskode_findings,
    phase_findings,
    phone_findings,
    postal_code_findings,
    residential_number_findings,
    voltage_findings,
)
from tilsyn.validation.findings import Finding
from tilsyn.validation.geo import coordinate_findings
from tilsyn.validation.identifiers import (
    classify_fodselsnummer,
    customer_number_findings,
    el_company_id_findings,
    metering_point_findings,
    organisasjonsnummer_findings,
)

TODAY = date(2025, 11, 1)


def customer_findings(customer: dict[str, Any]) -> list[tuple[str, Finding]]:
    found: list[tuple[str, Finding]] = []

    def add(field: str, findings: list[Finding]) -> None:
        found.extend((field, f) for f in findings)

    number = customer["Number"]
    add("Number", customer_number_findings(number, today=TODAY))
    address = customer["Address"]
    add("Address.PostalCode", postal_code_findings(address["PostalCode"]))
    add("Address.Country", country_findings(address["Country"]))
    if customer["Email"] is not None:
        add("Email", email_findings(customer["Email"]))
    if customer["Phone"] is not None:
        add("Phone", phone_findings(customer["Phone"]))
    if customer["OrganizationNumber"] is not None:
        add("OrganizationNumber", organisasjonsnummer_findings(customer["OrganizationNumber"]))
    return found


def element_findings(path: str, element: dict[str, Any]) -> list[tuple[str, Finding]]:
    found = [(f"{path}.address.postalCode", f) for f in postal_code_findings(
        element["address"]["postalCode"])]  # fmt: skip
    location = element["location"]
    found += [
        (f"{path}.location", f)
        for f in coordinate_findings(location["latitude"], location["longitude"])
    ]
    assert element["name"]
    return found


def plant_findings(plant: dict[str, Any]) -> list[tuple[str, Finding]]:
    found: list[tuple[str, Finding]] = []

    def add(field: str, findings: list[Finding]) -> None:
        found.extend((field, f) for f in findings)

    add("meteringPointId", metering_point_findings(plant["meteringPointId"]))
    add("consumptionCode", consumption_code_findings(str(plant["consumptionCode"])))
    add("industrialClassification", naeringskode_findings(plant["industrialClassification"]))
    if plant["buildingCode"] is not None:
        add("buildingCode", building_code_findings(plant["buildingCode"]))
    address = plant["address"]
    add("address.postalCode", postal_code_findings(address["postalCode"]))
    if address["residentialNumber"] is not None:
        add("address.residentialNumber", residential_number_findings(address["residentialNumber"]))
    found += [
        (f"address.{field}", f)
        for field, f in matrikkel_findings(
            address["holdingNumber"],
            address["subHoldingNumber"],
            address["leaseNumber"],
            address["sectionNumber"],
        )
    ]
    tech = plant["technicalData"]
    for field in ("mainCircuitBreakerPhase", "overLoadPhase", "shortCircuitProtectionPhase"):
        add(f"technicalData.{field}", phase_findings(tech[field]))
    for field in ("mainCircuitBreakerAmps", "overLoadAmps", "shortCircuitProtectionAmps"):
        add(f"technicalData.{field}", fuse_findings(tech[field]))
    for field in ("mainCircuitBreakerVoltage", "mainCircuitBreakerCurrent"):
        add(f"technicalData.{field}", voltage_findings(tech[field]))
    add("technicalData.earthingSystem", earthing_system_findings(tech["earthingSystem"]))
    if plant["builtByElCompanyId"] is not None:
        add("builtByElCompanyId", el_company_id_findings(plant["builtByElCompanyId"]))
    location = plant["location"]
    add("location", coordinate_findings(location["latitude"], location["longitude"]))
    cp = plant["connectionPoint"]
    found += element_findings("connectionPoint", cp)
    found += element_findings("connectionPoint.transformer", cp["transformer"])
    found += element_findings(
        "connectionPoint.transformer.netStation", cp["transformer"]["netStation"]
    )
    return found


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    return list(generate_customers(5000, seed=7))


@pytest.fixture(scope="module")
def plants(customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(generate_plants(10_000, customer_numbers=[c["Number"] for c in customers], seed=7))


# --- determinism and uniqueness ---------------------------------------------------------------


def test_customers_are_deterministic() -> None:
    assert list(generate_customers(300, seed=1)) == list(generate_customers(300, seed=1))
    assert list(generate_customers(300, seed=1)) != list(generate_customers(300, seed=2))


def test_plants_are_deterministic() -> None:
    numbers = ["15108695088", "988077917"]
    first = list(generate_plants(300, customer_numbers=numbers, seed=1))
    assert first == list(generate_plants(300, customer_numbers=numbers, seed=1))
    assert first != list(generate_plants(300, customer_numbers=numbers, seed=2))


def test_a_prefix_of_the_stream_is_the_shorter_stream() -> None:
    """Streaming: asking for more records does not change the first ones."""
    assert list(islice(generate_plants(500, customer_numbers=[], seed=3), 100)) == list(
        generate_plants(100, customer_numbers=[], seed=3)
    )


def test_customer_numbers_are_unique() -> None:
    numbers = [c["Number"] for c in generate_customers(20_000, seed=5)]
    assert len(set(numbers)) == len(numbers)


def test_metering_point_ids_are_unique() -> None:
    ids = [p["meteringPointId"] for p in generate_plants(20_000, customer_numbers=[], seed=5)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 18 and i.startswith("7070575000") for i in ids)


def test_counts_and_limits() -> None:
    assert list(generate_customers(0)) == []
    assert list(generate_plants(0, customer_numbers=[])) == []
    with pytest.raises(ValueError, match="count"):
        next(generate_plants(-1, customer_numbers=[]))
    with pytest.raises(ValueError, match="count"):
        next(generate_customers(10**9))


# --- customers --------------------------------------------------------------------------------


def test_every_customer_is_clean(customers: list[dict[str, Any]]) -> None:
    problems = [(c["Number"], found) for c in customers if (found := customer_findings(c))]
    assert problems == []


def test_customer_shape_and_mix(customers: list[dict[str, Any]]) -> None:
    companies = [c for c in customers if len(c["Number"]) == 9]
    persons = [c for c in customers if len(c["Number"]) == 11]
    assert len(companies) + len(persons) == len(customers)
    assert 0.07 < len(companies) / len(customers) < 0.13
    assert 0.62 < sum(c["Email"] is not None for c in customers) / len(customers) < 0.78
    assert 0.74 < sum(c["Phone"] is not None for c in customers) / len(customers) < 0.86
    for company in companies:
        assert company["OrganizationNumber"] == company["Number"]
        assert company["BirthDate"] is None
        assert company["LastName"].endswith(" AS")
    for person in persons:
        assert classify_fodselsnummer(person["Number"]) == "fnr"
        assert person["OrganizationNumber"] is None
        assert person["FirstName"]
    for customer in customers:
        assert set(customer) == {
            "Number", "FirstName", "LastName", "Address", "Email", "Phone", "BirthDate",
            "OrganizationNumber", "AcceptElectronicCommunication",
        }  # fmt: skip
        assert customer["Address"]["Country"] == "NO"
        assert customer["Address"]["ForeignCity"] is None
        assert isinstance(customer["AcceptElectronicCommunication"], bool)
        if customer["Phone"] is not None:
            assert len(customer["Phone"]) == 8
            assert customer["Phone"][0] in "49"


def test_birth_date_matches_the_personal_number(customers: list[dict[str, Any]]) -> None:
    for person in customers:
        if person["BirthDate"] is None:
            continue
        born = date.fromisoformat(person["BirthDate"])
        number = person["Number"]
        assert number[:6] == born.strftime("%d%m%y")
        assert date(1930, 1, 1) <= born <= date(2005, 12, 31)
        individ = int(number[6:9])
        assert (individ < 500) if born.year < 2000 else (individ >= 500)


def test_synthetic_ids_are_tenor_numbers() -> None:
    for customer in generate_customers(300, seed=4, synthetic_ids=True):
        number = customer["Number"]
        if len(number) == 11:
            assert classify_fodselsnummer(number) == "synthetic_tenor"
            codes = [f.code for f in customer_number_findings(number, today=TODAY)]
            assert codes == ["synthetic_number"]


# --- plants -----------------------------------------------------------------------------------


def test_every_plant_is_clean(plants: list[dict[str, Any]]) -> None:
    problems = [(p["meteringPointId"], found) for p in plants if (found := plant_findings(p))]
    assert problems == []


def test_plant_fields(plants: list[dict[str, Any]], customers: list[dict[str, Any]]) -> None:
    numbers = {c["Number"] for c in customers}
    without_customer = 0
    for plant in plants:
        if plant["customerId"] is None:
            without_customer += 1
        else:
            assert plant["customerId"] in numbers
        code = plant["consumptionCode"]
        assert isinstance(code, int) or code in {"1a", "29a"}
        assert plant["status"] in {"Spenningsatt", "Inaktivt", "Terminert"}
        connected = date.fromisoformat(plant["connectedDate"])
        assert date(1950, 1, 1) <= connected <= date(2025, 12, 31)
        tech = plant["technicalData"]
        assert tech["mainCircuitBreakerVoltage"] in {230, 400}
        assert tech["earthingSystem"] in {"IT", "TT", "TN-C-S"}
        if tech["earthingSystem"] in {"IT", "TT"}:
            assert tech["mainCircuitBreakerVoltage"] == 230  # FEL § 10 limits (§12 row 34)
        if code == 36:
            assert plant["buildingCode"] in {161, 162, 163, 171}
        if code == 35:
            assert plant["buildingCode"] // 100 == 1
        bid = plant["builtByElCompanyId"]
        assert bid is None or (isinstance(bid, int) and bid > 0)
    assert 0.01 < without_customer / len(plants) < 0.06


def test_consumption_code_mix(plants: list[dict[str, Any]]) -> None:
    counts = Counter(p["consumptionCode"] for p in plants)
    assert counts[35] / len(plants) > 0.5
    assert counts[36] / len(plants) > 0.05
    assert len(counts) >= 15
    more = Counter(p["consumptionCode"] for p in generate_plants(20_000, customer_numbers=[]))
    assert more["1a"] > 0
    assert more["29a"] > 0


def test_empty_customer_list_gives_plants_without_customer() -> None:
    assert all(p["customerId"] is None for p in generate_plants(200, customer_numbers=[]))


def test_hierarchy_ratios_for_1000_plants() -> None:
    plants = list(generate_plants(1000, customer_numbers=[], seed=11))
    cp_parent: dict[str, set[str]] = defaultdict(set)
    transformer_parent: dict[str, set[str]] = defaultdict(set)
    for plant in plants:
        cp = plant["connectionPoint"]
        transformer = cp["transformer"]
        cp_parent[cp["name"]].add(transformer["name"])
        transformer_parent[transformer["name"]].add(transformer["netStation"]["name"])
    net_stations = {ns for parents in transformer_parent.values() for ns in parents}
    assert len(net_stations) == 10
    assert len(transformer_parent) == 20
    assert 160 <= len(cp_parent) <= 260
    assert all(len(parents) == 1 for parents in cp_parent.values())
    assert all(len(parents) == 1 for parents in transformer_parent.values())
    # consecutive plants share their elements
    runs = sum(
        a["connectionPoint"]["name"] != b["connectionPoint"]["name"] for a, b in pairwise(plants)
    )
    assert runs == len(cp_parent) - 1


# --- streaming --------------------------------------------------------------------------------


def test_100k_plants_stream() -> None:
    numbers = [c["Number"] for c in generate_customers(1000)]
    count = 0
    for plant in generate_plants(100_000, customer_numbers=numbers, seed=9):
        count += 1
        assert plant["meteringPointId"]
    assert count == 100_000


def test_streaming_holds_nothing_back() -> None:
    """Peak traced memory stays small however many plants pass through (no hidden lists)."""
    numbers = [c["Number"] for c in generate_customers(1000)]
    tracemalloc.start()
    try:
        for _ in generate_plants(20_000, customer_numbers=numbers, seed=9):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000
