"""The batched plant and customer writers against real concurrency and real database
failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from tests.conftest import database_url_for, make_tenant
from tests.seed_api import service_upsert_plant
from tilsyn.bulk.service import LoadStatistics, prepare_chunk, process_chunk, write_chunk
from tilsyn.contract.customers.parse import parse_valid_customer
from tilsyn.contract.items import RawItem
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor, entity_history
from tilsyn.core.db import Database
from tilsyn.core.models import Customer, CustomerPeriod, GridElement, Plant, SearchToken
from tilsyn.core.personal import stored_key
from tilsyn.core.upsert import COPY_FROM_ROWS
from tilsyn.customers.service import get_customer, upsert_customers
from tilsyn.demo_data import generate_customers, generate_plants
from tilsyn.plants.service import get_plant


def test_a_batch_that_meets_a_concurrent_insert_is_written_again(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL (SQLite has one writer at a time): another transaction commits one of the
    batch's new plants and elements between the batch's locking read and its insert. The batch
    is rolled back to its savepoint and written again, now updating that plant."""
    database = Database(database_url_for("postgresql", request, tmp_path))
    tenant = make_tenant(database, "race")
    actor = Actor(tenant.instance_id)
    today = today_in_oslo()
    items = list(generate_plants(20, customer_numbers=[], seed=3))
    rival = dict(items[7], description="sent by the other transaction")
    fired: list[str] = []

    def insert_rival_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if fired or not statement.startswith("INSERT INTO grid_elements"):
            return
        fired.append(statement)
        other = Database(database.url)
        try:
            with other.write() as session:
                service_upsert_plant(session, Actor(tenant.instance_id), rival, today=today)
        finally:
            other.dispose()

    event.listen(database.engine, "before_cursor_execute", insert_rival_first)
    try:
        results = process_chunk(
            database,
            actor,
            "plant",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today,
            synthetic_ok=True,
        )
    finally:
        event.remove(database.engine, "before_cursor_execute", insert_rival_first)
    assert fired, "the rival transaction ran"
    assert [r.result for r in results] == ["created"] * 7 + ["updated"] + ["created"] * 12
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Plant)) == 20
        stored = get_plant(session, tenant.instance_id, items[7]["meteringPointId"], today=today)
        assert stored.description == items[7]["description"]
        names = session.scalars(select(GridElement.name)).all()
        assert len(names) == len(set(names))
    database.dispose()


def test_a_database_failure_in_a_batch_fails_only_its_item(
    database: Database, database_url: str
) -> None:
    """A constraint the checks do not know of (added here, as a stand-in for any database-side
    failure) rejects one plant: the batch falls back to one savepoint per plant, and only that
    plant fails."""
    tenant = make_tenant(database, "checked")
    items = list(generate_plants(12, customer_numbers=[], seed=4))
    items[5]["description"] = "rejected by the database"
    with database.engine.begin() as conn:
        if database.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER reject_plant BEFORE INSERT ON plants "
                    "WHEN json_extract(NEW.data, '$.description') = 'rejected by the database' "
                    "BEGIN SELECT RAISE(ABORT, 'rejected'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "ALTER TABLE plants ADD CONSTRAINT reject_plant CHECK "
                    "(data->>'description' IS DISTINCT FROM 'rejected by the database')"
                )
            )
    try:
        results = process_chunk(
            database,
            Actor(tenant.instance_id),
            "plant",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today_in_oslo(),
            synthetic_ok=True,
        )
    finally:
        with database.engine.begin() as conn:
            if database.dialect == "sqlite":
                conn.execute(text("DROP TRIGGER reject_plant"))
            else:
                conn.execute(text("ALTER TABLE plants DROP CONSTRAINT reject_plant"))
    assert [r.result for r in results] == ["created"] * 5 + ["failed"] + ["created"] * 6
    assert results[5].errors[0]["code"] == "not_stored"
    with database.read() as session:
        stored = set(session.scalars(select(Plant.metering_point_id)))
    assert stored == {item["meteringPointId"] for item in items} - {items[5]["meteringPointId"]}


def test_a_customer_batch_that_meets_a_concurrent_insert_is_written_again(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL: another transaction creates one of the batch's new customers between the
    batch's locking read and its inserts (the sealed numbers first, then the customers); the
    batch is written again, updating that customer."""
    database = Database(database_url_for("postgresql", request, tmp_path))
    tenant = make_tenant(database, "race")
    today = today_in_oslo()
    items = list(generate_customers(20, seed=3))
    rival = dict(items[7], FirstName="Sent-By-The-Other-Transaction")
    with database.write() as session:  # the database's lookup key, made by its first writer
        stored_key(session, tenant.instance_id, "00000000000")
    fired: list[str] = []

    def insert_rival_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if fired or not statement.startswith("INSERT INTO personal_numbers"):
            return
        fired.append(statement)
        other = Database(database.url)
        try:
            with other.write() as session:
                change = parse_valid_customer(rival, today=today)
                upsert_customers(session, Actor(tenant.instance_id), [change])
        finally:
            other.dispose()

    event.listen(database.engine, "before_cursor_execute", insert_rival_first)
    try:
        results = process_chunk(
            database,
            Actor(tenant.instance_id),
            "customer",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today,
            synthetic_ok=True,
        )
    finally:
        event.remove(database.engine, "before_cursor_execute", insert_rival_first)
    assert fired, "the rival transaction ran"
    assert [r.result for r in results] == ["created"] * 7 + ["updated"] + ["created"] * 12
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 20
        stored = get_customer(session, tenant.instance_id, items[7]["Number"])
        assert stored.FirstName == items[7]["FirstName"]
    database.dispose()


def test_a_database_failure_in_a_customer_batch_fails_only_its_item(
    database: Database, database_url: str
) -> None:
    """A database-side rejection of one customer: only that customer fails."""
    tenant = make_tenant(database, "checked")
    items = list(generate_customers(12, seed=4))
    items[5]["FirstName"] = "Rejected-By-The-Database"
    with database.engine.begin() as conn:
        if database.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER reject_customer BEFORE INSERT ON customers "
                    "WHEN json_extract(NEW.data, '$.FirstName') = 'Rejected-By-The-Database' "
                    "BEGIN SELECT RAISE(ABORT, 'rejected'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "ALTER TABLE customers ADD CONSTRAINT reject_customer CHECK "
                    "(data->>'FirstName' IS DISTINCT FROM 'Rejected-By-The-Database')"
                )
            )
    try:
        results = process_chunk(
            database,
            Actor(tenant.instance_id),
            "customer",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today_in_oslo(),
            synthetic_ok=True,
        )
    finally:
        with database.engine.begin() as conn:
            if database.dialect == "sqlite":
                conn.execute(text("DROP TRIGGER reject_customer"))
            else:
                conn.execute(text("ALTER TABLE customers DROP CONSTRAINT reject_customer"))
    assert [r.result for r in results] == ["created"] * 5 + ["failed"] + ["created"] * 6
    assert results[5].errors[0]["code"] == "not_stored"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 11


def test_a_long_load_keeps_the_planner_statistics_in_step(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each time a load's written items double (from FIRST), PostgreSQL analyzes the tables
    the chunks look up by key lists, so that their plans follow the table's real size."""
    monkeypatch.setattr(LoadStatistics, "FIRST", 50)
    tenant = make_tenant(database, "loader")
    actor = Actor(tenant.instance_id)
    statistics = LoadStatistics(database)
    items = list(generate_plants(120, customer_numbers=["15108695088"], seed=9))
    today = today_in_oslo()
    for start in range(0, 120, 40):
        chunk = [RawItem(start + i, item, None) for i, item in enumerate(items[start : start + 40])]
        prepared = prepare_chunk("plant", chunk, today=today, strict=False, synthetic_ok=True)
        results = write_chunk(database, actor, prepared, today=today, statistics=statistics)
        assert {r.result for r in results} == {"created"}
        if start == 0:
            assert statistics.next_at == 50, "not analyzed before FIRST items"
    assert statistics.written == 120
    assert statistics.next_at == 200, "analyzed after 80 items (≥ 50) and after 120 (≥ 100)"
    if database.dialect == "postgresql":
        with database.engine.connect() as conn:
            analyzed = dict(
                conn.execute(
                    text(
                        "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                        "WHERE relname IN ('plants', 'grid_elements', 'customer_periods', "
                        "'customers', 'personal_numbers')"
                    )
                ).all()
            )
            assert analyzed == dict.fromkeys(
                ["plants", "grid_elements", "customer_periods", "customers", "personal_numbers"],
                True,
            )
            tuples = conn.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'plants'"))
            assert tuples == 120, "the statistics know the table's size after the last chunk"


# --- COPY (PostgreSQL) -----------------------------------------------------------------------

_COPIED = ("plants", "search_tokens", "changes", "customer_periods")


def _statements(database: Database) -> tuple[list[str], Any]:
    """The statements the engine sends (COPY goes to the driver and passes none of them)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    return seen, note


def _stored(database: Database, instance_id: int, mpids: list[str]) -> dict[str, Any]:
    """What a plant's reads show of it: its view, its history without ids and times, its words."""
    today = today_in_oslo()
    found: dict[str, Any] = {}
    with database.read() as session:
        for mpid in mpids:
            view = get_plant(session, instance_id, mpid, today=today).model_dump()
            history, _ = entity_history(session, instance_id, "plant", mpid, limit=10)
            for change in history:
                del change["id"], change["at"], change["requestId"]
            plant_id = session.scalar(
                select(Plant.id).where(
                    Plant.instance_id == instance_id, Plant.metering_point_id == mpid
                )
            )
            words = session.execute(
                select(SearchToken.kind, SearchToken.token).where(
                    SearchToken.instance_id == instance_id,
                    SearchToken.ref_id == plant_id,
                    SearchToken.kind.in_(["p", "z"]),
                )
            ).all()
            found[mpid] = (view, history, sorted(words))
    return found


def test_a_large_batch_copies_its_new_rows_on_postgresql(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL: a chunk of new plants goes by COPY (no INSERT of plants, history rows, words
    or periods reaches the engine), and stores what the same plants upserted one by one store
    (INSERT: a batch of one is below COPY's threshold)."""
    database = Database(database_url_for("postgresql", request, tmp_path))
    bulk, single = make_tenant(database, "bulk"), make_tenant(database, "single")
    today = today_in_oslo()
    numbers = [item["Number"] for item in generate_customers(5, seed=8)]
    items = list(generate_plants(COPY_FROM_ROWS + 10, customer_numbers=numbers, seed=8))
    for item in items:  # grid elements keep their INSERT: a few rows per chunk
        item.pop("connectionPoint", None)
    seen, note = _statements(database)
    try:
        results = process_chunk(
            database,
            Actor(bulk.instance_id),
            "plant",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today,
            synthetic_ok=True,
        )
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    assert [r.result for r in results] == ["created"] * len(items)
    inserts = [s for s in seen if s.startswith(tuple(f"INSERT INTO {t} " for t in _COPIED))]
    assert inserts == []
    assert any("nextval" in s for s in seen), "the new plants' ids came from the sequence"
    for item in items:
        with database.write() as session:
            service_upsert_plant(session, Actor(single.instance_id), item, today=today)
    mpids = [item["meteringPointId"] for item in items]
    with database.read() as session:
        periods = dict(
            session.execute(
                select(CustomerPeriod.instance_id, func.count()).group_by(
                    CustomerPeriod.instance_id
                )
            ).all()
        )
    assert periods[bulk.instance_id] == periods[single.instance_id] >= COPY_FROM_ROWS
    assert _stored(database, bulk.instance_id, mpids) == _stored(
        database, single.instance_id, mpids
    )
    database.dispose()


def test_a_copied_batch_that_meets_a_concurrent_insert_is_written_again(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL: another transaction commits one of the batch's new plants after the batch
    read it as absent and before its COPY. The COPY fails on the unique key; the batch is rolled
    back to its savepoint and written again, now updating that plant (as after INSERT … ON
    CONFLICT DO NOTHING)."""
    database = Database(database_url_for("postgresql", request, tmp_path))
    tenant = make_tenant(database, "race")
    today = today_in_oslo()
    items = list(generate_plants(COPY_FROM_ROWS + 10, customer_numbers=[], seed=5))
    for item in items:  # no new grid elements, which the rival would wait for
        item.pop("connectionPoint", None)
    rival = dict(items[7], description="sent by the other transaction")
    fired: list[str] = []

    def insert_rival_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if fired or "nextval" not in statement:
            return
        fired.append(statement)
        other = Database(database.url)
        try:
            with other.write() as session:
                service_upsert_plant(session, Actor(tenant.instance_id), rival, today=today)
        finally:
            other.dispose()

    event.listen(database.engine, "before_cursor_execute", insert_rival_first)
    try:
        results = process_chunk(
            database,
            Actor(tenant.instance_id),
            "plant",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today,
            synthetic_ok=True,
        )
    finally:
        event.remove(database.engine, "before_cursor_execute", insert_rival_first)
    assert fired, "the rival transaction ran"
    expected = ["created"] * 7 + ["updated"] + ["created"] * (len(items) - 8)
    assert [r.result for r in results] == expected
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Plant)) == len(items)
        mpid = items[7]["meteringPointId"]
        stored = get_plant(session, tenant.instance_id, mpid, today=today)
        assert stored.description == items[7]["description"]
        history, _ = entity_history(session, tenant.instance_id, "plant", mpid, limit=10)
        assert [change["operation"] for change in history] == ["update", "create"]
    database.dispose()


def test_a_database_failure_in_a_copied_batch_fails_only_its_item(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL: a constraint rejects one plant of a batch that goes by COPY; the COPY's error
    reaches the batch writer as an INSERT's would, and only that plant fails."""
    database = Database(database_url_for("postgresql", request, tmp_path))
    tenant = make_tenant(database, "checked")
    items = list(generate_plants(COPY_FROM_ROWS + 10, customer_numbers=[], seed=6))
    items[5]["description"] = "rejected by the database"
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "ALTER TABLE plants ADD CONSTRAINT reject_plant CHECK "
                "(data->>'description' IS DISTINCT FROM 'rejected by the database')"
            )
        )
    try:
        results = process_chunk(
            database,
            Actor(tenant.instance_id),
            "plant",
            [RawItem(index, item, None) for index, item in enumerate(items)],
            today=today_in_oslo(),
            synthetic_ok=True,
        )
    finally:
        with database.engine.begin() as conn:
            conn.execute(text("ALTER TABLE plants DROP CONSTRAINT reject_plant"))
    expected = ["created"] * 5 + ["failed"] + ["created"] * (len(items) - 6)
    assert [r.result for r in results] == expected
    with database.read() as session:
        stored = set(session.scalars(select(Plant.metering_point_id)))
    assert stored == {item["meteringPointId"] for item in items} - {items[5]["meteringPointId"]}
    database.dispose()
