"""What a user reads points to what a user has: README, docs/, every --help and the schema.

A user's clone has no ``../shared`` and no SPEC or DOMAIN notes: the contract is docs/api.md.
README's command table names every command the ``tilsyn`` CLI has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tilsyn.app import create_app
from tilsyn.cli import app as cli_app
from tilsyn.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
NOT_THE_USERS = re.compile(r"\.\./shared|\bSPEC\b|SPEC\.md|DOMAIN\.md|STYLE\.md")


def commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf command's words after ``tilsyn``, e.g. ``("db", "backup")``."""
    command = command or typer.main.get_command(cli_app)
    subcommands: dict[str, Any] | None = getattr(command, "commands", None)
    if subcommands is None:
        yield path
        return
    for name, sub in subcommands.items():
        if not sub.hidden:
            yield from commands(sub, (*path, name))


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli_app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, (path, result.output)
    return result.output


def test_readme_and_docs_point_to_the_projects_own_docs() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert ROOT / "docs" / "api.md" in pages
    found = [
        f"{page.name}:{n}: {line}"
        for page in pages
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if NOT_THE_USERS.search(line)
    ]
    assert found == []
    assert "(docs/api.md)" in (ROOT / "README.md").read_text()


def test_no_help_text_points_elsewhere() -> None:
    paths = [(), *commands()]
    assert len(paths) > 20
    found = [" ".join(path) for path in paths if NOT_THE_USERS.search(help_text(path))]
    assert found == []


def test_the_schema_points_nowhere_else(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 's.db'}"))) as client:
        schema = json.dumps(client.get("/openapi.json").json())
    assert NOT_THE_USERS.findall(schema) == []


@pytest.mark.parametrize("path", sorted(" ".join(p) for p in commands()))
def test_readme_lists_every_command(path: str) -> None:
    assert f"`tilsyn {path}" in (ROOT / "README.md").read_text()
