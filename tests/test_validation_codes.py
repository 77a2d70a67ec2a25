"""Code lists, address, contact and technical-data checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilsyn.validation.codes import (
    BUILDING_CODES,
    CONSUMPTION_CODE_NAMES,
    CONSUMPTION_CODES,
    COUNTRY_CODES,
    building_code_findings,
    consumption_code_findings,
    country_findings,
    earthing_system_findings,
    email_findings,
    fuse_findings,
    matrikkel_findings,
    naeringskode_findings,
    phase_findings,
    phone_findings,
    postal_code_findings,
    residential_number_findings,
    voltage_findings,
)
from tilsyn.validation.findings import Finding


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --- consumption code -------------------------------------------------------------------------


def test_consumption_code_list_is_elhubs() -> None:
    expected = {str(n) for n in range(1, 37)} | {"1a", "29a"}
    assert expected == CONSUMPTION_CODES
    assert CONSUMPTION_CODE_NAMES["35"] == "Husholdninger"
    assert CONSUMPTION_CODE_NAMES["36"] == "Hytter og fritidshus"
    assert CONSUMPTION_CODE_NAMES["29a"] == "Herav gate- og veilys"


@pytest.mark.parametrize("code", ["1", "1a", "1A", "23", "29a", "29A", "35", "36", " 35 "])
def test_known_consumption_codes(code: str) -> None:
    assert consumption_code_findings(code) == []


@pytest.mark.parametrize("code", ["0", "37", "2a", "01", "", "husholdning", "35.0"])
def test_unknown_consumption_codes(code: str) -> None:
    assert codes(consumption_code_findings(code)) == ["unknown_code"]


# --- næringskode ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["55.102", "01.130", "98.200"])
def test_naeringskode_ok(code: str) -> None:
    assert naeringskode_findings(code) == []


@pytest.mark.parametrize(
    "code", ["55102", "55.1", "55.10", "5.102", "55,102", "55.1021", "", "٥٥.١٠٢"]
)
def test_naeringskode_format(code: str) -> None:
    assert codes(naeringskode_findings(code)) == ["format"]


# --- building code ----------------------------------------------------------------------------


def test_building_code_list() -> None:
    assert {111, 112, 113, 161, 241, 243, 311, 322, 956, 970, 999} <= BUILDING_CODES
    assert 114 not in BUILDING_CODES
    assert all(100 <= c <= 999 for c in BUILDING_CODES)


def test_seed_building_code_114_is_unknown() -> None:
    assert codes(building_code_findings(114)) == ["unknown_code"]
    assert building_code_findings(111) == []


@pytest.mark.parametrize("code", [0, 11, 99, 1000, -111])
def test_building_code_format(code: int) -> None:
    assert codes(building_code_findings(code)) == ["format"]


# --- bruksenhetsnummer ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["H0101", "h0101", "U0102", "K0101", "L0201", "H1204"])
def test_residential_number_ok(value: str) -> None:
    assert residential_number_findings(value) == []


@pytest.mark.parametrize("value", ["H101", "X0101", "H01011", "0101", "", "H 0101", "H01O1"])
def test_residential_number_format(value: str) -> None:
    assert codes(residential_number_findings(value)) == ["format"]


def test_letter_o_for_zero_gets_a_hint() -> None:
    (finding,) = residential_number_findings("HO1O1")
    assert "letter O" in finding.message


@pytest.mark.parametrize("value", ["H0001", "H0100", "U0000"])
def test_residential_number_floor_or_unit_zero(value: str) -> None:
    assert codes(residential_number_findings(value)) == ["suspicious_value"]


# --- postal code and matrikkel ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0150", True),
        ("9991", True),
        ("150", False),
        ("01500", False),
        ("O150", False),
        ("", False),
    ],
)
def test_postal_code(value: str, ok: bool) -> None:
    assert (postal_code_findings(value) == []) is ok


def test_matrikkel_seed_example_is_fine() -> None:
    assert matrikkel_findings(35, 108, 2, 5) == []
    assert matrikkel_findings(None, None, None, None) == []
    assert matrikkel_findings(99_999, 9_999, 0, 0) == []


def test_matrikkel_out_of_range_names_the_fields() -> None:
    findings = matrikkel_findings(0, 10_000, -1, 1000)
    assert [field for field, _ in findings] == [
        "holdingNumber",
        "subHoldingNumber",
        "leaseNumber",
        "sectionNumber",
    ]
    assert {f.code for _, f in findings} == {"out_of_range"}
    assert [field for field, _ in matrikkel_findings(100_000, 0, None, None)] == [
        "holdingNumber",
        "subHoldingNumber",
    ]


# --- country ----------------------------------------------------------------------------------


def test_country_list_has_every_official_code() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"NO", "SE", "DK", "FI", "SJ", "BV", "GB", "DE", "US"} <= COUNTRY_CODES
    assert "UK" not in COUNTRY_CODES


@pytest.mark.parametrize(("value", "expected"), [
    ("NO", []), ("se", []), ("SJ", []),
    ("UK", ["unknown_code"]), ("XX", ["unknown_code"]),
    ("NOR", ["format"]), ("N", ["format"]), ("", ["format"]),
    ("N0", ["format"]), ("ÅL", ["format"]),
])  # fmt: skip
def test_country(value: str, expected: list[str]) -> None:
    assert codes(country_findings(value)) == expected


# --- e-mail and phone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["ola.normann@test.com", "a@b.no", "post+faktura@firma.example.no", "ÆØÅ@bølgen.no"],
)
def test_email_ok(value: str) -> None:
    assert email_findings(value) == []


@pytest.mark.parametrize(
    "value",
    ["ola.normann", "@test.com", "ola@", "ola@test", "ola@@test.com", "ola@te@st.com",
     "ola normann@test.com", "ola@test.com ", "ola@.", "ola@test."],
)  # fmt: skip
def test_email_format(value: str) -> None:
    assert codes(email_findings(value)) == ["format"]


@pytest.mark.parametrize(
    "value",
    ["40506070", "405 06 070", "+4740506070", "+47 405 06 070", "004740506070", "+46701234567",
     "+1 202 555 0143", "22 22 22 22", "405-06-070"],
)  # fmt: skip
def test_phone_ok(value: str) -> None:
    assert phone_findings(value) == []


@pytest.mark.parametrize(
    "value",
    ["4050607", "405060701", "+47 4050607", "phone", "", "+123456", "+1234567890123456",
     "(+47) 40506070", "４０５０６０７０"],
)  # fmt: skip
def test_phone_format(value: str) -> None:
    assert codes(phone_findings(value)) == ["format"]


# --- technical data ---------------------------------------------------------------------------


def test_phases() -> None:
    assert [phase_findings(v) for v in (1, 2, 3)] == [[], [], []]
    assert codes(phase_findings(0)) == codes(phase_findings(4)) == ["out_of_range"]


def test_voltage() -> None:
    for value in (230, 400, 690, 1000):
        assert voltage_findings(value) == []
    assert codes(voltage_findings(240)) == ["unusual_value"]


def test_fuse() -> None:
    assert fuse_findings(63) == fuse_findings(4000) == []
    for value in (0, -16, 4001):
        assert codes(fuse_findings(value)) == ["out_of_range"]


@pytest.mark.parametrize("value", ["IT", "TT", "TN", "TN-S", "TN-C-S", "TN-C", "tn-c-s", "it"])
def test_earthing_ok(value: str) -> None:
    assert earthing_system_findings(value) == []


@pytest.mark.parametrize("value", ["xxx", "", "TNCS", "TN C S"])
def test_earthing_unknown(value: str) -> None:
    assert codes(earthing_system_findings(value)) == ["unknown_code"]


# --- no check ever raises ---------------------------------------------------------------------


@given(st.text(max_size=30))
def test_text_checks_never_raise(value: str) -> None:
    for check in (
        consumption_code_findings,
        naeringskode_findings,
        residential_number_findings,
        postal_code_findings,
        email_findings,
        phone_findings,
        country_findings,
        earthing_system_findings,
    ):
        for finding in check(value):
            assert finding.code
            assert finding.message.endswith(".")


@given(st.integers(), st.none() | st.integers())
def test_int_checks_never_raise(value: int, other: int | None) -> None:
    building_code_findings(value)
    phase_findings(value)
    voltage_findings(value)
    fuse_findings(value)
    matrikkel_findings(value, other, other, value)
