"""Bulk endpoints: the single-entity rules per item, chunked commits, streamed results."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import SECRET, Tenant, make_tenant
from tests.servers import free_port, running_server, wait_until_ready
from tilsyn.core.db import Database
from tilsyn.core.models import Plant
from tilsyn.demo_data import generate_customers, generate_plants

NDJSON = {"content-type": "application/x-ndjson"}


def ndjson(items: list[Any]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_each_item_gets_its_result_and_a_bad_item_sinks_nothing(
    client: TestClient, tenant: Tenant
) -> None:
    plants = list(generate_plants(3, customer_numbers=[], seed=5))
    broken = {**plants[1], "status": "Nope"}
    body = ndjson([plants[0], broken]) + b"{not json\n" + ndjson([[1, 2], plants[2]])
    response = client.post(
        "/api/import/test/plant/bulk", content=body, headers={**tenant.headers, **NDJSON}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    results = lines(response)
    assert [r.get("result") for r in results[:-1]] == [
        "created",
        "failed",
        "failed",
        "failed",
        "created",
    ]
    assert [r["index"] for r in results[:-1]] == [0, 1, 2, 3, 4]
    assert results[0]["key"] == plants[0]["meteringPointId"]
    assert results[1]["errors"][0]["field"] == "status"
    assert results[2]["errors"][0]["code"] == "invalid_json"
    assert results[-1] == {
        "summary": {
            "created": 2,
            "updated": 0,
            "unchanged": 0,
            "superseded": 0,
            "failed": 3,
            "total": 5,
        }
    }
    stored = client.get(
        f"/api/plant/test/getDataForImport/{plants[2]['meteringPointId']}", headers=tenant.headers
    )
    assert stored.status_code == 200
    missing = client.get(
        f"/api/plant/test/getDataForImport/{plants[1]['meteringPointId']}", headers=tenant.headers
    )
    assert missing.status_code == 404


def test_json_array_and_customers(client: TestClient, tenant: Tenant) -> None:
    customers = list(generate_customers(4, seed=3))
    response = client.post("/api/import/test/customer/bulk", json=customers, headers=tenant.headers)
    results = lines(response)
    assert [r["result"] for r in results[:-1]] == ["created"] * 4
    again = lines(
        client.post("/api/import/test/customer/bulk", json=customers, headers=tenant.headers)
    )
    assert [r["result"] for r in again[:-1]] == ["unchanged"] * 4


def test_duplicate_keys_keep_the_last(client: TestClient, tenant: Tenant) -> None:
    plant = next(generate_plants(1, customer_numbers=[], seed=8))
    first = {**plant, "description": "first"}
    last = {**plant, "description": "last"}
    results = lines(
        client.post(
            "/api/import/test/plant/bulk",
            content=ndjson([first, last]),
            headers={**tenant.headers, **NDJSON},
        )
    )
    assert [r["result"] for r in results[:-1]] == ["superseded", "created"]
    stored = client.get(
        f"/api/plant/test/getDataForImport/{plant['meteringPointId']}", headers=tenant.headers
    ).json()
    assert stored["description"] == "last"


def test_bulk_checks_key_and_environment_first(client: TestClient, tenant: Tenant) -> None:
    assert client.post("/api/import/test/plant/bulk", content=b"[]").status_code == 401
    assert (
        client.post(
            "/api/import/prod/plant/bulk", content=b"[]", headers=tenant.headers
        ).status_code
        == 400
    )


_fields = st.sampled_from(
    ["status", "consumptionCode", "address", "location", "builtByElCompanyId", "connectedDate"]
)
_values = st.one_of(
    st.none(),
    st.integers(-5, 100),
    st.text(max_size=5),
    st.just("Spennnigsatt"),
    st.just({"latitude": 10.7, "longitude": 59.9}),
    st.just("2019-02-30"),
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(changes=st.lists(st.tuples(st.integers(0, 4), _fields, _values), max_size=8))
def test_bulk_and_single_store_the_same(
    client: TestClient, database: Database, changes: list[tuple[int, str, Any]]
) -> None:
    """The same items through the single endpoint and through bulk: same results, warnings
    and stored plants."""
    suffix = str(time.monotonic_ns())
    single = make_tenant(database, f"single-{suffix}")
    bulk = make_tenant(database, f"bulk-{suffix}")
    items = list(generate_plants(5, customer_numbers=["15108695088"], seed=21))
    for position, name, value in changes:
        items[position] = {**items[position], name: value}
    one_by_one = [
        client.post("/api/import/test/plant", json=item, headers=single.headers) for item in items
    ]
    results = lines(
        client.post(
            "/api/import/test/plant/bulk", content=ndjson(items), headers={**bulk.headers, **NDJSON}
        )
    )[:-1]
    for item, alone, together in zip(items, one_by_one, results, strict=True):
        if alone.status_code == 200:
            assert together["result"] == alone.json()["result"]
            assert together["warnings"] == alone.json()["warnings"]
            url = f"/api/plant/test/getDataForImport/{item['meteringPointId']}"
            assert (
                client.get(url, headers=bulk.headers).json()
                == client.get(url, headers=single.headers).json()
            )
        else:
            assert together["result"] == "failed"
            assert together["errors"] == alone.json()["errors"]


def test_a_client_that_disconnects_keeps_its_committed_chunks(
    database: Database, database_url: str
) -> None:
    tenant = make_tenant(database, "disconnect")
    plants = list(generate_plants(1100, customer_numbers=[], seed=13))
    with running_server(database_url, secret=SECRET) as base:
        port = int(base.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"POST /api/import/test/plant/bulk HTTP/1.1\r\nHost: x\r\n"
            + f"api-key: {tenant.key}\r\n".encode()
            + b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for plant in plants:
            line = json.dumps(plant).encode() + b"\n"
            sock.sendall(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with database.read() as session:
                if session.scalar(select(func.count()).select_from(Plant)) >= 1000:
                    break
            time.sleep(0.2)
        sock.close()  # gone before sending the last 100 items' end of body
        time.sleep(1)
        with httpx.Client(base_url=base, headers=tenant.headers) as client:
            with database.read() as session:
                stored = set(session.scalars(select(Plant.metering_point_id)))
            assert len(stored) == 1000, "two whole chunks, and nothing of the unfinished one"
            for plant in plants[:1000:97]:
                assert plant["meteringPointId"] in stored
                single = client.get(f"/api/plant/test/getDataForImport/{plant['meteringPointId']}")
                assert single.json()["description"] == plant["description"]


def _shared_chain(item: dict[str, Any], donor: dict[str, Any], variant: int) -> dict[str, Any]:
    """``item`` moved under ``donor``'s connection point, sent with a variant of its data."""
    point = json.loads(json.dumps(donor["connectionPoint"]))
    if variant == 1:
        point["location"] = {"latitude": 60.1, "longitude": 10.2}
    elif variant == 2:
        point["transformer"]["name"] = f"{point['transformer']['name']}-B"
    elif variant == 3:
        point["transformer"]["netStation"] = None
    return {**item, "connectionPoint": point}


_round_two = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.sampled_from(["keep", "customer", "no-customer", "chain", "status", "date"]),
        st.integers(0, 5),
        st.integers(0, 3),
    ),
    max_size=10,
)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=_round_two)
def test_bulk_and_single_agree_on_updates_and_shared_elements(
    client: TestClient, database: Database, edits: list[tuple[int, str, int, int]]
) -> None:
    """A second round of changes, where plants in one chunk share and change the same grid
    elements: the batch writer gives each item the result, warnings and stored state that one
    upsert after another gives."""
    suffix = str(time.monotonic_ns())
    single = make_tenant(database, f"single-{suffix}")
    bulk = make_tenant(database, f"bulk-{suffix}")
    numbers = ["15108695088", "01010012356"]
    items = list(generate_plants(6, customer_numbers=numbers, seed=33))
    second = [dict(item) for item in items]
    for position, edit, other, variant in edits:
        if edit == "customer":
            second[position]["customerId"] = numbers[variant % 2]
            second[position]["customerChangeFrom"] = f"202{variant}-03-01"
        elif edit == "no-customer":
            second[position]["customerId"] = None
        elif edit == "chain":
            second[position] = _shared_chain(second[position], items[other], variant)
        elif edit == "status":
            second[position]["status"] = ["Spenningsatt", "Inaktivt", "Terminert", None][variant]
        elif edit == "date":
            second[position]["connectedDate"] = f"19{70 + variant}-01-01"
    for batch in (items, second):
        one_by_one = [
            client.post("/api/import/test/plant", json=item, headers=single.headers)
            for item in batch
        ]
        together = lines(
            client.post(
                "/api/import/test/plant/bulk",
                content=ndjson(batch),
                headers={**bulk.headers, **NDJSON},
            )
        )[:-1]
        for alone, result in zip(one_by_one, together, strict=True):
            assert alone.status_code == 200, alone.text
            assert result["result"] == alone.json()["result"]
            assert result["warnings"] == alone.json()["warnings"]
    for item in items:
        url = f"/api/plant/test/getDataForImport/{item['meteringPointId']}"
        assert (
            client.get(url, headers=bulk.headers).json()
            == client.get(url, headers=single.headers).json()
        )


_customer_edits = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.sampled_from(["FirstName", "Email", "Phone", "BirthDate", "Number", "Address"]),
        st.sampled_from(["", "x", "not-an-email", "+47 22 00 00 00", "2099-01-01", None]),
    ),
    max_size=8,
)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(first_round=_customer_edits, second_round=_customer_edits)
def test_bulk_and_single_agree_on_customers(
    client: TestClient,
    database: Database,
    first_round: list[tuple[int, str, Any]],
    second_round: list[tuple[int, str, Any]],
) -> None:
    """Customers created and then changed, item by item and in bulk (the batch writer): the
    same result, warnings or errors per item, and the same stored customers."""
    suffix = str(time.monotonic_ns())
    single = make_tenant(database, f"single-{suffix}")
    bulk = make_tenant(database, f"bulk-{suffix}")
    base = list(generate_customers(6, seed=44))
    for edits in (first_round, second_round):
        items = [dict(item) for item in base]
        for position, name, value in edits:
            if name != "Number" or value in ("", None):  # a blank Number is an error
                items[position][name] = value
        one_by_one = [
            client.post("/api/import/test/customer", json=item, headers=single.headers)
            for item in items
        ]
        together = lines(
            client.post(
                "/api/import/test/customer/bulk",
                content=ndjson(items),
                headers={**bulk.headers, **NDJSON},
            )
        )[:-1]
        for alone, result in zip(one_by_one, together, strict=True):
            if alone.status_code == 200:
                assert result["result"] == alone.json()["result"]
                assert result["warnings"] == alone.json()["warnings"]
            else:
                assert alone.status_code == 400, alone.text
                assert result["result"] == "failed"
                assert result["errors"] == alone.json()["errors"]
    for item in base:
        url = f"/api/customer/environment/test/bynumber/{item['Number']}"
        from_bulk = client.get(url, headers=bulk.headers)
        assert from_bulk.status_code == client.get(url, headers=single.headers).status_code
        assert from_bulk.json() == client.get(url, headers=single.headers).json()


def test_chunks_after_the_first_are_checked_in_a_process_that_may_die(
    client: TestClient, tenant: Tenant
) -> None:
    """A request of several chunks has them checked in a checker process; a bad item in a later
    chunk fails alone. Should that process die, the next request is checked all the same."""
    plants = list(generate_plants(1600, customer_numbers=[], seed=17))
    broken = [*plants[:700], {**plants[700], "status": "Nope"}, *plants[701:]]
    headers = {**tenant.headers, **NDJSON}
    first = lines(
        client.post("/api/import/test/plant/bulk", content=ndjson(broken), headers=headers)
    )
    assert first[-1]["summary"]["created"] == 1599
    assert first[700]["result"] == "failed"
    assert first[700]["errors"][0]["field"] == "status"
    checkers = client.app.state.chunk_checkers  # type: ignore[attr-defined]
    pool = checkers.pool()
    processes = list(pool._processes.values())
    assert processes, "the later chunks went to a checker process"
    for process in processes:
        process.kill()
        process.join()
    changed = [{**plant, "description": "second round"} for plant in plants]
    second = lines(
        client.post("/api/import/test/plant/bulk", content=ndjson(changed), headers=headers)
    )
    assert checkers.pool() is not pool, "the dead pool was replaced"
    assert second[-1]["summary"] == {
        "created": 1,
        "updated": 1599,
        "unchanged": 0,
        "superseded": 0,
        "failed": 0,
        "total": 1600,
    }


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    queue = [pid]
    while queue:
        for task in Path(f"/proc/{queue.pop()}/task").glob("*"):
            try:
                children = {int(child) for child in (task / "children").read_text().split()}
            except OSError:
                continue
            queue.extend(children - found)
            found |= children
    return found


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_checker_processes_end_with_their_server(
    database: Database, database_url: str, stop: str
) -> None:
    """A server stopped (SIGTERM) or killed (SIGKILL) leaves no checker process behind."""
    tenant = make_tenant(database, f"checked-{stop}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tilsyn", "--db", database_url, "serve", "--port", str(port)],
        env={**os.environ, "TILSYN_SECRET_KEY": SECRET, "TILSYN_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(base, process)
        plants = list(generate_plants(1100, customer_numbers=[], seed=23))
        response = httpx.post(
            f"{base}/api/import/test/plant/bulk",
            content=ndjson(plants),
            headers={**tenant.headers, **NDJSON},
            timeout=120,
        )
        assert json.loads(response.text.splitlines()[-1])["summary"]["created"] == 1100
        checkers = _descendants(process.pid)
        assert checkers, "the later chunks were checked in a checker process"
        if stop == "terminate":
            process.terminate()
        else:
            process.kill()
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(checkers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(checkers), "no checker process outlives its server"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
