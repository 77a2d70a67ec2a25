"""Norwegian postal codes checked against Bring's postal code register (postnummerregister).

The register ships with the package (``tilsyn/data/postal-codes.tsv``: contains data from
Bring's postal code register, NLOD 2.0). Bring changes it a few times a year, so a newer file
can be put in place with ``tilsyn postal-codes refresh FILE``: it is checked and written to
``$TILSYN_DATA_DIR/postal-codes.tsv``, which every process then reads instead of the packaged
copy (a running server notices the new file by its modification time).

A code missing from the register or a place that does not match it is only ever a warning
(never lose a record over a soft field); the register's municipality number fills in a
plant address's ``municipalityNumber`` at read time, where the body sent none.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final

from tilsyn.validation.findings import Finding

__all__ = [
    "DATA_DIR_VARIABLE",
    "REGISTER_FILE",
    "PostalEntry",
    "PostalRegister",
    "RegisterError",
    "current_register",
    "parse_register",
    "postal_findings",
    "register_path",
]

DATA_DIR_VARIABLE: Final = "TILSYN_DATA_DIR"
REGISTER_FILE: Final = "postal-codes.tsv"
CATEGORIES: Final = frozenset("GPBSF")
MIN_ROWS: Final = 1000  # the register has over 5,000 codes; fewer means a wrong or cut file


class RegisterError(ValueError):
    """A register file that cannot be used: nothing of it replaces the one in use."""


@dataclass(frozen=True, slots=True)
class PostalEntry:
    code: str
    place: str
    municipality_number: str
    municipality: str
    category: str


@dataclass(frozen=True)
class PostalRegister:
    entries: dict[str, PostalEntry]
    source: str
    _codes_by_place: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries.values():
            self._codes_by_place.setdefault(_fold(entry.place), []).append(entry.code)

    def get(self, code: str) -> PostalEntry | None:
        return self.entries.get(code)

    def codes_of(self, place: str) -> list[str]:
        return self._codes_by_place.get(_fold(place), [])

    def municipality_number(self, code: str | None) -> str | None:
        entry = self.entries.get(code) if code else None
        return entry.municipality_number if entry else None


def _fold(place: str) -> str:
    """Places compare without case, spacing or hyphen differences (Bring writes capitals)."""
    return " ".join(place.replace("-", " ").split()).casefold()


def parse_register(text: str, *, source: str) -> PostalRegister:
    """Bring's tab-separated columns: code, place, municipality number, municipality name,
    category; every line checked, the first wrong one named."""
    entries: dict[str, PostalEntry] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split("\t")]
        if number == 1 and not cells[0].isdigit():
            continue  # a header line
        if len(cells) < 5:
            raise RegisterError(f"{source}: line {number}: expected 5 tab-separated columns")
        code, place, municipality_number, municipality, category = cells[:5]
        if not (len(code) == 4 and code.isascii() and code.isdigit()):
            raise RegisterError(f"{source}: line {number}: '{code}' is not a 4-digit postal code")
        if not (len(municipality_number) == 4 and municipality_number.isdigit()) or not place:
            raise RegisterError(f"{source}: line {number}: no place or no 4-digit municipality")
        if category not in CATEGORIES:
            raise RegisterError(f"{source}: line {number}: unknown category '{category}'")
        if code in entries:
            raise RegisterError(f"{source}: line {number}: postal code {code} twice")
        entries[code] = PostalEntry(code, place, municipality_number, municipality, category)
    if len(entries) < MIN_ROWS:
        raise RegisterError(
            f"{source}: only {len(entries)} postal codes; the register has over 5,000"
        )
    return PostalRegister(entries, source)


def register_path() -> Path:
    """The refreshed register in ``$TILSYN_DATA_DIR`` when there is one, else the packaged."""
    data_dir = os.environ.get(DATA_DIR_VARIABLE)
    if data_dir:
        candidate = Path(data_dir) / REGISTER_FILE
        if candidate.is_file():
            return candidate
    return Path(str(resources.files("tilsyn") / "data" / REGISTER_FILE))


_lock = threading.Lock()
_loaded: dict[tuple[str, int], PostalRegister] = {}
_checked: dict[str, float] = {}  # data folder setting → when last looked at (monotonic)
RECHECK_SECONDS: Final = 2.0


def current_register() -> PostalRegister:
    """The register in use, read once per file version (path and modification time); the
    file is looked at again at most every two seconds, not on every address."""
    now = time.monotonic()
    setting = os.environ.get(DATA_DIR_VARIABLE, "")
    if _loaded and now - _checked.get(setting, -RECHECK_SECONDS) < RECHECK_SECONDS:
        return next(iter(_loaded.values()))
    path = register_path()
    key = (str(path), path.stat().st_mtime_ns)
    _checked.clear()
    _checked[setting] = now
    found = _loaded.get(key)
    if found is not None:
        return found
    with _lock:
        found = _loaded.get(key)
        if found is None:
            found = parse_register(path.read_text(encoding="utf-8"), source=str(path))
            _loaded.clear()
            _loaded[key] = found
    return found


def postal_findings(code: str, place: str | None) -> list[tuple[str, Finding]]:
    """Warnings for a 4-digit code the register lacks, and for a place the register gives
    another name; each as (``postalCode`` or ``postalPlace``, finding), naming the register's
    place so the integrator sees which of the two is wrong."""
    register = current_register()
    entry = register.get(code)
    if entry is None:
        hint = ""
        if place:
            codes = register.codes_of(place)
            if codes:
                shown = ", ".join(codes[:5]) + (", …" if len(codes) > 5 else "")
                hint = f" The register's codes for {place.strip().upper()} are {shown}."
        message = f"Postal code {code} is not in Bring's postal code register.{hint}"
        return [("postalCode", Finding("unknown_postal_code", message))]
    if place and _fold(place) != _fold(entry.place):
        return [
            (
                "postalPlace",
                Finding(
                    "postal_place_mismatch",
                    f"Postal code {code} is {entry.place} in Bring's postal code register, "
                    f"not {place.strip()}.",
                ),
            )
        ]
    return []
