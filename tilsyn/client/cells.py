"""CSV cells as CIS exports write them, turned into what the API reads.

A CSV has only text. The server coerces ``"23"`` to a number and ``"true"`` to a boolean, but
CIS exports write booleans as ``1/0``, ``J/N``, ``ja/nei`` or ``yes/no`` and coordinates with
a decimal comma (``63,4305``). The reader turns those into the API's form here, for the fields
whose type wants it (found from the wire models, so a new field is covered without a list).
A value that cannot be read without guessing is an error of its row, with the column named;
it is never sent as a guess.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

TRUE_VALUES = frozenset({"1", "j", "ja", "y", "yes", "true", "sann"})
FALSE_VALUES = frozenset({"0", "n", "nei", "no", "false", "usann"})
Decimal = Literal["auto", ".", ","]
CellType = Literal["bool", "decimal"]

_POINT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_COMMA = re.compile(r"[+-]?(\d+(,\d*)?|,\d+)")


class CellError(ValueError):
    """A cell that cannot be read without guessing."""


@dataclass(frozen=True)
class CellFormat:
    """How an export writes booleans and decimals; the defaults detect every common form."""

    decimal: Decimal = "auto"
    true_values: frozenset[str] = field(default=TRUE_VALUES)
    false_values: frozenset[str] = field(default=FALSE_VALUES)

    def __post_init__(self) -> None:
        if self.true_values & self.false_values:
            both = ", ".join(sorted(self.true_values & self.false_values))
            raise ValueError(f"{both} cannot mean both true and false")

    def convert(self, kind: CellType, cell: str) -> Any:
        return self._bool(cell) if kind == "bool" else self._decimal(cell)

    def _bool(self, cell: str) -> bool:
        folded = cell.strip().casefold()
        if folded in self.true_values:
            return True
        if folded in self.false_values:
            return False
        yes = "/".join(sorted(self.true_values))
        no = "/".join(sorted(self.false_values))
        raise CellError(f"'{cell.strip()}' is neither true ({yes}) nor false ({no})")

    def _decimal(self, cell: str) -> str:
        text = cell.strip().replace(" ", "")
        point = self.decimal in ("auto", ".") and _POINT.fullmatch(text)
        comma = self.decimal in ("auto", ",") and _COMMA.fullmatch(text)
        if point:
            return text
        if comma:
            return text.replace(",", ".")
        expected = {
            "auto": "a decimal point or a decimal comma",
            ".": "a decimal point (--decimal .)",
            ",": "a decimal comma (--decimal ,)",
        }[self.decimal]
        raise CellError(f"'{cell.strip()}' is not a number with {expected}")


def _unwrap(annotation: Any) -> list[Any]:
    """The plain types an annotation may hold (Optional and Annotated taken apart)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _walk(model: type[BaseModel], prefix: str, out: dict[str, CellType]) -> None:
    for name, info in model.model_fields.items():
        path = f"{prefix}{name.casefold()}"
        for kind in _unwrap(info.annotation):
            if kind is bool:
                out[path] = "bool"
            elif kind is float:
                out[path] = "decimal"
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                _walk(kind, f"{path}.", out)


@cache
def typed_paths() -> dict[str, CellType]:
    """Folded dotted paths of every boolean and decimal field of customers and plants."""
    from tilsyn.contract.customers.schemas import CustomerIn  # noqa: PLC0415 - the wire models
    from tilsyn.contract.plants.schemas import PlantIn  # noqa: PLC0415

    out: dict[str, CellType] = {}
    _walk(CustomerIn, "", out)
    _walk(PlantIn, "", out)
    return out
