"""Fixtures: real databases (an SQLite file per test; PostgreSQL when there is one), the app.

Every database test runs on each backend in ``BACKENDS``. PostgreSQL joins when
``TILSYN_TEST_POSTGRES_URL`` names a server or, with that unset, when a local one answers
as user ``postgres`` at 127.0.0.1:5432 (``TILSYN_TEST_POSTGRES_PROBE=HOST:PORT`` moves the
probe; ``TILSYN_TEST_POSTGRES_URL=none`` runs SQLite only). The suite then creates its own
database there and drops it at the end, so no run leaves data behind.

Without PostgreSQL the PostgreSQL-only tests are left out, and one line at the end of the run
says how many and how to include them (``NO_POSTGRES``), so README's test command passes
where only Python and pip are.
``TILSYN_TEST_REQUIRE_POSTGRES=1`` (CI) stops the run instead: nothing skips silently there.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tilsyn.app import create_app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.core.models import Base
from tilsyn.instances import service as instances
from tilsyn.rules.service import seed_default_rules


def _answers(dsn: str) -> bool:
    """Whether a PostgreSQL server takes a connection here, within a second."""
    try:
        with psycopg.connect(dsn, connect_timeout=1):
            return True
    except psycopg.Error:
        return False


def find_postgres() -> tuple[str, str]:
    """The PostgreSQL URL the suite uses ("" for none), and how it was chosen."""
    configured = os.environ.get("TILSYN_TEST_POSTGRES_URL", "")
    if configured.lower() == "none":
        return "", "TILSYN_TEST_POSTGRES_URL=none"
    if configured:
        return configured, "TILSYN_TEST_POSTGRES_URL"
    probe = os.environ.get("TILSYN_TEST_POSTGRES_PROBE", "127.0.0.1:5432")
    host, _, port = probe.rpartition(":")
    if _answers(f"host={host} port={port} user=postgres dbname=postgres"):
        return f"postgresql+psycopg://postgres@{host}:{port}/postgres", f"found at {probe}"
    return "", f"no PostgreSQL answered as user postgres at {probe}"


POSTGRES_URL, POSTGRES_FOUND = find_postgres()
NO_POSTGRES = (
    f"PostgreSQL tests not run ({POSTGRES_FOUND}); to include them, start PostgreSQL there "
    "or set TILSYN_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/DATABASE"
)
_LEFT_OUT = pytest.StashKey[int]()
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
SECRET = "test-secret"
# Like SECRET, a configured data key (core/personal.py) rather than the public development
# one, so that servers the tests start accept prod instances. Every database of the run,
# and every server it starts, takes it from the environment.
DATA_KEY = "dGlsc3luIHRlc3QgZGF0YSBrZXkgLS0gMzIgYnl0ZXM="
os.environ["TILSYN_DATA_KEY"] = DATA_KEY
# rich wraps the commands' output at the width it finds, 80 when it finds none: wide enough
# here that a temporary path (longer under pytest-xdist, .../popen-gw0/...) stays on one line.
os.environ.setdefault("COLUMNS", "200")
os.environ.pop("TILSYN_DATA_KEY_PREVIOUS", None)


def pytest_report_header() -> str:
    via = f"PostgreSQL ({POSTGRES_FOUND})" if POSTGRES_URL else f"no PostgreSQL ({POSTGRES_FOUND})"
    return f"tilsyn test databases: SQLite and {via}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under TILSYN_TEST_REQUIRE_POSTGRES=1 a missing or silent server ends the run at once."""
    if os.environ.get("TILSYN_TEST_REQUIRE_POSTGRES") != "1":
        return
    if not POSTGRES_URL:
        pytest.exit(f"TILSYN_TEST_REQUIRE_POSTGRES=1, but {POSTGRES_FOUND}", returncode=4)
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql")
    if not _answers(dsn.render_as_string(hide_password=False)):
        where = dsn.render_as_string(hide_password=True)
        pytest.exit(f"TILSYN_TEST_REQUIRE_POSTGRES=1, but {where} does not answer", returncode=4)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without PostgreSQL, leave out the tests that need it (one summary line, not one each)."""
    if POSTGRES_URL:
        return
    needs = [item for item in items if "postgres_database_url" in getattr(item, "fixturenames", ())]
    if needs:
        config.hook.pytest_deselected(items=needs)
        items[:] = [item for item in items if item not in needs]
        config.stash[_LEFT_OUT] = len(needs)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist a worker hands its count to the controller, which prints it."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["left_out"] = session.config.stash.get(_LEFT_OUT, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    left_out = getattr(node, "workeroutput", {}).get("left_out", 0)
    config: pytest.Config = node.config
    config.stash[_LEFT_OUT] = max(config.stash.get(_LEFT_OUT, 0), left_out)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"{left_out} {NO_POSTGRES}", yellow=True, bold=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade_database(database.engine)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    url = make_url(POSTGRES_URL)
    name = f"tilsyn_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    test_url = url.set(database=name).render_as_string(hide_password=False)
    database = Database(test_url)
    upgrade_database(database.engine)
    database.dispose()
    yield test_url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "tilsyn.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database_url")
    database = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    database.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url_for(request.param, request, tmp_path)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


# /metrics answers only with this bearer token in the tests' servers (off by default).
METRICS_TOKEN = "test-metrics-token"
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No limit on failed authentications per address: every test client has one address,
    # and many tests send bad keys on purpose (tests/test_doors.py tests the limit).
    return Settings(
        database_url=database_url,
        secret_key=SECRET,
        metrics_token=METRICS_TOKEN,
        auth_failures_per_second=0,
        # Tests change keys and instances in the database and call at once; the key cache,
        # under which such a change holds a second later, is tested in tests/test_key_cache.py.
        key_cache_seconds=0,
    )


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        yield test_client


@dataclass(frozen=True)
class Tenant:
    instance_id: int
    name: str
    environment: str
    key: str
    admin_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"api-key": self.key}


def make_tenant(
    database: Database, name: str, environment: str = "test", *, strict: bool = False
) -> Tenant:
    with database.write() as session:
        instance = instances.create_instance(
            session, name=name, environment=environment, strict_validation=strict
        )
        seed_default_rules(session, instance.id)
        key = instances.create_key(session, instance, secret_key=SECRET, label="tests")
        admin = instances.create_key(session, instance, secret_key=SECRET, scope="admin")
        return Tenant(instance.id, name, environment, key.secret, admin.secret)


@pytest.fixture
def tenant(database: Database) -> Tenant:
    return make_tenant(database, "nett-test", "test")


@pytest.fixture
def prod_tenant(database: Database) -> Tenant:
    return make_tenant(database, "nett-prod", "prod")
