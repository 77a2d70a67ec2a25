"""``tilsyn rules``: export, import, explain and reset an instance's audit rules.

Data (an exported file, an explanation) goes to stdout; messages go to stderr. An import checks
the whole file first and changes nothing when any rule is bad, naming each one's line.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session

from tilsyn.cli.database import instance_id_of, open_database
from tilsyn.contract.problems import Issue
from tilsyn.core.changelog import Actor
from tilsyn.rules import files, service

rules_app = typer.Typer(
    no_args_is_help=True,
    help="Audit rules: how auditSpecificInfo is derived (see docs/rules.md).",
)
console = Console(stderr=True, soft_wrap=True)


class FileFormat(StrEnum):
    csv = "csv"
    yaml = "yaml"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _instance_id(session: Session, name: str) -> int:
    return instance_id_of(session, name, errors=console)


@rules_app.command("export")
def rules_export(
    instance: str,
    format: Annotated[FileFormat, typer.Option("--format", "-f", help="csv or yaml")] = (
        FileFormat.yaml
    ),
) -> None:
    """Print the instance's rules as YAML or CSV (for `tilsyn rules import`)."""
    with open_database() as database, database.read() as session:
        instance_id = _instance_id(session, instance)
        rules = service.load_rules(session, instance_id)
    documents = [rule.document() for rule in rules]
    if format is FileFormat.csv:
        typer.echo(files.write_csv(documents), nl=False)
        return
    header = (
        f"Audit rules of instance {instance}, exported by tilsyn.\n"
        f"Change them, then: tilsyn rules import {instance} FILE  (see docs/rules.md)"
    )
    typer.echo(files.write_yaml(documents, header=header), nl=False)


_RULE_REF = re.compile(r"rules\[(\d+)\]")


@rules_app.command("import")
def rules_import(
    instance: str,
    file: Annotated[Path, typer.Argument(help="A .csv, .yaml or .yml file (or .json)")],
) -> None:
    """Replace the instance's rules with a file's; nothing changes if any rule is bad."""
    rules = _read_rule_file(file)
    with open_database() as database:
        with database.write() as session:
            instance_id = _instance_id(session, instance)
            changed = service.replace_rules(session, Actor(instance_id=instance_id), rules)
        if changed:
            console.print(f"replaced the rules of {instance} with the {len(rules)} rules of {file}")
        else:
            console.print(f"the rules of {instance} are already those of {file}; nothing changed")


def _read_rule_file(file: Path) -> list[service.Rule]:
    """The file's rules, its warnings printed with their lines; any problem ends the command
    before the database is opened, each printed with its line."""
    kind = files.format_of(file)
    if kind is None:
        raise _fail(f"{file}: the name must end in .csv, .yaml or .yml")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{file}: cannot be read ({exc})") from None
    found = files.read_rules(text, kind)
    problems = list(found.errors)
    rules = None
    warnings: list[tuple[int, str]] = []
    if found.rows or not found.errors:
        rules, issues = service.parse_rule_set({"rules": found.rows})
        # A file is edited by hand: an unknown field is a typo that would drop a value.
        unknown = [w for w in issues.warnings if w.code == "unknown_field"]
        problems += [_located(found, issue) for issue in [*issues.errors, *unknown]]
        warnings += [_located(found, w) for w in issues.warnings if w.code != "unknown_field"]
    for line, message in sorted(warnings):
        console.print(f"{escape(str(file))}:{line}: [yellow]warning:[/yellow] {escape(message)}")
    if problems or rules is None:
        for line, message in sorted(problems):
            console.print(f"{escape(str(file))}:{line}: [red]error:[/red] {escape(message)}")
        count = len(problems)
        raise _fail(f"{count} problem{'s' if count != 1 else ''} in {file}; nothing was changed")
    return rules


def _located(found: files.RuleRows, issue: Issue) -> tuple[int, str]:
    """An issue of ``rules[i].field`` as (line, message), other rules named by their line."""
    match = re.match(r"^rules\[(\d+)\](?:\.(\w+))?", issue.field)

    def line_of(index: int, name: str | None = None) -> int:
        return found.line_of(index, name) if index < len(found.lines) else 1

    message = _RULE_REF.sub(
        lambda ref: f"the rule on line {line_of(int(ref.group(1)))}", issue.message
    ).replace("is not a known field and was ignored", "is not a known field")
    if match is None:
        return 1, f"{issue.field}: {message}"
    index, name = int(match.group(1)), match.group(2)
    rule_id = found.rows[index].get("id") if index < len(found.rows) else None
    where = f"rule '{rule_id}'" if rule_id is not None else "rule"
    return line_of(index, name), f"{where}, {name}: {message}" if name else f"{where}: {message}"


@rules_app.command("explain")
def rules_explain(
    instance: str,
    consumption_code: Annotated[
        str, typer.Option("--consumption-code", "-c", help="Elhub forbrukskode, such as 35")
    ],
    naeringskode: Annotated[
        str, typer.Option("--naeringskode", "-n", help="SN2007 næringskode, such as 55.102")
    ],
) -> None:
    """Which rule gives each value to such a plant, and why the other matching rules lost."""
    with open_database() as database, database.read() as session:
        rules = service.load_rules(session, _instance_id(session, instance))
    explained = service.explain(rules, consumption_code, naeringskode)
    code, prefix = consumption_code.strip().lower(), naeringskode.strip()
    lines = [f"consumption code {code}, næringskode {prefix} ({len(rules)} rules in {instance})"]
    for item in explained:
        if item.winner is None:
            lines.append(f"{item.field}: null (no rule gives it)")
            continue
        lines.append(
            f"{item.field}: {item.value!r}  from rule:{item.winner.id} "
            f"({service.describe(item.winner)})"
        )
        lines += [f"  rule:{rule.id} {reason}" for rule, reason in item.losers]
    if all(item.winner is None for item in explained):
        lines.append("no rule covers such a plant: its upsert would warn 'no_rule'")
    typer.echo("\n".join(lines))


@rules_app.command("reset")
def rules_reset(instance: str) -> None:
    """Put the default rule set (tilsyn/data/default_rules.yaml) in place of the instance's."""
    with open_database() as database:
        with database.write() as session:
            instance_id = _instance_id(session, instance)
            changed = service.reset_rules(session, Actor(instance_id=instance_id))
        count = len(service.default_rules())
        if changed:
            console.print(f"the rules of {instance} are now the {count} default rules")
        else:
            console.print(f"the rules of {instance} are already the {count} default rules")
