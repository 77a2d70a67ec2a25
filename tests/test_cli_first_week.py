"""The CLI as a new integrator meets it: the database a command looked in, the demo's port and
keys, demo-data that does not collide with the demo server."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import SECRET, Tenant
from tilsyn.cli import app
from tilsyn.core.db import Database
from tilsyn.core.models import ApiKey, Instance
from tilsyn.demo import DEMO_KEY_LABEL, DEMO_USERS
from tilsyn.demo_data import DEMO_SERVER_PREFIX, generate_customers, generate_plants
from tilsyn.instances.service import authenticate
from tilsyn.users.service import check_credentials

runner = CliRunner()


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILSYN_SECRET_KEY", SECRET)


def said(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    "command",
    [
        ["instance", "list"],
        ["key", "list", "nett"],
        ["import", "nett", "plants.csv"],
        ["rules", "export", "nett"],
        ["db", "current"],
    ],
)
def test_a_lookup_in_a_missing_database_names_it_and_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plants.csv").write_text("meteringPointId\n1\n")
    monkeypatch.delenv("TILSYN_DATABASE_URL", raising=False)
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    assert f"no tilsyn database at {tmp_path / 'tilsyn.db'}" in said(result.stderr)
    assert not (tmp_path / "tilsyn.db").exists()


def test_an_unknown_instance_names_the_database_looked_in(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "plants.csv"
    path.write_text("meteringPointId\n1\n")
    result = runner.invoke(app, ["--db", database_url, "import", "nett-prod", str(path)])
    assert result.exit_code == 1
    where = str(database.engine.url.database)
    assert "no instance named 'nett-prod' in the database" in said(result.stderr)
    assert where.rsplit("/", 1)[-1] in said(result.stderr)


def test_demo_on_a_busy_port_fails_before_loading_anything(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = runner.invoke(app, ["--db", db, "demo", "--port", str(port), "--plants", "5"])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is in use" in said(result.stderr)
    assert "curl" not in result.stdout
    assert not (tmp_path / "demo.db").exists()


def test_demo_revokes_the_keys_it_printed_before_and_says_they_are_admin_keys(
    database_url: str, database: Database
) -> None:
    first = runner.invoke(app, ["--db", database_url, "demo", "--plants", "3", "--no-serve"])
    assert first.exit_code == 0, first.stderr
    assert "demo-test: admin api-key tilsyn_test_" in said(first.stdout)
    old_key = said(first.stdout).split("demo-test: admin api-key ")[1].split()[0]
    second = runner.invoke(app, ["--db", database_url, "demo", "--plants", "3", "--no-serve"])
    assert second.exit_code == 0, second.stderr
    assert "the 2 keys of earlier demo runs are revoked" in said(second.stdout)
    new_key = said(second.stdout).split("demo-test: admin api-key ")[1].split()[0]
    with database.read() as session:
        assert authenticate(session, secret_key=SECRET, api_key=old_key) is None
        context = authenticate(session, secret_key=SECRET, api_key=new_key)
        assert context is not None
        assert context.scope == "admin"
        valid = session.scalars(
            select(ApiKey)
            .join(Instance, Instance.id == ApiKey.instance_id)
            .where(ApiKey.label == DEMO_KEY_LABEL, ApiKey.revoked_at.is_(None))
        ).all()
    assert len(valid) == 2, "one valid key per demo instance"


def test_demo_data_ids_never_collide_with_the_demo_servers() -> None:
    numbers = [c["Number"] for c in generate_customers(50, seed=1, synthetic_ids=True)]
    demo = {
        p["meteringPointId"]
        for p in generate_plants(
            300, customer_numbers=numbers, seed=1, id_prefix=DEMO_SERVER_PREFIX
        )
    }
    files = {p["meteringPointId"] for p in generate_plants(300, customer_numbers=numbers, seed=1)}
    assert len(demo) == len(files) == 300
    assert not demo & files
    assert all(mpid.startswith(DEMO_SERVER_PREFIX) for mpid in demo)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--encoding", "klingon-8", "unknown encoding 'klingon-8'"),
        ("--delimiter", "|", "use auto, ',', ';' or tab"),
        ("--decimal", "·", "use auto, '.' or ','"),
        ("--true-values", "J,N", "n cannot mean both true and false"),
    ],
)
def test_a_bad_csv_option_is_a_usage_error_naming_it(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    path = tmp_path / "plants.csv"
    path.write_text("meteringPointId\n1\n")
    result = runner.invoke(
        app,
        ["--db", f"sqlite:///{tmp_path / 'x.db'}", "import", "nett", str(path), option, value],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 2
    assert message in said(result.stderr)
    assert not (tmp_path / "x.db").exists()


def _demo_passwords(stdout: str) -> dict[str, str]:
    """E-mail → password, from the demo's lines ``admin  admin@demo…  password …``."""
    return dict(re.findall(r"(\S+@demo\.tilsyn\.no) password (\S+)", said(stdout)))


def test_demo_prints_a_console_user_per_role_whose_password_signs_in_until_the_next_run(
    database_url: str, database: Database
) -> None:
    first = runner.invoke(app, ["--db", database_url, "demo", "--plants", "3", "--no-serve"])
    assert first.exit_code == 0, first.stderr
    old = _demo_passwords(first.stdout)
    assert set(old) == {email for email, _ in DEMO_USERS}
    assert "/console/" in said(first.stdout)
    second = runner.invoke(app, ["--db", database_url, "demo", "--plants", "3", "--no-serve"])
    assert second.exit_code == 0, second.stderr
    new = _demo_passwords(second.stdout)
    with database.write() as session:
        for email, role in DEMO_USERS:
            assert check_credentials(session, email=email, password=old[email]) is None
            user = check_credentials(session, email=email, password=new[email])
            assert user is not None
            assert user.role == role
