"""Demo instances and sample data, loaded through the same services as the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.orm import Session

from tilsyn.core.db import Database
from tilsyn.core.models import Instance
from tilsyn.core.time import today_in_oslo
from tilsyn.customers.service import upsert_customer
from tilsyn.demo_data import DEMO_SERVER_PREFIX, generate_customers, generate_plants
from tilsyn.history.service import Actor
from tilsyn.instances import service as instances
from tilsyn.plants.service import upsert_plant

DEMO_INSTANCES = (("demo-test", "test"), ("demo-prod", "prod"))
DEMO_KEY_LABEL = "tilsyn demo"
CHUNK = 100


@dataclass
class DemoSummary:
    keys: dict[str, str] = field(default_factory=dict)
    customers: int = 0
    plants: int = 0
    sample_metering_point: str = ""
    revoked: int = 0

    @property
    def test_key(self) -> str:
        return self.keys["demo-test"]

    def lines(self) -> list[str]:
        lines = [f"  {name}: admin api-key {key}" for name, key in self.keys.items()]
        lines.append("  (admin keys: they import and read, and change settings such as the rules)")
        if self.revoked:
            lines.append(f"  the {self.revoked} keys of earlier demo runs are revoked")
        lines.append(f"  demo-test holds {self.customers} customers and {self.plants} plants")
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


def load_demo(
    database: Database, *, secret_key: str, plants: int, progress: Progress | None = None
) -> DemoSummary:
    summary = DemoSummary()
    with database.write() as session:
        for name, environment in DEMO_INSTANCES:
            instance = session.scalar(select(Instance).where(Instance.name == name))
            if instance is None:
                instance = instances.create_instance(session, name=name, environment=environment)
            summary.revoked += _revoke_earlier_keys(session, instance)
            created = instances.create_key(
                session, instance, secret_key=secret_key, scope="admin", label=DEMO_KEY_LABEL
            )
            summary.keys[name] = created.secret
        test_instance = instances.get_instance(session, "demo-test")
        actor = Actor(instance_id=test_instance.id, request_id="demo")
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
                upsert_customer(session, actor, customer, today=today, synthetic_ok=True)
                summary.customers += 1
        if progress is not None and task is not None:
            progress.advance(task, min(CHUNK, len(customers) - start))
    plant_iter = generate_plants(
        plants, customer_numbers=numbers, seed=1, id_prefix=DEMO_SERVER_PREFIX
    )
    while batch := list(islice(plant_iter, CHUNK)):
        with database.write() as session:
            for plant in batch:
                upsert_plant(session, actor, plant, today=today, synthetic_ok=True)
                summary.plants += 1
                summary.sample_metering_point = summary.sample_metering_point or str(
                    plant["meteringPointId"]
                )
        if progress is not None and task is not None:
            progress.advance(task, len(batch))
    return summary
