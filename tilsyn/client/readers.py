"""Reading exports: CSV with dotted column names, NDJSON and JSON, each row with its line.

- **CSV** (``.csv``, ``.tsv``, ``.txt``): the first line names the columns; a dotted name
  nests (``address.postalCode`` → ``{"address": {"postalCode": …}}``). The delimiter is the
  one of ``,`` ``;`` or tab that the header uses most (Norwegian spreadsheets and CIS exports
  write ``;``), or the one given. The encoding is UTF-8 (with or without a byte-order mark)
  or Windows-1252, detected from the bytes or given: a file whose lines are not all UTF-8 is
  Windows-1252, and a line of such a file that reads as UTF-8 with letters beyond ASCII is
  an error of its row (both readings are possible), never a guess. Cells are sent as text
  (the server coerces ``"23"`` to a number), except boolean fields (``1/0``, ``J/N``,
  ``ja/nei``, ``yes/no``) and decimal fields (a decimal comma), read by
  :mod:`tilsyn.client.cells`.
- **An empty cell is absent**: the field is not sent. For an upsert that replaces the entity,
  absent and null mean the same thing (the field is cleared; ``connectedDate`` and
  ``builtByElCompanyId`` keep their stored values), so a CSV cannot and need not say null.
- **NDJSON** (``.ndjson``, ``.jsonl``): one JSON object per line; **JSON** (``.json``): an
  array of objects, or one object.
- **Mapping file** (JSON or YAML): ``{"source column": "address.postalCode"}`` renames the
  source system's columns (for JSON, its dotted paths); a column mapped to ``null`` or ``""``
  is dropped; columns not named in the mapping pass through as they are. Sections
  ``customer:`` and ``plant:`` hold mappings for one kind of file only (a CIS column such as
  ``KUNDENR`` is the customer's ``Number`` but a plant's ``customerId``); names outside them
  apply to both kinds.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice, pairwise
from pathlib import Path
from typing import Any, Literal

from tilsyn.client.cells import CellError, CellFormat, typed_paths
from tilsyn.contract.bodies import ITEM, check_item, parse_json
from tilsyn.contract.errors import InvalidBody

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
NDJSON_SUFFIXES = {".ndjson", ".jsonl"}
JSON_SUFFIXES = {".json"}

Mapping = dict[str, str | None]
KINDS = ("customer", "plant")
ENCODINGS = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}


@dataclass(frozen=True)
class Mappings:
    """A mapping file: names for every file, and names for one kind of file (which win)."""

    common: Mapping = field(default_factory=dict)
    by_kind: dict[str, Mapping] = field(default_factory=dict)

    def for_kind(self, kind: str) -> Mapping:
        return {**self.common, **self.by_kind.get(kind, {})}


@dataclass(frozen=True)
class CsvFormat:
    """How to read a CSV: each ``auto`` is detected from the file (and said, see
    :func:`describe_csv`)."""

    encoding: str = "auto"
    delimiter: str = "auto"
    cells: CellFormat = field(default_factory=CellFormat)


@dataclass(frozen=True)
class CsvLayout:
    """What a CSV turned out to be: its encoding, its delimiter, and the lines whose encoding
    is ambiguous (UTF-8 letters in a Windows-1252 file)."""

    encoding: str
    delimiter: str
    ambiguous: frozenset[int]

    def describe(self) -> str:
        name = ENCODINGS.get(self.encoding, self.encoding)
        separator = "tab" if self.delimiter == "\t" else f"'{self.delimiter}'"
        text = f"{name}, {separator}-separated"
        if self.ambiguous:
            lines = sorted(self.ambiguous)
            shown = ", ".join(map(str, lines[:5])) + (", …" if len(lines) > 5 else "")
            text += f"; line(s) {shown} read as UTF-8 too, so they are not sent (give --encoding)"
        return text


class SourceError(ValueError):
    """A file that cannot be read as a whole: nothing of it is sent."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of an export: its line (where it starts), the body, or why it is unreadable."""

    line: int
    body: dict[str, Any] | None
    error: str | None = None


def load_mapping(path: Path) -> Mapping:
    """A ``{source column: target path}`` mapping without sections (see :func:`load_mappings`)."""
    mappings = load_mappings(path)
    if mappings.by_kind:
        raise SourceError(f"{path}: this mapping has sections per kind of file")
    return mappings.common


def load_mappings(path: Path) -> Mappings:
    """A mapping file: ``{source column: target path}``, with optional ``customer`` and
    ``plant`` sections of the same form for one kind of file."""
    data = _load_mapping_document(path)
    common: dict[str, Any] = {}
    by_kind: dict[str, Mapping] = {}
    for name, value in data.items():
        kind = name.strip().casefold().removesuffix("s") if isinstance(name, str) else None
        if isinstance(value, dict) and kind in KINDS:
            by_kind[kind] = _mapping_of(value, path, f"the {kind} section")
        else:
            common[name] = value
    return Mappings(_mapping_of(common, path, "a mapping"), by_kind)


def _mapping_of(data: dict[Any, Any], path: Path, what: str) -> Mapping:
    if not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()):
        raise SourceError(
            f"{path}: {what} must be an object of column name → field path "
            "(sections: customer, plant)"
        )
    return {k.strip(): (v.strip() or None) if v else None for k, v in data.items()}


def _load_mapping_document(path: Path) -> dict[Any, Any]:
    text = path.read_text(encoding="utf-8-sig")
    data: Any
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml  # noqa: PLC0415 - only mapping files need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SourceError(f"{path}: not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: a mapping must be an object of column name → field path")
    return data


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in NDJSON_SUFFIXES:
        return "ndjson"
    if suffix in JSON_SUFFIXES:
        return "json"
    raise SourceError(f"{path}: unknown file type (use .csv, .ndjson/.jsonl or .json)")


def field_names(
    path: Path, *, mapping: Mapping | None = None, csv_format: CsvFormat | None = None
) -> set[str]:
    """The top-level field names of an export, folded: a CSV's header (rows or not), else
    the first readable record's."""
    if file_format(path) == "csv":
        layout = detect_csv(path, csv_format or CsvFormat())
        first = next(_decoded_lines(path, layout), "")
        header = next(csv.reader([first], delimiter=layout.delimiter), [])
        paths = _column_paths(header, mapping or {}, path) if first.strip() else []
        return {parts[0].casefold() for parts in paths if parts}
    for row in read_rows(path, mapping=mapping):
        if row.body is not None:
            return {name.casefold() for name in row.body}
    return set()


def detect_kind(
    path: Path, mappings: Mappings | None = None, csv_format: CsvFormat | None = None
) -> Literal["customer", "plant"] | None:
    """Plants carry ``meteringPointId``, customers ``Number`` (any casing), each read through
    its kind's mapping; None when neither."""
    mappings = mappings or Mappings()
    if "meteringpointid" in field_names(
        path, mapping=mappings.for_kind("plant"), csv_format=csv_format
    ):
        return "plant"
    if "number" in field_names(path, mapping=mappings.for_kind("customer"), csv_format=csv_format):
        return "customer"
    return None


def read_rows(
    path: Path, *, mapping: Mapping | None = None, csv_format: CsvFormat | None = None
) -> Iterator[SourceRow]:
    """The rows of an export file, streaming (CSV and NDJSON never load the whole file)."""
    kind = file_format(path)
    if kind == "csv":
        yield from _read_csv(path, mapping or {}, csv_format or CsvFormat())
    elif kind == "ndjson":
        yield from _read_ndjson(path, mapping)
    else:
        yield from _read_json(path, mapping)


# --- CSV ---------------------------------------------------------------------------------------


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def detect_csv(path: Path, csv_format: CsvFormat) -> CsvLayout:
    """The file's encoding and delimiter, as given or as the bytes show (one streaming pass
    over the file when the encoding is to be detected)."""
    encoding = csv_format.encoding
    ambiguous: set[int] = set()
    if encoding == "auto":
        utf8_letters: set[int] = set()
        other = False
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    other = False  # a byte-order mark says UTF-8: other bytes are errors
                    break
                if raw.isascii():
                    continue
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    other = True
                else:
                    utf8_letters.add(number)
        encoding = "cp1252" if other else "utf-8"
        ambiguous = utf8_letters if other else set()
    delimiter = DELIMITERS.get(csv_format.delimiter, csv_format.delimiter)
    if csv_format.delimiter == "auto":
        first = next(_decoded_lines(path, CsvLayout(encoding, ",", frozenset())), "")
        delimiter = _delimiter(first)
    return CsvLayout(encoding, delimiter, frozenset(ambiguous))


def describe_csv(path: Path, csv_format: CsvFormat) -> str:
    """How a CSV is read, in words, for the command to print (nothing detected silently)."""
    return detect_csv(path, csv_format).describe()


def _decoded_lines(path: Path, layout: CsvLayout) -> Iterator[str]:
    """The file's lines as text, line endings kept (the csv module splits records); a line
    that the encoding cannot decode becomes U+FFFD, and its row an error."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode(layout.encoding, errors="replace")
            yield text.removeprefix("\ufeff") if number == 1 else text


def _column_paths(header: list[str], mapping: Mapping, path: Path) -> list[list[str] | None]:
    """Each column's target path as parts (None: dropped), checked for clashes."""
    paths: list[list[str] | None] = []
    seen: dict[str, str] = {}
    for column in header:
        name = column.strip()
        target = mapping.get(name, name) if mapping else name
        if not target:
            paths.append(None)
            continue
        parts = [part.strip() for part in target.split(".")]
        if any(not part for part in parts):
            raise SourceError(f"{path}: column '{name}' has an empty part in '{target}'")
        folded = ".".join(parts).casefold()
        if folded in seen:
            raise SourceError(f"{path}: columns '{seen[folded]}' and '{name}' both give '{target}'")
        seen[folded] = name
        paths.append(parts)
    targets = sorted(seen)
    for a, b in pairwise(targets):
        if b.startswith(a + "."):
            raise SourceError(
                f"{path}: column '{seen[a]}' is a value, but '{seen[b]}' makes it an object"
            )
    return paths


def _read_csv(path: Path, mapping: Mapping, csv_format: CsvFormat) -> Iterator[SourceRow]:
    layout = detect_csv(path, csv_format)
    lines = _decoded_lines(path, layout)
    reader = csv.reader(lines, delimiter=layout.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise SourceError(f"{path}: line 1: {exc}") from None
    if not any(cell.strip() for cell in header):
        return
    columns = _Columns(header, _column_paths(header, mapping, path), layout, csv_format.cells)
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceError(f"{path}: line {start}: {exc}") from None
        end, previous_end = reader.line_num, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        yield columns.row(start, end, cells)


@dataclass
class _Columns:
    """A CSV's columns: their names, target paths and types, and how to read their cells."""

    header: list[str]
    paths: list[list[str] | None]
    layout: CsvLayout
    cells: CellFormat

    def __post_init__(self) -> None:
        types = typed_paths()
        self.kinds = [types.get(".".join(p).casefold()) if p else None for p in self.paths]

    def row(self, start: int, end: int, cells: list[str]) -> SourceRow:
        """One record's body, or the first reason it cannot be read without guessing."""
        if len(cells) > len(self.header):
            return SourceRow(
                start,
                None,
                f"has {len(cells)} cells but the header names {len(self.header)} columns",
            )
        unsure = [n for n in range(start, end + 1) if n in self.layout.ambiguous]
        if unsure:
            return SourceRow(
                start,
                None,
                f"reads as UTF-8 in a file whose other lines are Windows-1252 (line {unsure[0]}); "
                "give --encoding to say which it is",
            )
        body: dict[str, Any] = {}
        for column, parts, kind, cell in zip(
            self.header, self.paths, self.kinds, cells, strict=False
        ):
            if parts is None or not cell.strip():
                continue
            if "\ufffd" in cell:
                name = ENCODINGS.get(self.layout.encoding, self.layout.encoding)
                return SourceRow(start, None, f"column '{column.strip()}' is not {name} text")
            value: Any = cell
            if kind is not None:
                try:
                    value = self.cells.convert(kind, cell)
                except CellError as exc:
                    return SourceRow(start, None, f"column '{column.strip()}': {exc}")
            _put(body, parts, value)
        return SourceRow(start, body)


def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[parts[-1]] = value


# --- JSON ---------------------------------------------------------------------------------------


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(item, dict) and item:
            out.update(_flatten(item, path))
        else:
            out[path] = item
    return out


def apply_mapping(body: dict[str, Any], mapping: Mapping | None) -> dict[str, Any]:
    """Rename a JSON record's dotted paths by the mapping; unnamed paths stay as they are."""
    if not mapping:
        return body
    out: dict[str, Any] = {}
    for path, value in _flatten(body).items():
        target = mapping.get(path, path)
        if target:
            _put(out, target.split("."), value)
    return out


def _row(line: int, value: Any, mapping: Mapping | None) -> SourceRow:
    """A record through the checks every door makes (tilsyn/core/bodies.py)."""
    if not isinstance(value, dict):
        return SourceRow(line, None, "is not a JSON object")
    try:
        check_item(value)
    except InvalidBody as exc:
        return SourceRow(line, None, _problem(exc))
    return SourceRow(line, apply_mapping(value, mapping))


def _problem(exc: InvalidBody) -> str:
    return "; ".join([exc.detail, *(f"{e.field or '(item)'}: {e.message}" for e in exc.errors)])


def _read_ndjson(path: Path, mapping: Mapping | None) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = parse_json(text, subject=ITEM)
            except InvalidBody as exc:
                yield SourceRow(number, None, _problem(exc))
                continue
            yield _row(number, value, mapping)


def _read_json(path: Path, mapping: Mapping | None) -> Iterator[SourceRow]:
    text = path.read_text(encoding="utf-8-sig")
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if position >= len(text):
        return
    line = 1 + text.count("\n", 0, position)

    def fail(at: int, message: str) -> SourceError:
        at_line = 1 + text.count("\n", 0, at)
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        return SourceError(f"{path}: line {at_line}, column {column}: {message}")

    if text[position] == "{":
        try:
            value, _ = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, exc.msg) from None
        yield _row(line, value, mapping)
        return
    if text[position] != "[":
        raise fail(position, "expected a JSON array of objects")
    counted_to = position
    position = _skip_space(text, position + 1)
    if position < len(text) and text[position] == "]":
        return
    while True:
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, exc.msg) from None
        yield _row(line, value, mapping)
        position = _skip_space(text, end)
        if position >= len(text):
            raise fail(position, "the array is not closed")
        if text[position] == "]":
            return
        if text[position] != ",":
            raise fail(position, "expected ',' or ']'")
        position = _skip_space(text, position + 1)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def write_csv(path: Path, rows: Iterable[dict[str, Any]], *, sample: int = 1000) -> int:
    """Write records as CSV with dotted column names (the inverse of reading one).

    The columns are those of the first ``sample`` records; None is an empty cell. Returns the
    number of records written.
    """
    iterator = iter(rows)
    head = [_flatten(row) for row in islice(iterator, sample)]
    columns: list[str] = []
    for flat in head:
        columns.extend(name for name in flat if name not in columns)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for flat in chain(head, (_flatten(row) for row in iterator)):
            unknown = set(flat) - set(columns)
            if unknown:
                raise ValueError(f"record {count + 1} has columns the first ones lack: {unknown}")
            writer.writerow(["" if flat.get(c) is None else _cell(flat[c]) for c in columns])
            count += 1
    return count


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
