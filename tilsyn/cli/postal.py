"""``tilsyn postal-codes``: which postal code register is in use, and putting a newer one in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tilsyn.validation.postal import (
    DATA_DIR_VARIABLE,
    REGISTER_FILE,
    PostalRegister,
    RegisterError,
    current_register,
    parse_register,
    register_path,
)

postal_app = typer.Typer(
    no_args_is_help=True, help="Bring's postal code register that addresses are checked against."
)
console = Console(stderr=True)


def _decode(raw: bytes) -> tuple[str, str]:
    """Bring publishes the register in Windows-1252 ("ansi") and UTF-8; a file that is not
    UTF-8 can only be the former, since the register's letters are all in Windows-1252."""
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252"), "Windows-1252"


@postal_app.command("show")
def show() -> None:
    """The register file in use and how many codes it holds."""
    register = current_register()
    print(f"{register_path()}: {len(register.entries)} postal codes")


@postal_app.command("refresh")
def refresh(
    source: Annotated[
        Path, typer.Argument(help="Bring's register file (tab-separated, UTF-8 or Windows-1252)")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help=f"Folder the server reads it from (default: ${DATA_DIR_VARIABLE})",
        ),
    ] = None,
) -> None:
    """Check a newer register file and put it in the data folder, where every tilsyn process
    (a running server too) reads it instead of the packaged copy."""
    folder = data_dir or (
        Path(os.environ[DATA_DIR_VARIABLE]) if os.environ.get(DATA_DIR_VARIABLE) else None
    )
    if folder is None:
        console.print(
            f"[red]error:[/red] give --data-dir or set {DATA_DIR_VARIABLE}, and set "
            f"{DATA_DIR_VARIABLE} to that folder for the server too"
        )
        raise typer.Exit(2)
    try:
        text, encoding = _decode(source.read_bytes())
        new = parse_register(text, source=str(source))
    except (OSError, RegisterError) as exc:
        console.print(f"[red]error:[/red] {exc}; the register in use is unchanged")
        raise typer.Exit(1) from None
    old = current_register()
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / REGISTER_FILE, new)
    console.print(f"read {source} as {encoding}: {len(new.entries)} postal codes")
    console.print(_changes(old, new))
    console.print(f"written to {folder / REGISTER_FILE}")
    if os.environ.get(DATA_DIR_VARIABLE) != str(folder):
        console.print(
            f"[yellow]note:[/yellow] the server reads it only with {DATA_DIR_VARIABLE}={folder}"
        )


def _write_atomically(target: Path, register: PostalRegister) -> None:
    """UTF-8, the packaged file's columns; renamed into place so no reader sees half a file."""
    lines = [
        "\t".join((e.code, e.place, e.municipality_number, e.municipality, e.category))
        for e in sorted(register.entries.values(), key=lambda e: e.code)
    ]
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".postal-codes-")
    with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(lines) + "\n")
    Path(temporary).replace(target)


def _changes(old: PostalRegister, new: PostalRegister) -> str:
    added = new.entries.keys() - old.entries.keys()
    removed = old.entries.keys() - new.entries.keys()
    changed = [
        code
        for code in new.entries.keys() & old.entries.keys()
        if new.entries[code] != old.entries[code]
    ]
    counts = f"{len(added)} added, {len(removed)} removed, {len(changed)} changed"
    return f"compared with {old.source}: {counts}"
