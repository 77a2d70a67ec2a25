"""SPEC §12: search with q and filters, the grid browsed downwards, a customer's plants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tenant, make_tenant
from tests.seed_api import make_fnr, make_mpid, make_orgnr, minimal_plant, problem, upsert_customer
from tests.seed_api import upsert_plant as put_plant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.search import service as search_service

P1, P2, P3, P4, P5 = (make_mpid(n) for n in (1, 2, 3, 4, 5))
COMPANY = make_orgnr(1)
PERSON = make_fnr("010190")


def chain(point: str, transformer: str, station: str) -> dict[str, Any]:
    return {"name": point, "transformer": {"name": transformer, "netStation": {"name": station}}}


NORTH = ("Trafo Fjellet", "NS Tromsø Sentrum")
SOUTH = ("Trafo Slottet", "NS Majorstuen")


def load(client: TestClient, tenant: Tenant) -> None:
    upsert_customer(client, tenant, {"Number": COMPANY, "LastName": "Bærum Øst Eiendom AS"})
    upsert_customer(client, tenant, {"Number": PERSON, "FirstName": "Kjære", "LastName": "Ødegård"})
    plants = [
        minimal_plant(
            P1,
            address={"addressText": "Storgata 12B, Tromsø", "postalCode": "9008"},
            connectionPoint=chain("Kabelskap Bekken", *NORTH),
            customerId=COMPANY,
            status="Spenningsatt",
        ),
        minimal_plant(
            P2,
            address={"addressText": "Sjøgata 3", "postalCode": "9008"},
            connectionPoint=chain("Kabelskap Elva", *NORTH),
            customerId=PERSON,
            status="Inaktivt",
        ),
        minimal_plant(
            P3,
            address={"addressText": "Karl Johans gate 1", "postalCode": "0154"},
            connectionPoint=chain("Kabelskap Parken", *SOUTH),
            auditSpecificInfo={"inspectionArea": 7},
        ),
        minimal_plant(
            P4,
            consumptionCode=35,
            address={"addressText": "Strandveien 5", "postalCode": "1366"},
            customerId=COMPANY,
        ),
    ]
    for body in plants:
        put_plant(client, tenant, body)


@pytest.fixture
def loaded(client: TestClient, tenant: Tenant) -> Tenant:
    load(client, tenant)
    return tenant


def search(client: TestClient, tenant: Tenant, **params: Any) -> list[str]:
    """The metering point ids found, following every page."""
    found: list[str] = []
    after = None
    while True:
        query = params | ({"after": after} if after else {})
        response = client.get(
            f"/api/plant/{tenant.environment}", params=query, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        found += [item["meteringPointId"] for item in page["items"]]
        after = page["next"]
        if after is None:
            return found


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("tromso", [P1, P2]),  # P1's address, and the net station both hang under
        ("TROMSØ", [P1, P2]),
        ("Tromsø", [P1, P2]),
        ("storg", [P1]),
        ("SJØG", [P2]),
        ("sjogata 3", [P2]),
        ("0154", [P3]),
        ("baerum", [P1, P4]),
        ("Bærum øst", [P1, P4]),
        ("odegard kjaere", [P2]),
        ("fjellet", [P1, P2]),
        ("kabelskap elva", [P2]),
        ("majorstuen", [P3]),
        ("nowhere", []),
        ("  ", [P1, P2, P3, P4]),
    ],
)
def test_q_matches_words_of_plant_customer_and_grid(
    client: TestClient, loaded: Tenant, q: str, expected: list[str]
) -> None:
    assert search(client, loaded, q=q) == expected


def test_q_matches_a_metering_point_id_prefix(client: TestClient, loaded: Tenant) -> None:
    assert search(client, loaded, q=P3) == [P3]
    assert search(client, loaded, q=P3[:16]) == [P1, P2, P3, P4]
    assert search(client, loaded, q=P3[:16] + " strand") == [P4]


def test_items_carry_what_a_list_shows(client: TestClient, loaded: Tenant) -> None:
    response = client.get("/api/plant/test", params={"q": "storgata"}, headers=loaded.headers)
    [item] = response.json()["items"]
    assert item["meteringPointId"] == P1
    assert item["address"]["addressText"] == "Storgata 12B, Tromsø"
    assert item["customerName"] == "Bærum Øst Eiendom AS"
    assert item["connectionPoint"] == "Kabelskap Bekken"
    assert item["status"] == "Spenningsatt"
    assert "dueDate" in item


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"postalCode": "9008"}, [P1, P2]),
        ({"netStation": "NS Majorstuen"}, [P3]),
        ({"transformer": "Trafo Fjellet"}, [P1, P2]),
        ({"connectionPoint": "Kabelskap Elva"}, [P2]),
        ({"connectionPoint": "No such point"}, []),
        ({"customer": COMPANY}, [P1, P4]),
        ({"customer": "12345"}, []),
        ({"status": "inaktivt"}, [P2]),
        ({"inspectionArea": 7}, [P3]),
        ({"q": "tromso", "status": "Spenningsatt"}, [P1]),
        ({"q": "tromso", "postalCode": "0154"}, []),
        ({"postalCode": "9008", "customer": PERSON}, [P2]),
    ],
)
def test_filters_combine_with_and(
    client: TestClient, loaded: Tenant, params: dict[str, Any], expected: list[str]
) -> None:
    assert search(client, loaded, **params) == expected


def test_inspection_area_filter_follows_the_rules(client: TestClient, loaded: Tenant) -> None:
    rules = {
        "rules": [
            {"id": "all", "inspectionArea": 1},
            {
                "id": "hotels",
                "consumptionCode": "23",
                "naeringskodePrefix": "55",
                "inspectionArea": 5,
            },
        ]
    }
    response = client.put(
        "/api/settings/test/audit-rules", json=rules, headers={"api-key": loaded.admin_key}
    )
    assert response.status_code == 200, response.text
    assert search(client, loaded, inspectionArea=5) == [P1, P2]  # P3's own 7 comes first
    assert search(client, loaded, inspectionArea=1) == [P4]
    assert search(client, loaded, inspectionArea=7) == [P3]


def test_pages_follow_metering_point_ids(client: TestClient, loaded: Tenant) -> None:
    assert search(client, loaded, limit=1) == [P1, P2, P3, P4]
    first = client.get("/api/plant/test", params={"limit": 3}, headers=loaded.headers).json()
    assert first["next"] == P3
    rest = client.get(
        "/api/plant/test", params={"limit": 3, "after": P3}, headers=loaded.headers
    ).json()
    assert [item["meteringPointId"] for item in rest["items"]] == [P4]
    assert rest["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "Aktiv"}, "status"),
        ({"inspectionArea": "seven"}, "inspectionArea"),
        ({"q": "a\x00b"}, "q"),
        ({"limit": 0}, "limit"),
        ({"q": " ".join(f"w{n}" for n in range(9))}, "q"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: TestClient, loaded: Tenant, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/plant/test", params=params, headers=loaded.headers)
    body = problem(response, 400)
    assert field in {error["field"] for error in body["errors"]}


def test_the_index_follows_every_write(client: TestClient, loaded: Tenant) -> None:
    put_plant(
        client,
        loaded,
        minimal_plant(
            P1,
            address={"addressText": "Fjordgata 1"},
            connectionPoint=chain("Kabelskap Bekken", *NORTH),
        ),
    )
    assert search(client, loaded, q="storgata") == []
    assert search(client, loaded, q="fjordgata") == [P1]
    assert search(client, loaded, postalCode="9008") == [P2]

    upsert_customer(client, loaded, {"Number": PERSON, "FirstName": "Åsmund", "LastName": "Lie"})
    assert search(client, loaded, q="odegard") == []
    assert search(client, loaded, q="asmund") == [P2]

    # A transformer moved to another net station takes its plants along, re-indexing nothing.
    put_plant(
        client,
        loaded,
        minimal_plant(
            P1, connectionPoint=chain("Kabelskap Bekken", "Trafo Fjellet", "NS Majorstuen")
        ),
    )
    assert search(client, loaded, q="majorstuen") == [P1, P2, P3]
    assert search(client, loaded, netStation="NS Majorstuen") == [P1, P2, P3]

    response = client.delete(f"/api/import/test/plant/{P3}", headers=loaded.headers)
    assert response.status_code == 200
    assert search(client, loaded, q="karl") == []


def test_an_erased_customer_is_found_no_more(client: TestClient, loaded: Tenant) -> None:
    response = client.delete(f"/api/import/test/customer/{COMPANY}", headers=loaded.headers)
    assert response.status_code == 200
    assert search(client, loaded, q="baerum") == []
    assert search(client, loaded, customer=COMPANY) == []


def test_only_the_customer_in_force_today_is_matched(client: TestClient, loaded: Tenant) -> None:
    tomorrow = (today_in_oslo() + timedelta(days=1)).isoformat()
    put_plant(client, loaded, minimal_plant(P5, customerId=PERSON, customerChangeFrom=tomorrow))
    put_plant(
        client,
        loaded,
        minimal_plant(
            P1,
            customerId=PERSON,
            customerChangeFrom=tomorrow,
            address={"addressText": "Storgata 12B, Tromsø", "postalCode": "9008"},
            connectionPoint=chain("Kabelskap Bekken", *NORTH),
        ),
    )
    assert search(client, loaded, q="odegard") == [P2]
    assert search(client, loaded, customer=PERSON) == [P2]
    assert search(client, loaded, customer=COMPANY) == [P1, P4]


def test_no_search_reaches_another_instance(
    client: TestClient, loaded: Tenant, database: Database
) -> None:
    other = make_tenant(database, "nett-other", "test")
    put_plant(client, other, minimal_plant(make_mpid(9), address={"addressText": "Storgata 1"}))
    assert search(client, loaded, q="storgata") == [P1]
    assert search(client, other, q="storgata") == [make_mpid(9)]
    assert search(client, other, q="tromso") == []


def test_a_customers_plants(client: TestClient, loaded: Tenant) -> None:
    url = f"/api/customer/environment/test/bynumber/{COMPANY}/plants"
    page = client.get(url, headers=loaded.headers).json()
    assert [item["meteringPointId"] for item in page["items"]] == [P1, P4]
    assert page["items"][0]["customerName"] == "Bærum Øst Eiendom AS"
    paged = client.get(url, params={"limit": 1}, headers=loaded.headers).json()
    assert paged["next"] == P1
    missing = client.get(
        "/api/customer/environment/test/bynumber/999/plants", headers=loaded.headers
    )
    problem(missing, 404)


def test_a_connection_points_plants(client: TestClient, loaded: Tenant) -> None:
    put_plant(client, loaded, minimal_plant(P5, connectionPoint=chain("KS Ærfugl 2", *SOUTH)))
    page = client.get(
        "/api/grid/test/connectionPoint/Kabelskap Elva/plants", headers=loaded.headers
    ).json()
    assert [item["meteringPointId"] for item in page["items"]] == [P2]
    encoded = client.get(
        "/api/grid/test/connectionPoint/KS%20%C3%86rfugl%202/plants", headers=loaded.headers
    )
    assert [item["meteringPointId"] for item in encoded.json()["items"]] == [P5]
    problem(client.get("/api/grid/test/connectionPoint/Nope/plants", headers=loaded.headers), 404)


def test_net_stations_with_counts(client: TestClient, loaded: Tenant) -> None:
    put_plant(
        client,
        loaded,
        minimal_plant(P5, connectionPoint=chain("Kabelskap Tom", "Trafo Ny", "NS Tom")),
    )
    page = client.get("/api/grid/test/netStations", headers=loaded.headers).json()
    counts = {
        item["name"]: (item["transformers"], item["connectionPoints"], item["plants"])
        for item in page["items"]
    }
    assert counts == {
        "NS Majorstuen": (1, 1, 1),
        "NS Tom": (1, 1, 1),
        "NS Tromsø Sentrum": (1, 2, 2),
    }
    assert page["next"] is None
    first = client.get(
        "/api/grid/test/netStations", params={"limit": 1}, headers=loaded.headers
    ).json()
    assert [item["name"] for item in first["items"]] == ["NS Majorstuen"]
    second = client.get(
        "/api/grid/test/netStations",
        params={"limit": 1, "after": first["next"]},
        headers=loaded.headers,
    ).json()
    assert [item["name"] for item in second["items"]] == ["NS Tom"]


def test_a_net_station_downwards(client: TestClient, loaded: Tenant) -> None:
    tree = client.get("/api/grid/test/netStation/NS Tromsø Sentrum", headers=loaded.headers).json()
    assert tree["name"] == "NS Tromsø Sentrum"
    assert (tree["connectionPoints"], tree["plants"]) == (2, 2)
    [transformer] = tree["transformers"]
    assert transformer["name"] == "Trafo Fjellet"
    assert transformer["plants"] == 2
    assert [(p["name"], p["plants"]) for p in transformer["connectionPoints"]] == [
        ("Kabelskap Bekken", 1),
        ("Kabelskap Elva", 1),
    ]
    assert set(transformer["connectionPoints"][0]) >= {"address", "location"}
    problem(client.get("/api/grid/test/netStation/Nope", headers=loaded.headers), 404)


def test_due_dates_show_and_filter(client: TestClient, loaded: Tenant) -> None:
    today = today_in_oslo()
    tomorrow = (today + timedelta(days=1)).isoformat()
    items = client.get("/api/plant/test", headers=loaded.headers).json()["items"]
    due = {item["meteringPointId"]: item["dueDate"] for item in items}
    # P1 is in service and never inspected: due today; the others are not in service.
    assert due == {P1: today.isoformat(), P2: None, P3: None, P4: None}
    assert search(client, loaded, dueBefore=tomorrow) == [P1]
    assert search(client, loaded, dueBefore=today.isoformat()) == []
    assert search(client, loaded, dueBefore=tomorrow, q="nowhere") == []
    inspection = {
        "meteringPointId": P1,
        "date": today.isoformat(),
        "kind": "periodic",
    }
    response = client.post("/api/inspection/test", json=inspection, headers=loaded.headers)
    assert response.status_code == 200, response.text
    assert search(client, loaded, dueBefore=tomorrow) == []
    [item] = client.get("/api/plant/test", params={"q": "storgata"}, headers=loaded.headers).json()[
        "items"
    ]
    assert item["dueDate"] is not None
    assert item["dueDate"] > today.isoformat()
    problem(
        client.get("/api/plant/test", params={"dueBefore": "2026-02-30"}, headers=loaded.headers),
        400,
    )


def test_due_before_pages_past_chunks(
    client: TestClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More candidates than one chunk of due dates: the page still finds the due ones."""
    bodies = [
        minimal_plant(make_mpid(100 + n), status="Spenningsatt" if n % 7 == 0 else "Inaktivt")
        for n in range(30)
    ]
    response = client.post("/api/import/test/plant/bulk", json=bodies, headers=tenant.headers)
    assert response.status_code == 200, response.text
    monkeypatch.setattr(search_service, "_DUE_CHUNK", 4)
    tomorrow = (today_in_oslo() + timedelta(days=1)).isoformat()
    found = search(client, tenant, dueBefore=tomorrow, limit=2)
    assert found == [make_mpid(100 + n) for n in range(0, 30, 7)]
