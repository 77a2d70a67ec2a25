"""The yearly plan in the console: its progress for everyone, building it for admins, export.

Building goes through the plans domain's service (the same as ``POST /api/plan``); the CSV
export streams the same rows the API's ``?format=csv`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from tilsyn.console.i18n import gettext as _
from tilsyn.console.web import (
    Admin,
    ConsoleNotFound,
    Form,
    Viewer,
    console_actor,
    database_of,
    field,
    render,
)
from tilsyn.contract.errors import ApiError, NotFound
from tilsyn.contract.time import today_in_oslo
from tilsyn.inspections.schemas import PlanOut
from tilsyn.plans import service as plans

router = APIRouter(prefix="/console", include_in_schema=False)

SHOWN_ITEMS = 200


def _year(value: str | None) -> int:
    this_year = today_in_oslo().year
    if value and value.isdigit() and len(value) == 4:
        return int(value)
    return this_year


def _capacity_text(capacity: dict[str, Any]) -> str:
    return "\n".join(f"{area}={count}" for area, count in sorted(capacity.items()))


def _parse_capacity(text: str) -> tuple[dict[str, int], list[str]]:
    """``area=N`` per line into the API's capacity object; the lines that are not that."""
    capacity: dict[str, int] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        area, sep, count = line.partition("=")
        if not sep or not count.strip().isdigit() or not area.strip():
            problems.append(_("line %(number)s: write area=number") % {"number": number})
            continue
        capacity[area.strip()] = int(count.strip())
    return capacity, problems


def _plan_page(
    request: Request,
    user: Any,
    year: int,
    *,
    errors: list[str] | None = None,
    capacity_text: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    with database_of(request).read() as session:
        try:
            plan: PlanOut | None = plans.latest_plan(
                session, user.instance_id, year, limit=SHOWN_ITEMS
            )
        except NotFound:
            plan = None
    if capacity_text is None:
        capacity_text = _capacity_text(plan.capacity) if plan else ""
    return render(
        request,
        "plan.html",
        user=user,
        year=year,
        plan=plan,
        errors=errors or [],
        capacity_text=capacity_text,
        shown=SHOWN_ITEMS,
        status=status,
    )


@router.get("/plan")
def plan_page(request: Request, user: Viewer) -> HTMLResponse:
    return _plan_page(request, user, _year(request.query_params.get("year")))


@router.post("/plan")
def build_plan(request: Request, user: Admin, form: Form) -> Response:
    year = _year(field(form, "year", limit=10))
    capacity_text = field(form, "capacity", limit=5000)
    capacity, problems = _parse_capacity(capacity_text)
    if not problems:
        try:
            plans.check_year(year)
            checked = plans.parse_capacity({"capacity": capacity})
            with database_of(request).write() as session:
                plans.build_plan(
                    session,
                    console_actor(request, user),
                    year,
                    capacity=checked,
                    today=today_in_oslo(),
                )
        except ApiError as exc:
            problems = [f"{e.field}: {e.message}" for e in exc.errors] or [exc.detail]
    if problems:
        return _plan_page(
            request, user, year, errors=problems, capacity_text=capacity_text, status=400
        )
    return RedirectResponse(f"/console/plan?year={year}", status_code=303)


@router.get("/plan/{year}.csv")
def export_plan(request: Request, year: str, user: Viewer) -> StreamingResponse:
    if not (year.isdigit() and len(year) == 4):
        raise ConsoleNotFound(_("No plan for that year."))
    database = database_of(request)
    with database.read() as session:
        try:
            plans.check_plan(session, user.instance_id, int(year))
        except NotFound:
            raise ConsoleNotFound(_("No plan for that year.")) from None

    def rows() -> Iterator[str]:
        with database.read() as session:
            yield from plans.plan_csv(session, user.instance_id, int(year))

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="plan-{year}.csv"'},
    )
