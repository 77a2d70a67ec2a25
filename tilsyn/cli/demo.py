"""``tilsyn demo`` (a ready-to-try server) and ``tilsyn demo-data`` (files to try)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tilsyn.cli.database import console, fail, open_database, settings
from tilsyn.cli.database import out as stdout
from tilsyn.cli.serve import ServerOptions, run_server
from tilsyn.demo_data import generate_customers, generate_plants


def _check_port_free(host: str, port: int) -> None:
    """Before loading anything: a demo that prints keys and a curl line for a port another
    program holds would send the reader to that program."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise fail(f"cannot bind to {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            raise fail(
                f"port {port} on {host} is in use by another program; choose another with --port"
            ) from None


def demo(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    plants: Annotated[int, typer.Option(help="Sample plants to load")] = 300,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load data and exit")] = False,
) -> None:
    """A ready-to-try server: demo instances, sample data, and fresh admin keys printed
    (the keys of earlier demo runs are revoked)."""
    from tilsyn.demo import load_demo

    if not no_serve:
        _check_port_free(host, port)
    with (
        open_database(create=True) as database,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
    ):
        summary = load_demo(
            database, secret_key=settings().secret_key, plants=plants, progress=progress
        )
    base = f"http://{host}:{port}"
    stdout.print("\n[bold]tilsyn demo[/bold]")
    for line in summary.lines():
        stdout.print(line)
    stdout.print("\nTry it:")
    stdout.print(
        f"  curl -H 'api-key: {summary.test_key}' "
        f"{base}/api/plant/test/getDataForImport/{summary.sample_metering_point}",
        soft_wrap=True,
    )
    stdout.print(f"  open {base}/docs")
    stdout.print(f"  open {base}/console/ (sign in as one of the console users above)\n")
    if not no_serve:
        run_server(ServerOptions(host, port))


def demo_data(
    plants: Annotated[int, typer.Option(help="Plants to generate")] = 1000,
    customers: Annotated[int, typer.Option(help="Customers to generate")] = 900,
    out: Annotated[Path, typer.Option(help="Folder for customers.ndjson and plants.ndjson")] = Path(
        "demo-data"
    ),
    seed: Annotated[int, typer.Option(help="Same seed, same data")] = 1,
) -> None:
    """Valid, varied data (synthetic personal numbers, a realistic grid hierarchy).

    Its metering point ids never collide with the ones `tilsyn demo` loads, so the files can
    be imported or synced into the demo server as new plants.
    """
    out.mkdir(parents=True, exist_ok=True)
    numbers: list[str] = []
    with (out / "customers.ndjson").open("w", encoding="utf-8") as handle:
        for customer in generate_customers(customers, seed=seed, synthetic_ids=True):
            numbers.append(customer["Number"])
            handle.write(json.dumps(customer, ensure_ascii=False) + "\n")
    with (out / "plants.ndjson").open("w", encoding="utf-8") as handle:
        for plant in generate_plants(plants, customer_numbers=numbers, seed=seed):
            handle.write(json.dumps(plant, ensure_ascii=False) + "\n")
    console.print(f"wrote {customers} customers and {plants} plants to {out}")
