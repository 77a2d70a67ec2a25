"""`tilsyn sync` end to end: a 100,000-plant export (with its customers) into a fresh server.

Generates the export with ``tilsyn.demo_data`` as CSV files with dotted columns, starts a real
``tilsyn serve`` on a fresh database (SQLite by default, or ``--db URL`` for a throwaway
database on that PostgreSQL server), then times, each as the ``tilsyn sync`` command:

1. the first sync (every row created),
2. a rerun of the same export (every row sent, every row answers "unchanged"),
3. a rerun with ``--changed-only`` (nothing sent),
4. a ``--dry-run`` after changing 1 % of the plants,

and prints rows per second for each.

    python bench/sync.py --plants 100000
    python bench/sync.py --plants 100000 --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cli, free_port, fresh_database, wait_ready

from tilsyn.client.readers import write_csv
from tilsyn.demo_data import generate_customers, generate_plants


def run_sync(
    files: list[Path], base: str, key: str, report: Path, *extra: str
) -> dict[str, object]:
    command = [sys.executable, "-m", "tilsyn", "sync", *map(str, files), "--url", base]
    command += ["--report", str(report), "--quiet", *extra]
    env = {**os.environ, "TILSYN_API_KEY": key}
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"sync exited with {result.returncode}")
    name = report.name + ("-dry-run" if "--dry-run" in extra else "")
    summary: dict[str, object] = json.loads(report.with_name(name + ".json").read_text())["summary"]
    summary["wall"] = elapsed
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plants", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--customers", type=int, default=None, help="customers (default: 0.9 per plant)"
    )
    parser.add_argument("--quick", action="store_true", help="first sync and --changed-only only")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tilsyn-sync-bench-"))
    customers_count = args.plants * 9 // 10 if args.customers is None else args.customers
    started = time.perf_counter()
    customers = list(generate_customers(customers_count, seed=11, synthetic_ids=True))
    numbers = [c["Number"] for c in customers]
    customers_csv = workdir / "customers.csv"
    plants_csv = workdir / "plants.csv"
    write_csv(customers_csv, customers)
    del customers
    write_csv(plants_csv, generate_plants(args.plants, customer_numbers=numbers, seed=11))
    print(
        f"export: {args.plants} plants, {customers_count} customers in "
        f"{time.perf_counter() - started:.1f} s ({workdir})"
    )
    db = args.db or f"sqlite:///{workdir / 'bench.db'}"
    with fresh_database(db) as url:
        run(args, url, workdir, [plants_csv, customers_csv] if customers_count else [plants_csv])


def run(args: argparse.Namespace, db: str, workdir: Path, files: list[Path]) -> None:
    env = {**os.environ, "TILSYN_SECRET_KEY": "bench-secret", "TILSYN_LOG_LEVEL": "WARNING"}
    cli(db, "instance", "create", "bench", "--environment", "test", env=env)
    key = cli(db, "key", "create", "bench", env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tilsyn", "--db", db, "serve", "--port", str(port),
         "--workers", str(args.workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rows: list[tuple[str, dict[str, object]]] = []
    try:
        wait_ready(base)
        report = workdir / "report" / "sync"
        concurrency = ("--concurrency", str(args.concurrency))
        rows.append(("first sync", run_sync(files, base, key, report, *concurrency)))
        if not args.quick:
            rows.append(("rerun, unchanged", run_sync(files, base, key, report, *concurrency)))
        rows.append(("rerun --changed-only", run_sync(files, base, key, report, "--changed-only")))
        if not args.quick:
            dry_run(args, files, base=base, key=key, report=report, rows=rows)
    finally:
        server.terminate()
        server.wait(timeout=30)
    backend = db.split(":", 1)[0]
    print(f"\ntilsyn sync end to end ({backend}, {args.workers} worker(s), "
          f"concurrency {args.concurrency})")  # fmt: skip
    print(f"{'run':<24}{'rows':>9}{'seconds':>10}{'rows/s':>10}{'requests':>10}  results")
    for name, summary in rows:
        counts = summary["counts"]
        assert isinstance(counts, dict)
        total = sum(sum(c.values()) for c in counts.values())
        wall = float(summary["wall"])  # type: ignore[arg-type]
        flat = {f"{k}:{r}": n for k, c in counts.items() for r, n in c.items()}
        print(
            f"{name:<24}{total:>9}{wall:>10.1f}{total / wall:>10.0f}"
            f"{summary['requests']!s:>10}  {flat}"
        )


def dry_run(
    args: argparse.Namespace,
    files: list[Path],
    *,
    base: str,
    key: str,
    report: Path,
    rows: list[tuple[str, dict[str, object]]],
) -> None:
    """Change 1 % of the plants' descriptions; time a dry run of that export."""
    concurrency = ("--concurrency", str(args.concurrency))
    changed = files[0].with_name("plants-changed.csv")
    lines = files[0].read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    column = header.index("description")
    out = [lines[0]]
    for index, line in enumerate(lines[1:]):
        if index % 100 == 0 and line.count(",") == len(header) - 1 and '"' not in line:
            cells = line.rstrip("\n").split(",")
            cells[column] = "Endret beskrivelse"
            out.append(",".join(cells) + "\n")
        else:
            out.append(line)
    changed.write_text("".join(out), encoding="utf-8")
    rows.append(
        (
            "dry run, 1 % changed",
            run_sync([changed, *files[1:]], base, key, report, "--dry-run", *concurrency),
        )
    )


if __name__ == "__main__":
    main()
