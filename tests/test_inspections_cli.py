"""`tilsyn import` of an inspections CSV, `tilsyn plan build` and `tilsyn report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.conftest import make_tenant
from tilsyn.cli import app
from tilsyn.core.db import Database
from tilsyn.inspections import service

runner = CliRunner()

PLANTS = [
    {
        "meteringPointId": "707057500026392739",
        "consumptionCode": 35,
        "industrialClassification": "98.200",
        "status": "Spenningsatt",
        "connectedDate": "1990-01-01",
        "auditSpecificInfo": {"inspectionRate": 20, "inspectionArea": 63},
    },
    {
        "meteringPointId": "707057500026392746",
        "consumptionCode": 36,
        "industrialClassification": "98.200",
        "status": "Spenningsatt",
        "connectedDate": "2000-01-01",
        "auditSpecificInfo": {"inspectionRate": 30, "inspectionArea": 63},
    },
]
HEADER = "externalId;meteringPointId;date;kind;inspector;"
CSV = f"""{HEADER}finding.description;finding.severity;finding.deadline
K1;707057500026392739;2005-03-01;periodic;Kari;Mangler jordfeilvern;nonconformity;2005-05-01
K1;707057500026392739;2005-03-01;periodic;Kari;Ingen kursfortegnelse;remark;
K2;707057500026392746;2009-06-01;periodic;Per;;;
K3;707057500000000001;2009-06-01;periodic;Per;;;
"""


def test_import_inspections_then_plan_and_report(
    database: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILSYN_SECRET_KEY", "test-secret")
    tenant = make_tenant(database, "dle", "test")
    plants = tmp_path / "plants.ndjson"
    plants.write_text("\n".join(json.dumps(p) for p in PLANTS) + "\n")
    inspections = tmp_path / "inspections.csv"
    inspections.write_text(CSV)
    report = tmp_path / "report.ndjson"
    result = runner.invoke(
        app,
        [
            "--db",
            database_url,
            "import",
            "dle",
            str(plants),
            str(inspections),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 1, result.stderr  # one inspection names an unknown plant
    problems = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(p["line"], p["key"], p["errors"][0]["field"]) for p in problems] == [
        (5, "K3", "meteringPointId")
    ]
    with database.read() as session:
        listing = service.list_inspections(
            session, tenant.instance_id, PLANTS[0]["meteringPointId"]
        )  # type: ignore[arg-type]
    [first] = listing.items
    assert first.externalId == "K1"
    assert [f.severity for f in first.findings] == ["nonconformity", "remark"]

    xlsx = tmp_path / "plan.xlsx"
    result = runner.invoke(
        app,
        [
            *("--db", database_url, "plan", "build", "dle", "2025"),
            "--capacity",
            "63=0",
            "--out",
            str(xlsx),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "deferred" in result.stdout
    rows = list(load_workbook(xlsx, read_only=True)["Plan 2025"].iter_rows(values_only=True))
    assert rows[0][0] == "meteringPointId"
    assert [(r[0], r[-1]) for r in rows[1:]] == [("707057500026392739", "deferred")]
    bad = runner.invoke(
        app, ["--db", database_url, "plan", "build", "dle", "2025", "--capacity", "x"]
    )
    assert bad.exit_code != 0

    result = runner.invoke(app, ["--db", database_url, "report", "dle", "2005"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["inspections"]["periodic"] == 1
    assert figures["findings"] == {"nonconformity": 1, "remark": 1}
    assert figures["findingsOpenAtYearEnd"] == 2
    missing = runner.invoke(app, ["--db", database_url, "report", "nobody", "2005"])
    assert missing.exit_code == 1
