"""Customer numbers at rest (core/personal.py): never in clear text in the database, sealed
with AES-GCM under the configured data key, found through a keyed hash, rotatable."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.conftest import BACKENDS, POSTGRES_URL, SECRET, Tenant, make_tenant
from tests.seed_api import (
    customer_get_url,
    fetch_customer,
    fetch_plant,
    make_fnr,
    make_mpid,
    minimal_plant,
    ok,
    plant_get_url,
    seed_customer,
    upsert_customer,
    upsert_plant,
)
from tilsyn.app import create_app
from tilsyn.cli import app as cli_app
from tilsyn.contract.customers.merge import customer_document
from tilsyn.contract.customers.schemas import CustomerIn
from tilsyn.contract.diffs import diff_documents
from tilsyn.contract.plants.merge import plant_document
from tilsyn.contract.plants.schemas import PlantIn
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.migrate import DATA_KEYS, alembic_config, upgrade_database
from tilsyn.core.models import Base, PersonalNumber
from tilsyn.core.personal import (
    Codec,
    DataKeyError,
    DataKeys,
    count_stale,
    parse_data_key,
    stored_key,
)
from tilsyn.instances import service as instances

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()
PERSON = make_fnr("170379")
OTHER_PERSON = make_fnr("020288")
COMPANY = "910000008"
PLANT = make_mpid(4711)


def keys(current: str, *previous: str) -> DataKeys:
    return DataKeys(parse_data_key(current), tuple(parse_data_key(p) for p in previous))


# --- The primitives ----------------------------------------------------------------------


@given(
    number=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64),
    instance_id=st.integers(min_value=1, max_value=2**31),
)
def test_seal_and_open_round_trip(number: str, instance_id: int) -> None:
    codec = Codec(keys(KEY_A), b"L" * 32)
    key = codec.lookup(number)
    token = codec.seal(instance_id, key, number)
    assert token.startswith("v1.")
    assert codec.open(instance_id, key, token) == number
    assert codec.seal(instance_id, key, number) != token, "a fresh nonce every time"


def test_an_altered_sealed_value_does_not_open() -> None:
    codec = Codec(keys(KEY_A), b"L" * 32)
    key = codec.lookup(PERSON)
    token = codec.seal(1, key, PERSON)
    prefix, body = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        altered = prefix + "." + base64.urlsafe_b64encode(bytes(flipped)).decode().rstrip("=")
        with pytest.raises(DataKeyError):
            codec.open(1, key, altered)
    # Bound to its row: it does not open as another number's or another instance's.
    with pytest.raises(DataKeyError):
        codec.open(2, key, token)
    with pytest.raises(DataKeyError):
        codec.open(1, codec.lookup(OTHER_PERSON), token)
    with pytest.raises(DataKeyError):
        codec.open(1, key, "v1.garbage")


def test_a_wrong_data_key_does_not_open() -> None:
    token = Codec(keys(KEY_A), b"L" * 32).seal(1, "k", PERSON)
    with pytest.raises(DataKeyError, match="TILSYN_DATA_KEY_PREVIOUS"):
        Codec(keys(KEY_B), b"L" * 32).open(1, "k", token)
    assert Codec(keys(KEY_B, KEY_A), b"L" * 32).open(1, "k", token) == PERSON


def test_lookup_is_deterministic_and_keyed() -> None:
    one, same, other = (
        Codec(keys(KEY_A), b"L" * 32),
        Codec(keys(KEY_B), b"L" * 32),
        Codec(keys(KEY_A), b"M" * 32),
    )
    assert one.lookup(PERSON) == same.lookup(PERSON), "the data key does not change it"
    assert one.lookup(PERSON) != other.lookup(PERSON)
    assert one.lookup(PERSON) != one.lookup(OTHER_PERSON)
    assert one.lookup(PERSON).startswith("pn1:")
    assert len(one.lookup(PERSON)) == 47


@pytest.mark.parametrize("value", ["", "short", base64.b64encode(b"x" * 31).decode(), "%%%%"])
def test_a_malformed_data_key_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="32 random bytes"):
        parse_data_key(value)


def test_settings_read_the_data_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().uses_default_data_key
    monkeypatch.setenv("TILSYN_DATA_KEY", KEY_B)
    monkeypatch.setenv("TILSYN_DATA_KEY_PREVIOUS", f"{KEY_A}, ")
    settings = Settings.from_env()
    assert not settings.uses_default_data_key
    assert DataKeys.from_settings(settings) == keys(KEY_B, KEY_A)


# --- Nothing in clear text ---------------------------------------------------------------


def database_text(database: Database) -> str:
    """Every row of every table as text; on SQLite also the raw bytes of its files."""
    parts: list[str] = []
    with database.write() as session:
        for table in Base.metadata.sorted_tables:
            if database.dialect == "postgresql":
                query = text(f'SELECT t::text FROM "{table.name}" t')
                parts.extend(str(row) for row in session.scalars(query))
            else:
                for row in session.execute(select(table)):
                    parts.append(json.dumps(list(row), default=str, ensure_ascii=False))
    if database.dialect == "sqlite":
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(str(make_url(database.url).database))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                parts.append(file.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_numbers_are_never_stored_in_clear_text(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    upsert_customer(client, tenant, seed_customer(Number=PERSON))
    upsert_customer(client, tenant, seed_customer(Number=PERSON, FirstName="Kari"))
    upsert_customer(client, tenant, seed_customer(Number=COMPANY, LastName="Nett AS"))
    upsert_plant(
        client, tenant, minimal_plant(PLANT, customerId=PERSON, customerChangeFrom="2020-01-01")
    )
    # A customer that does not exist yet, then the owner changes back.
    upsert_plant(
        client,
        tenant,
        minimal_plant(PLANT, customerId=OTHER_PERSON, customerChangeFrom="2022-01-01"),
    )
    upsert_plant(
        client, tenant, minimal_plant(PLANT, customerId=PERSON, customerChangeFrom="2024-01-01")
    )

    stored = database_text(database)
    for number in (PERSON, OTHER_PERSON, COMPANY):
        assert number not in stored
    with database.read() as session:
        assert stored_key(session, tenant.instance_id, PERSON) in stored

    # Every read still shows the numbers, as before.
    assert fetch_customer(client, tenant, PERSON)["Number"] == PERSON
    assert fetch_customer(client, tenant, PERSON)["FirstName"] == "Kari"
    plant = fetch_plant(client, tenant, PLANT)
    assert (plant["customerId"], plant["customerChangeFrom"]) == (PERSON, "2024-01-01")
    today = str(today_in_oslo())
    as_of = ok(client.get(plant_get_url(PLANT), params={"asOf": today}, headers=tenant.headers))
    assert as_of == plant
    customer_as_of = ok(
        client.get(customer_get_url(PERSON), params={"asOf": "2999-01-01"}, headers=tenant.headers)
    )
    assert customer_as_of["Number"] == PERSON
    history = ok(client.get(f"{customer_get_url(PERSON)}/history", headers=tenant.headers))
    assert {change["entityKey"] for change in history["changes"]} == {PERSON}
    assert any(
        field == {"field": "Number", "before": None, "after": PERSON}
        for change in history["changes"]
        for field in change["fields"]
    )
    plant_history = ok(client.get(f"/api/plant/test/{PLANT}/history", headers=tenant.headers))
    assert [p["customerId"] for p in plant_history["customerPeriods"]] == [
        PERSON,
        OTHER_PERSON,
        PERSON,
    ]
    feed = json.dumps(ok(client.get("/api/changes/test", headers=tenant.headers)))
    assert PERSON in feed
    assert OTHER_PERSON in feed
    for prefix in ("pn1:", "pn2:"):
        assert prefix not in feed + json.dumps(plant_history) + json.dumps(history)
    listing = ok(client.get("/api/customer/environment/test/numbers", headers=tenant.headers))
    assert sorted(item["Number"] for item in listing["items"]) == sorted([PERSON, COMPANY])


def test_the_numbers_listing_pages_with_opaque_cursors(
    client: TestClient, database: Database, tenant: Tenant
) -> None:
    numbers = [make_fnr(f"0101{year:02d}") for year in range(50, 62)]
    for number in numbers:
        upsert_customer(client, tenant, seed_customer(Number=number))
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"after": after} if after else {})}
        page = ok(
            client.get(
                "/api/customer/environment/test/numbers", params=params, headers=tenant.headers
            )
        )
        seen += [item["Number"] for item in page["items"]]
        after = page["next"]
        if after is None:
            break
        assert not any(number in after for number in numbers)
    assert sorted(seen) == sorted(numbers)
    assert len(seen) == len(numbers)


# --- Rotation ------------------------------------------------------------------------------


def load(database_url: str, data_keys: DataKeys) -> tuple[Database, TestClient]:
    database = Database(database_url, data_keys=data_keys)
    settings = Settings(database_url=database_url, secret_key=SECRET)
    return database, TestClient(create_app(settings, database))


def test_rotating_the_data_key(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps of docs/operations.md "Rotating the data key"."""
    old = keys(KEY_A)
    database, client = load(database_url, old)
    with database.engine.begin() as conn:  # a database that has only known key A so far
        conn.execute(text("DELETE FROM data_keys"))
    upgrade_database(database.engine, data_keys=old)
    tenant = make_tenant(database, "nett-test")
    with client:
        upsert_customer(client, tenant, seed_customer(Number=PERSON))
        upsert_plant(client, tenant, minimal_plant(PLANT, customerId=OTHER_PERSON))
    database.dispose()

    # 1. Only the new key: the data does not open, and nothing starts on it.
    monkeypatch.setenv("TILSYN_SECRET_KEY", SECRET)
    monkeypatch.setenv("TILSYN_DATA_KEY", KEY_B)
    monkeypatch.delenv("TILSYN_DATA_KEY_PREVIOUS", raising=False)
    result = CliRunner().invoke(cli_app, ["--db", database_url, "db", "upgrade"])
    assert result.exit_code == 2
    assert "TILSYN_DATA_KEY_PREVIOUS" in result.stderr

    # 2. New key with the old one as previous: everything reads.
    both = keys(KEY_B, KEY_A)
    database, client = load(database_url, both)
    with client:
        assert fetch_customer(client, tenant, PERSON)["Number"] == PERSON
        assert fetch_plant(client, tenant, PLANT)["customerId"] == OTHER_PERSON
    with database.read() as session:
        assert count_stale(session, both) == 2
    database.dispose()

    # 3. Re-seal (twice: safe to re-run).
    monkeypatch.setenv("TILSYN_DATA_KEY_PREVIOUS", KEY_A)
    for _ in range(2):
        result = CliRunner().invoke(
            cli_app, ["--db", database_url, "db", "rotate-data-key", "--batch", "1"]
        )
        assert result.exit_code == 0, result.stderr
        assert f"data key {both.current_id}" in result.stderr

    # 4. The new key alone opens everything; the old one alone opens nothing.
    new = keys(KEY_B)
    database, client = load(database_url, new)
    with client:
        assert fetch_customer(client, tenant, PERSON)["Number"] == PERSON
        assert fetch_plant(client, tenant, PLANT)["customerId"] == OTHER_PERSON
        listing = ok(client.get("/api/customer/environment/test/numbers", headers=tenant.headers))
        assert [item["Number"] for item in listing["items"]] == [PERSON]
        upsert_customer(client, tenant, seed_customer(Number=OTHER_PERSON))
        assert fetch_customer(client, tenant, OTHER_PERSON)["Number"] == OTHER_PERSON
    with database.read() as session:
        assert count_stale(session, new) == 0
        sealed = list(session.scalars(select(PersonalNumber.sealed)))
    assert all(token.startswith(f"v1.{new.current_id}.") for token in sealed)
    stale = Database(database_url, data_keys=old)
    with pytest.raises(DataKeyError), stale.read() as session:
        stored_key(session, tenant.instance_id, PERSON)
    stale.dispose()
    with database.engine.begin() as conn:  # leave no key under KEY_B behind
        conn.execute(text("DELETE FROM data_keys"))
    database.dispose()


def test_serve_refuses_prod_data_under_the_development_data_key(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("TILSYN_SECRET_KEY", SECRET)
    monkeypatch.delenv("TILSYN_DATA_KEY", raising=False)
    engine = create_engine(database_url)
    with engine.begin() as conn:  # a database set up under the development key
        conn.execute(text("DELETE FROM data_keys"))
    engine.dispose()
    created = runner.invoke(
        cli_app, ["--db", database_url, "instance", "create", "n", "-e", "prod"]
    )
    assert created.exit_code == 0, created.stderr
    result = runner.invoke(cli_app, ["--db", database_url, "serve", "--port", "1"])
    assert result.exit_code == 2
    assert "TILSYN_DATA_KEY is not set and this database holds a prod" in " ".join(
        result.stderr.split()
    )
    engine = create_engine(database_url)
    with engine.begin() as conn:  # leave no key under the development one behind
        conn.execute(text("DELETE FROM data_keys"))
    engine.dispose()


# --- Migrating numbers stored in clear text ------------------------------------------------


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = make_url(POSTGRES_URL)
    name = f"tilsyn_pn_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str, revision: str, data_keys: DataKeys, *, down: bool = False) -> None:
    engine = create_engine(url)
    config = alembic_config()
    config.attributes[DATA_KEYS] = data_keys
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
    engine.dispose()


def insert_clear_text_rows(url: str) -> None:
    """What tilsyn 0003 stored: a customer, a plant it owns, their history."""
    now = datetime.now(UTC)
    customer = customer_document(CustomerIn.model_validate(seed_customer(Number=PERSON)))
    plant = plant_document(PlantIn.model_validate(minimal_plant(PLANT)), status=None, position=None)
    periods = [{"customerId": PERSON, "from": "2020-01-01"}]
    engine = create_engine(url)
    tables = Base.metadata.tables
    with engine.begin() as conn:
        conn.execute(
            tables["instances"].insert().values(
                id=1, name="nett-test", environment="test", strict_validation=False,
                rules_version=0, created_at=now,
            )
        )  # fmt: skip
        conn.execute(
            tables["customers"]
            .insert()
            .values(instance_id=1, number=PERSON, data=customer, created_at=now, updated_at=now)
        )
        conn.execute(
            tables["plants"].insert().values(
                id=1, instance_id=1, metering_point_id=PLANT, data=plant,
                consumption_code=plant["consumptionCode"],
                industrial_classification=plant["industrialClassification"],
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            tables["customer_periods"].insert().values(
                instance_id=1, plant_id=1, valid_from=datetime(2020, 1, 1).date(),
                customer_number=PERSON,
            )
        )  # fmt: skip
        changes = tables["changes"]
        for entity_type, key, operation, diff in (
            ("customer", PERSON, "create", diff_documents(None, customer)),
            ("plant", PLANT, "create", diff_documents(None, plant)),
            ("plant", PLANT, "customer", {"customerPeriods": [[], periods]}),
        ):
            conn.execute(
                changes.insert().values(
                    instance_id=1, at=now, entity_type=entity_type, entity_key=key,
                    operation=operation, diff=diff,
                )
            )  # fmt: skip
    engine.dispose()


def test_migration_seals_numbers_stored_in_clear_text(empty_url: str) -> None:
    data_keys = keys(KEY_A)
    migrate(empty_url, "0003", data_keys)
    insert_clear_text_rows(empty_url)

    database, client = load(empty_url, data_keys)
    upgrade_database(database.engine, data_keys=data_keys)
    assert PERSON not in database_text(database)
    with database.write() as session:
        created = instances.create_key(
            session, instances.get_instance(session, "nett-test"), secret_key=SECRET
        )
    headers = {"api-key": created.secret}
    with client:
        assert ok(client.get(customer_get_url(PERSON), headers=headers))["Number"] == PERSON
        assert ok(client.get(plant_get_url(PLANT), headers=headers))["customerId"] == PERSON
        history = ok(client.get(f"{customer_get_url(PERSON)}/history", headers=headers))
        assert history["changes"][0]["entityKey"] == PERSON
        feed = json.dumps(ok(client.get("/api/changes/test", headers=headers)))
        assert PERSON in feed
        assert "pn1:" not in feed
        assert "pn2:" not in feed
        as_of = ok(client.get(plant_get_url(PLANT), params={"asOf": "2999-01-01"}, headers=headers))
        assert as_of["customerId"] == PERSON
    database.dispose()

    # And back: downgrading opens the numbers again.
    migrate(empty_url, "0003", data_keys, down=True)
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT number FROM customers")) == PERSON
        assert conn.scalar(text("SELECT customer_number FROM customer_periods")) == PERSON
        keys_in_history = set(conn.scalars(text("SELECT entity_key FROM changes")))
    assert keys_in_history == {PERSON, PLANT}
    engine.dispose()


def test_migration_refuses_prod_numbers_under_the_development_key(empty_url: str) -> None:
    development = DataKeys.from_settings(Settings())
    migrate(empty_url, "0003", development)
    insert_clear_text_rows(empty_url)
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE instances SET environment = 'prod'"))
    with pytest.raises(RuntimeError, match="TILSYN_DATA_KEY"):
        upgrade_database(engine, data_keys=development)
    engine.dispose()


def test_migration_0006_rekeys_numbers_per_instance(empty_url: str) -> None:
    """Issue 14, finding 1: numbers stored under the one database-wide key (pn1:) are
    re-keyed under their instance's key, and still read back."""
    data_keys = keys(KEY_A)
    migrate(empty_url, "0003", data_keys)
    insert_clear_text_rows(empty_url)
    migrate(empty_url, "0005", data_keys)
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT number FROM customers")).startswith("pn1:")
    migrate(empty_url, "0006", data_keys)
    with engine.connect() as conn:
        stored = conn.scalar(text("SELECT number FROM customers"))
        period = conn.scalar(text("SELECT customer_number FROM customer_periods"))
        sealed = conn.scalar(text("SELECT lookup FROM personal_numbers"))
        numbered = list(conn.scalars(text("SELECT seq FROM changes ORDER BY id")))
        counter = conn.scalar(text("SELECT last_change_seq FROM instances"))
    engine.dispose()
    assert numbered == [1, 2, 3]
    assert counter == 3
    assert stored.startswith("pn2:")
    assert stored == period == sealed
    migrate(empty_url, "head", data_keys)  # the models below know the later migrations' columns
    database, client = load(empty_url, data_keys)
    with database.write() as session:
        created = instances.create_key(
            session, instances.get_instance(session, "nett-test"), secret_key=SECRET
        )
    with client:
        headers = {"api-key": created.secret}
        assert ok(client.get(customer_get_url(PERSON), headers=headers))["Number"] == PERSON
        assert ok(client.get(plant_get_url(PLANT), headers=headers))["customerId"] == PERSON
    database.dispose()
