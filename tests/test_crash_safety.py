"""SIGKILL mid-load: every answered upsert survives exactly, nothing is half-written.

32 clients upsert plants (each with a customer, a shared hierarchy and a customer period)
while the server is killed without warning, then restarted on the same database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
from sqlalchemy import func, select, text

from tests.conftest import SECRET, make_tenant
from tests.servers import free_port, wait_until_ready
from tilsyn.core.db import Database
from tilsyn.core.models import Change, CustomerPeriod, GridElement, Plant
from tilsyn.demo_data import generate_plants

CLIENTS = 32
KILL_AFTER_ANSWERS = 300


def start_server(db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TILSYN_SECRET_KEY": SECRET, "TILSYN_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tilsyn", "--db", db_url, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, process)
    return process, base


def test_sigkill_mid_load_loses_nothing_answered(database: Database, database_url: str) -> None:
    tenant = make_tenant(database, "crash", "test")
    bodies = list(generate_plants(2000, customer_numbers=["15108695088", "988077917"], seed=11))
    answered: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    process, base = start_server(database_url)

    def client_run(index: int) -> None:
        with httpx.Client(base_url=base, headers=tenant.headers, timeout=30) as client:
            for body in bodies[index::CLIENTS]:
                if stop.is_set():
                    return
                try:
                    response = client.post("/api/import/test/plant", json=body)
                except httpx.TransportError:
                    return  # the server died with this request in flight
                if response.status_code == 200:
                    with lock:
                        answered[body["meteringPointId"]] = response.json()["data"]
                        if len(answered) >= KILL_AFTER_ANSWERS and process.poll() is None:
                            process.send_signal(signal.SIGKILL)

    threads = [threading.Thread(target=client_run, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    assert process.returncode == -signal.SIGKILL, "the server was killed mid-load"
    assert len(answered) >= KILL_AFTER_ANSWERS
    assert len(answered) < len(bodies), "the kill came before the load ended"

    restarted, base = start_server(database_url)
    try:
        with httpx.Client(base_url=base, headers=tenant.headers, timeout=30) as client:
            for mpid, data in answered.items():
                stored = client.get(f"/api/plant/test/getDataForImport/{mpid}")
                assert stored.status_code == 200
                assert stored.json() == data, "an answered upsert is stored exactly as answered"
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    with database.read() as session:
        if database.dialect == "sqlite":
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert session.execute(text("PRAGMA foreign_key_check")).all() == []
        plants = session.scalar(select(func.count()).select_from(Plant))
        assert plants is not None
        assert len(answered) <= plants <= len(answered) + CLIENTS
        # Nothing half-written: every stored plant has its creation in history, its
        # hierarchy complete, and its customer period.
        created = session.scalar(
            select(func.count(func.distinct(Change.entity_key))).where(
                Change.entity_type == "plant", Change.operation == "create"
            )
        )
        assert created == plants
        orphans = session.scalar(
            select(func.count())
            .select_from(GridElement)
            .where(GridElement.kind != "netStation", GridElement.parent_id.is_(None))
        )
        assert orphans == 0
        with_period = set(
            session.scalars(
                select(Plant.metering_point_id).join(
                    CustomerPeriod, CustomerPeriod.plant_id == Plant.id
                )
            )
        )
        stored = set(session.scalars(select(Plant.metering_point_id)))
    by_mpid = {body["meteringPointId"]: body for body in bodies}
    for mpid in stored:
        assert (mpid in with_period) == bool(by_mpid[mpid].get("customerId")), mpid
