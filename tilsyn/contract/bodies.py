"""Reading request bodies: strict JSON, case-insensitive property names, every problem named.

A body goes through three steps, each adding to one ``Issues`` collection:
1. ``parse_json`` — syntax (with line and column), nesting depth, the object at the top;
2. ``fold_keys`` — property names folded onto the schema's names at every level, unknown names
   kept aside as ``unknown_field`` warnings with the closest known name, two spellings of one
   field rejected, strings over the limit rejected;
3. ``validate`` — the pydantic wire model, whose errors are reported by canonical JSON path.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tilsyn.contract.errors import InvalidBody
from tilsyn.contract.problems import Issues, join_path
from tilsyn.contract.wire import MAX_STRING_LENGTH

MAX_DEPTH = 64
# JSON strings, brackets and commas in one body or bulk item: a real plant has a few hundred.
# The bound keeps a 10 MiB array of zeros from becoming millions of Python objects.
MAX_TOKENS = 100_000
# Property names in one object; unknown ones each cost a warning.
MAX_PROPERTIES = 1_000
# Warnings per body or item; past it one warning says how many more there were.
MAX_WARNINGS = 100
# One bulk item may be as large as a single request's body, and no larger.
MAX_ITEM_BYTES = 10 * 1024 * 1024
BODY = "The request body"
ITEM = "The item"
ModelT = TypeVar("ModelT", bound=BaseModel)


class _PairsDict(dict[str, Any]):
    """A JSON object that remembers names it saw more than once (json keeps the last)."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _PairsDict:
    obj = _PairsDict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return obj


class _ConstantError(ValueError):
    """NaN, Infinity and -Infinity: Python's json accepts them, JSON does not."""


def _reject_constant(name: str) -> Any:
    raise _ConstantError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object_pairs, parse_constant=_reject_constant)
# A whole string, an unterminated one (a lone quote), or a structural character. Possessive,
# so that no input makes the expression backtrack.
TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|"|[\[\]{},]', re.DOTALL)
_TEXT_TOKEN = re.compile(TOKEN.pattern.decode(), re.DOTALL)


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH, subject: str = BODY) -> Any:
    """Decode a body or a bulk item; syntax errors name their line and column.

    Every door reads JSON here (single bodies, NDJSON lines, JSON-array elements, files
    imported from the command line), so the limits and the messages are the same for all.
    """
    if isinstance(raw, bytes):
        if not raw.strip():
            raise InvalidBody(f"{subject} is empty; send a JSON object.")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidBody(f"{subject} is not UTF-8 (byte {exc.start}).") from None
    else:
        text = raw.removeprefix("\ufeff")
        if not text.strip():
            raise InvalidBody(f"{subject} is empty; send a JSON object.")
    _check_structure(text, max_depth, subject)
    try:
        data = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidBody(
            f"{subject} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except _ConstantError as exc:
        raise InvalidBody(f"{subject} is not valid JSON: {exc}.") from None
    except ValueError:
        # Python's limit on the digits of an integer; its message names interpreter internals.
        raise InvalidBody(f"{subject} has a number with too many digits.") from None
    except RecursionError:
        raise InvalidBody(f"JSON is nested deeper than {max_depth} levels.") from None
    if _UNSTORABLE_ESCAPE.search(text):
        check_text_values(data, subject)
    return data


# A \uD800–\uDFFF or \u0000 escape: json decodes a lone surrogate into a str that cannot be
# encoded as UTF-8, and a NUL that PostgreSQL cannot hold; neither could be stored or read.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")
_SURROGATE = "has an unpaired UTF-16 surrogate (a lone \\uD800-\\uDFFF escape); it cannot be stored"
_BAD_NAME = "has a property name with a NUL character or an unpaired UTF-16 surrogate"


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text_values(value: Any, subject: str = BODY) -> None:
    """Reject every string and property name that no database or answer could hold, each
    named by its path (a bad name by the path of its object: it cannot be echoed)."""
    issues = Issues()
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                issues.error(path, "string_nul", "must not contain the NUL character")
            elif not _storable(item):
                issues.error(path, "string_surrogate", _SURROGATE)
        elif isinstance(item, dict):
            for name, sub in item.items():
                if _storable(name):
                    stack.append((sub, join_path(path, name)))
                else:
                    issues.error(path, "name_unstorable", _BAD_NAME)
        elif isinstance(item, list):
            stack.extend((sub, join_path(path, i)) for i, sub in enumerate(item))
    if issues.errors:
        issues.errors.sort(key=lambda issue: issue.field)
        raise InvalidBody(
            f"{subject} has text that cannot be stored (an unpaired UTF-16 surrogate or a NUL "
            "character); see errors.",
            errors=issues.errors,
        )


def _check_structure(text: str, max_depth: int, subject: str) -> None:
    """Reject deep nesting and too many values before the recursive decoder sees them; one
    pass of a regular expression, so a large body costs little to refuse.

    Skipped where no limit can be reached: a text of at most ``MAX_TOKENS`` characters holds
    no more tokens, and one with at most ``max_depth`` opening brackets nests no deeper (most
    bodies and every ordinary bulk item: two counts in C instead of a pass in Python)."""
    if len(text) <= MAX_TOKENS and text.count("{") + text.count("[") <= max_depth:
        return
    depth = 0
    for tokens, match in enumerate(_TEXT_TOKEN.finditer(text), start=1):
        if tokens > MAX_TOKENS:
            raise InvalidBody(
                f"{subject} has more than {MAX_TOKENS} JSON strings, brackets and commas."
            )
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise InvalidBody(f"JSON is nested deeper than {max_depth} levels.")
        elif char in "]}":
            depth -= 1
        elif char == '"' and match.end() - match.start() == 1:
            return  # an unterminated string: the decoder names where


def parse_item(raw: bytes | str) -> dict[str, Any]:
    """One bulk item (an NDJSON line, an array element, a row of a file): the same reader,
    limits and messages as a single request's body."""
    if len(raw) > MAX_ITEM_BYTES:
        raise InvalidBody(f"{ITEM} is larger than {MAX_ITEM_BYTES} bytes.")
    data = parse_json(raw, subject=ITEM)
    if not isinstance(data, dict):
        raise InvalidBody(f"{ITEM} must be a JSON object.")
    return data


def check_item(value: Any) -> dict[str, Any]:
    """An item decoded elsewhere (a CSV row, a file read by the client): the checks
    :func:`parse_json` makes after decoding."""
    if not isinstance(value, dict):
        raise InvalidBody(f"{ITEM} must be a JSON object.")
    check_text_values(value, ITEM)
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    return data


@dataclass(frozen=True)
class Shape:
    """The property names of one wire model, folded, with the shapes of nested models."""

    names: dict[str, str]
    nested: dict[str, Shape]
    canonical: tuple[str, ...]
    exact: dict[str, str]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
        return None
    if origin is typing.Annotated:
        return _model_of(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


@cache
def shape_of(model: type[BaseModel]) -> Shape:
    names: dict[str, str] = {}
    nested: dict[str, Shape] = {}
    for name, info in model.model_fields.items():
        wire_name = info.alias or name
        names[wire_name.casefold()] = wire_name
        sub = _model_of(info.annotation)
        if sub is not None:
            nested[wire_name] = shape_of(sub)
    canonical = tuple(names.values())
    return Shape(names=names, nested=nested, canonical=canonical, exact={n: n for n in canonical})


def _closest(name: str, shape: Shape) -> str | None:
    folded = {c.casefold(): c for c in shape.canonical}
    match = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def fold_keys(value: Any, shape: Shape, path: str, issues: Issues) -> Any:
    """Return ``value`` with its property names spelled as the schema spells them."""
    if not isinstance(value, dict):
        return value
    if len(value) > MAX_PROPERTIES:
        issues.error(path, "too_many_properties", f"has more than {MAX_PROPERTIES} properties")
        return {}
    for name in getattr(value, "duplicates", ()):
        issues.error(join_path(path, name), "duplicate_field", "is given more than once")
    out: dict[str, Any] = {}
    sent_as: dict[str, str] = {}
    exact = shape.exact
    for key, item in value.items():
        # Most clients spell names as the seed does: an exact look-up before case folding.
        canonical = exact.get(key) or shape.names.get(key.casefold())
        if canonical is None:
            _unknown(key, shape, path, issues)
            _check_strings(item, join_path(path, key), issues)
            continue
        if canonical in sent_as:
            issues.error(
                join_path(path, canonical),
                "duplicate_field",
                f"is given twice, as '{sent_as[canonical]}' and '{key}'",
            )
            continue
        sent_as[canonical] = key
        sub = shape.nested.get(canonical)
        if sub is not None and isinstance(item, dict):
            out[canonical] = fold_keys(item, sub, join_path(path, canonical), issues)
            continue
        if isinstance(item, dict | list) or (
            isinstance(item, str) and len(item) > MAX_STRING_LENGTH
        ):
            _check_strings(item, join_path(path, canonical), issues)
        out[canonical] = item
    return out


def _unknown(key: str, shape: Shape, path: str, issues: Issues) -> None:
    """A warning per unknown name, up to :data:`MAX_WARNINGS`; then one that says so."""
    issues.unknown += 1
    if issues.unknown > MAX_WARNINGS:
        if issues.unknown == MAX_WARNINGS + 1:
            issues.warn(
                path,
                "unknown_field",
                f"has more unknown fields than the {MAX_WARNINGS} listed; all were ignored",
                plausibility=False,
            )
        return
    hint = _closest(key, shape)
    message = "is not a known field and was ignored"
    if hint:
        message += f"; did you mean '{hint}'?"
    issues.warn(join_path(path, key), "unknown_field", message, plausibility=False)


def _check_strings(value: Any, path: str, issues: Issues) -> None:
    """Over-long strings are rejected wherever they are, ignored fields included."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, item_path = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_STRING_LENGTH:
                issues.error(
                    item_path, "string_too_long", f"is longer than {MAX_STRING_LENGTH} characters"
                )
        elif isinstance(item, dict):
            stack.extend((v, join_path(item_path, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, join_path(item_path, i)) for i, v in enumerate(item))


_MESSAGES = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "greater_than_equal": "is below the allowed minimum",
    "less_than_equal": "is above the allowed maximum",
}


def validate(
    model: type[ModelT], data: dict[str, Any], issues: Issues, path: str = ""
) -> ModelT | None:
    """Validate folded data; each error is reported at its canonical path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            loc = path
            for part in err["loc"]:
                loc = join_path(loc, part)
            code = err["type"]
            if code == "too_long":
                # A max_length on a coerced text type is checked generically: same problem.
                code = "string_too_long"
            message = _MESSAGES.get(code) or err["msg"]
            if code == "string_too_long" and err.get("ctx"):
                message = f"is longer than {err['ctx']['max_length']} characters"
            if code in {"greater_than_equal", "less_than_equal"} and err.get("ctx"):
                limit = next(iter(err["ctx"].values()))
                message = (
                    f"must be {'at least' if code == 'greater_than_equal' else 'at most'} {limit}"
                )
            issues.error(loc, code, message)
        return None


def read_model(model: type[ModelT], data: dict[str, Any], issues: Issues) -> ModelT | None:
    folded = fold_keys(data, shape_of(model), "", issues)
    return validate(model, folded, issues)
