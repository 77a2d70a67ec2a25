"""Search is served by indexes, not a scan: the query plans of both databases say so.

A register of 10,000 plants is filled straight into the schema (tilsyn/search/synthetic.py),
PostgreSQL's statistics refreshed, and each kind of selective search explained
(``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL): no plan may read the plants
or the search index whole.

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
from sqlalchemy import select, text

from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.models import Plant
from tilsyn.instances.service import create_instance
from tilsyn.search import service, synthetic

PLANTS = 10_000
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
    with database.read() as session:
        where = service.search_where(
            session, instance_id, service.PlantSearch(**search), today=today_in_oslo()
        )
    return explain(database, service.page_query(instance_id, where, limit=51, after=None))


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
