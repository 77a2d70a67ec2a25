"""How search reads text: folded to plain lower-case letters and digits, split into words.

One rule for what is indexed and what is asked, so that a query finds what a person would
call the same word: case does not count, accents go (``é`` → ``e``, ``å`` → ``a``), ``ø`` is
``o`` and ``æ`` is ``ae``. So "tromso", "Tromsø" and "TROMSØ" are one word, and "baerum"
finds "Bærum" (as does "bærum"). A word of the query matches a word of the text it starts.
"""

from __future__ import annotations

import re
import unicodedata

# Letters that do not decompose into a base letter and a mark.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "đ": "d", "ł": "l", "þ": "th", "ð": "d"})
_WORD = re.compile(r"[^\W_]+")
MAX_TOKEN = 64
"""Longer words are cut: a prefix this long already tells any two real words apart."""


def fold(text: str) -> str:
    """Lower case, without accents, ø as o and æ as ae."""
    if text.isascii():  # nothing to decompose or translate: most names, every number
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_LETTERS)


def words(text: str | None) -> list[str]:
    """The folded words of a text, in order, each at most ``MAX_TOKEN`` characters."""
    if not text:
        return []
    return [word[:MAX_TOKEN] for word in _WORD.findall(fold(text))]


def prefix_bound(prefix: str) -> str:
    """The least string above every string that starts with ``prefix``.

    Both databases compare tokens by code point (SQLite's BINARY, PostgreSQL's "C"
    collation on the column), so the prefix with its last character moved one up bounds the
    range ``prefix <= token < bound`` that a B-tree index serves.
    """
    last = ord(prefix[-1])
    if last >= 0x10FFFF:  # nothing sorts above it: the bound is the shorter prefix's
        return prefix_bound(prefix[:-1]) if len(prefix) > 1 else chr(0x10FFFF)
    return prefix[:-1] + chr(last + 1)
