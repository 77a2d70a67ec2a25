"""``tilsyn history``: retention of an instance's history.

The number of changes removed goes to stdout; messages go to stderr.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tilsyn.cli.database import open_database
from tilsyn.contract.time import today_in_oslo
from tilsyn.core import changelog
from tilsyn.history import service
from tilsyn.instances import service as instances

history_app = typer.Typer(
    no_args_is_help=True, help="History of changes: retention (see docs/history.md)."
)
console = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


@history_app.command("prune")
def history_prune(
    instance: str,
    before: Annotated[
        str,
        typer.Option(
            "--before", help="YYYY-MM-DD: remove changes made before this day (Europe/Oslo)"
        ),
    ],
) -> None:
    """Remove an instance's changes made before a day, except each entity's latest one.

    The current state is never touched, and neither is the latest change of any customer,
    plant, element or setting. As-of reads of days before the cut answer 410 afterwards.
    """
    try:
        day = date.fromisoformat(before)
    except ValueError:
        raise _fail("--before must be a date, YYYY-MM-DD") from None
    if day > today_in_oslo():
        raise _fail("--before must not be in the future; pruning keeps no history of today")
    removed = 0
    with open_database() as database:
        try:
            with database.write() as session:
                instance_id = instances.get_instance(session, instance).id
                kept_from = service.start_prune(
                    session, changelog.Actor(instance_id=instance_id), before=day
                )
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None
        if kept_from is not None and day <= kept_from:
            console.print(f"history of {instance} is kept from {kept_from} already")
        while True:
            with database.write() as session:
                count = service.prune_batch(session, instance_id, before=day)
            removed += count
            if not count:
                break
    console.print(f"removed {removed} changes of {instance} made before {day}")
    typer.echo(removed)
