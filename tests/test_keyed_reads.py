"""GET by key reads without a transaction on PostgreSQL (core/db.py, ``keyed_read``): its few
statements need no snapshot in common, and BEGIN and ROLLBACK were two of its round trips.
SQLite keeps its read transaction. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import Tenant
from tests.seed_api import (
    customer_get_url,
    fetch_customer,
    fetch_plant,
    make_mpid,
    minimal_plant,
    seed_customer,
    upsert_customer,
    upsert_plant,
)
from tilsyn.core.db import Database

MPID = make_mpid(951)
NUMBER = "22097312401"


def in_transaction(session: Session) -> bool:
    connection = session.connection()
    session.execute(text("SELECT 1"))
    if connection.dialect.name == "sqlite":
        return bool(connection.connection.driver_connection.in_transaction)  # type: ignore[union-attr]
    status = connection.connection.driver_connection.info.transaction_status  # type: ignore[union-attr]
    return bool(status != psycopg.pq.TransactionStatus.IDLE)


def test_a_keyed_read_is_a_transaction_only_on_sqlite(database: Database) -> None:
    with database.keyed_read() as session:
        assert in_transaction(session) == (database.dialect == "sqlite")
    with database.read() as session:
        assert in_transaction(session)


def test_gets_by_key_read_outside_read_transactions(
    client: TestClient, database: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plant's and the customer's GET, current and legacy, use the keyed read; an as-of
    read (many statements that replay history) keeps its read transaction."""
    upsert_customer(client, tenant, seed_customer(Number=NUMBER))
    upsert_plant(client, tenant, minimal_plant(MPID, customerId=NUMBER))
    expected_plant = fetch_plant(client, tenant, MPID)

    @contextmanager
    def no_read() -> Iterator[Session]:
        raise AssertionError("a GET by key opened a read transaction")
        yield  # pragma: no cover

    monkeypatch.setattr(database, "read", no_read)
    assert fetch_plant(client, tenant, MPID) == expected_plant
    assert client.get(f"/api/plant/{MPID}", headers=tenant.headers).json() == expected_plant
    assert fetch_customer(client, tenant, NUMBER)["Number"] == NUMBER
    legacy = client.get(f"/api/customer/{NUMBER}", headers=tenant.headers)
    assert legacy.json()["Number"] == NUMBER
    with pytest.raises(AssertionError, match="read transaction"):
        client.get(customer_get_url(NUMBER), params={"asOf": "2020-01-01"}, headers=tenant.headers)
