"""Engines and sessions for both dialects, configured in one place.

SQLite is set up for a server (WAL, busy timeout, foreign keys) and write transactions start
with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing
with "database is locked" when they upgrade a read lock. PostgreSQL uses a sized pool.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from tilsyn.core import changelog
from tilsyn.core.personal import SESSION_INFO, DataKeys, PersonalNumbers

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).absolute()


def describe_url(url: str) -> str:
    """A database as a person looks for it: an SQLite file's full path, else the URL
    without its password."""
    path = sqlite_file(url)
    return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)


LOAD_CHECKPOINT_PAGES = 10_000
"""SQLite, in a bulk load: the WAL is copied into the file every this many pages (40 MB), not
SQLite's 1,000. A load of random keys dirties index pages all over the file; each checkpoint
writes them out again and syncs, so ten times fewer checkpoints write far fewer pages."""
LOAD_CACHE_KIB = 65_536
"""SQLite, in a bulk load: the page cache (64 MiB, not 2 MiB), so that a transaction's dirty
pages stay in memory until its commit instead of spilling into the WAL on the way."""


def create_db_engine(url: str, *, pool_size: int = 8, load: bool = False) -> Engine:
    """``load``: the engine of a bulk load (``tilsyn import``): see LOAD_CHECKPOINT_PAGES and
    LOAD_CACHE_KIB."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=120,
        )
        _configure_sqlite(engine, load=load)
        return engine
    engine = create_engine(
        url,
        # No server-side prepared statements: a generic plan made while a table was small (the
        # start of a bulk load, before autovacuum analyzes it) kept scanning it whole as it grew.
        # No JIT compilation: a search's plan, costed from a guess at how many plants a word
        # finds, crossed its threshold and spent 30-50 ms compiling a few index look-ups.
        connect_args={"prepare_threshold": None, "options": "-c jit=off"},
        pool_size=pool_size,
        max_overflow=2,
        pool_timeout=60,
        pool_recycle=3600,
    )
    _ping_when_idle(engine)
    return engine


IDLE_BEFORE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it has been idle a while, not every time.

    ``pool_pre_ping`` costs a round trip on each checkout, two per request; a connection
    handed back a moment ago is as alive as a ping would show. One idle for longer (the
    server may have restarted, a proxy may have cut it) is pinged, and a dead one is replaced
    before the request sees it: SQLAlchemy's pool retries a checkout that raises
    :class:`DisconnectionError`. Connections that fail in use are invalidated by the
    pool as before (tests/test_database_outage.py).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the pooled connection did not answer a ping") from error


_IDLE_SINCE = "tilsyn.idle_since"


def _configure_sqlite(engine: Engine, *, load: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take over transaction control from pysqlite so that BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Switching to WAL takes a lock; a database already in WAL (every one but a new
        # file) is left alone, so opening a connection never competes with the writers.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten with zeros, not left in free space: an erased
        # customer does not stay readable in the file (SQLite's default depends on its build).
        cursor.execute("PRAGMA secure_delete=ON")
        if load:
            cursor.execute(f"PRAGMA wal_autocheckpoint={LOAD_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA cache_size=-{LOAD_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine plus the two kinds of session tilsyn uses: reading and writing.

    Its sessions carry the data keys (``TILSYN_DATA_KEY`` unless given), with which services
    store and reveal customer numbers (core/personal.py).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        read_url: str | None = None,
        data_keys: DataKeys | None = None,
        load: bool = False,
    ) -> None:
        """``load``: for a process that bulk-loads (``tilsyn import``): SQLite checkpoints
        its WAL less often and keeps a larger page cache (``LOAD_CHECKPOINT_PAGES``)."""
        self.url = url
        self.data_keys = data_keys or DataKeys.from_env()
        info = {SESSION_INFO: PersonalNumbers(self.data_keys)}
        self.engine = create_db_engine(url, pool_size=pool_size, load=load)
        # GETs may go to a read replica; writes, and the reads inside them, never do.
        self.read_engine = (
            create_db_engine(read_url, pool_size=pool_size) if read_url else self.engine
        )
        write_bind = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._reader = sessionmaker(bind=self.read_engine, expire_on_commit=False, info=info)
        # One-statement look-ups need no transaction: on PostgreSQL, BEGIN and ROLLBACK would
        # double their round trips. (SQLite's transactions are tilsyn's own; see above.)
        lookup_bind = (
            self.read_engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.read_engine.dialect.name == "postgresql"
            else self.read_engine
        )
        self._lookup = sessionmaker(bind=lookup_bind, expire_on_commit=False, info=info)
        self._writer = sessionmaker(bind=write_bind, expire_on_commit=False, info=info)
        # SQLite admits one writer; threads of this process queue here, in order, instead of
        # polling the file lock with SQLite's sleeping busy handler. Other processes still
        # wait on busy_timeout.
        self._write_lock = threading.Lock() if is_sqlite(self.engine) else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction; closing it rolls back without expiring what was loaded."""
        with self._reader() as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A session for one read statement (the API key check): no transaction around it on
        PostgreSQL. Nothing written in it is kept apart from the statement that wrote it."""
        with self._lookup() as session:
            yield session

    @contextmanager
    def keyed_read(self) -> Iterator[Session]:
        """A read of one entity by its key (GET by key): a few statements that need no snapshot
        in common. On PostgreSQL they run without a transaction, as :meth:`lookup`'s: in READ
        COMMITTED each statement of a transaction takes its own snapshot anyway, so BEGIN and
        ROLLBACK only added two round trips. On SQLite, a read transaction as :meth:`read`."""
        with self._lookup() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short write transaction, committed (with its change log) when the block ends
        without error."""
        with self._write_lock or nullcontext(), self._writer() as session:
            try:
                yield session
                changelog.commit(session)
            except BaseException:
                changelog.discard(session)
                raise

    def analyze(self, tables: Sequence[str]) -> None:
        """PostgreSQL: refresh the planner's statistics of these tables now (SQLite plans
        these look-ups by their indexes without statistics). See bulk/service.py."""
        if self.dialect != "postgresql":
            return
        with self.engine.connect() as connection:
            connection.execute(text(f"ANALYZE {', '.join(tables)}"))
            connection.commit()

    def purge_erased(self, tables: Sequence[str]) -> None:
        """After an erasure has committed: no copy of the erased rows left where tilsyn can
        reach. SQLite: the WAL, which still holds the pages as they were, is checkpointed
        into the (securely deleted) file and truncated. PostgreSQL: the tables are vacuumed,
        so the erased row versions are removed from their pages; VACUUM cannot run in a
        transaction, hence a connection of its own (docs/operations.md: what remains in the
        WAL and in backups)."""
        if self.dialect == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
                connection.commit()
            return
        autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as connection:
            for table in tables:
                connection.exec_driver_sql(f"VACUUM {table}")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
