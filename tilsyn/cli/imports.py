"""`tilsyn import`: files straight into the database.

Inspection files (records with `date` and `kind`) go through the inspections bulk path.

`import` reads CSV (dotted column names), NDJSON or JSON arrays and writes them through the same
chunked path as the bulk endpoints (each item through the single-entity service), with a
progress bar and a report of every warning and error with its line.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tilsyn.bulk.service import (
    CHUNK_SIZE,
    Kind,
    LoadStatistics,
    PreparedChunk,
    Summary,
    checker_pool,
    prepare_chunk,
    write_chunk,
)
from tilsyn.bulk.stream import RawItem
from tilsyn.cli.database import console, fail, open_database
from tilsyn.client.cli import (
    DEFAULT_FALSE,
    DEFAULT_TRUE,
    DecimalOption,
    DelimiterOption,
    EncodingOption,
    FalseOption,
    TrueOption,
    csv_format,
)
from tilsyn.client.readers import (
    CsvFormat,
    Mapping,
    Mappings,
    SourceError,
    describe_csv,
    detect_kind,
    file_format,
    load_mappings,
    read_rows,
)
from tilsyn.contract.items import ItemResult
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.models import Instance
from tilsyn.inspections import bulk as inspections_bulk
from tilsyn.inspections.files import inspection_items, is_inspections
from tilsyn.instances import service as instances

PARSE_AHEAD = 2
SQLITE_CUSTOMER_CHUNK = 4 * CHUNK_SIZE
"""Customers per chunk (one transaction) on SQLite. A customer is a small document with a
random stored key: 500 of them dirty pages all over three indexes (customers, personal
numbers, history by entity), and the commit writes every such page for a few rows each.
2,000 to a commit halve what an import of 100,000 writes to disk. (On PostgreSQL the larger
statements cost the importer more CPU than the fewer commits saved: 500 there.)"""
INSPECTION_CHUNK = 500


def kind_of(path: Path, mappings: Mappings | None = None, csv: CsvFormat | None = None) -> Kind:
    """Customers carry `Number`, plants `meteringPointId` (any casing, after the mapping)."""
    kind = detect_kind(path, mappings, csv)
    if kind is None:
        raise SourceError(f"{path}: neither customers (Number) nor plants (meteringPointId)")
    return kind


def _items(
    path: Path, mapping: Mapping | None = None, csv: CsvFormat | None = None
) -> Iterator[tuple[int, RawItem]]:
    """Items with their lines. NDJSON lines go undecoded to the checker processes, which
    decode them as the bulk endpoint does (same limits, same messages), unless a mapping
    must rename their fields first."""
    if file_format(path) == "ndjson" and not mapping:
        with path.open(encoding="utf-8-sig") as handle:
            index = 0
            for line, text in enumerate(handle, start=1):
                if text.strip():
                    yield line, RawItem(index, text=text)
                    index += 1
        return
    for index, row in enumerate(read_rows(path, mapping=mapping, csv_format=csv)):
        yield row.line, RawItem(index, row.body, row.error)


@contextmanager
def _parsers(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers < 1:
        yield None
        return
    with checker_pool(workers) as pool:
        yield pool


def _prepared_chunks(
    pool: ProcessPoolExecutor | None,
    prepare: Callable[[list[RawItem]], PreparedChunk],
    rows: Iterator[tuple[int, RawItem]],
    size: int = CHUNK_SIZE,
) -> Iterator[tuple[dict[int, int], PreparedChunk]]:
    """Chunks with their file lines by item index, checked ahead in the pool (when there is
    one) while the chunk before them is written: parsing and writing each get a core."""
    ahead: deque[tuple[dict[int, int], Future[PreparedChunk]]] = deque()
    while batch := list(islice(rows, size)):
        lines = {item.index: line for line, item in batch}
        items = [item for _, item in batch]
        if pool is None:
            yield lines, prepare(items)
            continue
        ahead.append((lines, pool.submit(prepare, items)))
        if len(ahead) > PARSE_AHEAD:
            lines, future = ahead.popleft()
            yield lines, future.result()
    while ahead:
        lines, future = ahead.popleft()
        yield lines, future.result()


def import_files(
    instance: str,
    files: Annotated[list[Path], typer.Argument(help="Customers first, then plants")],
    report: Annotated[
        Path, typer.Option(help="Every warning and error with its file and line (NDJSON)")
    ] = Path("import-report.ndjson"),
    parse_workers: Annotated[
        int,
        typer.Option(
            min=0, help="Processes that check rows while this one writes (0: check here too)"
        ),
    ] = 1,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="JSON/YAML file: source column → field path, with optional customer: and "
            "plant: sections",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    encoding: EncodingOption = "auto",
    delimiter: DelimiterOption = "auto",
    decimal: DecimalOption = "auto",
    true_values: TrueOption = DEFAULT_TRUE,
    false_values: FalseOption = DEFAULT_FALSE,
) -> None:
    """Import exports straight into the database, with the API's rules for every row."""
    csv = csv_format(encoding, delimiter, decimal, true_values, false_values)
    try:
        mappings = load_mappings(mapping) if mapping else None
    except (SourceError, OSError) as exc:
        raise fail(str(exc)) from None
    totals = Summary()
    per_file: list[tuple[str, Summary]] = []
    with open_database(load=True) as database:
        target = _target(database, instance)
        with report.open("w", encoding="utf-8") as out:
            actor = Actor(instance_id=target.id, request_id=f"import-{uuid.uuid4().hex[:12]}")
            run = _Run(database, target, actor, mappings, csv, parse_workers, out)
            for path in files:
                name, summary = _import_file(run, path)
                per_file.append((name, summary))
                totals.add_counts(summary)
    _print_summary(per_file, totals)
    console.print(f"every warning and error with its line: {report}")
    if totals.counts["failed"]:
        raise typer.Exit(1)


@dataclass(frozen=True)
class _Run:
    """One import: the instance it writes to, how its files are read, where problems go."""

    database: Database
    target: Instance
    actor: Actor
    mappings: Mappings | None
    csv: CsvFormat
    parse_workers: int
    report: TextIO


def _target(database: Database, name: str) -> Instance:
    with database.read() as session:
        try:
            return instances.get_instance(session, name)
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None


def _file_kind(run: _Run, path: Path) -> Kind | None:
    """What the file holds: customers or plants, or None for inspections. A CSV file's
    encoding and delimiter are said, as they were guessed."""
    try:
        inspections = is_inspections(path)
        kind: Kind = "plant" if inspections else kind_of(path, run.mappings, run.csv)
        if file_format(path) == "csv":
            console.print(f"{path}: {describe_csv(path, run.csv)}")
    except (SourceError, OSError) as exc:
        raise fail(str(exc)) from None
    return None if inspections else kind


def _import_file(run: _Run, path: Path) -> tuple[str, Summary]:
    """One file, by its kind; its name for the summary table, and its counts."""
    kind = _file_kind(run, path)
    if kind is None:
        return f"{path} (inspections)", _import_inspections(run, path)
    return f"{path} ({kind}s)", _import_rows(run, path, kind)


def _chunk_size(database: Database, kind: Kind) -> int:
    if kind == "customer" and database.dialect == "sqlite":
        return SQLITE_CUSTOMER_CHUNK
    return CHUNK_SIZE


def _import_rows(run: _Run, path: Path, kind: Kind) -> Summary:
    """Customers or plants in chunks, checked ahead in the parser processes, with progress."""
    summary = Summary()
    statistics = LoadStatistics(run.database)
    today = today_in_oslo()
    prepare = partial(
        prepare_chunk,
        kind,
        today=today,
        strict=run.target.strict_validation,
        synthetic_ok=run.target.environment == "test",
    )
    rows = _items(path, run.mappings.for_kind(kind) if run.mappings else None, run.csv)
    with (
        _parsers(run.parse_workers) as pool,
        Progress(
            TextColumn(f"{path.name} ({kind}s)"),
            BarColumn(),
            TextColumn("{task.completed} rows, {task.fields[rate]:.0f} rows/s"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("import", total=None, rate=0.0)
        chunks = _prepared_chunks(pool, prepare, rows, _chunk_size(run.database, kind))
        for lines, prepared in chunks:
            results = write_chunk(
                run.database, run.actor, prepared, today=today, statistics=statistics
            )
            summary.add(results)
            noted = [r for r in results if r.warnings or r.errors or r.result == "superseded"]
            _report(run.report, path, lines, noted)
            progress.advance(task, len(results))
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, rate=progress.tasks[0].completed / elapsed)
    return summary


def _report(report: TextIO, path: Path, lines: dict[int, int], results: list[ItemResult]) -> None:
    """A line of the report per result, with the file and the line it came from."""
    for result in results:
        record = {"file": str(path), "line": lines[result.index], **result.as_dict()}
        report.write(json.dumps(record, ensure_ascii=False) + "\n")


def _print_summary(per_file: list[tuple[str, Summary]], totals: Summary) -> None:
    """A table like sync's: a row per file, a total row when there are several files."""
    names = list(totals.counts)
    table = Table("file", *names, "total", title="import")
    for name, summary in per_file:
        table.add_row(
            name, *(str(summary.counts[n]) for n in names), str(sum(summary.counts.values()))
        )
    if len(per_file) > 1:
        table.add_row(
            "all files",
            *(str(totals.counts[n]) for n in names),
            str(sum(totals.counts.values())),
            style="bold",
        )
    console.print(table)


def _import_inspections(run: _Run, path: Path) -> Summary:
    """An inspections file, by the bulk endpoint's rules; problems go to the report."""
    summary = Summary()
    rows = inspection_items(path)
    while batch := list(islice(rows, INSPECTION_CHUNK)):
        lines = {item.index: line for line, item in batch}
        results = inspections_bulk.write_chunk(
            run.database,
            run.target.id,
            [item for _, item in batch],
            actor=run.actor,
            today=today_in_oslo(),
        )
        summary.add(results)
        _report(run.report, path, lines, [r for r in results if r.warnings or r.errors])
    return summary
