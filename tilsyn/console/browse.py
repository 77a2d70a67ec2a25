"""Search and the grid browser: finding a plant by what a person remembers of it.

Both call the read side's services (search/service.py, hierarchy/browse.py), the same the
API's search and grid endpoints call. Search refreshes its results as one types (htmx);
without JavaScript the form submits like any other.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tilsyn.console.i18n import gettext as _
from tilsyn.console.web import (
    ConsoleNotFound,
    Viewer,
    database_of,
    query_text,
    render,
)
from tilsyn.contract.errors import ApiError, NotFound
from tilsyn.contract.time import today_in_oslo
from tilsyn.hierarchy import browse
from tilsyn.search import service as search
from tilsyn.search.schemas import PlantItemOut

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
FILTERS = ("q", "postalCode", "status", "netStation", "dueBefore", "after")


def _filters(request: Request) -> dict[str, str]:
    """The query's filters as text; NUL removed (PostgreSQL text cannot hold it)."""
    return {name: query_text(request, name) for name in FILTERS}


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/search")
def search_page(request: Request, user: Viewer) -> HTMLResponse:
    filters = _filters(request)
    searched = any(filters[name] for name in FILTERS if name != "after")
    items: list[PlantItemOut] = []
    after = None
    error = None
    if searched:
        with database_of(request).read() as session:
            try:
                items, after = search.search_plants(
                    session,
                    user.instance_id,
                    search.PlantSearch(
                        q=filters["q"] or None,
                        postal_code=filters["postalCode"] or None,
                        status=filters["status"] or None,
                        net_station=filters["netStation"] or None,
                        due_before=_day(filters["dueBefore"]),
                    ),
                    today=today_in_oslo(),
                    limit=PAGE_SIZE,
                    after=filters["after"] or None,
                )
            except ApiError as exc:
                error = exc.detail
    next_query = urlencode({**filters, "after": after}) if after else None
    return render(
        request,
        "search.html",
        user=user,
        filters=filters,
        items=items,
        searched=searched,
        next_query=next_query,
        error=error,
    )


@router.get("/grid")
def grid_page(request: Request, user: Viewer) -> HTMLResponse:
    after = query_text(request, "after") or None
    with database_of(request).read() as session:
        stations, next_after = browse.net_stations(
            session, user.instance_id, limit=PAGE_SIZE, after=after
        )
    return render(
        request,
        "grid.html",
        user=user,
        stations=stations,
        next_query=urlencode({"after": next_after}) if next_after else None,
    )


@router.get("/grid/connection-point/{name}")
def connection_point_page(request: Request, name: str, user: Viewer) -> HTMLResponse:
    after = query_text(request, "after") or None
    with database_of(request).read() as session:
        try:
            items, next_after = search.connection_point_plants(
                session,
                user.instance_id,
                name=name[:200],
                today=today_in_oslo(),
                limit=PAGE_SIZE,
                after=after,
            )
        except NotFound:
            raise ConsoleNotFound(_("No connection point with that name.")) from None
    return render(
        request,
        "connection_point.html",
        user=user,
        name=name,
        items=items,
        next_query=urlencode({"after": next_after}) if next_after else None,
    )


@router.get("/grid/{name}")
def net_station_page(request: Request, name: str, user: Viewer) -> HTMLResponse:
    with database_of(request).read() as session:
        try:
            station = browse.net_station(session, user.instance_id, name=name[:200])
        except NotFound:
            raise ConsoleNotFound(_("No net station with that name.")) from None
    return render(request, "net_station.html", user=user, station=station)
