"""Reading an inspections file for ``tilsyn import``: CSV (dotted column names), NDJSON or a
JSON array, one inspection per record.

In CSV, an inspection's findings are the ``finding.description``, ``finding.severity``,
``finding.regulation`` and ``finding.deadline`` columns; consecutive rows with the same
``externalId`` are one inspection with one finding per row, which is how a migration from an
older system usually comes out of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tilsyn.client.readers import SourceRow, field_names, read_rows
from tilsyn.contract.items import RawItem

INSPECTION_NAMES = {"date", "kind"}


def is_inspections(path: Path) -> bool:
    """An inspections file names ``date`` and ``kind`` (any casing) beside meteringPointId."""
    names = {name.split(".")[0].casefold() for name in field_names(path)}
    return names >= INSPECTION_NAMES and "meteringpointid" in names


def _field(body: dict[str, Any], name: str) -> Any:
    return next((value for key, value in body.items() if key.casefold() == name), None)


def _pop_finding(body: dict[str, Any]) -> dict[str, Any] | None:
    for key in list(body):
        if key.casefold() == "finding":
            finding = body.pop(key)
            return finding if isinstance(finding, dict) and finding else None
    return None


def _grouped(rows: Iterator[SourceRow]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Records with their first line; rows of one externalId in a row become one record."""
    current: dict[str, Any] | None = None
    current_line = 0
    for row in rows:
        if row.body is None:
            if current is not None:
                yield current_line, current, None
                current = None
            yield row.line, None, row.error
            continue
        body = dict(row.body)
        finding = _pop_finding(body)
        key = _field(body, "externalid")
        if current is not None and key is not None and key == _field(current, "externalid"):
            if finding is not None:
                current.setdefault("findings", []).append(finding)
            continue
        if current is not None:
            yield current_line, current, None
        current, current_line = body, row.line
        if finding is not None:
            current["findings"] = [*(current.get("findings") or []), finding]
    if current is not None:
        yield current_line, current, None


def inspection_items(path: Path) -> Iterator[tuple[int, RawItem]]:
    """The file's inspections as bulk items, each with the line it starts on."""
    for index, (line, body, error) in enumerate(_grouped(read_rows(path))):
        yield line, RawItem(index, body, error)
