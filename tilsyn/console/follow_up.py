"""Inspections and findings in the console: the forms an inspector uses in the field.

Both go through the inspections domain's own parsing and services, so a form is checked
exactly like an API body and its problems are shown beside the form's fields.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tilsyn.console.i18n import N_
from tilsyn.console.i18n import gettext as _
from tilsyn.console.web import (
    ConsoleNotFound,
    Form,
    Inspector,
    Viewer,
    console_actor,
    database_of,
    field,
    query_text,
    render,
)
from tilsyn.contract.errors import ApiError, InvalidBody, InvalidRequest, NotFound
from tilsyn.contract.problems import Issue
from tilsyn.contract.time import today_in_oslo
from tilsyn.inspections import service as inspections
from tilsyn.inspections.merge import TRANSITIONS
from tilsyn.inspections.parse import parse_finding_move, parse_valid_inspection
from tilsyn.inspections.schemas import FINDING_STATUSES, KINDS, SEVERITIES
from tilsyn.plants.service import get_plant

router = APIRouter(prefix="/console", include_in_schema=False)

FINDING_SLOTS = 3
PAGE_SIZE = 50
# Shown translated; listed so that they are extracted.
WORDS = (
    N_("periodic"),
    N_("new_installation"),
    N_("follow_up"),
    N_("audit"),
    N_("nonconformity"),
    N_("remark"),
    N_("open"),
    N_("notified"),
    N_("ordered"),
    N_("corrected"),
    N_("closed"),
    N_("escalated"),
    N_("interval"),
    N_("never_inspected"),
    N_("not_in_service"),
    N_("no_interval"),
    N_("changed_use"),
    N_("overdue_finding"),
    N_("planned"),
    N_("deferred"),
    N_("done"),
    N_("unplanned"),
)


def _inspection_body(form: FormData, mpid: str) -> dict[str, Any]:
    """The form as the API's inspection body: empty fields absent, empty finding rows left out."""
    body: dict[str, Any] = {"meteringPointId": mpid}
    for name in ("date", "kind", "inspector", "notes"):
        value = field(form, name)
        if value:
            body[name] = value
    findings = []
    for slot in range(FINDING_SLOTS):
        description = field(form, f"findings-{slot}-description")
        if not description:
            continue
        finding = {"description": description, "severity": field(form, f"findings-{slot}-severity")}
        for name in ("regulation", "deadline"):
            value = field(form, f"findings-{slot}-{name}")
            if value:
                finding[name] = value
        findings.append(finding)
    body["findings"] = findings
    return body


def _inspection_form(
    request: Request,
    user: Any,
    mpid: str,
    *,
    values: dict[str, str] | None = None,
    errors: list[Issue] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with database_of(request).read() as session:
        try:
            plant = get_plant(session, user.instance_id, mpid, today=today_in_oslo())
        except NotFound:
            raise ConsoleNotFound(_("No plant with that metering point id.")) from None
    return render(
        request,
        "inspection_form.html",
        user=user,
        plant=plant,
        values=values or {"date": today_in_oslo().isoformat(), "inspector": user.email},
        errors=errors or [],
        kinds=KINDS,
        severities=SEVERITIES,
        slots=range(FINDING_SLOTS),
        status=status,
    )


@router.get("/plant/{metering_point_id}/inspection")
def inspection_form(request: Request, metering_point_id: str, user: Inspector) -> HTMLResponse:
    return _inspection_form(request, user, metering_point_id[:50])


@router.post("/plant/{metering_point_id}/inspection")
def record_inspection(
    request: Request, metering_point_id: str, user: Inspector, form: Form
) -> Response:
    mpid = metering_point_id[:50]
    body = _inspection_body(form, mpid)
    try:
        change = parse_valid_inspection(body, today=today_in_oslo())
        with database_of(request).write() as session:
            inspections.record_inspection(
                session, user.instance_id, change, actor=console_actor(request, user)
            )
    except InvalidBody as exc:
        values = {name: field(form, name) for name in form if isinstance(form.get(name), str)}
        return _inspection_form(request, user, mpid, values=values, errors=exc.errors, status=400)
    except NotFound:
        raise ConsoleNotFound(_("No plant with that metering point id.")) from None
    return RedirectResponse(f"/console/plant/{mpid}#inspections", status_code=303)


# --- Findings ------------------------------------------------------------------------------


def _filters(request: Request) -> dict[str, str]:
    status = request.query_params.get("status", "")
    return {
        "status": status if status in FINDING_STATUSES else "",
        "overdue": "1" if request.query_params.get("overdue") == "1" else "",
        "after": query_text(request, "after", limit=20),
    }


@router.get("/findings")
def findings_page(request: Request, user: Viewer) -> HTMLResponse:
    filters = _filters(request)
    today = today_in_oslo()
    with database_of(request).read() as session:
        try:
            items, after = inspections.list_findings(
                session,
                user.instance_id,
                today=today,
                query=inspections.FindingQuery(
                    status=filters["status"] or None,
                    overdue=bool(filters["overdue"]),
                    limit=PAGE_SIZE,
                    after=filters["after"] or None,
                ),
            )
        except InvalidRequest:
            items, after = [], None
    next_query = urlencode({**filters, "after": after}) if after else None
    return render(
        request,
        "findings.html",
        user=user,
        items=items,
        filters=filters,
        statuses=FINDING_STATUSES,
        transitions=TRANSITIONS_SHOWN,
        today=today.isoformat(),
        next_query=next_query,
        moved=query_text(request, "moved", limit=20),
        error=query_text(request, "error", limit=300),
    )


@router.post("/findings/{finding_id}/status")
def move_finding(request: Request, finding_id: str, user: Inspector, form: Form) -> Response:
    back = field(form, "back", limit=500)
    back = back if back.startswith("/console/") else "/console/findings"
    if not finding_id.isdigit() or len(finding_id) > 18:
        raise ConsoleNotFound(_("No such finding in this instance."))
    body: dict[str, Any] = {"status": field(form, "status"), "date": field(form, "date")}
    for name in ("deadline", "note"):
        value = field(form, name)
        if value:
            body[name] = value
    today = today_in_oslo()
    try:
        step = parse_finding_move(body, today=today)
        with database_of(request).write() as session:
            outcome = inspections.move_finding(
                session,
                user.instance_id,
                int(finding_id),
                step,
                actor=console_actor(request, user),
                today=today,
            )
    except NotFound:
        raise ConsoleNotFound(_("No such finding in this instance.")) from None
    except ApiError as exc:
        detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors) or exc.detail
        return _back(request, back, error=detail)
    if request.headers.get("hx-request"):
        # htmx swaps the finding in place: no page reload on a phone in the field.
        return render(
            request,
            "_finding.html",
            user=user,
            finding=outcome.data,
            transitions=TRANSITIONS_SHOWN,
            today=today.isoformat(),
            back=back,
            show_plant=back.startswith("/console/findings"),
            just_moved=True,
        )
    return _back(request, back, moved=finding_id)


TRANSITIONS_SHOWN = {status: sorted(moves) for status, moves in TRANSITIONS.items()}


def _back(request: Request, back: str, **query: str) -> Response:
    separator = "&" if "?" in back else "?"
    target = f"{back}{separator}{urlencode(query)}"
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
