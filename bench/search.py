"""Search latency at scale: a register of N plants (default 1,000,000) filled straight into
the real schema (tilsyn/search/synthetic.py), then searches of each kind timed through the
service function, as the API runs them (without HTTP). Prints p50 and p99 per kind.

    python bench/search.py                       # SQLite, 1,000,000 plants
    python bench/search.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python bench/search.py --plants 100000 --rounds 50
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from common import backend, fresh_database, percentile

from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.core.time import today_in_oslo
from tilsyn.instances.service import create_instance
from tilsyn.search import synthetic
from tilsyn.search.service import search_plants

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
        instance_id = create_instance(session, name="bench", environment="test").id
    started = time.perf_counter()
    with database.engine.begin() as connection:
        synthetic.fill(connection, instance_id, plants)
    elapsed = time.perf_counter() - started
    print(f"filled {plants:,} plants in {elapsed:.0f} s ({plants / elapsed:,.0f} plants/s)")
    started = time.perf_counter()
    database.analyze(["plants", "customers", "customer_periods", "grid_elements", "search_tokens"])
    print(f"analyzed in {time.perf_counter() - started:.0f} s")
    return database, instance_id


def run(database: Database, instance_id: int, plants: int, rounds: int) -> None:
    today = today_in_oslo()
    print(f"{'search':28} {'p50 ms':>8} {'p99 ms':>8} {'items':>6}")
    for name, arguments in kinds(plants).items():
        timings: list[float] = []
        found = 0
        for n in range(rounds + 3):
            with database.read() as session:
                started = time.perf_counter()
                items, _ = search_plants(
                    session, instance_id, today=today, limit=50, **arguments(n + 1)
                )
                elapsed = time.perf_counter() - started
            if n >= 3:  # the first rounds warm caches
                timings.append(elapsed * 1000)
                found += len(items)
        p50, p99 = percentile(timings, 0.5), percentile(timings, 0.99)
        print(f"{name:28} {p50:8.1f} {p99:8.1f} {found / rounds:6.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--plants", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    with fresh_database(args.db, "search.db") as url:
        print(f"{backend(url)}: {args.plants:,} plants, {args.rounds} rounds per search")
        database, instance_id = fill(url, args.plants)
        try:
            run(database, instance_id, args.plants, args.rounds)
        finally:
            database.dispose()


if __name__ == "__main__":
    main()
