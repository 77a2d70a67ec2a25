"""`tilsyn demo-data` and `tilsyn import`: files into the database through the bulk path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import make_tenant
from tilsyn.cli import app
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.plants.service import get_plant

runner = CliRunner()


def summary_rows(text: str) -> dict[str, list[str]]:
    """The import's summary table: the file's name (without its folder) → its counts."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) == 7 and cells[1].isdigit():
            rows[Path(cells[0]).name if "(" in cells[0] else cells[0]] = cells[1:]
    return rows


def test_demo_data_then_import_with_a_report(
    database: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILSYN_SECRET_KEY", "test-secret")
    tenant = make_tenant(database, "importer", "test")
    out = tmp_path / "data"
    result = runner.invoke(
        app, ["demo-data", "--plants", "60", "--customers", "40", "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    plants = (out / "plants.ndjson").read_text().splitlines()
    assert len(plants) == 60
    broken = json.loads(plants[4])
    broken["status"] = "Nope"
    plants[4] = json.dumps(broken)
    plants.insert(7, "{not json")
    (out / "plants.ndjson").write_text("\n".join(plants) + "\n")

    report = tmp_path / "report.ndjson"
    result = runner.invoke(
        app,
        [
            "--db",
            database_url,
            "import",
            "importer",
            str(out / "customers.ndjson"),
            str(out / "plants.ndjson"),
            "--report",
            str(report),
        ],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 1, "a failed row makes the import exit non-zero"
    rows = summary_rows(result.stderr)
    # created, updated, unchanged, superseded, failed, total
    assert rows["customers.ndjson (customers)"] == ["40", "0", "0", "0", "0", "40"]
    assert rows["plants.ndjson (plants)"] == ["59", "0", "0", "0", "2", "61"]
    assert rows["all files"] == ["99", "0", "0", "0", "2", "101"]
    problems = [json.loads(line) for line in report.read_text().splitlines()]
    failed = {(p["line"], p["result"]) for p in problems if p["result"] == "failed"}
    assert failed == {(5, "failed"), (8, "failed")}
    first = json.loads(plants[0])
    with database.read() as session:
        stored = get_plant(
            session, tenant.instance_id, first["meteringPointId"], today=today_in_oslo()
        )
    assert stored.customerId == first["customerId"]
    rerun = runner.invoke(
        app,
        [
            "--db",
            database_url,
            "import",
            "importer",
            str(out / "customers.ndjson"),
            "--report",
            str(report),
        ],
        env={"COLUMNS": "300"},
    )
    assert rerun.exit_code == 0
    assert summary_rows(rerun.stderr) == {
        "customers.ndjson (customers)": ["0", "0", "40", "0", "0", "40"]
    }


def test_import_refuses_an_unknown_instance(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "c.ndjson"
    data.write_text('{"Number": "988077917"}\n')
    report = tmp_path / "report.ndjson"
    result = runner.invoke(
        app, ["--db", database_url, "import", "nope", str(data), "--report", str(report)]
    )
    assert result.exit_code == 1
    assert "no instance" in result.stderr
    assert not report.exists(), "no report is written when nothing was imported"


@pytest.mark.parametrize("suffix", ["ndjson", "json", "csv"])
def test_import_reads_rows_as_the_api_reads_bodies(
    database: Database, database_url: str, tmp_path: Path, suffix: str
) -> None:
    """Issue 14: `tilsyn import` rows go through the reader every door shares: text no
    database can hold fails its row, naming the field, and the other rows are imported."""
    make_tenant(database, "reader", "test")
    good = {"Number": "kunde-1", "FirstName": "Kari"}
    bad = {"Number": "kunde-2", "FirstName": "Ola\x00"}
    source = tmp_path / f"customers.{suffix}"
    if suffix == "ndjson":
        lone = '{"Number": "kunde-3", "FirstName": "x\\udbff"}'
        source.write_text("\n".join([json.dumps(good), json.dumps(bad), lone]) + "\n")
    elif suffix == "json":
        source.write_text(json.dumps([good, bad, {"Number": "kunde-3", "FirstName": "x\udbff"}]))
    else:
        source.write_text("Number,FirstName\nkunde-1,Kari\nkunde-2,Ola\x00\n")
    report = tmp_path / "report.ndjson"
    result = runner.invoke(
        app,
        ["--db", database_url, "import", "reader", str(source), "--report", str(report)],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 1
    [row] = summary_rows(result.stderr).values()
    assert row[0] == "1", "one created"
    problems = [json.loads(line) for line in report.read_text().splitlines()]
    messages = json.dumps(problems)
    assert all(p["result"] == "failed" for p in problems)
    assert len(problems) == (2 if suffix != "csv" else 1)
    assert "NUL" in messages
    assert "FirstName" in messages
