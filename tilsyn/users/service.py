"""Console users: people, with a role, who sign in with a password (SPEC §12).

Passwords are hashed with Argon2id. A new user (or one whose password is reset) may get a
one-time link instead of a password: its token is shown once and only its SHA-256 is kept.
Sessions are rows keyed by the SHA-256 of the cookie's random token, each with the CSRF
token its forms must send back. Failed sign-ins are counted per account and per client
address in the database, so every server process sees the same count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tilsyn.contract.time import utc_now
from tilsyn.core.changelog import Actor, record_change
from tilsyn.core.models import Instance, SignInFailure, User, UserSession

ROLES = ("viewer", "inspector", "admin")
MIN_PASSWORD_LENGTH = 10
SETUP_LINK_DAYS = 3
FAILURE_WINDOW = timedelta(minutes=15)
MAX_ACCOUNT_FAILURES = 5
MAX_CLIENT_FAILURES = 20

_hasher = PasswordHasher()
# Verified when no user matches, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class UserError(ValueError):
    """A request on users that cannot be honoured; the message is for the person asking."""


@dataclass(frozen=True)
class SignedIn:
    """Who a console request comes from: the user, their instance and their session."""

    user_id: int
    email: str
    role: str
    instance_id: int
    instance_name: str
    environment: str
    csrf_token: str

    def may(self, role: str) -> bool:
        """Roles are ordered: an inspector may do what a viewer may, an admin everything."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def actor(self, request_id: str | None = None) -> Actor:
        """History records a console change under the person's name, not a key."""
        return Actor(
            instance_id=self.instance_id,
            request_id=request_id,
            api_key_label=actor_label(self.email),
        )


def actor_label(email: str) -> str:
    return f"user:{email}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or any(ch.isspace() for ch in email):
        raise UserError("give an e-mail address")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise UserError("a password may have at most 1024 characters")
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    return role


# --- Managing users ------------------------------------------------------------------------


def create_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    role: str,
    password: str | None = None,
) -> tuple[User, str | None]:
    """A new user with this password, or (none given) a one-time link token to set one."""
    email = normalise_email(email)
    _check_role(role)
    existing = session.scalar(
        select(User.id).where(User.instance_id == actor.instance_id, User.email == email)
    )
    if existing is not None:
        raise UserError(f"{email} is already a user of this instance")
    user = User(instance_id=actor.instance_id, email=email, role=role, created_at=utc_now())
    token = None
    if password is None:
        token = _new_setup_token(user)
    else:
        user.password_hash = _hasher.hash(check_password(password))
    session.add(user)
    session.flush()
    record_change(
        session,
        actor,
        entity_type="user",
        entity_key=email,
        operation="create",
        diff={"role": [None, role]},
    )
    return user, token


def _new_setup_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    user.setup_token_hash = digest(token)
    user.setup_expires_at = utc_now() + timedelta(days=SETUP_LINK_DAYS)
    return token


def get_user(session: Session, instance_id: int, email: str) -> User:
    user = session.scalar(
        select(User).where(User.instance_id == instance_id, User.email == normalise_email(email))
    )
    if user is None:
        raise UserError(f"no user {email.strip()} in this instance")
    return user


def list_users(session: Session, instance_id: int) -> list[User]:
    return list(
        session.scalars(select(User).where(User.instance_id == instance_id).order_by(User.email))
    )


def disable_user(session: Session, actor: Actor, email: str) -> User:
    """No more sign-ins, and every session of the user ends now."""
    user = get_user(session, actor.instance_id, email)
    if user.disabled_at is None:
        user.disabled_at = utc_now()
        user.setup_token_hash = None
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
        record_change(
            session,
            actor,
            entity_type="user",
            entity_key=user.email,
            operation="update",
            diff={"disabled": [False, True]},
        )
    return user


def reset_password(
    session: Session, actor: Actor, email: str, *, password: str | None = None
) -> str | None:
    """Set a new password (or make a one-time link, returned); signs the user out everywhere."""
    user = get_user(session, actor.instance_id, email)
    if password is None:
        user.password_hash = None
        token: str | None = _new_setup_token(user)
    else:
        user.password_hash = _hasher.hash(check_password(password))
        token = None
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    record_change(
        session,
        actor,
        entity_type="user",
        entity_key=user.email,
        operation="update",
        diff={"password": ["[set]", "[reset]"]},
    )
    return token


def user_for_setup(session: Session, token: str) -> User | None:
    """The user a one-time link is for, while the link is valid."""
    user = session.scalar(select(User).where(User.setup_token_hash == digest(token)))
    if user is None or user.disabled_at is not None or user.setup_expires_at is None:
        return None
    if _aware(user.setup_expires_at) < utc_now():
        return None
    return user


def complete_setup(session: Session, token: str, password: str) -> User:
    user = user_for_setup(session, token)
    if user is None:
        raise UserError("this link is no longer valid")
    user.password_hash = _hasher.hash(check_password(password))
    user.setup_token_hash = None
    user.setup_expires_at = None
    record_change(
        session,
        Actor(instance_id=user.instance_id, api_key_label=actor_label(user.email)),
        entity_type="user",
        entity_key=user.email,
        operation="update",
        diff={"password": ["[unset]", "[set]"]},
    )
    return user


# --- Signing in ----------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; tilsyn stores UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _subjects(email: str, client: str) -> tuple[str, str]:
    return digest(f"account:{email.strip().lower()}"), digest(f"client:{client}")


def sign_in_blocked(session: Session, *, email: str, client: str) -> bool:
    """Too many recent failures for this account or from this address."""
    account, address = _subjects(email, client)
    since = utc_now() - FAILURE_WINDOW
    counts = dict(
        session.execute(
            select(SignInFailure.subject, func.count())
            .where(SignInFailure.subject.in_((account, address)), SignInFailure.at >= since)
            .group_by(SignInFailure.subject)
        ).all()
    )
    return (
        counts.get(account, 0) >= MAX_ACCOUNT_FAILURES
        or counts.get(address, 0) >= MAX_CLIENT_FAILURES
    )


def note_failure(session: Session, *, email: str, client: str) -> None:
    now = utc_now()
    for subject in _subjects(email, client):
        session.add(SignInFailure(subject=subject, at=now))
    # Old failures no longer count; keep the table small.
    session.execute(delete(SignInFailure).where(SignInFailure.at < now - FAILURE_WINDOW))


def check_credentials(session: Session, *, email: str, password: str) -> User | None:
    """The active user with this address and password (the first instance's, if several)."""
    email = email.strip().lower()
    candidates = list(
        session.scalars(
            select(User)
            .where(User.email == email, User.disabled_at.is_(None), User.password_hash.is_not(None))
            .order_by(User.id)
        )
    )
    if not candidates:
        _verify(_DUMMY_HASH, password)
        return None
    for user in candidates:
        if user.password_hash and _verify(user.password_hash, password):
            return user
    return None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str


def start_session(session: Session, user: User, *, hours: float) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utc_now()
    session.add(
        UserSession(
            token_hash=digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.execute(delete(UserSession).where(UserSession.expires_at < now))
    return NewSession(token, csrf)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == digest(token)))


def signed_in(session: Session, token: str) -> SignedIn | None:
    """The user behind a session cookie, while the session lasts and the user is active."""
    row = session.execute(
        select(
            User.id,
            User.email,
            User.role,
            Instance.id,
            Instance.name,
            Instance.environment,
            UserSession.csrf_token,
            UserSession.expires_at,
        )
        .join(User, User.id == UserSession.user_id)
        .join(Instance, Instance.id == User.instance_id)
        .where(UserSession.token_hash == digest(token), User.disabled_at.is_(None))
    ).first()
    if row is None or _aware(row[7]) < utc_now():
        return None
    return SignedIn(*row[:7])


def csrf_matches(expected: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(expected.encode(), sent.encode())
