"""HTTP edge for plants: parse, call one service, shape the answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from tilsyn.contract.answers import DeletedOut, IssueOut
from tilsyn.contract.plants.parse import (
    BuiltByChange,
    PlantChange,
    parse_built_by,
    parse_valid_plant,
)
from tilsyn.contract.plants.schemas import (
    BuiltByIn,
    PlantIn,
    PlantLookupIn,
    PlantLookupOut,
    PlantOut,
)
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.db import Database
from tilsyn.core.edge import JsonObject, Today, model_body, tolerant_body
from tilsyn.core.http import READ_ERRORS, WRITE_ERRORS, Db, PageAfter, Writer
from tilsyn.core.observability import observe_outcome
from tilsyn.history.routes import AS_OF_ERRORS, AsOf, Before, Limit, as_of_day
from tilsyn.history.schemas import PlantHistoryOut
from tilsyn.instances.http import (
    AnyEnvKey,
    Env,
    EnvironmentPath,
    KeyPath,
    actor_for,
    not_found,
)
from tilsyn.plants import history, service
from tilsyn.plants.views import PlantKeysOut

router = APIRouter(tags=["plants"])
history_router = APIRouter(tags=["history"])
"""The plant's history page: with the other history pages in the API's documentation."""

# A metering point id in the path; one holding NUL is answered as an unknown one.
PlantKey = Annotated[
    str,
    Depends(
        KeyPath(
            "meteringPointId", not_found("No plant with that meteringPointId in this instance.")
        )
    ),
]
PlantBody = Annotated[JsonObject, tolerant_body(PlantIn)]
BuiltByBody = Annotated[JsonObject, tolerant_body(BuiltByIn)]


async def plant_change(body: PlantBody, ctx: Env, today: Today) -> PlantChange:
    """The body as the domain's typed change under the instance's policy (warnings included);
    InvalidBody, a 422 naming the fields, when it cannot be stored. Async, and before the
    write transaction: it holds SQLite's one write lock."""
    return parse_valid_plant(
        body, today=today, strict=ctx.strict_validation, synthetic_ok=ctx.environment == "test"
    )


async def built_by_change(body: BuiltByBody, ctx: Env, today: Today) -> BuiltByChange:
    """A builder registration as the domain's typed change, under the instance's policy."""
    return parse_built_by(
        body, today=today, strict=ctx.strict_validation, synthetic_ok=ctx.environment == "test"
    )


ParsedPlant = Annotated[PlantChange, Depends(plant_change)]
ParsedBuiltBy = Annotated[BuiltByChange, Depends(built_by_change)]
ParsedLookup = Annotated[
    PlantLookupIn, model_body(PlantLookupIn, "The lookup was not read; see errors.")
]


# The hot routes (GET by key, the upsert) are async and run their database work with
# run_in_threadpool: FastAPI checks a sync route's returned model in the thread pool, a second
# hop per request (about 0.3 ms of server CPU in bench/get_floor.py); an async route's in the
# loop, where the check of a model the view built is only an isinstance.


class PlantUpsertOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: PlantOut


@router.post(
    "/api/import/{environment}/plant",
    operation_id="upsertPlant",
    summary="Create or update a plant with its grid hierarchy, keyed by meteringPointId",
    response_model=PlantUpsertOut,
    responses=WRITE_ERRORS,
)
async def upsert_plant(
    request: Request,
    environment: EnvironmentPath,
    ctx: Env,
    change: ParsedPlant,
    today: Today,
    writer: Writer,
) -> PlantUpsertOut:
    """Answers 200 whether the plant was created, updated or unchanged.

    Async, with the write in the thread pool (see above)."""
    outcome = await run_in_threadpool(
        service.upsert_plant, writer, actor_for(request, ctx), change, today=today
    )
    observe_outcome("plant", outcome.result, [w.code for w in outcome.warnings])
    return PlantUpsertOut(result=outcome.result, warnings=outcome.warnings_out(), data=outcome.data)


@router.post(
    "/api/import/{environment}/plant/builtby",
    operation_id="registerBuiltBy",
    summary="Register who built a plant, or an extension of it",
    response_model=PlantUpsertOut,
    responses={**WRITE_ERRORS, 404: READ_ERRORS[404]},
)
def register_built_by(
    request: Request,
    environment: EnvironmentPath,
    ctx: Env,
    change: ParsedBuiltBy,
    today: Today,
    db: Db,
) -> PlantUpsertOut:
    with db.write() as session:
        outcome = service.register_built_by(session, actor_for(request, ctx), change, today=today)
    observe_outcome("plant", outcome.result, [w.code for w in outcome.warnings])
    return PlantUpsertOut(result=outcome.result, warnings=outcome.warnings_out(), data=outcome.data)


@router.get(
    "/api/plant/{environment}/getDataForImport/{meteringPointId}",
    operation_id="getPlant",
    summary="Read a plant in import format (with asOf: as stored at the end of that day)",
    response_model=PlantOut,
    responses=AS_OF_ERRORS,
)
async def get_plant(
    environment: EnvironmentPath, meteringPointId: PlantKey, ctx: Env, db: Db, as_of: AsOf = None
) -> PlantOut:
    """Async, with the read in the thread pool (see above)."""
    day = as_of_day(as_of)
    return await run_in_threadpool(_read_plant, db, ctx.instance_id, meteringPointId, day)


def _read_plant(db: Database, instance_id: int, mpid: str, day: date | None) -> PlantOut:
    if day is not None:
        with db.read() as session:
            return history.plant_as_of(session, instance_id, mpid, day)
    with db.keyed_read() as session:
        return service.get_plant(session, instance_id, mpid, today=today_in_oslo())


@router.post(
    "/api/plant/{environment}/lookup",
    summary="Read many plants in import format at once (a sync's dry run compares with them)",
    operation_id="lookupPlants",
    response_model=PlantLookupOut,
    responses=WRITE_ERRORS,
)
def lookup_plants(
    environment: EnvironmentPath, ctx: Env, wanted: ParsedLookup, db: Db
) -> PlantLookupOut:
    """Answers the plants found, in the order asked, and the ids not found (no 404)."""
    with db.read() as session:
        items, missing = service.lookup_plants(
            session, ctx.instance_id, wanted.meteringPointIds, today=today_in_oslo()
        )
    return PlantLookupOut(items=items, missing=missing)


@router.get(
    "/api/plant/{meteringPointId}",
    operation_id="getPlantLegacy",
    summary="Read a plant (older API version; the key gives the environment)",
    response_model=PlantOut,
    responses=READ_ERRORS,
)
async def get_plant_legacy(meteringPointId: PlantKey, ctx: AnyEnvKey, db: Db) -> PlantOut:
    """Async, with the read in the thread pool (see above)."""
    return await run_in_threadpool(_read_plant, db, ctx.instance_id, meteringPointId, None)


@router.delete(
    "/api/import/{environment}/plant/{meteringPointId}",
    operation_id="deletePlant",
    summary="Delete a plant (its history keeps a tombstone)",
    response_model=DeletedOut,
    responses=READ_ERRORS,
)
def delete_plant(
    request: Request, environment: EnvironmentPath, meteringPointId: PlantKey, ctx: Env, db: Db
) -> DeletedOut:
    with db.write() as session:
        service.delete_plant(session, actor_for(request, ctx), meteringPointId)
    return DeletedOut(result="deleted")


@router.get(
    "/api/plant/{environment}/ids",
    operation_id="listPlantIds",
    summary="List the instance's metering point ids (keyset pages, for reconciliation)",
    response_model=PlantKeysOut,
    responses=READ_ERRORS,
)
def list_plant_ids(
    environment: EnvironmentPath,
    ctx: Env,
    db: Db,
    after: PageAfter = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_KEYS_PAGE)] = 1000,
) -> PlantKeysOut:
    with db.read() as session:
        return service.list_plant_keys(session, ctx.instance_id, after=after, limit=limit)


@history_router.get(
    "/api/plant/{environment}/{meteringPointId}/history",
    operation_id="getPlantHistory",
    summary="A plant's changes, newest first, with its customer periods",
    response_model=PlantHistoryOut,
    responses=READ_ERRORS,
)
def plant_history(
    environment: EnvironmentPath,
    meteringPointId: PlantKey,
    ctx: Env,
    db: Db,
    *,
    limit: Limit = 50,
    before: Before = None,
) -> PlantHistoryOut:
    with db.read() as session:
        page = history.plant_history(
            session, ctx.instance_id, meteringPointId, limit=limit, before=before
        )
    return PlantHistoryOut.model_validate(page)
