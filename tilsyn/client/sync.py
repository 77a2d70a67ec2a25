"""The sync engine: exports in, one upsert per row (or bulk), a report of every row out.

A sync runs in steps:

1. **Read and validate** every file first, with the server's own ``parse_customer`` and
   ``parse_plant``: rows with errors are reported by file and line and never sent. A later row
   with the same key supersedes an earlier one (in any file). A file that cannot be read as a
   whole (broken JSON, clashing columns) stops the sync before anything is sent.
2. **Send** customers, then plants (so that plants find their customers), with bounded
   concurrency, or in NDJSON batches when the server offers bulk endpoints. Every finished
   row is committed to the state file at once, so ``--resume`` continues a killed run without
   sending finished rows again.
3. **Reconcile** (``--full``): keys the server has and the export does not are reported;
   with ``--terminate`` such plants get status ``Terminert`` (never deleted).

A dry run reads instead of writing: the server's key listing and GETs, compared with what
the server would store (see :mod:`tilsyn.client.preview`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Protocol

from tilsyn.client.readers import (
    CsvFormat,
    Mapping,
    Mappings,
    SourceError,
    SourceRow,
    describe_csv,
    file_format,
    load_mappings,
    read_rows,
)
from tilsyn.client.readers import detect_kind as kind_of_file
from tilsyn.client.sdk import (
    ApiError,
    Capabilities,
    ClientOptions,
    Environment,
    ProblemError,
    RetryPolicy,
    TilsynClient,
    UpsertResult,
)
from tilsyn.client.state import FINISHED, RowRecord, SyncState
from tilsyn.contract.customers.parse import parse_customer
from tilsyn.contract.plants.parse import parse_plant
from tilsyn.contract.problems import Issue, Issues
from tilsyn.contract.time import today_in_oslo

Kind = Literal["customer", "plant"]
KINDS: tuple[Kind, ...] = ("customer", "plant")
TERMINATED = "Terminert"
STATE_FILE = ".tilsyn-sync-state.sqlite"
PREVIEW_WINDOW = 2000


class SyncError(Exception):
    """The sync cannot run as asked (bad file, missing capability); nothing more is sent."""


class ProgressSink(Protocol):
    def phase(self, label: str, total: int | None) -> None: ...

    def advance(self, count: int = 1) -> None: ...


class NoProgress:
    def phase(self, label: str, total: int | None) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass


@dataclass
class SyncOptions:
    url: str
    api_key: str
    files: list[Path]
    environment: Environment | None = None
    mapping: Path | None = None
    csv: CsvFormat = field(default_factory=CsvFormat)
    concurrency: int = 8
    bulk: bool = True
    bulk_size: int = 500
    dry_run: bool = False
    resume: bool = False
    changed_only: bool = False
    full: bool = False
    terminate: bool = False
    max_terminate: str = "10%"
    report: Path = Path("tilsyn-sync")
    state: Path | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    today: date | None = None

    @property
    def state_path(self) -> Path:
        return self.state or self.report.parent / STATE_FILE


@dataclass(slots=True)
class Planned:
    """A row after validation: what the sync will do with it."""

    kind: Kind
    file: str
    line: int
    key: str
    hash: str
    action: Literal["send", "invalid", "duplicate"]
    errors: list[Issue]
    warnings: list[Issue]
    message: str = ""
    has_key: bool = True


@dataclass
class ExportFile:
    path: Path
    kind: Kind
    mapping: Mapping | None = None
    csv: CsvFormat = field(default_factory=CsvFormat)
    rows: list[Planned] = field(default_factory=list)

    def read(self) -> Iterator[SourceRow]:
        return read_rows(self.path, mapping=self.mapping, csv_format=self.csv)

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass
class SyncResult:
    records: list[RowRecord]
    dry_run: bool
    started: datetime
    finished: datetime
    bulk_used: dict[str, bool]
    retries: int
    requests: int
    problems: list[str]
    report_paths: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(r.failed for r in self.records)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for record in self.records:
            by_result = out.setdefault(record.kind, {})
            by_result[record.result] = by_result.get(record.result, 0) + 1
        return out


def body_hash(kind: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()[:32]


def target_id(environment: str, api_key: str) -> str:
    """Which registry a state belongs to: the key's instance, known by (a hash of) the key.

    Not the URL: one server has many names (a proxy, a load balancer, a trailing slash).
    A new key starts a new state, which only means one sync that sends every row.
    """
    fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{environment}|{fingerprint}"


def _client_issues(issues: list[Any]) -> list[Issue]:
    return [Issue(i.field, i.code, i.message) for i in issues]


def _parse(kind: Kind, body: dict[str, Any], today: date) -> tuple[str | None, Issues]:
    """A row through the server's own parse (tilsyn.contract): its key, when it has one, and
    its issues."""
    if kind == "plant":
        change, issues = parse_plant(body, today=today)
        return (change.metering_point_id if change is not None else None), issues
    customer, issues = parse_customer(body, today=today)
    return (customer.Number.strip() if customer is not None else None), issues


def _raw_key(body: dict[str, Any], kind: Kind) -> str | None:
    wanted = "meteringpointid" if kind == "plant" else "number"
    for name, value in body.items():
        if name.casefold() == wanted and isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return None


def detect_kind(path: Path, mappings: Mappings | None, csv_format: CsvFormat | None = None) -> Kind:
    kind = kind_of_file(path, mappings, csv_format)
    if kind is not None:
        return kind
    raise SyncError(
        f"{path}: cannot tell plants from customers: a plant export has a 'meteringPointId' "
        "column, a customer export a 'Number' column"
    )


def _max_terminate(spec: str, server_total: int) -> int:
    text = spec.strip()
    try:
        if text.endswith("%"):
            return int(server_total * float(text[:-1]) / 100)
        return int(text)
    except ValueError:
        raise SyncError(f"--max-terminate must be a number or a percentage, not {spec!r}") from None


class Sync:
    def __init__(
        self,
        options: SyncOptions,
        *,
        client: TilsynClient | None = None,
        progress: ProgressSink | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options
        self.client = client or TilsynClient(
            options.url,
            options.api_key,
            environment=options.environment,
            retry=options.retry,
            options=ClientOptions(
                timeout=options.timeout, max_connections=max(1, options.concurrency)
            ),
        )
        self._own_client = client is None
        self.environment = self.client.environment
        self.progress = progress or NoProgress()
        self.log = log or (lambda _message: None)
        self.today = options.today or today_in_oslo()
        self.synthetic_ok = self.environment == "test"
        self.target = target_id(self.environment, options.api_key)
        self.records: list[RowRecord] = []
        self.problems: list[str] = []
        self.bulk_used: dict[str, bool] = {}
        self._server_keys: dict[Kind, dict[str, str | None]] = {}
        self._state: SyncState | None = None
        self._run_id = 0

    # -- entry point --

    def run(self) -> SyncResult:
        started = datetime.now(UTC)
        try:
            mappings = load_mappings(self.options.mapping) if self.options.mapping else None
            files = self._validate(mappings)
            self._run(files)
        except SourceError as exc:
            raise SyncError(str(exc)) from None
        finally:
            if self._state is not None:
                self._state.close()
            if self._own_client:
                self.client.close()
        result = SyncResult(
            records=self.records,
            dry_run=self.options.dry_run,
            started=started,
            finished=datetime.now(UTC),
            bulk_used=self.bulk_used,
            retries=self.client.stats.retries,
            requests=self.client.stats.requests,
            problems=self.problems,
        )
        result.report_paths = write_report(result, self._report_base(), self.options)
        return result

    def _report_base(self) -> Path:
        base = self.options.report
        return base.with_name(base.name + "-dry-run") if self.options.dry_run else base

    def _preflight(self) -> None:
        """Fail before the first row when the server is unreachable or refuses the key."""
        try:
            self.client.find_plant("0" * 18)
        except ProblemError as exc:
            raise SyncError(f"the server refused the request: {exc}") from None
        except ApiError as exc:
            raise SyncError(f"cannot reach the server: {exc}") from None

    def _run(self, files: list[ExportFile]) -> None:
        self._preflight()
        finished = self._open_state()
        capabilities = self.client.capabilities()
        for kind in KINDS:
            kind_files = [f for f in files if f.kind == kind]
            if kind_files:
                self._sync_kind(kind, kind_files, finished, capabilities)
        if self.options.full:
            self._reconcile(files)
        if self._state is not None and not self.options.dry_run:
            self._state.finish_run(self._run_id)

    def _open_state(self) -> dict[tuple[str, str], str]:
        """Open the state file when the run needs it and start (or resume) this run in it.

        Gives the rows an interrupted run being resumed already finished, by (kind, key),
        with the hash they were sent with.
        """
        if not self.options.dry_run or self.options.resume or self.options.changed_only:
            self._state = SyncState(self.options.state_path)
        if self._state is None:
            return {}
        finished: dict[tuple[str, str], str] = {}
        interrupted = self._state.interrupted_run(self.target)
        if self.options.resume:
            finished = self._resume(self._state, interrupted)
        elif interrupted is not None:
            self.log(
                f"the sync started {interrupted[1]} did not finish; --resume would continue it"
            )
        if not self.options.dry_run and not self._run_id:
            self._run_id = self._state.start_run(self.target)
        return finished

    def _resume(
        self, state: SyncState, interrupted: tuple[int, str] | None
    ) -> dict[tuple[str, str], str]:
        """Take over the interrupted run's finished rows (a dry run only looks at them)."""
        if interrupted is None:
            self.log("nothing to resume: the last sync to this server finished")
            return {}
        self.log(f"resuming the sync started {interrupted[1]}")
        earlier = state.resume_run(interrupted[0])
        if not self.options.dry_run:
            self._run_id = interrupted[0]
            self.records.extend(earlier)
        return {(r.kind, r.key): r.hash for r in earlier}

    def _sync_kind(
        self,
        kind: Kind,
        kind_files: list[ExportFile],
        finished: dict[tuple[str, str], str],
        capabilities: Capabilities,
    ) -> None:
        """One kind's rows: list the server's keys when needed, then send or preview."""
        lists = capabilities.list_plants if kind == "plant" else capabilities.list_customers
        if (self.options.full or self.options.changed_only or self.options.dry_run) and lists:
            self._server_keys[kind] = self._list_keys(kind)
        elif self.options.full:
            raise SyncError(
                f"--full needs the server to list its {kind} keys, and this server "
                "does not offer it"
            )
        planned = [row for f in kind_files for row in f.rows]
        self._record_unsent(planned)
        confirmed = (
            self._state.confirmed(self.target, kind)
            if self.options.changed_only and self._state is not None
            else {}
        )
        to_send = self._select(kind, planned, finished, confirmed)
        if self.options.dry_run:
            self._preview(kind, kind_files, to_send)
        else:
            self._send(kind, kind_files, to_send)

    # -- step 1: read and validate --

    def _validate(self, mappings: Mappings | None) -> list[ExportFile]:
        files = []
        for path in self.options.files:
            kind = detect_kind(path, mappings, self.options.csv)
            mapping = mappings.for_kind(kind) if mappings else None
            files.append(ExportFile(path, kind, mapping, self.options.csv))
            if file_format(path) == "csv":
                self.log(f"{path}: {describe_csv(path, self.options.csv)}")
        files.sort(key=lambda f: KINDS.index(f.kind))
        latest: dict[tuple[Kind, str], Planned] = {}
        for export in files:
            self.progress.phase(f"validating {export.path.name}", None)
            for row in export.read():
                planned = self._plan(export, row)
                if planned.has_key:
                    earlier = latest.get((export.kind, planned.key))
                    if earlier is not None:
                        earlier.action = "duplicate"
                        earlier.message = f"superseded by {export.name}:{planned.line}"
                    latest[(export.kind, planned.key)] = planned
                export.rows.append(planned)
                self.progress.advance()
        return files

    def _plan(self, export: ExportFile, row: SourceRow) -> Planned:
        where = f"{export.name}:{row.line}"
        if row.body is None:
            return Planned(
                export.kind, export.name, row.line, where, "", "invalid",
                [Issue("", "unreadable", f"line {row.line} {row.error}")], [], has_key=False,
            )  # fmt: skip
        digest = body_hash(export.kind, row.body)
        key, issues = _parse(export.kind, row.body, self.today)
        issues.apply_strictness(False, synthetic_ok=self.synthetic_ok)
        key = key or _raw_key(row.body, export.kind)
        errors = _client_issues(issues.errors)
        return Planned(
            kind=export.kind,
            file=export.name,
            line=row.line,
            key=key or where,
            hash=digest,
            action="invalid" if errors else "send",
            errors=errors,
            warnings=_client_issues(issues.warnings),
            message=f"line {row.line}: not sent, the server would reject it" if errors else "",
            has_key=key is not None,
        )

    def _record_unsent(self, planned: list[Planned]) -> None:
        for row in planned:
            if row.action == "send":
                continue
            duplicate = row.action == "duplicate"
            self.records.append(
                RowRecord(
                    kind=row.kind,
                    key=f"{row.key}@{row.file}:{row.line}" if duplicate else row.key,
                    file=row.file,
                    line=row.line,
                    result="skipped" if duplicate else "invalid",
                    hash=row.hash,
                    message=row.message,
                    warnings=row.warnings,
                    errors=row.errors,
                )
            )

    def _select(
        self,
        kind: Kind,
        planned: list[Planned],
        finished: dict[tuple[str, str], str],
        confirmed: dict[str, str],
    ) -> set[tuple[str, int]]:
        """The rows to send, as (file, line); the others are recorded as skipped."""
        on_server = self._server_keys.get(kind)
        selected: set[tuple[str, int]] = set()
        for row in planned:
            if row.action != "send":
                continue
            if finished.get((kind, row.key)) == row.hash:
                if self.options.dry_run:
                    self._skip(row, "finished by the interrupted run being resumed")
                continue  # its record came from the state
            if (
                self.options.changed_only
                and confirmed.get(row.key) == row.hash
                and (on_server is None or row.key in on_server)
            ):
                self._skip(row, "unchanged since the server last confirmed it")
                continue
            selected.add((row.file, row.line))
        return selected

    def _skip(self, row: Planned, why: str) -> None:
        self.records.append(
            RowRecord(
                kind=row.kind,
                key=row.key,
                file=row.file,
                line=row.line,
                result="skipped",
                hash=row.hash,
                message=why,
                warnings=row.warnings,
            )
        )

    def _rows_to_send(
        self, files: list[ExportFile], selected: set[tuple[str, int]]
    ) -> Iterator[tuple[Planned, dict[str, Any]]]:
        """Read the files again (they are not kept in memory) and give the rows to send."""
        for export in files:
            planned = iter(export.rows)
            for row in export.read():
                plan = next(planned, None)
                if plan is None or plan.line != row.line:
                    raise SyncError(f"{export.name} changed while the sync was reading it")
                if (plan.file, plan.line) not in selected:
                    continue
                if row.body is None or body_hash(export.kind, row.body) != plan.hash:
                    raise SyncError(f"{export.name} changed while the sync was reading it")
                yield plan, row.body

    # -- step 2: send --

    def _send(
        self,
        kind: Kind,
        files: list[ExportFile],
        selected: set[tuple[str, int]],
    ) -> None:
        capabilities = self.client.capabilities()
        bulk = self.options.bulk and (
            capabilities.bulk_plants if kind == "plant" else capabilities.bulk_customers
        )
        self.bulk_used[kind] = bulk
        self.progress.phase(f"sending {kind}s" + (" (bulk)" if bulk else ""), len(selected))
        rows = self._rows_to_send(files, selected)
        jobs: Iterator[Callable[[], list[RowRecord]]]
        if bulk:
            size = max(1, self.options.bulk_size)
            batches = iter(lambda: list(islice(rows, size)), [])
            jobs = (partial(self._send_batch, kind, batch) for batch in batches)
        else:
            jobs = (partial(self._send_many, kind, [(plan, body)]) for plan, body in rows)
        self._dispatch(
            jobs, self._finish, workers=min(self.options.concurrency, 4) if bulk else None
        )

    def _upsert(self, kind: Kind, body: dict[str, Any]) -> UpsertResult:
        if kind == "plant":
            return self.client.upsert_plant(body)
        return self.client.upsert_customer(body)

    def _send_many(self, kind: Kind, rows: list[tuple[Planned, dict[str, Any]]]) -> list[RowRecord]:
        return [self._send_one(kind, plan, body) for plan, body in rows]

    def _send_one(self, kind: Kind, plan: Planned, body: dict[str, Any]) -> RowRecord:
        record = RowRecord(kind, plan.key, plan.file, plan.line, "failed", True, plan.hash)
        try:
            outcome = self._upsert(kind, body)
        except ProblemError as exc:
            record.message = f"{exc.status} {exc.title}: {exc.detail}".strip()
            record.errors = exc.errors
            record.warnings = exc.warnings
            return record
        except (ApiError, ValueError) as exc:
            record.message = str(exc)
            return record
        record.result = outcome.result
        record.warnings = outcome.warnings
        return record

    def _send_batch(
        self, kind: Kind, batch: list[tuple[Planned, dict[str, Any]]]
    ) -> list[RowRecord]:
        records = [
            RowRecord(kind, plan.key, plan.file, plan.line, "failed", True, plan.hash)
            for plan, _ in batch
        ]
        try:
            bodies = [body for _, body in batch]
            if kind == "plant":
                answer = self.client.bulk_upsert_plants(bodies)
            else:
                answer = self.client.bulk_upsert_customers(bodies)
        except (ApiError, ValueError) as exc:
            for record in records:
                record.message = f"the batch failed: {exc}"
            return records
        for item in answer.items:
            if not 0 <= item.index < len(records):
                continue
            record = records[item.index]
            record.warnings = item.warnings
            record.errors = item.errors
            if item.errors or item.result not in FINISHED:
                record.message = "rejected by the server"
            else:
                record.result = str(item.result)
        for record in records:
            if record.result == "failed" and not record.message:
                record.message = "the bulk answer has no result for this row"
        return records

    def _finish(self, records: list[RowRecord]) -> None:
        self.records.extend(records)
        if self._state is not None:
            self._state.record(
                self._run_id, self.target, (r for r in records if r.result in FINISHED)
            )
        self.progress.advance(len(records))

    def _dispatch(
        self,
        jobs: Iterator[Callable[[], Any]],
        on_done: Callable[[Any], None],
        *,
        workers: int | None = None,
    ) -> None:
        """Run jobs with bounded concurrency and a bounded queue, handing results over in
        the calling thread (which owns the state file)."""
        limit = max(1, workers or self.options.concurrency)
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="tilsyn-sync") as pool:
            pending: set[Future[Any]] = set()
            try:
                for job in jobs:
                    pending.add(pool.submit(job))
                    if len(pending) >= limit * 2:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            on_done(future.result())
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        on_done(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    # -- dry run --

    def _preview(
        self,
        kind: Kind,
        files: list[ExportFile],
        selected: set[tuple[str, int]],
    ) -> None:
        # The prediction runs the server's merge rules, which still load SQLAlchemy (_parse).
        from tilsyn.client.preview import (  # noqa: PLC0415
            HierarchyModel,
            predict_customer,
            predict_plant,
        )

        self.progress.phase(f"comparing {kind}s with the server", len(selected))
        on_server = self._server_keys.get(kind)
        hierarchy = HierarchyModel()
        rows = self._rows_to_send(files, selected)
        lookup = self._lookup_views(kind)
        while window := list(islice(rows, PREVIEW_WINDOW)):
            wanted = [p.key for p, _ in window if on_server is None or p.key in on_server]
            views = lookup(wanted)
            if kind == "plant":
                for view in views.values():
                    hierarchy.learn(view.get("connectionPoint") if view else None)
            for plan, body in window:
                current = views.get(plan.key)
                if kind == "plant":
                    prediction = predict_plant(
                        body, current, today=self.today, synthetic_ok=self.synthetic_ok,
                        hierarchy=hierarchy,
                    )  # fmt: skip
                else:
                    prediction = predict_customer(
                        body, current, today=self.today, synthetic_ok=self.synthetic_ok
                    )
                self.records.append(
                    RowRecord(
                        kind=kind,
                        key=plan.key,
                        file=plan.file,
                        line=plan.line,
                        result=prediction.result,
                        hash=plan.hash,
                        message="; ".join(prediction.notes),
                        warnings=prediction.warnings,
                        diff=prediction.diff or None,
                    )
                )
            self.progress.advance(len(window))

    def _lookup_views(self, kind: Kind) -> Callable[[list[str]], dict[str, dict[str, Any] | None]]:
        """How a dry run reads a window's current views: a request per 1,000 rows where the
        server offers its lookup endpoint, else a GET per row (older servers)."""
        capabilities = self.client.capabilities()
        if kind == "plant" and capabilities.lookup_plants:
            return self.client.lookup_plants
        if kind == "customer" and capabilities.lookup_customers:
            return self.client.lookup_customers
        find = self.client.find_plant if kind == "plant" else self.client.find_customer

        def one_by_one(keys: list[str]) -> dict[str, dict[str, Any] | None]:
            views: dict[str, dict[str, Any] | None] = {}
            self._dispatch((partial(_keyed, find, key) for key in keys), partial(_keep, views))
            return views

        return one_by_one

    # -- step 3: reconcile --

    def _list_keys(self, kind: Kind) -> dict[str, str | None]:
        self.progress.phase(f"listing the server's {kind}s", None)
        keys: dict[str, str | None] = {}
        if kind == "plant":
            for item in self.client.iter_plant_ids():
                keys[str(item["meteringPointId"])] = item.get("status")
                self.progress.advance()
        else:
            for number in self.client.iter_customer_numbers():
                keys[number] = None
                self.progress.advance()
        return keys

    def _reconcile(self, files: list[ExportFile]) -> None:
        for kind in KINDS:
            kind_files = [f for f in files if f.kind == kind]
            if not kind_files:
                continue
            in_export = {row.key for f in kind_files for row in f.rows if row.has_key}
            server = self._server_keys.get(kind, {})
            vanished = sorted(key for key in server if key not in in_export)
            if kind == "customer":
                for key in vanished:
                    self.records.append(
                        RowRecord(
                            kind, key, "", 0, "missing",
                            message="on the server, not in the export (customers are never "
                            "deleted by a sync)",
                        )
                    )  # fmt: skip
                continue
            self._reconcile_plants(vanished, server)

    def _reconcile_plants(self, vanished: list[str], server: dict[str, str | None]) -> None:
        already = [key for key in vanished if server[key] == TERMINATED]
        live = [key for key in vanished if server[key] != TERMINATED]
        for key in already:
            self.records.append(
                RowRecord("plant", key, "", 0, "missing", message="not in the export; Terminert")
            )
        if not self.options.terminate:
            for key in live:
                self.records.append(
                    RowRecord(
                        "plant", key, "", 0, "missing",
                        message=f"not in the export; status {server[key]}",
                    )
                )  # fmt: skip
            return
        limit = _max_terminate(self.options.max_terminate, len(server))
        if len(live) > limit:
            problem = (
                f"{len(live)} plants would be terminated, more than --max-terminate "
                f"{self.options.max_terminate} ({limit}); none was. Check the export, or raise "
                "the limit."
            )
            self.problems.append(problem)
            for key in live:
                self.records.append(RowRecord("plant", key, "", 0, "missing", message=problem))
            return
        if self.options.dry_run:
            for key in live:
                self.records.append(
                    RowRecord(
                        "plant", key, "", 0, "would-terminate",
                        diff={"status": [server[key], TERMINATED]},
                    )
                )  # fmt: skip
            return
        self.progress.phase("terminating plants not in the export", len(live))

        def done(record: RowRecord) -> None:
            self.records.append(record)
            self.progress.advance()

        self._dispatch((partial(self._terminate, key) for key in live), done)

    def _terminate(self, key: str) -> RowRecord:
        from tilsyn.client.preview import plant_body_from_view  # noqa: PLC0415 - as _preview

        record = RowRecord("plant", key, "", 0, "failed", True)
        try:
            view = self.client.get_plant(key)
            before = view.get("status")
            body = plant_body_from_view(view)
            body["status"] = TERMINATED
            outcome = self.client.upsert_plant(body)
        except (ApiError, ValueError) as exc:
            record.message = f"could not terminate: {exc}"
            return record
        record.result = "terminated" if outcome.result == "updated" else outcome.result
        record.warnings = outcome.warnings
        record.diff = {"status": [before, TERMINATED]}
        record.message = "not in the export"
        return record


def _keyed(
    find: Callable[[str], dict[str, Any] | None], key: str
) -> tuple[str, dict[str, Any] | None]:
    return key, find(key)


def _keep(
    views: dict[str, dict[str, Any] | None], found: tuple[str, dict[str, Any] | None]
) -> None:
    views[found[0]] = found[1]


# --- Report -------------------------------------------------------------------------------------

REPORT_COLUMNS = ("kind", "file", "line", "key", "result", "sent", "message", "warnings", "errors")


def _issue_text(issues: list[Issue]) -> str:
    return "; ".join(f"{i.field} {i.code}: {i.message}".strip() for i in issues)


def _diff_text(diff: dict[str, Any] | None) -> str:
    if not diff:
        return ""
    return "; ".join(f"{path}: {json.dumps(b)} → {json.dumps(a)}" for path, (b, a) in diff.items())


def _ordered(records: list[RowRecord]) -> list[RowRecord]:
    order: dict[str, int] = {kind: index for index, kind in enumerate(KINDS)}
    return sorted(
        records, key=lambda r: (order.get(r.kind, 9), r.file == "", r.file, r.line, r.key)
    )


def write_report(result: SyncResult, base: Path, options: SyncOptions) -> list[Path]:
    """``BASE.csv`` (a row per record) and ``BASE.json`` (summary and records)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    records = _ordered(result.records)
    csv_path = base.with_name(base.name + ".csv")
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*REPORT_COLUMNS, "diff"])
        for r in records:
            writer.writerow(
                [
                    r.kind, r.file, r.line or "", r.key, r.result, "yes" if r.sent else "no",
                    r.message, _issue_text(r.warnings), _issue_text(r.errors), _diff_text(r.diff),
                ]
            )  # fmt: skip
    json_path = base.with_name(base.name + ".json")
    summary = {
        "dryRun": result.dry_run,
        "server": options.url,
        "files": [str(f) for f in options.files],
        "startedAt": result.started.isoformat(timespec="seconds"),
        "finishedAt": result.finished.isoformat(timespec="seconds"),
        "seconds": round((result.finished - result.started).total_seconds(), 3),
        "counts": result.counts(),
        "bulk": result.bulk_used,
        "requests": result.requests,
        "retries": result.retries,
        "problems": result.problems,
        "exitCode": result.exit_code,
    }
    rows = [
        {
            "kind": r.kind,
            "file": r.file or None,
            "line": r.line or None,
            "key": r.key,
            "result": r.result,
            "sent": r.sent,
            "earlierAttempt": r.earlier,
            "message": r.message or None,
            "warnings": [
                {"field": i.field, "code": i.code, "message": i.message} for i in r.warnings
            ],
            "errors": [{"field": i.field, "code": i.code, "message": i.message} for i in r.errors],
            "diff": r.diff,
        }
        for r in records
    ]
    with json_path.open("w", encoding="utf-8") as handle:
        json.dump({"summary": summary, "rows": rows}, handle, ensure_ascii=False, indent=1)
    return [csv_path, json_path]
