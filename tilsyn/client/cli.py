"""``tilsyn sync``: the nightly job of a grid company's integration, as one command."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tilsyn.client.cells import FALSE_VALUES, TRUE_VALUES, CellFormat
from tilsyn.client.readers import DELIMITERS, CsvFormat

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from tilsyn.client.sdk import Environment
    from tilsyn.client.state import RowRecord
    from tilsyn.client.sync import SyncOptions, SyncResult

console = Console(stderr=True)
out = Console()


class _RichProgress:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, label: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(label, total=total)

    def advance(self, count: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)


EncodingOption = Annotated[
    str,
    typer.Option(
        help="CSV encoding: auto (UTF-8, else Windows-1252, said which), utf-8, windows-1252",
        rich_help_panel="CSV exports",
    ),
]
DelimiterOption = Annotated[
    str,
    typer.Option(
        help="CSV delimiter: auto (the header's), ',', ';' or tab", rich_help_panel="CSV exports"
    ),
]
DecimalOption = Annotated[
    str,
    typer.Option(
        help="Decimal mark in coordinates: auto (point or comma), '.' or ','",
        rich_help_panel="CSV exports",
    ),
]
TrueOption = Annotated[
    str,
    typer.Option(
        "--true-values",
        help="Comma-separated cells that mean true in boolean columns (any case)",
        rich_help_panel="CSV exports",
    ),
]
FalseOption = Annotated[
    str,
    typer.Option(
        "--false-values",
        help="Comma-separated cells that mean false in boolean columns (any case)",
        rich_help_panel="CSV exports",
    ),
]
DEFAULT_TRUE = ",".join(sorted(TRUE_VALUES))
DEFAULT_FALSE = ",".join(sorted(FALSE_VALUES))


def csv_format(
    encoding: str, delimiter: str, decimal: str, true_values: str, false_values: str
) -> CsvFormat:
    """The CSV options as one format; a bad option is a usage error naming it."""
    if encoding != "auto":
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise typer.BadParameter(
                f"unknown encoding {encoding!r}", param_hint="--encoding"
            ) from None
    if delimiter != "auto" and delimiter not in DELIMITERS:
        raise typer.BadParameter("use auto, ',', ';' or tab", param_hint="--delimiter")
    if decimal not in ("auto", ".", ","):
        raise typer.BadParameter("use auto, '.' or ','", param_hint="--decimal")
    try:
        cells = CellFormat(
            decimal="." if decimal == "." else "," if decimal == "," else "auto",
            true_values=_words(true_values),
            false_values=_words(false_values),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--true-values/--false-values") from None
    return CsvFormat(encoding, delimiter, cells)


def _words(text: str) -> frozenset[str]:
    return frozenset(word.strip().casefold() for word in text.split(",") if word.strip())


def _print_summary(result: SyncResult, *, show: int) -> None:
    """What a person reads after the run: a dry run's changes, the counts, the failures."""
    from rich.table import Table

    if result.dry_run:
        _print_changes(result, show=show)
    table = Table("kind", "result", "rows", title="dry run" if result.dry_run else "sync")
    for kind, counts in result.counts().items():
        for name, count in sorted(counts.items()):
            table.add_row(kind, name, str(count))
    console.print(table)
    _print_failures(result, show=show)
    seconds = (result.finished - result.started).total_seconds()
    console.print(
        f"{len(result.records)} records in {seconds:.1f} s, {result.requests} requests, "
        f"{result.retries} retries; report: {', '.join(str(p) for p in result.report_paths)}"
    )


def _print_changes(result: SyncResult, *, show: int) -> None:
    """A dry run's first changes, field by field; the rest are in the report."""
    shown = 0
    for record in result.records:
        if record.result not in {"would-update", "would-terminate"} or not record.diff:
            continue
        if shown >= show:
            out.print(f"… more changes in {result.report_paths[-1]}")
            break
        shown += 1
        where = f"{record.file}:{record.line}" if record.file else "server"
        out.print(f"[bold]{record.kind} {record.key}[/bold] ({where}) {record.result}")
        for path, (before, after) in record.diff.items():
            out.print(
                f"    {path}: {json.dumps(before, ensure_ascii=False)} → "
                f"{json.dumps(after, ensure_ascii=False)}",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )


def _print_failures(result: SyncResult, *, show: int) -> None:
    """The first failed rows with their errors, and the problems that stopped the run."""
    failed = [r for r in result.records if r.failed]
    for record in failed[:show]:
        console.print(
            f"[red]{record.result}[/red] {_where(record)}: {_errors_text(record)}",
            soft_wrap=True,
            highlight=False,
        )
    if len(failed) > show:
        console.print(f"… {len(failed) - show} more failed rows in the report")
    for problem in result.problems:
        console.print(f"[red]problem:[/red] {problem}")


def _where(record: RowRecord) -> str:
    """File and line, and the key where the row has one (an unreadable row's key is its
    file and line already)."""
    if not record.file:
        return record.key
    where = f"{record.file}:{record.line}"
    return where if record.key in (where, "") else f"{where} {record.key}"


def _errors_text(record: RowRecord) -> str:
    texts = [
        f"{issue.field}: {issue.message}" if issue.field else issue.message
        for issue in record.errors
    ]
    return "; ".join(texts) or record.message


FilesArgument = Annotated[
    list[Path],
    typer.Argument(
        help="Exports: CSV (dotted columns), NDJSON or JSON; plants and/or customers",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
UrlOption = Annotated[str, typer.Option(help="Server base URL", envvar="TILSYN_URL")]
KeyOption = Annotated[
    str, typer.Option(help="API key (better: TILSYN_API_KEY)", envvar="TILSYN_API_KEY")
]
EnvironmentOption = Annotated[
    str | None,
    typer.Option(help="test or prod (default: from a tilsyn key's prefix)"),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        help="JSON/YAML file: source column → field path, with optional customer: and "
        "plant: sections",
        exists=True,
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Compare with the server; send nothing")
]
ResumeOption = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted sync; skip its finished rows")
]
ChangedOnlyOption = Annotated[
    bool,
    typer.Option(
        "--changed-only", help="Skip rows the server confirmed unchanged in an earlier sync"
    ),
]
FullOption = Annotated[
    bool, typer.Option("--full", help="Report what the server has and the export does not")
]
TerminateOption = Annotated[
    bool,
    typer.Option("--terminate", help="With --full: set such plants' status to Terminert"),
]
MaxTerminateOption = Annotated[
    str, typer.Option(help="Refuse to terminate more plants than this (N or N%)")
]
ConcurrencyOption = Annotated[int, typer.Option(min=1, max=64, help="Requests in flight")]
BulkOption = Annotated[bool, typer.Option(help="Use bulk endpoints when the server has them")]
BulkSizeOption = Annotated[int, typer.Option(min=1, max=10_000, help="Rows per bulk request")]
ReportOption = Annotated[
    Path, typer.Option(help="Report path without suffix: writes .csv and .json")
]
StateOption = Annotated[Path | None, typer.Option(help="State file (default: beside the report)")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds per request")]
MaxAttemptsOption = Annotated[int, typer.Option(min=1, help="Attempts per request")]
ShowOption = Annotated[int, typer.Option(help="Changes and failures to print")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")]


def sync(
    files: FilesArgument,
    url: UrlOption,
    key: KeyOption,
    environment: EnvironmentOption = None,
    mapping: MappingOption = None,
    encoding: EncodingOption = "auto",
    delimiter: DelimiterOption = "auto",
    decimal: DecimalOption = "auto",
    true_values: TrueOption = DEFAULT_TRUE,
    false_values: FalseOption = DEFAULT_FALSE,
    dry_run: DryRunOption = False,
    resume: ResumeOption = False,
    changed_only: ChangedOnlyOption = False,
    full: FullOption = False,
    terminate: TerminateOption = False,
    max_terminate: MaxTerminateOption = "10%",
    concurrency: ConcurrencyOption = 8,
    bulk: BulkOption = True,
    bulk_size: BulkSizeOption = 500,
    report: ReportOption = Path("tilsyn-sync"),
    state: StateOption = None,
    timeout: TimeoutOption = 60.0,
    max_attempts: MaxAttemptsOption = 6,
    show: ShowOption = 50,
    quiet: QuietOption = False,
) -> None:
    """Sync exports from a CIS/MDM to the registry: validate, send, report.

    Exits 0 when every row went through, 1 when any row was invalid or failed, 2 when the sync
    could not run (unreadable file, server unreachable, key refused).
    """
    from tilsyn.client.sdk import RetryPolicy
    from tilsyn.client.sync import SyncOptions

    options = SyncOptions(
        url=url,
        api_key=key,
        files=list(files),
        environment=_environment(environment, terminate=terminate, full=full),
        mapping=mapping,
        csv=csv_format(encoding, delimiter, decimal, true_values, false_values),
        concurrency=concurrency,
        bulk=bulk,
        bulk_size=bulk_size,
        dry_run=dry_run,
        resume=resume,
        changed_only=changed_only,
        full=full,
        terminate=terminate,
        max_terminate=max_terminate,
        report=report,
        state=state,
        timeout=timeout,
        retry=RetryPolicy(max_attempts=max_attempts),
    )
    result = _run_sync(options, quiet=quiet)
    _print_summary(result, show=show)
    raise typer.Exit(result.exit_code)


def _environment(environment: str | None, *, terminate: bool, full: bool) -> Environment | None:
    """The options that cannot go together or take no such value: a usage error (exit 2)."""
    if terminate and not full:
        console.print("[red]error:[/red] --terminate needs --full")
        raise typer.Exit(2)
    if environment not in (None, "test", "prod"):
        console.print("[red]error:[/red] --environment must be test or prod")
        raise typer.Exit(2)
    return "test" if environment == "test" else "prod" if environment else None


def _run_sync(options: SyncOptions, *, quiet: bool) -> SyncResult:
    """The sync with a progress bar; a sync that cannot run exits 2."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tilsyn.client.sdk import ApiError
    from tilsyn.client.sync import Sync, SyncError

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    try:
        with progress:
            engine = Sync(
                options,
                progress=_RichProgress(progress),
                log=console.print,
            )
            return engine.run()
    except (SyncError, ApiError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
