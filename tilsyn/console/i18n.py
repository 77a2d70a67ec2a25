"""Console languages: Norwegian bokmål by default, English as the alternative.

Messages are written in English in the templates and the code and translated through a
gettext catalogue (``locale/nb/LC_MESSAGES/messages.po``), compiled in memory at start-up so
no compiled file can drift from its source. ``scripts/console_messages.sh`` extracts the
messages with pybabel and updates the catalogue.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from tilsyn.contract.time import OSLO

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"
LANGUAGE_COOKIE = "tilsyn_lang"

_language: ContextVar[str] = ContextVar("tilsyn_console_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The catalogue of a language (English is the messages themselves)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


def choose_language(query: str | None, cookie: str | None) -> str:
    for wanted in (query, cookie):
        if wanted in LANGUAGES:
            return wanted
    return DEFAULT_LANGUAGE


def use_language(language: str) -> None:
    """The language of what the current request renders."""
    _language.set(language)


def current_language() -> str:
    return _language.get()


def gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction")
    """Marks a message for extraction; it is translated where it is shown."""
    return message


def format_day(value: date | str | None) -> str:
    if value is None or value == "":
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(day, format="medium", locale=_language.get())


def format_moment(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return format_datetime(moment, format="short", tzinfo=OSLO, locale=_language.get())


def format_number(value: int | float | None) -> str:
    return "" if value is None else format_decimal(value, locale=_language.get())
