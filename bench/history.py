"""What history costs: single-plant upserts per second with and without recording, the size
of a recorded change, and what an as-of read costs.

Measured in one process, each upsert in its own transaction as a request would be: through
the service functions (without HTTP, so that history's share is as large as it can get), and
through the API in-process (ASGI, no network: key check, body reader, JSON answer). One
database, two instances holding the same plants; recording is switched off for one of them
(``tilsyn.core.changelog.RECORDING``, a switch only this bench touches). Calls alternate
between the instances plant by plant so that drift hits both alike; each rate is the median
of the rounds. Every upsert changes the plant, so every one records a change when on. A last
row runs several writer threads at once on one instance: with history on they queue for the
instance's commit-order lock (PostgreSQL) at the end of each transaction.

Sizes: the ``changes`` table with its indexes over the number of changes in it, from SQLite's
``dbstat`` or PostgreSQL's ``pg_total_relation_size``; beside it the diff's own size, and
what a full snapshot of the plant would weigh instead.

    python bench/history.py
    python bench/history.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from common import fresh_database
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

import tilsyn.core.changelog as history
import tilsyn.plants.service as plants
from tilsyn.app import create_app
from tilsyn.contract.plants.parse import parse_valid_plant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.core.models import Change, Plant
from tilsyn.demo_data import generate_plants
from tilsyn.instances.service import create_instance, create_key
from tilsyn.plants import history as plant_history
from tilsyn.rules.service import seed_default_rules

LABELS = ("off", "on")
SECRET = "bench-secret"


def timed_upsert(db: Database, instance_id: int, body: dict[str, Any]) -> float:
    actor = history.Actor(
        instance_id=instance_id, api_key_id=1, request_id=uuid.uuid4().hex, api_key_label="bench"
    )
    started = time.perf_counter()
    with db.write() as session:
        today = today_in_oslo()
        [outcome] = plants.upsert_plants(
            session, actor, [parse_valid_plant(body, today=today)], today=today
        )
    elapsed = time.perf_counter() - started
    assert outcome.result in ("created", "updated"), outcome.result
    return elapsed


def alternate(
    db: Database, instances: dict[str, int], bodies: list[dict[str, Any]]
) -> dict[str, float]:
    """Upsert every body into both instances, alternating; each instance's upserts per second."""
    spent = dict.fromkeys(LABELS, 0.0)
    for position, body in enumerate(bodies):
        order = LABELS if position % 2 == 0 else LABELS[::-1]
        for label in order:
            history.RECORDING = label == "on"
            spent[label] += timed_upsert(db, instances[label], body)
    history.RECORDING = True
    return {label: len(bodies) / spent[label] for label in LABELS}


def alternate_api(
    client: TestClient, keys: dict[str, str], bodies: list[dict[str, Any]]
) -> dict[str, float]:
    """The same through the API in-process (auth, body reader, JSON; no network)."""
    spent = dict.fromkeys(LABELS, 0.0)
    for position, body in enumerate(bodies):
        order = LABELS if position % 2 == 0 else LABELS[::-1]
        for label in order:
            history.RECORDING = label == "on"
            started = time.perf_counter()
            response = client.post(
                "/api/import/test/plant", json=body, headers={"api-key": keys[label]}
            )
            spent[label] += time.perf_counter() - started
            assert response.json()["result"] == "updated", response.text
    history.RECORDING = True
    return {label: len(bodies) / spent[label] for label in LABELS}


def threaded(db: Database, instance_id: int, bodies: list[dict[str, Any]], threads: int) -> float:
    """Upserts per second with ``threads`` writers at once on one instance."""
    chunks = [bodies[i::threads] for i in range(threads)]

    def work(chunk: list[dict[str, Any]]) -> None:
        for body in chunk:
            timed_upsert(db, instance_id, body)

    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(bodies) / (time.perf_counter() - started)


def table_bytes(db: Database) -> int:
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            query = (
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = 'changes')"
            )
            return int(conn.execute(text(query)).scalar() or 0)
        return int(conn.execute(text("SELECT pg_total_relation_size('changes')")).scalar() or 0)


def payload_bytes(db: Database) -> dict[str, float]:
    """Average stored size of the diff by operation."""
    size = func.length(Change.diff) if db.dialect == "sqlite" else func.pg_column_size(Change.diff)
    with db.read() as session:
        rows = session.execute(
            select(Change.operation, func.avg(size)).group_by(Change.operation)
        ).all()
    return {operation: float(average or 0) for operation, average in rows}


def snapshot_bytes(db: Database) -> float:
    """What a full after-state snapshot per change would weigh: the stored plant document."""
    size = func.length(Plant.data) if db.dialect == "sqlite" else func.pg_column_size(Plant.data)
    with db.read() as session:
        return float(session.scalar(select(func.avg(size))) or 0)


def median_ms(call: Callable[[], object], repeat: int = 30) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(url: str, *, plant_count: int, rounds: int, threads: int) -> None:
    db = Database(url, pool_size=max(8, threads))
    upgrade_database(db.engine)
    bodies = list(generate_plants(plant_count, customer_numbers=[], seed=11))
    instances: dict[str, int] = {}
    keys: dict[str, str] = {}
    with db.write() as session:
        for label in LABELS:
            name = f"bench-{label}-{uuid.uuid4().hex[:6]}"
            instance = create_instance(session, name=name, environment="test")
            seed_default_rules(session, instance.id)
            instances[label] = instance.id
            keys[label] = create_key(session, instance, secret_key=SECRET, label="bench").secret

    create_rate = alternate(db, instances, bodies)
    # The update rounds are stamped two days ahead, so that an as-of read of today replays
    # every one of them.
    real_now = history.utc_now
    history.utc_now = lambda: real_now() + timedelta(days=2)
    update_rates: dict[str, list[float]] = {label: [] for label in LABELS}
    for round_number in range(1, rounds + 1):
        changed = [{**body, "description": f"round {round_number}"} for body in bodies]
        for label, rate in alternate(db, instances, changed).items():
            update_rates[label].append(rate)
    api_rates: dict[str, list[float]] = {label: [] for label in LABELS}
    settings = Settings(database_url=url, secret_key=SECRET)
    with TestClient(create_app(settings, db)) as client:
        for round_number in range(1, rounds + 1):
            changed = [{**body, "description": f"api {round_number}"} for body in bodies]
            for label, rate in alternate_api(client, keys, changed).items():
                api_rates[label].append(rate)
    history.utc_now = real_now

    threaded_rates: dict[str, list[float]] = {label: [] for label in LABELS}
    for round_number in range(1, 5):
        changed = [{**body, "description": f"threads {round_number}"} for body in bodies]
        for label in LABELS if round_number % 2 else LABELS[::-1]:
            history.RECORDING = label == "on"
            threaded_rates[label].append(threaded(db, instances[label], changed, threads))
        history.RECORDING = True

    with db.read() as session:
        count = int(session.scalar(select(func.count()).select_from(Change)) or 0)
    size = table_bytes(db)
    payload = payload_bytes(db)
    snapshot = snapshot_bytes(db)
    mpid = str(bodies[0]["meteringPointId"])
    today = today_in_oslo()

    def live() -> None:
        with db.read() as session:
            plants.get_plant(session, instances["on"], mpid, today=today)

    def as_of() -> None:
        with db.read() as session:
            plant_history.plant_as_of(session, instances["on"], mpid, today)

    live_ms, as_of_ms = median_ms(live), median_ms(as_of)
    db.dispose()

    backend = make_url(url).get_backend_name()
    print(
        f"\nhistory: {plant_count} plants per instance, {backend}, service functions, one "
        f"transaction per upsert; updates: median of {rounds} rounds"
    )
    print(f"{'single-plant upserts/s':<34} {'history off':>12} {'history on':>12} {'cost':>8}")
    rows = [
        ("create (plant + its elements)", create_rate["off"], create_rate["on"]),
        (
            "update (one field)",
            statistics.median(update_rates["off"]),
            statistics.median(update_rates["on"]),
        ),
        (
            "update through the API (in-process)",
            statistics.median(api_rates["off"]),
            statistics.median(api_rates["on"]),
        ),
        (
            f"update, {threads} threads at once",
            statistics.median(threaded_rates["off"]),
            statistics.median(threaded_rates["on"]),
        ),
    ]
    for label, off, on in rows:
        print(f"{label:<34} {off:>12.1f} {on:>12.1f} {(off - on) / off * 100:>+7.1f}%")
    print(
        f"size per recorded change: {size / count:.0f} bytes with indexes "
        f"({count} changes in {size / 1024:.0f} KiB); diff as stored: "
        + ", ".join(f"{op} {avg:.0f} B" for op, avg in sorted(payload.items()))
        + f"; a full snapshot instead would store {snapshot:.0f} B per change"
    )
    print(
        f"as-of read replaying {2 * rounds} changes: {as_of_ms:.2f} ms; live GET: {live_ms:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plants", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--db",
        action="append",
        help="database URL, repeatable (default: a fresh SQLite file); a PostgreSQL URL names "
        "the server, the bench uses a throwaway database on it",
    )
    args = parser.parse_args()
    for url in args.db or [None]:
        with fresh_database(url) as fresh:
            run(fresh, plant_count=args.plants, rounds=args.rounds, threads=args.threads)


if __name__ == "__main__":
    main()
