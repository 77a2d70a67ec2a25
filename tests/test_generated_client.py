"""A client generated from the live schema works against a real server, as an integrator uses it.

openapi-python-client generates a package from ``/openapi.json`` into a temporary folder;
the test imports it and, through it alone, sends the key in the scheme's header, upserts a
plant, reads it back and reads a problem's ``errors``. A schema that misdeclares the key,
a body, a response or a problem breaks generation, the calls or the parsing here.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SECRET, make_tenant
from tests.seed_api import minimal_plant
from tests.servers import running_server
from tilsyn.app import create_app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database

PACKAGE = "tilsyn_generated_client"
MPID = "707057500026392739"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    root = tmp_path_factory.mktemp("generated")
    with TestClient(create_app(Settings(database_url=f"sqlite:///{root / 'schema.db'}"))) as app:
        (root / "openapi.json").write_bytes(app.get("/openapi.json").content)
    command = [sys.executable, "-m", "openapi_python_client", "generate"]
    command += ["--path", str(root / "openapi.json"), "--meta", "none"]
    command += ["--output-path", str(root / PACKAGE)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield {
            name: importlib.import_module(f"{PACKAGE}.{name}")
            for name in (
                "client",
                "models",
                "api.plants.upsert_plant",
                "api.plants.get_plant",
            )
        }
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_upserts_reads_and_gets_problems(
    generated: dict[str, ModuleType], database: Database, database_url: str
) -> None:
    tenant = make_tenant(database, "generated", "test")
    models: Any = generated["models"]
    upsert: Any = generated["api.plants.upsert_plant"]
    get: Any = generated["api.plants.get_plant"]
    test = models.UpsertPlantEnvironment.TEST
    with running_server(database_url, secret=SECRET) as base:
        # The key goes in the scheme's header, as the schema declares it.
        keyed = generated["client"].AuthenticatedClient(
            base_url=base, token=tenant.key, auth_header_name="api-key", prefix=""
        )
        with keyed as client:
            body = models.PlantIn.from_dict(minimal_plant(MPID, description="Generated"))
            created = upsert.sync(environment=test, client=client, body=body)
            assert isinstance(created, models.PlantUpsertOut)
            assert (created.result, created.data.metering_point_id) == ("created", MPID)

            read = get.sync(
                environment=models.GetPlantEnvironment.TEST, metering_point_id=MPID, client=client
            )
            assert isinstance(read, models.PlantOut)
            assert (read.metering_point_id, read.description) == (MPID, "Generated")

            wrong = models.PlantIn.from_dict(minimal_plant(MPID, status="Aktiv"))
            problem = upsert.sync(environment=test, client=client, body=wrong)
            assert isinstance(problem, models.Problem)
            assert problem.status == 400
            assert [(e.field, e.code) for e in problem.errors] == [("status", "invalid_status")]

        with generated["client"].Client(base_url=base) as unkeyed:
            refused = get.sync(
                environment=models.GetPlantEnvironment.TEST, metering_point_id=MPID, client=unkeyed
            )
        assert isinstance(refused, models.Problem)
        assert refused.status == 401
