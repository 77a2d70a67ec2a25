"""Migration 0008 fills the search index from the rows already stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS, POSTGRES_URL
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.migrate import DATA_KEYS, alembic_config, upgrade_database
from tilsyn.core.models import Customer, CustomerPeriod, GridElement, Plant
from tilsyn.core.personal import DataKeys
from tilsyn.instances.service import create_instance
from tilsyn.search.service import PlantSearch, search_plants

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url = make_url(POSTGRES_URL)
    name = f"tilsyn_old_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrading_indexes_what_is_stored(empty_url: str) -> None:
    database = Database(empty_url)
    config = alembic_config()
    config.attributes[DATA_KEYS] = DataKeys.from_env()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
    with database.write() as session:
        instance_id = create_instance(session, name="old", environment="test").id
    stamp = {"instance_id": instance_id, "created_at": NOW, "updated_at": NOW}
    with database.engine.begin() as connection:
        [point_id] = connection.execute(
            insert(GridElement).returning(GridElement.id),
            [stamp | {"kind": "connectionPoint", "name": "Kabelskap Nordlys"}],
        ).scalars()
        connection.execute(
            insert(Customer),
            [stamp | {"number": "pn1:old", "data": {"FirstName": "Åse", "LastName": "Bø"}}],
        )
        [plant_id] = connection.execute(
            insert(Plant).returning(Plant.id),
            [
                stamp
                | {
                    "metering_point_id": "707057500000000018",
                    "data": {"address": {"addressText": "Fjøsvegen 2", "postalCode": "6800"}},
                    "consumption_code": "35",
                    "industrial_classification": "00.000",
                    "connection_point_id": point_id,
                }
            ],
        ).scalars()
        connection.execute(
            insert(CustomerPeriod),
            [
                {
                    "instance_id": instance_id,
                    "plant_id": plant_id,
                    "valid_from": date(2020, 1, 1),
                    "customer_number": "pn1:old",
                }
            ],
        )
    upgrade_database(database.engine)
    with database.read() as session:
        for q in ("fjosvegen 2", "ase bo", "nordlys", "70705750000", "6800"):
            items, _ = search_plants(session, instance_id, PlantSearch(q=q), today=today_in_oslo())
            assert [item.meteringPointId for item in items] == ["707057500000000018"], q
        items, _ = search_plants(
            session, instance_id, PlantSearch(postal_code="6800"), today=today_in_oslo()
        )
        assert len(items) == 1
    database.dispose()
