"""Reading exports: dotted CSV columns, mappings, NDJSON and JSON, with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tilsyn.client.readers import SourceError, load_mapping, read_rows, write_csv
from tilsyn.demo_data import generate_plants


def rows(path: Path, **kwargs: object) -> list[tuple[int, object, object]]:
    return [(r.line, r.body, r.error) for r in read_rows(path, **kwargs)]  # type: ignore[arg-type]


def test_csv_dotted_columns_nest_and_empty_cells_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "plants.csv"
    path.write_text(
        "meteringPointId;address.postalCode;address.addressText;status\n"
        '707057500026392739;0485;"Storgata 1\nOppgang B";\n'
        "\n"
        "707057500026392746;;;Spenningsatt\n",
        encoding="utf-8-sig",
    )
    assert rows(path) == [
        (
            2,
            {
                "meteringPointId": "707057500026392739",
                "address": {"postalCode": "0485", "addressText": "Storgata 1\nOppgang B"},
            },
            None,
        ),
        (5, {"meteringPointId": "707057500026392746", "status": "Spenningsatt"}, None),
    ]


def test_csv_row_with_too_many_cells_is_an_unreadable_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Number,FirstName\n910000008,Kari,extra\n920000004,Ola\n")
    found = rows(path)
    assert found[0][0] == 2
    assert found[0][1] is None
    assert "3 cells" in str(found[0][2])
    assert found[1] == (3, {"Number": "920000004", "FirstName": "Ola"}, None)


def test_clashing_columns_stop_before_anything_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("address,address.postalCode\nx,0150\n")
    with pytest.raises(SourceError, match="makes it an object"):
        rows(path)
    path.write_text("Number,number\n1,2\n")
    with pytest.raises(SourceError, match="both give"):
        rows(path)


def test_mapping_renames_source_columns(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "MALEPUNKT: meteringPointId\nPOSTNR: address.postalCode\nINTERN: null\n",
        encoding="utf-8",
    )
    path = tmp_path / "export.csv"
    path.write_text("MALEPUNKT,POSTNR,INTERN,status\n707057500026392739,150,x,Inaktivt\n")
    loaded = load_mapping(mapping)
    assert rows(path, mapping=loaded) == [
        (
            2,
            {
                "meteringPointId": "707057500026392739",
                "address": {"postalCode": "150"},
                "status": "Inaktivt",
            },
            None,
        )
    ]
    as_json = tmp_path / "mapping.json"
    as_json.write_text(json.dumps({"MALEPUNKT": "meteringPointId"}))
    assert load_mapping(as_json) == {"MALEPUNKT": "meteringPointId"}
    as_json.write_text("[1, 2]")
    with pytest.raises(SourceError):
        load_mapping(as_json)


def test_ndjson_lines_and_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.ndjson"
    path.write_text('{"Number": "910000008"}\n\n{"Number": \n[1]\n')
    found = rows(path)
    assert found[0] == (1, {"Number": "910000008"}, None)
    assert found[1][0] == 3
    assert "not valid JSON" in str(found[1][2])
    assert found[2] == (4, None, "is not a JSON object")


def test_json_array_rows_know_their_line(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('[\n  {"Number": "1"},\n  {\n    "Number": "2"\n  }, {"Number": "3"}\n]\n')
    assert [(line, body) for line, body, _ in rows(path)] == [
        (2, {"Number": "1"}),
        (3, {"Number": "2"}),
        (5, {"Number": "3"}),
    ]
    path.write_text('[{"Number": "1"},\n {"Number": }]')
    with pytest.raises(SourceError, match="line 2"):
        rows(path)
    path.write_text('{"Number": "1", "Address": {"PostalCode": "0150"}}')
    mapping = {"Address.PostalCode": "Address.AddressText"}
    assert rows(path, mapping=mapping) == [
        (1, {"Number": "1", "Address": {"AddressText": "0150"}}, None)
    ]


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="unknown file type"):
        rows(path)


def test_write_csv_reads_back_as_the_same_records(tmp_path: Path) -> None:
    plants = list(generate_plants(20, customer_numbers=["910000008"], seed=2))
    path = tmp_path / "plants.csv"
    assert write_csv(path, plants) == 20
    back = [r.body for r in read_rows(path)]

    def strip(value: object) -> object:
        if isinstance(value, dict):
            kept = {k: strip(v) for k, v in value.items() if v is not None}
            return {k: v for k, v in kept.items() if v != {}}
        return str(value).lower() if isinstance(value, bool) else str(value)

    assert back == [strip(p) for p in plants]
