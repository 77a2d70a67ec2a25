"""`tilsyn sync` against a real `tilsyn serve` on each database.

A 10,000-row sync and a rerun that sends nothing; a rerun that changes nothing; bad rows
reported by line; a killed-and-resumed run; a dry run that matches the real run after it;
retries through a proxy that injects 429/503; full-sync reconciliation.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import SECRET, Tenant, make_tenant
from tests.http_proxy import Fault, HttpProxy
from tests.servers import running_server
from tilsyn.cli import app
from tilsyn.client import TilsynClient
from tilsyn.client.readers import write_csv
from tilsyn.client.sync import Sync, SyncOptions, SyncResult
from tilsyn.core.db import Database
from tilsyn.core.models import Change
from tilsyn.demo_data import generate_customers, generate_plants

pytestmark = pytest.mark.slow


@dataclass
class Live:
    base: str
    tenant: Tenant
    proxy: HttpProxy
    database: Database
    tmp: Path

    def client(self) -> TilsynClient:
        return TilsynClient(self.base, self.tenant.key)


@pytest.fixture
def live(database: Database, database_url: str, tmp_path: Path) -> Iterator[Live]:
    tenant = make_tenant(database, "nett")
    with running_server(database_url, secret=SECRET) as base, HttpProxy(base) as proxy:
        yield Live(base, tenant, proxy, database, tmp_path)


def make_export(
    customers: int, plants: int, *, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cs = list(generate_customers(customers, seed=seed, synthetic_ids=True))
    ps = list(generate_plants(plants, customer_numbers=[c["Number"] for c in cs], seed=seed))
    return cs, ps


def write(live: Live, name: str, rows: list[dict[str, Any]]) -> Path:
    path = live.tmp / name
    write_csv(path, rows)
    return path


def sync(live: Live, *files: Path, via_proxy: bool = False, **options: Any) -> SyncResult:
    """A sync in one request per row, unless a test asks for bulk."""
    options.setdefault("report", live.tmp / "report" / "sync")
    options.setdefault("bulk", False)
    return Sync(
        SyncOptions(
            url=live.proxy.url if via_proxy else live.base,
            api_key=live.tenant.key,
            files=list(files),
            **options,
        )
    ).run()


def writes(live: Live) -> list[Any]:
    """The POSTs that write (a lookup POSTs only to read many entities at once)."""
    return [s for s in live.proxy.posts() if not s.path.endswith("/lookup")]


def reads_in_bulk(live: Live) -> int:
    return len([s for s in live.proxy.posts() if s.path.endswith("/lookup")])


def results(result: SyncResult) -> dict[tuple[str, str], str]:
    keyed = {(r.kind, r.key): r.result for r in result.records}
    assert len(keyed) == len(result.records), "one record per key"
    return keyed


def history_size(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(Change)) or 0)


def test_10000_rows_then_a_rerun_sends_nothing(live: Live) -> None:
    customers, plants = make_export(4000, 6000, seed=1)
    files = [write(live, "plants.csv", plants), write(live, "customers.csv", customers)]
    started = time.monotonic()
    first = sync(live, *files, concurrency=8)
    elapsed = time.monotonic() - started
    assert first.exit_code == 0, first.problems
    assert Counter(first.counts()["customer"]) == {"created": 4000}
    assert Counter(first.counts()["plant"]) == {"created": 6000}
    with live.client() as client:
        assert len(list(client.iter_plant_ids())) == 6000
        assert len(list(client.iter_customer_numbers())) == 4000
    print(f"10,000 rows in {elapsed:.1f} s")

    rerun = sync(live, *files, via_proxy=True, changed_only=True)
    assert rerun.exit_code == 0
    assert {r.result for r in rerun.records} == {"skipped"}
    assert live.proxy.posts() == [], "nothing changed, nothing sent"

    report = json.loads((live.tmp / "report" / "sync.json").read_text())
    assert report["summary"]["counts"] == {
        "customer": {"skipped": 4000},
        "plant": {"skipped": 6000},
    }
    assert len(report["rows"]) == 10_000


def test_a_rerun_changes_nothing_and_writes_no_history(live: Live) -> None:
    customers, plants = make_export(90, 120, seed=2)
    files = [write(live, "customers.csv", customers), write(live, "plants.csv", plants)]
    assert sync(live, *files).exit_code == 0
    before = history_size(live.database)
    rerun = sync(live, *files)
    assert rerun.exit_code == 0
    assert {r.result for r in rerun.records} == {"unchanged"}
    assert all(r.sent for r in rerun.records)
    assert history_size(live.database) == before


def test_bad_rows_are_reported_by_line_and_never_sent(live: Live) -> None:
    _, plants = make_export(0, 5, seed=3)
    broken = copy.deepcopy(plants)
    del broken[1]["consumptionCode"]
    broken[3]["meteringPointId"] = "12345"
    broken[3]["status"] = "Ukjent"
    path = write(live, "plants.csv", broken)
    result = sync(live, path, via_proxy=True)
    assert result.exit_code == 1
    invalid = {r.line: r for r in result.records if r.result == "invalid"}
    assert set(invalid) == {3, 5}, "header is line 1"
    assert [e.field for e in invalid[3].errors] == ["consumptionCode"]
    assert {e.field for e in invalid[5].errors} == {"meteringPointId", "status"}
    assert len(live.proxy.posts()) == 3
    csv_report = (live.tmp / "report" / "sync.csv").read_text()
    assert "consumptionCode missing" in csv_report


def test_rows_the_server_rejects_fail_with_its_errors(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    strict = make_tenant(database, "streng", strict=True)
    _, plants = make_export(0, 3, seed=4)
    plants[0]["address"]["postalCode"] = "12"
    path = tmp_path / "plants.csv"
    write_csv(path, plants)
    with running_server(database_url, secret=SECRET) as base:
        result = Sync(
            SyncOptions(url=base, api_key=strict.key, files=[path], report=tmp_path / "r")
        ).run()
    failed = [r for r in result.records if r.result == "failed"]
    assert len(failed) == 1
    assert failed[0].line == 2
    assert failed[0].errors[0].field == "address.postalCode"
    assert result.exit_code == 1


def test_killed_sync_resumes_without_resending_finished_rows(live: Live) -> None:
    _, plants = make_export(0, 600, seed=5)
    path = write(live, "plants.csv", plants)
    report = live.tmp / "out" / "nightly"
    state = live.tmp / "out" / ".tilsyn-sync-state.sqlite"
    live.proxy.delay = 0.01
    command = [
        sys.executable, "-m", "tilsyn", "sync", str(path), "--url", live.proxy.url,
        "--report", str(report), "--concurrency", "2", "--quiet", "--bulk-size", "20",
    ]  # fmt: skip
    env = {**os.environ, "TILSYN_API_KEY": live.tenant.key}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while _finished_rows(state) < 100:
            assert process.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    finished = _finished_keys(state)
    assert 100 <= len(finished) < 600
    live.proxy.reset()
    live.proxy.delay = 0

    resumed = sync(live, path, via_proxy=True, resume=True, report=report)
    assert resumed.exit_code == 0
    sent = [s.key for s in live.proxy.posts()]
    assert not set(sent) & finished, "rows finished before the kill are not sent again"
    assert len(sent) == 600 - len(finished)
    records = results(resumed)
    assert len(records) == 600
    assert {r.key for r in resumed.records if r.earlier} == finished
    assert set(records.values()) <= {"created", "unchanged"}, "in-flight rows may be applied"
    with live.client() as client:
        assert {i["meteringPointId"] for i in client.iter_plant_ids()} == {
            p["meteringPointId"] for p in plants
        }
    again = sync(live, path, via_proxy=True, resume=True, report=report)
    assert {r.result for r in again.records} == {"unchanged"}, "a finished run is not resumed"


def _finished_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(state) as db:
            return int(db.execute("SELECT count(*) FROM rows").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _finished_keys(state: Path) -> set[str]:
    with sqlite3.connect(state) as db:
        return {row[0] for row in db.execute("SELECT key FROM rows")}


def test_dry_run_matches_what_the_real_run_then_does(live: Live) -> None:
    customers, plants = make_export(255, 320, seed=6)
    numbers = [c["Number"] for c in customers]
    initial = [
        write(live, "customers.csv", customers[:250]),
        write(live, "plants.csv", plants[:300]),
    ]
    assert sync(live, *initial).exit_code == 0

    changed_customers = copy.deepcopy(customers)
    for customer in changed_customers[:10]:
        customer["Email"] = "ny.adresse@example.no"
    changed_customers[10]["Phone"] = None
    changed = copy.deepcopy(plants)
    for plant in changed[:10]:
        plant["description"] = "Ny beskrivelse"
    for plant in changed[10:15]:  # later: the stored date stays, with a warning
        stored = date.fromisoformat(plant["connectedDate"])
        plant["connectedDate"] = (stored + timedelta(days=1)).isoformat()
    for plant in changed[15:18]:  # earlier: accepted
        stored = date.fromisoformat(plant["connectedDate"])
        plant["connectedDate"] = (stored - timedelta(days=1)).isoformat()
    kept_builder = [p for p in changed[18:60] if p["builtByElCompanyId"] is not None][:5]
    for plant in kept_builder:  # absent: the stored value stays
        plant["builtByElCompanyId"] = None
    for plant in changed[60:65]:
        plant["customerId"] = next(n for n in numbers[:250] if n != plant["customerId"])
    for plant in changed[65:68]:  # the customer in force, from another date: nothing
        plant["customerChangeFrom"] = "2001-01-01"
    changed[68]["status"] = "Terminert" if changed[68]["status"] != "Terminert" else "Inaktivt"
    changed[69]["connectionPoint"] = copy.deepcopy(changed[170]["connectionPoint"])
    changed[70]["auditSpecificInfo"] = {"inspectionRate": 10}
    shared = changed[250]["connectionPoint"]["name"]  # one element, sent by several rows
    sharing = [p for p in changed[:300] if p["connectionPoint"]["name"] == shared]
    assert len(sharing) >= 2
    assert all(index >= 200 for index, p in enumerate(changed) if p in sharing)
    for plant in sharing:
        plant["connectionPoint"]["address"]["addressText"] = "Ny vei 1"
    files = [write(live, "customers.csv", changed_customers), write(live, "plants.csv", changed)]

    before = history_size(live.database)
    dry = sync(live, *files, via_proxy=True, dry_run=True)
    assert writes(live) == [], "a dry run sends nothing"
    assert reads_in_bulk(live) == 2, "one lookup per kind (≤ 1,000 rows), not a GET per row"
    assert history_size(live.database) == before
    assert dry.report_paths[0].name == "sync-dry-run.csv"

    real = sync(live, *files)
    predicted, actual = results(dry), results(real)
    assert predicted.keys() == actual.keys()
    as_real = {"would-create": "created", "would-update": "updated", "unchanged": "unchanged"}
    shared_keys = {("plant", p["meteringPointId"]) for p in sharing}
    for key, outcome in actual.items():
        if key not in shared_keys:
            assert as_real[predicted[key]] == outcome, (key, predicted[key], outcome)
    # The shared element's change goes to whichever of its rows the server writes first.
    assert (
        Counter(predicted[k] for k in shared_keys)["would-update"]
        == Counter(actual[k] for k in shared_keys)["updated"]
    )

    counts = Counter(actual.values())
    assert counts["created"] == 5 + 20
    dry_rows = {(r.kind, r.key): r for r in dry.records}
    description = dry_rows[("plant", changed[0]["meteringPointId"])].diff
    assert description == {"description": [plants[0]["description"], "Ny beskrivelse"]}
    later = dry_rows[("plant", changed[10]["meteringPointId"])]
    assert later.result == "unchanged"
    assert "connected_date_kept" in {w.code for w in later.warnings}
    real_later = next(r for r in real.records if r.key == changed[10]["meteringPointId"])
    assert "connected_date_kept" in {w.code for w in real_later.warnings}


def test_retries_through_injected_429_and_503(live: Live) -> None:
    customers, plants = make_export(20, 30, seed=7)
    files = [write(live, "customers.csv", customers), write(live, "plants.csv", plants)]
    live.proxy.inject(
        Fault(429, (("Retry-After", "1"),)),
        Fault(429, (("Retry-After", "1"),)),
        Fault(503, (("Retry-After", "1"),)),
        Fault(503),
        Fault(0),
    )
    result = sync(live, *files, via_proxy=True, concurrency=4)
    assert result.exit_code == 0
    assert live.proxy.injected == 5
    assert result.retries == 5
    assert Counter(r.result for r in result.records) == {"created": 50}
    report = json.loads((live.tmp / "report" / "sync.json").read_text())
    assert report["summary"]["retries"] == 5


def test_bulk_endpoints_are_used_when_the_server_offers_them(live: Live) -> None:
    """The server's own bulk endpoints, with a 503 injected in front of them."""
    customers, plants = make_export(30, 45, seed=11)
    plants[3]["consumptionCode"] = None  # invalid: never sent, not even in a batch
    files = [write(live, "customers.csv", customers), write(live, "plants.csv", plants)]
    live.proxy.inject(Fault(503, (("Retry-After", "0"),)))
    result = sync(live, *files, via_proxy=True, bulk=True, bulk_size=20)
    assert result.bulk_used == {"customer": True, "plant": True}
    bulk_posts = [s for s in live.proxy.posts() if s.path.endswith("/bulk")]
    assert len(bulk_posts) == 2 + 3 + 1, "30 customers in 2 batches, 44 plants in 3, 1 retried"
    assert Counter(r.result for r in result.records) == {"created": 74, "invalid": 1}
    with live.client() as client:
        assert len(list(client.iter_plant_ids())) == 44


def test_full_sync_reports_and_terminates_what_vanished(live: Live) -> None:
    customers, plants = make_export(100, 200, seed=8)
    all_files = [write(live, "customers.csv", customers), write(live, "plants.csv", plants)]
    assert sync(live, *all_files).exit_code == 0
    with live.client() as client:
        before = {p["meteringPointId"]: client.get_plant(p["meteringPointId"]) for p in plants}
    gone_plants = {p["meteringPointId"] for p in plants[:10]}
    already = [k for k in gone_plants if before[k]["status"] == "Terminert"]
    gone_customers = {c["Number"] for c in customers[:5]}
    files = [
        write(live, "customers-now.csv", customers[5:]),
        write(live, "plants-now.csv", plants[10:]),
    ]

    report_only = sync(live, *files, full=True)
    assert report_only.exit_code == 0
    missing = {(r.kind, r.key) for r in report_only.records if r.result == "missing"}
    assert missing == {("plant", k) for k in gone_plants} | {
        ("customer", k) for k in gone_customers
    }

    live.proxy.reset()
    preview = sync(live, *files, via_proxy=True, full=True, terminate=True, dry_run=True)
    assert writes(live) == []
    would = {r.key for r in preview.records if r.result == "would-terminate"}
    assert would == gone_plants - set(already)

    done = sync(live, *files, full=True, terminate=True)
    assert done.exit_code == 0
    assert {r.key for r in done.records if r.result == "terminated"} == would
    with live.client() as client:
        for key in gone_plants:
            after = client.get_plant(key)
            assert after["status"] == "Terminert"
            assert {k: v for k, v in after.items() if k != "status"} == {
                k: v for k, v in before[key].items() if k != "status"
            }, "terminating changes the status only"
        for number in gone_customers:
            assert client.find_customer(number) is not None, "customers are never deleted"

    again = sync(live, *files, full=True, terminate=True)
    assert not [r for r in again.records if r.result == "terminated"]
    assert {r.key for r in again.records if r.result == "missing"} >= gone_plants


def test_terminating_more_than_the_limit_is_refused(live: Live) -> None:
    _, plants = make_export(0, 60, seed=9)
    assert sync(live, write(live, "all.csv", plants)).exit_code == 0
    half = write(live, "half.csv", plants[:30])
    result = sync(live, half, full=True, terminate=True)
    assert result.exit_code == 1
    assert "--max-terminate" in result.problems[0]
    with live.client() as client:
        statuses = [client.get_plant(p["meteringPointId"])["status"] for p in plants[30:]]
    assert statuses == [p["status"] for p in plants[30:]], "nothing was terminated"
    allowed = sync(live, half, full=True, terminate=True, max_terminate="30")
    assert allowed.exit_code == 0


def test_command_line_with_mapping_and_ndjson(live: Live) -> None:
    customers, plants = make_export(3, 4, seed=10)
    mapping = live.tmp / "mapping.yaml"
    mapping.write_text("MALEPUNKT: meteringPointId\nFORBRUK: consumptionCode\nKUNDE: customerId\n")
    source = []
    for plant in plants:
        row = {k: v for k, v in plant.items() if k not in {"meteringPointId", "consumptionCode"}}
        row |= {"MALEPUNKT": plant["meteringPointId"], "FORBRUK": plant["consumptionCode"]}
        row["KUNDE"] = row.pop("customerId")
        source.append(row)
    plants_csv = write(live, "anlegg.csv", source)
    customers_ndjson = live.tmp / "kunder.ndjson"
    customers_ndjson.write_text("".join(json.dumps(c) + "\n" for c in customers))
    report = live.tmp / "cli" / "report"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "sync", str(plants_csv), str(customers_ndjson), "--url", live.base,
            "--key", live.tenant.key, "--mapping", str(mapping), "--report", str(report), "-q",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(json.loads(report.with_suffix(".json").read_text())["rows"])
    assert Counter(r["result"] for r in rows) == {"created": 7}
    with live.client() as client:
        stored = client.get_plant(plants[0]["meteringPointId"])
    assert stored["customerId"] == plants[0]["customerId"]

    dry = runner.invoke(
        app,
        [
            "sync", str(plants_csv), "--url", live.base, "--key", live.tenant.key,
            "--mapping", str(mapping), "--report", str(report), "--dry-run",
        ],
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    unreachable = runner.invoke(
        app, ["sync", str(plants_csv), "--url", "http://127.0.0.1:9", "--key", "tilsyn_test_x",
              "--max-attempts", "1", "-q"],
    )  # fmt: skip
    assert unreachable.exit_code == 2
