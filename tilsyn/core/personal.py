"""Customer numbers at rest: a keyed hash everywhere they are stored, sealed once per instance.

Every customer number (``Number``, a plant's ``customerId``) is stored as its *stored key*,
``pn2:`` + HMAC-SHA256 under the instance's lookup key: deterministic within an instance, so
equality look-ups, unique constraints, joins and the erasure of history work on it as they
did on the number, while the same number has unrelated stored keys in two instances (one
instance's key holder cannot match its own keys against another's rows in a copied database). The
number itself is kept once per instance, in ``personal_numbers``, sealed with AES-GCM under
the data key (``TILSYN_DATA_KEY``); reads turn stored keys back into numbers through that
table (:func:`reveal`). The rule is one and has no exceptions: *every* customer number is
protected, whatever its shape. ``Number`` is free-form (SPEC §4) and personal numbers arrive
with spaces or dashes too, so a rule by shape would leave some in clear text.

Keys (envelope encryption, as a KMS would do it):

* the data key (master key) comes from configuration and seals numbers and the lookup key;
  each sealed value names the data key that sealed it, so older ones (configured as
  ``TILSYN_DATA_KEY_PREVIOUS``) still open while ``tilsyn db rotate-data-key`` re-seals;
* the lookup key is random, made once per database and stored in ``data_keys`` sealed under
  the data key. It never changes, so rotating the data key leaves every stored key as it is.
  Each instance's lookup key is derived from it and the instance id (HMAC as a KDF); so are
  the keys of the opaque listing cursors. ``pn1:`` keys (one lookup key for the whole
  database, before migration 0006) are re-keyed by that migration.

Erasing a customer deletes its ``personal_numbers`` row: nothing can reveal the number after.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tilsyn.contract.time import utc_now
from tilsyn.core.config import Settings
from tilsyn.core.models import DataKey, PersonalNumber

KEY_PREFIX = "pn2:"
LEGACY_PREFIX = "pn1:"
STORED_KEY = re.compile(r"pn[12]:[A-Za-z0-9_-]{43}")
_TOKEN_VERSION = "v1"  # noqa: S105 (a format tag)
_NONCE_BYTES = 12
LOOKUP_KEY_NAME = "lookup"
_LOOKUP_AAD = b"tilsyn lookup key"
SESSION_INFO = "tilsyn.personal"
_KNOWN = "tilsyn.personal.known"
_KEYS = "tilsyn.personal.keys"


class DataKeyError(RuntimeError):
    """A sealed value does not open: another data key, or it was altered."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_data_key(value: str, *, name: str = "TILSYN_DATA_KEY") -> bytes:
    """A data key from configuration: 32 bytes, base64 (standard or URL-safe)."""
    text = value.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            f"{name} must be 32 random bytes in base64 (generate one with: "
            "python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return raw


def key_id(key: bytes) -> str:
    """A short public name for a data key, written into every value it seals."""
    return _b64(hmac.new(key, b"tilsyn data key id", hashlib.sha256).digest()[:6])


@dataclass(frozen=True)
class DataKeys:
    """The current data key, which seals, and previous ones, which still open."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> DataKeys:
        return cls(
            parse_data_key(settings.data_key),
            tuple(
                parse_data_key(value, name="TILSYN_DATA_KEY_PREVIOUS")
                for value in settings.data_key_previous
            ),
        )

    @classmethod
    def from_env(cls) -> DataKeys:
        return cls.from_settings(Settings.from_env())

    @cached_property
    def current_id(self) -> str:
        return key_id(self.current)

    @cached_property
    def _cipher(self) -> AESGCM:
        """The current key's cipher, made once: a bulk load seals a number per customer."""
        return AESGCM(self.current)

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        """``v1.<key id>.<nonce + ciphertext + tag>``: AES-256-GCM with a random nonce."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, plaintext, aad)
        return f"{_TOKEN_VERSION}.{self.current_id}.{_b64(nonce + sealed)}"

    def open(self, token: str, aad: bytes) -> bytes:
        version, _, rest = token.partition(".")
        kid, _, body = rest.partition(".")
        if version != _TOKEN_VERSION or not body:
            raise DataKeyError("not a sealed value")
        key = next((k for k in (self.current, *self.previous) if key_id(k) == kid), None)
        if key is None:
            raise DataKeyError(
                f"sealed under data key {kid}, which is neither TILSYN_DATA_KEY nor one of "
                "TILSYN_DATA_KEY_PREVIOUS"
            )
        try:
            raw = _unb64(body)
            return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)
        except (InvalidTag, binascii.Error, ValueError):
            raise DataKeyError("a sealed value does not open: it was altered") from None

    def is_current(self, token: str) -> bool:
        return token.startswith(f"{_TOKEN_VERSION}.{self.current_id}.")


def _aad(instance_id: int, stored_key: str) -> bytes:
    """Binds a sealed number to its row: it cannot be moved to another key or instance."""
    return f"{instance_id}:{stored_key}".encode()


class Codec:
    """The lookup hash and the sealing of numbers, with the keys of one database."""

    def __init__(self, keys: DataKeys, lookup_key: bytes) -> None:
        self.keys = keys
        self._lookup_key = lookup_key

        self._instance_keys: dict[int, bytes] = {}
        self._cursor_key = self._derive(b"tilsyn listing cursors")

    def _derive(self, info: bytes) -> bytes:
        return hmac.new(self._lookup_key, info, hashlib.sha256).digest()

    def lookup(self, number: str) -> str:
        """The database-wide ``pn1:`` key (migration 0005 wrote these; 0006 re-keys them)."""
        digest = hmac.new(self._lookup_key, number.encode(), hashlib.sha256).digest()
        return LEGACY_PREFIX + _b64(digest)

    def instance_lookup(self, instance_id: int, number: str) -> str:
        """The stored key of a number in one instance."""
        key = self._instance_keys.get(instance_id)
        if key is None:
            key = self._instance_keys[instance_id] = self._derive(
                f"tilsyn lookup key of instance {instance_id}".encode()
            )
        return KEY_PREFIX + _b64(hmac.new(key, number.encode(), hashlib.sha256).digest())

    def seal_cursor(self, instance_id: int, listing: str, value: str) -> str:
        """An opaque cursor: ``value`` encrypted and bound to the instance and the listing,
        so that no stored key is shown and none but a cursor handed out is taken back."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aad = f"{instance_id}:{listing}".encode()
        return _b64(nonce + AESGCM(self._cursor_key).encrypt(nonce, value.encode(), aad))

    def open_cursor(self, instance_id: int, listing: str, cursor: str) -> str | None:
        """The value of a cursor this instance's listing handed out; None for anything else."""
        try:
            raw = _unb64(cursor)
            aad = f"{instance_id}:{listing}".encode()
            opened = AESGCM(self._cursor_key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)
            return opened.decode()
        except (InvalidTag, binascii.Error, ValueError):
            return None

    def seal(self, instance_id: int, stored_key: str, number: str) -> str:
        return self.keys.seal(number.encode(), _aad(instance_id, stored_key))

    def open(self, instance_id: int, stored_key: str, token: str) -> str:
        return self.keys.open(token, _aad(instance_id, stored_key)).decode()


# --- The lookup key, stored in the database ------------------------------------------------


def _insert_ignore(
    connection: Connection, table: Any, values: dict[str, Any], key: list[str]
) -> None:
    insert = sqlite_insert if connection.dialect.name == "sqlite" else pg_insert
    connection.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=key))


def read_lookup_key(connection: Connection, keys: DataKeys) -> bytes | None:
    wrapped = connection.scalar(select(DataKey.wrapped).where(DataKey.name == LOOKUP_KEY_NAME))
    return None if wrapped is None else keys.open(wrapped, _LOOKUP_AAD)


def ensure_lookup_key(connection: Connection, keys: DataKeys) -> bytes:
    """The database's lookup key; made (and stored sealed) on first use."""
    found = read_lookup_key(connection, keys)
    if found is not None:
        return found
    wrapped = keys.seal(secrets.token_bytes(32), _LOOKUP_AAD)
    _insert_ignore(
        connection,
        DataKey.__table__,
        {"name": LOOKUP_KEY_NAME, "wrapped": wrapped, "updated_at": utc_now()},
        ["name"],
    )
    made = read_lookup_key(connection, keys)  # another process may have won the race
    assert made is not None
    return made


class PersonalNumbers:
    """What a :class:`~tilsyn.core.db.Database` hands its sessions: the data keys, and the
    lookup key read from the database once."""

    def __init__(self, keys: DataKeys) -> None:
        self.keys = keys
        self._codec: Codec | None = None
        self._lock = threading.Lock()

    def codec(self, session: Session) -> Codec:
        if self._codec is not None:
            return self._codec
        with self._lock:
            if self._codec is not None:
                return self._codec
            connection = session.connection()
            lookup_key = read_lookup_key(connection, self.keys)
            if lookup_key is None:
                # Made in this session's transaction: kept only once it is surely committed,
                # so a rolled-back transaction can't leave a key in memory that no row holds.
                return Codec(self.keys, ensure_lookup_key(connection, self.keys))
            self._codec = Codec(self.keys, lookup_key)
            return self._codec


def codec(session: Session) -> Codec:
    holder = session.info.get(SESSION_INFO)
    if not isinstance(holder, PersonalNumbers):
        raise RuntimeError("this session has no data keys; open it from a tilsyn Database")
    return holder.codec(session)


def _known(session: Session) -> dict[tuple[int, str], str]:
    known: dict[tuple[int, str], str] = session.info.setdefault(_KNOWN, {})
    return known


# --- What services call --------------------------------------------------------------------


def stored_key(session: Session, instance_id: int, number: str) -> str:
    """The stored key of a customer number, for look-ups; writes nothing. Remembered for the
    session: a batch looks a number up and then protects it."""
    keys: dict[tuple[int, str], str] = session.info.setdefault(_KEYS, {})
    key = keys.get((instance_id, number))
    if key is None:
        key = keys[(instance_id, number)] = codec(session).instance_lookup(instance_id, number)
    _known(session)[(instance_id, key)] = number
    return key


def protect_many(session: Session, instance_id: int, numbers: Iterable[str]) -> None:
    """The stored keys of customer numbers about to be stored, in one statement (a batch of
    plants): each sealed form is kept (once per instance) so that reads can reveal it."""
    vault = codec(session)
    rows = []
    for number in sorted(set(numbers)):
        key = stored_key(session, instance_id, number)
        rows.append(
            {
                "instance_id": instance_id,
                "lookup": key,
                "sealed": vault.seal(instance_id, key, number),
            }
        )
    if not rows:
        return
    connection = session.connection()
    insert = sqlite_insert if connection.dialect.name == "sqlite" else pg_insert
    table: Any = PersonalNumber.__table__
    connection.execute(
        insert(table).on_conflict_do_nothing(index_elements=["instance_id", "lookup"]), rows
    )


def forget(session: Session, instance_id: int, key: str) -> None:
    """Erase a number for good: no stored key can be revealed as it after this."""
    session.execute(
        delete(PersonalNumber).where(
            PersonalNumber.instance_id == instance_id, PersonalNumber.lookup == key
        )
    )
    _known(session).pop((instance_id, key), None)


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if value.startswith(KEY_PREFIX) and STORED_KEY.fullmatch(value):
            found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)


def _replace(value: Any, numbers: dict[str, str]) -> Any:
    if isinstance(value, str):
        return numbers.get(value, value)
    if isinstance(value, dict):
        return {k: _replace(v, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, numbers) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace(v, numbers) for v in value)
    return value


def numbers_for(session: Session, instance_id: int, keys: Iterable[str]) -> dict[str, str]:
    """``{stored key: number}`` for the keys that have a number (erased ones have none)."""
    known = _known(session)
    out: dict[str, str] = {}
    missing = []
    for key in set(keys):
        number = known.get((instance_id, key))
        if number is None:
            missing.append(key)
        else:
            out[key] = number
    if missing:
        vault = codec(session)
        for start in range(0, len(missing), 500):
            rows = session.execute(
                select(PersonalNumber.lookup, PersonalNumber.sealed).where(
                    PersonalNumber.instance_id == instance_id,
                    PersonalNumber.lookup.in_(missing[start : start + 500]),
                )
            )
            for key, sealed in rows:
                out[key] = known[(instance_id, key)] = vault.open(instance_id, key, sealed)
    return out


def reveal(session: Session, instance_id: int, value: Any) -> Any:
    """``value`` (any JSON-like value) with every stored key replaced by its number."""
    found: set[str] = set()
    _collect(value, found)
    if not found:
        return value
    return _replace(value, numbers_for(session, instance_id, found))


def reveal_key(session: Session, instance_id: int, key: str | None) -> str | None:
    if key is None:
        return None
    return numbers_for(session, instance_id, [key]).get(key, key)


# --- Rotation ------------------------------------------------------------------------------


def rewrap_lookup_key(session: Session, keys: DataKeys) -> bool:
    """Seal the lookup key under the current data key; False when it already was."""
    connection = session.connection()
    wrapped = connection.scalar(select(DataKey.wrapped).where(DataKey.name == LOOKUP_KEY_NAME))
    if wrapped is None:
        ensure_lookup_key(connection, keys)
        return True
    if keys.is_current(wrapped):
        return False
    lookup_key = keys.open(wrapped, _LOOKUP_AAD)
    session.execute(
        update(DataKey)
        .where(DataKey.name == LOOKUP_KEY_NAME)
        .values(wrapped=keys.seal(lookup_key, _LOOKUP_AAD), updated_at=utc_now())
    )
    return True


def _stale(keys: DataKeys) -> Any:
    return PersonalNumber.sealed.not_like(f"{_TOKEN_VERSION}.{keys.current_id}.%")


def count_stale(session: Session, keys: DataKeys) -> int:
    """How many numbers are sealed under a data key other than the current one."""
    query = select(func.count()).select_from(PersonalNumber).where(_stale(keys))
    return int(session.scalar(query) or 0)


def reseal_batch(session: Session, keys: DataKeys, *, batch: int = 1000) -> int:
    """Re-seal up to ``batch`` numbers under the current data key; how many were."""
    rows = session.execute(
        select(PersonalNumber.instance_id, PersonalNumber.lookup, PersonalNumber.sealed)
        .where(_stale(keys))
        .order_by(PersonalNumber.instance_id, PersonalNumber.lookup)
        .limit(batch)
        .with_for_update()
    ).all()
    for instance_id, key, sealed in rows:
        number = keys.open(sealed, _aad(instance_id, key))
        session.execute(
            update(PersonalNumber)
            .where(PersonalNumber.instance_id == instance_id, PersonalNumber.lookup == key)
            .values(sealed=keys.seal(number, _aad(instance_id, key)))
        )
    return len(rows)
