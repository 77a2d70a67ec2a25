"""A database that goes away mid-run answers 503 with Retry-After, and the server recovers."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, SECRET, make_tenant
from tests.servers import running_server
from tests.tcp_proxy import TcpProxy
from tilsyn.core.db import Database

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs TILSYN_TEST_POSTGRES_URL (CI always sets it)"
)

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
