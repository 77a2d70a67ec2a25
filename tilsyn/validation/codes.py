"""Plausibility checks for code lists and free-form contact and address fields.

Every check returns findings (empty means fine); the caller attaches the field path and decides
between warning and error (DOMAIN.md §12). No I/O: the lists are embedded.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from stdnum.eu import nace

from tilsyn.validation.findings import Finding

__all__ = [
    "BUILDING_CODES",
    "CONSUMPTION_CODES",
    "CONSUMPTION_CODE_NAMES",
    "COUNTRY_CODES",
    "EARTHING_SYSTEMS",
    "USUAL_VOLTAGES",
    "building_code_findings",
    "consumption_code_findings",
    "country_findings",
    "earthing_system_findings",
    "email_findings",
    "fuse_findings",
    "is_postal_code",
    "matrikkel_findings",
    "naeringskode_findings",
    "phase_findings",
    "phone_findings",
    "postal_code_findings",
    "residential_number_findings",
    "voltage_findings",
]

# --- Forbrukskode (Elhub consumption code, DOMAIN.md §4.1) -----------------------------------

CONSUMPTION_CODE_NAMES: Final[dict[str, str]] = {
    "1": "Jordbruk, skogbruk og fiske",
    "1a": "Herav drivhus og veksthus",
    "2": "Bergverksdrift",
    "3": "Utvinning av råolje og naturgass",
    "4": "Tjenester tilknyttet utvinning av råolje og naturgass",
    "5": "Produksjon av papirmasse, papir og papp",
    "6": "Produksjon av kjemiske råvarer",
    "7": "Produksjon av jern og stål",
    "8": "Produksjon av ferrolegeringer",
    "9": "Produksjon av primæraluminium",
    "10": "Produksjon av andre ikke-jernholdige metaller",
    "11": "Næringsmiddelindustri",
    "12": "Raffinerier",
    "13": "Annen industri",
    "14": "Produksjon, overføring, distribusjon og handel med elektrisitet",
    "15": "Produksjon og distribusjon av gass gjennom ledningsnettet",
    "16": "Fjernvarme",
    "17": "Vannforsyning, avløps- og renovasjonsvirksomhet",
    "18": "Bygg og anleggsvirksomhet",
    "19": "Varehandel, reparasjon av motorvogner",
    "20": "Jernbane, sporveis- og forstadsbane",
    "21": "Annen transport og lagring",
    "22": "Post- og distribusjonsvirksomhet",
    "23": "Overnattings- og serveringsvirksomhet",
    "24": "Informasjon og kommunikasjon",
    "25": "Finansiell tjenesteyting, forsikring og pensjonskasser",
    "26": "Omsetning og drift av fast eiendom",
    "27": "Faglig, vitenskapelig og teknisk tjenesteyting",
    "28": "Forretningsmessig tjenesteyting",
    "29": "Offentlig administrasjon og forsvar",
    "29a": "Herav gate- og veilys",
    "30": "Undervisning",
    "31": "Helse- og sosialtjenester",
    "32": "Kunstnerisk virksomhet, bibliotek mv, sport og fritid",
    "33": "Aktiviteter i medlemsorganisasjoner",
    "34": "Tjenesteyting ellers",
    "35": "Husholdninger",
    "36": "Hytter og fritidshus",
}
"""Elhub's sluttbrukergruppe names (https://dok.elhub.no/Elhubstandard/consumption-code)."""

CONSUMPTION_CODES: Final[frozenset[str]] = frozenset(CONSUMPTION_CODE_NAMES)


def consumption_code_findings(code: str) -> list[Finding]:
    """A code outside Elhub's list is only a warning: Elhub itself does not validate it."""
    if code.strip().lower() in CONSUMPTION_CODES:
        return []
    return [
        Finding(
            "unknown_code",
            "The consumption code is not in Elhub's list (1, 1a, 2–29, 29a, 30–36).",
        )
    ]


# --- Næringskode (SN2007, DOMAIN.md §4.2) ----------------------------------------------------

_NAERINGSKODE: Final = re.compile(r"[0-9]{2}\.[0-9]{3}")


@functools.cache
def _in_nace_rev2(group: str) -> bool:
    """python-stdnum 2 checks NACE Rev. 2.1 unless told otherwise; SN2007 is Rev. 2 (1.x
    knows only Rev. 2 and takes no ``revision``). Remembered per group (at most 10,000 of
    the form dd.dd): stdnum's look-up costs 20 us, a tenth of checking a whole plant."""
    try:
        return bool(nace.is_valid(group, revision="2.0"))
    except TypeError:
        return bool(nace.is_valid(group))


def naeringskode_findings(code: str) -> list[Finding]:
    """Only the full SN2007 undergruppe form ``dd.ddd`` is used on metering points.

    SN2007's first four levels are NACE Rev. 2, so ``dd.dd`` is checked against python-stdnum's
    copy of the EU's list rather than a hand-typed one; the fifth level is SSB's own.
    """
    if not _NAERINGSKODE.fullmatch(code):
        return [
            Finding(
                "format",
                "An industrial classification (næringskode) has the SN2007 form dd.ddd, "
                "such as 55.102.",
            )
        ]
    if _in_nace_rev2(code[:5]):
        return []
    return [
        Finding(
            "unknown_code",
            f"The næringsgruppe {code[:5]} is not in SN2007 (NACE Rev. 2); check the code.",
        )
    ]


# --- Bygningstype (Matrikkel / SSB building type, DOMAIN.md §5) -----------------------------

BUILDING_CODES: Final[frozenset[int]] = frozenset(
    {
        # 1 Bolig
        111, 112, 113, 121, 122, 123, 124, 131, 133, 135, 136,
        141, 142, 143, 144, 145, 146, 151, 152, 159, 161, 162, 163,
        171, 172, 181, 182, 183, 193, 199,
        # 2 Industri og lager
        211, 212, 214, 216, 219, 221, 223, 229, 231, 232, 233, 239,
        241, 243, 244, 245, 248, 249,
        # 3 Kontor og forretning
        311, 312, 313, 319, 321, 322, 323, 329, 330,
        # 4 Samferdsel og kommunikasjon
        411, 412, 415, 416, 419, 429, 431, 439, 441, 449,
        # 5 Hotell og restaurant
        511, 512, 519, 521, 522, 523, 524, 529, 531, 532, 533, 539,
        # 6 Kultur og forskning
        611, 612, 613, 614, 615, 616, 619, 621, 623, 629,
        641, 642, 643, 649, 651, 652, 653, 654, 655, 659,
        661, 662, 663, 669, 671, 672, 673, 674, 675, 679,
        # 7 Helse
        719, 721, 722, 723, 729, 731, 732, 739,
        # 8 Fengsel, beredskap m.m.
        819, 821, 822, 823, 824, 825, 829, 830, 840,
        # SOSI additions and "Ukjent bygningstype"
        956, 970, 999,
    }
)  # fmt: skip
"""Matrikkel building types; 114 is deliberately absent (it is a SEFRAK code)."""


def building_code_findings(code: int) -> list[Finding]:
    """Three digits, and a warning for codes outside the Matrikkel list (such as 114)."""
    if not 100 <= code <= 999:
        return [Finding("format", "A building code (bygningstype) has three digits.")]
    if code not in BUILDING_CODES:
        return [
            Finding(
                "unknown_code",
                "The building code is not in the Matrikkel list of building types.",
            )
        ]
    return []


# --- Addresses: bruksenhetsnummer, postnummer, matrikkel numbers, country -------------------

_RESIDENTIAL: Final = re.compile(r"[HKLU][0-9]{4}")


def residential_number_findings(value: str) -> list[Finding]:
    """Bruksenhetsnummer: H/U/K/L, two digits floor, two digits unit (DOMAIN.md §6)."""
    upper = value.upper()
    if not _RESIDENTIAL.fullmatch(upper):
        hint = ""
        if upper[:1] in {"H", "K", "L", "U"} and _RESIDENTIAL.fullmatch(
            upper[0] + upper[1:].replace("O", "0")
        ):
            hint = " It seems to use the letter O in place of a zero."
        return [
            Finding(
                "format",
                "A dwelling unit number (bruksenhetsnummer) is H, U, K or L followed by "
                f"four digits, such as H0101.{hint}",
            )
        ]
    if upper[1:3] == "00" or upper[3:5] == "00":
        return [
            Finding(
                "suspicious_value",
                "Floor 00 or unit 00 does not occur in a dwelling unit number; floors and "
                "units are counted from 01.",
            )
        ]
    return []


_POSTAL_CODE: Final = re.compile(r"[0-9]{4}")


def is_postal_code(value: str) -> bool:
    return bool(_POSTAL_CODE.fullmatch(value))


def postal_code_findings(value: str) -> list[Finding]:
    """Norwegian postal codes are four digits kept as text, leading zeros included."""
    if _POSTAL_CODE.fullmatch(value):
        return []
    return [Finding("format", "A Norwegian postal code is exactly four digits, such as 0150.")]


_MATRIKKEL_RANGES: Final[tuple[tuple[str, str, int, int], ...]] = (
    ("holdingNumber", "gårdsnummer", 1, 99_999),
    ("subHoldingNumber", "bruksnummer", 1, 9_999),
    ("leaseNumber", "festenummer", 0, 9_999),
    ("sectionNumber", "seksjonsnummer", 0, 999),
)


def matrikkel_findings(
    holding: int | None,
    sub_holding: int | None,
    lease: int | None,
    section: int | None,
) -> list[tuple[str, Finding]]:
    """Field-length limits of the Matrikkel (DOMAIN.md §7); None means not sent."""
    findings: list[tuple[str, Finding]] = []
    for value, (field, name, low, high) in zip(
        (holding, sub_holding, lease, section), _MATRIKKEL_RANGES, strict=True
    ):
        if value is not None and not low <= value <= high:
            findings.append(
                (field, Finding("out_of_range", f"The {name} must be between {low} and {high}."))
            )
    return findings


_ISO_3166_ALPHA2: Final = """
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
        BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
        BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN
        CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
        EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF
        GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
        HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM
        JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
        LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
        ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
        NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG
        PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
        SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS
        ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
        TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
        VN VU WF WS YE YT ZA ZM ZW
"""

COUNTRY_CODES: Final[frozenset[str]] = frozenset(_ISO_3166_ALPHA2.split())
"""The 249 officially assigned ISO 3166-1 alpha-2 codes."""

_TWO_LETTERS: Final = re.compile(r"[A-Za-z]{2}")


def country_findings(value: str) -> list[Finding]:
    """ISO 3166-1 alpha-2, compared upper-cased."""
    if not _TWO_LETTERS.fullmatch(value):
        return [Finding("format", "A country is a two-letter ISO 3166-1 code, such as NO.")]
    if value.upper() not in COUNTRY_CODES:
        return [Finding("unknown_code", "The country code is not an ISO 3166-1 alpha-2 code.")]
    return []


# --- Contact details -------------------------------------------------------------------------


def email_findings(value: str) -> list[Finding]:
    """Catches obvious typos only; real validation is sending a mail."""
    local, at, domain = value.partition("@")
    ok = (
        bool(at)
        and bool(local)
        and "@" not in domain
        and "." in domain.strip(".")
        and not any(c.isspace() for c in value)
    )
    if ok:
        return []
    return [Finding("format", "The e-mail address does not look like name@domain.tld.")]


_PHONE_SEPARATORS: Final = re.compile(r"[\s\-]")
_NORWEGIAN_PHONE: Final = re.compile(r"(?:\+47|0047)?[0-9]{8}")
_INTERNATIONAL_PHONE: Final = re.compile(r"(?:\+|00)[0-9]{7,15}")


def phone_findings(value: str) -> list[Finding]:
    """Norwegian numbers have 8 digits (after an optional +47/0047); others 7–15 after +."""
    compact = _PHONE_SEPARATORS.sub("", value)
    if _NORWEGIAN_PHONE.fullmatch(compact):
        return []
    if _INTERNATIONAL_PHONE.fullmatch(compact) and not compact.startswith(("+47", "0047")):
        return []
    return [
        Finding(
            "format",
            "A phone number is eight digits, optionally after +47, or an international "
            "number starting with +.",
        )
    ]


# --- Technical data (DOMAIN.md §11.3, §12 rows 29–34) ----------------------------------------

USUAL_VOLTAGES: Final[frozenset[int]] = frozenset({230, 400, 690, 1000})
EARTHING_SYSTEMS: Final[frozenset[str]] = frozenset({"IT", "TT", "TN", "TN-S", "TN-C-S", "TN-C"})
_MAX_FUSE_AMPS: Final = 4000


def phase_findings(value: int) -> list[Finding]:
    """Installations have one, two (IT/TT 230 V) or three phases."""
    if value in {1, 2, 3}:
        return []
    return [Finding("out_of_range", "The number of phases must be 1, 2 or 3.")]


def voltage_findings(value: int) -> list[Finding]:
    """230/400 V for most sites, 690/1000 V for industry; anything else is unusual."""
    if value in USUAL_VOLTAGES:
        return []
    return [Finding("unusual_value", "The system voltage is usually 230, 400, 690 or 1000 V.")]


def fuse_findings(value: int) -> list[Finding]:
    """A fuse rating in amperes: positive, and above 4000 A it is probably a unit mistake."""
    if 0 < value <= _MAX_FUSE_AMPS:
        return []
    return [Finding("out_of_range", f"A fuse rating must be between 1 and {_MAX_FUSE_AMPS} A.")]


def earthing_system_findings(value: str) -> list[Finding]:
    """The earthing systems FEL § 10 / NEK 400 allow, compared upper-cased."""
    if value.strip().upper() in EARTHING_SYSTEMS:
        return []
    return [
        Finding(
            "unknown_code",
            "The earthing system must be one of IT, TT, TN, TN-S, TN-C-S or TN-C.",
        )
    ]
