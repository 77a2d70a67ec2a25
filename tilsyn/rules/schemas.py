"""The wire format of audit rules and of the validation setting (camelCase, like the plant)."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from tilsyn.contract.wire import MAX_SAFE_INTEGER, Bool, Int, check_text, to_str

MAX_RULE_ID = 64
MAX_PLANT_TYPE = 200
MAX_CONSUMPTION_CODE = 20
INT32_MAX = 2**31 - 1
ANY = "*"
"""Written for a consumption code or prefix, means "any", like null (handy in spreadsheets)."""

# No '.': history names a rule's fields by dotted paths (rules[<id>].plantType).
RULE_ID_PATTERN = r"^[\w-]{1,64}$"
_RULE_ID = re.compile(RULE_ID_PATTERN)
PREFIX_PATTERN = r"^[0-9]{2}(\.[0-9]{1,3})?$"
_PREFIX = re.compile(PREFIX_PATTERN)


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and (not value.strip() or value.strip() == ANY):
        return None
    return value


def to_rule_id(value: Any) -> str:
    if value is None:
        raise PydanticCustomError("missing", "is required")
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise PydanticCustomError("string_type", "must be a string")
    text = str(to_str(value)).strip()
    if not text:
        raise PydanticCustomError("missing", "must not be empty")
    if not _RULE_ID.fullmatch(text):
        raise PydanticCustomError(
            "rule_id",
            f"must be 1–{MAX_RULE_ID} letters, digits, '_' or '-'",
        )
    return text


def to_rule_consumption_code(value: Any) -> str | None:
    """Normalised like a plant's code ("1A" is "1a"); blank, "*" or null mean any."""
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise PydanticCustomError("string_type", "must be a consumption code such as 35 or 1a")
    text = to_str(value).strip().lower()
    if len(text) > MAX_CONSUMPTION_CODE:
        raise PydanticCustomError(
            "string_too_long", f"is longer than {MAX_CONSUMPTION_CODE} characters"
        )
    return str(text)


def to_prefix(value: Any) -> str | None:
    """A næringskode prefix ending at an SN2007 level: 55, 55.1, 55.10 or 55.102."""
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise PydanticCustomError("string_type", "must be text, not a boolean")
    if isinstance(value, float):
        # JSON 55.10 and YAML 55.10 both arrive as the number 55.1: a different level.
        raise PydanticCustomError(
            "prefix_type",
            "must be text: as a number it loses trailing zeros (55.10 reads as 55.1); quote it",
        )
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise PydanticCustomError("naeringskode_prefix", "is not a næringskode prefix")
        value = str(value)
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be text such as 55 or 55.10")
    text = check_text(value).strip()
    if not _PREFIX.fullmatch(text):
        if re.fullmatch(r"[0-9]", text):
            message = "a single digit is not an SN2007 level; use the two-digit næring (such as 55)"
        else:
            message = "must end at an SN2007 level: 55, 55.1, 55.10 or 55.102"
        raise PydanticCustomError("naeringskode_prefix", message)
    return text


def to_plant_type(value: Any) -> str | None:
    value = _blank_to_none(to_str(value))
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > MAX_PLANT_TYPE:
        raise PydanticCustomError("string_too_long", f"is longer than {MAX_PLANT_TYPE} characters")
    return text


def to_description(value: Any) -> str | None:
    value = _blank_to_none(to_str(value))
    return None if value is None else str(value).strip()


_CODE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_CONSUMPTION_CODE},
        {"type": "integer"},
        {"type": "null"},
    ],
    "description": "Elhub forbrukskode (1, 1a, 2–29, 29a, 30–36); null or '*' means any",
    "examples": ["35"],
}
_PREFIX_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": PREFIX_PATTERN}, {"type": "null"}],
    "description": (
        "Næringskode (SN2007) prefix ending at a level: 55, 55.1, 55.10 or 55.102; "
        "null or '*' means any"
    ),
    "examples": ["55"],
}

RuleId = Annotated[
    str,
    BeforeValidator(to_rule_id),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": RULE_ID_PATTERN}, {"type": "integer"}],
            "description": "Unique within the instance; GET shows it as 'rule:<id>'",
        }
    ),
]
RuleConsumptionCode = Annotated[
    str | None, BeforeValidator(to_rule_consumption_code), WithJsonSchema(_CODE_SCHEMA)
]
Prefix = Annotated[str | None, BeforeValidator(to_prefix), WithJsonSchema(_PREFIX_SCHEMA)]
PlantType = Annotated[
    str | None,
    BeforeValidator(to_plant_type),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": MAX_PLANT_TYPE}, {"type": "null"}]}),
]
Description = Annotated[
    str | None,
    BeforeValidator(to_description),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 10_000}, {"type": "null"}]}),
]

RULES_EXAMPLE: dict[str, Any] = {
    "rules": [
        {
            "id": "husholdning",
            "consumptionCode": "35",
            "naeringskodePrefix": None,
            "plantType": "Bolighus/leiligheter",
            "riskCategoryGroup": 3,
            "inspectionRate": 20,
            "description": "Households: about every 20 years",
        },
        {
            "id": "overnatting",
            "naeringskodePrefix": "55",
            "plantType": "Overnattingsvirksomhet",
            "inspectionRate": 5,
        },
        {"id": "naering", "plantType": "Virksomhet", "inspectionRate": 10},
    ]
}


class AuditRuleIn(BaseModel):
    """One rule: where it applies (code and prefix, either may be any) and what it gives."""

    model_config = ConfigDict(extra="ignore")

    id: RuleId
    consumptionCode: RuleConsumptionCode = None
    naeringskodePrefix: Prefix = None
    plantType: PlantType = None
    inspectionArea: Int | None = Field(None, ge=0, le=INT32_MAX)
    riskCategoryGroup: Int | None = Field(None, ge=0, le=INT32_MAX)
    inspectionRate: Int | None = Field(None, ge=1, le=100, description="Interval in years")
    description: Description = None


class AuditRulesIn(BaseModel):
    """The whole rule set of an instance; a PUT replaces it atomically."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [RULES_EXAMPLE]})

    rules: list[AuditRuleIn] = Field(max_length=100_000)


class AuditRuleOut(BaseModel):
    id: str
    consumptionCode: int | str | None
    naeringskodePrefix: str | None
    plantType: str | None
    inspectionArea: int | None
    riskCategoryGroup: int | None
    inspectionRate: int | None
    description: str | None


class AuditRulesOut(BaseModel):
    rules: list[AuditRuleOut]


RULE_FIELDS: tuple[str, ...] = tuple(AuditRuleOut.model_fields)
"""The wire names of a rule's fields, in order: also the columns of a CSV file."""


class ValidationSettingsIn(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"strictValidation": True}]}
    )

    strictValidation: Bool = Field(
        description="Plausibility warnings become 400 errors (structural errors always are)"
    )


class ValidationSettingsOut(BaseModel):
    strictValidation: bool


__all__ = [
    "RULE_FIELDS",
    "AuditRuleIn",
    "AuditRuleOut",
    "AuditRulesIn",
    "AuditRulesOut",
    "ValidationSettingsIn",
    "ValidationSettingsOut",
]
