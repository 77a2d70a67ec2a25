"""Signing in and out, and the one-time link that lets a new user choose a password.

The sign-in form has no session yet, so its CSRF check is a double-submit cookie: a random
value set with the form, which the POST must send back in both the cookie and the form.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tilsyn.console import i18n
from tilsyn.console.i18n import gettext as _
from tilsyn.console.web import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    ConsoleDenied,
    Form,
    client_address,
    database_of,
    field,
    is_https,
    language_of,
    render,
    safe_next,
    settings_of,
)
from tilsyn.users import service as users

router = APIRouter(prefix="/console", include_in_schema=False)


def _set_cookie(request: Request, response: Response, name: str, value: str, **kw: int) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/console/",
        **kw,  # type: ignore[arg-type]
    )


def _sign_in_page(
    request: Request, *, error: str | None = None, status: int = 200, email: str = ""
) -> HTMLResponse:
    token = request.cookies.get(SIGN_IN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "sign_in.html",
        user=None,
        status=status,
        csrf_token=token,
        error=error,
        email=email,
        next=safe_next(request.query_params.get("next")),
    )
    _set_cookie(request, response, SIGN_IN_CSRF_COOKIE, token)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    return _sign_in_page(request)


async def _sign_in_form_data(request: Request) -> dict[str, str]:
    form = await request.form(max_fields=10, max_files=0)
    return {
        name: field(form, name, limit=1024) for name in ("email", "password", "next", CSRF_FIELD)
    }


@router.post("/sign-in")
def sign_in(
    request: Request, form: Annotated[dict[str, str], Depends(_sign_in_form_data)]
) -> Response:
    language_of(request)
    cookie = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not cookie or not users.csrf_matches(cookie, form[CSRF_FIELD] or None):
        return _sign_in_page(
            request, error=_("The form was too old. Try again."), status=400, email=form["email"]
        )
    email, client = form["email"].lower(), client_address(request)
    settings = settings_of(request)
    with database_of(request).write() as session:
        if users.sign_in_blocked(session, email=email, client=client):
            blocked = True
            user = None
        else:
            blocked = False
            user = users.check_credentials(session, email=email, password=form["password"])
            if user is None:
                users.note_failure(session, email=email, client=client)
                new = None
            else:
                new = users.start_session(session, user, hours=settings.console_session_hours)
    if blocked:
        message = _("Too many failed sign-ins. Wait a quarter of an hour and try again.")
        return _sign_in_page(request, error=message, status=429, email=email)
    if user is None or new is None:
        message = _("Wrong e-mail address or password.")
        return _sign_in_page(request, error=message, status=401, email=email)
    response = RedirectResponse(safe_next(form["next"]), status_code=303)
    _set_cookie(
        request,
        response,
        SESSION_COOKIE,
        new.token,
        max_age=int(settings.console_session_hours * 3600),
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/console/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, _form: Form) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with database_of(request).write() as session:
            users.end_session(session, token)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console/")
    return response


@router.get("/setup/{token}")
def setup_form(request: Request, token: str) -> HTMLResponse:
    with database_of(request).read() as session:
        user = users.user_for_setup(session, token[:200])
        email = user.email if user else None
    if email is None:
        return render(request, "setup.html", user=None, status=404, email=None, token="")
    return _setup_page(request, token, email)


def _setup_page(
    request: Request, token: str, email: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    csrf = request.cookies.get(SIGN_IN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "setup.html",
        user=None,
        status=status,
        csrf_token=csrf,
        email=email,
        token=token,
        error=error,
    )
    _set_cookie(request, response, SIGN_IN_CSRF_COOKIE, csrf)
    return response


async def _setup_form_data(request: Request) -> dict[str, str]:
    form = await request.form(max_fields=10, max_files=0)
    return {name: field(form, name, limit=1024) for name in ("password", "repeat", CSRF_FIELD)}


@router.post("/setup/{token}")
def setup(
    request: Request, token: str, form: Annotated[dict[str, str], Depends(_setup_form_data)]
) -> Response:
    language_of(request)
    cookie = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not cookie or not users.csrf_matches(cookie, form[CSRF_FIELD] or None):
        raise ConsoleDenied(_("The form was too old. Try again."))
    with database_of(request).write() as session:
        user = users.user_for_setup(session, token[:200])
        if user is None:
            return render(request, "setup.html", user=None, status=404, email=None, token="")
        email = user.email
        error = None
        if form["password"] != form["repeat"]:
            error = _("The two passwords differ.")
        elif len(form["password"]) < users.MIN_PASSWORD_LENGTH:
            error = _("A password needs at least 10 characters.")
        else:
            users.complete_setup(session, token[:200], form["password"])
    if error:
        return _setup_page(request, token, email, error=error, status=400)
    return RedirectResponse(f"/console/sign-in?lang={i18n.current_language()}", status_code=303)
