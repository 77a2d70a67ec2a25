"""Instances (separated registries) and their API keys.

Keys are 160 random bits with a recognisable prefix per environment, shown once and stored
only as HMAC-SHA256 under the server secret, so a leaked database does not leak usable keys.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm import Session

from tilsyn.contract.time import utc_now
from tilsyn.core.db import describe_url
from tilsyn.core.models import ApiKey, Instance
from tilsyn.instances.ratelimit import DEFAULT_LIMIT, Limit, default_burst, effective_limit

ENVIRONMENTS = ("test", "prod")
IMPORT_SCOPE = "import"
ADMIN_SCOPE = "admin"
READ_SCOPE = "read"
SCOPES = (IMPORT_SCOPE, ADMIN_SCOPE, READ_SCOPE)
"""import: the seed API, reads included; admin: settings too; read: every GET of the
instance but the customer-number listing, and no write (SPEC §12)."""
KEY_PREFIX = "tilsyn_{environment}_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InstanceError(ValueError):
    """A request on instances or keys that cannot be honoured (unknown name, duplicate...)."""


@dataclass(frozen=True)
class KeyContext:
    """Who is calling: the key and its instance, resolved once per request."""

    key_id: int
    scope: str
    instance_id: int
    instance_name: str
    environment: str
    strict_validation: bool
    last_used_at: datetime | None = None
    label: str | None = None
    rate_limit: Limit = DEFAULT_LIMIT
    # The key matched under the previous server secret; its new hash, to be stored.
    rehash_to: str | None = None

    @property
    def needs_touch(self) -> bool:
        return self.rehash_to is not None or last_used_needs_update(self.last_used_at, utc_now())


@dataclass(frozen=True)
class CreatedKey:
    id: int
    secret: str
    display_prefix: str


def hash_key(secret_key: str, api_key: str) -> str:
    return hmac.new(secret_key.encode(), api_key.encode(), hashlib.sha256).hexdigest()


def create_instance(
    session: Session,
    *,
    name: str,
    environment: str,
    strict_validation: bool = False,
) -> Instance:
    """A new registry, without rules: the caller gives it the default audit rules
    (``rules.service.seed_default_rules``, docs/rules.md), as this layer is below rules."""
    if environment not in ENVIRONMENTS:
        raise InstanceError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
    name = name.strip()
    if not name:
        raise InstanceError("an instance needs a name")
    if session.scalar(select(Instance.id).where(Instance.name == name)) is not None:
        raise InstanceError(f"instance {name!r} exists already")
    instance = Instance(
        name=name,
        environment=environment,
        strict_validation=strict_validation,
        created_at=utc_now(),
    )
    session.add(instance)
    session.flush()
    return instance


def get_instance(session: Session, name: str) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.name == name))
    if instance is None:
        where = describe_url(str(session.get_bind().engine.url))
        raise InstanceError(f"no instance named {name!r} in the database {where}")
    return instance


def list_instances(session: Session) -> list[Instance]:
    return list(session.scalars(select(Instance).order_by(Instance.name)))


def set_rate_limit(
    session: Session, instance: Instance, *, per_second: float | None, burst: int | None = None
) -> Limit:
    """Each key's limit in this instance: None is the default, 0 per second no limit at all.

    Without a burst, a key may send two seconds' worth of requests at once.
    """
    if per_second is None:
        if burst is not None:
            raise InstanceError("a burst needs a rate per second too")
    elif not math.isfinite(per_second) or per_second < 0:
        raise InstanceError("the rate per second must be 0 (no limit) or more")
    elif per_second == 0:
        burst = None
    elif burst is None:
        burst = default_burst(per_second)
    elif burst < 1:
        raise InstanceError("the burst must be at least 1 request")
    instance.rate_limit_per_second = per_second
    instance.rate_limit_burst = burst
    session.flush()
    return rate_limit_of(instance)


def rate_limit_of(instance: Instance) -> Limit:
    return effective_limit(instance.rate_limit_per_second, instance.rate_limit_burst)


def create_key(
    session: Session,
    instance: Instance,
    *,
    secret_key: str,
    scope: str = "import",
    label: str | None = None,
) -> CreatedKey:
    if scope not in SCOPES:
        raise InstanceError(f"scope must be one of {', '.join(SCOPES)}")
    api_key = KEY_PREFIX.format(environment=instance.environment) + secrets.token_urlsafe(20)
    display_prefix = api_key[: len(KEY_PREFIX.format(environment=instance.environment)) + 4]
    row = ApiKey(
        instance_id=instance.id,
        key_hash=hash_key(secret_key, api_key),
        display_prefix=display_prefix,
        label=label,
        scope=scope,
        created_at=utc_now(),
    )
    session.add(row)
    session.flush()
    return CreatedKey(id=row.id, secret=api_key, display_prefix=display_prefix)


def list_keys(session: Session, instance: Instance) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.instance_id == instance.id).order_by(ApiKey.id))
    )


def revoke_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        where = describe_url(str(session.get_bind().engine.url))
        raise InstanceError(f"no API key with id {key_id} in the database {where}")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        session.flush()
    return row


def authenticate(
    session: Session, *, secret_key: str, api_key: str, previous_secret_key: str | None = None
) -> KeyContext | None:
    """The key's context, or None for an unknown or revoked key.

    During a secret rotation a key not found under the current secret is looked up under the
    previous one; a match carries its hash under the current secret for ``touch_key`` to store.
    """
    current = hash_key(secret_key, api_key)
    digest, rehash_to = current, None
    row = _key_by_hash(session, current)
    if row is None and previous_secret_key and previous_secret_key != secret_key:
        digest, rehash_to = hash_key(previous_secret_key, api_key), current
        row = _key_by_hash(session, digest)
    if row is None:
        return None
    if not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return KeyContext(
        key_id=row.key_id,
        scope=row.scope,
        instance_id=row.instance_id,
        instance_name=row.instance_name,
        environment=row.environment,
        strict_validation=row.strict_validation,
        last_used_at=row.last_used_at,
        label=row.label,
        rate_limit=effective_limit(row.rate_limit_per_second, row.rate_limit_burst),
        rehash_to=rehash_to,
    )


# Every request runs this: built once, and read as plain rows rather than ORM objects.
_KEY_BY_HASH = (
    select(
        ApiKey.id.label("key_id"),
        ApiKey.key_hash,
        ApiKey.scope,
        ApiKey.label,
        ApiKey.last_used_at,
        ApiKey.revoked_at,
        Instance.id.label("instance_id"),
        Instance.name.label("instance_name"),
        Instance.environment,
        Instance.strict_validation,
        Instance.rate_limit_per_second,
        Instance.rate_limit_burst,
    )
    .join(Instance, Instance.id == ApiKey.instance_id)
    .where(ApiKey.key_hash == bindparam("digest"))
)


def _key_by_hash(session: Session, digest: str) -> Row[*tuple[Any, ...]] | None:
    return session.connection().execute(_KEY_BY_HASH, {"digest": digest}).first()


def last_used_needs_update(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - _aware(last_used_at) >= LAST_USED_RESOLUTION


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utc_now().tzinfo)


def touch_key(session: Session, key_id: int, *, rehash_to: str | None = None) -> None:
    """Record use at minute resolution, so reads do not each become a write.

    With ``rehash_to`` (a key that matched under the previous secret) the key's hash moves to
    the current secret in the same write.
    """
    now = utc_now()
    if rehash_to is not None:
        session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(key_hash=rehash_to, last_used_at=now)
        )
        return
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
    )


def key_is_active(session: Session, key_id: int) -> bool:
    """Whether the key still exists unrevoked: a long request checks it as it goes."""
    revoked = session.execute(select(ApiKey.revoked_at).where(ApiKey.id == key_id)).first()
    return revoked is not None and revoked[0] is None
