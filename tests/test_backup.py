"""Backups taken with `tilsyn db backup` restore with `tilsyn db restore`, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import Tenant
from tilsyn.cli import app
from tilsyn.core.db import Database

runner = CliRunner()
BODY = {
    "meteringPointId": "707057500053182051",
    "consumptionCode": 35,
    "industrialClassification": "98.200",
}


def test_backup_then_restore(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TILSYN_SECRET_KEY", "test-secret")
    url = f"/api/plant/test/getDataForImport/{BODY['meteringPointId']}"
    assert (
        client.post("/api/import/test/plant", json=BODY, headers=tenant.headers).status_code == 200
    )
    before = client.get(url, headers=tenant.headers).json()

    archive = tmp_path / "tilsyn.backup"
    result = runner.invoke(app, ["--db", database_url, "db", "backup", str(archive)])
    assert result.exit_code == 0, result.stderr
    assert archive.stat().st_size > 0

    client.delete(f"/api/import/test/plant/{BODY['meteringPointId']}", headers=tenant.headers)
    assert client.get(url, headers=tenant.headers).status_code == 404
    database.dispose()  # the servers are stopped for a restore

    result = runner.invoke(app, ["--db", database_url, "db", "restore", str(archive)])
    assert result.exit_code == 0, result.stderr
    assert client.get(url, headers=tenant.headers).json() == before


def test_restore_of_a_missing_file_fails_clearly(database_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", database_url, "db", "restore", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no backup" in result.stderr
