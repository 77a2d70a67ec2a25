"""A database that goes away mid-run answers 503 with Retry-After, and the server recovers."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import SECRET, make_tenant
from tests.servers import running_server
from tests.tcp_proxy import TcpProxy
from tilsyn.core import db as db_module
from tilsyn.core.db import Database

BODY = {
    "meteringPointId": "707057500053182051",
    "consumptionCode": 35,
    "industrialClassification": "98.200",
}


def test_outage_gives_503_then_recovers(postgres_database_url: str) -> None:
    url = make_url(postgres_database_url)
    database = Database(postgres_database_url)
    tenant = make_tenant(database, "outage")
    database.dispose()
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with (
            running_server(proxied, secret=SECRET) as base,
            httpx.Client(base_url=base, headers=tenant.headers, timeout=60) as client,
        ):
            assert client.post("/api/import/test/plant", json=BODY).status_code == 200

            proxy.down()
            for path in (
                "/api/import/test/plant",
                "/api/plant/test/getDataForImport/707057500053182051",
            ):
                response = client.post(path, json=BODY) if "import" in path else client.get(path)
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"].isdigit()
                assert response.headers["content-type"] == "application/problem+json"

            proxy.up()
            deadline = time.monotonic() + 30
            while True:
                response = client.get("/api/plant/test/getDataForImport/707057500053182051")
                if response.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert response.status_code == 200
            assert client.post("/api/import/test/plant", json=BODY).json()["result"] == "unchanged"
    finally:
        proxy.close()


def _terminate_pooled_backend(database: Database) -> None:
    """Use a pooled connection, hand it back, and end its server process behind its back."""
    with database.engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        connection.rollback()
    dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize("idle_seconds", [0.0, 3600.0])
def test_a_connection_idle_for_a_while_is_pinged_before_use(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch, idle_seconds: float
) -> None:
    """A pooled connection idle past the threshold is checked on checkout and replaced when
    dead, so the request never sees it; one used a moment ago is not pinged (the dead one is
    then found in use, which is what the threshold trades for a round trip per checkout)."""
    monkeypatch.setattr(db_module, "IDLE_BEFORE_PING_SECONDS", idle_seconds)
    database = Database(postgres_database_url, pool_size=1)
    try:
        _terminate_pooled_backend(database)
        time.sleep(0.05)
        if idle_seconds == 0.0:
            with database.read() as session:
                assert session.execute(text("SELECT 1")).scalar_one() == 1
        else:
            with pytest.raises(OperationalError), database.read() as session:
                session.execute(text("SELECT 1"))
    finally:
        database.dispose()
