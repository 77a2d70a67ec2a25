"""Slow and huge bodies cannot tie up the server."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.conftest import SECRET, make_tenant
from tests.servers import running_server
from tilsyn.core.db import Database


def test_slow_bodies_time_out_and_do_not_block_others(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(database, "slow", "test")
    monkeypatch.setenv("TILSYN_BODY_TIMEOUT", "1")
    with running_server(database_url, secret=SECRET, extra_args=("--db-pool-size", "2")) as base:
        port = int(base.rsplit(":", 1)[1])
        stalled = []
        for _ in range(20):  # far more stalled uploads than request threads
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(
                b"POST /api/import/test/plant HTTP/1.1\r\nHost: x\r\n"
                + f"api-key: {tenant.key}\r\n".encode()
                + b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"meter'
            )
            stalled.append(sock)
        started = time.monotonic()
        response = httpx.get(
            f"{base}/api/plant/test/getDataForImport/707057500053182051", headers=tenant.headers
        )
        assert response.status_code == 404
        assert time.monotonic() - started < 1.0, "other clients are served while uploads stall"
        stalled[0].settimeout(10)
        answer = stalled[0].recv(65536).decode()
        assert answer.startswith("HTTP/1.1 408")
        assert "application/problem+json" in answer
        for sock in stalled:
            sock.close()
