"""Sign-in rules, kept apart from the login widget: one answer for every failure, throttling,
demo passwords, token versions.

Every failed sign-in is answered the same way and in about the same time: a wrong password, an
unknown name, a deactivated account, a demo password in production all read "用户名或密码不正确",
and an unknown name is checked against a dummy hash of the same cost as a real one.

Too many failures are throttled, not punished: an account name from one address, an account from
anywhere, and an address on names that are no account are refused for a while (counted in
``sign_in_failure``, the same on every replica), but nothing is written that could end a session
already open, and the account itself is never locked. The failures
are recorded on the account (``failed_logins``) and in the audit log, and the owner is told at
their next sign-in.

A user's ``token_version`` is kept on each of their browser sessions (``services.web_sessions``); a
password change, a role/unit change and deactivation bump it, so every session they had stops working.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlmodel import Session

from dashboard import clock, config
from dashboard.lifecycle import SYSTEM, Actor
from dashboard.passwords import hash_password, needs_rehash, verify_password, waste_time_like_a_check
from dashboard.services import data_version
from dashboard.services.common import actor_of, audit
from dashboard.settings import load_settings
from db.models import AuditLog, SignInFailure, User

CLIENT_FACTOR = 4  # one account, from any number of addresses: this many times the per-address limit
UNKNOWN_NAMES_FACTOR = 10  # one address, on names that are no account: high, and never blocks a real account


def _nth_latest_failure(session: Session, condition, since: dt.datetime, nth: int) -> dt.datetime | None:
    return session.execute(select(SignInFailure.at).where(condition, SignInFailure.at > since)
                           .order_by(SignInFailure.at.desc()).offset(nth - 1).limit(1)).scalar()


def throttled_until(session: Session, client: str, name: str, known: bool, now: dt.datetime, limit: int,
                    window: dt.timedelta) -> dt.datetime | None:
    """When this client may try this name again, or None. Counted in the database, so every replica counts the
    same failures and a restart forgets none. First per account and address (an office behind one address is
    never locked out by one machine in it guessing); per account from anywhere, higher; and per address only
    for names that are no account, higher still, so guessing names does not block the office's real users."""
    failure = SignInFailure
    checks = [(and_(failure.username == name, failure.address == client), limit),
              (failure.username == name, limit * CLIENT_FACTOR)]
    if not known:
        checks.append((and_(failure.address == client, failure.known.is_(False)), limit * UNKNOWN_NAMES_FACTOR))
    since = now - window
    for condition, most in checks:
        nth = _nth_latest_failure(session, condition, since, most)
        if nth is not None:
            return nth + window
    return None


def attempts_left(session: Session, client: str, name: str, now: dt.datetime, limit: int,
                  window: dt.timedelta) -> int:
    """Failed sign-ins this client may still make on this name before it is throttled. The same for a name
    that exists and one that does not: it tells a stranger nothing."""
    recent = session.execute(select(func.count()).select_from(SignInFailure).where(
        SignInFailure.username == name, SignInFailure.address == client,
        SignInFailure.at > now - window)).scalar_one()
    return max(0, limit - recent)


def record_failure(session: Session, client: str, name: str, known: bool, now: dt.datetime,
                   window: dt.timedelta) -> None:
    """One more failure; failures older than the window (and a day) are no longer needed."""
    session.execute(delete(SignInFailure).where(SignInFailure.at < now - max(window, dt.timedelta(days=1))))
    session.add(SignInFailure(at=now, username=name[:60], address=client[:64], known=known))
    session.flush()


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
    user = _user(session, name, lock=True) if name else None
    until = throttled_until(session, client, name, user is not None, now, settings.lockout_failures, window)
    if until is not None:
        minutes = max(1, -(-int((until - now).total_seconds()) // 60))
        return SignInResult(message_key="login.throttled", params={"minutes": minutes})
    if user is None:
        waste_time_like_a_check(password or "")
        correct = False
    else:
        correct = verify_password(password or "", user.password_hash) and may_sign_in(user, password)
    if not correct:
        record_failure(session, client, name, user is not None, now, window)
        if user is not None:
            user.failed_logins += 1
            audit(session, SYSTEM, "failed_login", user, new={"failed_logins": user.failed_logins},
                  note=f"failed sign-in from {client}")
        else:  # logged as well: a security record, and the same write (and commit) as for a real account
            session.add(AuditLog(at=now, username="system", action="failed_login", entity="User",
                                 new={"username": name[:60]}, note=f"failed sign-in from {client}"))
        return SignInResult(message_key="login.failed", attempts_left=attempts_left(
            session, client, name, now, settings.lockout_failures, window))
    result = SignInResult(actor=actor_of(user), token_version=user.token_version,
                          failed_attempts=user.failed_logins)
    if user.failed_logins:
        result.last_failed_at = session.execute(
            select(AuditLog.at).where(AuditLog.entity == "User", AuditLog.entity_id == user.id,
                                      AuditLog.action == "failed_login").order_by(AuditLog.id.desc())).scalar()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):  # a bcrypt hash from before Argon2id: the password is known right now
        user.password_hash = hash_password(password)
    # Fifty people signing in to a meeting must not empty every replica's page caches fifty times
    data_version.quiet_here(session, User.__tablename__)
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

