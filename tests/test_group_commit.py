"""Group commit (core/groupcommit.py): single writes that arrive together share a transaction,
and each keeps its own result, answer, history and failure, on both databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.conftest import Tenant
from tilsyn.contract.customers.parse import parse_valid_customer
from tilsyn.contract.plants.parse import parse_valid_plant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor, entity_history
from tilsyn.core.db import Database
from tilsyn.core.groupcommit import GroupCommit
from tilsyn.core.models import Change, Plant
from tilsyn.customers.service import upsert_customer
from tilsyn.demo_data import generate_customers, generate_plants
from tilsyn.plants.service import upsert_plant, upsert_plants

TODAY = today_in_oslo()


class Transactions:
    """Counts the commits and savepoints an engine sees."""

    def __init__(self, database: Database) -> None:
        self.commits = 0
        self.savepoints = 0
        self._engine = database.engine
        event.listen(self._engine, "commit", self._commit)
        event.listen(self._engine, "savepoint", self._savepoint)

    def _commit(self, *_: Any) -> None:
        self.commits += 1

    def _savepoint(self, *_: Any) -> None:
        self.savepoints += 1

    def stop(self) -> None:
        event.remove(self._engine, "commit", self._commit)
        event.remove(self._engine, "savepoint", self._savepoint)


def in_one_group(group: GroupCommit, writes: list[Callable[[], Any]]) -> list[Any]:
    """Run ``writes`` from threads of their own so that they form one group, in list order:
    a first write holds the lead (alone, in a transaction of its own) until the others wait
    behind it, queued one after another. Returns each write's result or exception."""
    release = threading.Event()

    def hold(session: Session) -> None:
        assert release.wait(30), "the writes queued in time"

    answers: list[Any] = [None] * len(writes)

    def call(index: int, write: Callable[[], Any]) -> None:
        try:
            answers[index] = write()
        except Exception as exc:  # noqa: BLE001 - the test compares it
            answers[index] = exc

    leader = threading.Thread(target=group.run, args=(hold,))
    leader.start()
    _wait_for(lambda: group.waiting() == 0)  # the leader took its own write
    threads = []
    for index, write in enumerate(writes):
        thread = threading.Thread(target=call, args=(index, write))
        thread.start()
        threads.append(thread)
        _wait_for(lambda count=index + 1: group.waiting() == count)
    release.set()
    for thread in [leader, *threads]:
        thread.join(30)
    return answers


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def plant_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    return list(generate_plants(count, customer_numbers=[], seed=seed))


def upsert(group: GroupCommit, tenant: Tenant, body: dict[str, Any], request_id: str) -> Any:
    change = parse_valid_plant(body, today=TODAY, synthetic_ok=True)
    actor = Actor(tenant.instance_id, request_id=request_id)
    return lambda: upsert_plant(group, actor, change, today=TODAY)


def history(database: Database, tenant: Tenant, mpid: str) -> list[dict[str, Any]]:
    with database.read() as session:
        changes, _ = entity_history(session, tenant.instance_id, "plant", mpid, limit=50)
    return list(reversed(changes))


def test_writes_that_wait_together_commit_once_each_with_its_own_answer_and_history(
    database: Database, tenant: Tenant
) -> None:
    """Five upserts, two of them of one plant: one commit for all five, and the same results,
    answers and history as five transactions one after another would give."""
    group = GroupCommit(database)
    bodies = plant_bodies(4, seed=11)
    again = dict(bodies[1], description="sent again, changed")
    sent = [*bodies[:2], again, *bodies[2:]]
    counted = Transactions(database)
    try:
        answers = in_one_group(
            group, [upsert(group, tenant, body, f"req-{i}") for i, body in enumerate(sent)]
        )
    finally:
        counted.stop()
    assert counted.commits == 1, "the five together (the leader's holding write reads nothing)"
    assert [a.result for a in answers] == ["created", "created", "updated", "created", "created"]
    assert answers[2].data.description == "sent again, changed"
    assert answers[1].data.description == bodies[1].get("description")
    twice = history(database, tenant, bodies[1]["meteringPointId"])
    assert [(c["operation"], c["requestId"]) for c in twice] == [
        ("create", "req-1"),
        ("update", "req-2"),
    ]
    assert [f["field"] for f in twice[1]["fields"]] == ["description"]
    for index in (0, 3, 4):
        [created] = history(database, tenant, sent[index]["meteringPointId"])
        assert (created["operation"], created["requestId"]) == ("create", f"req-{index}")
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Plant)) == 4


def test_a_write_that_fails_in_a_group_fails_alone(database: Database, tenant: Tenant) -> None:
    """The middle write raises after writing a plant: its plant and history are gone with its
    savepoint, its caller gets its error, and the writes around it commit."""
    group = GroupCommit(database)
    first, middle, last = plant_bodies(3, seed=12)
    change = parse_valid_plant(middle, today=TODAY, synthetic_ok=True)
    actor = Actor(tenant.instance_id, request_id="req-fails")

    def fails(session: Session) -> None:
        upsert_plants(session, actor, [change], today=TODAY)
        raise LookupError("the write failed after writing")

    answers = in_one_group(
        group,
        [
            upsert(group, tenant, first, "req-first"),
            lambda: group.run(fails),
            upsert(group, tenant, last, "req-last"),
        ],
    )
    assert answers[0].result == "created"
    assert isinstance(answers[1], LookupError)
    assert answers[2].result == "created"
    with database.read() as session:
        stored = set(session.scalars(select(Plant.metering_point_id)))
        assert stored == {first["meteringPointId"], last["meteringPointId"]}
        requests = set(session.scalars(select(Change.request_id)))
    assert "req-fails" not in requests
    assert {"req-first", "req-last"} <= requests


def test_a_group_whose_transaction_fails_writes_each_alone(
    database: Database, tenant: Tenant
) -> None:
    """The group's commit fails (a stand-in for a lost connection): each write runs again in
    a transaction of its own, with the warnings and history it would have had alone."""
    group = GroupCommit(database)
    bodies = plant_bodies(3, seed=13)
    failed: list[bool] = []

    def fail_first_group_commit(connection: Any) -> None:
        if not failed and group_started.is_set():
            failed.append(True)
            raise ConnectionError("the commit did not reach the database")

    group_started = threading.Event()
    writes = [upsert(group, tenant, body, f"req-{i}") for i, body in enumerate(bodies)]

    def first_marks_the_group() -> Any:
        group_started.set()
        return writes[0]()

    event.listen(database.engine, "commit", fail_first_group_commit)
    try:
        answers = in_one_group(group, [first_marks_the_group, *writes[1:]])
    finally:
        event.remove(database.engine, "commit", fail_first_group_commit)
    assert failed, "the group's commit failed"
    assert [a.result for a in answers] == ["created"] * 3
    for index, body in enumerate(bodies):
        [created] = history(database, tenant, body["meteringPointId"])
        assert created["requestId"] == f"req-{index}"
    warnings = [[w.code for w in a.warnings] for a in answers]
    assert all(len(codes) == len(set(codes)) for codes in warnings), "no warning twice"


def test_a_write_alone_is_a_transaction_of_its_own(database: Database, tenant: Tenant) -> None:
    """No one waiting: the write is its own transaction, without a savepoint."""
    group = GroupCommit(database)
    [body] = plant_bodies(1, seed=14)
    counted = Transactions(database)
    try:
        outcome = upsert(group, tenant, body, "req-alone")()
    finally:
        counted.stop()
    assert outcome.result == "created"
    assert (counted.commits, counted.savepoints) == (1, 0)


@pytest.mark.parametrize("size", [1, 2])
def test_a_group_holds_at_most_its_size(database: Database, tenant: Tenant, size: int) -> None:
    """With ``max_group`` 1 every write commits alone; with 2, four waiting writes take two
    transactions."""
    group = GroupCommit(database, max_group=size)
    bodies = plant_bodies(4, seed=15 + size)
    counted = Transactions(database)
    try:
        answers = in_one_group(
            group, [upsert(group, tenant, body, f"req-{i}") for i, body in enumerate(bodies)]
        )
    finally:
        counted.stop()
    assert [a.result for a in answers] == ["created"] * 4
    assert counted.commits == 4 // size


def test_history_entries_of_a_group_follow_arrival_order(
    database: Database, tenant: Tenant
) -> None:
    """The feed numbers a group's entries in the order its writes arrived."""
    group = GroupCommit(database)
    bodies = plant_bodies(4, seed=16)
    in_one_group(group, [upsert(group, tenant, body, f"req-{i}") for i, body in enumerate(bodies)])
    with database.read() as session:
        rows = session.execute(
            select(Change.request_id)
            .where(Change.instance_id == tenant.instance_id, Change.entity_type == "plant")
            .order_by(Change.seq)
        ).scalars()
        assert list(rows) == [f"req-{i}" for i in range(4)]


def test_customers_that_wait_together_keep_their_own_answers_and_history(
    database: Database, tenant: Tenant
) -> None:
    """The single customer upsert goes through the same group: three customers, one of them
    sent twice, in one commit, each with its own result and history entry."""
    group = GroupCommit(database)
    first, second = generate_customers(2, seed=17)
    moved = dict(second, FirstName="Renamed")
    sent = [first, second, moved]

    def write(body: dict[str, Any], request_id: str) -> Callable[[], Any]:
        change = parse_valid_customer(body, today=TODAY, synthetic_ok=True)
        actor = Actor(tenant.instance_id, request_id=request_id)
        return lambda: upsert_customer(group, actor, change)

    counted = Transactions(database)
    try:
        answers = in_one_group(group, [write(body, f"req-{i}") for i, body in enumerate(sent)])
    finally:
        counted.stop()
    assert counted.commits == 1
    assert [a.result for a in answers] == ["created", "created", "updated"]
    assert answers[2].data.FirstName == "Renamed"
    with database.read() as session:
        entries = session.execute(
            select(Change.operation, Change.request_id)
            .where(Change.instance_id == tenant.instance_id, Change.entity_type == "customer")
            .order_by(Change.seq)
        ).all()
    assert [tuple(e) for e in entries] == [
        ("create", "req-0"),
        ("create", "req-1"),
        ("update", "req-2"),
    ]


def test_a_write_the_database_refuses_in_a_group_runs_again_alone(
    database: Database, tenant: Tenant
) -> None:
    """A database error in one write of a group (on PostgreSQL, a deadlock with another
    process's group) does not fail it: it runs again alone once the group has committed and
    released its locks."""
    group = GroupCommit(database)
    first, refused, last = plant_bodies(3, seed=18)
    change = parse_valid_plant(refused, today=TODAY, synthetic_ok=True)
    actor = Actor(tenant.instance_id, request_id="req-refused")
    attempts: list[int] = []

    def refused_once(session: Session) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            session.execute(select(func.count()).select_from(Plant))
            raise OperationalError("SELECT …", {}, Exception("deadlock detected"))
        [written] = upsert_plants(session, actor, [change], today=TODAY)
        return written.result

    counted = Transactions(database)
    try:
        answers = in_one_group(
            group,
            [
                upsert(group, tenant, first, "req-first"),
                lambda: group.run(refused_once),
                upsert(group, tenant, last, "req-last"),
            ],
        )
    finally:
        counted.stop()
    assert [answers[0].result, answers[1], answers[2].result] == ["created"] * 3
    assert len(attempts) == 2, "once in the group, once alone"
    assert counted.commits == 2
    [created] = history(database, tenant, refused["meteringPointId"])
    assert created["requestId"] == "req-refused"
