"""Every door reads the same way: the findings of an attacker's test of the bulk paths.

Each test is one finding, through HTTP, on both databases: the single endpoint, NDJSON bulk
and JSON-array bulk hold to one reader (tilsyn/core/bodies.py), so nothing one door refuses
is stored by another, and nothing stored can make a read fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tenant, make_tenant
from tests.seed_api import customer_url, make_mpid, minimal_plant, plant_url
from tilsyn.app import create_app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import ApiKey, Change, Customer, Plant
from tilsyn.demo_data import generate_plants
from tilsyn.instances import service as instances

NDJSON = {"content-type": "application/x-ndjson"}
PLANT_BULK = "/api/import/test/plant/bulk"
CUSTOMER_BULK = "/api/import/test/customer/bulk"
INSPECTION_BULK = "/api/inspection/test/bulk"


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def send_ndjson(client: TestClient, tenant: Tenant, url: str, raw_lines: list[bytes]) -> Any:
    body = b"".join(line + b"\n" for line in raw_lines)
    return client.post(url, content=body, headers={**tenant.headers, **NDJSON})


def send_array(client: TestClient, tenant: Tenant, url: str, raw_items: list[bytes]) -> Any:
    body = b"[" + b",".join(raw_items) + b"]"
    headers = {**tenant.headers, "content-type": "application/json"}
    return client.post(url, content=body, headers=headers)


def raw_with(body: dict[str, Any], field: str, escaped: str) -> bytes:
    """``body`` as JSON with ``field`` set to a string given in its escaped JSON form."""
    text = json.dumps({**body, field: "@@"})
    return text.replace('"@@"', f'"{escaped}"').encode()


# The strings that broke reads: a lone high surrogate at the end, a lone low one, and NUL.
UNSTORABLE = [("x\\udbff", "string_surrogate"), ("\\udc00y", "string_surrogate")]
UNSTORABLE += [("a\\u0000b", "string_nul")]
READABLE = "plug \\ud83d\\udd0c and \\u00e6\\u00f8\\u00e5"  # a paired surrogate is text


def door_results(client: TestClient, tenant: Tenant, kind: str, items: list[bytes]) -> list[Any]:
    """The outcome of each item through each door: single, NDJSON, JSON array."""
    single_url, bulk_url = (
        (plant_url(), PLANT_BULK) if kind == "plant" else (customer_url(), CUSTOMER_BULK)
    )
    outcomes = []
    for raw in items:
        response = client.post(
            single_url, content=raw, headers={**tenant.headers, "content-type": "application/json"}
        )
        outcomes.append(("single", response.status_code, response.json()))
    for send in (send_ndjson, send_array):
        response = send(client, tenant, bulk_url, items)
        assert response.status_code == 200
        results = lines(response)
        assert "summary" in results[-1], "every answer ends with its summary"
        outcomes.extend((send.__name__, 200, result) for result in results[:-1])
    return outcomes


def test_unstorable_strings_are_refused_at_every_door_and_reads_never_fail(
    client: TestClient, tenant: Tenant
) -> None:
    """Finding 2: a lone surrogate sent through bulk was stored, and every read of it (GET,
    history, the feed) answered 500 on SQLite; on PostgreSQL the item failed as not_stored."""
    mpid, number = make_mpid(4401), "kunde-4401"
    plants = [raw_with(minimal_plant(mpid), "description", text) for text, _ in UNSTORABLE]
    plants.append(raw_with(minimal_plant(mpid), "description", READABLE))
    customers = [raw_with({"Number": number}, "FirstName", text) for text, _ in UNSTORABLE]
    customers.append(raw_with({"Number": number}, "FirstName", READABLE))
    for kind, items, field in (
        ("plant", plants, "description"),
        ("customer", customers, "FirstName"),
    ):
        outcomes = door_results(client, tenant, kind, items)
        for at, (door, status, answer) in enumerate(outcomes):
            position = at % len(items)
            if position == len(items) - 1:
                assert status == 200, (door, answer)
                assert answer.get("result") != "failed", (door, answer)
                continue
            errors = answer["errors"]
            assert status in (200, 400)
            assert answer.get("result", "failed") == "failed"
            assert (field, UNSTORABLE[position][1]) in {(e["field"], e["code"]) for e in errors}
    # Everything stored reads back: the entity, its history and the whole feed.
    for url in (
        f"/api/plant/test/getDataForImport/{mpid}",
        f"/api/plant/test/{mpid}/history",
        f"/api/customer/environment/test/bynumber/{number}",
        f"/api/customer/environment/test/bynumber/{number}/history",
        "/api/changes/test?limit=1000",
    ):
        assert client.get(url, headers=tenant.headers).status_code == 200, url
    plant = client.get(f"/api/plant/test/getDataForImport/{mpid}", headers=tenant.headers).json()
    assert plant["description"] == "plug \U0001f50c and æøå"
    assert (
        client.delete(f"/api/import/test/plant/{mpid}", headers=tenant.headers).status_code == 200
    )
    assert client.get("/api/changes/test?limit=1000", headers=tenant.headers).status_code == 200


def test_a_first_item_with_a_lone_surrogate_in_its_key_gets_its_line_and_the_summary(
    client: TestClient, tenant: Tenant
) -> None:
    """Finding 3: the answer stream ended without results or summary (curl rc=18) while later
    items were stored."""
    good = json.dumps({"Number": "kunde-2"}).encode()
    for send in (send_ndjson, send_array):
        response = send(client, tenant, CUSTOMER_BULK, [b'{"Number": "1\\ud800"}', good])
        results = lines(response)
        assert [r.get("result") for r in results[:-1]] == [
            "failed",
            "created" if send is send_ndjson else "unchanged",
        ]
        assert results[0]["errors"][0]["field"] == "Number"
        assert results[0]["errors"][0]["code"] == "string_surrogate"
        assert results[-1]["summary"]["total"] == 2


def test_customer_numbers_that_differ_by_inner_spaces_are_two_customers_in_bulk(
    client: TestClient, tenant: Tenant
) -> None:
    """Finding 5: bulk took "555 666" and "555666" for one number (the first superseded,
    then 404); the single endpoint stores two customers."""
    body = [{"Number": "555 666", "FirstName": "A"}, {"Number": "555666", "FirstName": "B"}]
    results = lines(client.post(CUSTOMER_BULK, json=body, headers=tenant.headers))
    assert [r["result"] for r in results[:-1]] == ["created", "created"]
    assert [r["key"] for r in results[:-1]] == ["555 666", "555666"]
    for number, name in (("555 666", "A"), ("555666", "B")):
        found = client.get(
            f"/api/customer/environment/test/bynumber/{number}", headers=tenant.headers
        )
        assert found.status_code == 200
        assert found.json()["FirstName"] == name
    # Surrounding spaces are not part of a number, at either door.
    again = lines(
        client.post(
            CUSTOMER_BULK, json=[{"Number": " 555666 ", "FirstName": "B"}], headers=tenant.headers
        )
    )
    assert again[0]["result"] == "unchanged"


def test_deep_items_and_long_numbers_fail_alone_with_plain_messages(
    client: TestClient, tenant: Tenant
) -> None:
    """Finding 9: the JSON-array path took 900 levels of nesting; a 5,000-digit number failed
    its item and dropped the next item's line; messages named Python internals."""
    good = json.dumps(minimal_plant(make_mpid(9))).encode()
    deep = b'{"meteringPointId": "x", "extra": ' + b"[" * 900 + b"]" * 900 + b"}"
    digits = b'{"meteringPointId": "x", "buildingCode": ' + b"1" * 5000 + b"}"
    for send in (send_ndjson, send_array):
        results = lines(send(client, tenant, PLANT_BULK, [deep, good, digits, good]))
        assert [r.get("result") for r in results[:-1]][0::2] == ["failed", "failed"]
        assert [r["index"] for r in results[:-1]] == [0, 1, 2, 3]
        messages = [results[0]["errors"][0]["message"], results[2]["errors"][0]["message"]]
        assert "nested deeper than 64" in messages[0]
        assert "too many digits" in messages[1]
        for message in messages:
            assert "sys." not in message
            assert "recursion" not in message


def test_a_large_body_under_an_unknown_field_is_refused_cheaply(
    client: TestClient, tenant: Tenant
) -> None:
    """Finding 6: a 10.4 MB body with a 5.2 M-element array under an unknown field cost
    seconds of CPU and ~700 MB; 300,000 unknown names cost 12.7 MB of warnings."""
    zeros = b"[" + b"0," * 2_000_000 + b"0]"
    raw = json.dumps(minimal_plant(make_mpid(1))).encode()[:-1] + b', "junk": ' + zeros + b"}"
    single = client.post(
        plant_url(), content=raw, headers={**tenant.headers, "content-type": "application/json"}
    )
    assert single.status_code == 400
    assert "more than" in single.json()["detail"]
    [result, _summary] = lines(send_ndjson(client, tenant, PLANT_BULK, [raw]))
    assert result["result"] == "failed"
    assert "more than" in result["errors"][0]["message"]
    names = {f"unknown{i}": 1 for i in range(900)}
    answer = client.post(
        plant_url(), json={**minimal_plant(make_mpid(2)), **names}, headers=tenant.headers
    )
    assert answer.status_code == 200
    assert len(answer.json()["warnings"]) <= 101
    [result, _summary] = lines(
        client.post(
            PLANT_BULK, json=[{**minimal_plant(make_mpid(3)), **names}], headers=tenant.headers
        )
    )
    assert result["result"] == "created"
    assert len(result["warnings"]) <= 101


def test_an_ndjson_line_larger_than_a_body_fails_alone(client: TestClient, tenant: Tenant) -> None:
    """Finding 6: an NDJSON line of 30 MB was accepted (no per-item limit)."""
    huge = b'{"description": "' + b"a" * (11 * 1024 * 1024) + b'"}'
    good = json.dumps(minimal_plant(make_mpid(5))).encode()
    results = lines(send_ndjson(client, tenant, PLANT_BULK, [huge, good]))
    assert [r.get("result") for r in results[:-1]] == ["failed", "created"]
    assert "larger than" in results[0]["errors"][0]["message"]
    other = json.dumps(minimal_plant(make_mpid(6))).encode()
    results = lines(send_array(client, tenant, PLANT_BULK, [good, huge, other]))
    assert results[0]["result"] == "unchanged"
    assert "larger than" in results[1]["errors"][0]["message"]
    # Whole in one chunk, the element after it can still be found; arriving in pieces, the
    # array stops there (nothing after it can be located without holding it).
    assert results[-1]["summary"]["failed"] == 1


def _app(settings: Settings, database: Database, **bounds: Any) -> Any:
    return create_app(replace(settings, **bounds), database)


async def _post_stream(
    app: Any, tenant: Tenant, body: AsyncIterator[bytes], url: str = PLANT_BULK
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(
            url, content=body, headers={**tenant.headers, **NDJSON}, timeout=120
        )


def test_a_key_revoked_mid_stream_writes_no_more(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    """Finding 4: a key revoked while its stream was open kept writing (1,100 items after
    the revocation, in history under the revoked key)."""
    plants = [
        json.dumps(p).encode() + b"\n" for p in generate_plants(1700, customer_numbers=[], seed=41)
    ]
    with database.read() as session:
        key_id = session.scalar(
            select(ApiKey.id).where(
                ApiKey.instance_id == tenant.instance_id, ApiKey.scope == "import"
            )
        )

    async def body() -> AsyncIterator[bytes]:
        for line in plants[:600]:
            yield line
        with database.write() as session:
            instances.revoke_key(session, key_id)
        for line in plants[600:]:
            yield line

    response = asyncio.run(_post_stream(_app(settings, database), tenant, body()))
    results = lines(response)
    summary = results[-1]["summary"]
    assert summary["stopped"]["code"] == "key_revoked"
    assert summary["created"] == 500
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Plant)) == 500
        plants_written = select(func.count()).select_from(Change)
        plants_written = plants_written.where(
            Change.api_key_id == key_id, Change.entity_type == "plant"
        )
        assert session.scalar(plants_written) == 500


def test_the_inspections_bulk_door_has_the_same_bounds_and_key_check(
    client: TestClient, settings: Settings, database: Database, tenant: Tenant
) -> None:
    """Findings 4 and 6 hold for every bulk door, the inspections one included."""
    mpid = make_mpid(9)
    assert client.post(plant_url(), json=minimal_plant(mpid), headers=tenant.headers).is_success

    def inspection(number: int) -> bytes:
        body = {"meteringPointId": mpid, "externalId": f"K-{number}", "date": "2020-01-01"}
        return json.dumps({**body, "kind": "follow_up"}).encode() + b"\n"

    async def many() -> AsyncIterator[bytes]:
        for number in range(30):
            yield inspection(number)

    app = _app(settings, database, max_bulk_items=10)
    results = lines(asyncio.run(_post_stream(app, tenant, many(), INSPECTION_BULK)))
    assert results[-1]["summary"]["stopped"]["code"] == "too_many_items"
    assert results[-1]["summary"]["created"] == 10
    with database.read() as session:
        key_id = session.scalar(
            select(ApiKey.id).where(
                ApiKey.instance_id == tenant.instance_id, ApiKey.scope == "import"
            )
        )

    async def revoked_midway() -> AsyncIterator[bytes]:
        for number in range(100, 700):
            yield inspection(number)
        with database.write() as session:
            instances.revoke_key(session, key_id)
        for number in range(700, 1300):
            yield inspection(number)

    response = asyncio.run(
        _post_stream(_app(settings, database), tenant, revoked_midway(), INSPECTION_BULK)
    )
    summary = lines(response)[-1]["summary"]
    assert summary["stopped"]["code"] == "key_revoked"
    assert summary["created"] == 500  # the first chunk, written before the revocation


def test_a_stream_has_a_total_time_and_size(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    """Finding 4: a stream had a 30 s idle timeout and no total limit (a byte every 20 s kept
    it open); finding 6: up to 5 M items were allowed per request."""
    good = json.dumps(minimal_plant(make_mpid(7))).encode() + b"\n"

    async def trickle() -> AsyncIterator[bytes]:
        yield good
        for _ in range(40):
            await asyncio.sleep(0.1)
            yield b" "

    app = _app(settings, database, max_bulk_seconds=1.0, body_timeout_seconds=30.0)
    results = lines(asyncio.run(_post_stream(app, tenant, trickle())))
    assert results[0]["result"] == "created"
    assert results[-1]["summary"]["stopped"]["code"] == "request_too_long"

    async def many() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"{}\n"

    app = _app(settings, database, max_bulk_items=10)
    results = lines(asyncio.run(_post_stream(app, tenant, many())))
    assert results[-1]["summary"]["stopped"]["code"] == "too_many_items"
    assert results[-1]["summary"]["total"] == 10

    async def big() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield good

    app = _app(settings, database, max_bulk_bytes=len(good) * 5)
    results = lines(asyncio.run(_post_stream(app, tenant, big())))
    assert results[-1]["summary"]["stopped"]["code"] == "request_too_large"
    assert results[-1]["summary"]["total"] == 5


@pytest.mark.parametrize("door", ["ndjson", "array"])
def test_bulk_messages_match_the_single_door(client: TestClient, tenant: Tenant, door: str) -> None:
    """One reader: the message a bulk item gets is the single body's, about the item."""
    raw = b'{"meteringPointId": 1, "x": NaN}'
    single = client.post(
        plant_url(), content=raw, headers={**tenant.headers, "content-type": "application/json"}
    )
    send = send_ndjson if door == "ndjson" else send_array
    [result, _] = lines(send(client, tenant, PLANT_BULK, [raw]))
    assert result["errors"][0]["message"] == single.json()["detail"].replace(
        "The request body", "The item"
    )


def test_the_same_number_has_unrelated_stored_keys_and_cursors_are_sealed(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """Finding 1: stored keys were one HMAC for the whole database, the listing's `next` was
    the stored key and `after=` took a raw stored key, so a tenant could find another
    instance's customer number with its own key and a copy of the database."""
    other = make_tenant(database, "nett-other", "test")
    numbers = [f"kunde-{i}" for i in range(6)]
    for who in (tenant, other):
        answer = client.post(
            CUSTOMER_BULK, json=[{"Number": n} for n in numbers], headers=who.headers
        )
        assert answer.status_code == 200
    with database.read() as session:
        rows = session.execute(select(Customer.instance_id, Customer.number)).all()
    mine = {key for instance_id, key in rows if instance_id == tenant.instance_id}
    theirs = {key for instance_id, key in rows if instance_id == other.instance_id}
    assert len(mine) == len(theirs) == len(numbers)
    assert not mine & theirs, "one number, unrelated stored keys in two instances"
    url = "/api/customer/environment/test/numbers"
    page = client.get(url, params={"limit": 2}, headers=tenant.headers).json()
    cursor = page["next"]
    assert cursor
    assert not any(key[4:] in cursor for key in mine | theirs)
    follow = client.get(url, params={"limit": 2, "after": cursor}, headers=tenant.headers)
    assert follow.status_code == 200
    assert len(follow.json()["items"]) == 2
    # Nothing but a cursor of this instance's listing is taken back.
    target = sorted(theirs)[0]
    for after in (target, target[:-1] + "A", numbers[0], cursor[:-2] + "AA"):
        refused = client.get(url, params={"after": after}, headers=tenant.headers)
        assert refused.status_code == 400, after
        assert refused.json()["errors"][0]["code"] == "invalid_cursor"
    elsewhere = client.get(url, params={"after": cursor}, headers=other.headers)
    assert elsewhere.status_code == 400


def test_metrics_are_off_unless_configured_and_then_need_the_token(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    """Finding 10: /metrics answered without a key and named instances."""
    with TestClient(_app(settings, database, metrics_token=None)) as off:
        assert off.get("/metrics").status_code == 404
        assert "/metrics" not in json.dumps(off.get("/openapi.json").json()["paths"])
    with TestClient(_app(settings, database, metrics_token="s3cret")) as guarded:
        guarded.get(f"/api/plant/test/getDataForImport/{make_mpid(1)}", headers=tenant.headers)
        assert guarded.get("/metrics").status_code == 401
        wrong = guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert tenant.name not in wrong.text
        right = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert "tilsyn_requests_total" in right.text


def test_failed_authentication_is_limited_per_client_address(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    """Finding 10: requests with unknown keys were never rate-limited."""
    app = _app(settings, database, auth_failures_per_second=0.01, auth_failures_burst=3)
    url = f"/api/plant/test/getDataForImport/{make_mpid(1)}"
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get(url, headers={"api-key": "tilsyn_test_guess"}).status_code == 401
        blocked = client.get(url, headers={"api-key": "tilsyn_test_guess"})
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) >= 1
        # Until the address's budget refills, a valid key from it tells nothing either.
        assert client.get(url, headers=tenant.headers).status_code == 429


def test_a_lowered_limit_holds_from_the_next_request(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """Finding 10: after a limit was lowered, ~20-27 more requests passed (the leases a
    process held under the old limit)."""
    url = f"/api/plant/test/getDataForImport/{make_mpid(1)}"
    assert client.get(url, headers=tenant.headers).status_code == 404  # leases 50 tokens
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        instances.set_rate_limit(session, instance, per_second=0.01, burst=1)
    statuses = [client.get(url, headers=tenant.headers).status_code for _ in range(5)]
    assert statuses.count(404) <= 1, statuses
    assert statuses[-1] == 429


def test_an_erased_customer_is_purged_from_storage(
    client: TestClient, database: Database, database_url: str, tenant: Tenant
) -> None:
    """Finding 7: erased personal data stayed in storage (PostgreSQL: in the table's file, no
    VACUUM; SQLite: in the WAL until ~6,000 writes later, and out of the main file only
    because of how SQLite was built)."""
    secret = "Ingeborg-Zyxwvutsrq"
    body = {"Number": "kunde-erase-1", "FirstName": secret, "Email": f"{secret}@example.no"}
    assert client.post(customer_url(), json=body, headers=tenant.headers).status_code == 200
    assert (
        client.post(
            customer_url(), json={**body, "LastName": secret}, headers=tenant.headers
        ).status_code
        == 200
    )
    before = _vacuums(database)
    erased = client.delete("/api/import/test/customer/kunde-erase-1", headers=tenant.headers)
    assert erased.status_code == 200
    if database.dialect == "sqlite":
        path = Path(database_url.removeprefix("sqlite:///"))
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, "checkpointed and truncated"
        assert secret.encode() not in path.read_bytes()
    else:
        after = _vacuums(database)
        for table in ("customers", "changes", "personal_numbers"):
            assert after[table] > before[table], table


def _vacuums(database: Database) -> dict[str, int]:
    """PostgreSQL's count of manual VACUUMs per table."""
    if database.dialect == "sqlite":
        return {}
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables"
        ).all()
    return dict(rows)


def test_change_ids_are_per_instance_and_tell_nothing_of_others(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """Finding 8: change ids were numbered across all instances, so a tenant's feed showed
    gaps that measured the others' activity."""
    other = make_tenant(database, "busy-neighbour", "test")
    first = minimal_plant(make_mpid(801))
    assert client.post(plant_url(), json=first, headers=tenant.headers).status_code == 200
    start = client.get("/api/changes/test", headers=tenant.headers).json()
    neighbours = [minimal_plant(make_mpid(900 + i)) for i in range(7)]
    assert client.post(PLANT_BULK, json=neighbours, headers=other.headers).status_code == 200
    second = minimal_plant(make_mpid(802))
    assert client.post(plant_url(), json=second, headers=tenant.headers).status_code == 200
    feed = client.get("/api/changes/test", headers=tenant.headers).json()
    ids = [change["id"] for change in feed["changes"]]
    assert ids == list(range(1, len(ids) + 1)), "no gaps: the neighbour's 7 plants are not seen"
    more = client.get("/api/changes/test", params={"after": start["next"]}, headers=tenant.headers)
    assert [change["id"] for change in more.json()["changes"]] == ids[len(start["changes"]) :]
    theirs = client.get("/api/changes/test", headers=other.headers).json()["changes"]
    assert [change["id"] for change in theirs][:1] == [1]
    history = client.get(f"/api/plant/test/{make_mpid(802)}/history", headers=tenant.headers)
    assert history.json()["changes"][0]["id"] == ids[-1]
