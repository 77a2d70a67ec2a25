"""Bulk import of N plants with their hierarchy: `tilsyn import`, the bulk endpoint, and a raw
executemany of the same flattened rows, side by side on each database; then GET by key.

    python bench/import_bulk.py --plants 1000000 \
        --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5432/test

For each database, on a fresh database each time:

- flat: the ceiling of writing rows at all: each plant as one row of one flat table (its
  columns, its document, its grid element and customer names as text), upserted with the
  driver's ``executemany`` (``INSERT … ON CONFLICT DO UPDATE``), 500 per transaction; only
  the statements and commits are timed (not the file's decoding). The "of flat" column
  compares every path with it.
- raw: the NDJSON file read and flattened into grid element, plant and customer period rows of
  tilsyn's schema, upserted with ``executemany`` the same way. No validation, no warnings, no
  history: the floor of what writing tilsyn's schema costs ("of raw").
- import: ``tilsyn import`` in its own process (customers first, not timed).
- bulk: a real ``tilsyn serve``; the file streamed to ``POST …/plant/bulk`` as NDJSON and
  the streamed results read to the summary.
- GET by key: after the bulk import, single GETs of random plants from one client (latency).

Peak memory is the importer's or the server's, with their checker processes: the peak of their
summed resident memory (sampled every 0.2 s), or the main process's high-water mark if higher.
Data come from ``tilsyn demo-data`` (cached per size in the temp folder).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from common import (
    BENCH_ENV,
    TreeMemory,
    backend,
    cli,
    database_bytes,
    fresh_database,
    instance_with_key,
    mib,
    peak_rss_bytes,
    percentile,
    running_server,
)
from sqlalchemy.engine import make_url

CHUNK = 500


@dataclass
class Row:
    database: str
    path: str
    seconds: float
    plants: int
    peak_rss: int | None
    db_bytes: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.plants / self.seconds


def demo_files(plants: int, customers: int) -> Path:
    folder = Path(tempfile.gettempdir()) / f"tilsyn-bench-data-{plants}-{customers}"
    if not (folder / "plants.ndjson").exists():
        print(f"generating {plants:,} plants and {customers:,} customers in {folder} …")
        subprocess.run(
            [
                *(sys.executable, "-m", "tilsyn", "demo-data"),
                *("--plants", str(plants), "--customers", str(customers), "--out", str(folder)),
            ],
            check=True,
            env={**os.environ, **BENCH_ENV},
        )
    return folder


# --- raw executemany -----------------------------------------------------------------------


def _elements(plant: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(kind, name, element, parent name), top-down."""
    chain = []
    point = plant.get("connectionPoint")
    transformer = point.get("transformer") if point else None
    station = transformer.get("netStation") if transformer else None
    if station:
        chain.append(("netStation", station["name"], station, None))
    if transformer:
        chain.append(
            ("transformer", transformer["name"], transformer, station["name"] if station else None)
        )
    if point:
        chain.append(
            (
                "connectionPoint",
                point["name"],
                point,
                transformer["name"] if transformer else None,
            )
        )
    return chain


def _driver_connection(db: str) -> Any:
    """The driver's own connection (no SQLAlchemy): SQLite in WAL mode, or psycopg."""
    url = make_url(db)
    if backend(db) == "sqlite":
        connection = sqlite3.connect(url.database or "", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))


def raw_import(db: str, plants_file: Path, instance_id: int) -> None:
    """Flattened rows, upserted with the driver's executemany: the floor of writing cost."""
    sqlite = backend(db) == "sqlite"
    mark = "?" if sqlite else "%s"
    json_mark = mark if sqlite else "%s::jsonb"

    def sql(statement: str) -> str:
        return statement.replace("%J", json_mark).replace("%s", mark)

    parent_of = {"transformer": "netStation", "connectionPoint": "transformer"}
    element_sql = sql(
        "INSERT INTO grid_elements (instance_id, kind, name, parent_id, address_text, "
        "postal_code, latitude, longitude, created_at, updated_at) VALUES (%s, %s, %s, "
        "(SELECT id FROM grid_elements WHERE instance_id = %s AND kind = %s AND name = %s), "
        "%s, %s, %s, %s, %s, %s) ON CONFLICT (instance_id, kind, name) DO UPDATE SET "
        "parent_id = excluded.parent_id, address_text = excluded.address_text, "
        "postal_code = excluded.postal_code, latitude = excluded.latitude, "
        "longitude = excluded.longitude, updated_at = excluded.updated_at"
    )
    plant_sql = sql(
        "INSERT INTO plants (instance_id, metering_point_id, data, consumption_code, "
        "industrial_classification, status, connected_date, built_by_el_company_id, "
        "connection_point_id, created_at, updated_at) VALUES (%s, %s, %J, %s, %s, %s, %s, %s, "
        "(SELECT id FROM grid_elements WHERE instance_id = %s AND kind = 'connectionPoint' "
        "AND name = %s), %s, %s) ON CONFLICT (instance_id, metering_point_id) DO UPDATE SET "
        "data = excluded.data, consumption_code = excluded.consumption_code, "
        "industrial_classification = excluded.industrial_classification, "
        "status = excluded.status, connected_date = excluded.connected_date, "
        "built_by_el_company_id = excluded.built_by_el_company_id, "
        "connection_point_id = excluded.connection_point_id, updated_at = excluded.updated_at"
    )
    period_sql = sql(
        "INSERT INTO customer_periods (instance_id, plant_id, valid_from, customer_number) "
        "VALUES (%s, (SELECT id FROM plants WHERE instance_id = %s AND metering_point_id = %s), "
        "%s, %s) ON CONFLICT (plant_id, valid_from) DO UPDATE SET "
        "customer_number = excluded.customer_number"
    )
    connection = _driver_connection(db)
    today = datetime.now(UTC).date().isoformat()
    with plants_file.open(encoding="utf-8") as lines:
        while True:
            batch = [json.loads(line) for _, line in zip(range(CHUNK), lines, strict=False)]
            if not batch:
                break
            now = datetime.now(UTC)
            seen: dict[tuple[str, str], tuple[Any, ...]] = {}
            for plant in batch:
                for kind, name, element, parent in _elements(plant):
                    address = element.get("address") or {}
                    location = element.get("location") or {}
                    seen[kind, name] = (
                        *(instance_id, kind, name),
                        *(instance_id, parent_of.get(kind, ""), parent),
                        *(address.get("addressText"), address.get("postalCode")),
                        *(location.get("latitude"), location.get("longitude"), now, now),
                    )
            elements = sorted(seen.values(), key=lambda row: (row[1] != "netStation", row[1]))
            plants = [
                (
                    *(instance_id, str(plant["meteringPointId"]), json.dumps(plant)),
                    *(str(plant["consumptionCode"]), plant["industrialClassification"]),
                    *(plant.get("status"), plant.get("connectedDate")),
                    plant.get("builtByElCompanyId"),
                    *(instance_id, (plant.get("connectionPoint") or {}).get("name")),
                    *(now, now),
                )
                for plant in batch
            ]
            periods = [
                (
                    *(instance_id, instance_id, str(plant["meteringPointId"])),
                    *(plant.get("customerChangeFrom") or today, plant["customerId"]),
                )
                for plant in batch
                if plant.get("customerId")
            ]
            cursor = connection.cursor()
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(element_sql, elements)
            cursor.executemany(plant_sql, plants)
            cursor.executemany(period_sql, periods)
            connection.commit()
    connection.close()


FLAT_TABLE = """CREATE TABLE flat_plants (
    id {id}, instance_id INTEGER NOT NULL, metering_point_id VARCHAR(18) NOT NULL,
    data {json} NOT NULL, consumption_code VARCHAR(8), industrial_classification VARCHAR(16),
    status VARCHAR(40), connected_date VARCHAR(10), built_by_el_company_id INTEGER,
    connection_point VARCHAR(200), transformer VARCHAR(200), net_station VARCHAR(200),
    customer_id VARCHAR(40), customer_from VARCHAR(10), created_at {time}, updated_at {time},
    UNIQUE (instance_id, metering_point_id))"""


def flat_import(db: str, plants_file: Path, instance_id: int) -> float:
    """Each plant as one flat row of one table, upserted with executemany: no hierarchy to
    resolve, no second table, no checks. What a row costs to write at all: the seconds spent
    in the statements and commits, the file's decoding and the rows' building not counted."""
    sqlite = backend(db) == "sqlite"
    mark = "?" if sqlite else "%s"
    columns = (
        "instance_id, metering_point_id, data, consumption_code, industrial_classification, "
        "status, connected_date, built_by_el_company_id, connection_point, transformer, "
        "net_station, customer_id, customer_from, created_at, updated_at"
    )
    updated = [name.strip() for name in columns.split(",")[2:-2]] + ["updated_at"]
    marks = ", ".join([mark, mark, mark if sqlite else "%s::jsonb"] + [mark] * 12)
    statement = (
        f"INSERT INTO flat_plants ({columns}) VALUES ({marks}) "
        "ON CONFLICT (instance_id, metering_point_id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in updated)
    )
    connection = _driver_connection(db)
    if sqlite:
        table = FLAT_TABLE.format(id="INTEGER PRIMARY KEY", json="TEXT", time="TIMESTAMP")
    else:
        table = FLAT_TABLE.format(id="BIGSERIAL PRIMARY KEY", json="JSONB", time="TIMESTAMPTZ")
    connection.execute(table)
    connection.commit()
    today = datetime.now(UTC).date().isoformat()
    writing = 0.0
    with plants_file.open(encoding="utf-8") as lines:
        while True:
            batch = [json.loads(line) for _, line in zip(range(CHUNK), lines, strict=False)]
            if not batch:
                break
            now = datetime.now(UTC)
            rows = []
            for plant in batch:
                names = {kind: name for kind, name, _, _ in _elements(plant)}
                rows.append(
                    (
                        *(instance_id, str(plant["meteringPointId"]), json.dumps(plant)),
                        *(str(plant["consumptionCode"]), plant["industrialClassification"]),
                        *(plant.get("status"), plant.get("connectedDate")),
                        plant.get("builtByElCompanyId"),
                        names.get("connectionPoint"),
                        *(names.get("transformer"), names.get("netStation")),
                        plant.get("customerId"),
                        *(plant.get("customerChangeFrom") or today, now, now),
                    )
                )
            started = time.perf_counter()
            cursor = connection.cursor()
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(statement, rows)
            connection.commit()
            writing += time.perf_counter() - started
    connection.close()
    return writing


def timed_flat(db: str, plants_file: Path, plants: int) -> Row:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = flat_import(db, plants_file, instance_id=1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    note = "" if peak > before else "(peak RSS of the bench process)"
    return Row(
        backend(db), "flat executemany", seconds, plants, peak * 1024, database_bytes(db), note
    )


def timed_raw(db: str, plants_file: Path, plants: int) -> Row:
    cli(db, "instance", "create", "bench", "--environment", "test")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    raw_import(db, plants_file, instance_id=1)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    note = "" if peak > before else "(peak RSS of the bench process)"
    return Row(
        backend(db), "raw executemany", seconds, plants, peak * 1024, database_bytes(db), note
    )


# --- tilsyn import -------------------------------------------------------------------------


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak RSS of one child process with its checker processes (summed)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    memory = TreeMemory(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    peak = max(memory.stop(), usage.ru_maxrss * 1024)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):  # 1: some rows failed; the report says which
        raise RuntimeError(f"{command} exited with {process.returncode}")
    return seconds, peak


def with_customers(db: str, folder: Path) -> tuple[str, float]:
    """The instance, its key and every customer, imported once: each path starts from a copy.
    The API key, and the rate of customers through ``tilsyn import``."""
    key = instance_with_key(db)
    base = [sys.executable, "-m", "tilsyn", "--db", db, "import", "bench"]
    customers = str(folder / "customers.ndjson")
    seconds, _ = run_child([*base, customers, "--report", os.devnull], {**os.environ, **BENCH_ENV})
    return key, seconds


def timed_import(db: str, folder: Path, plants: int) -> Row:
    env = {**os.environ, **BENCH_ENV}
    command = [sys.executable, "-m", "tilsyn", "--db", db, "import", "bench"]
    report = ["--report", str(folder / f"report-{os.getpid()}.ndjson")]
    seconds, peak = run_child([*command, str(folder / "plants.ndjson"), *report], env)
    return Row(backend(db), "tilsyn import", seconds, plants, peak, database_bytes(db))


# --- bulk endpoint -------------------------------------------------------------------------


def stream_bulk(base: str, path: str, key: str, source: Path) -> dict[str, Any]:
    """POST a file as chunked NDJSON while reading the streamed answer at the same time.

    Full duplex, as the bulk endpoint needs for a large body: it answers while it reads, and a
    client that only reads once it has sent everything (httpx, requests) stalls both sides when
    the answer fills the socket buffers.
    """
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\napi-key: {key}\r\n"
        "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    )

    def send() -> None:
        sock.sendall(head.encode())
        with source.open("rb") as handle:
            while block := handle.read(1 << 20):
                sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
        sock.sendall(b"0\r\n\r\n")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    response = http.client.HTTPResponse(sock)
    response.begin()
    if response.status != 200:
        raise RuntimeError(f"bulk answered {response.status}: {response.read()[:500]!r}")
    summary: dict[str, Any] = {}
    for line in response:
        if line.startswith(b'{"summary"'):
            summary = json.loads(line)["summary"]
    sender.join()
    sock.close()
    return summary


def timed_bulk(db: str, key: str, folder: Path, plants: int, gets: int) -> tuple[Row, list[float]]:
    with running_server(db) as server:
        memory = TreeMemory(server.process.pid)
        started = time.perf_counter()
        summary = stream_bulk(
            server.base, "/api/import/test/plant/bulk", key, folder / "plants.ndjson"
        )
        seconds = time.perf_counter() - started
        peak = max(memory.stop(), peak_rss_bytes(server.process.pid))
        latencies = get_latencies(server.base, key, folder / "plants.ndjson", plants, gets)
    note = f"summary {summary}" if summary.get("failed") else ""
    return Row(backend(db), "bulk endpoint", seconds, plants, peak, database_bytes(db), note), (
        latencies
    )


def get_latencies(base: str, key: str, plants_file: Path, plants: int, gets: int) -> list[float]:
    """Single GETs of random plants, one after another over one keep-alive connection."""
    wanted = set(random.Random(5).sample(range(plants), min(gets, plants)))
    keys = []
    with plants_file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number in wanted:
                keys.append(json.loads(line)["meteringPointId"])
    random.Random(6).shuffle(keys)
    latencies = []
    with httpx.Client(base_url=base, headers={"api-key": key}) as client:
        for mpid in keys[:50]:  # warm-up
            client.get(f"/api/plant/test/getDataForImport/{mpid}")
        for mpid in keys:
            started = time.perf_counter()
            response = client.get(f"/api/plant/test/getDataForImport/{mpid}")
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plants", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=0, help="default: 90 %% of plants")
    parser.add_argument("--gets", type=int, default=5000)
    parser.add_argument(
        "--db",
        action="append",
        help="'sqlite' or a PostgreSQL URL naming the server (a throwaway database is used); "
        "repeatable; default: sqlite",
    )
    parser.add_argument("--only", choices=["flat", "raw", "import", "bulk"], action="append")
    args = parser.parse_args()
    customers = args.customers or args.plants * 9 // 10
    folder = demo_files(args.plants, customers)
    rows: list[Row] = []
    gets: dict[str, list[float]] = {}
    customer_rates: dict[str, float] = {}

    def row_line(row: Row) -> str:
        return f"{row.database} {row.path}: {row.seconds:.1f} s, {row.rate:,.0f} plants/s"

    for url in args.db or ["sqlite"]:
        only = set(args.only or ["flat", "raw", "import", "bulk"])
        if "flat" in only:
            with fresh_database(url, name="flat.db") as db:
                rows.append(timed_flat(db, folder / "plants.ndjson", args.plants))
                print(f"  {row_line(rows[-1])}", flush=True)
        if "raw" in only:
            with fresh_database(url) as db:
                rows.append(timed_raw(db, folder / "plants.ndjson", args.plants))
                print(f"  {row_line(rows[-1])}", flush=True)
        if not only & {"import", "bulk"}:
            continue
        with fresh_database(url, name="customers.db") as template:
            key, customer_seconds = with_customers(template, folder)
            customer_rates[backend(template)] = customers / customer_seconds
            if "import" in only:
                with fresh_database(url, template=template) as db:
                    rows.append(timed_import(db, folder, args.plants))
                    print(f"  {row_line(rows[-1])}", flush=True)
            if "bulk" in only:
                with fresh_database(url, template=template) as db:
                    row, latencies = timed_bulk(db, key, folder, args.plants, args.gets)
                    rows.append(row)
                    gets[row.database] = latencies
                    print(f"  {row_line(rows[-1])}", flush=True)

    print_tables(rows, customer_rates, gets, plants=args.plants, customers=customers)


def print_tables(
    rows: list[Row],
    customer_rates: dict[str, float],
    gets: dict[str, list[float]],
    *,
    plants: int,
    customers: int,
) -> None:
    print(f"\nbulk import of {plants:,} plants with their hierarchy ({customers:,} customers")
    print("imported once before, untimed); 2 cores; each path on its own copy of that database")
    header = f"{'database':<11} {'path':<17} {'seconds':>8} {'plants/s':>9} {'of flat':>8}"
    print(f"{header} {'of raw':>7} {'peak RSS':>10} {'DB bytes/plant':>15}  note")
    flat_rates = {row.database: row.rate for row in rows if row.path == "flat executemany"}
    raw_rates = {row.database: row.rate for row in rows if row.path == "raw executemany"}

    def share(rate: float, reference: float | None) -> str:
        return f"{100 * rate / reference:.1f} %" if reference else "-"

    for row in rows:
        peak = mib(row.peak_rss) if row.peak_rss else "-"
        size = f"{row.db_bytes / row.plants:,.0f}" if row.db_bytes else "-"
        print(
            f"{row.database:<11} {row.path:<17} {row.seconds:>8.1f} {row.rate:>9,.0f} "
            f"{share(row.rate, flat_rates.get(row.database)):>8} "
            f"{share(row.rate, raw_rates.get(row.database)):>7} {peak:>10} {size:>15}  {row.note}"
        )
    for database, rate in customer_rates.items():
        print(f"{database}: customers through tilsyn import at {rate:,.0f} customers/s")
    if gets:
        print(f"\nGET plant by key at {plants:,} plants, one client, keep-alive")
        print(f"{'database':<11} {'GETs':>6} {'p50 ms':>8} {'p99 ms':>8}")
        for database, latencies in gets.items():
            print(
                f"{database:<11} {len(latencies):>6} {percentile(latencies, 0.5) * 1000:>8.2f} "
                f"{percentile(latencies, 0.99) * 1000:>8.2f}"
            )


if __name__ == "__main__":
    main()
