"""The sync's memory between runs: an SQLite file next to the report.

It holds, per target (the environment and a hash of the key), every run and the outcome of
each row as it finishes, and the hash of the body the server last confirmed per key. Each
outcome is committed as it arrives (WAL, ``synchronous=NORMAL``), so a sync killed at any
moment loses at most the answers still in flight — rows the server applied but the state did
not record are sent again on resume, which is harmless because upserts are idempotent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tilsyn.contract.problems import Issue

FINISHED = ("created", "updated", "unchanged")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS rows (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    hash TEXT NOT NULL,
    result TEXT NOT NULL,
    sent INTEGER NOT NULL,
    message TEXT,
    warnings TEXT,
    errors TEXT,
    PRIMARY KEY (run_id, kind, key)
);
CREATE TABLE IF NOT EXISTS confirmed (
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (target, kind, key)
);
"""


@dataclass
class RowRecord:
    """What happened to one row (or, in reconciliation, to one key only the server has)."""

    kind: str
    key: str
    file: str
    line: int
    result: str
    sent: bool = False
    hash: str = ""
    message: str = ""
    warnings: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    diff: dict[str, Any] | None = None
    earlier: bool = False
    """Finished by an earlier attempt of the same (resumed) run."""

    @property
    def failed(self) -> bool:
        return self.result in {"invalid", "failed"}


def _issues_json(issues: list[Issue]) -> str:
    return json.dumps([[i.field, i.code, i.message] for i in issues], ensure_ascii=False)


def _issues_from(text: str | None) -> list[Issue]:
    return [Issue(*item) for item in json.loads(text)] if text else []


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SyncState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def interrupted_run(self, target: str) -> tuple[int, str] | None:
        """The target's latest run, when it did not finish: (id, started at)."""
        row = self._db.execute(
            "SELECT id, started_at, finished_at FROM runs WHERE target = ? ORDER BY id DESC "
            "LIMIT 1",
            (target,),
        ).fetchone()
        if row is None or row[2] is not None:
            return None
        return int(row[0]), str(row[1])

    def start_run(self, target: str) -> int:
        cursor = self._db.execute(
            "INSERT INTO runs (target, started_at) VALUES (?, ?)", (target, _now())
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def resume_run(self, run_id: int) -> list[RowRecord]:
        """Keep what the interrupted run finished; forget its other rows (they are redone)."""
        placeholders = ",".join("?" for _ in FINISHED)
        self._db.execute(
            f"DELETE FROM rows WHERE run_id = ? AND result NOT IN ({placeholders})",  # noqa: S608
            (run_id, *FINISHED),
        )
        rows = self._db.execute(
            "SELECT kind, key, file, line, hash, result, sent, message, warnings, errors "
            "FROM rows WHERE run_id = ?",
            (run_id,),
        )
        return [
            RowRecord(
                kind=kind,
                key=key,
                file=file,
                line=line,
                hash=hash_,
                result=result,
                sent=bool(sent),
                message=message or "",
                warnings=_issues_from(warnings),
                errors=_issues_from(errors),
                earlier=True,
            )
            for kind, key, file, line, hash_, result, sent, message, warnings, errors in rows
        ]

    def confirmed(self, target: str, kind: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT key, hash FROM confirmed WHERE target = ? AND kind = ?", (target, kind)
        )
        return dict(rows.fetchall())

    def record(self, run_id: int, target: str, records: Iterable[RowRecord]) -> None:
        """Store outcomes of this run in one transaction; confirmed hashes move with them."""
        self._db.execute("BEGIN")
        try:
            for record in records:
                self._db.execute(
                    "INSERT OR REPLACE INTO rows (run_id, kind, key, file, line, hash, result, "
                    "sent, message, warnings, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        record.kind,
                        record.key,
                        record.file,
                        record.line,
                        record.hash,
                        record.result,
                        int(record.sent),
                        record.message,
                        _issues_json(record.warnings),
                        _issues_json(record.errors),
                    ),
                )
                if record.result in FINISHED and record.hash:
                    self._db.execute(
                        "INSERT OR REPLACE INTO confirmed (target, kind, key, hash) "
                        "VALUES (?, ?, ?, ?)",
                        (target, record.kind, record.key, record.hash),
                    )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def finish_run(self, run_id: int) -> None:
        self._db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (_now(), run_id))
        # Older runs' rows are history nobody reads; keep the state file small.
        self._db.execute(
            "DELETE FROM rows WHERE run_id IN (SELECT id FROM runs WHERE id < ? AND target = "
            "(SELECT target FROM runs WHERE id = ?))",
            (run_id, run_id),
        )
