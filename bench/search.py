"""Search latency at scale: a register of N plants (default 1,000,000) filled straight into
the real schema (tilsyn/search/synthetic.py), then searches of each kind timed through the
service function, as the API runs them (without HTTP). Prints p50 and p99 per kind.

    python bench/search.py                       # SQLite, 1,000,000 plants
    python bench/search.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python bench/search.py --plants 100000 --rounds 50
    python bench/search.py --keep sqlite:////tmp/search-1m.db   # fill once, keep, reuse
    python bench/search.py --keep postgresql+psycopg://postgres@127.0.0.1:5432/search_1m

With ``--keep URL`` the register is filled into that database (created if missing) and
left there; a later run with the same URL skips the fill and only searches. PostgreSQL's
plan of each statement a search runs is checked for sequential scans of the plants or the
search index.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
from common import backend, fresh_database, percentile
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.core.models import Instance, Plant
from tilsyn.instances.service import create_instance
from tilsyn.rules.service import seed_default_rules
from tilsyn.search import synthetic
from tilsyn.search.service import PlantSearch, page_keys, search_plants, search_where

Search = Callable[[int], dict[str, Any]]


def kinds(plants: int) -> dict[str, Search]:
    """Each kind of search, its arguments varied by the round number."""
    streets = synthetic.STREETS
    stations = max(1, plants // 1000)
    return {
        "q street name": lambda n: {"q": streets[n * 7 % len(streets)]},
        "q street + number": lambda n: {"q": synthetic.street_address(n * 7919 % plants)},
        "q 3-letter prefix": lambda n: {"q": streets[n * 11 % len(streets)][:3]},
        "q customer name": lambda n: {
            "q": f"{synthetic.FIRST_NAMES[n % 20]} {synthetic.LAST_NAMES[n * 3 % 18]}"
        },
        "q metering point id prefix": lambda n: {
            "q": synthetic.metering_point_id(n * 7919 % plants)[:16]
        },
        "q net station name": lambda n: {"q": synthetic.net_station_name(n % stations)},
        "q connection point": lambda n: {"q": f"KS {n * 131 % max(1, plants // 10)}"},
        "postalCode filter": lambda n: {"postal_code": synthetic.postal_code(n * 31)},
        "netStation filter": lambda n: {"net_station": synthetic.net_station_name(n % stations)},
        "q + status filter": lambda n: {
            "q": streets[n * 5 % len(streets)],
            "status": "Inaktivt",
        },
        "no q, first page": lambda n: {},
    }


def fill(url: str, plants: int) -> tuple[Database, int]:
    database = Database(url)
    upgrade_database(database.engine)
    with database.write() as session:
        existing = session.scalar(select(Instance.id).where(Instance.name == "bench"))
        if existing is not None:
            count = session.scalar(select(func.count()).where(Plant.instance_id == existing))
            print(f"reusing {count:,} plants")
            return database, existing
        instance_id = create_instance(session, name="bench", environment="test").id
        seed_default_rules(session, instance_id)
    started = time.perf_counter()
    with database.engine.begin() as connection:
        synthetic.fill(connection, instance_id, plants)
    elapsed = time.perf_counter() - started
    print(f"filled {plants:,} plants in {elapsed:.0f} s ({plants / elapsed:,.0f} plants/s)")
    started = time.perf_counter()
    database.analyze(["plants", "customers", "customer_periods", "grid_elements", "search_tokens"])
    print(f"analyzed in {time.perf_counter() - started:.0f} s")
    return database, instance_id


def scanned(database: Database, instance_id: int, arguments: dict[str, Any]) -> str:
    """'scan' when PostgreSQL's own plan of a statement the search runs reads the plants or
    the index whole, else 'index' (a walk of the plants in page order is bounded by
    ``WALK``: an index range, not a scan)."""
    if database.dialect != "postgresql":
        return ""
    sent: list[Any] = []

    def record(conn: Any, statement: Any, *_: Any) -> None:
        sent.append(statement)

    with database.read() as session:
        where = search_where(session, instance_id, PlantSearch(**arguments), today=today_in_oslo())
        event.listen(database.engine, "before_execute", record)
        try:
            page_keys(session, instance_id, where, limit=51, after=None)
        finally:
            event.remove(database.engine, "before_execute", record)
        bind = session.get_bind()
        plans = [
            "\n".join(
                row[0]
                for row in session.execute(
                    text("EXPLAIN " + str(q.compile(bind, compile_kwargs={"literal_binds": True})))
                )
            )
            for q in sent
        ]
    found = any(re.search(r"Seq Scan on (plants|search_tokens)\b", plan) for plan in plans)
    return "scan" if found else "index"


def run(database: Database, instance_id: int, plants: int, rounds: int) -> None:
    today = today_in_oslo()
    print(f"{'search':28} {'p50 ms':>8} {'p99 ms':>8} {'items':>6} plan")
    for name, arguments in kinds(plants).items():
        timings: list[float] = []
        found = 0
        for n in range(rounds + 3):
            with database.read() as session:
                started = time.perf_counter()
                items, _ = search_plants(
                    session, instance_id, PlantSearch(**arguments(n + 1)), today=today, limit=50
                )
                elapsed = time.perf_counter() - started
            if n >= 3:  # the first rounds warm caches
                timings.append(elapsed * 1000)
                found += len(items)
        p50, p99 = percentile(timings, 0.5), percentile(timings, 0.99)
        plan = scanned(database, instance_id, arguments(1))
        print(f"{name:28} {p50:8.1f} {p99:8.1f} {found / rounds:6.1f} {plan}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--plants", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--keep", help="fill into (or reuse) this database URL")
    args = parser.parse_args()
    if args.keep:
        _create_if_missing(args.keep)
        measure(args.keep, args.plants, args.rounds)
        return
    with fresh_database(args.db, "search.db") as url:
        measure(url, args.plants, args.rounds)


def measure(url: str, plants: int, rounds: int) -> None:
    print(f"{backend(url)}: {plants:,} plants, {rounds} rounds per search")
    database, instance_id = fill(url, plants)
    try:
        run(database, instance_id, plants, rounds)
    finally:
        database.dispose()


def _create_if_missing(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        if (
            conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
            ).fetchone()
            is None
        ):
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


if __name__ == "__main__":
    main()
