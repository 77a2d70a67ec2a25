"""Single-plant upserts over HTTP: rate and latency at N concurrent clients.

Starts a real ``tilsyn serve`` on a fresh database (SQLite by default, or ``--db URL``),
creates an instance and key with the CLI, then sends distinct plants (and a share of
re-sends of the same plant, which answer "unchanged") from concurrent clients.

    python bench/upsert_http.py --requests 4000 --clients 32
    python bench/upsert_http.py --db sqlite:///bench.db --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tilsyn.demo_data import generate_plants


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(db: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tilsyn", "--db", db, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return result.stdout.strip()


def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


async def run_load(
    base: str, key: str, bodies: list[dict[str, Any]], clients: int
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
                response = await client.post("/api/import/test/plant", json=body)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--db",
        action="append",
        help="database URL, repeatable (default: a fresh SQLite file); a PostgreSQL URL names "
        "the server, the bench uses a throwaway database on it",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tilsyn-bench-"))
    rows = []
    for url in args.db or [f"sqlite:///{workdir / 'bench.db'}"]:
        with fresh_database(url) as db:
            rows.append(run(args, db))
    print(
        f"\nsingle-plant upsert over HTTP: {args.requests} distinct plants, {args.clients} "
        f"concurrent clients, {args.workers} server worker(s), client on the same machine"
    )
    print(f"{'database':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}  statuses")
    for row in rows:
        print(row)


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """SQLite files are fresh already; on PostgreSQL, a throwaway database on that server."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        yield url
        return
    name = f"tilsyn_bench_{uuid.uuid4().hex[:8]}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace, db: str) -> str:
    env = {**os.environ, "TILSYN_SECRET_KEY": "bench-secret", "TILSYN_LOG_LEVEL": "WARNING"}
    name = f"bench-{int(time.time())}"
    cli(db, "instance", "create", name, "--environment", "test", env=env)
    key = cli(db, "key", "create", name, env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tilsyn",
            "--db",
            db,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(base)
        bodies = list(generate_plants(args.requests, customer_numbers=[], seed=7))
        warmup = list(generate_plants(200, customer_numbers=[], seed=99))
        asyncio.run(run_load(base, key, warmup, args.clients))
        latencies, statuses, elapsed = asyncio.run(run_load(base, key, bodies, args.clients))
    finally:
        server.terminate()
        server.wait(timeout=30)
    backend = make_url(db).get_backend_name()
    rate = len(latencies) / elapsed
    p50 = percentile(latencies, 0.50) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    mean = statistics.mean(latencies) * 1000
    return f"{backend:<12} {rate:>8.1f} {p50:>8.1f} {p99:>8.1f} {mean:>8.1f}  {statuses}"


if __name__ == "__main__":
    main()
