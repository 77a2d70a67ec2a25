"""Structured logs and Prometheus metrics.

Logs are one JSON object per line. Metrics are labelled by route template and status, never
by raw path: paths carry personal numbers. With several worker processes the metrics are
aggregated through prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

_CONTEXT_FIELDS = (
    "request_id",
    "key_id",
    "instance",
    "method",
    "route",
    "status",
    "duration_ms",
)

REQUESTS = Counter("tilsyn_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "tilsyn_request_duration_seconds",
    "Time to answer a request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSERTS = Counter("tilsyn_upserts_total", "Upserts by entity and result", ["entity", "result"])
WARNINGS = Counter("tilsyn_warnings_total", "Warnings returned, by code", ["entity", "code"])
# By instance name, which is the operator's and never personal; the key id is in the access log.
RATE_LIMITED = Counter(
    "tilsyn_rate_limited_total", "Requests answered 429 over a key's rate limit", ["instance"]
)
DATABASE_ERRORS = Counter(
    "tilsyn_database_errors_total", "Database errors answered as 5xx", ["kind"]
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request context when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def observe_outcome(entity: str, result: str, warning_codes: list[str]) -> None:
    UPSERTS.labels(entity, result).inc()
    for code in warning_codes:
        WARNINGS.labels(entity, code).inc()


def metrics_payload() -> tuple[bytes, str]:
    """The exposition text, aggregated over worker processes when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
