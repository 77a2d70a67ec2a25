"""Runtime settings, read from the environment once and passed around explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///tilsyn.db"
# Only for local use: keys hashed with it are worthless as soon as the secret is public.
INSECURE_DEFAULT_SECRET = "tilsyn-insecure-development-secret"  # noqa: S105
# Likewise public: numbers sealed under it are as good as clear text.
# (base64 of sha256("tilsyn-insecure-development-data-key"))
INSECURE_DEFAULT_DATA_KEY = "5nK9Q8+c7M0jH8/W9+vPRJB24+QRMFUD0htccIZ4AAY="


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    read_database_url: str | None = None
    secret_key: str = INSECURE_DEFAULT_SECRET
    # During a rotation: keys still hashed under it are accepted and re-hashed under the new.
    previous_secret_key: str | None = None
    # Seals customer numbers at rest (core/personal.py); previous keys still open them.
    data_key: str = INSECURE_DEFAULT_DATA_KEY
    data_key_previous: tuple[str, ...] = ()
    db_pool_size: int = 8
    # How long a worker trusts a key it has checked (instances/keycache.py): a revocation
    # made elsewhere holds in every worker at most this much later. 0: check every request.
    key_cache_seconds: float = 1.0
    # Most single writes that share one transaction when they arrive together
    # (core/groupcommit.py); 1: every write its own transaction.
    group_commit_size: int = 64
    max_body_bytes: int = 10 * 1024 * 1024
    body_timeout_seconds: float = 30.0
    # Bounds of one bulk request (docs/operations.md): items, bytes and seconds in all.
    max_bulk_items: int = 1_000_000
    max_bulk_bytes: int = 2 * 1024 * 1024 * 1024
    max_bulk_seconds: float = 3600.0
    # Processes per server process that check bulk chunks while it writes (0: a thread).
    bulk_check_workers: int = 1
    docs_enabled: bool = True
    # /metrics: off unless enabled; with a token, only for `Authorization: Bearer <token>`.
    metrics_enabled: bool = False
    metrics_token: str | None = None
    # Failed authentications per client address (0 per second: no limit).
    auth_failures_per_second: float = 1.0
    auth_failures_burst: int = 30
    # The console map's tile URL ({z}/{x}/{y}); none: points on a plain background.
    console_tile_url: str | None = None
    # Behind a reverse proxy: trust X-Forwarded-For/-Proto for the client address (sign-in
    # limits) and for marking the session cookie Secure.
    trust_proxy_headers: bool = False
    console_session_hours: float = 12.0

    @property
    def uses_default_secret(self) -> bool:
        return self.secret_key == INSECURE_DEFAULT_SECRET

    @property
    def uses_default_data_key(self) -> bool:
        return self.data_key.strip() == INSECURE_DEFAULT_DATA_KEY

    @classmethod
    def from_env(cls, *, database_url: str | None = None) -> Settings:
        return cls(
            database_url=database_url
            or os.environ.get("TILSYN_DATABASE_URL")
            or DEFAULT_DATABASE_URL,
            read_database_url=os.environ.get("TILSYN_DATABASE_READ_URL") or None,
            secret_key=os.environ.get("TILSYN_SECRET_KEY") or INSECURE_DEFAULT_SECRET,
            previous_secret_key=os.environ.get("TILSYN_SECRET_KEY_PREVIOUS") or None,
            data_key=os.environ.get("TILSYN_DATA_KEY") or INSECURE_DEFAULT_DATA_KEY,
            data_key_previous=tuple(
                value.strip()
                for value in os.environ.get("TILSYN_DATA_KEY_PREVIOUS", "").split(",")
                if value.strip()
            ),
            db_pool_size=int(os.environ.get("TILSYN_DB_POOL_SIZE", "8")),
            key_cache_seconds=float(os.environ.get("TILSYN_KEY_CACHE_SECONDS", "1")),
            group_commit_size=int(os.environ.get("TILSYN_GROUP_COMMIT_SIZE", "64")),
            docs_enabled=os.environ.get("TILSYN_DOCS", "1") not in {"0", "false", "no"},
            metrics_enabled=os.environ.get("TILSYN_METRICS", "0") in {"1", "true", "yes"},
            metrics_token=os.environ.get("TILSYN_METRICS_TOKEN") or None,
            auth_failures_per_second=float(os.environ.get("TILSYN_AUTH_FAILURES_PER_SECOND", "1")),
            auth_failures_burst=int(os.environ.get("TILSYN_AUTH_FAILURES_BURST", "30")),
            body_timeout_seconds=float(os.environ.get("TILSYN_BODY_TIMEOUT", "30")),
            bulk_check_workers=int(os.environ.get("TILSYN_BULK_CHECK_WORKERS", "1")),
            max_bulk_items=int(os.environ.get("TILSYN_BULK_MAX_ITEMS", "1000000")),
            max_bulk_bytes=int(os.environ.get("TILSYN_BULK_MAX_BYTES", str(2 * 1024**3))),
            max_bulk_seconds=float(os.environ.get("TILSYN_BULK_MAX_SECONDS", "3600")),
            console_tile_url=os.environ.get("TILSYN_CONSOLE_TILE_URL") or None,
            trust_proxy_headers=os.environ.get("TILSYN_TRUST_PROXY", "0") in {"1", "true", "yes"},
            console_session_hours=float(os.environ.get("TILSYN_CONSOLE_SESSION_HOURS", "12")),
        )
