"""``tilsyn plan build`` and ``tilsyn report``: the yearly plan and the year in figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tilsyn.core.changelog import Actor
from tilsyn.inspections.service import year_report
from tilsyn.instances import service as instances
from tilsyn.plans import service

plan_app = typer.Typer(no_args_is_help=True, help="The yearly inspection plan.")
console = Console(stderr=True)
out = Console()


def _capacity(values: list[str]) -> dict[str, int]:
    capacity: dict[str, int] = {}
    for value in values:
        area, _, number = value.partition("=")
        if not number.strip().isdigit():
            raise typer.BadParameter(f"'{value}': give AREA=N, e.g. 63=400")
        capacity[area.strip()] = int(number)
    return service.parse_capacity({"capacity": capacity})


def _instance_id(session: object, name: str) -> int:
    try:
        return instances.get_instance(session, name).id  # type: ignore[arg-type]
    except instances.InstanceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@plan_app.command("build")
def plan_build(
    instance: str,
    year: Annotated[int, typer.Argument(min=1900, max=2200)],
    capacity: Annotated[
        list[str] | None,
        typer.Option(help="Inspections an area can take: AREA=N (repeat; 'none' for no area)"),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the plan: .xlsx or .csv")
    ] = None,
) -> None:
    """Build the year's plan (a new version) and print its summary per inspection area."""
    from tilsyn.cli import _database

    limits = _capacity(capacity or [])
    with _database() as database:
        with database.write() as session:
            instance_id = _instance_id(session, instance)
            plan = service.build_plan(
                session, instance_id, year, capacity=limits, actor=Actor(instance_id), limit=1
            )
        if out_file is not None:
            with database.read() as session:
                if out_file.suffix.lower() == ".csv":
                    with out_file.open("w", encoding="utf-8", newline="") as handle:
                        for chunk in service.plan_csv(session, instance_id, year):
                            handle.write(chunk)
                else:
                    out_file.write_bytes(service.plan_xlsx(session, instance_id, year))
    table = Table(title=f"Plan {year}, version {plan['version']}")
    for column in ("inspection area", "capacity", "planned", "deferred", "done"):
        table.add_column(column, justify="right")
    for area in plan["summary"]:
        table.add_row(
            *(
                "-" if area[name] is None else str(area[name])
                for name in ("inspectionArea", "capacity", "planned", "deferred", "done")
            )
        )
    out.print(table)
    if out_file is not None:
        console.print(f"wrote {out_file}")


def report(instance: str, year: Annotated[int, typer.Argument(min=1900, max=2200)]) -> None:
    """The year in figures for the yearly report to DSB, as JSON."""
    from tilsyn.cli import _database

    with _database() as database, database.read() as session:
        figures = year_report(session, _instance_id(session, instance), year)
    print(json.dumps(figures, indent=2))
