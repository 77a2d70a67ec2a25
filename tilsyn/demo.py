"""Demo instances and sample data, loaded through the same services as the API."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from typing import Any

from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.orm import Session

from tilsyn.contract.customers.parse import parse_valid_customer
from tilsyn.contract.plants.parse import parse_valid_plant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.models import Instance
from tilsyn.customers.service import upsert_customers
from tilsyn.demo_data import DEMO_SERVER_PREFIX, generate_customers, generate_plants
from tilsyn.inspections.due import add_years
from tilsyn.inspections.parse import FindingMove, parse_valid_inspection
from tilsyn.inspections.service import iter_due, move_finding, record_inspection
from tilsyn.instances import service as instances
from tilsyn.plans.service import build_plan
from tilsyn.plants.service import upsert_plants
from tilsyn.rules.service import seed_default_rules
from tilsyn.users import service as users

DEMO_INSTANCES = (("demo-test", "test"), ("demo-prod", "prod"))
DEMO_KEY_LABEL = "tilsyn demo"
# Console users of demo-test, one per role; each run gives them new passwords.
DEMO_USERS = (
    ("admin@demo.tilsyn.no", "admin"),
    ("inspektor@demo.tilsyn.no", "inspector"),
    ("leser@demo.tilsyn.no", "viewer"),
)
CHUNK = 100


@dataclass
class DemoSummary:
    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    """E-mail → (role, password) of demo-test's console users."""
    customers: int = 0
    plants: int = 0
    sample_metering_point: str = ""
    revoked: int = 0
    inspections: int = 0
    findings: int = 0
    plan_items: int = 0

    @property
    def test_key(self) -> str:
        return self.keys["demo-test"]

    def lines(self) -> list[str]:
        lines = [f"  {name}: admin api-key {key}" for name, key in self.keys.items()]
        lines.append("  (admin keys: they import and read, and change settings such as the rules)")
        if self.revoked:
            lines.append(f"  the {self.revoked} keys of earlier demo runs are revoked")
        lines.append(f"  demo-test holds {self.customers} customers and {self.plants} plants")
        lines.append(
            f"  with {self.inspections} inspections, {self.findings} findings and a plan "
            f"for this year of {self.plan_items} plants"
        )
        if self.users:
            lines.append("  console users of demo-test (new passwords on every run):")
            lines += [
                f"    {role:<9} {email}  password {password}"
                for email, (role, password) in self.users.items()
            ]
        return lines


def _revoke_earlier_keys(session: Session, instance: Instance) -> int:
    """Each run prints new keys; the ones printed before stop working, so that a demo
    database never collects valid admin keys nobody keeps track of."""
    earlier = [
        key
        for key in instances.list_keys(session, instance)
        if key.label == DEMO_KEY_LABEL and key.revoked_at is None
    ]
    for key in earlier:
        instances.revoke_key(session, key.id)
    return len(earlier)


def _demo_users(session: Session, actor: Actor) -> dict[str, tuple[str, str]]:
    """One console user per role, so that the console can be tried at once; like the keys,
    the passwords printed by an earlier run stop working."""
    known = {user.email for user in users.list_users(session, actor.instance_id)}
    signed: dict[str, tuple[str, str]] = {}
    for email, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        if email in known:
            users.reset_password(session, actor, email, password=password)
        else:
            users.create_user(session, actor, email=email, role=role, password=password)
        signed[email] = (role, password)
    return signed


def load_demo(
    database: Database, *, secret_key: str, plants: int, progress: Progress | None = None
) -> DemoSummary:
    summary = DemoSummary()
    with database.write() as session:
        for name, environment in DEMO_INSTANCES:
            instance = session.scalar(select(Instance).where(Instance.name == name))
            if instance is None:
                instance = instances.create_instance(session, name=name, environment=environment)
                seed_default_rules(session, instance.id)
            summary.revoked += _revoke_earlier_keys(session, instance)
            created = instances.create_key(
                session, instance, secret_key=secret_key, scope="admin", label=DEMO_KEY_LABEL
            )
            summary.keys[name] = created.secret
        test_instance = instances.get_instance(session, "demo-test")
        actor = Actor(instance_id=test_instance.id, request_id="demo")
        summary.users = _demo_users(session, actor)
    today = today_in_oslo()
    customer_count = max(1, plants * 9 // 10)
    # Synthetic (Tenor) numbers: a demo must not hold numbers that may be real people's.
    customers = list(generate_customers(customer_count, seed=1, synthetic_ids=True))
    numbers = [c["Number"] for c in customers]
    task = (
        progress.add_task("loading demo data", total=customer_count + plants) if progress else None
    )
    for start in range(0, len(customers), CHUNK):
        with database.write() as session:
            for customer in customers[start : start + CHUNK]:
                upsert_customers(
                    session, actor, [parse_valid_customer(customer, today=today, synthetic_ok=True)]
                )
                summary.customers += 1
        if progress is not None and task is not None:
            progress.advance(task, min(CHUNK, len(customers) - start))
    plant_iter = generate_plants(
        plants, customer_numbers=numbers, seed=1, id_prefix=DEMO_SERVER_PREFIX
    )
    mpids: list[str] = []
    while batch := list(islice(plant_iter, CHUNK)):
        mpids += [str(plant["meteringPointId"]) for plant in batch]
        with database.write() as session:
            for plant in batch:
                upsert_plants(
                    session,
                    actor,
                    [parse_valid_plant(plant, today=today, synthetic_ok=True)],
                    today=today,
                )
                summary.plants += 1
                summary.sample_metering_point = summary.sample_metering_point or str(
                    plant["meteringPointId"]
                )
        if progress is not None and task is not None:
            progress.advance(task, len(batch))
    _load_inspections(database, actor, mpids, today=today, summary=summary)
    return summary


def _demo_inspection(
    rng: random.Random, mpid: str, number: int, day: date, *, findings_too: bool
) -> dict[str, Any]:
    """A past periodic inspection, perhaps with a nonconformity (whose default deadline may
    have passed) and a remark."""
    findings: list[dict[str, Any]] = []
    if findings_too and rng.random() < 0.35:
        findings.append(
            {
                "description": rng.choice(FAULTS),
                "severity": "nonconformity",
                "regulation": "FEL § 10",
            }
        )
    if findings_too and rng.random() < 0.3:
        findings.append({"description": "Kursfortegnelse mangler", "severity": "remark"})
    return {
        "externalId": f"DEMO-{number:05d}",
        "meteringPointId": mpid,
        "date": day.isoformat(),
        "kind": "periodic",
        "inspector": rng.choice(["Kari Nordmann", "Ola Hansen", "Ingrid Berg"]),
        "findings": findings,
    }


def _inspection_day(rng: random.Random, interval: int, today: date) -> date:
    """Half come due later this year (the plan's coming work), half were inspected lately."""
    if rng.random() < 0.5:
        days_left = (date(today.year, 12, 31) - today).days
        return add_years(today + timedelta(days=rng.randint(1, max(1, days_left))), -interval)
    return today - timedelta(days=rng.randint(20, 3 * 365))


FAULTS = (
    "Manglende jordfeilvern på kurs",
    "Skadet kabel i tavle",
    "Overbelastet kurs",
    "Manglende berøringsvern",
)


def _load_inspections(
    database: Database, actor: Actor, mpids: list[str], *, today: date, summary: DemoSummary
) -> None:
    """Inspections for about half the plants, some findings moved along their case, and this
    year's plan: the console shows due, overdue and planned plants at once."""
    rng = random.Random(16)  # noqa: S311 -- sample data, not secrets
    with database.write() as session:
        due = {
            item.metering_point_id: item
            for item in iter_due(session, actor.instance_id, today=today)
        }
        for number, mpid in enumerate(mpids):
            interval = due[mpid].interval
            if rng.random() >= 0.5 or not interval or not due[mpid].facts.in_service:
                continue
            day = min(today, _inspection_day(rng, interval, today))
            # Only recent visits have open findings: an old overdue one would make the plants
            # meant to come due later this year overdue.
            recent = (today - day).days <= 3 * 365
            body = _demo_inspection(rng, mpid, number, day, findings_too=recent)
            change = parse_valid_inspection(body, today=today)
            outcome = record_inspection(session, actor.instance_id, change, actor=actor)
            summary.inspections += 1
            for finding in outcome.data.findings:
                summary.findings += 1
                if finding.severity == "nonconformity" and rng.random() < 0.4:
                    step = FindingMove("notified", today, None, "Forhåndsvarsel sendt")
                    move_finding(
                        session, actor.instance_id, finding.id, step, actor=actor, today=today
                    )
        plan = build_plan(session, actor, today.year, capacity={}, today=today, limit=1)
    summary.plan_items = sum(area.planned + area.deferred for area in plan.summary)
