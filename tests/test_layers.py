"""The layering of docs/architecture.md, checked: what a layer may load, and lint-imports.

Each import runs in a fresh interpreter, so that what the test process loaded before does
not hide what a module loads itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_the_contract_loads_no_database_code() -> None:
    """The contract is shared by the server and the client, so it cannot need SQLAlchemy;
    every module under tilsyn.contract is imported, the ones added later too."""
    contract = Path(__file__).parent.parent / "tilsyn" / "contract"
    modules = [
        ".".join(("tilsyn", *path.relative_to(contract.parent).with_suffix("").parts))
        for path in sorted(contract.rglob("*.py"))
        if path.name != "__init__.py"
    ]
    assert modules
    assert _loaded_by(", ".join(["tilsyn.contract", *modules]), SERVER) == []
