"""The layering of docs/architecture.md, checked: what a layer may load, and lint-imports.

The contracts themselves are in pyproject.toml (``[tool.importlinter]``).

Each import runs in a fresh interpreter, so that what the test process loaded before does
not hide what a module loads itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# What the client must never load: the database and the server's own packages.
SERVER = ("sqlalchemy", "tilsyn.core", "tilsyn.plants", "tilsyn.customers")


def _loaded_by(modules: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of ``prefixes`` that importing ``modules`` loads."""
    code = (
        f"import {modules}, sys, json; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_the_client_loads_no_server_code() -> None:
    """An integrator's machine runs the SDK and `tilsyn sync` without the server's database
    code: importing the client loads neither SQLAlchemy nor a server package."""
    modules = "tilsyn.client, tilsyn.client.sync, tilsyn.client.sdk"
    assert _loaded_by(modules, SERVER) == []
    assert _loaded_by("tilsyn.client.readers, tilsyn.client.cli", SERVER) == []


@pytest.mark.parametrize("package", ["contract", "validation"])
def test_the_lower_layers_load_no_database_code(package: str) -> None:
    """The contract and the validation rules are shared by the server and the client, so
    they cannot need SQLAlchemy; every module of the package is imported, later ones too."""
    folder = Path(__file__).parent.parent / "tilsyn" / package
    modules = [
        ".".join(("tilsyn", *path.relative_to(folder.parent).with_suffix("").parts))
        for path in sorted(folder.rglob("*.py"))
        if path.name != "__init__.py"
    ]
    assert modules
    assert _loaded_by(", ".join([f"tilsyn.{package}", *modules]), SERVER) == []


def test_the_import_contracts_hold() -> None:
    """lint-imports, with the contracts of pyproject.toml: layers, acyclic domains, a client
    and a contract without server code. Its report is the assertion's message."""
    root = Path(__file__).parent.parent
    script = Path(sys.executable).parent / "lint-imports"
    command = str(script) if script.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is not installed (pip install -e '.[test]')"
    done = subprocess.run(
        [command, "--no-cache"], check=False, cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
