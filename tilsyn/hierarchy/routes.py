"""HTTP edge of grid browsing: parse, call one service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tilsyn.contract.hierarchy.schemas import NetStationPageOut, NetStationTreeOut
from tilsyn.core.http import READ_ERRORS, Db, PageAfter
from tilsyn.hierarchy import browse
from tilsyn.instances.http import Env, EnvironmentPath, KeyPath, not_found

router = APIRouter(tags=["grid"])

# A net station's name in the path; one holding NUL is answered as an unknown one.
NetStationKey = Annotated[
    str, Depends(KeyPath("name", not_found("No net station with that name in this instance.")))
]


@router.get(
    "/api/grid/{environment}/netStations",
    operation_id="listNetStations",
    summary="Net stations by name, with counts of what hangs under each",
    response_model=NetStationPageOut,
    responses=READ_ERRORS,
)
def net_stations(
    environment: EnvironmentPath,
    ctx: Env,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE, description="Per page")] = 100,
    after: PageAfter = None,
) -> NetStationPageOut:
    with db.read() as session:
        items, next_after = browse.net_stations(session, ctx.instance_id, limit=limit, after=after)
    return NetStationPageOut(items=items, next=next_after)


@router.get(
    "/api/grid/{environment}/netStation/{name}",
    operation_id="getNetStation",
    summary="A net station: its transformers, their connection points, plant counts",
    response_model=NetStationTreeOut,
    responses=READ_ERRORS,
)
def net_station(
    environment: EnvironmentPath, name: NetStationKey, ctx: Env, db: Db
) -> NetStationTreeOut:
    with db.read() as session:
        return browse.net_station(session, ctx.instance_id, name=name)
