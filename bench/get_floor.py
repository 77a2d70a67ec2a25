"""GET plant by key against the no-op POST on the same stack: one client, sequential.

What a single read costs beside what any request costs on this server stack (uvicorn, FastAPI,
tilsyn's middleware): p50/p99 of each, and the server's CPU per request. Small database, so
that the figures are the code's and not the disk's (bench/import_bulk.py measures GET at size).

    python bench/get_floor.py --plants 1500 --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import fresh_database, instance_with_key, percentile, running_server

from tilsyn.demo_data import generate_plants

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


Send = Callable[[httpx.Client, dict[str, Any]], httpx.Response]


def measure(base: str, key: str, pid: int, send: Send, plants: list[dict[str, Any]]) -> str:
    latencies: list[float] = []
    with httpx.Client(base_url=base, headers={"api-key": key}, timeout=60) as client:
        for plant in plants[:200]:
            send(client, plant)
        before = cpu_seconds(pid)
        for plant in plants:
            started = time.perf_counter()
            response = send(client, plant)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
        used = cpu_seconds(pid) - before
    p50, p99 = (percentile(latencies, share) * 1000 for share in (0.5, 0.99))
    return f"p50 {p50:6.2f}  p99 {p99:6.2f}  server CPU {used / len(plants) * 1000:5.2f} ms"


def run(url: str | None, count: int, rounds: int) -> None:
    plants = list(generate_plants(count, customer_numbers=[], seed=5))
    with fresh_database(url) as db:
        key = instance_with_key(db)
        with (
            running_server(db, app="noop_app:app_with_noop") as noop,
            running_server(db) as server,
        ):
            with httpx.Client(base_url=server.base, headers={"api-key": key}, timeout=60) as c:
                for plant in plants:
                    c.post("/api/import/test/plant", json=plant).raise_for_status()
            for number in range(rounds):
                got = measure(
                    server.base,
                    key,
                    server.process.pid,
                    lambda c, p: c.get(f"/api/plant/test/getDataForImport/{p['meteringPointId']}"),
                    plants,
                )
                empty = measure(
                    noop.base,
                    key,
                    noop.process.pid,
                    lambda c, p: c.post("/bench/noop", json=p),
                    plants,
                )
                name = (url or "sqlite").split(":")[0].split("+")[0]
                print(f"{name:<10} round {number}  GET {got}  |  no-op POST {empty}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plants", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", action="append", help="database URL, repeatable (default SQLite)")
    args = parser.parse_args()
    print("one client, sequential, keep-alive; times in ms")
    for url in args.db or [None]:
        run(url, args.plants, args.rounds)


if __name__ == "__main__":
    main()
