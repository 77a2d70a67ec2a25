"""Group commit: the single writes that arrive together share one transaction.

A single upsert's transaction costs as much again as its work: the write lock, BEGIN, the
history counter, the commit. When several requests write at the same moment (an integrator
syncing with 32 connections), one of them, the leader, takes every write waiting and runs
them in one transaction, each in a savepoint of its own, and commits once; the others wait
for its commit and answer with their own result. A write alone (no one else waiting) runs
as its own transaction, exactly as before.

Each write keeps what it would have had alone: its result and answer as if the writes ran
one after another in arrival order, its own history entries under its own request
(``write_apart``), and its own failure: a write that fails rolls back to its savepoint and
answers with its error while the others commit. A write the database refused (on
PostgreSQL, a deadlock with another process's group) runs again alone after the commit, and
when the transaction itself fails (its commit, the connection), every write of the group
runs again alone.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tilsyn.contract.problems import Issues
from tilsyn.core.changelog import write_apart, write_transaction
from tilsyn.core.db import Database

_Written = TypeVar("_Written")


@dataclass(eq=False)
class _Ticket(Generic[_Written]):
    """One waiting write and, once its group is done, its answer."""

    write: Callable[[Session], _Written]
    issues: Sequence[Issues]
    value: _Written | None = None
    error: Exception | None = None
    done: bool = False
    marks: list[int] = field(default_factory=list)

    def mark(self) -> None:
        """Remember how many warnings each item has, to drop what a failed group added."""
        self.marks = [len(item.warnings) for item in self.issues]

    def unmark(self) -> None:
        for item, mark in zip(self.issues, self.marks, strict=True):
            del item.warnings[mark:]

    def settle(self, run: Callable[[], _Written]) -> None:
        try:
            self.value = run()
        except Exception as exc:  # noqa: BLE001 - raised again in the thread that asked
            self.error = exc

    def outcome(self) -> _Written:
        if self.error is not None:
            raise self.error
        return cast(_Written, self.value)


class GroupCommit:
    """This process's group commit over one database (``app.state.group_commit``).

    ``max_group`` caps the writes of one transaction; 1 turns grouping off (every write its
    own transaction).
    """

    def __init__(self, database: Database, *, max_group: int = 64) -> None:
        self._database = database
        self._max_group = max(1, max_group)
        self._waiting: deque[_Ticket[object]] = deque()
        self._waiting_lock = threading.Lock()
        # Held by the leader while its group writes; the others wait on it for their answer.
        self._leading = threading.Lock()

    def run(self, write: Callable[[Session], _Written], issues: Sequence[Issues] = ()) -> _Written:
        """``write(session)`` committed, alone or with the writes waiting beside it; its
        result, or its exception."""
        ticket: _Ticket[_Written] = _Ticket(write, issues)
        with self._waiting_lock:
            self._waiting.append(cast(_Ticket[object], ticket))
        while not ticket.done:
            with self._leading:
                if not ticket.done:
                    self.write_group(self._take())
        return ticket.outcome()

    def waiting(self) -> int:
        """Writes queued for the next group (for tests and metrics)."""
        with self._waiting_lock:
            return len(self._waiting)

    def _take(self) -> list[_Ticket[object]]:
        with self._waiting_lock:
            count = min(len(self._waiting), self._max_group)
            return [self._waiting.popleft() for _ in range(count)]

    def write_group(self, group: list[_Ticket[object]]) -> None:
        """Write a group and settle each of its tickets; run by the leader only."""
        if len(group) == 1:
            group[0].settle(_alone(self._database, group[0]))
            group[0].done = True
            return
        for ticket in group:
            ticket.mark()
        try:
            with self._database.write() as session:
                _one_group_at_a_time(session)
                for ticket in group:
                    ticket.settle(_apart(session, ticket))
        except Exception:  # noqa: BLE001 - the transaction failed, not one write: each alone
            again = group
        else:
            # A write the database refused inside the group (on PostgreSQL, a deadlock with
            # another process's group holding rows this group's earlier writes locked) runs
            # again alone, now that the group's locks are released.
            again = [ticket for ticket in group if isinstance(ticket.error, SQLAlchemyError)]
        for ticket in again:
            ticket.unmark()
            ticket.error = None
            ticket.settle(_alone(self._database, ticket))
        for ticket in group:
            ticket.done = True


# Any number: the key of the transaction-level advisory lock that groups take.
_GROUP_LOCK = 0x7117_5E6C


def _one_group_at_a_time(session: Session) -> None:
    """PostgreSQL: one group at a time across every process. Each write locks the rows of its
    grid chain in one fixed order, but a group holds the locks of its earlier writes while a
    later one asks for more, so two processes' groups could each wait on a row the other
    holds (a deadlock PostgreSQL breaks only after a second). SQLite writes one transaction at
    a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _GROUP_LOCK})


def _apart(session: Session, ticket: _Ticket[_Written]) -> Callable[[], _Written]:
    return lambda: write_apart(session, lambda: ticket.write(session), ticket.issues)


def _alone(database: Database, ticket: _Ticket[_Written]) -> Callable[[], _Written]:
    return lambda: write_transaction(database, ticket.write, ticket.issues)
