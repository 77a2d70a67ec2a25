"""Helpers for console tests: users of each role, signing in through the real form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.users import service as users

PASSWORD = "korrekt-hest-batteri"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(database: Database, instance_id: int, email: str, role: str) -> None:
    with database.write() as session:
        users.create_user(
            session, Actor(instance_id=instance_id), email=email, role=role, password=PASSWORD
        )


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the CSRF token of the session's pages."""
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/console/").text)
