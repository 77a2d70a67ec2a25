"""The yearly plan over many plants: how long a build takes, and one inspection-status read.

Fills a fresh, migrated database with raw executemany into the real schema (plants with
their documents, a first-import history entry each, some changes of use, inspections and
findings), then times, through the service functions in one process:
- ``build_plan`` for this year (every plant's due date, capacity, the items stored), wall
  clock and this process's CPU time (on a shared machine the CPU time says more);
- one ``inspection_status`` read.

    python bench/plan.py                        # SQLite, 1,000,000 plants
    python bench/plan.py --plants 100000 --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common import backend, fresh_database
from sqlalchemy import insert, update

from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.core.models import Change, Finding, Inspection, Instance, Plant
from tilsyn.inspections.service import inspection_status
from tilsyn.instances.service import create_instance
from tilsyn.plans.service import build_plan
from tilsyn.rules.service import seed_default_rules

BATCH = 20_000
CODES = [("35", "98.200"), ("35", "98.200"), ("35", "68.209"), ("36", "98.200"), ("1", "01.110")]
CODES += [("23", "55.102"), ("29a", "42.220"), ("15", "47.110")]


def mpid(n: int) -> str:
    return f"7070575{n:011d}"


def _plant(instance_id: int, n: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    code, naering = rng.choice(CODES)
    status = "Spenningsatt" if rng.random() < 0.95 else "Inaktivt"
    connected = date(1950, 1, 1) + timedelta(days=rng.randint(0, 76 * 365))
    explicit = rng.randint(5, 30) if rng.random() < 0.1 else None
    document = {
        "consumptionCode": code,
        "industrialClassification": naering,
        "status": status,
        "connectedDate": connected.isoformat(),
        "address": {"addressText": f"Testveien {n % 500}", "postalCode": f"{n % 9000 + 1000}"},
        "auditSpecificInfo": {
            "plantType": None,
            "inspectionArea": rng.choice([None, 63, 64]) if explicit else None,
            "riskCategoryGroup": None,
            "inspectionRate": explicit,
        },
    }
    return {
        "id": n + 1,
        "instance_id": instance_id,
        "metering_point_id": mpid(n),
        "data": document,
        "consumption_code": code,
        "industrial_classification": naering,
        "status": status,
        "connected_date": connected,
        "created_at": now,
        "updated_at": now,
    }


def fill(db: Database, instance_id: int, plants: int, seed: int = 7) -> None:
    """Plants, their first-import history, 2 % changes of use, an inspection for 40 % and a
    nonconformity for a tenth of those, in batches of raw executemany."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    today = today_in_oslo()
    inspection_id = finding_id = seq = 0
    for first in range(0, plants, BATCH):
        rows = [_plant(instance_id, n, rng, now) for n in range(first, min(plants, first + BATCH))]
        changes: list[dict[str, Any]] = []
        inspections: list[dict[str, Any]] = []
        findings: list[dict[str, Any]] = []
        for row in rows:
            base = {"instance_id": instance_id, "at": now, "entity_type": "plant"}
            changes.append(
                base | {"entity_key": row["metering_point_id"], "operation": "create", "diff": {}}
            )
            if rng.random() < 0.02:
                diff = {"consumptionCode": [row["consumption_code"], "36"]}
                changes.append(
                    base
                    | {"entity_key": row["metering_point_id"], "operation": "update", "diff": diff}
                )
            if rng.random() < 0.4:
                inspection_id += 1
                day = today - timedelta(days=rng.randint(1, 30 * 365))
                inspections.append(
                    {
                        "id": inspection_id,
                        "instance_id": instance_id,
                        "plant_id": row["id"],
                        "date": day,
                        "kind": rng.choice(["periodic", "periodic", "new_installation"]),
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if rng.random() < 0.1:
                    finding_id += 1
                    findings.append(
                        {
                            "id": finding_id,
                            "instance_id": instance_id,
                            "inspection_id": inspection_id,
                            "plant_id": row["id"],
                            "position": 0,
                            "description": "Avvik",
                            "severity": "nonconformity",
                            "deadline": day + timedelta(days=60),
                            "status": rng.choice(["open", "closed", "ordered"]),
                            "status_date": day,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
        for change in changes:  # numbered per instance, as core/changelog.py numbers them
            seq += 1
            change["seq"] = seq
        with db.write() as session:
            connection = session.connection()
            connection.execute(insert(Plant), rows)
            connection.execute(insert(Change), changes)
            if inspections:
                connection.execute(insert(Inspection), inspections)
            if findings:
                connection.execute(insert(Finding), findings)
    with db.write() as session:
        session.execute(
            update(Instance).where(Instance.id == instance_id).values(last_change_seq=seq)
        )


def run(url: str, plants: int) -> dict[str, Any]:
    with fresh_database(url, "plan.db") as database_url:
        db = Database(database_url)
        upgrade_database(db.engine)
        with db.write() as session:
            instance_id = create_instance(session, name="bench", environment="test").id
            seed_default_rules(session, instance_id)
        started = time.perf_counter()
        fill(db, instance_id, plants)
        filled = time.perf_counter() - started
        if backend(database_url) == "postgresql":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        actor = Actor(instance_id=instance_id)
        year = today_in_oslo().year
        started, cpu = time.perf_counter(), time.process_time()
        with db.write() as session:
            plan = build_plan(session, actor, year, capacity={"63": 1000}, limit=1)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        started = time.perf_counter()
        with db.read() as session:
            inspection_status(session, instance_id, mpid(plants // 2), today=today_in_oslo())
        status_ms = (time.perf_counter() - started) * 1000
        db.dispose()
    items = sum(area.planned + area.deferred for area in plan.summary)
    return {
        "database": "sqlite" if url == "sqlite" else backend(url),
        "plants": plants,
        "fill s": round(filled, 1),
        "plan s": round(seconds, 2),
        "plants/s": round(plants / seconds),
        "plan cpu s": round(cpu, 2),
        "plan items": items,
        "status ms": round(status_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plants", type=int, default=1_000_000)
    parser.add_argument("--db", action="append", help="sqlite or a PostgreSQL URL (repeatable)")
    args = parser.parse_args()
    rows = [run(url, args.plants) for url in args.db or ["sqlite"]]
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))


if __name__ == "__main__":
    main()
