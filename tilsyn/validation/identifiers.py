"""Plausibility checks for the identifiers tilsyn keys on (DOMAIN.md §1–3, §9).

Callers have already checked the shape (digits and length) and decide whether a finding is a
warning or, in strict mode, an error. Nothing here does I/O.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Final, Literal

from stdnum import ean
from stdnum.no import orgnr as _orgnr

from tilsyn.validation.findings import Finding

__all__ = [
    "NORWEGIAN_GSRN_PREFIX",
    "FodselsnummerKind",
    "classify_fodselsnummer",
    "customer_number_findings",
    "el_company_id_findings",
    "fodselsnummer_check_digit_pairs",
    "fodselsnummer_check_digits",
    "fodselsnummer_findings",
    "gsrn_check_digit",
    "is_personal_number",
    "is_valid_orgnr",
    "metering_point_findings",
    "organisasjonsnummer_findings",
    "orgnr_check_digit",
]

FodselsnummerKind = Literal[
    "fnr", "d_number", "h_or_synthetic_nav", "synthetic_tenor", "synthetic_nhn", "fh_number"
]

NORWEGIAN_GSRN_PREFIX: Final = "707057"
"""GS1 Norway (70) energy-sector prefix shared by Norwegian metering point ids."""

_DIGITS: Final = frozenset("0123456789")
_K1_WEIGHTS: Final = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS: Final = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORGNR_WEIGHTS: Final = (3, 2, 7, 6, 5, 4, 3, 2)
_MONTH_OFFSETS: Final[dict[str, int]] = {
    "h_or_synthetic_nav": 40,
    "synthetic_nhn": 65,
    "synthetic_tenor": 80,
}
_NEW_SCHEME_START: Final = date(2032, 1, 1)
"""From this day personal numbers may use the extra k1 values, and the century is not encoded."""

_SYNTHETIC_MESSAGES: Final[dict[str, str]] = {
    "h_or_synthetic_nav": (
        "The personal number is an H-number (help number) or a synthetic NAV/Dolly test "
        "number, not a national identity number."
    ),
    "synthetic_tenor": "The personal number is a synthetic test number (Skatteetaten Tenor).",
    "synthetic_nhn": "The personal number is a synthetic test number (Norsk helsenett).",
}


def _is_digits(value: str, length: int) -> bool:
    """ASCII digits only: ``str.isdigit`` would also accept other scripts' digits."""
    return len(value) == length and set(value) <= _DIGITS


# --- Metering point id (GS1 GSRN) -----------------------------------------------------------


def gsrn_check_digit(body17: str) -> str:
    """The GS1 mod-10 check digit for the first 17 digits of a metering point id (§3.2)."""
    if not _is_digits(body17, 17):
        raise ValueError("a GSRN body is exactly 17 ASCII digits")
    return str(ean.calc_check_digit(body17))


def metering_point_findings(mpid: str) -> list[Finding]:
    """Check digit and Norwegian prefix; both only warnings since the seed's own example fails."""
    if not _is_digits(mpid, 18):
        return [Finding("format", "A metering point id must be exactly 18 digits.")]
    findings: list[Finding] = []
    expected = gsrn_check_digit(mpid[:17])
    if mpid[17] != expected:
        findings.append(
            Finding(
                "checksum",
                f"The GS1 check digit of the metering point id is {mpid[17]}, expected {expected}.",
            )
        )
    if not mpid.startswith(NORWEGIAN_GSRN_PREFIX):
        findings.append(
            Finding(
                "unexpected_prefix",
                f"Norwegian metering point ids start with {NORWEGIAN_GSRN_PREFIX}.",
            )
        )
    return findings


# --- Fødselsnummer, D-, H-, FH- and synthetic numbers ---------------------------------------


_MONTH_OFFSET_KINDS: tuple[tuple[int, FodselsnummerKind | None], ...] = (
    (8, "synthetic_tenor"),
    (6, "synthetic_nhn"),
    (4, "h_or_synthetic_nav"),
    (2, None),  # months 20-39: no kind uses that offset
)
"""The month digit's offsets, highest first: the first one reached names the kind."""


def classify_fodselsnummer(number: str) -> FodselsnummerKind | None:
    """The kind of personal number from its date offsets, or None if no kind fits.

    A synthetic month offset wins over the D-number day offset (D+H and D+T are reported as
    synthetic, the more important fact). H-numbers and NAV/Dolly synthetic numbers share the
    +40 month offset and cannot be told apart.
    """
    if not _is_digits(number, 11):
        return None
    first, month_digit = int(number[0]), int(number[2])
    if first >= 8:
        return "fh_number"
    for lowest, kind in _MONTH_OFFSET_KINDS:
        if month_digit >= lowest:
            return kind
    return "d_number" if first >= 4 else "fnr"


def fodselsnummer_check_digit_pairs(first9: str) -> list[str]:
    """Every valid ``k1 k2`` pair for nine digits under the 2032 rule, classic one first.

    From 2032 k1 may leave a remainder of 0–3 (up to four candidates); a candidate of 10 is
    never used. k2 follows from the chosen k1 by the classic rule and is never 10 either.
    """
    if not _is_digits(first9, 9):
        raise ValueError("expected exactly nine ASCII digits")
    digits = [int(c) for c in first9]
    s1 = sum(w * d for w, d in zip(_K1_WEIGHTS, digits, strict=True))
    pairs: list[str] = []
    for remainder in range(4):
        k1 = (remainder - s1) % 11
        if k1 == 10:
            continue
        s2 = sum(w * d for w, d in zip(_K2_WEIGHTS, [*digits, k1], strict=True))
        k2 = (-s2) % 11
        if k2 != 10:
            pairs.append(f"{k1}{k2}")
    return pairs


def fodselsnummer_check_digits(first9: str) -> str | None:
    """The classic (pre-2032) ``k1 k2`` for nine digits, or None if that individnummer is unused."""
    pairs = fodselsnummer_check_digit_pairs(first9)
    return pairs[0] if pairs and _uses_classic_k1(first9 + pairs[0]) else None


def _checksum_ok(number: str) -> bool:
    return number[9:] in fodselsnummer_check_digit_pairs(number[:9])


def _uses_classic_k1(number: str) -> bool:
    digits = [int(c) for c in number[:10]]
    return sum(w * d for w, d in zip((*_K1_WEIGHTS, 1), digits, strict=True)) % 11 == 0


def _date_parts(number: str, kind: FodselsnummerKind) -> tuple[int, int, int]:
    """(day, month, two-digit year) with the D-number and synthetic offsets removed."""
    day = int(number[0:2])
    if day > 40:
        day -= 40
    month = int(number[2:4]) - _MONTH_OFFSETS.get(kind, 0)
    return day, month, int(number[4:6])


def _is_real_date(day: int, month: int, year2: int) -> bool:
    """Lenient about the century, which numbers issued from 2032 no longer encode.

    Only 29 February in a year ending in 00 depends on it (1900 no, 2000 yes): accept it.
    """
    if not 1 <= month <= 12 or day < 1:
        return False
    longest = max(calendar.monthrange(century + year2, month)[1] for century in (1900, 2000))
    return day <= longest


def _classic_century(individ: int, year2: int) -> int | None:
    """The century the pre-2032 individnummer ranges give (§1.1), or None if none does."""
    if individ <= 499:
        return 1900
    if individ <= 749 and year2 >= 54:
        return 1800
    if year2 < 40:
        return 2000
    if individ >= 900:
        return 1900
    return None


def _born_in_the_future(number: str, kind: FodselsnummerKind, *, today: date) -> bool:
    """True only where the number cannot exist yet: a classic fødselsnummer before 2032.

    Synthetic, D-, H- and FH-numbers and numbers using the 2032 k1 values are never judged,
    since their century is not reliable.
    """
    if kind != "fnr" or today >= _NEW_SCHEME_START or not _uses_classic_k1(number):
        return False
    day, month, year2 = _date_parts(number, kind)
    century = _classic_century(int(number[6:9]), year2)
    if century is None:
        return False
    try:
        born = date(century + year2, month, day)
    except ValueError:
        return False
    return born > today


def fodselsnummer_findings(number: str, *, today: date) -> list[Finding]:
    """Check digits (with the 2032 k1 rule), the date part and whether it is a test number.

    Deliberately more lenient than ``stdnum.no.fodselsnummer`` (DOMAIN.md §1.4): Tenor and
    Norsk helsenett synthetic numbers and the 2032 k1 values are accepted. ``today`` only
    matters before 2032, when a classic number with a birth date after today cannot exist.
    Messages never contain the number or any digit of it.
    """
    if not _is_digits(number, 11):
        return [Finding("format", "A personal number must be exactly eleven digits.")]
    findings: list[Finding] = []
    if not _checksum_ok(number):
        findings.append(Finding("checksum", "The check digits of the personal number are wrong."))
    kind = classify_fodselsnummer(number)
    if kind is None:
        findings.append(
            Finding("invalid_date", "The personal number does not encode a real birth date.")
        )
    elif kind != "fh_number":
        if not _is_real_date(*_date_parts(number, kind)):
            findings.append(
                Finding("invalid_date", "The personal number does not encode a real birth date.")
            )
        elif _born_in_the_future(number, kind, today=today):
            findings.append(
                Finding(
                    "invalid_date",
                    "The birth date encoded in the personal number lies in the future.",
                )
            )
    if kind in _SYNTHETIC_MESSAGES:
        findings.append(Finding("synthetic_number", _SYNTHETIC_MESSAGES[kind]))
    return findings


def is_personal_number(number: str, *, today: date) -> bool:
    """Eleven digits that pass every personal-number check (synthetic numbers included)."""
    return not [
        f for f in fodselsnummer_findings(number, today=today) if f.code != "synthetic_number"
    ]


# --- Organisasjonsnummer ---------------------------------------------------------------------


def orgnr_check_digit(first8: str) -> int | None:
    """The mod-11 check digit for eight digits, or None where it would be 10 (never issued)."""
    if not _is_digits(first8, 8):
        raise ValueError("expected exactly eight ASCII digits")
    check = (-sum(w * int(c) for w, c in zip(_ORGNR_WEIGHTS, first8, strict=True))) % 11
    return None if check == 10 else check


def is_valid_orgnr(number: str) -> bool:
    """Nine ASCII digits with a correct mod-11 check digit (python-stdnum's rule)."""
    return _is_digits(number, 9) and bool(_orgnr.is_valid(number))


def organisasjonsnummer_findings(number: str) -> list[Finding]:
    """The mod-11 check digit of an organisation number (DOMAIN.md §2)."""
    if not _is_digits(number, 9):
        return [Finding("format", "An organisation number must be exactly 9 digits.")]
    if is_valid_orgnr(number):
        return []
    expected = orgnr_check_digit(number[:8])
    detail = (
        "no check digit fits its first eight digits, so it is never issued"
        if expected is None
        else f"expected check digit {expected}"
    )
    return [Finding("checksum", f"The organisation number's check digit is wrong ({detail}).")]


# --- Customer number and elvirksomhets-ID ----------------------------------------------------


def customer_number_findings(number: str, *, today: date) -> list[Finding]:
    """Personal-number rules for 11 digits, orgnr rules for 9; other agreed ids pass."""
    if _is_digits(number, 11):
        return fodselsnummer_findings(number, today=today)
    if _is_digits(number, 9):
        return organisasjonsnummer_findings(number)
    return []


def el_company_id_findings(value: int) -> list[Finding]:
    """DSB's elvirksomhets-ID is an opaque positive integer; an orgnr there is a common mix-up."""
    if value <= 0:
        return [Finding("not_positive", "An electrical company id must be a positive integer.")]
    if 100_000_000 <= value <= 999_999_999 and is_valid_orgnr(str(value)):
        return [
            Finding(
                "looks_like_orgnr",
                "This looks like an organisation number; send the id from DSB's "
                "elvirksomhetsregister instead.",
            )
        ]
    return []
