"""A synthetic register filled straight into the schema, for the search benchmark and the
query-plan tests: a million plants in minutes, where the import API would take hours.

Rows go in with one executemany per table and chunk, as the write paths would leave them
(documents, hierarchy, customers and their periods, and the search words of each), so the
queries measured are the real ones on a realistic shape: 10 plants per connection point,
10 connection points per transformer, 10 transformers per net station, 4 customers to
every 5 plants, 240 street names, names with æ, ø and å.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, insert, text

from tilsyn.core.models import Customer, CustomerPeriod, GridElement, Plant, SearchToken
from tilsyn.core.search_index import customer_words, element_words, plant_words, token_rows

STREETS = [
    prefix + suffix
    for prefix in (
        "Stor", "Kirke", "Skole", "Fjord", "Sjø", "Bjørke", "Furu", "Løvås", "Ås", "Gran",
        "Eike", "Hav", "Elve", "Bakke", "Dal", "Strand", "Nord", "Sør", "Vest", "Øst",
        "Mølle", "Tårn", "Kongs", "Dronning", "Prestegårds", "Skog", "Lia", "Myr", "Berg",
        "Fjell",
    )
    for suffix in ("gata", "veien", "vegen", "bakken", "lia", "stien", "svingen", "tunet")
]  # fmt: skip
PLACES = (
    "Tromsø", "Bodø", "Ålesund", "Bærum", "Førde", "Sandnes", "Drøbak", "Mo i Rana", "Hønefoss",
    "Løten", "Årdal", "Kragerø", "Mosjøen", "Sørumsand", "Kløfta", "Hamar", "Gjøvik", "Molde",
)  # fmt: skip
FIRST_NAMES = (
    "Åse", "Kari", "Ola", "Bjørn", "Sølvi", "Håkon", "Ørjan", "Ærlend", "Ingrid", "Per",
    "Marit", "Jørgen", "Siv", "Tor", "Liv", "Øystein", "Åsmund", "Kjersti", "Gunnar", "Randi",
)  # fmt: skip
LAST_NAMES = (
    "Ødegård", "Nordmann", "Bråten", "Haugen", "Sæther", "Løvlie", "Åsheim", "Kvåle", "Berg",
    "Dæhli", "Fjørtoft", "Strøm", "Hansen", "Olsen", "Ramstad", "Kjærnes", "Nygård", "Bø",
)  # fmt: skip
CHUNK = 20_000
_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def metering_point_id(serial: int) -> str:
    return f"7070575{serial:010d}0"


def street_address(serial: int) -> str:
    mixed = serial * 2_654_435_761 % 4_294_967_296  # spread neighbours over the streets
    letter = "B" if mixed % 4 == 0 else ""
    return f"{STREETS[mixed % len(STREETS)]} {mixed // len(STREETS) % 120 + 1}{letter}"


def postal_code(serial: int) -> str:
    return f"{(serial * 7919) % 9000 + 1000:04d}"


def net_station_name(number: int) -> str:
    return f"NS {PLACES[number % len(PLACES)]} {number}"


def fill(connection: Connection, instance_id: int, plants: int) -> None:
    """``plants`` plants with their hierarchy and customers, in ``instance_id``."""
    points = max(1, plants // 10)
    transformers = max(1, points // 10)
    stations = max(1, transformers // 10)
    customers = max(1, plants * 4 // 5)
    parents: list[int] | None = None
    for kind, count, name in (
        ("netStation", stations, net_station_name),
        ("transformer", transformers, lambda n: f"T {n}"),
        ("connectionPoint", points, lambda n: f"KS {n}"),
    ):
        rows = (_element(instance_id, kind, name(n), parents, n) for n in range(count))
        parents = _insert(connection, GridElement, instance_id, rows, _element_words)
    assert parents is not None
    point_ids = parents
    customer_rows = (_customer(instance_id, n) for n in range(customers))
    _insert(connection, Customer, instance_id, customer_rows, _customer_words)
    plant_rows = (_plant(instance_id, serial, point_ids) for serial in range(plants))
    plant_ids = _insert(connection, Plant, instance_id, plant_rows, _plant_words)
    periods = (
        {
            "instance_id": instance_id,
            "plant_id": plant_id,
            "valid_from": date(2020, 1, 1),
            "customer_number": _customer_key(serial % customers),
        }
        for serial, plant_id in enumerate(plant_ids)
    )
    _insert(connection, CustomerPeriod, instance_id, periods, None)


def _element(
    instance_id: int, kind: str, name: str, parents: list[int] | None, n: int
) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "kind": kind,
        "name": name,
        "parent_id": parents[n // 10 % len(parents)] if parents else None,
        "address_text": None,
        "postal_code": None,
        "latitude": None,
        "longitude": None,
        "created_at": _NOW,
        "updated_at": _NOW,
    }


def _customer_key(n: int) -> str:
    """A stand-in stored key (core/personal.py): search never reveals a number."""
    return f"pn1:bench{n:038d}"


def _customer(instance_id: int, n: int) -> dict[str, Any]:
    document = {
        "Number": _customer_key(n),
        "FirstName": FIRST_NAMES[n % len(FIRST_NAMES)],
        "LastName": LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)],
    }
    return {
        "instance_id": instance_id,
        "number": document["Number"],
        "data": document,
        "created_at": _NOW,
        "updated_at": _NOW,
    }


def _element_words(row: dict[str, Any]) -> dict[str, set[str]]:
    return element_words(row["name"])


def _customer_words(row: dict[str, Any]) -> dict[str, set[str]]:
    return customer_words(row["data"])


def _plant_words(row: dict[str, Any]) -> dict[str, set[str]]:
    return plant_words(row["metering_point_id"], row["data"])


def _plant(instance_id: int, serial: int, point_ids: list[int]) -> dict[str, Any]:
    document = {
        "address": {"addressText": street_address(serial), "postalCode": postal_code(serial)},
        "status": "Spenningsatt" if serial % 10 else "Inaktivt",
        "consumptionCode": "35",
        "industrialClassification": "00.000",
        "auditSpecificInfo": {},
    }
    return {
        "instance_id": instance_id,
        "metering_point_id": metering_point_id(serial),
        "data": document,
        "consumption_code": "35",
        "industrial_classification": "00.000",
        "status": document["status"],
        "connection_point_id": point_ids[serial // 10 % len(point_ids)],
        "created_at": _NOW,
        "updated_at": _NOW,
    }


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(
    connection: Connection,
    model: Any,
    instance_id: int,
    rows: Iterable[dict[str, Any]],
    words: Callable[[dict[str, Any]], dict[str, set[str]]] | None,
) -> list[int]:
    """Insert rows in chunks; with ``words``, index each row's words under its new id. The
    new ids, in the rows' order (none without ``words``).

    SQLite takes an executemany; PostgreSQL takes COPY (with ids drawn from the table's
    sequence first), which its driver runs some thirty times faster than an executemany.
    """
    table = model.__table__
    copy = connection.dialect.name == "postgresql"
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    all_ids: list[int] = []
    for chunk in _chunks(rows):
        if words is None and copy:
            _write(connection, table, chunk)
            continue
        if words is None:
            connection.execute(insert(table), chunk)
            continue
        if copy:
            ids = _draw_ids(connection, table.name, len(chunk))
            _write(connection, table, [row | {"id": i} for row, i in zip(chunk, ids, strict=True)])
        else:
            ids = list(connection.execute(statement, chunk).scalars())
        all_ids += ids
        entries = {row_id: words(row) for row_id, row in zip(ids, chunk, strict=True)}
        tokens = token_rows(instance_id, entries)
        if copy:
            _write(connection, SearchToken.__table__, tokens)
        else:
            connection.execute(insert(SearchToken), tokens)
    return all_ids


def _draw_ids(connection: Connection, table: str, count: int) -> list[int]:
    query = text(
        "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
    )
    return [int(i) for i in connection.execute(query, {"table": table, "count": count}).scalars()]


def _write(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY of these rows (documents as JSONB)."""
    columns = list(rows[0])
    raw: Any = connection.connection.driver_connection
    names = ", ".join(columns)
    with raw.cursor().copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Jsonb(row[c]) if isinstance(row[c], dict) else row[c] for c in columns])
