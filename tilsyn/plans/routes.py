"""HTTP edge for the yearly plan and the year in figures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from tilsyn.contract.bodies import parse_json
from tilsyn.core.edge import DocumentedBody, documented
from tilsyn.core.http import READ_ERRORS, WRITE_ERRORS, Db, problem, read_body
from tilsyn.inspections import service as inspections
from tilsyn.inspections.routes import methods_route
from tilsyn.inspections.schemas import PlanIn, PlanOut, ReportOut
from tilsyn.instances.http import Env, EnvironmentPath, actor_for, admin_context
from tilsyn.instances.service import KeyContext
from tilsyn.plans import service

router = APIRouter(tags=["plans"])
# Tagged "plans" by the router it is included in.
plan_router = APIRouter(route_class=methods_route("GET", "POST"))

Admin = Annotated[KeyContext, Depends(admin_context)]
Year = Annotated[int, Path(ge=1900, le=2200, description="The plan's calendar year")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORBIDDEN: dict[int | str, dict[str, Any]] = {403: problem("The API key is not admin-scoped")}


@plan_router.post(
    "/api/plan/{environment}/{year}",
    operation_id="buildPlan",
    summary="Build the year's inspection plan (a new version), with capacity per area",
    response_model=PlanOut,
    responses={**WRITE_ERRORS, **_FORBIDDEN},
    # Read by the route: an empty body is no capacity, not an error.
    dependencies=[documented(DocumentedBody(PlanIn, required=False))],
)
async def build_plan(
    request: Request, environment: EnvironmentPath, year: Year, ctx: Admin, db: Db
) -> PlanOut:
    """Every plant due by 31 December; beyond an area's capacity the least urgent are
    deferred; plants without an interval are listed under ``unplanned``."""
    raw = await read_body(request)
    capacity = service.parse_capacity(parse_json(raw) if raw.strip() else None)
    actor = actor_for(request, ctx)

    def build() -> PlanOut:
        with db.write() as session:
            return service.build_plan(session, actor, year, capacity=capacity)

    return await run_in_threadpool(build)


@plan_router.get(
    "/api/plan/{environment}/{year}",
    operation_id="getPlan",
    summary="The year's latest plan with progress; ?format=csv or xlsx for the whole plan",
    response_model=PlanOut,
    responses={
        **READ_ERRORS,
        200: {
            "description": "The plan (JSON), or all of it as CSV or xlsx",
            "content": {"text/csv": {}, XLSX: {}},
        },
    },
)
def get_plan(
    environment: EnvironmentPath,
    year: Year,
    *,
    ctx: Env,
    db: Db,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 1000,
    after: Annotated[int | None, Query(ge=-1, le=2**31)] = None,
) -> PlanOut | Response:
    if format == "csv":
        with db.read() as session:
            service.check_plan(session, ctx.instance_id, year)

        def stream() -> Iterator[str]:
            with db.read() as session:
                yield from service.plan_csv(session, ctx.instance_id, year)

        return StreamingResponse(
            stream(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="plan-{year}.csv"'},
        )
    with db.read() as session:
        if format == "xlsx":
            return Response(
                service.plan_xlsx(session, ctx.instance_id, year),
                media_type=XLSX,
                headers={"Content-Disposition": f'attachment; filename="plan-{year}.xlsx"'},
            )
        return service.latest_plan(session, ctx.instance_id, year, limit=limit, after=after)


@router.get(
    "/api/report/{environment}/{year}",
    operation_id="getYearReport",
    summary="The year in figures, for the DLE's yearly report to DSB",
    response_model=ReportOut,
    responses=READ_ERRORS,
)
def year_report(environment: EnvironmentPath, year: Year, ctx: Env, db: Db) -> ReportOut:
    with db.read() as session:
        return inspections.year_report(session, ctx.instance_id, year)


router.include_router(plan_router)
