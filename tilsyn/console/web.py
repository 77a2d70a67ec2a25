"""What every console page shares: templates, the signed-in user, roles, CSRF, the answer.

A page's route asks for :data:`Viewer`, :data:`Inspector` or :data:`Admin`; each reads the
session cookie and checks the role before the page does anything. Every POST also asks for
:func:`checked_form`, which compares the form's CSRF token (or htmx's ``X-CSRF-Token``
header) with the one kept in the session.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from tilsyn.console import i18n
from tilsyn.console.i18n import N_
from tilsyn.core.changelog import Actor
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.http import request_id
from tilsyn.users import service as users
from tilsyn.users.service import SignedIn

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "tilsyn_session"
SIGN_IN_CSRF_COOKIE = "tilsyn_signin_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_FIELDS = 2000

templates = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
templates.filters["day"] = i18n.format_day
templates.filters["moment"] = i18n.format_moment
templates.filters["number"] = i18n.format_number


_PERSONAL_NUMBER = re.compile(r"\b\d{11}\b")


def masked(value: object) -> str:
    """Fødselsnumre and D-numbers (11 digits) shown as dots: the console shows history to
    every role, and no page needs a person's number to be read off the screen."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _PERSONAL_NUMBER.sub("•••••••••••", text)


templates.filters["masked"] = masked


# The menu: path, label, the least role that sees it.
MENU: tuple[tuple[str, str, str], ...] = (
    ("/console/", N_("Overview"), "viewer"),
    ("/console/search", N_("Search"), "viewer"),
    ("/console/grid", N_("Grid"), "viewer"),
    ("/console/findings", N_("Findings"), "viewer"),
    ("/console/plan", N_("Plan"), "viewer"),
    ("/console/map", N_("Map"), "viewer"),
    ("/console/rules", N_("Rules"), "viewer"),
    ("/console/users", N_("Users and keys"), "admin"),
)


def menu() -> list[tuple[str, str, str]]:
    return [(path, i18n.gettext(label), role) for path, label, role in MENU]


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ConsoleDenied(Exception):
    """A signed-in user without the role a page or action needs, or a failed CSRF check."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConsoleNotFound(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def language_of(request: Request) -> str:
    language = i18n.choose_language(
        request.query_params.get("lang"), request.cookies.get(i18n.LANGUAGE_COOKIE)
    )
    i18n.use_language(language)
    return language


def client_address(request: Request) -> str:
    """The caller's address; behind a trusted proxy, the first of X-Forwarded-For."""
    if settings_of(request).trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:100]
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    if settings_of(request).trust_proxy_headers:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        if proto:
            return proto == "https"
    return request.url.scheme == "https"


def _current_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def safe_next(value: str | None) -> str:
    """Only a path of this console: never an open redirect to another host."""
    if not value:
        return "/console/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/console/") or "\\" in value:
        return "/console/"
    return value


def signed_in_user(request: Request) -> SignedIn:
    language_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token and len(token) <= 200:
        with database_of(request).lookup() as session:
            user = users.signed_in(session, token)
    if user is None:
        raise SignInRequired(_current_path(request) if request.method == "GET" else "/console/")
    request.state.instance = user.instance_name
    return user


def _role(role: str) -> Any:
    def check(user: Annotated[SignedIn, Depends(signed_in_user)]) -> SignedIn:
        if not user.may(role):
            raise ConsoleDenied(i18n.gettext("Your role does not give access to this page."))
        return user

    return check


Viewer = Annotated[SignedIn, Depends(_role("viewer"))]
Inspector = Annotated[SignedIn, Depends(_role("inspector"))]
Admin = Annotated[SignedIn, Depends(_role("admin"))]


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the session's."""
    user = await _user_for_form(request)
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    sent = form.get(CSRF_FIELD)
    token = sent if isinstance(sent, str) else request.headers.get(CSRF_HEADER)
    if not users.csrf_matches(user.csrf_token, token):
        raise ConsoleDenied(
            i18n.gettext("The form was too old or not sent from this console. Try again.")
        )
    return form


async def _user_for_form(request: Request) -> SignedIn:
    return await to_thread.run_sync(signed_in_user, request)


Form = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str, *, limit: int = 10_000) -> str:
    """A text field of a form: absent is empty, and text is cut at a sane length."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "")[:limit].strip()


def query_text(request: Request, name: str, *, limit: int = 200) -> str:
    """A query parameter as text: absent is empty, NUL removed, cut at a sane length."""
    return (request.query_params.get(name) or "").replace("\x00", "")[:limit].strip()


def console_actor(request: Request, user: SignedIn) -> Actor:
    return user.actor(request_id(request))


def tile_origin(tile_url: str | None) -> str | None:
    """The origin (``{s}`` subdomains as a wildcard) the map may load tile images from."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "subdomain"))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    host = parts.netloc.replace("subdomain.", "*.", 1) if "{s}." in tile_url else parts.netloc
    if not _HOST.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}"


_HOST = re.compile(r"(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?")


def content_security_policy(settings: Settings) -> str:
    images = ["'self'", "data:"]
    origin = tile_origin(settings.console_tile_url)
    if origin:
        images.append(origin)
    return "; ".join(
        (
            "default-src 'self'",
            f"img-src {' '.join(images)}",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        )
    )


def render(
    request: Request,
    template: str,
    *,
    user: SignedIn | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page (or an htmx fragment) in the request's language."""
    language = language_of(request)
    body = templates.get_template(template).render(
        request=request,
        user=user,
        lang=language,
        path=request.url.path,
        here=quote(_current_path(request), safe="/?=&"),
        nav=menu(),
        csrf_token=user.csrf_token if user else context.pop("csrf_token", ""),
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = content_security_policy(settings_of(request))
    if request.query_params.get("lang") == language:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/console/",
        )
    return response


# Shown translated (`_(user.role)` in the templates); listed here so they are extracted.
ROLE_NAMES = (N_("viewer"), N_("inspector"), N_("admin"))
