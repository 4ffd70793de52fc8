"""Sign-in rules, kept apart from the login widget: lockout, demo passwords, token versions.

A user's ``token_version`` is written into the login cookie; logout, a password change, a
role/unit change and deactivation bump it, so every older cookie and session stops working.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from dashboard import clock, config
from dashboard.lifecycle import Actor
from dashboard.passwords import hash_password
from dashboard.services.common import actor_of, audit
from dashboard.settings import load_settings
from db.models import User

# A real bcrypt hash of a secret nobody knows: offered for accounts that may not sign in now,
# so the form answers exactly as for a wrong password and the attempt is still counted.
_UNUSABLE_HASH = hash_password("!unusable!" + dt.datetime.now().isoformat())


@dataclass
class LoginState:
    may_sign_in: bool
    reason_key: str | None = None
    until: dt.datetime | None = None
    attempts_left: int | None = None  # failed sign-ins still allowed before the account is locked


def login_state(user: User, now: dt.datetime | None = None) -> LoginState:
    now = now or clock.now()
    if not user.active:
        return LoginState(False, "login.inactive")
    if user.locked_until is not None and user.locked_until > now:
        return LoginState(False, "login.locked", user.locked_until)
    if config.is_production() and user.is_demo_password:
        return LoginState(False, "login.demo_password_refused")
    return LoginState(True)


def credentials(session: Session) -> dict:
    """The credentials dictionary streamlit-authenticator expects, built from the database."""
    entries = {}
    for user in session.execute(select(User)).scalars():
        usable = login_state(user).may_sign_in
        entries[user.username] = {
            "name": user.display_name,
            "password": user.password_hash if usable else _UNUSABLE_HASH,
            "email": f"{user.username}@local",
            "roles": [user.role],
            "failed_login_attempts": 0,
            "logged_in": False,
        }
    return {"usernames": entries}


def _user(session: Session, username: str, lock: bool = False) -> User | None:
    statement = select(User).where(User.username == username.strip().lower())
    if lock:
        statement = statement.with_for_update()
    return session.execute(statement).scalars().first()


def record_failed_login(session: Session, username: str) -> LoginState | None:
    """Count a failed attempt; lock the account for a while after too many. Unknown names: nothing."""
    user = _user(session, username, lock=True)
    if user is None:
        return None
    state = login_state(user)
    if not state.may_sign_in:
        return state
    settings = load_settings(session)
    user.failed_logins += 1
    note = f"failed login {user.failed_logins}"
    if user.failed_logins >= settings.lockout_failures:
        user.locked_until = clock.now() + dt.timedelta(minutes=settings.lockout_minutes)
        user.failed_logins = 0
        note = "locked after repeated failed logins"
    audit(session, None, "failed_login", user, new={"failed_logins": user.failed_logins,
                                                    "locked_until": user.locked_until.isoformat()
                                                    if user.locked_until else None}, note=note)
    state = login_state(user)
    if state.may_sign_in:
        state.attempts_left = settings.lockout_failures - user.failed_logins
    return state


def record_login(session: Session, username: str) -> tuple[Actor, int] | None:
    """After a correct password: reset the failure count; return the actor and its token version."""
    user = _user(session, username, lock=True)
    if user is None or not login_state(user).may_sign_in:
        return None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = clock.now()
    return actor_of(user), user.token_version


def resume(session: Session, username: str, token_version: int | None) -> Actor | None:
    """The actor for a session or cookie, or None if the user was logged out everywhere since."""
    user = _user(session, username)
    if user is None or token_version is None or user.token_version != token_version:
        return None
    if not login_state(user).may_sign_in:
        return None
    return actor_of(user)


def logout(session: Session, actor: Actor) -> None:
    """End every session and cookie of this user."""
    user = session.get(User, actor.id, with_for_update=True)
    if user is not None:
        user.token_version += 1
        audit(session, actor, "logout", user, new={"token_version": user.token_version})
