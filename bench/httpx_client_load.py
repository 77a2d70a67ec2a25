"""A test of the Python client side (httpx AsyncClient), not of the server: single-plant upserts
against a no-op endpoint at N clients. A Python client on the same cores saturates first, so
for the server's throughput use bench/http_wrk.py (wrk). Kept to see what an SDK user gets.

What it measured before bench/http_wrk.py existed was this client, not the server.

Starts a real server on a fresh database (SQLite by default, or ``--db URL``), creates an
instance and key with the CLI, and sends distinct plants from concurrent clients, in rounds
that alternate between a no-op POST endpoint on the same stack (bench/noop_app.py) and the
plant upsert.

    python bench/httpx_client_load.py --requests 4000 --clients 32
    python bench/httpx_client_load.py --db sqlite:///bench.db --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from common import backend, fresh_database, instance_with_key, percentile, running_server

from tilsyn.demo_data import generate_plants


async def run_load(
    base: str, path: str, key: str, bodies: list[dict[str, Any]], clients: int
) -> tuple[list[float], dict[int, int], float]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"api-key": key}, limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


@dataclass
class Measured:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    round_rates: list[float]


@dataclass
class Target:
    name: str
    base: str
    path: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    round_rates: list[float] = field(default_factory=list)

    def result(self) -> Measured:
        return Measured(
            self.name,
            statistics.median(self.round_rates),
            percentile(self.latencies, 0.50) * 1000,
            percentile(self.latencies, 0.99) * 1000,
            self.statuses,
            self.round_rates,
        )


def run(args: argparse.Namespace, url: str | None) -> list[Measured]:
    """The no-op endpoint and the single upsert, on the same server stack and database, in
    alternating rounds: this machine's speed drifts by a third over minutes, so a ratio of
    two runs made one after the other measures the drift as much as the code."""
    per_round = max(1, args.requests // args.rounds)
    bodies = list(generate_plants(per_round * args.rounds, customer_numbers=[], seed=7))
    warmup = list(generate_plants(300, customer_numbers=[], seed=99))
    with fresh_database(url) as db:
        key = instance_with_key(db)
        label = backend(db)
        with (
            running_server(db, workers=args.workers, app="noop_app:app_with_noop") as noop,
            running_server(db, workers=args.workers) as server,
        ):
            targets = [
                Target("no-op", noop.base, "/bench/noop"),
                Target(f"upsert {label}", server.base, "/api/import/test/plant"),
            ]
            for target in targets:
                asyncio.run(run_load(target.base, target.path, key, warmup, args.clients))
            for number in range(args.rounds):
                batch = bodies[number * per_round : (number + 1) * per_round]
                for target in targets:
                    latencies, statuses, elapsed = asyncio.run(
                        run_load(target.base, target.path, key, batch, args.clients)
                    )
                    target.latencies.extend(latencies)
                    for status, count in statuses.items():
                        target.statuses[status] = target.statuses.get(status, 0) + count
                    target.round_rates.append(len(latencies) / elapsed)
    return [target.result() for target in targets]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating rounds of each endpoint (median rate)"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--db",
        action="append",
        help="database URL, repeatable (default: a fresh SQLite file); a PostgreSQL URL names "
        "the server, the bench uses a throwaway database on it",
    )
    args = parser.parse_args()
    results = [run(args, url) for url in args.db or [None]]
    print(
        f"\nsingle-plant upsert over HTTP: {args.requests} distinct plants in {args.rounds} "
        f"rounds alternating with the no-op endpoint, {args.clients} concurrent clients, "
        f"{args.workers} server worker(s), client on the same machine; req/s is the median of "
        "the rounds"
    )
    print(
        f"{'endpoint':<20} {'req/s':>8} {'of no-op':>9} {'p50 ms':>8} {'p99 ms':>8}  "
        "rounds req/s; statuses"
    )
    for noop, upsert in results:
        for row in (noop, upsert):
            ratio = f"{100 * row.rate / noop.rate:.0f} %"
            print(
                f"{row.name:<20} {row.rate:>8.1f} {ratio:>9} {row.p50_ms:>8.1f} "
                f"{row.p99_ms:>8.1f}  {' '.join(f'{r:.0f}' for r in row.round_rates)}; "
                f"{row.statuses}"
            )


if __name__ == "__main__":
    main()
