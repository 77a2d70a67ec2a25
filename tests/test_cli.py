"""The `tilsyn` command, run in-process against real database files, and `serve` for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tilsyn.cli import app
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.models import Instance
from tilsyn.inspections import service as inspections
from tilsyn.instances.service import authenticate
from tilsyn.plans import service as plans

runner = CliRunner()
SECRET = "cli-secret"


@pytest.fixture
def db_url(database_url: str) -> str:
    """A fresh database on each backend (an empty SQLite file, a truncated PostgreSQL one)."""
    return database_url


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILSYN_SECRET_KEY", SECRET)


def invoke(db_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db_url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_instance_and_key_lifecycle(db_url: str) -> None:
    code, _, err = invoke(db_url, "instance", "create", "nett", "--environment", "prod")
    assert code == 0, err
    code, out, _ = invoke(db_url, "key", "create", "nett", "--label", "nightly sync")
    assert code == 0
    key = out.strip()
    assert key.startswith("tilsyn_prod_")
    assert "\n" not in key, "key create prints only the key"
    database = Database(db_url)
    with database.read() as session:
        ctx = authenticate(session, secret_key=SECRET, api_key=key)
    assert ctx is not None
    assert ctx.environment == "prod"
    assert ctx.scope == "import"

    code, out, _ = invoke(db_url, "key", "list", "nett")
    assert code == 0
    assert "nightly sync" in out
    assert key not in out, "the key itself is never shown again"

    code, _, _ = invoke(db_url, "key", "revoke", str(ctx.key_id))
    assert code == 0
    with database.read() as session:
        assert authenticate(session, secret_key=SECRET, api_key=key) is None
    database.dispose()


def test_admin_key_scope(db_url: str) -> None:
    invoke(db_url, "instance", "create", "nett", "--environment", "test")
    _, out, _ = invoke(db_url, "key", "create", "nett", "--admin")
    database = Database(db_url)
    with database.read() as session:
        ctx = authenticate(session, secret_key=SECRET, api_key=out.strip())
    assert ctx is not None
    assert ctx.scope == "admin"
    database.dispose()


def test_instance_rate_limit(db_url: str) -> None:
    invoke(db_url, "instance", "create", "nett", "--environment", "test")
    _, out, _ = invoke(db_url, "instance", "list")
    assert "1000/s, burst 2000 (default)" in out
    code, _, err = invoke(
        db_url, "instance", "set-rate-limit", "nett", "--per-second", "20", "--burst", "50"
    )
    assert code == 0, err
    key = invoke(db_url, "key", "create", "nett")[1].strip()
    database = Database(db_url)
    with database.read() as session:
        ctx = authenticate(session, secret_key=SECRET, api_key=key)
    assert ctx is not None
    assert (ctx.rate_limit.per_second, ctx.rate_limit.burst) == (20, 50)
    database.dispose()
    assert "20/s, burst 50" in invoke(db_url, "instance", "list")[1]
    assert invoke(db_url, "instance", "set-rate-limit", "nett", "--per-second", "0")[0] == 0
    assert "unlimited" in invoke(db_url, "instance", "list")[1]
    assert invoke(db_url, "instance", "set-rate-limit", "nett", "--default")[0] == 0
    assert "(default)" in invoke(db_url, "instance", "list")[1]
    for bad in (["--burst", "5"], ["--per-second", "-1"], [], ["--default", "--per-second", "1"]):
        code, _, err = invoke(db_url, "instance", "set-rate-limit", "nett", *bad)
        assert code == 1, bad
        assert "error" in err


def test_errors_exit_non_zero_with_a_message(db_url: str) -> None:
    assert invoke(db_url, "instance", "create", "nett", "--environment", "test")[0] == 0
    code, _, err = invoke(db_url, "instance", "create", "nett", "--environment", "test")
    assert code == 1
    assert "exists already" in err
    code, _, err = invoke(db_url, "instance", "create", "other", "--environment", "staging")
    assert code == 1
    assert "environment" in err
    code, _, err = invoke(db_url, "key", "create", "missing")
    assert code == 1
    assert "no instance" in err
    code, _, _ = invoke(db_url, "key", "revoke", "999")
    assert code == 1


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("TILSYN_DATABASE_URL", url)
    result = runner.invoke(app, ["instance", "create", "nett", "--environment", "test"])
    assert result.exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_demo_loads_sample_data_without_serving(db_url: str) -> None:
    code, out, err = invoke(db_url, "demo", "--plants", "30", "--no-serve")
    assert code == 0, err
    assert "tilsyn_test_" in out
    assert "curl -H 'api-key: tilsyn_test_" in out
    assert "30 plants" in out
    assert "inspections" in out
    database = Database(db_url)
    try:
        _check_demo_inspections(database)
    finally:
        database.dispose()


def _check_demo_inspections(database: Database) -> None:
    with database.read() as session:
        instance = session.scalar(select(Instance).where(Instance.name == "demo-test"))
        assert instance is not None
        today = today_in_oslo()
        due = inspections.due_dates(session, instance.id, today=today).values()
        dates = [item.due_date for item in due if item.due_date is not None]
        assert any(day < today for day in dates), "some plants are overdue"
        assert any(today <= day <= date(today.year, 12, 31) for day in dates) or len(dates) < 5
        plan = plans.latest_plan(session, instance.id, today.year)
        assert plan.items, "this year's plan has plants"
        findings, _ = inspections.list_findings(session, instance.id, today=today)
        assert findings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_healthz_and_openapi(db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "TILSYN_SECRET_KEY": SECRET}
    server = subprocess.Popen(
        [sys.executable, "-m", "tilsyn", "--db", db_url, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        schema = httpx.get(f"{base}/openapi.json").json()
        assert "/api/import/{environment}/plant" in schema["paths"]
        assert "server" not in {k.lower() for k in response.headers}
        unauthorized = httpx.get(f"{base}/api/plant/707057500026392739")
        assert unauthorized.status_code == 401
        assert unauthorized.headers["content-type"] == "application/problem+json"
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()
        if server.stderr:
            server.stderr.close()


def test_serve_refuses_prod_data_with_the_default_secret(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke(db_url, "instance", "create", "nett", "--environment", "prod")
    monkeypatch.delenv("TILSYN_SECRET_KEY")
    code, _, err = invoke(db_url, "serve", "--port", "1")
    assert code == 2
    assert "TILSYN_SECRET_KEY" in err
