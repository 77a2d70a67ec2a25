"""Diffs between two documents, by dotted path: what history stores and a dry run shows."""

from __future__ import annotations

from typing import Any


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


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """The nested document of :func:`flatten`'s paths."""
    document: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = document
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return document


def diff_documents(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{path: [before, after]}`` for every leaf that differs."""
    old = flatten(before) if before else {}
    new = flatten(after) if after else {}
    changed: dict[str, Any] = {}
    for path in sorted(old.keys() | new.keys() if old and new else old or new):
        was, now = old.get(path), new.get(path)
        if was != now:
            changed[path] = [was, now]
    return changed
