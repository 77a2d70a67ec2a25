"""The console's pages. Each reads through the domain services the API uses, as the
signed-in user's instance, and records changes in history under the user's name."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tilsyn.console import admin, browse, follow_up, plan, queries, signin
from tilsyn.console.i18n import gettext as _
from tilsyn.console.web import (
    STATIC_DIR,
    ConsoleDenied,
    ConsoleNotFound,
    SignInRequired,
    Viewer,
    database_of,
    language_of,
    render,
    settings_of,
)
from tilsyn.contract.errors import NotFound
from tilsyn.contract.time import today_in_oslo
from tilsyn.customers.service import get_customer
from tilsyn.customers.views import CustomerOut
from tilsyn.inspections import service as inspections
from tilsyn.inspections.merge import TRANSITIONS
from tilsyn.plants.history import plant_history
from tilsyn.plants.service import get_plant
from tilsyn.users.service import SignedIn

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/")
def overview(request: Request, user: Viewer) -> HTMLResponse:
    with database_of(request).read() as session:
        counts = queries.counts(session, user.instance_id)
        statuses = queries.plants_by_status(session, user.instance_id)
        changes = queries.latest_changes(session, user.instance_id)
        follow_up = queries.follow_up(session, user.instance_id, today=today_in_oslo())
    return render(
        request,
        "overview.html",
        user=user,
        counts=counts,
        statuses=statuses,
        changes=changes,
        follow_up=follow_up,
    )


@router.get("/plant/{metering_point_id}")
def plant_page(request: Request, metering_point_id: str, user: Viewer) -> HTMLResponse:
    mpid = metering_point_id[:50]
    with database_of(request).read() as session:
        try:
            plant = get_plant(session, user.instance_id, mpid, today=today_in_oslo())
        except NotFound:
            raise ConsoleNotFound(_("No plant with that metering point id.")) from None
        history = plant_history(session, user.instance_id, mpid, limit=50, before=None)
        customer = _customer(session, user, plant.customerId)
        status = inspections.inspection_status(
            session, user.instance_id, mpid, today=today_in_oslo()
        )
        done = inspections.list_inspections(session, user.instance_id, mpid).items
    return render(
        request,
        "plant.html",
        user=user,
        plant=plant,
        customer=customer,
        changes=history["changes"],
        inspection_status=status,
        inspections=done,
        transitions={status: sorted(moves) for status, moves in TRANSITIONS.items()},
        today=today_in_oslo().isoformat(),
        back=f"/console/plant/{plant.meteringPointId}",
    )


def _customer(session: Any, user: SignedIn, number: str | None) -> CustomerOut | None:
    if not number:
        return None
    try:
        return get_customer(session, user.instance_id, number)
    except NotFound:
        return None


@router.get("/map")
def map_page(request: Request, user: Viewer) -> HTMLResponse:
    tile_url = settings_of(request).console_tile_url or ""
    return render(request, "map.html", user=user, tile_url=tile_url)


@router.get("/map/points")
def map_points(request: Request, user: Viewer) -> JSONResponse:
    """The map's points, fetched by the page's script (no inline data: the CSP forbids it)."""
    with database_of(request).read() as session:
        return JSONResponse(queries.map_points(session, user.instance_id))


def install_console(app: FastAPI) -> None:
    """Mount the console's pages, its assets and its HTML answers to errors."""
    app.include_router(signin.router)
    app.include_router(router)
    app.include_router(admin.router)
    app.include_router(follow_up.router)
    app.include_router(browse.router)
    app.include_router(plan.router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.get("/console", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = f"/console/sign-in?next={quote(exc.next_path, safe='/')}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(ConsoleDenied)
    async def _denied(request: Request, exc: ConsoleDenied) -> HTMLResponse:
        language_of(request)
        return render(request, "error.html", user=None, status=403, message=exc.message)

    @app.exception_handler(ConsoleNotFound)
    async def _not_found(request: Request, exc: ConsoleNotFound) -> HTMLResponse:
        language_of(request)
        return render(request, "error.html", user=None, status=404, message=exc.message)
