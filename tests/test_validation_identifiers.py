"""Identifier checks: metering point ids, personal numbers, orgnr, elvirksomhets-ID."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum.no import orgnr as stdnum_orgnr

from tilsyn.validation.findings import Finding
from tilsyn.validation.identifiers import (
    classify_fodselsnummer,
    customer_number_findings,
    el_company_id_findings,
    fodselsnummer_check_digit_pairs,
    fodselsnummer_check_digits,
    fodselsnummer_findings,
    gsrn_check_digit,
    metering_point_findings,
    organisasjonsnummer_findings,
    orgnr_check_digit,
)

TODAY = date(2025, 6, 1)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --- metering point id ------------------------------------------------------------------------


def test_gsrn_check_digit_of_the_seed_example() -> None:
    assert gsrn_check_digit("70705750002639273") == "9"


@pytest.mark.parametrize(
    ("mpid", "expected_digit"),
    [("707057500026392734", "9"), ("707057500012345678", "1")],
)
def test_seed_style_metering_point_ids_fail_the_check_digit(mpid: str, expected_digit: str) -> None:
    findings = metering_point_findings(mpid)
    assert codes(findings) == ["checksum"]
    assert f"expected {expected_digit}" in findings[0].message


@pytest.mark.parametrize(
    "mpid",
    [
        "707057500026392739",
        "707057500053182051",
        "707057500042745649",
        "707057500032174572",
        "707057500088553215",
        "707057500028734308",
    ],
)
def test_real_metering_point_ids_pass(mpid: str) -> None:
    assert metering_point_findings(mpid) == []


def test_foreign_prefix_is_flagged() -> None:
    body = "57357120000000123"
    assert codes(metering_point_findings(body + gsrn_check_digit(body))) == ["unexpected_prefix"]


def test_metering_point_of_wrong_length_is_a_format_finding() -> None:
    assert codes(metering_point_findings("70705750002639273")) == ["format"]


def test_gsrn_check_digit_rejects_bad_bodies() -> None:
    with pytest.raises(ValueError, match="17"):
        gsrn_check_digit("123")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_any_body_with_its_check_digit_passes_the_checksum(body: str) -> None:
    assert "checksum" not in codes(metering_point_findings(body + gsrn_check_digit(body)))


@given(st.text(alphabet="0123456789", min_size=17, max_size=17), st.integers(1, 9))
def test_changing_the_check_digit_fails(body: str, delta: int) -> None:
    wrong = str((int(gsrn_check_digit(body)) + delta) % 10)
    assert "checksum" in codes(metering_point_findings(body + wrong))


# --- fødselsnummer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("15108695088", "fnr"),
        ("31129956715", "fnr"),
        ("57019149104", "d_number"),
    ],
)
def test_documented_valid_numbers(number: str, kind: str) -> None:
    assert classify_fodselsnummer(number) == kind
    assert fodselsnummer_findings(number, today=TODAY) == []


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("13527248013", "h_or_synthetic_nav"),  # H-number
        ("68467038838", "h_or_synthetic_nav"),  # D + H
        ("55507608360", "h_or_synthetic_nav"),  # NAV / Dolly (+40)
        ("10915596784", "synthetic_tenor"),  # Tenor (+80), rejected by python-stdnum
    ],
)
def test_help_and_synthetic_numbers_are_only_flagged_as_synthetic(number: str, kind: str) -> None:
    assert classify_fodselsnummer(number) == kind
    assert codes(fodselsnummer_findings(number, today=TODAY)) == ["synthetic_number"]


def test_tenor_example_has_correct_classic_check_digits() -> None:
    assert fodselsnummer_check_digits("109155967") == "84"


def test_worked_example_from_fnrinfo() -> None:
    assert fodselsnummer_check_digits("311299567") == "15"


def test_seed_customer_number_fails_its_check_digits() -> None:
    """The seed's ``22097312401`` has a real date (22.09.1973) but wrong check digits."""
    assert classify_fodselsnummer("22097312401") == "fnr"
    assert codes(fodselsnummer_findings("22097312401", today=TODAY)) == ["checksum"]
    assert codes(customer_number_findings("22097312401", today=TODAY)) == ["checksum"]


def test_2032_rule_accepts_every_k1_candidate() -> None:
    pairs = fodselsnummer_check_digit_pairs("151086950")
    assert pairs[0] == fodselsnummer_check_digits("151086950") == "88"
    assert len(pairs) >= 3
    for pair in pairs:
        assert fodselsnummer_findings("151086950" + pair, today=TODAY) == []


def test_classic_check_digits_missing_when_k_would_be_ten() -> None:
    """Individnummers whose classic k1 or k2 is 10 are never issued."""
    assert fodselsnummer_check_digits("010130600") is None
    assert fodselsnummer_check_digit_pairs("010130600") == ["09", "17", "25"]


@pytest.mark.parametrize(
    "first9",
    [
        "310286123",  # 31 February
        "001086123",  # day 0
        "151386123",  # month 13
        "152586123",  # month 25: no offset gives it
        "155386123",  # H month 53 -> 13
        "156086123",  # NHN 60 -> -5
        "159386123",  # Tenor 93 -> 13
        "720186123",  # D day 72 -> 32
    ],
)
def test_impossible_dates(first9: str) -> None:
    number = first9 + fodselsnummer_check_digit_pairs(first9)[0]
    assert "invalid_date" in codes(fodselsnummer_findings(number, today=TODAY))
    assert "checksum" not in codes(fodselsnummer_findings(number, today=TODAY))


def test_29_february_in_a_year_ending_00_is_accepted() -> None:
    number = "290200" + "512"
    number += fodselsnummer_check_digit_pairs(number)[0]
    assert fodselsnummer_findings(number, today=TODAY) == []


def test_fh_numbers_have_no_date() -> None:
    first9 = "891399001"  # would be month 13 if it were a date
    number = first9 + fodselsnummer_check_digit_pairs(first9)[0]
    assert classify_fodselsnummer(number) == "fh_number"
    assert fodselsnummer_findings(number, today=TODAY) == []


def test_classic_number_born_after_today_is_flagged_before_2032() -> None:
    first9 = "010130" + "601"  # individnummer 601 with year 30 means 2030
    classic = fodselsnummer_check_digits(first9)
    assert classic is not None
    number = first9 + classic
    assert codes(fodselsnummer_findings(number, today=TODAY)) == ["invalid_date"]
    assert fodselsnummer_findings(number, today=date(2031, 1, 1)) == []
    # From 2032 the century is no longer encoded, so the same number may be someone born 1930.
    assert fodselsnummer_findings(number, today=date(2032, 1, 1)) == []


def test_wrong_length_is_a_format_finding() -> None:
    assert codes(fodselsnummer_findings("1510869508", today=TODAY)) == ["format"]


def test_non_ascii_digits_are_not_digits() -> None:
    assert classify_fodselsnummer("١٥١٠٨٦٩٥٠٨٨") is None
    assert customer_number_findings("١٥١٠٨٦٩٥٠٨٨", today=TODAY) == []


def _individ_for(year: int, draw: int) -> int:
    """An individnummer in the pre-2032 range for the birth year (DOMAIN.md §1.1)."""
    if year < 1900:
        return 500 + draw % 250
    if year < 2000:
        return draw % 500
    return 500 + draw % 500


VARIANTS = {
    "fnr": (0, 0, []),
    "d_number": (40, 0, []),
    "h_or_synthetic_nav": (0, 40, ["synthetic_number"]),
    "synthetic_nhn": (0, 65, ["synthetic_number"]),
    "synthetic_tenor": (0, 80, ["synthetic_number"]),
    "d_plus_h": (40, 40, ["synthetic_number"]),
    "d_plus_t": (40, 80, ["synthetic_number"]),
}


@given(
    born=st.dates(min_value=date(1854, 1, 1), max_value=TODAY),
    draw=st.integers(0, 999),
    variant=st.sampled_from(sorted(VARIANTS)),
    pair_index=st.integers(0, 3),
)
def test_generated_valid_numbers_pass(born: date, draw: int, variant: str, pair_index: int) -> None:
    if born.year < 1900:
        assume(born.year % 100 >= 54)
    day_offset, month_offset, expected = VARIANTS[variant]
    first9 = (
        f"{born.day + day_offset:02d}{born.month + month_offset:02d}{born.year % 100:02d}"
        f"{_individ_for(born.year, draw):03d}"
    )
    pairs = fodselsnummer_check_digit_pairs(first9)
    assume(pairs)
    number = first9 + pairs[pair_index % len(pairs)]
    assert codes(fodselsnummer_findings(number, today=TODAY)) == expected


@given(
    born=st.dates(min_value=date(1940, 1, 1), max_value=date(1999, 12, 31)),
    individ=st.integers(0, 499),
    delta=st.integers(1, 9),
)
def test_changing_k2_fails(born: date, individ: int, delta: int) -> None:
    first9 = born.strftime("%d%m%y") + f"{individ:03d}"
    pairs = fodselsnummer_check_digit_pairs(first9)
    assume(pairs)
    k1, k2 = pairs[0][0], pairs[0][1]
    number = first9 + k1 + str((int(k2) + delta) % 10)
    assert "checksum" in codes(fodselsnummer_findings(number, today=TODAY))


@given(
    number=st.text(alphabet="0123456789", min_size=11, max_size=11),
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
)
def test_personal_number_messages_never_contain_the_number(number: str, today: date) -> None:
    for finding in fodselsnummer_findings(number, today=today) + customer_number_findings(
        number, today=today
    ):
        assert number not in finding.message
        assert not any(c.isdigit() for c in finding.message)


@given(st.text(max_size=20), st.dates())
def test_customer_number_findings_never_raise(number: str, today: date) -> None:
    customer_number_findings(number, today=today)


# --- organisasjonsnummer ----------------------------------------------------------------------


@pytest.mark.parametrize("number", ["988077917", "123456785", "974760673"])
def test_valid_orgnr(number: str) -> None:
    assert organisasjonsnummer_findings(number) == []
    assert customer_number_findings(number, today=TODAY) == []


def test_seed_orgnr_fails() -> None:
    findings = organisasjonsnummer_findings("951123123")
    assert codes(findings) == ["checksum"]
    assert "expected check digit 9" in findings[0].message


def test_orgnr_whose_check_digit_would_be_ten() -> None:
    first8 = next(
        f"{n:08d}" for n in range(10_000_000, 10_001_000) if orgnr_check_digit(f"{n:08d}") is None
    )
    assert codes(organisasjonsnummer_findings(first8 + "0")) == ["checksum"]


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_orgnr_check_digit_agrees_with_stdnum(first8: str) -> None:
    check = orgnr_check_digit(first8)
    for digit in "0123456789":
        number = first8 + digit
        assert stdnum_orgnr.is_valid(number) == (str(check) == digit)
        assert (organisasjonsnummer_findings(number) == []) == (str(check) == digit)


def test_other_customer_identifiers_pass() -> None:
    for number in ("1234567", "KUNDE-42", "", "123456789012"):
        assert customer_number_findings(number, today=TODAY) == []


# --- elvirksomhets-ID -------------------------------------------------------------------------


def test_el_company_id() -> None:
    assert el_company_id_findings(12345) == []
    assert codes(el_company_id_findings(0)) == ["not_positive"]
    assert codes(el_company_id_findings(-5)) == ["not_positive"]
    assert codes(el_company_id_findings(988077917)) == ["looks_like_orgnr"]
    assert el_company_id_findings(988077918) == []
    assert el_company_id_findings(1_234_567_890) == []
