"""Sign-in rules, kept apart from the login widget: one answer for every failure, throttling,
demo passwords, token versions.

Every failed sign-in is answered the same way and in about the same time: a wrong password, an
unknown name, a deactivated account, a demo password in production all read "用户名或密码不正确",
and an unknown name is checked against a dummy bcrypt hash of the same cost as a real one.

Too many failures are throttled, not punished: the *client* (its address) and the *account name*
(known or not, so throttling tells nothing either) are refused for a while, but nothing is written
that could end a session already open, and the account itself is never locked. The failures
are recorded on the account (``failed_logins``) and in the audit log, and the owner is told at
their next sign-in.

A user's ``token_version`` is written into the login cookie; logout, a password change, a
role/unit change and deactivation bump it, so every older cookie and session stops working.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from dashboard import clock, config
from dashboard.lifecycle import SYSTEM, Actor
from dashboard.passwords import verify_password, waste_time_like_a_check
from dashboard.services.common import actor_of, audit
from dashboard.settings import load_settings
from db.models import AuditLog, User

CLIENT_FACTOR = 4  # a client (perhaps a whole office behind one address) gets this many times the account limit


class Throttle:
    """Failed sign-ins per client, per account name and per (client, account), over a sliding window.

    Kept in the server process (Streamlit serves every session from one process); a restart
    forgets it, which at worst grants a few more attempts.
    """

    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], deque[dt.datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()

    def _recent(self, key: tuple[str, str], since: dt.datetime) -> deque[dt.datetime]:
        times = self._failures[key]
        while times and times[0] <= since:
            times.popleft()
        return times

    def blocked_until(self, client: str, name: str, now: dt.datetime, limit: int,
                      window: dt.timedelta) -> dt.datetime | None:
        since = now - window
        with self._lock:
            for key, most in ((("pair", f"{client}\n{name}"), limit), (("client", client), limit * CLIENT_FACTOR),
                              (("account", name), limit * CLIENT_FACTOR)):
                times = self._recent(key, since)
                if len(times) >= most:
                    return times[-most] + window
        return None

    def attempts_left(self, client: str, name: str, now: dt.datetime, limit: int, window: dt.timedelta) -> int:
        """Failed sign-ins this client may still make on this name before it is throttled. The same
        for a name that exists and one that does not: it tells a stranger nothing."""
        with self._lock:
            return max(0, limit - len(self._recent(("pair", f"{client}\n{name}"), now - window)))

    def failed(self, client: str, name: str, now: dt.datetime) -> None:
        with self._lock:
            for key in (("pair", f"{client}\n{name}"), ("client", client), ("account", name)):
                self._failures[key].append(now)


THROTTLE = Throttle()


@dataclass
class SignInResult:
    actor: Actor | None = None
    token_version: int | None = None
    message_key: str | None = None  # for a refusal: the one answer every failure gets
    params: dict[str, Any] = field(default_factory=dict)
    failed_attempts: int = 0  # for the owner: failures since their last sign-in
    attempts_left: int | None = None  # after a failure: how many more before this client is throttled
    last_failed_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.actor is not None


def may_sign_in(user: User, password: str | None = None) -> bool:
    """Active, and in production not on the demo password (flagged, or typed)."""
    if not user.active:
        return False
    if config.is_production() and (user.is_demo_password or password == config.DEMO_PASSWORD):
        return False
    return True


def _user(session: Session, username: str, lock: bool = False) -> User | None:
    statement = select(User).where(User.username == username.strip().lower())
    if lock:
        statement = statement.with_for_update()
    return session.execute(statement).scalars().first()


def sign_in(session: Session, username: str, password: str, client: str = "local") -> SignInResult:
    """Check a sign-in. Returns the actor, or the one refusal every failure gets."""
    name = (username or "").strip().lower()
    now = clock.now()
    settings = load_settings(session)
    window = dt.timedelta(minutes=settings.lockout_minutes)
    until = THROTTLE.blocked_until(client, name, now, settings.lockout_failures, window)
    if until is not None:
        minutes = max(1, -(-int((until - now).total_seconds()) // 60))
        return SignInResult(message_key="login.throttled", params={"minutes": minutes})
    user = _user(session, name, lock=True) if name else None
    if user is None:
        waste_time_like_a_check(password or "")
        correct = False
    else:
        correct = verify_password(password or "", user.password_hash) and may_sign_in(user, password)
    if not correct:
        THROTTLE.failed(client, name, now)
        if user is not None:
            user.failed_logins += 1
            audit(session, SYSTEM, "failed_login", user, new={"failed_logins": user.failed_logins},
                  note=f"failed sign-in from {client}")
        else:  # logged as well: a security record, and the same write (and commit) as for a real account
            session.add(AuditLog(at=now, username="system", action="failed_login", entity="User",
                                 new={"username": name[:60]}, note=f"failed sign-in from {client}"))
        return SignInResult(message_key="login.failed", attempts_left=THROTTLE.attempts_left(
            client, name, now, settings.lockout_failures, window))
    result = SignInResult(actor=actor_of(user), token_version=user.token_version,
                          failed_attempts=user.failed_logins)
    if user.failed_logins:
        result.last_failed_at = session.execute(
            select(AuditLog.at).where(AuditLog.entity == "User", AuditLog.entity_id == user.id,
                                      AuditLog.action == "failed_login").order_by(AuditLog.id.desc())).scalar()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return result


def resume(session: Session, username: str, token_version: int | None) -> Actor | None:
    """The actor for a session or cookie, or None if the user was logged out everywhere since.

    Failed sign-ins by others never end a session: only logout, a password, role or unit change,
    deactivation, or (in production) a demo password do.
    """
    user = _user(session, username or "")
    if user is None or token_version is None or user.token_version != token_version:
        return None
    if not may_sign_in(user):
        return None
    return actor_of(user)


def logout(session: Session, actor: Actor) -> None:
    """End every session and cookie of this user."""
    user = session.get(User, actor.id, with_for_update=True)
    if user is not None:
        user.token_version += 1
        audit(session, actor, "logout", user, new={"token_version": user.token_version})
