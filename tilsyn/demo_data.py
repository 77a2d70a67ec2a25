"""Realistic, valid demo customers and plants in the seed's import formats.

Used by ``tilsyn demo``, ``tilsyn demo-data`` and the benchmarks. Pure and streaming: both
generators keep O(1) state (no list of what they produced), so a million plants can be fed
to an importer without holding them. The same ``seed`` always gives the same records.

Every record passes ``tilsyn.validation`` without findings: personal numbers and orgnrs have
correct check digits, metering point ids a correct GS1 check digit, codes come from the
official lists, and coordinates lie in mainland Norway near a real town.

Choices worth knowing:

- Households and cabins (forbrukskode 35/36) get næringskode ``98.200`` ("Udifferensiert
  tjenesteytende virksomhet i private husholdninger for egen bruk"), the SN2007 undergruppe
  closest to private consumption; the derivation rules key on the consumption code anyway.
- ``mainCircuitBreakerCurrent`` repeats the system voltage, since the seed documents it as
  "Spenning hovedsikring" (its example sends 230). ``overLoadAmps`` equals the main fuse and
  the short-circuit protection is two standard sizes above it. ``connectionType`` (the seed's
  "Fordelingssystem") is written as e.g. ``"IT 230 V"``.
- Grid hierarchy: a net station per 100 plants holding two transformers (50 plants each), a
  connection point per about 5 plants; consecutive plants share them, and a connection point
  never spans two transformers.
- The generated fødselsnumre are valid and therefore may belong to real people (never with
  their names). For public demos pass ``synthetic_ids=True`` to get Skatteetaten Tenor test
  numbers (month + 80) instead; those carry the ``synthetic_number`` warning by design.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import Any, Final, Literal

from tilsyn.validation.identifiers import (
    fodselsnummer_check_digits,
    gsrn_check_digit,
    orgnr_check_digit,
)

__all__ = ["MAX_CUSTOMERS", "MAX_PLANTS", "TOWNS", "Town", "generate_customers", "generate_plants"]

MAX_PLANTS: Final = 10_000_000
"""Metering point ids are ``7070575000`` + a 7-digit serial + check digit."""
MAX_CUSTOMERS: Final = 10_000_000
"""Well below the number of valid fødselsnumre for 1930–2005 (about 11 million)."""


@dataclass(frozen=True, slots=True)
class Town:
    postal_code: str
    name: str
    latitude: float
    longitude: float
    weight: int
    """Roughly relative population, so Oslo gets more customers than Vadsø."""


TOWNS: Final[tuple[Town, ...]] = (
    Town("0150", "Oslo", 59.9094, 10.7460, 30),
    Town("0484", "Oslo", 59.9470, 10.7680, 25),
    Town("1337", "Sandvika", 59.8900, 10.5250, 10),
    Town("1440", "Drøbak", 59.6630, 10.6300, 3),
    Town("1530", "Moss", 59.4340, 10.6580, 5),
    Town("1606", "Fredrikstad", 59.2180, 10.9300, 8),
    Town("1710", "Sarpsborg", 59.2840, 11.1090, 6),
    Town("2000", "Lillestrøm", 59.9560, 11.0500, 8),
    Town("2040", "Kløfta", 60.0740, 11.1380, 3),
    Town("2211", "Kongsvinger", 60.1900, 11.9980, 3),
    Town("2317", "Hamar", 60.7950, 11.0680, 5),
    Town("2609", "Lillehammer", 61.1150, 10.4660, 4),
    Town("2815", "Gjøvik", 60.7950, 10.6910, 4),
    Town("3015", "Drammen", 59.7440, 10.2040, 9),
    Town("3110", "Tønsberg", 59.2670, 10.4070, 5),
    Town("3210", "Sandefjord", 59.1310, 10.2160, 5),
    Town("3510", "Hønefoss", 60.1680, 10.2560, 3),
    Town("3616", "Kongsberg", 59.6680, 9.6500, 3),
    Town("3724", "Skien", 59.2090, 9.6090, 5),
    Town("3921", "Porsgrunn", 59.1400, 9.6560, 4),
    Town("4006", "Stavanger", 58.9700, 5.7330, 12),
    Town("4306", "Sandnes", 58.8520, 5.7360, 7),
    Town("4400", "Flekkefjord", 58.2970, 6.6610, 2),
    Town("4611", "Kristiansand S", 58.1460, 7.9950, 10),
    Town("4836", "Arendal", 58.4610, 8.7720, 4),
    Town("5003", "Bergen", 60.3930, 5.3240, 25),
    Town("5527", "Haugesund", 59.4130, 5.2680, 4),
    Town("5700", "Voss", 60.6280, 6.4180, 2),
    Town("6004", "Ålesund", 62.4720, 6.1540, 5),
    Town("6100", "Volda", 62.1470, 6.0700, 2),
    Town("6413", "Molde", 62.7370, 7.1600, 3),
    Town("6509", "Kristiansund N", 63.1100, 7.7280, 3),
    Town("6800", "Førde", 61.4520, 5.8570, 2),
    Town("7011", "Trondheim", 63.4300, 10.3950, 18),
    Town("7374", "Røros", 62.5740, 11.3850, 1),
    Town("7500", "Stjørdal", 63.4690, 10.9180, 3),
    Town("7713", "Steinkjer", 64.0140, 11.4950, 2),
    Town("8006", "Bodø", 67.2800, 14.4050, 5),
    Town("8300", "Svolvær", 68.2340, 14.5680, 1),
    Town("8514", "Narvik", 68.4380, 17.4270, 2),
    Town("8610", "Mo i Rana", 66.3130, 14.1420, 2),
    Town("8800", "Sandnessjøen", 66.0210, 12.6310, 1),
    Town("9008", "Tromsø", 69.6490, 18.9550, 7),
    Town("9405", "Harstad", 68.7990, 16.5410, 2),
    Town("9510", "Alta", 69.9680, 23.2720, 2),
    Town("9600", "Hammerfest", 70.6630, 23.6820, 1),
    Town("9800", "Vadsø", 70.0740, 29.7500, 1),
    Town("9900", "Kirkenes", 69.7270, 30.0450, 1),
)
_TOWN_CUM_WEIGHTS: Final = tuple(accumulate(t.weight for t in TOWNS))

_MALE_NAMES: Final = (
    "Jan", "Per", "Bjørn", "Ole", "Lars", "Kjell", "Knut", "Arne", "Svein", "Thomas",
    "Hans", "Geir", "Tor", "Morten", "Terje", "Odd", "Erik", "Martin", "Andreas", "John",
    "Anders", "Rune", "Trond", "Tore", "Jon", "Harald", "Magnus", "Kristian", "Daniel",
    "Espen", "Jonas", "Henrik", "Sindre", "Eirik", "Håkon", "Sigurd", "Emil", "Mathias",
    "Ola", "Nils", "Stian", "Øyvind", "Gunnar", "Einar", "Ali", "Mohammad", "Piotr",
)  # fmt: skip
_FEMALE_NAMES: Final = (
    "Anne", "Inger", "Kari", "Marit", "Ingrid", "Liv", "Eva", "Berit", "Astrid", "Bjørg",
    "Hilde", "Anna", "Solveig", "Marianne", "Randi", "Ida", "Nina", "Maria", "Elisabeth",
    "Kristin", "Silje", "Ingeborg", "Tone", "Hanne", "Heidi", "Camilla", "Ragnhild", "Grete",
    "Julie", "Nora", "Emma", "Sara", "Thea", "Ingvild", "Guro", "Sigrid", "Tuva", "Åse",
    "Synnøve", "Kjersti", "Mette", "Unni", "Fatima", "Agnieszka",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Henriksen", "Lund",
    "Halvorsen", "Sørensen", "Jakobsen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg",
    "Svendsen", "Eide", "Knutsen", "Martinsen", "Paulsen", "Bakken", "Kristoffersen",
    "Mathisen", "Lie", "Amundsen", "Nguyen", "Rasmussen", "Lunde", "Solheim", "Berntsen",
    "Moe", "Bakke", "Holm", "Aasen", "Myhre", "Sæther", "Hauge", "Fredriksen", "Ødegård",
    "Vik", "Nygård", "Aune", "Tveit", "Brekke", "Kvam", "Rønning", "Fossum", "Ahmed",
)  # fmt: skip
_STREETS: Final = (
    "Storgata", "Kirkegata", "Kirkeveien", "Skolegata", "Skoleveien", "Bjørkeveien",
    "Granveien", "Furuveien", "Solbakken", "Fjordveien", "Havnegata", "Parkveien",
    "Industriveien", "Stasjonsveien", "Elvegata", "Bakkeveien", "Myrveien", "Løkkeveien",
    "Åsveien", "Strandveien", "Lia", "Sjøgata", "Torggata", "Nordre gate", "Søndre gate",
    "Fjellveien", "Heiveien", "Markveien", "Prestegårdsveien", "Rådhusgata", "Bekkeveien",
    "Tunveien", "Gamleveien", "Setervegen", "Holtet", "Utsikten", "Lyngveien", "Eikeveien",
    "Rognveien", "Kongens gate", "Dronningens gate", "Jernbanegata", "Mølleveien",
)  # fmt: skip
_COMPANY_PREFIXES: Final = (
    "Fjellheim", "Nordlys", "Solbakken", "Vestvik", "Havblikk", "Granli", "Bjørkely",
    "Furulund", "Elvebakken", "Storødegården", "Sjøkanten", "Midtbygda", "Østlandske",
    "Vestlandske", "Nordre", "Fjordkysten", "Lysheim", "Bergtun", "Heimdal", "Viken",
)  # fmt: skip
_COMPANY_TRADES: Final = (
    "Bakeri", "Rørleggerservice", "Elektro", "Regnskap", "Transport", "Bygg", "Fiskeoppdrett",
    "Gårdsdrift", "Eiendom", "Maskin", "Hotell", "Kafé", "Frisør", "Tannklinikk",
    "Snekkerverksted", "Dagligvare", "Bilverksted", "Gartneri", "Rådgivning", "Data",
)  # fmt: skip
_EMAIL_DOMAINS: Final = (
    "gmail.com", "hotmail.com", "online.no", "outlook.com", "live.no", "icloud.com",
    "yahoo.no", "c2i.net",
)  # fmt: skip
_ASCII_FOLD: Final = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "é": "e", "ü": "u", " ": ""})

_BIRTH_FIRST: Final = date(1930, 1, 1)
_BIRTH_DAYS: Final = (date(2005, 12, 31) - _BIRTH_FIRST).days + 1
_CONNECTED_FIRST: Final = date(1950, 1, 1)
_CONNECTED_DAYS: Final = (date(2025, 6, 30) - _CONNECTED_FIRST).days + 1
_GSRN_PREFIX: Final = "7070575000"
DEMO_SERVER_PREFIX: Final = "7070575009"
"""The ids ``tilsyn demo`` loads: ``tilsyn demo-data`` files never reuse one of them with
other contents (the files are meant to be imported into the demo server)."""
_SERIALS: Final = 10**7
_NS_SIZE: Final = 100
_TRANSFORMER_SIZE: Final = 50
_NEW_CP_PROBABILITY: Final = 0.185
"""With a forced new one per transformer this gives about 5 plants per connection point."""

_FUSE_SIZES: Final = (
    10, 16, 20, 25, 32, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800,
    1000, 1250, 1600, 2000, 2500,
)  # fmt: skip
_METERS: Final = (
    ("Aidon", "6534", "6525"),
    ("Kaifa", "MA304H3E", "MA105H2E"),
    ("Kamstrup", "Omnipower 3-fase", "Omnipower 1-fase"),
    ("Landis+Gyr", "E360 3-fase", "E360 1-fase"),
)

# --- Plant profiles -----------------------------------------------------------------------------

Kind = Literal["house", "apartment", "cabin", "farm", "business", "large", "streetlight"]


@dataclass(frozen=True, slots=True)
class _Variant:
    naeringskode: str
    building_codes: tuple[int, ...]
    description: str


@dataclass(frozen=True, slots=True)
class _Profile:
    consumption_code: int | str
    weight: float
    kind: Kind
    search_category: str
    variants: tuple[_Variant, ...]


def _v(naeringskode: str, building_codes: tuple[int, ...], description: str) -> _Variant:
    return _Variant(naeringskode, building_codes, description)


_HOUSEHOLD: Final = "98.200"
_PROFILES: Final[tuple[_Profile, ...]] = (
    _Profile(35, 45.0, "house", "Bolig", (
        _v(_HOUSEHOLD, (111, 111, 111, 112), "Enebolig"),
        _v(_HOUSEHOLD, (121, 122), "Tomannsbolig"),
        _v(_HOUSEHOLD, (131, 133), "Rekkehus"),
        _v(_HOUSEHOLD, (113,), "Våningshus"),
    )),
    _Profile(35, 24.0, "apartment", "Leilighet", (
        _v(_HOUSEHOLD, (142, 142, 143, 145, 146), "Leilighet"),
    )),
    _Profile(36, 13.0, "cabin", "Fritidsbolig", (
        _v(_HOUSEHOLD, (161, 161, 161, 162), "Hytte"),
        _v(_HOUSEHOLD, (163, 171), "Fritidsbolig"),
    )),
    _Profile(1, 3.0, "farm", "Landbruk", (
        _v("01.410", (241,), "Fjøs, melkeproduksjon"),
        _v("01.450", (241,), "Sauefjøs"),
        _v("01.460", (241,), "Svinehus"),
        _v("01.110", (249,), "Korntørke"),
    )),
    _Profile("1a", 0.4, "farm", "Landbruk", (
        _v("01.130", (243,), "Veksthus"),
        _v("01.190", (243,), "Gartneri"),
    )),
    _Profile("29a", 1.2, "streetlight", "Gatelys", (_v("84.110", (), "Gatelys"),)),
    _Profile(19, 2.0, "business", "Næring", (
        _v("47.111", (322, 321), "Dagligvarebutikk"),
        _v("47.520", (322,), "Jernvarehandel"),
        _v("45.200", (212,), "Bilverksted"),
    )),
    _Profile(23, 1.0, "business", "Næring", (
        _v("55.101", (511,), "Hotell"),
        _v("56.101", (531,), "Kafé"),
        _v("55.201", (524,), "Utleiehytter"),
    )),
    _Profile(26, 2.0, "business", "Næring", (
        _v("68.209", (142, 143, 145), "Fellesanlegg borettslag"),
        _v("68.209", (311, 319), "Næringsbygg, fellesareal"),
    )),
    _Profile(11, 0.4, "large", "Industri", (
        _v("10.710", (211, 212), "Bakeri"),
        _v("10.510", (211,), "Meieri"),
        _v("10.130", (211, 232), "Kjøttforedling"),
    )),
    _Profile(13, 0.6, "large", "Industri", (
        _v("25.110", (211, 212), "Mekanisk verksted"),
        _v("16.100", (211,), "Sagbruk"),
        _v("31.010", (211,), "Møbelfabrikk"),
    )),
    _Profile(18, 0.6, "business", "Næring", (
        _v("41.200", (231, 311), "Byggfirma"),
        _v("43.210", (212,), "Elektroinstallatør"),
        _v("43.220", (212,), "Rørleggerverksted"),
    )),
    _Profile(21, 0.6, "business", "Næring", (
        _v("52.100", (231,), "Lagerbygg"),
        _v("49.410", (239, 231), "Transportfirma"),
        _v("52.100", (232,), "Kjølelager"),
    )),
    _Profile(24, 0.3, "business", "Næring", (_v("62.010", (311, 319), "Kontor"),)),
    _Profile(25, 0.1, "business", "Næring", (_v("64.190", (312,), "Bankkontor"),)),
    _Profile(27, 0.5, "business", "Næring", (
        _v("69.201", (311,), "Regnskapskontor"),
        _v("71.129", (311,), "Rådgivende ingeniører"),
    )),
    _Profile(28, 0.3, "business", "Næring", (
        _v("81.210", (311, 231), "Renholdsbedrift"),
        _v("77.320", (231,), "Maskinutleie"),
    )),
    _Profile(29, 0.4, "business", "Offentlig", (
        _v("84.110", (311,), "Rådhus"),
        _v("84.240", (821,), "Politistasjon"),
        _v("84.250", (822,), "Brannstasjon"),
    )),
    _Profile(30, 0.5, "large", "Offentlig", (
        _v("85.201", (613, 614, 615), "Skole"),
        _v("85.310", (616,), "Videregående skole"),
    )),
    _Profile(31, 0.7, "large", "Offentlig", (
        _v("87.101", (721,), "Sykehjem"),
        _v("86.211", (731,), "Legekontor"),
        _v("88.911", (612,), "Barnehage"),
    )),
    _Profile(32, 0.4, "business", "Offentlig", (
        _v("93.110", (651, 652, 653), "Idrettshall"),
        _v("91.011", (642,), "Bibliotek"),
    )),
    _Profile(33, 0.3, "business", "Næring", (_v("94.910", (671, 672), "Kirke"),)),
    _Profile(34, 0.4, "business", "Næring", (
        _v("96.010", (212,), "Vaskeri"),
        _v("96.020", (322,), "Frisørsalong"),
    )),
    _Profile(14, 0.2, "large", "Energi", (_v("35.111", (221,), "Kraftstasjon"),)),
    _Profile(16, 0.1, "large", "Energi", (_v("35.300", (229,), "Fjernvarmesentral"),)),
    _Profile(17, 0.3, "business", "Offentlig", (
        _v("36.000", (216,), "Vannverk"),
        _v("37.000", (214,), "Renseanlegg"),
        _v("38.110", (219,), "Gjenvinningsstasjon"),
    )),
    _Profile(2, 0.1, "large", "Industri", (_v("08.110", (219,), "Pukkverk"),)),
    _Profile(5, 0.05, "large", "Industri", (_v("17.120", (211,), "Papirfabrikk"),)),
    _Profile(20, 0.1, "business", "Samferdsel", (_v("49.100", (412,), "Jernbanestasjon"),)),
    _Profile(22, 0.1, "business", "Samferdsel", (_v("53.100", (416,), "Postterminal"),)),
)  # fmt: skip
_PROFILE_CUM_WEIGHTS: Final = tuple(accumulate(p.weight for p in _PROFILES))

_MAIN_FUSES: Final[dict[Kind, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    # kind: (sizes at 230 V IT/TT, sizes at 400 V TN)
    "house": ((50, 63, 63, 80, 100, 125), (25, 32, 40, 40, 50, 63)),
    "apartment": ((40, 50, 63), (25, 32, 40)),
    "cabin": ((25, 32, 40, 50, 63), (16, 20, 25, 32)),
    "farm": ((100, 125, 160, 200), (63, 80, 100, 125)),
    "business": ((63, 80, 100, 125, 160, 200), (63, 80, 100, 125, 160, 200, 250)),
    "large": ((400, 630, 800), (250, 315, 400, 630, 800, 1250)),
    "streetlight": ((10, 16, 25), (16, 25)),
}

# --- Small helpers -------------------------------------------------------------------------------


def _rng(purpose: str, seed: int) -> random.Random:
    """Reproducible on purpose: demo data must be the same for a seed (str seeds hash stably)."""
    return random.Random(f"tilsyn-demo-{purpose}:{seed}")  # noqa: S311


def _permutation(size: int, rng: random.Random) -> Iterator[int]:
    """Every integer in ``[0, size)`` once, scrambled, in O(1) memory (an affine map)."""
    multiplier = int(size * 0.6180339887) + rng.randrange(1, 1000)
    while math.gcd(multiplier, size) != 1:
        multiplier += 1
    offset = rng.randrange(size)
    for i in range(size):
        yield (offset + i * multiplier) % size


def _person_numbers(rng: random.Random, *, synthetic: bool) -> Iterator[tuple[str, date]]:
    """Unique valid fødselsnumre with their birth dates (individnummer by century, §1.1)."""
    month_offset = 80 if synthetic else 0
    for k in _permutation(_BIRTH_DAYS * 500, rng):
        born = _BIRTH_FIRST + timedelta(days=k // 500)
        individ = k % 500 + (500 if born.year >= 2000 else 0)
        first9 = f"{born.day:02d}{born.month + month_offset:02d}{born:%y}{individ:03d}"
        check = fodselsnummer_check_digits(first9)
        if check is not None:
            yield first9 + check, born


def _org_numbers(rng: random.Random) -> Iterator[str]:
    """Unique valid organisation numbers starting with 8 or 9, as issued ones do."""
    for k in _permutation(20_000_000, rng):
        first8 = str(80_000_000 + k)
        check = orgnr_check_digit(first8)
        if check is not None:
            yield f"{first8}{check}"


def _ascii(text: str) -> str:
    return text.lower().translate(_ASCII_FOLD)


def _town(rng: random.Random) -> Town:
    return TOWNS[bisect(_TOWN_CUM_WEIGHTS, rng.random() * _TOWN_CUM_WEIGHTS[-1])]


def _street_address(rng: random.Random) -> str:
    letter = rng.choice("ABC") if rng.random() < 0.12 else ""
    return f"{rng.choice(_STREETS)} {rng.randint(1, 120)}{letter}"


def _phone(rng: random.Random) -> str:
    return f"{rng.choice('49')}{rng.randrange(10**7):07d}"


def _near(
    rng: random.Random, latitude: float, longitude: float, spread: float
) -> tuple[float, float]:
    """A point within ``spread`` degrees of latitude (twice that of longitude, up north)."""
    return (
        round(latitude + rng.uniform(-spread, spread), 6),
        round(longitude + rng.uniform(-2 * spread, 2 * spread), 6),
    )


def _location(point: tuple[float, float]) -> dict[str, float]:
    return {"latitude": point[0], "longitude": point[1]}


# --- Customers ------------------------------------------------------------------------------------


def generate_customers(
    count: int, *, seed: int = 0, synthetic_ids: bool = False
) -> Iterator[dict[str, Any]]:
    """``count`` customers in the seed's PascalCase format, about 10 % of them companies.

    ``Number`` is unique within one call. Persons get a valid fødselsnummer (born 1930–2005)
    and a first name matching its sex digit; companies a valid orgnr, also sent as
    ``OrganizationNumber``, and a company name in ``LastName``.
    """
    if not 0 <= count <= MAX_CUSTOMERS:
        raise ValueError(f"count must be between 0 and {MAX_CUSTOMERS}")
    rng = _rng("customers", seed)
    persons = _person_numbers(_rng("persons", seed), synthetic=synthetic_ids)
    companies = _org_numbers(_rng("orgs", seed))
    for _ in range(count):
        if rng.random() < 0.10:
            yield _company(rng, next(companies))
        else:
            yield _person(rng, *next(persons))


def _postal_address(rng: random.Random) -> dict[str, Any]:
    town = _town(rng)
    return {
        "AddressText": _street_address(rng),
        "PostalCode": town.postal_code,
        "ForeignCity": None,
        "Country": "NO",
    }


def _person(rng: random.Random, number: str, born: date) -> dict[str, Any]:
    male = int(number[8]) % 2 == 1
    first = rng.choice(_MALE_NAMES if male else _FEMALE_NAMES)
    last = rng.choice(_LAST_NAMES)
    email = None
    if rng.random() < 0.70:
        suffix = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
        email = f"{_ascii(first)}.{_ascii(last)}{suffix}@{rng.choice(_EMAIL_DOMAINS)}"
    return {
        "Number": number,
        "FirstName": first,
        "LastName": last,
        "Address": _postal_address(rng),
        "Email": email,
        "Phone": _phone(rng) if rng.random() < 0.80 else None,
        "BirthDate": born.isoformat(),
        "OrganizationNumber": None,
        "AcceptElectronicCommunication": email is not None and rng.random() < 0.8,
    }


def _company(rng: random.Random, orgnr: str) -> dict[str, Any]:
    prefix, trade = rng.choice(_COMPANY_PREFIXES), rng.choice(_COMPANY_TRADES)
    email = f"post@{_ascii(prefix + trade)}.no" if rng.random() < 0.70 else None
    return {
        "Number": orgnr,
        "FirstName": None,
        "LastName": f"{prefix} {trade} AS",
        "Address": _postal_address(rng),
        "Email": email,
        "Phone": _phone(rng) if rng.random() < 0.80 else None,
        "BirthDate": None,
        "OrganizationNumber": orgnr,
        "AcceptElectronicCommunication": email is not None and rng.random() < 0.8,
    }


# --- Plants ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Element:
    """A hierarchy element as the generator walks past it."""

    name: str
    address_text: str
    postal_code: str
    point: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": {"addressText": self.address_text, "postalCode": self.postal_code},
            "location": _location(self.point),
        }


@dataclass(slots=True)
class _Street:
    """The street a connection point feeds: shared name, farm number, next house number."""

    name: str
    holding: int
    next_house: int
    next_sub_holding: int


@dataclass(slots=True)
class _Building:
    """An apartment building being filled unit by unit."""

    house: int
    sub_holding: int
    floors: int
    units_per_floor: int
    next_unit: int = 0

    @property
    def full(self) -> bool:
        return self.next_unit >= self.floors * self.units_per_floor


def generate_plants(
    count: int,
    *,
    customer_numbers: Sequence[str],
    seed: int = 0,
    id_prefix: str = _GSRN_PREFIX,
) -> Iterator[dict[str, Any]]:
    """``count`` plants in the seed's camelCase format with their grid hierarchy.

    ``customerId`` is drawn from ``customer_numbers`` (about 3 % of plants have none, and all
    do when the sequence is empty); businesses prefer 9-digit numbers and homes 11-digit ones.
    Metering point ids are unique within one call and across calls with the same seed.
    """
    if not 0 <= count <= MAX_PLANTS:
        raise ValueError(f"count must be between 0 and {MAX_PLANTS}")
    rng = _rng("plants", seed)
    plants = _PlantStream(
        rng=rng,
        serials=_permutation(_SERIALS, _rng("mpid", seed)),
        installers=[rng.randint(10_000, 99_999) for _ in range(250)],
        customer_numbers=customer_numbers,
        id_prefix=id_prefix,
    )
    for i in range(count):
        yield plants.next_plant(i)


def _no_element() -> _Element:
    return _Element("", "", "", (0.0, 0.0))


@dataclass(slots=True)
class _Grid:
    """Where the generator is in the grid: each plant joins the elements it last entered.

    Every 100 plants a new net station (in a random town), every 50 a new transformer; a
    connection point is new with each transformer and now and then in between.
    """

    town: Town = field(default_factory=lambda: TOWNS[0])
    net_station: _Element = field(default_factory=_no_element)
    transformer: _Element = field(default_factory=_no_element)
    connection_point: _Element = field(default_factory=_no_element)
    street: _Street = field(default_factory=lambda: _Street("", 0, 0, 0))
    building: _Building | None = None
    cp_index: int = 0

    def advance(self, rng: random.Random, i: int) -> None:
        """Enter the elements plant ``i`` hangs under (the draws' order is the seed's)."""
        if i % _NS_SIZE == 0:
            self._new_net_station(rng, i)
        if i % _TRANSFORMER_SIZE == 0:
            self._new_transformer(rng, i)
        if i % _TRANSFORMER_SIZE == 0 or rng.random() < _NEW_CP_PROBABILITY:
            self._new_connection_point(rng)

    def _new_net_station(self, rng: random.Random, i: int) -> None:
        self.town = _town(rng)
        point = _near(rng, self.town.latitude, self.town.longitude, 0.04)
        self.net_station = _Element(
            f"NS-{i // _NS_SIZE + 1:06d}", _street_address(rng), self.town.postal_code, point
        )

    def _new_transformer(self, rng: random.Random, i: int) -> None:
        number = (i % _NS_SIZE) // _TRANSFORMER_SIZE + 1
        station = self.net_station
        self.transformer = _Element(
            f"{station.name.replace('NS', 'T', 1)}-{number}",
            station.address_text,
            station.postal_code,
            _near(rng, *station.point, 0.0002),
        )

    def _new_connection_point(self, rng: random.Random) -> None:
        self.cp_index += 1
        self.street = _Street(
            rng.choice(_STREETS), rng.randint(1, 250), rng.randint(1, 40), rng.randint(1, 600)
        )
        self.connection_point = _Element(
            f"CP-{self.cp_index:07d}",
            f"{self.street.name} {self.street.next_house}",
            self.town.postal_code,
            _near(rng, *self.transformer.point, 0.004),
        )
        self.building = None

    def address(self, rng: random.Random, kind: Kind) -> dict[str, Any]:
        """The next plant's address on the current street, by the kind of plant."""
        if kind == "apartment":
            return self._apartment_address(rng)
        if kind == "streetlight":
            return _PlantAddress(f"Gatelys {self.street.name}", self.town.postal_code).as_dict()
        return self._house_address(rng, kind)

    def _apartment_address(self, rng: random.Random) -> dict[str, Any]:
        """The next unit of the current building, or of a new one when it is full."""
        street = self.street
        if self.building is None or self.building.full:
            self.building = _Building(
                street.next_house, street.next_sub_holding, rng.randint(2, 5), rng.randint(2, 4)
            )
            street.next_house += 2
            street.next_sub_holding += 1
        building = self.building
        floor, unit = divmod(building.next_unit, building.units_per_floor)
        building.next_unit += 1
        return _PlantAddress(
            f"{street.name} {building.house}",
            self.town.postal_code,
            floor=floor + 1,
            apartment=building.next_unit,
            holding=street.holding,
            sub_holding=building.sub_holding,
            lease=0,
            section=building.next_unit,
            residential=f"H{floor + 1:02d}{unit + 1:02d}",
        ).as_dict()

    def _house_address(self, rng: random.Random, kind: Kind) -> dict[str, Any]:
        """A house of its own on the street; the street's next number moves on past it."""
        street = self.street
        address = _PlantAddress(
            f"{street.name} {street.next_house}",
            self.town.postal_code,
            floor=1,
            holding=street.holding,
            sub_holding=street.next_sub_holding,
            lease=rng.randint(1, 9) if kind == "cabin" and rng.random() < 0.3 else 0,
            residential="H0101",
        )
        street.next_house += rng.choice((1, 2, 2, 2, 4))
        street.next_sub_holding += rng.randint(1, 3)
        return address.as_dict()


@dataclass(slots=True)
class _PlantStream:
    """The state one call of :func:`generate_plants` carries from plant to plant."""

    rng: random.Random
    serials: Iterator[int]
    installers: list[int]
    customer_numbers: Sequence[str]
    id_prefix: str
    grid: _Grid = field(default_factory=_Grid)

    def next_plant(self, i: int) -> dict[str, Any]:
        rng = self.rng
        self.grid.advance(rng, i)
        profile = _PROFILES[bisect(_PROFILE_CUM_WEIGHTS, rng.random() * _PROFILE_CUM_WEIGHTS[-1])]
        variant = rng.choice(profile.variants)
        serial = next(self.serials)
        address = self.grid.address(rng, profile.kind)
        return self._document(i, profile, variant, serial, address)

    def _document(
        self,
        i: int,
        profile: _Profile,
        variant: _Variant,
        serial: int,
        address: dict[str, Any],
    ) -> dict[str, Any]:
        rng, grid = self.rng, self.grid
        body = f"{self.id_prefix}{serial:07d}"
        connected = _CONNECTED_FIRST + timedelta(days=rng.randrange(_CONNECTED_DAYS))
        return {
            "meteringPointId": body + gsrn_check_digit(body),
            "plantId": str(100_000 + i),
            "searchCategory": profile.search_category,
            "customerId": _customer_for(
                rng, self.customer_numbers, length=_PREFERRED_ID[profile.kind]
            ),
            "consumptionCode": profile.consumption_code,
            "industrialClassification": variant.naeringskode,
            "buildingCode": rng.choice(variant.building_codes) if variant.building_codes else None,
            "connectedDate": connected.isoformat(),
            "status": _status(rng),
            "address": address,
            "meter": _meter(rng, serial, three_phase=profile.kind in ("farm", "large")),
            "description": variant.description,
            "externalPlantNumber": f"NIS-{i + 1:08d}",
            "technicalData": _technical_data(rng, profile.kind, connected_year=connected.year),
            "builtByElCompanyId": rng.choice(self.installers) if rng.random() < 0.75 else None,
            "location": _location(_near(rng, *grid.connection_point.point, 0.0008)),
            "connectionPoint": {
                **grid.connection_point.as_dict(),
                "transformer": {
                    **grid.transformer.as_dict(),
                    "netStation": grid.net_station.as_dict(),
                },
            },
        }


_PREFERRED_ID: Final[dict[Kind, int | None]] = {
    "house": 11,
    "apartment": 11,
    "cabin": 11,
    "farm": None,  # farmers are persons as often as companies
    "business": 9,
    "large": 9,
    "streetlight": 9,
}


@dataclass(frozen=True, slots=True)
class _PlantAddress:
    """A plant's address; a streetlight's has none of the numbers."""

    address_text: str
    postal_code: str
    floor: int | None = None
    apartment: int | None = None
    holding: int | None = None
    sub_holding: int | None = None
    lease: int | None = None
    section: int | None = None
    residential: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "addressText": self.address_text,
            "postalCode": self.postal_code,
            "floor": None if self.floor is None else str(self.floor),
            "apartmentNumber": None if self.apartment is None else str(self.apartment),
            "holdingNumber": self.holding,
            "subHoldingNumber": self.sub_holding,
            "leaseNumber": self.lease,
            "sectionNumber": self.section,
            "residentialNumber": self.residential,
        }


def _customer_for(rng: random.Random, numbers: Sequence[str], *, length: int | None) -> str | None:
    """A few draws to find the preferred kind of number; no index of the sequence is built."""
    if not numbers or rng.random() < 0.03:
        return None
    number = numbers[rng.randrange(len(numbers))]
    for _ in range(10):
        if length is None or len(number) == length:
            break
        number = numbers[rng.randrange(len(numbers))]
    return number


def _status(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.94:
        return "Spenningsatt"
    return "Inaktivt" if draw < 0.98 else "Terminert"


def _meter(rng: random.Random, serial: int, *, three_phase: bool) -> dict[str, Any]:
    supplier, model_3, model_1 = rng.choice(_METERS)
    three_phase = three_phase or rng.random() < 0.5
    return {
        "meterNumber": f"73599{serial:011d}",
        "supplier": supplier,
        "modell": model_3 if three_phase else model_1,
    }


def _technical_data(rng: random.Random, kind: Kind, *, connected_year: int) -> dict[str, Any]:
    """IT 230 V dominates, some TT; TN-C-S 400 V mostly on newer connections (§11.3)."""
    tn_share = 0.45 if connected_year >= 2010 else 0.12
    draw = rng.random()
    if draw < tn_share:
        earthing, voltage = "TN-C-S", 400
    elif draw < tn_share + 0.12:
        earthing, voltage = "TT", 230
    else:
        earthing, voltage = "IT", 230
    sizes_230, sizes_400 = _MAIN_FUSES[kind]
    fuse = rng.choice(sizes_400 if voltage == 400 else sizes_230)
    if kind == "streetlight":
        phases = 1
    elif kind in ("farm", "large", "business") or fuse >= 100:
        phases = 3
    elif voltage == 400:
        phases = 3 if rng.random() < 0.85 else 1
    else:
        phases = rng.choice((1, 1, 2, 3, 3))
    short_circuit = _FUSE_SIZES[min(_FUSE_SIZES.index(fuse) + 2, len(_FUSE_SIZES) - 1)]
    return {
        "mainCircuitBreakerCurrent": voltage,
        "mainCircuitBreakerPhase": phases,
        "mainCircuitBreakerAmps": fuse,
        "mainCircuitBreakerVoltage": voltage,
        "overLoadAmps": fuse,
        "overLoadPhase": phases,
        "shortCircuitProtectionAmps": short_circuit,
        "shortCircuitProtectionPhase": phases,
        "IO": 0,
        "earthingSystem": earthing,
        "connectionType": f"{earthing} {voltage} V",
    }
