"""The console's messages: every one extracted from templates and code has a bokmål text."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tilsyn.console import i18n

CONSOLE = Path(i18n.__file__).resolve().parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {
    "**/templates/**.html": {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "true",
        "lstrip_blocks": "true",
    }
}


def extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(CONSOLE), METHODS, options_map=OPTIONS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_bokmal_translation() -> None:
    with (i18n.LOCALE_DIR / "nb" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale="nb")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id and m.string
    }
    messages = extracted()
    assert len(messages) > 50  # the extraction itself works
    missing = sorted(messages - translated)
    assert not missing, f"run scripts/console_messages.sh and translate: {missing}"


def test_language_choice() -> None:
    assert i18n.choose_language(None, None) == "nb"
    assert i18n.choose_language("en", "nb") == "en"
    assert i18n.choose_language("de", "en") == "en"
    i18n.use_language("nb")
    assert i18n.gettext("Sign in") == "Logg inn"
    i18n.use_language("en")
    assert i18n.gettext("Sign in") == "Sign in"
