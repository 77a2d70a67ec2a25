"""HTTP edge for inspections, findings and inspection status: parse, call one service, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from tilsyn.contract.answers import issues_out
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.edge import JsonObject, tolerant_body
from tilsyn.core.http import READ_ERRORS, WRITE_ERRORS, Db, PageAfter, problem
from tilsyn.inspections import service
from tilsyn.inspections.parse import parse_finding_move, parse_valid_inspection
from tilsyn.inspections.schemas import (
    FindingListOut,
    FindingMoveOut,
    FindingStatusIn,
    InspectionIn,
    InspectionListOut,
    InspectionOut,
    InspectionSettingsIn,
    InspectionSettingsOut,
    InspectionSettingsPutOut,
    InspectionStatusOut,
    InspectionUpsertOut,
)
from tilsyn.instances.http import Env, EnvironmentPath, KeyPath, actor_for, admin_context
from tilsyn.instances.service import KeyContext


def methods_route(*methods: str) -> type[APIRoute]:
    """A route class whose 405 lists every method of its path: Starlette's would list only
    the first route's, though the path has more."""

    class MethodsRoute(APIRoute):
        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] not in methods:
                raise HTTPException(status_code=405, headers={"Allow": ", ".join(methods)})
            await super().handle(scope, receive, send)

    return MethodsRoute


# The APIs router: the inspection routes (tagged "inspections") and the settings ones.
router = APIRouter()
inspection_router = APIRouter(tags=["inspections"])
settings_router = APIRouter(tags=["settings"], route_class=methods_route("GET", "PUT"))

Admin = Annotated[KeyContext, Depends(admin_context)]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The id tilsyn gave it")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: READ_ERRORS[404]}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem("The finding cannot move from its current status to that one")
}
_FORBIDDEN: dict[int | str, dict[str, Any]] = {403: problem("The API key is not admin-scoped")}
SETTINGS_PATH = "/api/settings/{environment}/inspections"
# A metering point id in the path; one holding NUL is answered as an unknown plant.
PlantKey = Annotated[str, Depends(KeyPath("meteringPointId", service.plant_not_found))]
InspectionBody = Annotated[JsonObject, tolerant_body(InspectionIn)]
FindingStatusBody = Annotated[JsonObject, tolerant_body(FindingStatusIn)]
InspectionSettingsBody = Annotated[JsonObject, tolerant_body(InspectionSettingsIn)]


@inspection_router.post(
    "/api/inspection/{environment}",
    operation_id="upsertInspection",
    summary="Record an inspection with its findings; upserted by externalId when sent",
    response_model=InspectionUpsertOut,
    responses={**WRITE_ERRORS, **_NOT_FOUND},
)
def upsert_inspection(
    request: Request, environment: EnvironmentPath, ctx: Env, body: InspectionBody, db: Db
) -> InspectionUpsertOut:
    """A nonconformity without a deadline gets the date plus the instance's
    findingDeadlineDays; an unknown meteringPointId answers 404."""
    change = parse_valid_inspection(body, today=today_in_oslo())
    with db.write() as session:
        outcome = service.record_inspection(
            session, ctx.instance_id, change, actor=actor_for(request, ctx)
        )
    return InspectionUpsertOut(
        result=outcome.result, warnings=issues_out(outcome.warnings), data=outcome.data
    )


@inspection_router.get(
    "/api/inspection/{environment}/{id}",
    operation_id="getInspection",
    summary="Read an inspection with its findings",
    response_model=InspectionOut,
    responses=READ_ERRORS,
)
def get_inspection(environment: EnvironmentPath, id: EntityId, ctx: Env, db: Db) -> InspectionOut:
    with db.read() as session:
        return service.get_inspection(session, ctx.instance_id, id)


@inspection_router.get(
    "/api/plant/{environment}/{meteringPointId}/inspections",
    operation_id="listPlantInspections",
    summary="A plant's inspections, newest first",
    response_model=InspectionListOut,
    responses=READ_ERRORS,
)
def plant_inspections(
    environment: EnvironmentPath, meteringPointId: PlantKey, ctx: Env, db: Db
) -> InspectionListOut:
    with db.read() as session:
        return service.list_inspections(session, ctx.instance_id, meteringPointId)


@inspection_router.get(
    "/api/plant/{environment}/{meteringPointId}/inspection-status",
    operation_id="getInspectionStatus",
    summary="When the plant is due for inspection, and why",
    response_model=InspectionStatusOut,
    responses=READ_ERRORS,
)
def inspection_status(
    environment: EnvironmentPath, meteringPointId: PlantKey, ctx: Env, db: Db
) -> InspectionStatusOut:
    with db.read() as session:
        return service.inspection_status(
            session, ctx.instance_id, meteringPointId, today=today_in_oslo()
        )


@inspection_router.post(
    "/api/finding/{environment}/{id}/status",
    operation_id="moveFinding",
    summary="Move a finding one step along its case (notified, ordered, corrected, closed...)",
    response_model=FindingMoveOut,
    responses={**WRITE_ERRORS, **_NOT_FOUND, **_CONFLICT},
)
def move_finding(
    request: Request,
    environment: EnvironmentPath,
    id: EntityId,
    *,
    ctx: Env,
    body: FindingStatusBody,
    db: Db,
) -> FindingMoveOut:
    """A step not in the case chain answers 409 naming the finding's current status."""
    today = today_in_oslo()
    step = parse_finding_move(body, today=today)
    with db.write() as session:
        outcome = service.move_finding(
            session,
            ctx.instance_id,
            id,
            step,
            actor=actor_for(request, ctx),
            today=today,
        )
    return FindingMoveOut(
        result=outcome.result, warnings=issues_out(outcome.warnings), data=outcome.data
    )


def finding_query(
    status: Annotated[str | None, Query(max_length=20, description="Only this status")] = None,
    overdue: Annotated[
        bool, Query(description="Only unclosed findings whose deadline has passed")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=service.MAX_FINDINGS_PAGE)] = 100,
    after: PageAfter = None,
) -> service.FindingQuery:
    """The findings listing's query parameters, read together."""
    return service.FindingQuery(status=status, overdue=overdue, limit=limit, after=after)


@inspection_router.get(
    "/api/finding/{environment}",
    operation_id="listFindings",
    summary="List findings, with their plant, deadline and status (keyset pages)",
    response_model=FindingListOut,
    responses=READ_ERRORS,
)
def list_findings(
    environment: EnvironmentPath,
    *,
    ctx: Env,
    db: Db,
    query: Annotated[service.FindingQuery, Depends(finding_query)],
) -> FindingListOut:
    with db.read() as session:
        items, next_after = service.list_findings(
            session,
            ctx.instance_id,
            today=today_in_oslo(),
            query=query,
        )
    return FindingListOut(items=items, next=next_after)


@settings_router.get(
    SETTINGS_PATH,
    operation_id="getInspectionSettings",
    summary="Read the instance's inspection settings",
    response_model=InspectionSettingsOut,
    responses={400: READ_ERRORS[400], 401: READ_ERRORS[401], 429: READ_ERRORS[429], **_FORBIDDEN},
)
def read_settings(environment: EnvironmentPath, ctx: Admin, db: Db) -> InspectionSettingsOut:
    with db.read() as session:
        return service.get_inspection_settings(session, ctx.instance_id)


@settings_router.put(
    SETTINGS_PATH,
    operation_id="putInspectionSettings",
    summary="Change findingDeadlineDays and newInstallationYears",
    response_model=InspectionSettingsPutOut,
    responses={**WRITE_ERRORS, **_FORBIDDEN},
)
def change_settings(
    request: Request, environment: EnvironmentPath, ctx: Admin, body: InspectionSettingsBody, db: Db
) -> InspectionSettingsPutOut:
    """A setting left out keeps its value; each change is in history."""
    with db.write() as session:
        outcome = service.put_inspection_settings(session, actor_for(request, ctx), body)
    return InspectionSettingsPutOut(
        result=outcome.result, warnings=issues_out(outcome.warnings), data=outcome.data
    )


router.include_router(inspection_router)
router.include_router(settings_router)
