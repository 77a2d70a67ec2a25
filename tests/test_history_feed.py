"""The change feed: every change once, in commit order, under concurrent writers too.

A change gets its id when its transaction commits, under a per-instance lock (PostgreSQL) or
the single writer (SQLite), so a reader that follows ``next`` can neither skip a change
committed late nor see one twice.
"""

from __future__ import annotations

import base64
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import SECRET, Tenant, make_tenant
from tests.seed_api import (
    make_mpid,
    minimal_plant,
    ok,
    problem,
    seed_customer,
    service_upsert_plant,
    upsert_plant,
)
from tests.servers import running_server
from tilsyn.contract.plants.parse import parse_valid_plant
from tilsyn.core import changelog as history_service
from tilsyn.core.changelog import Actor, record_change, write_pending
from tilsyn.core.db import Database
from tilsyn.core.models import Change
from tilsyn.history.service import change_feed
from tilsyn.plants import service as plants

FEED = "/api/changes/test"


def read_feed(client: TestClient, tenant: Tenant, after: str | None, limit: int) -> Any:
    params: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
    return ok(client.get(FEED, params=params, headers=tenant.headers))


def test_feed_pages_follow_the_cursor(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    for serial in range(5):
        upsert_plant(client, tenant, minimal_plant(make_mpid(serial), description="x"))
    seen: list[int] = []
    cursor = None
    while True:
        page = read_feed(client, tenant, cursor, 2)
        seen += [change["id"] for change in page["changes"]]
        if not page["changes"]:
            assert page["next"] == cursor
            break
        cursor = page["next"]
    with database.read() as session:
        assert seen == list(session.scalars(select(Change.id).order_by(Change.id)))
    # Nothing new: the same cursor back. Something new: it comes after that cursor.
    assert read_feed(client, tenant, cursor, 50) == {"changes": [], "next": cursor}
    upsert_plant(client, tenant, minimal_plant(make_mpid(0), description="y"))
    page = read_feed(client, tenant, cursor, 50)
    assert [(c["entityKey"], c["operation"]) for c in page["changes"]] == [(make_mpid(0), "update")]
    assert page["changes"][0]["fields"] == [{"field": "description", "before": "x", "after": "y"}]
    assert page["next"] != cursor


def test_feed_carries_every_entity_type(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    """Rules and settings record through the same function; the feed needs no list of types."""
    with database.write() as session:
        actor = Actor(instance_id=tenant.instance_id, api_key_label="cli")
        record_change(
            session,
            actor,
            entity_type="rules",
            entity_key="audit-rules",
            operation="replace",
            diff={"rules[0].inspectionRate": [5, 10]},
        )
        record_change(
            session,
            actor,
            entity_type="settings",
            entity_key="validation",
            operation="update",
            diff={"strictValidation": [False, True]},
        )
    changes = read_feed(client, tenant, None, 10)["changes"]
    assert [(c["entityType"], c["operation"]) for c in changes] == [
        ("rules", "replace"),
        ("settings", "update"),
    ]
    assert changes[0]["apiKey"] == {"id": None, "label": "cli"}
    assert changes[1]["fields"] == [{"field": "strictValidation", "before": False, "after": True}]


def test_feed_is_per_instance(client: TestClient, database: Database, tenant: Tenant) -> None:
    other = make_tenant(database, "other-test", "test")
    upsert_plant(client, other, minimal_plant(make_mpid(1)))
    upsert_plant(client, tenant, minimal_plant(make_mpid(2)))
    mine = read_feed(client, tenant, None, 10)
    assert [c["entityKey"] for c in mine["changes"]] == [make_mpid(2)]
    # Another instance's cursor is only a position: it reveals nothing of that instance.
    theirs = read_feed(client, other, None, 10)
    assert [c["entityKey"] for c in theirs["changes"]] == [make_mpid(1)]


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "!!!!",
        "ø",
        base64.urlsafe_b64encode(b"c1.-5").decode(),
        base64.urlsafe_b64encode(b"c1.007").decode(),
        base64.urlsafe_b64encode(b"c1.99999999999999999999").decode(),
        base64.urlsafe_b64encode(b"other").decode(),
        "x" * 65,
    ],
)
def test_invalid_cursors_are_400(client: TestClient, tenant: Tenant, cursor: str) -> None:
    problem(client.get(FEED, params={"after": cursor}, headers=tenant.headers), 400)


def test_a_change_takes_its_place_when_it_commits(
    database: Database, database_url: str, tenant: Tenant
) -> None:
    """Writer B cannot insert its change while A's inserted change is uncommitted, so a
    reader can never see B's later id while A's earlier one is still invisible."""
    other = Database(database_url)
    reader = Database(database_url)
    actor = Actor(instance_id=tenant.instance_id)
    b_noted, go, b_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[Exception] = []

    def writer_b() -> None:
        try:
            with other.write() as session:
                record_change(
                    session, actor, entity_type="plant", entity_key="B", operation="update", diff={}
                )
                b_noted.set()
                go.wait(10)
            b_done.set()
        except Exception as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)

    def feed() -> list[str]:
        with reader.read() as session:
            changes, _ = change_feed(session, tenant.instance_id, after=None, limit=10)
        return [c["entityKey"] for c in changes]

    thread = threading.Thread(target=writer_b)
    thread.start()
    try:
        assert b_noted.wait(10)
        with database.write() as session:
            record_change(
                session, actor, entity_type="plant", entity_key="A", operation="update", diff={}
            )
            write_pending(session)  # A's change has its id; A has not committed
            go.set()
            assert not b_done.wait(0.5), "B committed while A held uncommitted changes"
            assert feed() == []
        assert b_done.wait(30)
        thread.join(30)
        assert errors == []
        assert feed() == ["A", "B"]
    finally:
        go.set()
        thread.join(30)
        other.dispose()
        reader.dispose()


def test_feed_with_slow_commits(
    database: Database, database_url: str, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers in threads, each with its own engine, pause between inserting their changes
    and committing (the window in which commits could overtake each other) while a reader
    follows the feed three changes at a time: it still sees every change once, in order."""
    original = history_service.write_pending

    def slow_write_pending(session: Any) -> None:
        original(session)
        time.sleep(random.uniform(0, 0.004))

    monkeypatch.setattr(history_service, "write_pending", slow_write_pending)
    writers, rounds = 6, 25
    done = threading.Event()
    seen: list[dict[str, Any]] = []
    issued: dict[int, list[str]] = defaultdict(list)
    errors: list[Exception] = []

    shared = Database(database_url)

    def writer(index: int) -> None:
        # PostgreSQL: an engine per writer, so that commits can really race. SQLite admits
        # one writer at a time whatever the engines; there the writers share one engine, as
        # the threads of one server process do (processes are covered by the 4-worker test).
        db = Database(database_url) if database.dialect == "postgresql" else shared
        try:
            for round_no in range(rounds):
                rid = f"{index}-{round_no}"
                actor = Actor(instance_id=tenant.instance_id, request_id=rid)
                body = minimal_plant(CONTESTED, description=rid)
                if round_no % 2:
                    body = minimal_plant(make_mpid(index), description=rid)
                with db.write() as session:
                    service_upsert_plant(session, actor, body, today=date(2025, 1, 1))
                issued[index].append(rid)
        except Exception as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)
        finally:
            if db is not shared:
                db.dispose()

    def reader() -> None:
        db = Database(database_url)
        cursor = None
        try:
            while True:
                finished = done.is_set()
                with db.read() as session:
                    changes, cursor = change_feed(
                        session, tenant.instance_id, after=cursor, limit=3
                    )
                seen.extend(changes)
                if not changes and finished:
                    return
        finally:
            db.dispose()

    follower = threading.Thread(target=reader)
    follower.start()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join()
    shared.dispose()
    assert errors == []

    ids = [change["id"] for change in seen]
    assert ids == sorted(set(ids)), "no change repeated, none out of order"
    with database.read() as session:
        assert ids == list(session.scalars(select(Change.id).order_by(Change.id)))
    order = [change["requestId"] for change in seen]
    for rids in issued.values():
        assert [rid for rid in order if rid in set(rids)] == rids
    previous: dict[str, Any] = {}
    for change in seen:
        for item in change["fields"]:
            if item["field"] == "description" and change["entityKey"] in previous:
                assert item["before"] == previous[change["entityKey"]]
            if item["field"] == "description":
                previous[change["entityKey"]] = item["after"]


WRITERS = 8
ROUNDS = 16
CONTESTED = make_mpid(7000)


def test_feed_under_concurrent_writers(database: Database, database_url: str) -> None:
    """8 clients write through 4 server workers while a reader follows the feed in pages of
    7: the reader sees every change exactly once, each client's changes in the order it made
    them, and each entity's changes chained (a change's before is the previous one's after)."""
    tenant = make_tenant(database, "nett", "test")
    issued: dict[int, list[str]] = defaultdict(list)  # writer -> effective request ids
    failures: list[str] = []
    seen: list[dict[str, Any]] = []
    writing = threading.Event()
    writing.set()

    with running_server(database_url, secret=SECRET, workers=4) as base:

        def writer(index: int) -> None:
            with httpx.Client(base_url=base, headers=tenant.headers, timeout=120) as client:
                for round_no in range(ROUNDS):
                    tag = f"w{index}-r{round_no}"
                    jobs: list[tuple[str, dict[str, Any]]] = [
                        (
                            "plant",
                            minimal_plant(
                                CONTESTED,
                                description=tag,
                                connectionPoint={
                                    "name": "CP-SHARED",
                                    "transformer": {"name": f"T-{(index + round_no) % 3}"},
                                },
                            ),
                        ),
                        (
                            "plant",
                            minimal_plant(make_mpid(index * 100 + round_no % 4), description=tag),
                        ),
                        ("customer", seed_customer(FirstName=tag)),
                    ]
                    for kind, body in jobs:
                        rid = uuid.uuid4().hex
                        response = client.post(
                            f"/api/import/test/{kind}", json=body, headers={"X-Request-ID": rid}
                        )
                        if response.status_code != 200:
                            failures.append(f"{kind} {response.status_code} {response.text[:200]}")
                        elif response.json()["result"] != "unchanged":
                            issued[index].append(rid)

        def reader() -> None:
            cursor = None
            with httpx.Client(base_url=base, headers=tenant.headers, timeout=120) as client:
                while True:
                    still_writing = writing.is_set()
                    params: dict[str, Any] = {"limit": 7} | ({"after": cursor} if cursor else {})
                    response = client.get(FEED, params=params)
                    if response.status_code != 200:
                        failures.append(f"feed {response.status_code} {response.text[:200]}")
                        return
                    page = response.json()
                    seen.extend(page["changes"])
                    cursor = page["next"]
                    if not page["changes"]:
                        if not still_writing:
                            return
                        time.sleep(0.005)

        follower = threading.Thread(target=reader)
        follower.start()
        writers = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        writing.clear()
        follower.join()
        final = httpx.get(
            f"{base}/api/plant/test/getDataForImport/{CONTESTED}", headers=tenant.headers
        ).json()

    assert failures == []
    ids = [change["id"] for change in seen]
    assert ids == sorted(set(ids)), "no change repeated, none out of order"
    with database.read() as session:
        stored = list(
            session.scalars(
                select(Change.id)
                .where(Change.instance_id == tenant.instance_id)
                .order_by(Change.id)
            )
        )
    assert ids == stored, "no change skipped"

    # Each client's effective requests appear in the order it made them.
    first_position: dict[str, int] = {}
    for position, change in enumerate(seen):
        first_position.setdefault(change["requestId"], position)
    for rids in issued.values():
        assert [first_position[rid] for rid in rids] == sorted(first_position[rid] for rid in rids)
        assert set(rids) <= first_position.keys()

    # Each entity's changes chain: replaying the feed gives every field's history in order.
    last_after: dict[tuple[str, str, str], Any] = {}
    for change in seen:
        for item in change["fields"]:
            key = (change["entityType"], change["entityKey"], item["field"])
            if key in last_after:
                assert item["before"] == last_after[key], key
            last_after[key] = item["after"]
    assert last_after[("plant", CONTESTED, "description")] == final["description"]
    assert last_after[("plant", CONTESTED, "connectionPoint")] == final["connectionPoint"]["name"]
    assert (
        last_after[("connectionPoint", "CP-SHARED", "parent")]
        == final["connectionPoint"]["transformer"]["name"]
    )


def test_the_feed_lock_is_taken_at_the_commit_not_at_a_savepoint(
    postgres_database_url: str,
) -> None:
    """A write in a savepoint (a bulk chunk's batch, the demo loader) leaves the instance's
    feed lock free until its transaction commits: the lock queues every writer of the
    instance, so it must cover only the history insert and the commit, not what the
    transaction does after the savepoint."""
    database = Database(postgres_database_url)
    tenant = make_tenant(database, f"lock-{uuid.uuid4().hex[:8]}")
    today = date.today()
    change = parse_valid_plant(minimal_plant(make_mpid(9101)), today=today)
    dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    # The feed lock is the instance row's lock, taken by moving its change counter on.
    lock = "SELECT id FROM instances WHERE id = %s FOR NO KEY UPDATE NOWAIT"
    try:
        with database.write() as session, psycopg.connect(dsn) as other:
            plants.upsert_plants(session, Actor(tenant.instance_id), [change], today=today)
            taken = other.execute(lock, (tenant.instance_id,)).fetchone()
            assert taken == (tenant.instance_id,), "the savepoint's release took the feed lock"
            other.rollback()
        with database.read() as session:
            entries = session.scalars(
                select(Change).where(Change.instance_id == tenant.instance_id)
            ).all()
        assert [(entry.entity_key, entry.operation) for entry in entries] == [
            (make_mpid(9101), "create")
        ]
    finally:
        database.dispose()
