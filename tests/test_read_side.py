"""SPEC §12: read-only keys, unknown query parameters, the change feed from a moment.

The read-only and unknown-parameter rules are checked over every route the OpenAPI
document lists, so a route added later is held to them without a test of its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import SECRET, Tenant
from tests.seed_api import make_mpid, minimal_plant, problem, upsert_customer, upsert_plant
from tilsyn.cli import app as cli_app
from tilsyn.core.db import Database
from tilsyn.core.models import Change
from tilsyn.instances import service as instances

WRITES = ("post", "put", "patch", "delete")
MPID = make_mpid(7)
PATH_VALUES = {"environment": "test", "meteringPointId": MPID, "year": "2026"}


@pytest.fixture
def read_key(database: Database, tenant: Tenant) -> str:
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        return instances.create_key(session, instance, secret_key=SECRET, scope="read").secret


def operations(client: TestClient, methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(method, concrete path)`` of every operation of these methods in /openapi.json."""
    paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    found = []
    for template, item in sorted(paths.items()):
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), template)
        found += [(method, path) for method in methods if method in item]
    assert found, f"no {methods} operations in /openapi.json"
    return found


def test_a_read_only_key_reads(client: TestClient, tenant: Tenant, read_key: str) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID, address={"addressText": "Sjøgata 1"}))
    headers = {"api-key": read_key}
    for path in (
        f"/api/plant/test/getDataForImport/{MPID}",
        f"/api/plant/{MPID}",
        f"/api/plant/test/{MPID}/history",
        "/api/plant/test/ids",
        "/api/plant/test?q=sjogata",
        "/api/grid/test/netStations",
        "/api/changes/test",
        "/api/finding/test",
    ):
        assert client.get(path, headers=headers).status_code == 200, path


def test_a_read_only_key_gets_403_on_every_write(
    client: TestClient, tenant: Tenant, read_key: str
) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    for method, path in operations(client, WRITES):
        response = client.request(method, path, content=b"{", headers={"api-key": read_key})
        assert response.status_code == 403, (method, path, response.text)
        assert "read-only" in problem(response, 403)["detail"]
    # Nothing was written.
    assert client.get(f"/api/plant/{MPID}", headers=tenant.headers).status_code == 200


def test_customer_numbers_need_an_import_or_admin_key(
    client: TestClient, tenant: Tenant, read_key: str
) -> None:
    upsert_customer(client, tenant, {"Number": "123456789", "LastName": "Kraft AS"})
    url = "/api/customer/environment/test/numbers"
    problem(client.get(url, headers={"api-key": read_key}), 403)
    for key in (tenant.key, tenant.admin_key):
        response = client.get(url, headers={"api-key": key})
        assert response.json()["items"] == [{"Number": "123456789"}]
    # The customer itself, and its plants, a read-only key may read.
    read = client.get(
        "/api/customer/environment/test/bynumber/123456789", headers={"api-key": read_key}
    )
    assert read.status_code == 200


def test_the_command_creates_read_only_keys(database_url: str, database: Database) -> None:
    runner = CliRunner()
    env = {"TILSYN_SECRET_KEY": SECRET}
    created = runner.invoke(
        cli_app,
        ["--db", database_url, "instance", "create", "nett", "--environment", "test"],
        env=env,
    )
    assert created.exit_code == 0, created.output
    result = runner.invoke(
        cli_app, ["--db", database_url, "key", "create", "nett", "--read-only"], env=env
    )
    assert result.exit_code == 0, result.output
    with database.read() as session:
        ctx = instances.authenticate(session, secret_key=SECRET, api_key=result.stdout.strip())
    assert ctx is not None
    assert ctx.scope == "read"
    both = runner.invoke(
        cli_app, ["--db", database_url, "key", "create", "nett", "--read-only", "--admin"], env=env
    )
    assert both.exit_code != 0


def test_unknown_query_parameters_are_400_on_every_get(client: TestClient, tenant: Tenant) -> None:
    for _, path in operations(client, ("get",)):
        response = client.get(path, params={"bogusFilter": "1"}, headers=tenant.headers)
        body = problem(response, 400)
        assert [e["field"] for e in body["errors"]] == ["bogusFilter"], path
        assert "bogusFilter" in body["detail"]


def test_unknown_query_parameters_are_400_on_writes_too(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/api/import/test/plant?dryRun=1", json=minimal_plant(MPID), headers=tenant.headers
    )
    assert [e["field"] for e in problem(response, 400)["errors"]] == ["dryRun"]
    assert client.get(f"/api/plant/{MPID}", headers=tenant.headers).status_code == 404


def test_declared_parameters_and_aliases_pass(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    params = {"q": "7070", "postalCode": "0150", "limit": 5, "status": "Spenningsatt"}
    assert client.get("/api/plant/test", params=params, headers=tenant.headers).status_code == 200
    feed = client.get("/api/changes/test", params={"limit": 1}, headers=tenant.headers)
    assert feed.status_code == 200
    as_of = client.get(
        f"/api/plant/test/getDataForImport/{MPID}",
        params={"asOf": "2030-01-01"},
        headers=tenant.headers,
    )
    assert as_of.status_code == 200


def _set_times(database: Database, instance_id: int, moments: list[datetime]) -> list[int]:
    """Date the instance's changes, in id order, at these moments; their ids."""
    with database.write() as session:
        changes = list(
            session.query(Change).filter(Change.instance_id == instance_id).order_by(Change.id)
        )
        assert len(changes) == len(moments)
        for change, moment in zip(changes, moments, strict=True):
            change.at = moment
        return [change.id for change in changes]


def test_the_feed_starts_from_a_moment(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    for serial in range(3):
        upsert_plant(client, tenant, minimal_plant(make_mpid(serial)))
    ids = _set_times(
        database,
        tenant.instance_id,
        [
            datetime(2025, 12, 31, 22, 30, tzinfo=UTC),  # 2025-12-31 23:30 in Oslo
            datetime(2025, 12, 31, 23, 30, tzinfo=UTC),  # 2026-01-01 00:30 in Oslo
            datetime(2026, 1, 2, 12, 0, tzinfo=UTC),
        ],
    )

    def feed(**params: Any) -> dict[str, Any]:
        response = client.get("/api/changes/test", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert [c["id"] for c in feed(since="2026-01-01T00:00:00Z")["changes"]] == ids[2:]
    assert [c["id"] for c in feed(since="2026-01-01")["changes"]] == ids[1:]
    assert [c["id"] for c in feed(since="2026-01-01T00:30:00+01:00")["changes"]] == ids[1:]
    first = feed(since="2025-01-01", limit=1)
    assert [c["id"] for c in first["changes"]] == ids[:1]
    assert [c["id"] for c in feed(after=first["next"])["changes"]] == ids[1:]
    later = feed(since="2030-01-01")
    assert later["changes"] == []
    upsert_plant(client, tenant, minimal_plant(make_mpid(9)))
    assert [c["entityKey"] for c in feed(after=later["next"])["changes"]] == [make_mpid(9)]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-02-30"},
        {"since": "2026-01-01T25:00:00Z"},
        {"since": "2026-01-01T00:00:00"},  # no zone: ambiguous
        {"since": "yesterday"},
        {"since": "2026-01-01", "after": "c1"},
    ],
)
def test_bad_moments_are_400(client: TestClient, tenant: Tenant, params: dict[str, str]) -> None:
    response = client.get("/api/changes/test", params=params, headers=tenant.headers)
    assert "since" in {e["field"] for e in problem(response, 400)["errors"]}


def test_since_today_follows_new_changes(client: TestClient, tenant: Tenant) -> None:
    upsert_plant(client, tenant, minimal_plant(MPID))
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    changes = client.get("/api/changes/test", params={"since": since}, headers=tenant.headers)
    assert [c["entityKey"] for c in changes.json()["changes"]] == [MPID]
