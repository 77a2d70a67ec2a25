"""The one shape every plausibility check returns, so callers can attach a field path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """A plausibility problem with a value.

    ``code`` is a stable snake_case machine code; ``message`` is one English sentence. Messages
    about personal numbers never repeat the checked value (it is sensitive personal data).
    """

    code: str
    message: str
