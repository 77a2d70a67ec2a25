"""Rules (read by all, edited by admins, explained live) and users and keys (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from tilsyn.console import queries
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
    settings_of,
)
from tilsyn.contract.errors import InvalidBody
from tilsyn.core.changelog import record_change
from tilsyn.core.models import ApiKey, Instance
from tilsyn.core.tenancy import scoped_select
from tilsyn.instances import service as instances
from tilsyn.rules import files
from tilsyn.rules import service as rules
from tilsyn.users import service as users

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_RULES_TEXT = 200_000


def _rules_yaml(rule_list: list[rules.Rule]) -> str:
    return files.write_yaml([rule.document() for rule in rule_list])


@router.get("/rules")
def rules_page(request: Request, user: Viewer) -> HTMLResponse:
    with database_of(request).read() as session:
        current = rules.load_rules(session, user.instance_id)
    return render(
        request, "rules.html", user=user, rules=current, text=_rules_yaml(current), errors=[]
    )


def _draft(text: str) -> tuple[list[rules.Rule] | None, list[str]]:
    """The rules of the edited text, or the problems that stop it from being saved."""
    found = files.read_yaml(text)
    line_word = _("line")
    problems = [f"{line_word} {line}: {message}" for line, message in found.errors]
    if found.errors:
        return None, problems
    parsed, issues = rules.parse_rule_set({"rules": found.rows})
    problems += [f"{issue.field}: {issue.message}" for issue in issues.errors]
    problems += [
        f"{issue.field}: {issue.message}"
        for issue in issues.warnings
        if issue.code == "unknown_field"
    ]
    return (None if problems else parsed), problems


@router.post("/rules")
def save_rules(request: Request, user: Admin, form: Form) -> HTMLResponse:
    text = field(form, "rules", limit=MAX_RULES_TEXT)
    draft, problems = _draft(text)
    message = None
    if draft is not None:
        with database_of(request).write() as session:
            try:
                changed = rules.replace_rules(session, console_actor(request, user), draft)
            except InvalidBody as exc:
                problems = [f"{issue.field}: {issue.message}" for issue in exc.errors]
                changed = False
        if not problems:
            message = _("The rules were saved.") if changed else _("Nothing changed.")
    with database_of(request).read() as session:
        current = rules.load_rules(session, user.instance_id)
    return render(
        request,
        "rules.html",
        user=user,
        rules=current,
        text=text,
        errors=problems,
        message=message,
        status=400 if problems else 200,
    )


@router.post("/rules/explain")
def explain_rules(request: Request, user: Viewer, form: Form) -> HTMLResponse:
    """Which rule of the text being edited gives each value to such a plant (htmx fragment)."""
    draft, problems = _draft(field(form, "rules", limit=MAX_RULES_TEXT))
    code = field(form, "consumptionCode", limit=20)
    naeringskode = field(form, "naeringskode", limit=20)
    explained = rules.explain(draft, code, naeringskode) if draft is not None and code else []
    return render(
        request,
        "_explain.html",
        user=user,
        explained=explained,
        errors=problems,
        code=code,
        naeringskode=naeringskode,
        describe=rules.describe,
    )


# --- Users and keys ----------------------------------------------------------------------


def _users_page(
    request: Request, user: users.SignedIn, *, status: int = 200, **shown: Any
) -> HTMLResponse:
    with database_of(request).read() as session:
        people = queries.users_of(session, user.instance_id)
        keys = queries.keys_of(session, user.instance_id)
    return render(
        request,
        "users.html",
        user=user,
        people=people,
        keys=keys,
        roles=users.ROLES,
        scopes=instances.SCOPES,
        status=status,
        **shown,
    )


@router.get("/users")
def users_page(request: Request, user: Admin) -> HTMLResponse:
    return _users_page(request, user)


@router.post("/users")
def create_user(request: Request, user: Admin, form: Form) -> HTMLResponse:
    email, role = field(form, "email", limit=300), field(form, "role", limit=20)
    try:
        with database_of(request).write() as session:
            created, token = users.create_user(
                session, console_actor(request, user), email=email, role=role
            )
            created_email = created.email
    except users.UserError as exc:
        return _users_page(request, user, status=400, error=str(exc))
    link = f"{str(request.base_url).rstrip('/')}/console/setup/{token}"
    return _users_page(request, user, created_email=created_email, setup_link=link)


@router.post("/users/disable")
def disable_user(request: Request, user: Admin, form: Form) -> HTMLResponse:
    email = field(form, "email", limit=300)
    if email.lower() == user.email:
        return _users_page(request, user, status=400, error=_("You cannot disable yourself."))
    try:
        with database_of(request).write() as session:
            users.disable_user(session, console_actor(request, user), email)
    except users.UserError as exc:
        return _users_page(request, user, status=400, error=str(exc))
    return _users_page(request, user, message=_("The user was disabled."))


@router.post("/keys")
def create_key(request: Request, user: Admin, form: Form) -> HTMLResponse:
    scope = field(form, "scope", limit=20)
    label = field(form, "label", limit=200) or None
    if scope not in instances.SCOPES:
        return _users_page(request, user, status=400, error=_("Choose a scope for the key."))
    with database_of(request).write() as session:
        instance = session.get(Instance, user.instance_id)
        assert instance is not None
        created = instances.create_key(
            session, instance, secret_key=settings_of(request).secret_key, scope=scope, label=label
        )
        record_change(
            session,
            console_actor(request, user),
            entity_type="apiKey",
            entity_key=str(created.id),
            operation="create",
            diff={"scope": [None, scope], "label": [None, label]},
        )
    return _users_page(request, user, new_key=created.secret)


def _own_key(session: Session, instance_id: int, key_id: str) -> ApiKey:
    row = None
    if key_id.isdigit() and len(key_id) < 12:
        row = session.scalar(scoped_select(ApiKey, instance_id).where(ApiKey.id == int(key_id)))
    if row is None:
        raise ConsoleNotFound(_("No such API key in this instance."))
    return row


@router.post("/keys/revoke")
def revoke_key(request: Request, user: Admin, form: Form) -> HTMLResponse:
    with database_of(request).write() as session:
        key = _own_key(session, user.instance_id, field(form, "key", limit=20))
        if key.revoked_at is None:
            instances.revoke_key(session, key.id)
            record_change(
                session,
                console_actor(request, user),
                entity_type="apiKey",
                entity_key=str(key.id),
                operation="update",
                diff={"revoked": [False, True]},
            )
    # This worker stops trusting the key now; the others when their entry expires.
    request.app.state.key_cache.forget_key(key.id)
    return _users_page(request, user, message=_("The key was revoked."))
