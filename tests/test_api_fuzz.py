"""Schemathesis against the running server's /openapi.json, on each database.

No generated request may get a 5xx; every response must match its documented status codes,
content type and schema. The environment is pinned to the key's own ('test'): requests for
the other one are rejected by design (tested in test_auth). Acceptance checks are left out:
the contract accepts more than a schema can say (property names in any casing, coercions)
and rejects what no schema can say (a year in the future, a plant that must exist); both
are covered by the body-reader and API tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SECRET, Tenant, make_tenant
from tests.hostile import customer_items, plant_items, read_everything, send_both_ways
from tests.servers import NO_AUTH_FAILURE_LIMIT, running_server
from tilsyn.contract.plants.schemas import SEED_PLANT_EXAMPLE
from tilsyn.core.db import Database

EXAMPLES_PER_OPERATION = 60


def pinned_schema(base: str, target: Path) -> None:
    schema = httpx.get(f"{base}/openapi.json").json()
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "environment":
                    parameter["schema"]["enum"] = ["test"]
            # Schemathesis has no NDJSON serializer; the bulk endpoints are fuzzed with their
            # JSON-array form (NDJSON bodies are tested in test_bulk.py).
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                content.pop("application/x-ndjson", None)
    target.write_text(json.dumps(schema))


def test_fuzzed_requests_conform(database: Database, database_url: str, tmp_path: Path) -> None:
    tenant = make_tenant(database, "fuzz", "test")
    # Schemathesis sends hundreds of requests without a key from one address; the limit on
    # failed authentications per address has tests of its own (test_doors.py).
    with running_server(database_url, secret=SECRET, env_extra=NO_AUTH_FAILURE_LIMIT) as base:
        seeded = httpx.post(
            f"{base}/api/import/test/plant", json=SEED_PLANT_EXAMPLE, headers=tenant.headers
        )
        assert seeded.status_code == 200
        schema_file = tmp_path / "openapi.json"
        pinned_schema(base, schema_file)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(schema_file),
                "--url",
                base,
                "-H",
                f"api-key: {tenant.key}",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--seed",
                "20261126",
                "--exclude-checks",
                "positive_data_acceptance,negative_data_rejection",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "30",
                "--warnings",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    assert "generated" in summary


BULK_MPIDS = ["707057500053182051", "707057500053182068", " 7070575000 53182075"]
BULK_NUMBERS = ["15108695088", "555 666", "555666", "kunde-1"]


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plants=st.lists(plant_items(BULK_MPIDS, BULK_NUMBERS), min_size=1, max_size=8),
    customers=st.lists(customer_items(BULK_NUMBERS), min_size=1, max_size=8),
)
def test_hostile_bulk_items_never_break_a_door(
    client: TestClient, tenant: Tenant, plants: list[bytes], customers: list[bytes]
) -> None:
    """Issue 14: the bulk doors (NDJSON and JSON array) under hypothesis-made hostile items:
    never a 5xx, one line per item and a summary, and whatever was stored reads back, its
    history and the feed included."""
    stored: dict[str, set[str]] = {"plant": set(), "customer": set()}
    for kind, items in (("customer", customers), ("plant", plants)):
        url = f"/api/import/test/{kind}/bulk"
        for lines in send_both_ways(client, url, tenant.key, items):
            written = {"created", "updated", "unchanged"}
            stored[kind] |= {line["key"] for line in lines[:-1] if line["result"] in written}
    for kind, keys in stored.items():
        read_everything(client, tenant.key, sorted(keys), kind)
