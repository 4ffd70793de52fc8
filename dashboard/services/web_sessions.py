"""Browser sessions the server owns (``web_session``): started by a sign-in, carried by an HttpOnly cookie that
holds only a random id (the table keeps its SHA-256), ended by logout, by "sign out the others" or an admin's
"sign out everywhere", by a password, role or unit change or deactivation (the user's ``token_version``), after
``session_idle_minutes`` unused, and ``session_max_hours`` after sign-in whatever happens. Every replica reads the
same rows on every page run, so an ended session is ended everywhere at once.

The sign-in itself (``auth.sign_in``) runs in the page; the page cannot set an HttpOnly cookie, so it gets a
one-time *ticket* (short-lived, kept hashed) and the browser exchanges it at ``/auth/session`` (a route of ours)
for the session id, in a ``Set-Cookie`` header no script can read.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import Session

from dashboard import clock
from dashboard.errors import NotFound
from dashboard.lifecycle import Action, Actor, check_role
from dashboard.services.auth import may_sign_in
from dashboard.services.common import actor_of, audit
from dashboard.settings import Settings, load_settings
from db.models import User, WebSession

COOKIE_NAME = "zhenggai_session"  # set and cleared only by dashboard/web/session_routes.py
TICKET_SECONDS = 60  # a ticket not exchanged within a minute is void
TOUCH_SECONDS = 60  # last seen is written at most once a minute per session


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Notice:
    failed: int
    last_failed_at: dt.datetime | None


@dataclass(frozen=True)
class SessionListing:
    id: int
    user_id: int
    username: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    address: str
    user_agent: str
    current: bool


def start(session: Session, actor: Actor, address: str, user_agent: str, notice: Notice) -> str:
    """After a successful sign-in: a session waiting for its cookie; returns the one-time ticket (shown once)."""
    user = session.get(User, actor.id)
    ticket = secrets.token_urlsafe(32)
    session.add(WebSession(ticket_hash=digest(ticket), user_id=actor.id, token_version=user.token_version,
                           address=address[:64], user_agent=user_agent[:200], failed_notice=notice.failed,
                           failed_notice_at=notice.last_failed_at))
    session.flush()
    return ticket


def exchange(session: Session, ticket: str) -> str | None:
    """The session id for a ticket, once, within ``TICKET_SECONDS``; None for anything else."""
    row = session.execute(select(WebSession).where(WebSession.ticket_hash == digest(ticket or ""))
                          .with_for_update()).scalars().first()
    now = clock.now()
    if row is None or row.ended_at is not None:
        return None
    row.ticket_hash = None  # used: a second exchange of the same ticket finds nothing
    if (now - row.created_at).total_seconds() > TICKET_SECONDS:
        row.ended_at, row.ended_reason = now, "ticket_expired"
        return None
    session_id = secrets.token_urlsafe(32)
    row.id_hash, row.last_seen_at = digest(session_id), now
    return session_id


def _alive(row: WebSession, user: User, settings: Settings, now: dt.datetime) -> bool:
    return (row.ended_at is None and row.id_hash is not None and row.token_version == user.token_version
            and may_sign_in(user)
            and now - row.last_seen_at <= dt.timedelta(minutes=settings.session_idle_minutes)
            and now - row.created_at <= dt.timedelta(hours=settings.session_max_hours))


@dataclass(frozen=True)
class Resumed:
    actor: Actor
    session_id: int
    stale: bool  # last seen more than a minute ago: write it (``touch``)
    # until when this answer holds if nothing is written meanwhile: the next touch is due, or the session would
    # expire (idle or too old). Anything else that ends a session writes (audited, or the user's row), which a
    # caller sees as a new data version (services/data_version.py).
    holds_until: dt.datetime | None = None


def resume(session: Session, id_hash: str | None) -> Resumed | None:
    """The actor of a live session, or None (unknown, ended, idle too long, too old, user changed)."""
    if not id_hash:
        return None
    found = session.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                            .where(WebSession.id_hash == id_hash)).first()
    if found is None:
        return None
    row, user = found
    now = clock.now()
    settings = load_settings(session)
    if not _alive(row, user, settings, now):
        return None
    holds_until = min(row.last_seen_at + dt.timedelta(seconds=TOUCH_SECONDS),
                      row.last_seen_at + dt.timedelta(minutes=settings.session_idle_minutes),
                      row.created_at + dt.timedelta(hours=settings.session_max_hours))
    return Resumed(actor_of(user), row.id, (now - row.last_seen_at).total_seconds() > TOUCH_SECONDS, holds_until)


def touch(session: Session, session_id: int) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=clock.now()))


def take_notice(session: Session, session_id: int) -> Notice | None:
    """The failed sign-ins to tell the owner on the session's first page; told once."""
    row = session.get(WebSession, session_id, with_for_update=True)
    if row is None or not row.failed_notice:
        return None
    notice = Notice(row.failed_notice, row.failed_notice_at)
    row.failed_notice, row.failed_notice_at = 0, None
    return notice


def _end(session: Session, actor: Actor, rows: list[WebSession], reason: str) -> int:
    now = clock.now()
    for row in rows:
        row.ended_at, row.ended_reason = now, reason
        audit(session, actor, "end_session", row, new={"user_id": row.user_id, "reason": reason})
    return len(rows)


def _open_rows(session: Session, user_id: int, except_id: int | None = None) -> list[WebSession]:
    statement = select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    if except_id is not None:
        statement = statement.where(WebSession.id != except_id)
    return list(session.execute(statement.with_for_update()).scalars())


def end_current(session: Session, actor: Actor, session_id: int) -> None:
    """Logout: this browser's session ends, on every replica."""
    row = session.get(WebSession, session_id, with_for_update=True)
    if row is not None and row.user_id == actor.id and row.ended_at is None:
        _end(session, actor, [row], "logout")


def end_others(session: Session, actor: Actor, session_id: int) -> int:
    """"Sign out the others": every session of this user but this one."""
    return _end(session, actor, _open_rows(session, actor.id, except_id=session_id), "signed_out_others")


def end_all(session: Session, actor: Actor, user_id: int) -> int:
    """An admin's "sign out everywhere" for any user (a user may do it for themselves)."""
    if user_id != actor.id:
        check_role(actor, Action.MANAGE_USERS)
    return _end(session, actor, _open_rows(session, user_id), "ended_everywhere")


def end_one(session: Session, actor: Actor, web_session_id: int) -> None:
    """One session, by the admin or by its owner."""
    row = session.get(WebSession, web_session_id, with_for_update=True)
    if row is None:
        raise NotFound("error.session_not_found")
    if row.user_id != actor.id:
        check_role(actor, Action.MANAGE_USERS)
    if row.ended_at is None:
        _end(session, actor, [row], "ended_by_admin" if row.user_id != actor.id else "ended_by_owner")


def listing(session: Session, actor: Actor, user_id: int | None, current_id: int | None) -> list[SessionListing]:
    """Live sessions of one user (their own for anyone; any user's, or every user's with None, for an admin)."""
    if user_id != actor.id:
        check_role(actor, Action.MANAGE_USERS)
    statement = (select(WebSession, User).join(User, User.id == WebSession.user_id)
                 .where(WebSession.ended_at.is_(None), WebSession.id_hash.is_not(None))
                 .order_by(WebSession.last_seen_at.desc()))
    if user_id is not None:
        statement = statement.where(WebSession.user_id == user_id)
    settings, now = load_settings(session), clock.now()
    return [SessionListing(row.id, row.user_id, user.username, row.created_at, row.last_seen_at, row.address,
                           row.user_agent, row.id == current_id)
            for row, user in session.execute(statement).all() if _alive(row, user, settings, now)]
