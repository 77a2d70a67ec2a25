"""An HTTP reverse proxy the tests control: counts requests, injects 429/503 and dropped
connections in front of a real `tilsyn serve`."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    key: str | None
    """meteringPointId or Number of an upsert body."""


@dataclass(frozen=True)
class Fault:
    status: int  # 0: drop the connection without an answer
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"


def _key_of(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for name, value in data.items():
        if name.casefold() in {"meteringpointid", "number"}:
            return str(value)
    return None


class HttpProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self.faults: deque[Fault] = deque()
        self.injected = 0
        self.delay = 0.0
        self.bulk = False
        """Offer the bulk endpoints' contract (NDJSON in and out) in front of the server."""
        """Seconds each forwarded POST waits first, to slow a sync down."""
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._take_fault(self.command)
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, _key_of(body)))
                if fault is not None:
                    if fault.status == 0:
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(2)
                        return
                    payload = json.dumps(
                        {"type": "about:blank", "title": "Injected", "status": fault.status,
                         "detail": "injected by the test proxy"}
                    ).encode()  # fmt: skip
                    self.send_response(fault.status)
                    for name, value in fault.headers:
                        self.send_header(name, value)
                    self.send_header("content-type", "application/problem+json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if proxy.delay and self.command == "POST":
                    time.sleep(proxy.delay)
                if proxy.bulk and self.path.endswith("/bulk"):
                    self._reply(200, proxy._bulk(self.path, body, dict(self.headers.items())))
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "content-length", "connection"}
                }
                response = proxy._client.request(
                    self.command, self.path, content=body, headers=headers
                )
                content = response.content
                if proxy.bulk and self.path == "/openapi.json":
                    schema = response.json()
                    for kind in ("plant", "customer"):
                        schema["paths"][f"/api/import/{{environment}}/{kind}/bulk"] = {"post": {}}
                    content = json.dumps(schema).encode()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _reply(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/x-ndjson")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed mid-request (the resume test) is expected

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _bulk(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        """The bulk contract, emulated by one upsert per line (the server has no bulk yet)."""
        single = path.removesuffix("/bulk")
        forward = {"api-key": headers.get("api-key", ""), "content-type": "application/json"}
        out: list[dict[str, Any]] = []
        for index, line in enumerate(body.decode().splitlines()):
            answer = self._client.post(single, content=line.encode(), headers=forward)
            data = answer.json()
            out.append(
                {
                    "index": index,
                    "key": _key_of(line.encode()),
                    "result": data.get("result") if answer.status_code == 200 else None,
                    "warnings": data.get("warnings") or [],
                    "errors": data.get("errors") or [] if answer.status_code != 200 else [],
                }
            )
        summary = {"rows": len(out)}
        return "".join(json.dumps(item) + "\n" for item in [*out, summary]).encode()

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            if self.faults and self.faults[0].method == method:
                self.injected += 1
                return self.faults.popleft()
        return None

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def posts(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == "POST"]

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> HttpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
