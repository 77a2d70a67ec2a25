"""``tilsyn plan build`` and ``tilsyn report``: the yearly plan and the year in figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tilsyn.cli.database import instance_id_of, open_database
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.inspections.schemas import PlanOut
from tilsyn.inspections.service import year_report
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
    limits = _capacity(capacity or [])
    with open_database() as database:
        with database.write() as session:
            instance_id = instance_id_of(session, instance)
            plan = service.build_plan(session, Actor(instance_id), year, capacity=limits, limit=1)
        if out_file is not None:
            _write_plan(database, instance_id, year, out_file)
    out.print(_summary_table(year, plan))
    if out_file is not None:
        console.print(f"wrote {out_file}")


def _write_plan(database: Database, instance_id: int, year: int, out_file: Path) -> None:
    """The plan as CSV (streamed) or as a workbook, by the file's suffix."""
    with database.read() as session:
        if out_file.suffix.lower() == ".csv":
            with out_file.open("w", encoding="utf-8", newline="") as handle:
                for chunk in service.plan_csv(session, instance_id, year):
                    handle.write(chunk)
        else:
            out_file.write_bytes(service.plan_xlsx(session, instance_id, year))


def _summary_table(year: int, plan: PlanOut) -> Table:
    table = Table(title=f"Plan {year}, version {plan.version}")
    for column in ("inspection area", "capacity", "planned", "deferred", "done"):
        table.add_column(column, justify="right")
    for area in plan.summary:
        table.add_row(*("-" if value is None else str(value) for _, value in area))
    return table


def report(instance: str, year: Annotated[int, typer.Argument(min=1900, max=2200)]) -> None:
    """The year in figures for the yearly report to DSB, as JSON."""
    with open_database() as database, database.read() as session:
        figures = year_report(session, instance_id_of(session, instance), year)
    print(json.dumps(figures.model_dump(), indent=2))
