"""``tilsyn key``: an instance's API keys. A new key goes to stdout alone, for scripts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tilsyn.cli.database import console, fail, open_database, out, settings
from tilsyn.instances import service as instances

key_app = typer.Typer(no_args_is_help=True, help="API keys of an instance.")


@key_app.command("create")
def key_create(
    instance: str,
    admin: Annotated[bool, typer.Option("--admin", help="Admin scope (settings too)")] = False,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Read scope: GETs only, no customer numbers")
    ] = False,
    label: Annotated[str | None, typer.Option(help="What the key is for")] = None,
) -> None:
    """Create an API key; prints only the key, which is not shown again."""
    if admin and read_only:
        raise fail("choose --admin or --read-only, not both")
    scope = "admin" if admin else "read" if read_only else "import"
    with open_database() as database:
        try:
            with database.write() as session:
                created = instances.create_key(
                    session,
                    instances.get_instance(session, instance),
                    secret_key=settings().secret_key,
                    scope=scope,
                    label=label,
                )
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None
        print(created.secret)


@key_app.command("list")
def key_list(instance: str) -> None:
    """List an instance's keys (never the keys themselves)."""
    with open_database() as database:
        try:
            with database.read() as session:
                rows = instances.list_keys(session, instances.get_instance(session, instance))
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None
        table = Table("id", "prefix", "scope", "label", "created", "last used", "revoked")
        for row in rows:
            table.add_row(
                str(row.id),
                row.display_prefix + "…",
                row.scope,
                row.label or "",
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
        out.print(table)


@key_app.command("revoke")
def key_revoke(key_id: int) -> None:
    """Revoke a key by its id (see `tilsyn key list`)."""
    with open_database() as database:
        try:
            with database.write() as session:
                instances.revoke_key(session, key_id)
        except instances.InstanceError as exc:
            raise fail(str(exc)) from None
        console.print(f"revoked key {key_id}")
