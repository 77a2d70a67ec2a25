"""The ``tilsyn`` command. Each command only parses options and calls services.

One module per command group; each opens the database through :mod:`tilsyn.cli.database`.
Output meant for scripts (a new key) prints only the value; everything else is for people.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tilsyn.cli.database import state
from tilsyn.cli.db import db_app
from tilsyn.cli.demo import demo, demo_data
from tilsyn.cli.history import history_app
from tilsyn.cli.imports import import_files
from tilsyn.cli.instances import instance_app
from tilsyn.cli.keys import key_app
from tilsyn.cli.plans import plan_app, report
from tilsyn.cli.postal import postal_app
from tilsyn.cli.rules import rules_app
from tilsyn.cli.serve import serve
from tilsyn.cli.users import user_app
from tilsyn.client.cli import sync as sync_command
from tilsyn.core.config import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    help="tilsyn: registry of customers and plants for DLE.",
    pretty_exceptions_show_locals=False,  # locals may hold keys or personal data
)
app.add_typer(instance_app, name="instance")
app.add_typer(key_app, name="key")
app.add_typer(db_app, name="db")
app.add_typer(rules_app, name="rules")
app.add_typer(history_app, name="history")
app.add_typer(postal_app, name="postal-codes")
app.add_typer(user_app, name="user")
app.command("sync")(sync_command)
app.command("import")(import_files)
app.command("demo-data")(demo_data)
app.add_typer(plan_app, name="plan")
app.command("report")(report)
app.command("serve")(serve)
app.command("demo")(demo)


@app.callback()
def main_options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default: TILSYN_DATABASE_URL or sqlite:///tilsyn.db)"
        ),
    ] = None,
) -> None:
    state.url = Settings.from_env(database_url=db).database_url


def main() -> Any:
    return app()
