"""Group commit on and off: the single plant upsert under wrk, two servers on databases of
their own, one with ``TILSYN_GROUP_COMMIT_SIZE=1`` (every write its own transaction) and one
with the default, in alternating rounds in one run.

    python bench/group_commit.py                                   # SQLite
    python bench/group_commit.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse

from common import backend, fresh_database, instance_with_key, running_server
from http_wrk import UPSERT_LUA, Series, ensure_wrk, print_table, run_wrk


def bench(db_url: str | None, args: argparse.Namespace, wrk: str) -> None:
    label = "SQLite" if db_url in (None, "sqlite") else backend(db_url)
    with fresh_database(db_url, name="off.db") as off_db, fresh_database(db_url) as on_db:
        off_key, on_key = instance_with_key(off_db), instance_with_key(on_db)
        off_env = {"TILSYN_GROUP_COMMIT_SIZE": "1"}
        with (
            running_server(off_db, extra_env=off_env, workers=args.workers) as off,
            running_server(on_db, workers=args.workers) as on,
        ):
            alone = Series(f"plant upsert, each write its own transaction ({label})")
            grouped = Series(f"plant upsert, group commit ({label})")
            common = {"connections": args.connections, "seconds": args.seconds}
            for round_number in range(args.rounds):
                prefix = f"7070574{round_number % 10}"
                alone.add(
                    run_wrk(
                        wrk,
                        off.base,
                        UPSERT_LUA,
                        **common,
                        env={"API_KEY": off_key, "PLANT_PREFIX": prefix},
                    )
                )
                grouped.add(
                    run_wrk(
                        wrk,
                        on.base,
                        UPSERT_LUA,
                        **common,
                        env={"API_KEY": on_key, "PLANT_PREFIX": prefix},
                    )
                )
    print_table(
        f"POST plant, {args.connections} connections, {args.workers} worker(s), {args.rounds} "
        f"rounds of "
        f"{args.seconds} s (of bare: of the upsert with every write alone)",
        [alone, grouped],
        alone,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", help="database URL (default SQLite); repeat")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    wrk = ensure_wrk()
    for db_url in args.db or [None]:
        bench(db_url, args, wrk)


if __name__ == "__main__":
    main()
