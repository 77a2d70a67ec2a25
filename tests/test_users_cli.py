"""`tilsyn user`: create (password from standard input, or a one-time link), list, disable,
reset-password, on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.console_helpers import csrf_of, sign_in
from tilsyn.app import create_app
from tilsyn.cli import app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database

runner = CliRunner()


def invoke(db_url: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db_url, *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_user_lifecycle(database_url: str) -> None:
    assert invoke(database_url, "instance", "create", "nett", "-e", "test")[0] == 0
    code, out, err = invoke(
        database_url,
        "user", "create", "nett", "Ola@DLE.no", "--role", "inspector",
        stdin="et-langt-passord\n",
    )  # fmt: skip
    assert code == 0, err
    assert out == ""  # the password is never echoed
    code, out, err = invoke(
        database_url, "user", "create", "nett", "kari@dle.no", "--link",
        "--base-url", "https://tilsyn.example.no/",
    )  # fmt: skip
    assert code == 0, err
    link = out.strip()
    assert link.startswith("https://tilsyn.example.no/console/setup/")
    assert "\n" not in link, "only the link is printed"
    assert invoke(database_url, "user", "create", "nett", "ola@dle.no", stdin="x" * 12)[0] == 1
    short = invoke(database_url, "user", "create", "nett", "per@dle.no", stdin="kort\n")
    assert short[0] == 1
    assert "10 characters" in short[2]
    code, out, _ = invoke(database_url, "user", "list", "nett")
    assert code == 0
    assert "ola@dle.no" in out
    assert "inspector" in out
    assert "not set" in out  # kari has only her link so far

    database = Database(database_url)
    try:
        with TestClient(create_app(Settings(database_url=database_url), database)) as client:
            sign_in(client, "ola@dle.no", "et-langt-passord")
            code, _, err = invoke(
                database_url, "user", "reset-password", "nett", "ola@dle.no",
                stdin="et-nytt-passord\n",
            )  # fmt: skip
            assert code == 0, err
            assert client.get("/console/", follow_redirects=False).status_code == 303
            sign_in(client, "ola@dle.no", "et-nytt-passord")
            assert invoke(database_url, "user", "disable", "nett", "ola@dle.no")[0] == 0
            assert client.get("/console/", follow_redirects=False).status_code == 303
            form = client.get("/console/sign-in")
            refused = client.post(
                "/console/sign-in",
                data={
                    "email": "ola@dle.no",
                    "password": "et-nytt-passord",
                    "csrf_token": csrf_of(form.text),
                },
            )
            assert refused.status_code == 401
    finally:
        database.dispose()
    assert invoke(database_url, "user", "disable", "nett", "nobody@dle.no")[0] == 1
    assert invoke(database_url, "user", "list", "no-such-instance")[0] == 1
