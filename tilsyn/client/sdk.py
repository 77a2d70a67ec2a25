"""A typed client for the import API: one method per endpoint, retries, problem details.

The client speaks the vendor's API ("API for kunde og anlegg") as tilsyn serves it, so it also
works against any other server of that API for the endpoints that server has; what a server
offers beyond the seed (bulk, listing, history, change feed, settings) shows in
:meth:`TilsynClient.capabilities`.

Retries: 429 (honouring ``Retry-After``), 502, 503, 504 and connection errors are retried with
exponential backoff and full jitter, within a cap on attempts and on total time. Nothing else
is retried: a 400 says the body is wrong and will be wrong again. Retrying a POST is safe
because every write of this API is an idempotent upsert (a resent upsert answers
``unchanged``); a DELETE retried after a lost answer may answer 404.

One client may be shared by many threads: it holds one ``httpx.Client`` whose connection
pool is reused across calls.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from tilsyn import __version__
from tilsyn.contract.problems import Issue

Environment = Literal["test", "prod"]
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

PLANT_BULK_PATH = "/api/import/{environment}/plant/bulk"
CUSTOMER_BULK_PATH = "/api/import/{environment}/customer/bulk"
PLANT_IDS_PATH = "/api/plant/{environment}/ids"
CUSTOMER_NUMBERS_PATH = "/api/customer/environment/{environment}/numbers"
PLANT_LOOKUP_PATH = "/api/plant/{environment}/lookup"
CUSTOMER_LOOKUP_PATH = "/api/customer/environment/{environment}/lookup"
LOOKUP_SIZE = 1000
CHANGES_PATH = "/api/changes/{environment}"
PLANT_HISTORY_PATH = "/api/plant/{environment}/{meteringPointId}/history"
AUDIT_RULES_PATH = "/api/settings/{environment}/audit-rules"


# --- Results ------------------------------------------------------------------------------------


def _issues(values: Any) -> list[Issue]:
    return [Issue.from_wire(v) for v in values] if isinstance(values, list) else []


@dataclass(frozen=True)
class UpsertResult:
    """``{result, warnings, data}``: created, updated or unchanged, and the stored entity."""

    result: str
    warnings: list[Issue]
    data: dict[str, Any]

    @classmethod
    def from_wire(cls, body: Any) -> UpsertResult:
        if not isinstance(body, dict):
            raise ValueError("the server's answer is not a JSON object")
        data = body.get("data")
        return cls(
            result=str(body.get("result") or ""),
            warnings=_issues(body.get("warnings")),
            data=data if isinstance(data, dict) else {},
        )


@dataclass(frozen=True)
class KeyPage:
    """One page of a key listing; ``next`` is the ``after`` of the next page."""

    items: list[dict[str, Any]]
    next: str | None


@dataclass(frozen=True)
class ChangePage:
    changes: list[dict[str, Any]]
    next: str | None


@dataclass(frozen=True)
class BulkItem:
    """The result of one line of a bulk upsert; ``index`` counts the lines sent, from 0."""

    index: int
    key: str | None
    result: str | None
    warnings: list[Issue]
    errors: list[Issue]


@dataclass(frozen=True)
class BulkResult:
    items: list[BulkItem]
    summary: dict[str, Any]


@dataclass(frozen=True)
class Capabilities:
    """What a server offers beyond the seed's endpoints, read from its ``/openapi.json``."""

    paths: frozenset[str] = frozenset()

    def has(self, path: str) -> bool:
        return path in self.paths

    @property
    def bulk_plants(self) -> bool:
        return self.has(PLANT_BULK_PATH)

    @property
    def bulk_customers(self) -> bool:
        return self.has(CUSTOMER_BULK_PATH)

    @property
    def list_plants(self) -> bool:
        return self.has(PLANT_IDS_PATH)

    @property
    def list_customers(self) -> bool:
        return self.has(CUSTOMER_NUMBERS_PATH)

    @property
    def lookup_plants(self) -> bool:
        return self.has(PLANT_LOOKUP_PATH)

    @property
    def lookup_customers(self) -> bool:
        return self.has(CUSTOMER_LOOKUP_PATH)

    @property
    def changes(self) -> bool:
        return self.has(CHANGES_PATH)

    @property
    def history(self) -> bool:
        return self.has(PLANT_HISTORY_PATH)

    @property
    def settings(self) -> bool:
        return self.has(AUDIT_RULES_PATH)


# --- Errors -------------------------------------------------------------------------------------


class ApiError(Exception):
    """Anything that kept a call from getting a successful answer."""


@dataclass(frozen=True)
class Problem:
    """An error answer's body (RFC 9457 problem details), as the server sent it."""

    title: str
    detail: str
    type: str = "about:blank"
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


class ProblemError(ApiError):
    """The server answered with an error: RFC 9457 problem details, when it sent them."""

    def __init__(
        self,
        status: int,
        problem: Problem,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.problem = problem
        self.title = problem.title
        self.detail = problem.detail
        self.type = problem.type
        self.errors = problem.errors
        self.warnings = problem.warnings
        self.request_id = request_id
        self.retry_after = retry_after
        message = (
            f"{status} {self.title}: {self.detail}" if self.detail else f"{status} {self.title}"
        )
        if self.errors:
            message += "; " + "; ".join(str(e) for e in self.errors[:5])
        super().__init__(message)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        body: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
        request_id = response.headers.get("x-request-id")
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if isinstance(body, dict):
            problem = Problem(
                title=str(body.get("title") or response.reason_phrase or "HTTP error"),
                detail=str(body.get("detail") or ""),
                type=str(body.get("type") or "about:blank"),
                errors=_issues(body.get("errors")),
                warnings=_issues(body.get("warnings")),
            )
        else:
            problem = Problem(
                title=response.reason_phrase or "HTTP error",
                detail=response.text[:200].strip(),
            )
        return cls(response.status_code, problem, request_id=request_id, retry_after=retry_after)


class TransportFailure(ApiError):
    """The server could not be reached, or kept failing, until the retry budget ran out."""


# --- Retries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped in attempts and in total time per call."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 300.0
    statuses: frozenset[int] = RETRY_STATUSES

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The pause after failed attempt number ``attempt`` (1-based): U(0, min(cap, b·2ⁿ⁻¹))."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP date; None when absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class ClientStats:
    """Counters for reports: requests sent (attempts included) and retries made."""

    requests: int = 0
    retries: int = 0
    retried_statuses: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry_status: int | None = None, retried: bool = False) -> None:
        with self._lock:
            self.requests += 1
            if retried:
                self.retries += 1
            if retry_status is not None:
                self.retried_statuses[retry_status] = self.retried_statuses.get(retry_status, 0) + 1


@dataclass(frozen=True)
class ClientOptions:
    """How a client talks to the server, beyond the environment and the retry policy: the
    timeout and connection pool, and the seams tests use (transport, sleep, jitter seed)."""

    timeout: float = 60.0
    max_connections: int = 16
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    seed: int | None = None


# --- The client ---------------------------------------------------------------------------------


def environment_from_key(api_key: str) -> Environment | None:
    """tilsyn's keys say their environment (``tilsyn_prod_…``); other servers' keys do not."""
    if api_key.startswith("tilsyn_test_"):
        return "test"
    if api_key.startswith("tilsyn_prod_"):
        return "prod"
    return None


def _day(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _seg(value: str) -> str:
    return quote(str(value), safe="")


class TilsynClient:
    """The import API. Every method raises :class:`ProblemError` for an error answer
    (``.status``, ``.errors`` by field) and :class:`TransportFailure` when retries ran out."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        environment: Environment | None = None,
        retry: RetryPolicy | None = None,
        options: ClientOptions | None = None,
    ) -> None:
        env = environment or environment_from_key(api_key)
        if env not in ("test", "prod"):
            raise ValueError("environment must be 'test' or 'prod' (the key does not say)")
        opts = options or ClientOptions()
        self.environment: Environment = env
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._sleep = opts.sleep
        self._rng = random.Random(opts.seed)  # noqa: S311 - jitter, not security
        self._capabilities: Capabilities | None = None
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"api-key": api_key, "user-agent": f"tilsyn-client/{__version__}"},
            timeout=opts.timeout,
            limits=httpx.Limits(
                max_connections=opts.max_connections,
                max_keepalive_connections=opts.max_connections,
            ),
            transport=opts.transport,
        )

    # -- plumbing --

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TilsynClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call with retries; returns the successful response or raises."""
        send_headers = {"x-request-id": uuid.uuid4().hex, **(headers or {})}
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        started = time.monotonic()
        attempt = 0
        retry_status: int | None = None
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json_body,
                    content=content,
                    params=clean_params or None,
                    headers=send_headers,
                )
            except _RETRY_EXCEPTIONS as exc:
                self.stats.count(retried=attempt > 1, retry_status=retry_status)
                delay = self._delay(attempt, started, None)
                if delay is None:
                    raise TransportFailure(
                        f"{method} {path}: {type(exc).__name__} after {attempt} attempt(s)"
                    ) from exc
                retry_status = None
                self._sleep(delay)
                continue
            self.stats.count(retried=attempt > 1, retry_status=retry_status)
            if response.is_success:
                return response
            if response.status_code in self.retry.statuses:
                delay = self._delay(
                    attempt, started, parse_retry_after(response.headers.get("retry-after"))
                )
                if delay is not None:
                    retry_status = response.status_code
                    response.close()
                    self._sleep(delay)
                    continue
            raise ProblemError.from_response(response)

    def _delay(self, attempt: int, started: float, retry_after: float | None) -> float | None:
        """How long to wait before the next attempt, or None when the budget is spent."""
        if attempt >= self.retry.max_attempts:
            return None
        if retry_after is not None:
            # The server said when; a little jitter keeps many clients from returning at once.
            delay = retry_after + self._rng.uniform(0, min(1.0, self.retry.base_delay))
        else:
            delay = self.retry.backoff(attempt, self._rng)
        if time.monotonic() - started + delay > self.retry.max_total:
            return None
        return delay

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _upsert(self, path: str, body: dict[str, Any]) -> UpsertResult:
        return UpsertResult.from_wire(self._json("POST", path, json_body=body))

    @property
    def _env(self) -> str:
        return self.environment

    # -- service --

    def health(self) -> bool:
        try:
            return self._http.get("/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def openapi(self) -> dict[str, Any]:
        body = self._json("GET", "/openapi.json")
        return body if isinstance(body, dict) else {}

    def capabilities(self, *, refresh: bool = False) -> Capabilities:
        """The server's extra endpoints, from its ``/openapi.json``; without one (a server
        that hides its docs), the key listings are probed directly."""
        if self._capabilities is None or refresh:
            try:
                paths = set(self.openapi().get("paths") or {})
            except ProblemError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                paths = {
                    path for path in (PLANT_IDS_PATH, CUSTOMER_NUMBERS_PATH) if self._probe(path)
                }
            self._capabilities = Capabilities(frozenset(paths))
        return self._capabilities

    def _probe(self, template: str) -> bool:
        try:
            self.request("GET", template.format(environment=self._env), params={"limit": 1})
        except ProblemError:
            return False
        return True

    # -- customers --

    def upsert_customer(self, body: dict[str, Any]) -> UpsertResult:
        """POST /api/import/{env}/customer: create or replace a customer, keyed by Number."""
        return self._upsert(f"/api/import/{self._env}/customer", body)

    def get_customer(self, number: str, *, as_of: date | str | None = None) -> dict[str, Any]:
        """GET the customer in import format; ``as_of`` asks for its state on that day."""
        path = f"/api/customer/environment/{self._env}/bynumber/{_seg(number)}"
        result: dict[str, Any] = self._json("GET", path, params={"asOf": _day(as_of)})
        return result

    def find_customer(self, number: str) -> dict[str, Any] | None:
        """Like :meth:`get_customer`, but None when the customer does not exist."""
        try:
            return self.get_customer(number)
        except ProblemError as exc:
            if exc.not_found:
                return None
            raise

    def delete_customer(self, number: str) -> None:
        """Erase a customer's personal data for good (GDPR)."""
        self.request("DELETE", f"/api/import/{self._env}/customer/{_seg(number)}")

    def customer_history(
        self, number: str, *, before: str | None = None, limit: int | None = None
    ) -> Any:
        """``{changes, next, …}``, newest first; ``before=next`` pages back."""
        path = f"/api/customer/environment/{self._env}/bynumber/{_seg(number)}/history"
        return self._json("GET", path, params={"before": before, "limit": limit})

    def customer_numbers(self, *, after: str | None = None, limit: int = 1000) -> KeyPage:
        body = self._json(
            "GET",
            CUSTOMER_NUMBERS_PATH.format(environment=self._env),
            params={"after": after, "limit": limit},
        )
        return KeyPage(list(body.get("items") or []), body.get("next"))

    def iter_customer_numbers(self, *, page_size: int = 5000) -> Iterator[str]:
        after: str | None = None
        while True:
            page = self.customer_numbers(after=after, limit=page_size)
            yield from (str(item["Number"]) for item in page.items)
            if not page.next:
                return
            after = page.next

    def bulk_upsert_customers(self, bodies: Iterable[dict[str, Any]]) -> BulkResult:
        return self._bulk(CUSTOMER_BULK_PATH, bodies)

    # -- plants --

    def upsert_plant(self, body: dict[str, Any]) -> UpsertResult:
        """POST /api/import/{env}/plant: create or replace a plant with its hierarchy."""
        return self._upsert(f"/api/import/{self._env}/plant", body)

    def get_plant(
        self, metering_point_id: str, *, as_of: date | str | None = None
    ) -> dict[str, Any]:
        path = f"/api/plant/{self._env}/getDataForImport/{_seg(metering_point_id)}"
        result: dict[str, Any] = self._json("GET", path, params={"asOf": _day(as_of)})
        return result

    def find_plant(self, metering_point_id: str) -> dict[str, Any] | None:
        try:
            return self.get_plant(metering_point_id)
        except ProblemError as exc:
            if exc.not_found:
                return None
            raise

    def lookup_plants(self, metering_point_ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Many plants in a request per 1,000 (the server's lookup endpoint): id → its view,
        None for an id the instance has no plant for."""
        path = PLANT_LOOKUP_PATH.format(environment=self._env)
        return self._lookup(path, "meteringPointIds", "meteringPointId", metering_point_ids)

    def lookup_customers(self, numbers: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Many customers in a request per 1,000: number → its view, None when unknown."""
        path = CUSTOMER_LOOKUP_PATH.format(environment=self._env)
        return self._lookup(path, "Numbers", "Number", numbers)

    def _lookup(
        self, path: str, field: str, key: str, keys: Iterable[str]
    ) -> dict[str, dict[str, Any] | None]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(wanted)
        for start in range(0, len(wanted), LOOKUP_SIZE):
            body = self._json("POST", path, json_body={field: wanted[start : start + LOOKUP_SIZE]})
            for item in body.get("items") or []:
                found[str(item[key])] = item
        return found

    def delete_plant(self, metering_point_id: str) -> None:
        self.request("DELETE", f"/api/import/{self._env}/plant/{_seg(metering_point_id)}")

    def register_built_by(
        self,
        metering_point_id: str,
        built_by_el_company_id: int,
        *,
        extension_name: str | None = None,
        extension_year_built: int | None = None,
    ) -> UpsertResult:
        """Who built the plant, or (with ``extension_name``) an extension of it."""
        body: dict[str, Any] = {
            "meteringPointId": metering_point_id,
            "builtByElCompanyId": built_by_el_company_id,
        }
        if extension_name is not None:
            body["extensionName"] = extension_name
        if extension_year_built is not None:
            body["extensionYearBuilt"] = extension_year_built
        return self._upsert(f"/api/import/{self._env}/plant/builtby", body)

    def plant_history(
        self, metering_point_id: str, *, before: str | None = None, limit: int | None = None
    ) -> Any:
        """``{changes, next, customerPeriods}``, newest first; ``before=next`` pages back."""
        path = f"/api/plant/{self._env}/{_seg(metering_point_id)}/history"
        return self._json("GET", path, params={"before": before, "limit": limit})

    def plant_ids(self, *, after: str | None = None, limit: int = 1000) -> KeyPage:
        body = self._json(
            "GET",
            PLANT_IDS_PATH.format(environment=self._env),
            params={"after": after, "limit": limit},
        )
        return KeyPage(list(body.get("items") or []), body.get("next"))

    def iter_plant_ids(self, *, page_size: int = 5000) -> Iterator[dict[str, Any]]:
        """Every plant's ``{meteringPointId, status}``, in id order."""
        after: str | None = None
        while True:
            page = self.plant_ids(after=after, limit=page_size)
            yield from page.items
            if not page.next:
                return
            after = page.next

    def bulk_upsert_plants(self, bodies: Iterable[dict[str, Any]]) -> BulkResult:
        return self._bulk(PLANT_BULK_PATH, bodies)

    # -- change feed --

    def changes(self, *, after: str | None = None, limit: int | None = None) -> ChangePage:
        body = self._json(
            "GET",
            CHANGES_PATH.format(environment=self._env),
            params={"after": after, "limit": limit},
        )
        next_cursor = body.get("next")
        return ChangePage(
            list(body.get("changes") or []), None if next_cursor is None else str(next_cursor)
        )

    def iter_changes(
        self, *, after: str | None = None, limit: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every change after the cursor, until the feed has no more."""
        while True:
            page = self.changes(after=after, limit=limit)
            yield from page.changes
            if not page.changes or page.next is None or page.next == after:
                return
            after = page.next

    # -- settings (admin key) --

    def get_audit_rules(self) -> Any:
        return self._json("GET", AUDIT_RULES_PATH.format(environment=self._env))

    def put_audit_rules(self, rules: Any) -> Any:
        return self._json("PUT", AUDIT_RULES_PATH.format(environment=self._env), json_body=rules)

    def get_validation_settings(self) -> Any:
        return self._json("GET", f"/api/settings/{self._env}/validation")

    def put_validation_settings(self, settings: Any) -> Any:
        return self._json("PUT", f"/api/settings/{self._env}/validation", json_body=settings)

    # -- bulk --

    def _bulk(self, template: str, bodies: Iterable[dict[str, Any]]) -> BulkResult:
        """NDJSON in, NDJSON out: one ``{index, key, result, warnings, errors}`` per line sent,
        then a summary line. The whole batch is one request (and one retry unit)."""
        payload = b"".join(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            for body in bodies
        )
        response = self.request(
            "POST",
            template.format(environment=self._env),
            content=payload,
            headers={"content-type": "application/x-ndjson", "accept": "application/x-ndjson"},
        )
        items: list[BulkItem] = []
        summary: dict[str, Any] = {}
        for line in response.text.splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if not isinstance(record, dict):
                continue
            if "index" in record:
                items.append(
                    BulkItem(
                        index=int(record["index"]),
                        key=None if record.get("key") is None else str(record["key"]),
                        result=None if record.get("result") is None else str(record["result"]),
                        warnings=_issues(record.get("warnings")),
                        errors=_issues(record.get("errors")),
                    )
                )
            else:
                summary = record
        return BulkResult(items, summary)
