"""``tilsyn instance``: create and list instances, and change their validation and rate limit."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tilsyn.cli.database import console, fail, open_database, out
from tilsyn.core.changelog import Actor
from tilsyn.core.models import Instance
from tilsyn.instances import service as instances
from tilsyn.rules.service import put_validation, seed_default_rules

instance_app = typer.Typer(no_args_is_help=True, help="Instances: separated registries.")


@instance_app.command("create")
def instance_create(
    name: str,
    environment: Annotated[str, typer.Option("--environment", "-e", help="test or prod")],
    strict_validation: Annotated[bool, typer.Option(help="Reject implausible values")] = False,
) -> None:
    """Create an instance."""
    with open_database(create=True) as database:
        try:
            with database.write() as session:
                instance = instances.create_instance(
                    session, name=name, environment=environment, strict_validation=strict_validation
                )
                seed_default_rules(session, instance.id)
                console.print(f"created instance {instance.name} ({instance.environment})")
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None


@instance_app.command("list")
def instance_list() -> None:
    """List instances."""
    with open_database() as database:
        with database.read() as session:
            table = Table("name", "environment", "strict validation", "rate limit per key")
            for instance in instances.list_instances(session):
                table.add_row(
                    instance.name,
                    instance.environment,
                    str(instance.strict_validation),
                    _rate_limit_text(instance),
                )
        out.print(table)


@instance_app.command("set-strict")
def instance_set_strict(name: str, strict: Annotated[bool, typer.Argument()]) -> None:
    """Turn strict validation on or off (plausibility warnings become 400 errors).

    Recorded in the instance's history like the settings API's change of it.
    """
    with open_database() as database:
        try:
            with database.write() as session:
                instance = instances.get_instance(session, name)
                outcome = put_validation(
                    session, Actor(instance_id=instance.id), {"strictValidation": strict}
                )
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None
    console.print(f"{name}: strict validation {'on' if strict else 'off'} ({outcome.result})")


@instance_app.command("set-rate-limit")
def instance_set_rate_limit(
    name: str,
    per_second: Annotated[
        float | None,
        typer.Option("--per-second", help="Requests per second per API key; 0 for no limit"),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option(help="Requests a key may send at once (default: two seconds' worth)"),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Back to the server's default limit")
    ] = False,
) -> None:
    """Limit how fast each of the instance's API keys may send requests (429 above it)."""
    if default == (per_second is not None):
        raise fail("give either --per-second (with an optional --burst) or --default")
    with open_database() as database:
        try:
            with database.write() as session:
                instance = instances.get_instance(session, name)
                instances.set_rate_limit(session, instance, per_second=per_second, burst=burst)
                console.print(f"{name}: rate limit per API key {_rate_limit_text(instance)}")
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None


def _rate_limit_text(instance: Instance) -> str:
    text = instances.rate_limit_of(instance).describe()
    return text + " (default)" if instance.rate_limit_per_second is None else text
