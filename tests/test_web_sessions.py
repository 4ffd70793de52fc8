"""Server-owned browser sessions (services.web_sessions): a ticket is exchanged once and only within a minute;
sessions end by idle time, by age, by a password change, by logout, by "sign out the others" and by an admin,
at once for every replica (they read the same rows); the failed-sign-in notice is told once."""
from __future__ import annotations

import datetime as dt

import pytest

from dashboard import clock
from dashboard.errors import PermissionDenied
from dashboard.services import admin, web_sessions
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from tests.conftest import TODAY

NOON = dt.datetime.combine(TODAY, dt.time(12, 0))


def do(engine, fn, *args):
    with unit_of_work(engine) as session:
        return fn(session, *args)


NO_NOTICE = web_sessions.Notice(0, None)


def signed_in(engine, actor, notice=NO_NOTICE) -> str:
    """Sign-in as the page and the cookie route do it; returns the hash the app keeps."""
    ticket = do(engine, web_sessions.start, actor, "10.0.0.1", "Chromium", notice)
    return web_sessions.digest(do(engine, web_sessions.exchange, ticket))


def resumed(engine, id_hash):
    with read_session(engine) as session:
        found = web_sessions.resume(session, id_hash)
    return found.actor.username if found else None


def test_a_ticket_is_exchanged_once_and_only_within_a_minute(engine, world):
    leader = world.actors["leader"]
    with clock.frozen(NOON):
        ticket = do(engine, web_sessions.start, leader, "10.0.0.1", "Chromium", web_sessions.Notice(0, None))
        session_id = do(engine, web_sessions.exchange, ticket)
        assert session_id and len(session_id) >= 40
        assert do(engine, web_sessions.exchange, ticket) is None  # a second time: nothing
        late = do(engine, web_sessions.start, leader, "10.0.0.1", "Chromium", web_sessions.Notice(0, None))
    with clock.frozen(NOON + dt.timedelta(seconds=web_sessions.TICKET_SECONDS + 1)):
        assert do(engine, web_sessions.exchange, late) is None
        assert resumed(engine, web_sessions.digest(session_id)) == "leader"
    assert do(engine, web_sessions.exchange, "made-up") is None


def test_idle_and_age_end_a_session(engine, world):
    leader = world.actors["leader"]
    with clock.frozen(NOON):
        id_hash = signed_in(engine, leader)
    with clock.frozen(NOON + dt.timedelta(minutes=119)):
        found = None
        with read_session(engine) as session:
            found = web_sessions.resume(session, id_hash)
        assert found is not None and found.stale
        do(engine, web_sessions.touch, found.session_id)
    with clock.frozen(NOON + dt.timedelta(minutes=119 + 121)):  # idle past session_idle_minutes (120)
        assert resumed(engine, id_hash) is None
    with clock.frozen(NOON):
        busy = signed_in(engine, leader)
    for hour in range(1, 13):  # used every hour: still ends session_max_hours (12) after sign-in
        with clock.frozen(NOON + dt.timedelta(hours=hour, seconds=1)):
            with read_session(engine) as session:
                found = web_sessions.resume(session, busy)
            if found:
                do(engine, web_sessions.touch, found.session_id)
    assert found is None and hour == 12


def test_password_change_logout_others_and_admin_end_sessions(engine, world):
    leader, inspector, admin_actor = (world.actors[k] for k in ("leader", "inspector", "admin"))
    desk, phone, tablet = (signed_in(engine, leader) for _ in range(3))
    with read_session(engine) as session:
        desk_id = web_sessions.resume(session, desk).session_id
    assert do(engine, web_sessions.end_others, leader, desk_id) == 2
    assert [resumed(engine, h) for h in (desk, phone, tablet)] == ["leader", None, None]
    do(engine, web_sessions.end_current, leader, desk_id)
    assert resumed(engine, desk) is None

    again = signed_in(engine, leader)
    with pytest.raises(PermissionDenied):  # an inspector cannot end the leader's sessions …
        do(engine, web_sessions.end_all, inspector, leader.id)
    with pytest.raises(PermissionDenied):  # … nor list them
        with read_session(engine) as session:
            web_sessions.listing(session, inspector, leader.id, None)
    assert resumed(engine, again) == "leader"
    with read_session(engine) as session:
        assert [row.username for row in web_sessions.listing(session, admin_actor, None, None)] == ["leader"]
    assert do(engine, web_sessions.end_all, admin_actor, leader.id) == 1  # the admin can
    assert resumed(engine, again) is None

    latest = signed_in(engine, leader)
    do(engine, admin.set_password, admin_actor, leader.id, "整改台账-ledger-7q")  # a new password ends it too
    assert resumed(engine, latest) is None


def test_the_failed_sign_in_notice_is_told_once(engine, world):
    at = NOON - dt.timedelta(hours=1)
    id_hash = signed_in(engine, world.actors["leader"], web_sessions.Notice(3, at))
    with read_session(engine) as session:
        session_id = web_sessions.resume(session, id_hash).session_id
    assert do(engine, web_sessions.take_notice, session_id) == web_sessions.Notice(3, at)
    assert do(engine, web_sessions.take_notice, session_id) is None
