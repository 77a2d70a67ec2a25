"""HTTP edge of search and of the plant listings: parse, call one service, shape the answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.convertors import Convertor, register_url_convertor

from tilsyn.contract.time import today_in_oslo
from tilsyn.core.http import READ_ERRORS, Db, PageAfter
from tilsyn.instances.http import Env, EnvironmentPath, KeyPath, not_found
from tilsyn.search import service
from tilsyn.search.schemas import PlantPageOut

router = APIRouter(tags=["search"])

# Keys in the path; one holding NUL is answered as an unknown one.
CustomerKey = Annotated[
    str, Depends(KeyPath("number", not_found("No customer with that number in this instance.")))
]
ConnectionPointKey = Annotated[
    str,
    Depends(KeyPath("name", not_found("No connection point with that name in this instance."))),
]


class _EnvironmentConvertor(Convertor[str]):
    """Only 'test' or 'prod': the search's path must leave every other segment to the older
    API's ``/api/plant/{meteringPointId}``, whose answers (404 for an unknown id) stay."""

    regex = "test|prod"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("environment", _EnvironmentConvertor())

Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE, description="Plants per page")]


def _text(alias: str, description: str) -> object:
    """A text filter: bounded, and without NUL (PostgreSQL text cannot hold it)."""
    return Query(alias=alias, max_length=200, pattern=r"^[^\x00]*$", description=description)


@router.get(
    "/api/plant/{environment:environment}",
    operation_id="searchPlants",
    summary="Search plants by words and filters",
    description=(
        "`q` is read as words; a plant matches when each word starts a word of its metering "
        "point id, address or postal code, its current customer's name, or the name of its "
        "connection point, transformer or net station. Case and accents do not count: "
        "`tromso`, `Tromsø` and `TROMSØ` are one word, `ø` reads as `o` and `æ` as `ae`. "
        "Filters combine with AND; element filters and `customer` (a customer number) match "
        "exactly. Pages follow meteringPointId; pass `next` as `after`."
    ),
    response_model=PlantPageOut,
    responses=READ_ERRORS,
)
def search_plants(
    environment: EnvironmentPath,
    ctx: Env,
    db: Db,
    *,
    q: Annotated[str | None, _text("q", "Words to look for")] = None,
    postal_code: Annotated[str | None, _text("postalCode", "The plant's postal code")] = None,
    net_station: Annotated[str | None, _text("netStation", "Under this net station")] = None,
    transformer: Annotated[str | None, _text("transformer", "Under this transformer")] = None,
    connection_point: Annotated[
        str | None, _text("connectionPoint", "At this connection point")
    ] = None,
    customer: Annotated[
        str | None, _text("customer", "Number of the customer in force today")
    ] = None,
    inspection_area: Annotated[
        int | None,
        Query(alias="inspectionArea", ge=0, le=2**31 - 1, description="Effective value"),
    ] = None,
    status: Annotated[
        str | None, _text("status", "Spenningsatt, Inaktivt or Terminert (any case)")
    ] = None,
    due_before: Annotated[
        date | None,
        Query(alias="dueBefore", description="Due for inspection before this day, YYYY-MM-DD"),
    ] = None,
    limit: Limit = 50,
    after: PageAfter = None,
) -> PlantPageOut:
    with db.read() as session:
        items, next_after = service.search_plants(
            session,
            ctx.instance_id,
            service.PlantSearch(
                q=q,
                postal_code=postal_code,
                net_station=net_station,
                transformer=transformer,
                connection_point=connection_point,
                customer=customer,
                inspection_area=inspection_area,
                status=status,
                due_before=due_before,
            ),
            today=today_in_oslo(),
            limit=limit,
            after=after,
        )
    return PlantPageOut(items=items, next=next_after)


@router.get(
    "/api/customer/environment/{environment}/bynumber/{number}/plants",
    operation_id="listCustomerPlants",
    summary="The plants whose customer is this one today",
    response_model=PlantPageOut,
    responses=READ_ERRORS,
)
def customer_plants(
    environment: EnvironmentPath,
    number: CustomerKey,
    ctx: Env,
    db: Db,
    *,
    limit: Limit = 50,
    after: PageAfter = None,
) -> PlantPageOut:
    with db.read() as session:
        items, next_after = service.customer_plants(
            session, ctx.instance_id, number=number, today=today_in_oslo(), limit=limit, after=after
        )
    return PlantPageOut(items=items, next=next_after)


@router.get(
    "/api/grid/{environment}/connectionPoint/{name}/plants",
    operation_id="listConnectionPointPlants",
    summary="The plants connected at a connection point",
    response_model=PlantPageOut,
    responses=READ_ERRORS,
)
def connection_point_plants(
    environment: EnvironmentPath,
    name: ConnectionPointKey,
    ctx: Env,
    db: Db,
    *,
    limit: Limit = 50,
    after: PageAfter = None,
) -> PlantPageOut:
    with db.read() as session:
        items, next_after = service.connection_point_plants(
            session, ctx.instance_id, name=name, today=today_in_oslo(), limit=limit, after=after
        )
    return PlantPageOut(items=items, next=next_after)
