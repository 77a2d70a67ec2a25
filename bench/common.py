"""What the benchmarks share: throwaway databases, a real server, percentiles, sizes, memory."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

BENCH_ENV = {"TILSYN_SECRET_KEY": "bench-secret", "TILSYN_LOG_LEVEL": "WARNING"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def backend(url: str) -> str:
    return make_url(url).get_backend_name()


@contextmanager
def fresh_database(
    url: str | None, name: str = "bench.db", *, template: str | None = None
) -> Iterator[str]:
    """A new SQLite file (for None, ``sqlite`` or an SQLite URL: its folder is ignored), or a
    throwaway database on the named PostgreSQL server, dropped afterwards; with ``template``
    (a database this function made), a copy of it."""
    if url in (None, "sqlite") or backend(url) == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="tilsyn-bench-"))
        try:
            if template is not None:
                source = make_url(template).database or ""
                with sqlite3.connect(source) as conn:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                shutil.copy(source, folder / name)
            yield f"sqlite:///{folder / name}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    parsed = make_url(url)
    database = f"tilsyn_bench_{uuid.uuid4().hex[:8]}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"{copy}')
    try:
        yield parsed.set(database=database).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def database_bytes(url: str) -> int:
    """The database's size on disk (SQLite after a checkpoint folds the WAL in)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Path(path).stat().st_size
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def cli(db: str, *args: str, env: dict[str, str] | None = None) -> str:
    """A ``tilsyn`` command; its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", "tilsyn", "--db", db, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **BENCH_ENV, **(env or {})},
    )
    return result.stdout.strip()


def instance_with_key(db: str, name: str = "bench") -> str:
    """An instance and an API key for it. Its rate limit is raised far above what this machine
    serves (the default, 1,000 requests/s per key, answered a fast endpoint with 429s), while
    every request still draws from the bucket as in production."""
    cli(db, "instance", "create", name, "--environment", "test")
    cli(db, "instance", "set-rate-limit", name, "--per-second", "1000000")
    return cli(db, "key", "create", name)


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (Linux ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc")


def _tree(pid: int) -> list[int]:
    """The process and its descendants (checker processes, spawn's resource tracker)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with suppress(OSError):
                queue.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeMemory:
    """Peak of the summed resident memory of a process and its descendants, sampled every
    0.2 s: a server or importer with checker processes is charged for all of them."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(_rss(pid) for pid in _tree(self.pid)))
            self._stop.wait(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


@contextmanager
def running_server(
    db: str,
    *,
    workers: int = 1,
    app: str | None = None,
    pool_size: int = 8,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``tilsyn serve`` on ``db``; or, with ``app`` (``module:factory``), uvicorn with the same
    settings serving that app factory instead. ``extra_env``: settings of this server only."""
    port = free_port()
    env = {
        **os.environ,
        **BENCH_ENV,
        **(extra_env or {}),
        "TILSYN_DATABASE_URL": db,
        "TILSYN_DB_POOL_SIZE": str(pool_size),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
        ),
    }
    if app is None:
        command = [
            *(sys.executable, "-m", "tilsyn", "--db", db, "serve"),
            *("--port", str(port), "--workers", str(workers), "--db-pool-size", str(pool_size)),
        ]
    else:
        command = [
            *(sys.executable, "-m", "uvicorn", app, "--factory", "--no-access-log"),
            *("--no-server-header", "--log-level", "warning", "--port", str(port)),
            *("--workers", str(workers)),
        ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        yield Server(base, process)
    finally:
        process.terminate()
        process.wait(timeout=60)


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"
