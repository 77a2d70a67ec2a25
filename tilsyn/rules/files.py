"""Rule files: CSV and YAML read into raw rule dicts with the line each came from, and written.

Reading does no validation of values (the service does that, for files and the API alike); it
only finds the rules in the file and remembers lines, so that every error can name its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tilsyn.rules.schemas import RULE_FIELDS

Format = Literal["csv", "yaml"]
FORMATS: dict[str, Format] = {".csv": "csv", ".yaml": "yaml", ".yml": "yaml", ".json": "yaml"}
_CANONICAL = {name.casefold(): name for name in RULE_FIELDS}


@dataclass
class RuleRows:
    """The rules found in a file, in order; ``lines[i]`` locates ``rows[i]``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[RowLines] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def line_of(self, index: int, name: str | None = None) -> int:
        located = self.lines[index]
        if name is not None:
            return located.fields.get(name.casefold(), located.line)
        return located.line


@dataclass(frozen=True)
class RowLines:
    line: int
    fields: Mapping[str, int] = field(default_factory=dict)


def format_of(path: Path) -> Format | None:
    return FORMATS.get(path.suffix.lower())


def read_rules(text: str, kind: Format) -> RuleRows:
    return read_csv(text) if kind == "csv" else read_yaml(text)


def read_yaml(text: str) -> RuleRows:
    """``rules: [...]`` (as the API's body, so JSON works too) or a bare list of rules."""
    found = RuleRows()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        found.errors.append((mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem}"))
        return found
    except yaml.YAMLError as exc:
        found.errors.append((1, f"not valid YAML: {exc}"))
        return found
    if root is None:
        found.errors.append(
            (1, "the file holds no rules; write 'rules: []' to mean an empty rule set")
        )
        return found
    items_node: yaml.Node | None = root
    items: Any = data
    if isinstance(data, dict) and isinstance(root, yaml.MappingNode):
        items_node, items = None, None
        for key_node, value_node in root.value:
            key = str(key_node.value)
            if key.casefold() == "rules":
                items_node, items = value_node, data.get(key_node.value)
            else:
                found.errors.append(
                    (key_node.start_mark.line + 1, f"unknown top-level key '{key}'; expected rules")
                )
        if items_node is None:
            found.errors.append((1, "no 'rules:' list in the file"))
            return found
    if not isinstance(items, list) or not isinstance(items_node, yaml.SequenceNode):
        line = items_node.start_mark.line + 1 if items_node is not None else 1
        found.errors.append((line, "'rules' must be a list of rules"))
        return found
    for item, node in zip(items, items_node.value, strict=False):
        line = node.start_mark.line + 1
        if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
            found.errors.append((line, "a rule must be a mapping of field: value"))
            continue
        lines = {
            str(key_node.value).casefold(): value_node.start_mark.line + 1
            for key_node, value_node in node.value
        }
        found.rows.append({str(key): value for key, value in item.items()})
        found.lines.append(RowLines(line, lines))
    return found


def read_csv(text: str) -> RuleRows:
    """A header row naming the columns (any order, any casing); an empty cell is null.

    Rows whose first cell starts with ``#`` are comments. Excel's semicolon-separated export
    is recognised by its header.
    """
    found = RuleRows()
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        found.errors.append((1, "the file is empty; the first line must name the columns"))
        return found
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
        columns: list[str | None] = []
        for name in header:
            canonical = _CANONICAL.get(name.strip().casefold())
            if canonical is None:
                known = ", ".join(RULE_FIELDS)
                message = f"unknown column '{name.strip()}'; the columns are {known}"
                found.errors.append((1, message))
            elif canonical in columns:
                found.errors.append((1, f"column '{canonical}' appears twice"))
            columns.append(canonical)
        if "id" not in columns:
            found.errors.append((1, "the header has no 'id' column"))
        if found.errors:
            return found
        previous = reader.line_num
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
                continue
            if len(cells) > len(columns):
                found.errors.append(
                    (line, f"has {len(cells)} cells but the header names {len(columns)} columns")
                )
                continue
            row = {
                name: cell
                for name, cell in zip(columns, cells, strict=False)
                if name is not None and cell.strip()
            }
            found.rows.append(row)
            found.lines.append(RowLines(line))
    except csv.Error as exc:
        found.errors.append((reader.line_num or 1, f"not valid CSV: {exc}"))
    return found


def file_document(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rules as a file holds them: every field in order, codes as text."""
    return [{name: rule.get(name) for name in RULE_FIELDS} for rule in rules]


def write_yaml(rules: Iterable[Mapping[str, Any]], *, header: str = "") -> str:
    """Null fields are left out; texts that look like numbers are quoted (55.10 stays text)."""
    document = {
        "rules": [
            {name: value for name, value in rule.items() if value is not None}
            for rule in file_document(rules)
        ]
    }
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return comment + body


def write_csv(rules: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RULE_FIELDS)
    for rule in file_document(rules):
        writer.writerow(["" if rule[name] is None else rule[name] for name in RULE_FIELDS])
    return buffer.getvalue()
