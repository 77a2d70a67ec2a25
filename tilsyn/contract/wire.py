"""Scalar types of the import API, with the coercions SPEC §3 and §10 allow and no others.

Pydantic's lax mode is close but not exact (it would turn ``true`` into ``1`` and refuse
``"plantId": 123456``), so each type validates its input itself and the messages never
echo the value, which may be a personal number.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_STRING_LENGTH = 10_000
_INT_RE = re.compile(r"^[+-]?\d+$")
_DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _missing_if_none(value: Any) -> None:
    if value is None:
        raise PydanticCustomError("missing", "is required")


def _check_range(number: int) -> int:
    if abs(number) > MAX_SAFE_INTEGER:
        raise PydanticCustomError("int_range", "is outside the supported integer range")
    return number


def to_int(value: Any) -> Any:
    """Integers, integral floats (23.0) and strings of digits ("23"); never booleans."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "must be an integer, not a boolean")
    if isinstance(value, int):
        return _check_range(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return _check_range(int(value))
        raise PydanticCustomError("int_type", "must be a whole number")
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return _check_range(int(value.strip()))
    raise PydanticCustomError("int_type", "must be an integer")


def to_float(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "must be a number, not a boolean")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise PydanticCustomError("float_type", "must be a finite number") from None
    elif isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        number = float(value.strip())
    else:
        raise PydanticCustomError("float_type", "must be a number")
    if not math.isfinite(number):
        raise PydanticCustomError("float_type", "must be a finite number")
    return number


def check_text(value: str) -> str:
    if len(value) > MAX_STRING_LENGTH:
        raise PydanticCustomError(
            "string_too_long", f"is longer than {MAX_STRING_LENGTH} characters"
        )
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "must not contain the NUL character")
    return value


def to_str(value: Any) -> Any:
    """Strings as sent; numbers become their decimal text ("plantId": 123456)."""
    if value is None:
        return None
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, bool):
        raise PydanticCustomError("string_type", "must be a string, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        if value.is_integer() and abs(value) > MAX_SAFE_INTEGER:
            # 707057500026392739.0 decodes to ...704: a float this large has lost digits.
            raise PydanticCustomError(
                "string_type", "is a number too large to be exact; send it as a string"
            )
        return str(int(value)) if value.is_integer() else repr(value)
    raise PydanticCustomError("string_type", "must be a string")


def to_bool(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise PydanticCustomError("bool_type", "must be true or false")


def to_date(value: Any) -> Any:
    """ISO dates; a date-time is cut to its date."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("date_type", "must be a date in the form YYYY-MM-DD")
    text = value.strip()
    match = _DATE_RE.match(text)
    # Only YYYY-MM-DD, optionally with a time: fromisoformat alone would also take 19890101
    # or a week date, and call 01.01.1989 an impossible date rather than a wrong form.
    if match is None or (len(text) > 10 and text[10] not in "T "):
        raise PydanticCustomError("date_type", "must be a date in the form YYYY-MM-DD")
    try:
        day = date(*(int(part) for part in match.groups()))
    except ValueError:
        raise PydanticCustomError("date_invalid", "is not a real calendar date") from None
    if len(text) > 10:
        try:
            datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise PydanticCustomError(
                "date_type", "must be a date in the form YYYY-MM-DD, or a date-time"
            ) from None
    return day


def to_postal_code(value: Any) -> Any:
    """Postal codes are text; a number loses its leading zero, so 485 becomes "0485"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:04d}" if 0 <= value <= 9999 else str(value)
    if isinstance(value, float):
        raise PydanticCustomError("string_type", 'must be a string of digits, such as "0150"')
    return to_str(value)


def to_metering_point_id(value: Any) -> Any:
    text = to_str(value)
    if text is None:
        _missing_if_none(text)
    compact = text.replace(" ", "")
    if not (len(compact) == 18 and compact.isascii() and compact.isdigit()):
        raise PydanticCustomError("metering_point_id_format", "must be exactly 18 digits")
    return compact


def to_consumption_code(value: Any) -> Any:
    text = to_str(value)
    if text is None:
        _missing_if_none(text)
    text = text.strip().lower()
    if not text:
        raise PydanticCustomError("missing", "is required")
    return text


def required(value: Any) -> Any:
    _missing_if_none(value)
    return value


def _integral_key(value: Any) -> Any:
    """A key may arrive as an integer, never as a fraction or a boolean."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise PydanticCustomError("string_type", "must be a string or an integer")
    return value


def _no_control_characters(value: Any) -> Any:
    """Keys end up in URLs and logs: no control characters, no slash, a sane length."""
    if isinstance(value, str):
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or "/" in value:
            raise PydanticCustomError(
                "key_characters", "must not contain control characters or '/'"
            )
        if len(value) > 200:
            raise PydanticCustomError("string_too_long", "is longer than 200 characters")
    return value


def _non_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("missing", "must not be empty")
    return value


# The documented schemas say what is accepted, coercions included, so that generated
# clients and fuzzers see the real contract.
_INT_SCHEMA = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\s*[+-]?\d+\s*$"}]}
_FLOAT_SCHEMA = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _FLOAT_RE.pattern}]}


def _bounded_float(limit: int, description: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "number", "minimum": -limit, "maximum": limit},
            {"type": "string", "pattern": _FLOAT_RE.pattern},
        ],
        "description": f"{description}, -{limit}..{limit}",
    }


_TEXT_SCHEMA = {"anyOf": [{"type": "string", "maxLength": MAX_STRING_LENGTH}, {"type": "number"}]}
_DATE_SCHEMA = {
    "type": "string",
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
    "description": "YYYY-MM-DD; a date-time is cut to its date",
}

Int = Annotated[int, BeforeValidator(to_int), WithJsonSchema(_INT_SCHEMA)]
Float = Annotated[float, BeforeValidator(to_float), WithJsonSchema(_FLOAT_SCHEMA)]
Text = Annotated[str, BeforeValidator(to_str), WithJsonSchema(_TEXT_SCHEMA)]
Bool = Annotated[
    bool,
    BeforeValidator(to_bool),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}]}),
]
Date = Annotated[date, BeforeValidator(to_date), WithJsonSchema(_DATE_SCHEMA)]
PostalCode = Annotated[
    str,
    BeforeValidator(to_postal_code),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_STRING_LENGTH},
                {"type": "integer", "description": "zero-padded to 4 digits"},
            ]
        }
    ),
]
MeteringPointId = Annotated[
    str,
    BeforeValidator(to_metering_point_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9 ]*$"},
                {"type": "integer", "minimum": 10**17, "maximum": 10**18 - 1},
            ],
            "description": "GS1 GSRN metering point id, 18 digits",
            "examples": ["707057500026392739"],
        }
    ),
]
ConsumptionCode = Annotated[
    str,
    BeforeValidator(to_consumption_code),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string", "minLength": 1, "maxLength": 20}],
            "description": "Elhub forbrukskode: 1, 1a, 2–29, 29a, 30–36",
        }
    ),
]
# BeforeValidators run last-first: blank check after the string coercion, required check first.
RequiredText = Annotated[
    str,
    BeforeValidator(_non_blank),
    BeforeValidator(to_str),
    BeforeValidator(required),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_STRING_LENGTH},
                {"type": "number"},
            ]
        }
    ),
]
Key = Annotated[
    str,
    BeforeValidator(_no_control_characters),
    BeforeValidator(_non_blank),
    BeforeValidator(to_str),
    BeforeValidator(_integral_key),
    BeforeValidator(required),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "pattern": r"^[^\x00-\x1f\x7f/]*$",
                },
                {"type": "integer"},
            ]
        }
    ),
]
RequiredInt = Annotated[int, BeforeValidator(to_int), BeforeValidator(required)]
Latitude = Annotated[
    float,
    BeforeValidator(to_float),
    Field(ge=-90, le=90),
    WithJsonSchema(_bounded_float(90, "WGS84 latitude")),
]
Longitude = Annotated[
    float,
    BeforeValidator(to_float),
    Field(ge=-180, le=180),
    WithJsonSchema(_bounded_float(180, "WGS84 longitude")),
]
