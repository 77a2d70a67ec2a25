"""HTTP edge for an instance's settings: audit rules and strict validation (admin keys only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from tilsyn.contract.answers import IssueOut
from tilsyn.core.edge import JsonObject, tolerant_body
from tilsyn.core.http import KEY_ERRORS, READ_ERRORS, WRITE_ERRORS, Db, problem
from tilsyn.instances.http import EnvironmentPath, actor_for, admin_context
from tilsyn.instances.service import KeyContext
from tilsyn.rules import service
from tilsyn.rules.schemas import (
    AuditRulesIn,
    AuditRulesOut,
    ValidationSettingsIn,
    ValidationSettingsOut,
)

METHODS = ("GET", "PUT")


class SettingsRoute(APIRoute):
    """Each settings path has a GET and a PUT route; Starlette's 405 would list only the
    first route's method in ``Allow``, so the answer lists both."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in METHODS:
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(METHODS)})
        await super().handle(scope, receive, send)


router = APIRouter(tags=["settings"], route_class=SettingsRoute)

Admin = Annotated[KeyContext, Depends(admin_context)]
AuditRulesBody = Annotated[JsonObject, tolerant_body(AuditRulesIn)]
ValidationBody = Annotated[JsonObject, tolerant_body(ValidationSettingsIn)]

_FORBIDDEN: dict[int | str, dict[str, Any]] = {403: problem("The API key is not admin-scoped")}
SETTINGS_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: READ_ERRORS[400],
    **KEY_ERRORS,
    **_FORBIDDEN,
}
SETTINGS_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**WRITE_ERRORS, **_FORBIDDEN}

RULES_PATH = "/api/settings/{environment}/audit-rules"
VALIDATION_PATH = "/api/settings/{environment}/validation"


class AuditRulesPutOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: AuditRulesOut


class ValidationPutOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: ValidationSettingsOut


@router.get(
    RULES_PATH,
    operation_id="getAuditRules",
    summary="Read the instance's audit rules (derivation of auditSpecificInfo)",
    response_model=AuditRulesOut,
    responses=SETTINGS_READ_ERRORS,
)
def get_audit_rules(environment: EnvironmentPath, ctx: Admin, db: Db) -> AuditRulesOut:
    with db.read() as session:
        return service.get_rules(session, ctx.instance_id)


@router.put(
    RULES_PATH,
    operation_id="putAuditRules",
    summary="Replace the instance's whole audit rule set",
    response_model=AuditRulesPutOut,
    responses=SETTINGS_WRITE_ERRORS,
)
def put_audit_rules(
    request: Request, environment: EnvironmentPath, ctx: Admin, body: AuditRulesBody, db: Db
) -> AuditRulesPutOut:
    """Every bad rule is reported at once (``rules[i].field``) and nothing is changed; a valid
    set replaces the old one atomically and shows in every plant's GET at once."""
    with db.write() as session:
        outcome = service.put_rules(session, actor_for(request, ctx), body)
    return AuditRulesPutOut(
        result=outcome.result, warnings=outcome.warnings_out(), data=outcome.data
    )


@router.get(
    VALIDATION_PATH,
    operation_id="getValidationSettings",
    summary="Read the instance's validation setting",
    response_model=ValidationSettingsOut,
    responses=SETTINGS_READ_ERRORS,
)
def get_validation(environment: EnvironmentPath, ctx: Admin, db: Db) -> ValidationSettingsOut:
    with db.read() as session:
        return service.get_validation(session, ctx.instance_id)


@router.put(
    VALIDATION_PATH,
    operation_id="putValidationSettings",
    summary="Turn strict validation on or off (plausibility warnings become 400 errors)",
    response_model=ValidationPutOut,
    responses=SETTINGS_WRITE_ERRORS,
)
def put_validation(
    request: Request, environment: EnvironmentPath, ctx: Admin, body: ValidationBody, db: Db
) -> ValidationPutOut:
    with db.write() as session:
        outcome = service.put_validation(session, actor_for(request, ctx), body)
    return ValidationPutOut(
        result=outcome.result, warnings=outcome.warnings_out(), data=outcome.data
    )
