"""`tilsyn import` of the same file by two checkouts, in alternating rounds: a change to the
write path measured against the code before it on the same machine at the same time.

    git worktree add --detach ../before main
    (cd ../before && python3 -m venv .venv && .venv/bin/pip install -q -e .)
    python bench/import_before_after.py --plants 150000 --rounds 2 \
        --before ../before/.venv/bin/python --db postgresql+psycopg://postgres@127.0.0.1:5432/test

Each round imports the plants file (from ``tilsyn demo-data``, as bench/import_bulk.py makes
it) with the ``--before`` interpreter, then with this one, each into a fresh copy of a
database that holds the instance and its customers (imported once, not timed); ``--customers``
times the customers file instead, into copies of a database with the instance only. An
editable install takes no notice of ``PYTHONPATH``: the checkout before needs its own venv.

Besides the wall time, each run's CPU time: the importer's (with its checker process) and, for
a PostgreSQL server on this machine, that of its connections' server processes (read from
/proc every half second). On a machine shared with other work the wall time follows the
others' load; the CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from common import BENCH_ENV, backend, fresh_database, instance_with_key
from import_bulk import demo_files, with_customers
from sqlalchemy.engine import make_url


@dataclass
class Run:
    seconds: float
    importer_cpu: float
    server_cpu: float | None


def _cpu_seconds(pid: int) -> float:
    """A process's user and system time so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """The CPU time of a local PostgreSQL's processes serving one database, sampled until
    :meth:`stop` (each process's last reading: they end with their connections)."""

    def __init__(self, db: str) -> None:
        url = make_url(db)
        self.local = url.get_backend_name() == "postgresql" and url.host in (
            "127.0.0.1",
            "localhost",
        )
        self.admin = url.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        self.name = url.database
        self.seen: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        if self.local:
            self.thread.start()

    def _sample(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self.done.wait(0.5):
                query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
                for (pid,) in conn.execute(query, (self.name,)):
                    with suppress(OSError):
                        self.seen[pid] = _cpu_seconds(pid)

    def stop(self) -> float | None:
        if not self.local:
            return None
        self.done.set()
        self.thread.join()
        return sum(self.seen.values())


def timed(python: str, db: str, source: Path, report: Path) -> Run:
    command = [python, "-m", "tilsyn", "--db", db, "import", "bench", str(source)]
    server = ServerCpu(db)
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--report", str(report)],
        env={**os.environ, **BENCH_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)  # its waited-for checker processes included
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: some rows failed
        raise RuntimeError(f"{command} exited with {status}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, server.stop())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plants", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", required=True, help="the Python of the checkout before")
    parser.add_argument("--db", default="sqlite", help="'sqlite' or a PostgreSQL server's URL")
    parser.add_argument("--customers", action="store_true", help="time the customers file")
    args = parser.parse_args()
    customers = args.plants * 9 // 10
    folder = demo_files(args.plants, customers)
    source = folder / ("customers.ndjson" if args.customers else "plants.ndjson")
    rows = customers if args.customers else args.plants
    sides = {"before": args.before, "after": sys.executable}
    runs: dict[str, list[Run]] = {side: [] for side in sides}
    with fresh_database(args.db, name="template.db") as template:
        if args.customers:
            instance_with_key(template)
        else:
            with_customers(template, folder)
        for round_number in range(1, args.rounds + 1):
            for side, python in sides.items():
                with fresh_database(args.db, template=template) as db:
                    run = timed(python, db, source, folder / f"report-{side}.ndjson")
                runs[side].append(run)
                server = "" if run.server_cpu is None else f", server {run.server_cpu:.1f} s"
                print(
                    f"round {round_number} {side} ({backend(args.db)}): {run.seconds:.1f} s, "
                    f"{rows / run.seconds:,.0f} {source.stem}/s; CPU: importer "
                    f"{run.importer_cpu:.1f} s{server}",
                    flush=True,
                )
    for side, done in runs.items():
        rates = ", ".join(f"{rows / run.seconds:,.0f}" for run in done)
        print(f"{side}: {source.stem}/s {rates}")


if __name__ == "__main__":
    main()
