"""``tilsyn user``: the people who sign in to the console, and their roles.

A password is read from standard input (typed, hidden, on a terminal; the first line when
piped), never from an option, which would leave it in the shell's history. With ``--link`` a
one-time link is printed instead, once, for the user to choose their own password.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tilsyn.cli.database import open_database
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.instances import service as instances
from tilsyn.users import service

user_app = typer.Typer(no_args_is_help=True, help="Console users of an instance and their roles.")
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

LinkOption = Annotated[
    bool, typer.Option("--link", help="Print a one-time link to set the password instead")
]
BaseUrlOption = Annotated[
    str, typer.Option("--base-url", help="Where the console is served, for the one-time link")
]
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


def _setup_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/console/setup/{token}"


def _cli_actor(database: Database, instance: str) -> Actor:
    with database.read() as session:
        instance_id = instances.get_instance(session, instance).id
    return Actor(instance_id=instance_id, api_key_label="cli")


@user_app.command("create")
def user_create(
    instance: str,
    email: str,
    role: Annotated[str, typer.Option(help="viewer, inspector or admin")] = "viewer",
    link: LinkOption = False,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
) -> None:
    """Create a user; the password comes from standard input, or a one-time link is printed."""
    password = None if link else _read_password()
    with open_database() as database:
        try:
            actor = _cli_actor(database, instance)
            with database.write() as session:
                _user, token = service.create_user(
                    session, actor, email=email, role=role, password=password
                )
        except (instances.InstanceError, service.UserError) as exc:
            raise _fail(str(exc)) from None
    if token:
        print(_setup_link(base_url, token))
    else:
        console.print(f"created {service.normalise_email(email)} ({role})")


@user_app.command("list")
def user_list(instance: str) -> None:
    """List an instance's users and their roles."""
    with open_database() as database:
        try:
            with database.read() as session:
                instance_id = instances.get_instance(session, instance).id
                users = service.list_users(session, instance_id)
        except instances.InstanceError as exc:
            raise _fail(str(exc)) from None
    table = Table("e-mail", "role", "created", "password", "disabled")
    for user in users:
        table.add_row(
            user.email,
            user.role,
            f"{user.created_at:%Y-%m-%d}",
            "set" if user.password_hash else "not set",
            f"{user.disabled_at:%Y-%m-%d %H:%M}" if user.disabled_at else "",
        )
    out.print(table)


@user_app.command("disable")
def user_disable(instance: str, email: str) -> None:
    """Stop a user from signing in; their open sessions end at once."""
    with open_database() as database:
        try:
            actor = _cli_actor(database, instance)
            with database.write() as session:
                service.disable_user(session, actor, email)
        except (instances.InstanceError, service.UserError) as exc:
            raise _fail(str(exc)) from None
    console.print(f"disabled {email.strip()}")


@user_app.command("reset-password")
def user_reset_password(
    instance: str,
    email: str,
    link: LinkOption = False,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
) -> None:
    """Set a new password from standard input, or print a one-time link; signs the user out."""
    password = None if link else _read_password()
    with open_database() as database:
        try:
            actor = _cli_actor(database, instance)
            with database.write() as session:
                token = service.reset_password(session, actor, email, password=password)
        except (instances.InstanceError, service.UserError) as exc:
            raise _fail(str(exc)) from None
    if token:
        print(_setup_link(base_url, token))
    else:
        console.print(f"password of {email.strip()} changed")
