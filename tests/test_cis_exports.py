"""CIS exports as they are: Windows-1252 or UTF-8 with a BOM, semicolons, booleans as J/N and
1/0, decimal commas, one mapping file with a section per kind of file; for import and sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import Tenant
from tests.seed_api import fetch_customer, fetch_plant, make_fnr, make_mpid
from tests.test_import_cli import summary_rows
from tilsyn.cli import app
from tilsyn.client import ClientOptions, Issue, TilsynClient
from tilsyn.client.cells import CellFormat
from tilsyn.client.cli import _errors_text, _where
from tilsyn.client.readers import (
    CsvFormat,
    Mappings,
    SourceError,
    describe_csv,
    detect_kind,
    load_mapping,
    load_mappings,
    read_rows,
)
from tilsyn.client.state import RowRecord
from tilsyn.client.sync import Sync, SyncOptions

runner = CliRunner()
FNR_1 = make_fnr("010190")
FNR_2 = make_fnr("020285")
MPID_1 = make_mpid(11)
MPID_2 = make_mpid(12)

CUSTOMERS_CSV = (
    f"KUNDENR;FORNAVN;ETTERNAVN;EFAKTURA\r\n{FNR_1};Åse;Øvrebø;J\r\n{FNR_2};Per;Ås;nei\r\n"
)
PLANTS_CSV = (
    "MALEPUNKT;KUNDENR;FORBRUKSKODE;NAERINGSKODE;POSTNR;POSTSTED;BREDDE;LENGDE\r\n"
    f"{MPID_1};{FNR_1};35;98.200;7010;TRONDHEIM;63,4305;10,3951\r\n"
    f"{MPID_2};{FNR_2};36;98.200;2040;Kløfta;60,07;11,14\r\n"
)
MAPPING = """\
# One file for both exports: KUNDENR is the customer's Number and a plant's customerId.
customer:
  KUNDENR: Number
  FORNAVN: FirstName
  ETTERNAVN: LastName
  EFAKTURA: AcceptElectronicCommunication
plant:
  KUNDENR: customerId
  MALEPUNKT: meteringPointId
  FORBRUKSKODE: consumptionCode
  NAERINGSKODE: industrialClassification
  POSTNR: address.postalCode
  POSTSTED: address.postalPlace
  BREDDE: location.latitude
  LENGDE: location.longitude
"""


@pytest.fixture
def export(tmp_path: Path) -> dict[str, Path]:
    """A CIS export as it comes: Windows-1252, semicolons, J/nei, decimal commas."""
    customers = tmp_path / "KUNDER.csv"
    customers.write_bytes(CUSTOMERS_CSV.encode("cp1252"))
    plants = tmp_path / "ANLEGG.csv"
    plants.write_bytes(PLANTS_CSV.encode("cp1252"))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return {"customers": customers, "plants": plants, "mapping": mapping}


def bodies(path: Path, **kwargs: Any) -> list[Any]:
    return [row.body if row.body is not None else row.error for row in read_rows(path, **kwargs)]


def said(text: str) -> str:
    return " ".join(text.split())


# --- Reading -----------------------------------------------------------------------------------


def test_a_windows_1252_export_reads_with_its_booleans_and_decimal_commas(
    export: dict[str, Path],
) -> None:
    mappings = load_mappings(export["mapping"])
    assert detect_kind(export["customers"], mappings) == "customer"
    assert detect_kind(export["plants"], mappings) == "plant"
    assert describe_csv(export["customers"], CsvFormat()) == "Windows-1252, ';'-separated"
    assert bodies(export["customers"], mapping=mappings.for_kind("customer")) == [
        {
            "Number": FNR_1,
            "FirstName": "Åse",
            "LastName": "Øvrebø",
            "AcceptElectronicCommunication": True,
        },
        {
            "Number": FNR_2,
            "FirstName": "Per",
            "LastName": "Ås",
            "AcceptElectronicCommunication": False,
        },
    ]
    [first, _] = bodies(export["plants"], mapping=mappings.for_kind("plant"))
    assert first["customerId"] == FNR_1
    assert first["location"] == {"latitude": "63.4305", "longitude": "10.3951"}


def test_utf8_with_a_bom_reads_its_first_column(tmp_path: Path) -> None:
    path = tmp_path / "kunder.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CUSTOMERS_CSV.replace("KUNDENR", "Number").encode())
    assert describe_csv(path, CsvFormat()) == "UTF-8, ';'-separated"
    assert bodies(path)[0]["Number"] == FNR_1
    assert bodies(path)[1]["ETTERNAVN"] == "Ås"


def test_a_line_that_reads_both_ways_in_a_mixed_file_is_reported_not_guessed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "Number;LastName\n1;Øvrebø\n".encode("cp1252")
        + "2;Øvrebø\n".encode()
        + "3;Ås\n".encode("cp1252")
    )
    layout = said(describe_csv(path, CsvFormat()))
    assert layout.startswith("Windows-1252, ';'-separated; line(s) 3 read as UTF-8 too")
    rows = list(read_rows(path))
    assert [(r.line, r.body) for r in rows] == [
        (2, {"Number": "1", "LastName": "Øvrebø"}),
        (3, None),
        (4, {"Number": "3", "LastName": "Ås"}),
    ]
    assert "give --encoding" in str(rows[1].error)
    told = list(read_rows(path, csv_format=CsvFormat(encoding="utf-8")))
    assert told[1].body == {"Number": "2", "LastName": "Øvrebø"}
    assert "is not UTF-8 text" in str(told[0].error)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("J", True), ("n", False), ("1", True), ("0", False), ("Ja", True), ("NEI", False),
     ("yes", True), ("No", False), ("true", True), ("False", False)],
)  # fmt: skip
def test_boolean_cells_in_every_usual_form(tmp_path: Path, cell: str, expected: bool) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"Number;AcceptElectronicCommunication\n1;{cell}\n", encoding="utf-8")
    assert bodies(path) == [{"Number": "1", "AcceptElectronicCommunication": expected}]


def test_a_boolean_cell_of_no_known_form_is_an_error_of_its_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Number;acceptElectronicCommunication\n1;kanskje\n2;J\n3;x\n", encoding="utf-8")
    rows = list(read_rows(path))
    assert [r.line for r in rows if r.body is None] == [2, 4]
    assert rows[0].error is not None
    assert rows[0].error.startswith("column 'acceptElectronicCommunication': 'kanskje' is")
    assert rows[1].body == {"Number": "2", "acceptElectronicCommunication": True}
    own = CsvFormat(cells=CellFormat(true_values=frozenset({"x"}), false_values=frozenset({"-"})))
    assert [r.body for r in read_rows(path, csv_format=own)][2] == {
        "Number": "3",
        "acceptElectronicCommunication": True,
    }


def test_decimal_marks_detected_or_as_told(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "meteringPointId;location.latitude;coordinates.long;connectionPoint.location.latitude\n"
        "1;63,43;10.39;-1,5\n"
        "2;1.063,4;;\n",
        encoding="utf-8",
    )
    first, second = read_rows(path)
    assert first.body == {
        "meteringPointId": "1",
        "location": {"latitude": "63.43"},
        "coordinates": {"long": "10.39"},
        "connectionPoint": {"location": {"latitude": "-1.5"}},
    }
    assert second.error == (
        "column 'location.latitude': '1.063,4' is not a number with a decimal point or a "
        "decimal comma"
    )
    points = [r.error for r in read_rows(path, csv_format=CsvFormat(cells=CellFormat(decimal=".")))]
    assert points[0] == (
        "column 'location.latitude': '63,43' is not a number with a decimal point (--decimal .)"
    )


def test_the_delimiter_can_be_given(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Number|LastName;x\n1|Ås;y\n", encoding="utf-8")
    assert bodies(path, csv_format=CsvFormat(delimiter=",")) == [{"Number|LastName;x": "1|Ås;y"}]
    assert bodies(path, csv_format=CsvFormat(delimiter=";")) == [
        {"Number|LastName": "1|Ås", "x": "y"}
    ]


def test_mappings_per_kind_win_over_common_ones_and_a_flat_file_still_works(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps(
            {
                "NAVN": "LastName",
                "customers": {"KUNDENR": "Number"},
                "plant": {"KUNDENR": "customerId", "NAVN": None},
            }
        )
    )
    mappings = load_mappings(path)
    assert mappings.for_kind("customer") == {"NAVN": "LastName", "KUNDENR": "Number"}
    assert mappings.for_kind("plant") == {"NAVN": None, "KUNDENR": "customerId"}
    with pytest.raises(SourceError, match="sections per kind"):
        load_mapping(path)
    flat = tmp_path / "flat.yaml"
    flat.write_text("KUNDENR: Number\n")
    assert load_mapping(flat) == {"KUNDENR": "Number"}
    assert load_mappings(flat) == Mappings({"KUNDENR": "Number"}, {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("plant:\n  KUNDENR: [1]\n")
    with pytest.raises(SourceError, match="the plant section must be an object"):
        load_mappings(bad)


def test_ndjson_per_kind_mapping(tmp_path: Path) -> None:
    path = tmp_path / "p.ndjson"
    path.write_text(json.dumps({"MALEPUNKT": MPID_1, "KUNDENR": FNR_1}) + "\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    mappings = load_mappings(mapping)
    assert detect_kind(path, mappings) == "plant"
    assert bodies(path, mapping=mappings.for_kind("plant")) == [
        {"meteringPointId": MPID_1, "customerId": FNR_1}
    ]


# --- tilsyn import -----------------------------------------------------------------------------


def test_import_reads_a_cis_export_with_one_mapping_file(
    database_url: str, tenant: Tenant, client: TestClient, export: dict[str, Path], tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "--db", database_url, "import", tenant.name,
            str(export["customers"]), str(export["plants"]),
            "--mapping", str(export["mapping"]), "--report", str(tmp_path / "report.ndjson"),
        ],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "KUNDER.csv: Windows-1252, ';'-separated" in said(result.stderr)
    rows = summary_rows(result.stderr)
    assert rows["KUNDER.csv (customers)"] == ["2", "0", "0", "0", "0", "2"]
    assert rows["ANLEGG.csv (plants)"] == ["2", "0", "0", "0", "0", "2"]
    customer = fetch_customer(client, tenant, FNR_1)
    assert (customer["LastName"], customer["AcceptElectronicCommunication"]) == ("Øvrebø", True)
    assert fetch_customer(client, tenant, FNR_2)["AcceptElectronicCommunication"] is False
    plant = fetch_plant(client, tenant, MPID_1)
    assert plant["customerId"] == FNR_1
    assert plant["location"] == {"latitude": 63.4305, "longitude": 10.3951}
    assert plant["address"]["postalPlace"] == "TRONDHEIM"
    assert plant["address"]["municipalityNumber"] == "5001"


def test_import_reports_a_bad_cell_by_line_and_column(
    database_url: str, tenant: Tenant, export: dict[str, Path], tmp_path: Path
) -> None:
    export["customers"].write_bytes(
        (CUSTOMERS_CSV + "12345;Ola;Nordmann;kanskje\r\n").encode("cp1252")
    )
    report = tmp_path / "report.ndjson"
    result = runner.invoke(
        app,
        [
            "--db", database_url, "import", tenant.name, str(export["customers"]),
            "--mapping", str(export["mapping"]), "--report", str(report),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    [failed] = [json.loads(line) for line in report.read_text().splitlines()]
    assert failed["line"] == 4
    assert "column 'EFAKTURA': 'kanskje' is neither true" in failed["errors"][0]["message"]


def test_import_and_the_sync_reader_name_the_column_of_bad_json(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    line = f'{{"meteringPointId": "{MPID_1}", "consumptionCode": 23 "industrialClassification": 1}}'
    column = line.index('"industrialClassification"') + 1
    path = tmp_path / "p.ndjson"
    path.write_text(
        json.dumps({"meteringPointId": MPID_2, "consumptionCode": 1}) + "\n" + line + "\n"
    )
    [_, row] = read_rows(path)
    assert row.error == (
        f"The item is not valid JSON: Expecting ',' delimiter at line 1, column {column}."
    )
    report = tmp_path / "report.ndjson"
    runner.invoke(
        app, ["--db", database_url, "import", tenant.name, str(path), "--report", str(report)]
    )
    messages = [json.loads(r)["errors"][0]["message"] for r in report.read_text().splitlines()]
    assert f"The item is not valid JSON: Expecting ',' delimiter at line 1, column {column}." in (
        messages
    )


def test_a_failed_row_prints_its_file_and_line_once() -> None:
    unreadable = RowRecord(
        "plant", "p.ndjson:2", "p.ndjson", 2, "invalid",
        errors=[Issue("", "unreadable", "line 2 is not valid JSON (column 65)")],
    )  # fmt: skip
    assert f"{_where(unreadable)}: {_errors_text(unreadable)}" == (
        "p.ndjson:2: line 2 is not valid JSON (column 65)"
    )
    keyed = RowRecord(
        "plant", MPID_1, "p.csv", 3, "invalid",
        errors=[Issue("status", "invalid_status", "must be one of …")],
    )  # fmt: skip
    assert f"{_where(keyed)}: {_errors_text(keyed)}" == (
        f"p.csv:3 {MPID_1}: status: must be one of …"
    )


# --- tilsyn sync -------------------------------------------------------------------------------


class CountingTransport:
    """The app's own transport, counting requests per method and path."""

    def __init__(self, client: TestClient) -> None:
        self.inner = client._transport
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: Any) -> Any:
        self.requests.append((request.method, request.url.path))
        answer = self.inner.handle_request(request)
        answer.read()
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def close(self) -> None:
        pass


@pytest.fixture
def transport(client: TestClient) -> CountingTransport:
    return CountingTransport(client)


def run_sync(
    transport: CountingTransport, tenant: Tenant, files: list[Path], tmp: Path, **options: Any
) -> Any:
    sdk = TilsynClient(
        "http://testserver",
        tenant.key,
        options=ClientOptions(transport=transport),  # type: ignore[arg-type]
    )
    try:
        return Sync(
            SyncOptions(
                url="http://testserver",
                api_key=tenant.key,
                files=files,
                report=tmp / "report" / "sync",
                concurrency=1,
                **options,
            ),
            client=sdk,
        ).run()
    finally:
        sdk.close()


def test_sync_reads_the_same_export_and_its_full_dry_run_compares_in_a_few_requests(
    transport: CountingTransport, tenant: Tenant, client: TestClient, export: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    files = [export["customers"], export["plants"]]
    result = run_sync(transport, tenant, files, tmp_path, mapping=export["mapping"], bulk=False)
    assert result.counts() == {"customer": {"created": 2}, "plant": {"created": 2}}
    assert fetch_plant(client, tenant, MPID_2)["location"] == {
        "latitude": 60.07,
        "longitude": 11.14,
    }

    many = tmp_path / "ANLEGG-many.csv"
    lines = [PLANTS_CSV.splitlines()[0]] + [
        f"{make_mpid(100 + n)};{FNR_1};35;98.200;7010;TRONDHEIM;63,43;10,39" for n in range(60)
    ]
    many.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    run_sync(transport, tenant, [many], tmp_path, mapping=export["mapping"], bulk=True)
    transport.requests.clear()
    dry = run_sync(
        transport, tenant, [export["customers"], many], tmp_path,
        mapping=export["mapping"], dry_run=True, full=True,
    )  # fmt: skip
    counts = dry.counts()
    assert counts["plant"] == {"unchanged": 60, "missing": 2}
    assert counts["customer"] == {"unchanged": 2}
    gets = [path for method, path in transport.requests if method == "GET"]
    lookups = [path for method, path in transport.requests if path.endswith("/lookup")]
    assert len(lookups) == 2, "one lookup per kind, not one GET per row"
    assert len([path for path in gets if "getDataForImport" in path]) <= 1, "the preflight"
    assert len(transport.requests) <= 10, transport.requests


# --- The lookup endpoints a dry run reads with -------------------------------------------------


def test_lookup_answers_the_views_found_in_order_and_the_keys_missing(
    client: TestClient, tenant: Tenant
) -> None:
    plant = {"meteringPointId": MPID_1, "consumptionCode": 35, "industrialClassification": "98.200"}
    ok_plant = client.post("/api/import/test/plant", json=plant, headers=tenant.headers)
    assert ok_plant.status_code == 200
    customer = {"Number": FNR_1, "LastName": "Øvrebø"}
    assert client.post(
        "/api/import/test/customer", json=customer, headers=tenant.headers
    ).is_success
    answer = client.post(
        "/api/plant/test/lookup",
        json={"meteringPointIds": [MPID_2, MPID_1, MPID_1]},
        headers=tenant.headers,
    )
    assert answer.status_code == 200
    assert answer.json() == {"items": [fetch_plant(client, tenant, MPID_1)], "missing": [MPID_2]}
    answer = client.post(
        "/api/customer/environment/test/lookup",
        json={"numbers": [FNR_2, FNR_1]},
        headers=tenant.headers,
    )
    assert answer.json() == {"items": [fetch_customer(client, tenant, FNR_1)], "missing": [FNR_2]}


def test_lookup_of_more_than_1000_or_of_no_list_is_400_naming_the_field(
    client: TestClient, tenant: Tenant
) -> None:
    too_many = {"meteringPointIds": [str(n) for n in range(1001)]}
    answer = client.post("/api/plant/test/lookup", json=too_many, headers=tenant.headers)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["meteringPointIds"]
    answer = client.post("/api/customer/environment/test/lookup", json={}, headers=tenant.headers)
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == ["Numbers"]
