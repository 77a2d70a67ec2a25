"""HTTP edge for customers: parse, call one service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from pydantic import BaseModel

from tilsyn.contract.answers import DeletedOut, IssueOut
from tilsyn.contract.customers.parse import CustomerChange, parse_valid_customer
from tilsyn.contract.customers.schemas import CustomerIn, CustomerLookupIn
from tilsyn.contract.problems import Issue
from tilsyn.core.edge import JsonObject, Today, model_body, tolerant_body
from tilsyn.core.http import READ_ERRORS, WRITE_ERRORS, Db, PageAfter, Writer, problem
from tilsyn.core.observability import observe_outcome
from tilsyn.customers import history, service
from tilsyn.customers.views import CustomerKeysOut, CustomerLookupOut, CustomerOut
from tilsyn.history.routes import AS_OF_ERRORS, AsOf, Before, Limit, as_of_day
from tilsyn.history.schemas import HistoryOut
from tilsyn.instances.http import (
    AnyEnvKey,
    Env,
    EnvironmentPath,
    ImportEnv,
    KeyPath,
    actor_for,
    not_found,
)

# The customers' routes (tagged "customers") and a customer's history (tagged "history").
router = APIRouter()
customer_router = APIRouter(tags=["customers"])
history_router = APIRouter(tags=["history"])

# A customer number in the path; one holding NUL is answered as an unknown one.
CustomerKey = Annotated[
    str, Depends(KeyPath("number", not_found("No customer with that number in this instance.")))
]
CustomerBody = Annotated[JsonObject, tolerant_body(CustomerIn)]


async def customer_change(body: CustomerBody, ctx: Env, today: Today) -> CustomerChange:
    """The body as the domain's typed change under the instance's policy (warnings included);
    InvalidBody, a 422 naming the fields, when it cannot be stored. Async, and before the
    write transaction: it holds SQLite's one write lock."""
    return parse_valid_customer(
        body, today=today, strict=ctx.strict_validation, synthetic_ok=ctx.environment == "test"
    )


ParsedCustomer = Annotated[CustomerChange, Depends(customer_change)]
ParsedLookup = Annotated[
    CustomerLookupIn, model_body(CustomerLookupIn, "The lookup was not read; see errors.")
]


class CustomerUpsertOut(BaseModel):
    result: str
    warnings: list[IssueOut]
    data: CustomerOut


@customer_router.post(
    "/api/import/{environment}/customer",
    operation_id="upsertCustomer",
    summary="Create or update a customer, keyed by Number",
    response_model=CustomerUpsertOut,
    responses=WRITE_ERRORS,
)
def upsert_customer(
    request: Request,
    environment: EnvironmentPath,
    ctx: Env,
    change: ParsedCustomer,
    writer: Writer,
) -> CustomerUpsertOut:
    """Answers 200 whether the customer was created, updated or unchanged."""
    outcome = service.upsert_customer(writer, actor_for(request, ctx), change)
    observe_outcome("customer", outcome.result, [w.code for w in outcome.warnings])
    return CustomerUpsertOut(
        result=outcome.result, warnings=outcome.warnings_out(), data=outcome.data
    )


@customer_router.get(
    "/api/customer/environment/{environment}/bynumber/{number}",
    operation_id="getCustomer",
    summary="Read a customer (with asOf: as stored at the end of that day)",
    response_model=CustomerOut,
    responses=AS_OF_ERRORS,
)
def get_customer(
    environment: EnvironmentPath, number: CustomerKey, ctx: Env, db: Db, as_of: AsOf = None
) -> CustomerOut:
    day = as_of_day(as_of)
    if day is not None:
        with db.read() as session:
            return history.customer_as_of(session, ctx.instance_id, number, day)
    with db.keyed_read() as session:
        return service.get_customer(session, ctx.instance_id, number)


@customer_router.post(
    "/api/customer/environment/{environment}/lookup",
    summary="Read many customers at once (a sync's dry run compares with them)",
    operation_id="lookupCustomers",
    response_model=CustomerLookupOut,
    responses=WRITE_ERRORS,
)
def lookup_customers(
    environment: EnvironmentPath, ctx: Env, wanted: ParsedLookup, db: Db
) -> CustomerLookupOut:
    """Answers the customers found, in the order asked, and the numbers not found (no 404)."""
    with db.read() as session:
        items, missing = service.lookup_customers(session, ctx.instance_id, wanted.Numbers)
    return CustomerLookupOut(items=items, missing=missing)


@customer_router.get(
    "/api/customer/{number}",
    operation_id="getCustomerLegacy",
    summary="Read a customer (older API version; the key gives the environment)",
    response_model=CustomerOut,
    responses=READ_ERRORS,
)
def get_customer_legacy(number: CustomerKey, ctx: AnyEnvKey, db: Db) -> CustomerOut:
    with db.keyed_read() as session:
        return service.get_customer(session, ctx.instance_id, number)


@customer_router.delete(
    "/api/import/{environment}/customer/{number}",
    operation_id="deleteCustomer",
    summary="Erase a customer's personal data for good (GDPR)",
    response_model=DeletedOut,
    responses=READ_ERRORS,
)
def delete_customer(
    request: Request,
    environment: EnvironmentPath,
    number: CustomerKey,
    ctx: Env,
    db: Db,
    tasks: BackgroundTasks,
) -> DeletedOut:
    with db.write() as session:
        service.delete_customer(session, actor_for(request, ctx), number)
    # Once answered: the erased rows are purged from the storage (core/db.py).
    tasks.add_task(db.purge_erased, service.ERASURE_TABLES)
    return DeletedOut(result="deleted")


@customer_router.get(
    "/api/customer/environment/{environment}/numbers",
    operation_id="listCustomerNumbers",
    summary="List the instance's customer numbers (keyset pages, for reconciliation)",
    description="Needs an import or admin key: a read-only key gets 403.",
    response_model=CustomerKeysOut,
    responses={**READ_ERRORS, 403: problem("A read-only key may not list customer numbers")},
)
def list_customer_numbers(
    environment: EnvironmentPath,
    ctx: ImportEnv,
    db: Db,
    after: PageAfter = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_KEYS_PAGE)] = 1000,
) -> CustomerKeysOut:
    with db.read() as session:
        return service.list_customer_numbers(session, ctx.instance_id, after=after, limit=limit)


@history_router.get(
    "/api/customer/environment/{environment}/bynumber/{number}/history",
    operation_id="getCustomerHistory",
    summary="A customer's changes, newest first",
    response_model=HistoryOut,
    responses=READ_ERRORS,
)
def customer_history(
    environment: EnvironmentPath,
    number: CustomerKey,
    ctx: Env,
    db: Db,
    *,
    limit: Limit = 50,
    before: Before = None,
) -> HistoryOut:
    with db.read() as session:
        page = history.customer_history(
            session, ctx.instance_id, number, limit=limit, before=before
        )
    return HistoryOut.model_validate(page)


router.include_router(customer_router)
router.include_router(history_router)

__all__ = ["Issue", "IssueOut", "router"]
