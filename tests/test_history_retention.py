"""`tilsyn history prune INSTANCE --before DATE`: old history goes, the latest state never."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import Tenant, make_tenant
from tests.seed_api import (
    fetch_customer,
    fetch_plant,
    history,
    make_mpid,
    minimal_plant,
    ok,
    plant_get_url,
    problem,
    seed_customer,
    upsert_customer,
    upsert_plant,
)
from tilsyn.cli import app
from tilsyn.core import changelog as history_service
from tilsyn.core.db import Database

MPID = make_mpid(951)
runner = CliRunner()


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> list[datetime | None]:
    """Set ``at[0]`` to fix history's clock."""
    moment: list[datetime | None] = [None]
    monkeypatch.setattr(history_service, "utc_now", lambda: moment[0] or datetime.now(UTC))
    return moment


def prune(database_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", database_url, "history", "prune", *args])
    return result.exit_code, result.stdout, result.stderr


def as_of(client: TestClient, tenant: Tenant, day: str) -> Any:
    return client.get(plant_get_url(MPID), params={"asOf": day}, headers=tenant.headers)


def test_prune_keeps_the_latest_state_and_each_entitys_last_change(
    client: TestClient,
    database: Database,
    database_url: str,
    tenant: Tenant,
    at: list[datetime | None],
) -> None:
    at[0] = datetime(2024, 1, 10, 12, tzinfo=UTC)
    upsert_plant(
        client, tenant, minimal_plant(MPID, description="one", connectionPoint={"name": "CP"})
    )
    at[0] = datetime(2024, 1, 15, 12, tzinfo=UTC)
    upsert_customer(client, tenant, seed_customer())
    at[0] = datetime(2024, 2, 10, 12, tzinfo=UTC)
    upsert_plant(
        client, tenant, minimal_plant(MPID, description="two", connectionPoint={"name": "CP"})
    )
    at[0] = datetime(2024, 3, 10, 12, tzinfo=UTC)
    third = upsert_plant(
        client, tenant, minimal_plant(MPID, description="three", connectionPoint={"name": "CP"})
    )["data"]
    at[0] = None
    other = make_tenant(database, "other-test", "test")
    upsert_plant(client, other, minimal_plant(MPID, description="theirs"))
    plant, customer = (
        fetch_plant(client, tenant, MPID),
        fetch_customer(client, tenant, "22097312401"),
    )
    feb_29 = ok(as_of(client, tenant, "2024-02-29"))
    assert feb_29["description"] == "two"

    code, out, err = prune(database_url, tenant.name, "--before", "2024-03-01")
    assert code == 0, err
    assert out.strip() == "2", "stdout holds only the number removed"

    rows = history(database, tenant.instance_id)
    kept = [(r.entity_type, r.operation, (r.diff or {}).get("description")) for r in rows]
    assert kept == [
        ("connectionPoint", "create", None),  # old, but its only change
        ("customer", "create", None),  # old, but its only change
        ("plant", "update", ["two", "three"]),
        ("history", "prune", None),
    ]
    assert rows[-1].diff == {"keptFrom": [None, "2024-03-01"]}
    assert len(history(database, other.instance_id)) == 1, "other instances keep theirs"
    # The current state is untouched, and so are as-of reads from the cut on.
    assert fetch_plant(client, tenant, MPID) == plant
    assert fetch_customer(client, tenant, "22097312401") == customer
    assert ok(as_of(client, tenant, "2024-03-10")) == third
    assert ok(as_of(client, tenant, "2024-02-29")) == feb_29
    gone = problem(as_of(client, tenant, "2024-02-28"), 410)
    assert "2024-03-01" in gone["detail"]
    feed = ok(client.get("/api/changes/test", headers=tenant.headers))["changes"]
    assert feed[-1]["entityType"] == "history"
    assert feed[-1]["fields"] == [{"field": "keptFrom", "before": None, "after": "2024-03-01"}]

    # An earlier cut changes nothing more; a later one moves the line.
    code, out, err = prune(database_url, tenant.name, "--before", "2024-02-01")
    assert (code, out.strip()) == (0, "0")
    assert "kept from 2024-03-01 already" in err
    assert len(history(database, tenant.instance_id)) == 4
    code, out, _ = prune(database_url, tenant.name, "--before", "2024-04-01")
    assert (code, out.strip()) == (0, "0")
    assert history(database, tenant.instance_id)[-1].diff == {
        "keptFrom": ["2024-03-01", "2024-04-01"]
    }
    problem(as_of(client, tenant, "2024-03-10"), 410)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nett-test", "--before", "2024-02-30"], "YYYY-MM-DD"),
        (["nett-test", "--before", "2999-01-01"], "future"),
        (["no-such", "--before", "2024-01-01"], "no instance"),
    ],
)
def test_prune_refuses_bad_input(
    database_url: str, tenant: Tenant, args: list[str], message: str
) -> None:
    code, out, err = prune(database_url, *args)
    assert code == 1
    assert out == ""
    assert message in err
