"""HTTP throughput and latency measured with wrk (a compiled load generator, not the bottleneck).

Three servers under the same uvicorn settings, in alternating rounds in one run, so the
machine's drift hits all of them alike:

- a bare FastAPI app (bench/bare_app.py: no tilsyn middleware, no database), the ceiling;
- tilsyn's own stack with a no-op endpoint (bench/noop_app.py), the cost of the stack alone;
- tilsyn's plant upsert (distinct plants with a grid hierarchy, bench/wrk/upsert.lua),
  then GET by key of the plants those rounds created (bench/wrk/get.lua), at the same
  connections and at one connection.

    python bench/http_wrk.py                                  # SQLite, 32 connections, 3 rounds
    python bench/http_wrk.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test --seconds 10

wrk comes from Debian's package `wrk`; run as root, the bench installs it when it is missing
and says so, otherwise it says how to install it and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import backend, fresh_database, instance_with_key, running_server

HERE = Path(__file__).parent
UPSERT_LUA = HERE / "wrk" / "upsert.lua"
GET_LUA = HERE / "wrk" / "get.lua"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing Debian's package wrk (apt-get install wrk)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk), then rerun")


@dataclass
class Series:
    """One endpoint's figures over the rounds."""

    name: str
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    socket_errors: int = 0
    status_errors: int = 0
    requests: int = 0

    def add(self, figures: dict[str, int]) -> None:
        self.rates.append(figures["requests"] / (figures["duration_us"] / 1e6))
        self.p50.append(figures["p50_us"] / 1000)
        self.p99.append(figures["p99_us"] / 1000)
        self.socket_errors += figures["errors"]
        self.status_errors += figures["status_errors"]
        self.requests += figures["requests"]


def run_wrk(
    wrk: str, url: str, script: Path, *, connections: int, seconds: int, env: dict[str, str]
) -> dict[str, int]:
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("WRKJSON "):
            figures: dict[str, int] = json.loads(line.removeprefix("WRKJSON "))
            return figures
    raise RuntimeError(f"wrk printed no figures:\n{result.stdout}\n{result.stderr}")


def print_table(title: str, rows: list[Series], ceiling: Series) -> None:
    print(f"\n{title}")
    print(
        "| endpoint | req/s (median) | of bare | p50 ms | p99 ms | requests | non-2xx"
        " | socket errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    top = statistics.median(ceiling.rates)
    for row in rows:
        rate = statistics.median(row.rates)
        print(
            f"| {row.name} | {rate:,.0f} | {rate / top:.0%} | {statistics.median(row.p50):.1f}"
            f" | {statistics.median(row.p99):.1f} | {row.requests:,} | {row.status_errors}"
            f" | {row.socket_errors} |"
        )


def bench(db_url: str | None, args: argparse.Namespace, wrk: str) -> None:
    label = "SQLite" if db_url in (None, "sqlite") else backend(db_url)
    with fresh_database(db_url) as db:
        key = instance_with_key(db)
        with (
            running_server(db, app="bare_app:bare_app", workers=args.workers) as bare,
            running_server(db, app="noop_app:app_with_noop", workers=args.workers) as stack,
            running_server(db, workers=args.workers) as tilsyn,
        ):
            bare_post, stack_post = Series("bare FastAPI POST no-op"), Series("tilsyn stack no-op")
            upsert = Series(f"tilsyn plant upsert ({label})")
            common = {"connections": args.connections, "seconds": args.seconds}
            prefixes = []
            for round_number in range(args.rounds):
                prefix = f"7070575{round_number % 10}"
                prefixes.append(prefix)
                env = {"API_KEY": key, "PLANT_PREFIX": prefix}
                bare_env = env | {"TARGET_PATH": "/noop"}
                bare_post.add(run_wrk(wrk, bare.base, UPSERT_LUA, **common, env=bare_env))
                stack_post.add(
                    run_wrk(
                        wrk,
                        stack.base,
                        UPSERT_LUA,
                        **common,
                        env=env | {"TARGET_PATH": "/bench/noop"},
                    )
                )
                upsert.add(run_wrk(wrk, tilsyn.base, UPSERT_LUA, **common, env=env))
            print_table(
                f"POST, {args.connections} connections, {args.workers} worker(s), "
                f"{args.rounds} rounds of {args.seconds} s",
                [bare_post, stack_post, upsert],
                bare_post,
            )
            created = min(upsert.requests // args.rounds, 10**9 - 1)
            for connections in sorted({1, args.connections}):
                bare_get, get = Series("bare FastAPI GET"), Series(f"tilsyn GET by key ({label})")
                for round_number in range(args.rounds):
                    env = {
                        "API_KEY": key,
                        "PLANT_PREFIX": prefixes[round_number],
                        "COUNT": str(max(1, created // 2)),
                        "TARGET_PREFIX": "/noop/",
                    }
                    bare_get.add(
                        run_wrk(
                            wrk,
                            bare.base,
                            GET_LUA,
                            connections=connections,
                            seconds=args.seconds,
                            env=env,
                        )
                    )
                    env.pop("TARGET_PREFIX")
                    get.add(
                        run_wrk(
                            wrk,
                            tilsyn.base,
                            GET_LUA,
                            connections=connections,
                            seconds=args.seconds,
                            env=env,
                        )
                    )
                print_table(
                    f"GET by key, {connections} connection(s), ~{created:,} plants per round",
                    [bare_get, get],
                    bare_get,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", help="database URL (default SQLite); repeat")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    wrk = ensure_wrk()
    for db_url in args.db or [None]:
        bench(db_url, args, wrk)


if __name__ == "__main__":
    main()
