"""Where the cost of tilsyn's stack goes, measured with wrk: a bare FastAPI app against no-op
endpoints that each add one part of a tilsyn request (bench/stack_app.py), in alternating
rounds in one run.

    python bench/stack_cost.py                     # 32 connections, 3 rounds of 8 s
    python bench/stack_cost.py --seconds 10 --rounds 5

The instance has no rate limit here (the default, 1,000 requests a second per key, would
answer some of the faster endpoints with 429 and flatter them); the key check itself stays.
"""

from __future__ import annotations

import argparse

from common import cli, fresh_database, instance_with_key, running_server
from http_wrk import GET_LUA, UPSERT_LUA, Series, ensure_wrk, print_table, run_wrk

ENDPOINTS = (
    ("POST, middleware + key check, first route", "/stack/first/async", UPSERT_LUA),
    ("POST, + its JSON body read and parsed", "/stack/first/body", UPSERT_LUA),
    ("POST, + a request thread (plain def)", "/stack/first/thread", UPSERT_LUA),
    ("POST, middleware + key check, last route", "/stack/last/async", UPSERT_LUA),
    ("GET, middleware only, first route", "/stack/first/get/", GET_LUA),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wrk = ensure_wrk()
    common = {"connections": args.connections, "seconds": args.seconds}
    with fresh_database(None) as db:
        key = instance_with_key(db)
        cli(db, "instance", "set-rate-limit", "bench", "--per-second", "0")
        with (
            running_server(db, app="bare_app:bare_app") as bare,
            running_server(db, app="stack_app:app_with_stack_parts") as stack,
        ):
            bare_post, bare_get = Series("bare FastAPI POST no-op"), Series("bare FastAPI GET")
            parts = [Series(name) for name, _, _ in ENDPOINTS]
            for _ in range(args.rounds):
                env = {"API_KEY": key, "COUNT": "1000"}
                bare_post.add(
                    run_wrk(
                        wrk, bare.base, UPSERT_LUA, **common, env=env | {"TARGET_PATH": "/noop"}
                    )
                )
                bare_get.add(
                    run_wrk(
                        wrk, bare.base, GET_LUA, **common, env=env | {"TARGET_PREFIX": "/noop/"}
                    )
                )
                for series, (_, path, script) in zip(parts, ENDPOINTS, strict=True):
                    target = "TARGET_PREFIX" if script == GET_LUA else "TARGET_PATH"
                    series.add(run_wrk(wrk, stack.base, script, **common, env=env | {target: path}))
    title = f"{args.connections} connections, 1 worker, {args.rounds} rounds of {args.seconds} s"
    print_table(f"POST: {title}", [bare_post, *parts[:4]], bare_post)
    print_table(f"GET: {title}", [bare_get, parts[4]], bare_get)


if __name__ == "__main__":
    main()
