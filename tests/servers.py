"""Start a real `tilsyn serve` process for tests that need several workers or a crash."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"tilsyn serve exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("tilsyn serve did not become ready")
        time.sleep(0.1)


# For a server that a fuzzer sends many key-less requests from one address.
NO_AUTH_FAILURE_LIMIT = {"TILSYN_AUTH_FAILURES_PER_SECOND": "0"}


@contextmanager
def running_server(
    db_url: str,
    *,
    secret: str,
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
    log_path: Path | None = None,
    log_level: str = "WARNING",
    env_extra: dict[str, str] | None = None,
) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TILSYN_SECRET_KEY": secret, "TILSYN_LOG_LEVEL": log_level}
    env |= env_extra or {}
    command = [sys.executable, "-m", "tilsyn", "--db", db_url, "serve", "--port", str(port)]
    command += ["--workers", str(workers), *extra_args]
    log = log_path.open("wb") if log_path else None
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            log.close()
