"""SPEC §6: net station → transformer → connection point → plants, sent with each plant."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    error_codes,
    fetch_plant,
    history,
    issue_codes,
    make_mpid,
    minimal_plant,
    plant_url,
    post,
    service_upsert_plant,
    upsert_plant,
)
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.models import GridElement, Plant

MPID = make_mpid(41)
OTHER = make_mpid(42)
NS = {"name": "NS-1", "address": {"addressText": "Gamlevn.79", "postalCode": "2040"}}
TR = {"name": "T-1", "location": {"latitude": 60.1, "longitude": 11.1}}
CP = {"name": "CP-1", "address": {"addressText": "Averstadmoen 24", "postalCode": 2040}}


def nested(
    cp: dict[str, Any] = CP, tr: dict[str, Any] = TR, ns: dict[str, Any] = NS
) -> dict[str, Any]:
    return {**cp, "transformer": {**tr, "netStation": ns}}


def flat(
    cp: dict[str, Any] = CP, tr: dict[str, Any] = TR, ns: dict[str, Any] = NS
) -> dict[str, Any]:
    return {"connectionPoint": cp, "transformer": tr, "netStation": ns}


EXPECTED_CHAIN = {
    "name": "CP-1",
    "address": {"addressText": "Averstadmoen 24", "postalCode": "2040"},
    "location": {"latitude": None, "longitude": None},
    "transformer": {
        "name": "T-1",
        "address": {"addressText": None, "postalCode": None},
        "location": {"latitude": 60.1, "longitude": 11.1},
        "netStation": {
            "name": "NS-1",
            "address": {"addressText": "Gamlevn.79", "postalCode": "2040"},
            "location": {"latitude": None, "longitude": None},
        },
    },
}


def elements(database: Database, instance_id: int) -> dict[tuple[str, str], str | None]:
    """``{(kind, name): parent name}`` of every element of an instance."""
    with database.read() as session:
        rows = list(
            session.scalars(select(GridElement).where(GridElement.instance_id == instance_id))
        )
    by_id = {row.id: row for row in rows}
    return {
        (row.kind, row.name): by_id[row.parent_id].name if row.parent_id in by_id else None
        for row in rows
    }


ALL_THREE = {
    ("netStation", "NS-1"): None,
    ("transformer", "T-1"): "NS-1",
    ("connectionPoint", "CP-1"): "T-1",
}


def test_nested_form(client: TestClient, database: Database, tenant: Tenant) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    assert response["warnings"] == []
    assert response["data"]["connectionPoint"] == EXPECTED_CHAIN
    assert fetch_plant(client, tenant, MPID)["connectionPoint"] == EXPECTED_CHAIN
    assert elements(database, tenant.instance_id) == ALL_THREE


def test_flat_form_is_the_same_hierarchy(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, **flat()))
    assert response["data"]["connectionPoint"] == EXPECTED_CHAIN
    assert elements(database, tenant.instance_id) == ALL_THREE
    # The nested form of the same elements changes nothing.
    again = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    assert again["result"] == "unchanged"


def test_half_flat_form(client: TestClient, database: Database, tenant: Tenant) -> None:
    body = minimal_plant(MPID, connectionPoint={**CP, "transformer": TR}, netStation=NS)
    assert upsert_plant(client, tenant, body)["data"]["connectionPoint"] == EXPECTED_CHAIN
    assert elements(database, tenant.instance_id) == ALL_THREE


def test_nested_transformer_wins_over_a_flat_one(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    body = minimal_plant(MPID, connectionPoint=nested(), transformer={"name": "T-flat"})
    response = upsert_plant(client, tenant, body)
    assert response["data"]["connectionPoint"]["transformer"]["name"] == "T-1"
    assert issue_codes(response["warnings"]) == {("transformer", "ignored_duplicate")}
    assert ("transformer", "T-flat") not in elements(database, tenant.instance_id)


def test_elements_are_created_once_and_shared(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    response = upsert_plant(client, tenant, minimal_plant(OTHER, connectionPoint=nested()))
    assert response["result"] == "created"
    assert elements(database, tenant.instance_id) == ALL_THREE
    assert fetch_plant(client, tenant, OTHER)["connectionPoint"] == EXPECTED_CHAIN
    with database.read() as session:
        cp_ids = set(session.scalars(select(Plant.connection_point_id)))
    assert len(cp_ids) == 1
    creates = [r for r in history(database, tenant.instance_id) if r.entity_type != "plant"]
    assert sorted((r.entity_type, r.operation) for r in creates) == [
        ("connectionPoint", "create"),
        ("netStation", "create"),
        ("transformer", "create"),
    ]


def test_element_changes_show_in_every_plant(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    moved_ns = {**NS, "address": {"addressText": "Nyveien 1", "postalCode": "2040"}}
    response = upsert_plant(
        client, tenant, minimal_plant(OTHER, connectionPoint=nested(ns=moved_ns))
    )
    assert response["result"] == "created"
    first = fetch_plant(client, tenant, MPID)["connectionPoint"]
    assert first["transformer"]["netStation"]["address"]["addressText"] == "Nyveien 1"


def test_an_element_change_alone_updates_the_plant(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    located = {**CP, "location": {"latitude": 60.0, "longitude": 11.0}}
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested(cp=located)))
    assert response["result"] == "updated"
    assert response["data"]["connectionPoint"]["location"] == {"latitude": 60.0, "longitude": 11.0}


def test_element_under_another_parent_moves(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    other_tr = {"name": "T-2"}
    response = upsert_plant(
        client, tenant, minimal_plant(OTHER, connectionPoint=nested(tr=other_tr))
    )
    assert response["data"]["connectionPoint"]["transformer"]["name"] == "T-2"
    # Shared: the first plant's connection point moved too.
    assert fetch_plant(client, tenant, MPID)["connectionPoint"]["transformer"]["name"] == "T-2"
    tree = elements(database, tenant.instance_id)
    assert tree[("connectionPoint", "CP-1")] == "T-2"
    assert tree[("transformer", "T-2")] == "NS-1"
    assert tree[("transformer", "T-1")] == "NS-1"
    moves = [r for r in history(database, tenant.instance_id) if r.operation == "move"]
    assert [(r.entity_type, r.entity_key, r.diff) for r in moves] == [
        ("connectionPoint", "CP-1", {"parent": ["T-1", "T-2"]})
    ]


def test_transformer_moves_to_another_net_station(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested(ns={"name": "NS-2"})))
    assert elements(database, tenant.instance_id)[("transformer", "T-1")] == "NS-2"
    moves = [r for r in history(database, tenant.instance_id) if r.operation == "move"]
    assert [(r.entity_type, r.diff) for r in moves] == [
        ("transformer", {"parent": ["NS-1", "NS-2"]})
    ]


def test_element_without_address_or_location_keeps_its_own(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    located_cp = {**CP, "location": {"latitude": 60.0, "longitude": 11.0}}
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested(cp=located_cp)))
    bare = {
        "connectionPoint": {
            "name": "CP-1",
            "transformer": {"name": "T-1", "netStation": {"name": "NS-1"}},
        }
    }
    response = upsert_plant(client, tenant, minimal_plant(OTHER, **bare))
    chain = response["data"]["connectionPoint"]
    assert chain["address"] == {"addressText": "Averstadmoen 24", "postalCode": "2040"}
    assert chain["location"] == {"latitude": 60.0, "longitude": 11.0}
    assert chain["transformer"]["location"] == {"latitude": 60.1, "longitude": 11.1}
    assert chain["transformer"]["netStation"]["address"]["addressText"] == "Gamlevn.79"
    assert not [
        r for r in history(database, tenant.instance_id) if r.operation in {"update", "move"}
    ]


def test_element_without_parent_keeps_its_parent(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    response = upsert_plant(client, tenant, minimal_plant(OTHER, connectionPoint={"name": "CP-1"}))
    assert response["data"]["connectionPoint"] == EXPECTED_CHAIN
    assert elements(database, tenant.instance_id) == ALL_THREE


def test_element_address_sent_replaces_both_parts(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    cp = {"name": "CP-1", "address": {"addressText": "Ny adresse"}}
    chain = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=cp))["data"][
        "connectionPoint"
    ]
    assert chain["address"] == {"addressText": "Ny adresse", "postalCode": None}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"connectionPoint": {"address": {"postalCode": "2040"}}}, "connectionPoint.name"),
        ({"connectionPoint": {"name": ""}}, "connectionPoint.name"),
        ({"connectionPoint": {"name": "  "}}, "connectionPoint.name"),
        ({"connectionPoint": {"name": None}}, "connectionPoint.name"),
        (
            {"connectionPoint": {"name": "CP", "transformer": {}}},
            "connectionPoint.transformer.name",
        ),
        (
            {
                "connectionPoint": {
                    "name": "CP",
                    "transformer": {"name": "T", "netStation": {"location": {}}},
                }
            },
            "connectionPoint.transformer.netStation.name",
        ),
        ({"connectionPoint": {"name": "CP"}, "transformer": {"location": {}}}, "transformer.name"),
        ({"netStation": {"address": {}}}, "netStation.name"),
    ],
)
def test_element_without_name_is_400(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], field: str
) -> None:
    assert error_codes(post(client, tenant, plant_url(), minimal_plant(MPID, **fields))) == {
        (field, "missing")
    }


def test_element_name_as_a_number(client: TestClient, tenant: Tenant) -> None:
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint={"name": 6293115}))
    assert response["data"]["connectionPoint"]["name"] == "6293115"


def test_element_names_are_trimmed(client: TestClient, database: Database, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint={"name": " CP-1 "}))
    upsert_plant(client, tenant, minimal_plant(OTHER, connectionPoint={"name": "CP-1"}))
    assert elements(database, tenant.instance_id) == {("connectionPoint", "CP-1"): None}


def test_element_locations_in_every_form(client: TestClient, tenant: Tenant) -> None:
    cp = {"name": "CP", "location": {"coordinates": {"Latitude": 59.9, "Longitude": 10.7}}}
    tr = {"name": "T", "location": {"Latitude": 60.9, "Longitude": 11.7}}
    ns = {"name": "N", "location": {"coordinates": {"lat": 61.9, "long": 12.7}}}
    chain = upsert_plant(client, tenant, minimal_plant(MPID, **flat(cp, tr, ns)))["data"][
        "connectionPoint"
    ]
    assert chain["location"] == {"latitude": 59.9, "longitude": 10.7}
    assert chain["transformer"]["location"] == {"latitude": 60.9, "longitude": 11.7}
    assert chain["transformer"]["netStation"]["location"] == {"latitude": 61.9, "longitude": 12.7}


def test_element_coordinates_are_checked(client: TestClient, tenant: Tenant) -> None:
    swapped = {"name": "CP", "location": {"Longitude": 59.911491, "Latitude": 10.757933}}
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=swapped))
    assert issue_codes(response["warnings"]) == {
        ("connectionPoint.location", "coordinates_swapped")
    }
    flat_out = {"name": "T", "location": {"latitude": 0.5, "longitude": 0.5}}
    response = upsert_plant(client, tenant, minimal_plant(MPID, transformer=flat_out))
    assert issue_codes(response["warnings"]) == {("transformer.location", "outside_norway")}
    wrong = {"name": "CP", "location": {"latitude": 100, "longitude": 10}}
    codes = error_codes(
        post(client, tenant, plant_url(), minimal_plant(MPID, connectionPoint=wrong))
    )
    assert codes == {("connectionPoint.location.latitude", "less_than_equal")}


def test_upsert_without_connection_point_detaches_the_plant(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    response = upsert_plant(client, tenant, minimal_plant(MPID))
    assert response["result"] == "updated"
    assert response["data"]["connectionPoint"] is None
    assert fetch_plant(client, tenant, MPID)["connectionPoint"] is None
    # The elements stay: other plants may hang under them.
    assert elements(database, tenant.instance_id) == ALL_THREE
    plant_rows = [r for r in history(database, tenant.instance_id) if r.entity_type == "plant"]
    assert plant_rows[-1].diff == {"connectionPoint": ["CP-1", None]}


def test_plant_under_only_a_transformer_is_detached(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    response = upsert_plant(client, tenant, minimal_plant(MPID, transformer={"name": "T-9"}))
    assert response["data"]["connectionPoint"] is None
    assert ("transformer", "T-9") in elements(database, tenant.instance_id)


def test_plant_moves_to_another_connection_point(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    response = upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint={"name": "CP-2"}))
    assert response["result"] == "updated"
    assert response["data"]["connectionPoint"]["name"] == "CP-2"
    assert response["data"]["connectionPoint"]["transformer"] is None


def test_hierarchy_is_per_instance(client: TestClient, database: Database, tenant: Tenant) -> None:
    other = make_tenant(database, "other-test", "test")
    upsert_plant(client, tenant, minimal_plant(MPID, connectionPoint=nested()))
    upsert_plant(client, other, minimal_plant(MPID, connectionPoint={"name": "CP-1"}))
    assert fetch_plant(client, other, MPID)["connectionPoint"]["transformer"] is None
    assert elements(database, other.instance_id) == {("connectionPoint", "CP-1"): None}
    assert elements(database, tenant.instance_id) == ALL_THREE


# --- Concurrency ----------------------------------------------------------------------------

THREADS = 8


def _run_together(work: list[Any]) -> list[Any]:
    """Run the callables in threads released at the same moment; their results or errors."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work[index]()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_concurrent_upserts_share_new_elements(database: Database, tenant: Tenant) -> None:
    """Service level: one write transaction per thread, all creating the same elements."""
    bodies = [
        minimal_plant(make_mpid(100 + i), connectionPoint=nested(cp={"name": f"CP-{i % 3}"}))
        for i in range(THREADS)
    ]

    def upsert(body: dict[str, Any]) -> str:
        with database.write() as session:
            outcome = service_upsert_plant(
                session, Actor(instance_id=tenant.instance_id), body, today=today_in_oslo()
            )
        return outcome.result

    results = _run_together([lambda body=body: upsert(body) for body in bodies])
    assert results == ["created"] * THREADS
    tree = elements(database, tenant.instance_id)
    assert tree == {
        ("netStation", "NS-1"): None,
        ("transformer", "T-1"): "NS-1",
        ("connectionPoint", "CP-0"): "T-1",
        ("connectionPoint", "CP-1"): "T-1",
        ("connectionPoint", "CP-2"): "T-1",
    }
    creates = [r for r in history(database, tenant.instance_id) if r.entity_type != "plant"]
    assert len(creates) == 5


def test_concurrent_requests_share_new_elements(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """Through HTTP: every request answers 200 and each element exists once."""
    bodies = [minimal_plant(make_mpid(200 + i), **flat()) for i in range(THREADS)]
    responses = _run_together(
        [lambda body=body: post(client, tenant, plant_url(), body) for body in bodies]
    )
    assert [r.status_code for r in responses] == [200] * THREADS, responses
    assert elements(database, tenant.instance_id) == ALL_THREE
    for body in bodies:
        assert (
            fetch_plant(client, tenant, body["meteringPointId"])["connectionPoint"]
            == EXPECTED_CHAIN
        )


def test_concurrent_upserts_of_one_plant(database: Database, tenant: Tenant) -> None:
    """The same new plant at once: one creates it, the others find it."""

    def upsert() -> str:
        with database.write() as session:
            outcome = service_upsert_plant(
                session,
                Actor(instance_id=tenant.instance_id),
                minimal_plant(MPID, connectionPoint=nested()),
                today=today_in_oslo(),
            )
        return outcome.result

    results = _run_together([upsert] * THREADS)
    assert sorted(results) == ["created"] + ["unchanged"] * (THREADS - 1)
    with database.read() as session:
        assert len(list(session.scalars(select(Plant.id)))) == 1
