"""Customers alone through ``tilsyn import``: N new customers into an empty instance, on a
fresh database each round; with ``--tilsyn``, another checkout's code in alternating rounds.

    python bench/import_customers.py --customers 100000 --rounds 3 \
        --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5432/test \
        --tilsyn /path/to/a/checkout/at/main

Each round runs ``python -m tilsyn import`` as a child process (its wall time, start-up
included, as a user waits for it): first with ``--tilsyn``'s code, when given, then with this
checkout's, so that the machine's slow and fast phases fall on both alike. ``--again`` also
times a second import of the same file (every customer unchanged). ``--parse-workers`` is
passed on (default 1, the command's default: the checking in a process of its own). "CPU s"
is the import's CPU time with its checker processes (not the database server's), "MB
written" what the import process wrote to storage (``/proc/self/io``; on SQLite its database
file and WAL): both steadier than the wall time on a machine shared with other work.

The code of a checkout is what ``python -m tilsyn`` imports with that checkout as its working
folder (this interpreter, its installed dependencies). The data come from
``tilsyn demo-data`` (cached per size in the temp folder).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import BENCH_ENV, backend, fresh_database

HERE = Path(__file__).resolve().parent.parent


@dataclass
class Series:
    label: str
    checkout: Path
    created: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    written: list[int] = field(default_factory=list)
    again: list[float] = field(default_factory=list)


def customers_file(customers: int) -> Path:
    folder = Path(tempfile.gettempdir()) / f"tilsyn-bench-customers-{customers}"
    path = folder / "customers.ndjson"
    if not path.exists():
        print(f"generating {customers:,} customers in {folder} …", flush=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "tilsyn", "demo-data", "--plants", "1"),
                *("--customers", str(customers), "--out", str(folder)),
            ],
            check=True,
            env={**os.environ, **BENCH_ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ``python -m tilsyn``, saying at exit how many bytes the process had written to storage (its
# SQLite file and WAL; a PostgreSQL server writes in processes of its own).
_RUN_TILSYN = """
import atexit, runpy, sys
def written():
    for line in open("/proc/self/io"):
        if line.startswith("write_bytes:"):
            print("written-bytes", line.split()[1], file=sys.stderr)
atexit.register(written)
sys.argv[0] = "tilsyn"
runpy.run_module("tilsyn", run_name="__main__")
"""


def tilsyn(checkout: Path, db: str, *args: str) -> tuple[float, float, int]:
    """``python -m tilsyn --db db …`` with the checkout's code; its wall time, the CPU time
    of it and its checker processes (the database server's not counted), and the bytes it
    wrote to storage."""
    env = {**os.environ, **BENCH_ENV, "PYTHONPATH": str(checkout)}
    cpu = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _RUN_TILSYN, "--db", db, *args],
        check=False,
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"tilsyn {' '.join(args)} exited {result.returncode}: {result.stderr}")
    marks = [line.split()[1] for line in result.stderr.splitlines() if line.startswith("written-")]
    return seconds, _children_cpu() - cpu, int(marks[-1]) if marks else 0


def database_name(url: str) -> str:
    return "SQLite" if url == "sqlite" or backend(url) == "sqlite" else "PostgreSQL"


def run_round(series: Series, url: str, path: Path, args: argparse.Namespace) -> None:
    with fresh_database(url) as db:
        tilsyn(series.checkout, db, "instance", "create", "bench", "--environment", "test")
        command = ["import", "bench", str(path), "--report", os.devnull]
        command += ["--parse-workers", str(args.parse_workers)]
        seconds, cpu, written = tilsyn(series.checkout, db, *command)
        series.created.append(seconds)
        series.cpu.append(cpu)
        series.written.append(written)
        if args.again:
            series.again.append(tilsyn(series.checkout, db, *command)[0])


def rates(seconds: list[float], customers: int) -> str:
    if not seconds:
        return "-"
    each = [customers / s for s in seconds]
    return f"{statistics.median(each):>9,.0f} ({', '.join(f'{r:,.0f}' for r in each)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--db",
        action="append",
        help="'sqlite' or a PostgreSQL URL naming the server (a throwaway database is used); "
        "repeatable; default: sqlite",
    )
    parser.add_argument("--tilsyn", type=Path, help="another checkout, run in alternate rounds")
    parser.add_argument("--parse-workers", type=int, default=1)
    parser.add_argument("--again", action="store_true", help="also import the file a second time")
    args = parser.parse_args()
    path = customers_file(args.customers)
    for url in args.db or ["sqlite"]:
        runs = [Series("this checkout", HERE)]
        if args.tilsyn:
            runs.insert(0, Series(str(args.tilsyn), args.tilsyn.resolve()))
        for number in range(args.rounds):
            for series in runs:
                run_round(series, url, path, args)
                print(
                    f"  {database_name(url)} round {number + 1} {series.label}: "
                    f"{series.created[-1]:.1f} s, {series.cpu[-1]:.1f} s CPU, "
                    f"{series.written[-1] / 1e6:,.0f} MB written",
                    flush=True,
                )
        print(
            f"\n{database_name(url)}: tilsyn import of {args.customers:,} new customers "
            f"(--parse-workers {args.parse_workers}), customers/s, median (each round)"
        )
        for series in runs:
            line = f"  {series.label:<40} created {rates(series.created, args.customers)}"
            line += f"; CPU s {statistics.median(series.cpu):.1f}"
            if any(series.written):
                line += f"; MB written {statistics.median(series.written) / 1e6:,.0f}"
            if args.again:
                line += f"; again (unchanged) {rates(series.again, args.customers)}"
            print(line)


if __name__ == "__main__":
    main()
