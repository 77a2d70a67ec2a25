"""Recording effective changes, in the same transaction as the change itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from tilsyn.core.models import Change
from tilsyn.core.time import utc_now


@dataclass(frozen=True)
class Actor:
    """Who made a change: the API key (never the key itself) and the request."""

    instance_id: int
    api_key_id: int | None = None
    request_id: str | None = None


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaf values, so that a diff names fields the way errors do."""
    if isinstance(document, dict):
        out: dict[str, Any] = {}
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                out.update(flatten(value, path))
            else:
                out[path] = value
        return out
    return {prefix: document}


def diff_documents(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{path: [before, after]}`` for every leaf that differs."""
    old = flatten(before or {})
    new = flatten(after or {})
    changed: dict[str, Any] = {}
    for path in sorted(old.keys() | new.keys()):
        if old.get(path) != new.get(path):
            changed[path] = [old.get(path), new.get(path)]
    return changed


def record_change(
    session: Session,
    actor: Actor,
    *,
    entity_type: str,
    entity_key: str,
    operation: str,
    diff: dict[str, Any] | None,
) -> None:
    session.execute(
        insert(Change).values(
            instance_id=actor.instance_id,
            at=utc_now(),
            api_key_id=actor.api_key_id,
            request_id=actor.request_id,
            entity_type=entity_type,
            entity_key=entity_key,
            operation=operation,
            diff=diff,
        )
    )
