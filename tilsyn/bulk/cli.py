"""`tilsyn import` and `tilsyn demo-data`: files straight into the database, and files to try.

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
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
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
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.demo_data import generate_customers, generate_plants
from tilsyn.inspections import bulk as inspections_bulk
from tilsyn.inspections.cli import inspection_items, is_inspections
from tilsyn.instances import service as instances

console = Console(stderr=True)
PARSE_AHEAD = 2
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
) -> Iterator[tuple[dict[int, int], PreparedChunk]]:
    """Chunks with their file lines by item index, checked ahead in the pool (when there is
    one) while the chunk before them is written: parsing and writing each get a core."""
    ahead: deque[tuple[dict[int, int], Future[PreparedChunk]]] = deque()
    while batch := list(islice(rows, CHUNK_SIZE)):
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
    from tilsyn.cli import _database

    csv = csv_format(encoding, delimiter, decimal, true_values, false_values)
    try:
        mappings = load_mappings(mapping) if mapping else None
    except (SourceError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    totals = Summary()
    per_file: list[tuple[str, Summary]] = []
    with _database() as database:
        with database.read() as session:
            try:
                target = instances.get_instance(session, instance)
            except instances.InstanceError as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(1) from None
        with report.open("w", encoding="utf-8") as out:
            actor = Actor(instance_id=target.id, request_id=f"import-{uuid.uuid4().hex[:12]}")
            synthetic_ok = target.environment == "test"
            for path in files:
                try:
                    inspections = is_inspections(path)
                    kind = "plant" if inspections else kind_of(path, mappings, csv)
                    if file_format(path) == "csv":
                        console.print(f"{path}: {describe_csv(path, csv)}")
                except (SourceError, OSError) as exc:
                    console.print(f"[red]error:[/red] {exc}")
                    raise typer.Exit(1) from None
                if inspections:
                    summary = _import_inspections(database, target.id, actor, path, out)
                    per_file.append((f"{path} (inspections)", summary))
                    totals.add_counts(summary)
                    continue
                file_mapping = mappings.for_kind(kind) if mappings else None
                summary = Summary()
                statistics = LoadStatistics(database)
                with (
                    _parsers(parse_workers) as pool,
                    Progress(
                        TextColumn(f"{path.name} ({kind}s)"),
                        BarColumn(),
                        TextColumn("{task.completed} rows, {task.fields[rate]:.0f} rows/s"),
                        TimeElapsedColumn(),
                        console=console,
                    ) as progress,
                ):
                    task = progress.add_task("import", total=None, rate=0.0)
                    today = today_in_oslo()
                    strict = target.strict_validation
                    prepare = partial(
                        prepare_chunk, kind, today=today, strict=strict, synthetic_ok=synthetic_ok
                    )
                    for lines, prepared in _prepared_chunks(
                        pool, prepare, _items(path, file_mapping, csv)
                    ):
                        results = write_chunk(
                            database, actor, prepared, today=today, statistics=statistics
                        )
                        summary.add(results)
                        for result in results:
                            if result.warnings or result.errors or result.result == "superseded":
                                record = {
                                    "file": str(path),
                                    "line": lines[result.index],
                                    **result.as_dict(),
                                }
                                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        progress.advance(task, len(results))
                        elapsed = progress.tasks[0].elapsed or 1e-9
                        progress.update(task, rate=progress.tasks[0].completed / elapsed)
                per_file.append((f"{path} ({kind}s)", summary))
                totals.add_counts(summary)
    _print_summary(per_file, totals)
    console.print(f"every warning and error with its line: {report}")
    if totals.counts["failed"]:
        raise typer.Exit(1)


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


def _import_inspections(
    database: Database, instance_id: int, actor: Actor, path: Path, report: TextIO
) -> Summary:
    """An inspections file, by the bulk endpoint's rules; problems go to the report."""
    summary = Summary()
    rows = inspection_items(path)
    while batch := list(islice(rows, INSPECTION_CHUNK)):
        lines = {item.index: line for line, item in batch}
        results = inspections_bulk.write_chunk(
            database, instance_id, [item for _, item in batch], actor=actor, today=today_in_oslo()
        )
        summary.add(results)
        for result in results:
            if result.warnings or result.errors:
                record = {"file": str(path), "line": lines[result.index], **result.as_dict()}
                report.write(json.dumps(record, ensure_ascii=False) + "\n")
    return summary


def demo_data(
    plants: Annotated[int, typer.Option(help="Plants to generate")] = 1000,
    customers: Annotated[int, typer.Option(help="Customers to generate")] = 900,
    out: Annotated[Path, typer.Option(help="Folder for customers.ndjson and plants.ndjson")] = Path(
        "demo-data"
    ),
    seed: Annotated[int, typer.Option(help="Same seed, same data")] = 1,
) -> None:
    """Valid, varied data (synthetic personal numbers, a realistic grid hierarchy).

    Its metering point ids never collide with the ones `tilsyn demo` loads, so the files can
    be imported or synced into the demo server as new plants.
    """
    out.mkdir(parents=True, exist_ok=True)
    numbers: list[str] = []
    with (out / "customers.ndjson").open("w", encoding="utf-8") as handle:
        for customer in generate_customers(customers, seed=seed, synthetic_ids=True):
            numbers.append(customer["Number"])
            handle.write(json.dumps(customer, ensure_ascii=False) + "\n")
    with (out / "plants.ndjson").open("w", encoding="utf-8") as handle:
        for plant in generate_plants(plants, customer_numbers=numbers, seed=seed):
            handle.write(json.dumps(plant, ensure_ascii=False) + "\n")
    console.print(f"wrote {customers} customers and {plants} plants to {out}")
