"""Search is served by indexes, not a scan: the query plans of both databases say so.

A register of 10,000 plants is filled straight into the schema (tilsyn/search/synthetic.py),
PostgreSQL's statistics refreshed, and each kind of search run with every statement it sends
recorded and explained (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL): no
plan may read the plants or the search index whole. A search of common words only walks the
plants in page order, a bounded number of them (``service.WALK``): its statements carry
that bound as a LIMIT, which the test checks rather than calling them a scan.

SQLite plans without statistics, so its plan here is the plan at any size. PostgreSQL
weighs sizes, and at 10,000 plants reading the table whole is honestly cheaper than a few
hundred index look-ups (a hash join over the whole table), so there the test turns
sequential scans and hash and merge joins off: the plan then shows whether an index *can*
serve every step (where none can, a scan stays: the test checks that too).
bench/search.py prints PostgreSQL's own choice at 1,000,000 plants.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select, text

from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.models import Plant
from tilsyn.instances.service import create_instance
from tilsyn.search import service, synthetic

PLANTS = 10_000
COMMON: list[dict[str, Any]] = [
    {"q": "ks"},  # every connection point: the plants walked in page order
    {"q": "ns t"},  # every net station and every transformer
    {"q": f"{synthetic.FIRST_NAMES[1]} {synthetic.LAST_NAMES[2]}"},
]
SEARCHES: list[dict[str, Any]] = [
    {"q": synthetic.street_address(4321)},
    {"q": f"{synthetic.FIRST_NAMES[3]} {synthetic.LAST_NAMES[5]}"},
    {"q": synthetic.metering_point_id(1234)[:16]},
    {"q": synthetic.net_station_name(3)},
    {"q": "KS 345"},
    {"q": synthetic.STREETS[17], "status": "Inaktivt"},
    {"postal_code": synthetic.postal_code(77)},
    {"transformer": "T 42"},
    {"customer": "12345678901"},
]


def explain(database: Database, query: Any) -> list[Any]:
    """SQLite's plan lines, or PostgreSQL's plan nodes (with scans and hash joins off)."""
    with database.read() as session:
        sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        if database.dialect == "sqlite":
            return [str(row[-1]) for row in session.execute(text("EXPLAIN QUERY PLAN " + sql))]
        for method in ("seqscan", "hashjoin", "mergejoin"):
            session.execute(text(f"SET LOCAL enable_{method} = off"))
        [document] = session.execute(text("EXPLAIN (FORMAT JSON) " + sql)).scalar_one()
        return list(_nodes(document["Plan"]))


def _nodes(node: dict[str, Any]) -> Any:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def plan(database: Database, instance_id: int, search: dict[str, Any]) -> list[Any]:
    """The plan lines of every statement a search's page reads its keys with."""
    return [line for _, lines in plans(database, instance_id, search) for line in lines]


def plans(database: Database, instance_id: int, search: dict[str, Any]) -> list[Any]:
    """``(sql, plan lines)`` of each statement :func:`service.page_keys` runs for this search."""
    sent: list[Any] = []

    def record(conn: Any, statement: Any, *_: Any) -> None:
        sent.append(statement)

    with database.read() as session:
        where = service.search_where(
            session, instance_id, service.PlantSearch(**search), today=today_in_oslo()
        )
        event.listen(database.engine, "before_execute", record)
        try:
            service.page_keys(session, instance_id, where, limit=51, after=None)
        finally:
            event.remove(database.engine, "before_execute", record)
    assert sent, search
    return [(str(statement), explain(database, statement)) for statement in sent]


def scans(database: Database, lines: list[Any]) -> list[Any]:
    """What reads the plants or the search index whole: SQLite's ``SCAN`` (a table or a
    whole index) or a plants look-up by instance alone; PostgreSQL's scan of either table
    with no index condition."""
    if database.dialect == "sqlite":
        return [
            line
            for line in lines
            if line.startswith(("SCAN plants", "SCAN search_tokens"))
            or ("plants USING" in line and "(instance_id=?)" in line)
        ]
    return [
        node
        for node in lines
        if node.get("Relation Name") in {"plants", "search_tokens"}
        and not ({"Index Cond", "Recheck Cond"} & set(node))
    ]


def uses(database: Database, lines: list[Any], name: str) -> bool:
    return any(name in str(line) for line in lines)


@pytest.fixture
def register(database: Database) -> int:
    with database.write() as session:
        instance_id = create_instance(session, name="plan", environment="test").id
    with database.engine.begin() as connection:
        synthetic.fill(connection, instance_id, PLANTS)
    database.analyze(["plants", "customers", "customer_periods", "grid_elements", "search_tokens"])
    return instance_id


def test_searches_read_indexes_not_tables(database: Database, register: int) -> None:
    for search in SEARCHES:
        lines = plan(database, register, search)
        assert not scans(database, lines), f"{search}: a scan in {lines}"
        # What drives it: the index's words, the connection points, or the customer periods.
        drivers = ("search_tokens", "connection_point_id", "customer_periods")
        assert any(uses(database, lines, name) for name in drivers), lines
    # The check would notice a scan: a filter on a field no index serves is one.
    unserved = select(Plant.id).where(Plant.data["description"].as_string() == "x")
    assert scans(database, explain(database, unserved))


def test_common_words_walk_a_bounded_number_of_plants(
    database: Database, register: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words that find many plants are tested on the plants in page order: that reads the
    plants by the instance's ``(instance_id, metering_point_id)`` index, never more than
    ``service.WALK`` of them (the LIMIT of the statement that finds where the walk ends and
    the bound on the walk itself); what follows a walk that did not fill the page, and
    everything else, is index look-ups. The thresholds are lowered to what 10,000 plants
    make common (at a million plants they are crossed by the same kinds of words)."""
    monkeypatch.setattr(service, "DRIVE_MAX", 50)
    monkeypatch.setattr(service, "WALK", 100)
    walked = 0
    for search in COMMON:
        for sql, lines in plans(database, register, search):
            if not scans(database, lines):
                continue
            walked += 1
            assert "LIMIT" in sql, f"{search}: an unbounded scan: {sql} {lines}"
            assert "ORDER BY plants.metering_point_id" in sql, sql
            assert "search_tokens" not in sql or "metering_point_id <=" in sql, sql
    assert walked or database.dialect == "postgresql"  # SQLite's plan names the walk


def _all_pages(database: Database, instance_id: int, search: dict[str, Any]) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        with database.read() as session:
            items, after = service.search_plants(
                session,
                instance_id,
                service.PlantSearch(**search),
                today=today_in_oslo(),
                limit=40,
                after=after,
            )
        found += [item.meteringPointId for item in items]
        if after is None:
            return found


def test_every_way_of_reading_finds_the_same_plants(
    database: Database, register: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walking common words (testing the rarest as a set, or when its sets are too large
    every word plant by plant), driving from a pair of name words and testing words as sets
    or plant by plant find, page after page, what driving from the rarest word finds."""
    searches = [
        *COMMON,
        {"q": f"{synthetic.FIRST_NAMES[3]} {synthetic.LAST_NAMES[5]}"},
        {"q": "ks 12"},
        {"q": f"{synthetic.STREETS[17]} 1"},
        {"q": "Furuvegen", "status": "Inaktivt"},  # a street with inactive plants
        {"q": synthetic.net_station_name(3)},  # its place names one station: a set
    ]
    monkeypatch.setattr(service, "DRIVE_MAX", 10**9)
    monkeypatch.setattr(service, "COUNTED", 10**9)
    driven = {str(search): _all_pages(database, register, search) for search in searches}
    assert all(driven.values()), driven
    monkeypatch.setattr(service, "DRIVE_MAX", 50)
    monkeypatch.setattr(service, "COUNTED", 500)
    monkeypatch.setattr(service, "WALK", 100)
    monkeypatch.setattr(service, "CANDIDATES", 30)
    for members in (service.MEMBERS_MAX, 0):
        monkeypatch.setattr(service, "MEMBERS_MAX", members)
        for search in searches:
            assert _all_pages(database, register, search) == driven[str(search)], search
