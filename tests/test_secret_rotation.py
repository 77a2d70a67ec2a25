"""Rotating TILSYN_SECRET_KEY without downtime: the previous secret still admits keys, which
move to the new secret as they are used (docs/operations.md, "Secrets")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import SECRET, Tenant
from tilsyn.app import create_app
from tilsyn.contract.time import utc_now
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import ApiKey
from tilsyn.instances import service as instances

NEW_SECRET = "the-new-secret"
MISSING_PLANT = "/api/plant/test/getDataForImport/707057500053182051"


@contextmanager
def server(
    database: Database, database_url: str, secret: str, previous: str | None = None
) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, secret_key=secret, previous_secret_key=previous)
    with TestClient(create_app(settings, database)) as client:
        yield client


def stored_hash(database: Database, key: str) -> str | None:
    with database.read() as session:
        for row in session.scalars(select(ApiKey)):
            if row.key_hash in {instances.hash_key(s, key) for s in (SECRET, NEW_SECRET)}:
                return row.key_hash
    return None


def test_keys_move_to_the_new_secret_as_they_are_used(
    database: Database, database_url: str, tenant: Tenant
) -> None:
    with database.write() as session:  # used a moment ago: no last-used touch would be due
        session.execute(update(ApiKey).values(last_used_at=utc_now()))
    with server(database, database_url, NEW_SECRET, previous=SECRET) as client:
        assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 404
        assert stored_hash(database, tenant.key) == instances.hash_key(NEW_SECRET, tenant.key)
        assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 404
    # Not used during the rotation: still under the old secret, so accepted with it alone.
    assert stored_hash(database, tenant.admin_key) == instances.hash_key(SECRET, tenant.admin_key)

    # The previous secret removed: the used key works, the unused one no longer does.
    with server(database, database_url, NEW_SECRET) as client:
        assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 404
        assert client.get(MISSING_PLANT, headers={"api-key": tenant.admin_key}).status_code == 401
    # And a server still on the old secret alone no longer knows the moved key.
    with server(database, database_url, SECRET) as client:
        assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 401


def test_without_the_previous_secret_old_keys_are_refused(
    database: Database, database_url: str, tenant: Tenant
) -> None:
    with server(database, database_url, NEW_SECRET) as client:
        assert client.get(MISSING_PLANT, headers=tenant.headers).status_code == 401
    assert stored_hash(database, tenant.key) == instances.hash_key(SECRET, tenant.key)


def test_revoked_and_unknown_keys_stay_refused_and_untouched(
    database: Database, database_url: str, tenant: Tenant
) -> None:
    with database.write() as session:
        instance = instances.get_instance(session, tenant.name)
        created = instances.create_key(session, instance, secret_key=SECRET, label="old")
        instances.revoke_key(session, created.id)
    with server(database, database_url, NEW_SECRET, previous=SECRET) as client:
        assert client.get(MISSING_PLANT, headers={"api-key": created.secret}).status_code == 401
        forged = {"api-key": tenant.key[:-4] + ("AAAA" if tenant.key[-4:] != "AAAA" else "BBBB")}
        assert client.get(MISSING_PLANT, headers=forged).status_code == 401
    with database.read() as session:
        row = session.get(ApiKey, created.id)
        assert row is not None
        assert row.key_hash == instances.hash_key(SECRET, created.secret)
        assert row.last_used_at is None


def test_keys_created_during_the_rotation_use_the_new_secret(database: Database) -> None:
    with database.write() as session:
        instance = instances.create_instance(session, name="rotating", environment="test")
        created = instances.create_key(session, instance, secret_key=NEW_SECRET)
    with database.read() as session:
        context = instances.authenticate(
            session, secret_key=NEW_SECRET, previous_secret_key=SECRET, api_key=created.secret
        )
    assert context is not None
    assert context.rehash_to is None


def test_the_previous_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILSYN_SECRET_KEY", NEW_SECRET)
    monkeypatch.setenv("TILSYN_SECRET_KEY_PREVIOUS", SECRET)
    assert Settings.from_env().previous_secret_key == SECRET
    monkeypatch.setenv("TILSYN_SECRET_KEY_PREVIOUS", "")
    assert Settings.from_env().previous_secret_key is None
