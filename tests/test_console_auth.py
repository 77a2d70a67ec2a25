"""Console sign-in, sessions, CSRF, roles and the sign-in limit, over HTTP on both databases."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tenant, make_tenant
from tests.console_helpers import PASSWORD, csrf_of, make_user, sign_in
from tilsyn.app import create_app
from tilsyn.core.changelog import Actor
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import ApiKey, Change, User, UserSession
from tilsyn.users import service as users

PAGES = ["/console/", "/console/map", "/console/map/points", "/console/rules", "/console/users"]


def test_pages_need_a_session(client: TestClient, tenant: Tenant) -> None:
    for page in PAGES:
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303, page
        assert answer.headers["location"].startswith("/console/sign-in?next=")
    htmx = client.get("/console/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"].startswith("/console/sign-in")


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "ola@dle.no", "viewer")
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={
            "email": "Ola@DLE.no",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"  # never to another host
    cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith("tilsyn_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the proxy test
    page = client.get("/console/")
    assert page.status_code == 200
    assert "ola@dle.no" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    out = client.post(
        "/console/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(UserSession)) == 0
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_cookie_is_secure_behind_an_https_proxy(
    settings: Settings, database: Database, tenant: Tenant
) -> None:
    make_user(database, tenant.instance_id, "pia@dle.no", "viewer")
    proxied = replace(settings, trust_proxy_headers=True)
    with TestClient(create_app(proxied, database)) as client:
        _sign_in_over_https(client)


def _sign_in_over_https(client: TestClient) -> None:
    form = client.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in form.headers["set-cookie"]
    token = csrf_of(form.text)
    # The client speaks plain HTTP to the "proxy", so it would not send a Secure cookie back.
    answer = client.post(
        "/console/sign-in",
        data={"email": "pia@dle.no", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https", "Cookie": f"tilsyn_signin_csrf={token}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session_cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith("tilsyn_session=")
    )
    assert "Secure" in session_cookie


def test_wrong_password_and_unknown_user_answer_alike(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "kari@dle.no", "viewer")
    form = client.get("/console/sign-in")
    token = csrf_of(form.text)
    for email in ("kari@dle.no", "nobody@dle.no"):
        answer = client.post(
            "/console/sign-in",
            data={"email": email, "password": "wrong-password", "csrf_token": token},
        )
        assert answer.status_code == 401
        assert "tilsyn_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_form_needs_its_csrf_token(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "kari@dle.no", "viewer")
    client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"email": "kari@dle.no", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 400


def test_every_post_checks_csrf(client: TestClient, tenant: Tenant, database: Database) -> None:
    make_user(database, tenant.instance_id, "admin@dle.no", "admin")
    token = sign_in(client, "admin@dle.no")
    posts = {
        "/console/users": {"email": "new@dle.no", "role": "viewer"},
        "/console/users/disable": {"email": "admin@dle.no"},
        "/console/keys": {"scope": "import"},
        "/console/keys/revoke": {"key": "1"},
        "/console/rules": {"rules": "rules: []"},
        "/console/rules/explain": {"rules": "rules: []", "consumptionCode": "35"},
        "/console/sign-out": {},
    }
    for path, data in posts.items():
        for sent in ({}, {"csrf_token": "not-the-token"}):
            answer = client.post(path, data={**data, **sent}, follow_redirects=False)
            assert answer.status_code == 403, (path, sent)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
    # The header form (htmx) is accepted, as is the field.
    explained = client.post(
        "/console/rules/explain",
        data={"rules": "rules: []", "consumptionCode": "35"},
        headers={"X-CSRF-Token": token},
    )
    assert explained.status_code == 200


def test_roles_are_enforced_on_pages_and_actions(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "viewer@dle.no", "viewer")
    make_user(database, tenant.instance_id, "inspector@dle.no", "inspector")
    for email in ("viewer@dle.no", "inspector@dle.no"):
        client.cookies.clear()
        token = sign_in(client, email)
        assert client.get("/console/users").status_code == 403
        assert "/console/users" not in client.get("/console/").text  # not in the menu
        for path, data in {
            "/console/users": {"email": "x@dle.no", "role": "admin"},
            "/console/keys": {"scope": "admin"},
            "/console/rules": {"rules": "rules: []"},
        }.items():
            answer = client.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 403, (email, path)
        rules = client.get("/console/rules")
        assert rules.status_code == 200
        assert "readonly" in rules.text
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 2


def test_admin_changes_are_recorded_under_the_users_name(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "admin@dle.no", "admin")
    token = sign_in(client, "admin@dle.no")
    created = client.post(
        "/console/users", data={"email": "ny@dle.no", "role": "inspector", "csrf_token": token}
    )
    assert created.status_code == 200
    assert "/console/setup/" in created.text
    key = client.post("/console/keys", data={"scope": "import", "label": "x", "csrf_token": token})
    assert "tilsyn_test_" in key.text
    saved = client.post(
        "/console/rules",
        data={
            "csrf_token": token,
            "rules": "rules:\n  - id: all\n    inspectionRate: 10\n",
        },
    )
    assert saved.status_code == 200, saved.text
    with database.read() as session:
        labels = {
            (entity, label)
            for entity, label in session.execute(
                select(Change.entity_type, Change.api_key_label).where(
                    Change.instance_id == tenant.instance_id
                )
            )
        }
    assert ("user", "user:admin@dle.no") in labels
    assert ("apiKey", "user:admin@dle.no") in labels
    assert ("rules", "user:admin@dle.no") in labels


def test_setup_link_sets_the_password_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    with database.write() as session:
        _user, token = users.create_user(
            session, Actor(instance_id=tenant.instance_id), email="ny@dle.no", role="viewer"
        )
    assert token
    page = client.get(f"/console/setup/{token}")
    assert page.status_code == 200
    data = {"password": "et-langt-passord", "repeat": "et-langt-passord"}
    done = client.post(
        f"/console/setup/{token}",
        data={**data, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get(f"/console/setup/{token}").status_code == 404
    sign_in(client, "ny@dle.no", "et-langt-passord")


def test_sign_in_attempts_are_limited_per_account(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "kari@dle.no", "viewer")
    token = csrf_of(client.get("/console/sign-in").text)
    for _attempt in range(users.MAX_ACCOUNT_FAILURES):
        answer = client.post(
            "/console/sign-in",
            data={"email": "kari@dle.no", "password": "guess", "csrf_token": token},
        )
        assert answer.status_code == 401
    # Now even the right password is refused for a while.
    blocked = client.post(
        "/console/sign-in",
        data={"email": "kari@dle.no", "password": PASSWORD, "csrf_token": token},
    )
    assert blocked.status_code == 429
    # Another account from the same address still gets in.
    make_user(database, tenant.instance_id, "ola@dle.no", "viewer")
    sign_in(client, "ola@dle.no")


def test_sign_in_attempts_are_limited_per_client_address(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "kari@dle.no", "viewer")
    token = csrf_of(client.get("/console/sign-in").text)
    for attempt in range(users.MAX_CLIENT_FAILURES):
        client.post(
            "/console/sign-in",
            data={"email": f"guess{attempt}@dle.no", "password": "x", "csrf_token": token},
        )
    blocked = client.post(
        "/console/sign-in",
        data={"email": "kari@dle.no", "password": PASSWORD, "csrf_token": token},
    )
    assert blocked.status_code == 429


def test_disabled_user_loses_the_session(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    make_user(database, tenant.instance_id, "kari@dle.no", "viewer")
    sign_in(client, "kari@dle.no")
    with database.write() as session:
        users.disable_user(session, Actor(instance_id=tenant.instance_id), "kari@dle.no")
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_users_see_only_their_own_instance(client: TestClient, database: Database) -> None:
    one = make_tenant(database, "nett-en")
    two = make_tenant(database, "nett-to")
    make_user(database, one.instance_id, "admin@en.no", "admin")
    make_user(database, two.instance_id, "admin@to.no", "admin")
    token = sign_in(client, "admin@en.no")
    page = client.get("/console/users").text
    assert "admin@en.no" in page
    assert "admin@to.no" not in page
    # A key of the other instance cannot be revoked from here.
    with database.read() as session:
        other = session.scalar(select(ApiKey.id).where(ApiKey.instance_id == two.instance_id))
    answer = client.post("/console/keys/revoke", data={"key": str(other), "csrf_token": token})
    assert answer.status_code == 404
    with database.read() as session:
        assert session.get(ApiKey, other).revoked_at is None


def test_language_is_bokmal_by_default_and_english_on_request(
    client: TestClient, tenant: Tenant
) -> None:
    assert "Logg inn" in client.get("/console/sign-in").text
    english = client.get("/console/sign-in?lang=en")
    assert "Sign in" in english.text
    assert "Logg inn" not in english.text
    assert "Sign in" in client.get("/console/sign-in").text  # the cookie keeps it
