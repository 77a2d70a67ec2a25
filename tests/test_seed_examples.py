"""Every JSON example of the seed document, made valid, as a client would send it.

The seed's examples are not valid JSON (trailing and missing commas, ``0485``, a stray brace,
unquoted names, comments). Each is kept here as text with only its syntax fixed; the broken
originals must be refused with the line and column of their first error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tenant
from tests.seed_api import (
    builtby_url,
    customer_url,
    fetch_customer,
    fetch_plant,
    issue_codes,
    make_mpid,
    minimal_plant,
    ok,
    plant_url,
    post_raw,
    problem,
    upsert_plant,
)
from tilsyn.contract.customers.schemas import SEED_CUSTOMER_EXAMPLE
from tilsyn.contract.plants.schemas import SEED_PLANT_EXAMPLE

SEED_MPID = "707057500026392734"

CUSTOMER_AS_PRINTED = """{
  "Number" : "22097312401",
  "FirstName" : "Ola",
  "LastName" : "Normann",
  "Address" : {
    "AddressText" : "Testveien 24",
    "PostalCode" : "0484",
    "ForeignCity" : "Stockholm",
    "Country" : "SE",
  },
  "Email" : "ola.normann@test.com",
  "Phone" : "40506070",
  "BirthDate" : "1982-01-01",
  "OrganizationNumber" : "951123123",
  "AcceptElectronicCommunication" : true
}"""
CUSTOMER = CUSTOMER_AS_PRINTED.replace('"SE",', '"SE"')

PLANT = """{
  "customerChangeFrom": "2020-01-01",
  "customerId": "1234567",
  "meteringPointId": "707057500026392734",
  "plantId": "123456",
  "searchCategory": "123456",
  "consumptionCode": 23,
  "industrialClassification": "55.102",
  "buildingCode": 114,
  "connectedDate": "1989-01-01",
  "status": "Spennnigsatt",
  "address": {
    "addressText": "Testveien 8",
    "postalCode": "0485",
    "floor": "1",
    "apartmentNumber": "1",
    "holdingNumber": 35,
    "subHoldingNumber": 108,
    "leaseNumber": 2,
    "sectionNumber": 5,
    "residentialNumber": "H0101"
  },
  "meter": {
    "meterNumber": "7359992893145468",
    "supplier": "Målerleverandør AS",
    "modell": "ML2784"
  },
  "Description": "New description",
  "externalPlantNumber": "ExternalId",
  "technicalData": {
    "mainCircuitBreakerCurrent": 230,
    "mainCircuitBreakerPhase": 3,
    "mainCircuitBreakerAmps": 80,
    "mainCircuitBreakerVoltage": 400,
    "overLoadAmps": 30,
    "overLoadPhase": 3,
    "shortCircuitProtectionAmps": 400,
    "shortCircuitProtectionPhase": 3,
    "IO": 0,
    "earthingSystem": "xxx",
    "connectionType": "xxx"
  },
  "builtByElCompanyId": 12345,
  "location": {
    "latitude": 59.911491,
    "longitude": 10.757933
  },
  "connectionPoint": {
    "name": "6293115",
    "address": {
      "addressText": "Averstadmoen 24",
      "postalCode": "2040"
    },
    "location": {
      "Longitude" : 59.911491,
      "Latitude" : 10.757933
    },
    "transformer": {
      "name": "TU2839-1",
      "address": {
        "addressText": "Gamlevn.79",
        "postalCode": "2040"
      },
      "location": {
        "Longitude" : 59.911491,
        "Latitude" : 10.757933
      },
      "netStation": {
        "name": "Gamlevn.79",
        "address": {
          "addressText": "Gamlevn.79",
          "postalCode": "2040"
        },
        "location": {
          "Longitude" : 59.911491,
          "Latitude" : 10.757933
        }
      }
    }
  }
}"""

BUILTBY = """{
  "meteringPointId": "707057500026392734",
  "builtByElCompanyId": 12345
}"""

BUILTBY_EXTENSION = """{
  "meteringPointId": "707057500026392734",
  "builtByElCompanyId": 12345,
  "extensionName": "Kjøkken",
  "extensionYearBuilt": 2019
}"""

LOCATION_FRAGMENT = """"location": {
  "latitude": 59.911491,
  "longitude": 10.757933
}"""

LEGACY_COORDINATES_FRAGMENT = """"coordinates": {
  "lat" : 59.911491,
  "long" : 10.757933
}"""

# "Dette er nå erstattet med": the seed leaves the names unquoted.
REPLACEMENT_LOCATION_AS_PRINTED = """location: {
  latitude: 59.911491,
  longitude: 10.757933
}"""
REPLACEMENT_LOCATION_FRAGMENT = (
    REPLACEMENT_LOCATION_AS_PRINTED.replace("location:", '"location":')
    .replace("latitude:", '"latitude":')
    .replace("longitude:", '"longitude":')
)

# The request example of 4/4/22, without its comment and with the names an element needs.
REQUEST_EXAMPLE_4_4_22 = """{
  "location": {
    "Coordinates": {
      "latitude": 59.911491,
      "longitude": 10.757933
    }
  },
  "connectionPoint": {
    "name": "6293115",
    "location": {
      "coordinates": {
        "Longitude" : 59.911491,
        "Latitude" : 10.757933
      }
    }
  },
  "transformer": {
    "name": "TU2839-1",
    "location": {
      "coordinates": {
        "Longitude" : 59.911491,
        "Latitude" : 10.757933
      }
    }
  },
  "netStation": {
    "name": "Gamlevn.79",
    "location": {
      "coordinates": {
        "Longitude" : 59.911491,
        "Latitude" : 10.757933
      }
    }
  }
}"""

HIERARCHY_FRAGMENT = """"connectionPoint": {
  "name": "6293115",
  "address": {
    "addressText": "Averstadmoen 24",
    "postalCode": "2040"
  },
  "location": {
    "Longitude" : 59.911491,
    "Latitude" : 10.757933
  },
  "transformer": {
    "name": "TU2839-1",
    "address": {
      "addressText": "Gamlevn.79",
      "postalCode": "2040"
    },
    "location": {
      "Longitude" : 59.911491,
      "Latitude" : 10.757933
    },
    "netStation": {
      "name": "Gamlevn.79",
      "address": {
        "addressText": "Gamlevn.79",
        "postalCode": "2040"
      },
      "location": {
        "Longitude" : 59.911491,
        "Latitude" : 10.757933
      }
    }
  }
}"""

AUDIT_FRAGMENT_AS_PRINTED = """"auditSpecificInfo": {
  "plantType": "Bolighus/leiligheter"
  "inspectionArea": 63
  "riskCategoryGroup": 3
  "inspectionRate": 20
}"""
AUDIT_FRAGMENT = (
    AUDIT_FRAGMENT_AS_PRINTED.replace('leiligheter"\n', 'leiligheter",\n')
    .replace("63\n", "63,\n")
    .replace("3\n", "3,\n")
)

# The technical data of 4/4/22, with commas and without the Norwegian notes beside the values.
TECHNICAL_FRAGMENT = """"technicalData": {
  "overLoadAmps": 30,
  "overLoadPhase": 3,
  "shortCircuitProtectionAmps": 400,
  "shortCircuitProtectionPhase": 3,
  "earthingSystem": "xxx",
  "connectionType": "xxx"
}"""

SWAPPED_HIERARCHY = {
    ("connectionPoint.location", "coordinates_swapped"),
    ("connectionPoint.transformer.location", "coordinates_swapped"),
    ("connectionPoint.transformer.netStation.location", "coordinates_swapped"),
}


def plant_with(fragment: str, mpid: str = SEED_MPID) -> bytes:
    """A minimal plant body with one of the seed's fragments in it, as text."""
    head = json.dumps(minimal_plant(mpid), indent=2)[:-2]
    return f"{head},\n{fragment}\n}}".encode()


def send(client: TestClient, tenant: Tenant, url: str, raw: str | bytes) -> dict[str, Any]:
    return ok(post_raw(client, tenant, url, raw.encode() if isinstance(raw, str) else raw))


def test_customer_example(client: TestClient, tenant: Tenant) -> None:
    response = send(client, tenant, customer_url(), CUSTOMER)
    assert response["result"] == "created"
    assert issue_codes(response["warnings"]) == {
        ("Number", "checksum"),
        ("OrganizationNumber", "checksum"),
    }
    assert response["data"] == SEED_CUSTOMER_EXAMPLE
    assert fetch_customer(client, tenant, "22097312401") == SEED_CUSTOMER_EXAMPLE


def test_customer_example_as_printed_is_refused(client: TestClient, tenant: Tenant) -> None:
    raw = CUSTOMER_AS_PRINTED.encode()
    body = problem(post_raw(client, tenant, customer_url(), raw), 400)
    assert "line 10, column 3" in body["detail"]


def test_plant_example(client: TestClient, tenant: Tenant) -> None:
    assert json.loads(PLANT) == SEED_PLANT_EXAMPLE
    response = send(client, tenant, plant_url(), PLANT)
    assert response["result"] == "created"
    assert issue_codes(response["warnings"]) == SWAPPED_HIERARCHY | {
        ("meteringPointId", "checksum"),
        ("status", "status_corrected"),
        ("buildingCode", "unknown_code"),
        ("technicalData.earthingSystem", "unknown_code"),
        ("customerId", "customer_not_found"),
    }
    assert response["data"] == fetch_plant(client, tenant, SEED_MPID)


@pytest.mark.parametrize(
    ("broken", "line"),
    [
        (PLANT.replace('"0485"', "0485"), 14),  # a number with a leading zero
        (
            PLANT.replace('"shortCircuitProtectionPhase": 3,', '"shortCircuitProtectionPhase": 3'),
            39,
        ),
        (PLANT.replace('"residentialNumber": "H0101"', '"residentialNumber": "H0101",'), 22),
    ],
    ids=["leading-zero", "missing-comma", "trailing-comma"],
)
def test_plant_example_syntax_errors_are_refused(
    client: TestClient, tenant: Tenant, broken: str, line: int
) -> None:
    body = problem(post_raw(client, tenant, plant_url(), broken.encode()), 400)
    assert f"line {line}, column" in body["detail"]


def test_builtby_examples(client: TestClient, tenant: Tenant) -> None:
    send(client, tenant, plant_url(), PLANT)
    first = send(client, tenant, builtby_url(), BUILTBY)
    assert first["result"] == "unchanged"  # the plant example already names builder 12345
    assert first["data"]["builtByElCompanyId"] == 12345
    second = send(client, tenant, builtby_url(), BUILTBY_EXTENSION)
    assert second["result"] == "created"
    assert fetch_plant(client, tenant, SEED_MPID)["extensions"] == [
        {"extensionName": "Kjøkken", "extensionYearBuilt": 2019, "builtByElCompanyId": 12345}
    ]


def test_builtby_example_on_a_plant_without_builder(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(SEED_MPID))
    response = send(client, tenant, builtby_url(), BUILTBY)
    assert response["result"] == "updated"
    assert fetch_plant(client, tenant, SEED_MPID)["builtByElCompanyId"] == 12345


@pytest.mark.parametrize(
    ("fragment", "warnings"),
    [
        (LOCATION_FRAGMENT, set()),
        (LEGACY_COORDINATES_FRAGMENT, set()),
        (REPLACEMENT_LOCATION_FRAGMENT, set()),
        (
            '"location": {\n  "Coordinates": {\n    "latitude": 59.911491,\n'
            '    "longitude": 10.757933\n  }\n}',
            set(),
        ),
    ],
    ids=["location", "legacy-coordinates", "replacement", "location-Coordinates"],
)
def test_location_fragments(
    client: TestClient, tenant: Tenant, fragment: str, warnings: set[tuple[str, str]]
) -> None:
    response = send(client, tenant, plant_url(), plant_with(fragment))
    assert issue_codes(response["warnings"]) == warnings | {("meteringPointId", "checksum")}
    assert fetch_plant(client, tenant, SEED_MPID)["location"] == {
        "latitude": 59.911491,
        "longitude": 10.757933,
    }


def test_replacement_location_as_printed_is_refused(client: TestClient, tenant: Tenant) -> None:
    raw = plant_with(REPLACEMENT_LOCATION_AS_PRINTED)
    body = problem(post_raw(client, tenant, plant_url(), raw), 400)
    assert "line 5, column 1" in body["detail"]


def test_request_example_of_4_4_22(client: TestClient, tenant: Tenant) -> None:
    mpid = make_mpid(61)
    raw = json.loads(REQUEST_EXAMPLE_4_4_22) | minimal_plant(mpid)
    response = send(client, tenant, plant_url(), json.dumps(raw))
    assert issue_codes(response["warnings"]) == {
        ("connectionPoint.location.coordinates", "coordinates_swapped"),
        ("transformer.location.coordinates", "coordinates_swapped"),
        ("netStation.location.coordinates", "coordinates_swapped"),
    }
    plant = fetch_plant(client, tenant, mpid)
    assert plant["location"] == {"latitude": 59.911491, "longitude": 10.757933}
    chain = plant["connectionPoint"]
    assert chain["name"] == "6293115"
    assert chain["transformer"]["name"] == "TU2839-1"
    assert chain["transformer"]["netStation"]["name"] == "Gamlevn.79"
    # Stored as sent: the seed swaps them, tilsyn warns but does not guess.
    assert chain["location"] == {"latitude": 10.757933, "longitude": 59.911491}


def test_request_example_of_4_4_22_without_names_is_refused(
    client: TestClient, tenant: Tenant
) -> None:
    raw = json.loads(REQUEST_EXAMPLE_4_4_22) | minimal_plant(make_mpid(62))
    for kind in ("connectionPoint", "transformer", "netStation"):
        del raw[kind]["name"]
    body = problem(post_raw(client, tenant, plant_url(), json.dumps(raw).encode()), 400)
    assert issue_codes(body["errors"]) == {
        ("connectionPoint.name", "missing"),
        ("transformer.name", "missing"),
        ("netStation.name", "missing"),
    }


def test_hierarchy_fragment(client: TestClient, tenant: Tenant) -> None:
    response = send(client, tenant, plant_url(), plant_with(HIERARCHY_FRAGMENT))
    assert issue_codes(response["warnings"]) == SWAPPED_HIERARCHY | {
        ("meteringPointId", "checksum")
    }
    chain = fetch_plant(client, tenant, SEED_MPID)["connectionPoint"]
    assert chain == {
        "name": "6293115",
        "address": {"addressText": "Averstadmoen 24", "postalCode": "2040"},
        "location": {"latitude": 10.757933, "longitude": 59.911491},
        "transformer": {
            "name": "TU2839-1",
            "address": {"addressText": "Gamlevn.79", "postalCode": "2040"},
            "location": {"latitude": 10.757933, "longitude": 59.911491},
            "netStation": {
                "name": "Gamlevn.79",
                "address": {"addressText": "Gamlevn.79", "postalCode": "2040"},
                "location": {"latitude": 10.757933, "longitude": 59.911491},
            },
        },
    }


def test_audit_specific_info_fragment(client: TestClient, tenant: Tenant) -> None:
    problem(post_raw(client, tenant, plant_url(), plant_with(AUDIT_FRAGMENT_AS_PRINTED)), 400)
    send(client, tenant, plant_url(), plant_with(AUDIT_FRAGMENT))
    assert fetch_plant(client, tenant, SEED_MPID)["auditSpecificInfo"] == {
        "plantType": "Bolighus/leiligheter",
        "inspectionArea": 63,
        "riskCategoryGroup": 3,
        "inspectionRate": 20,
        "source": {
            "plantType": "explicit",
            "inspectionArea": "explicit",
            "riskCategoryGroup": "explicit",
            "inspectionRate": "explicit",
        },
    }


def test_technical_data_fragment(client: TestClient, tenant: Tenant) -> None:
    response = send(client, tenant, plant_url(), plant_with(TECHNICAL_FRAGMENT))
    assert ("technicalData.earthingSystem", "unknown_code") in issue_codes(response["warnings"])
    technical = fetch_plant(client, tenant, SEED_MPID)["technicalData"]
    assert technical["overLoadAmps"] == 30
    assert technical["shortCircuitProtectionPhase"] == 3
    assert technical["connectionType"] == "xxx"
    assert technical["mainCircuitBreakerAmps"] is None


def test_the_openapi_examples_are_the_seed_examples(client: TestClient) -> None:
    """/docs shows the seed's examples, made valid."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["CustomerIn"]["examples"] == [json.loads(CUSTOMER)]
    assert schemas["PlantIn"]["examples"] == [json.loads(PLANT)]
