"""Sign-in form and the server-owned session.

The password check is ours (``dashboard.services.auth.sign_in``: one answer for every failure, in the same
time, throttled in the database without ending open sessions). A successful sign-in starts a session row
(``services.web_sessions``) and gives the page a one-time ticket; the page posts it (a plain form, same
origin) to ``/auth/session``, a route of ours (``dashboard/web/session_routes.py``) that answers with the
session cookie: a random id, ``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS. No script in the page
ever sees or writes the id. The app reads the cookie server-side (``st.context.cookies``) and checks the
session row on every run, so logout, "sign out everywhere", a password change or deactivation end it at once
on every replica.
"""
from __future__ import annotations

import html
import os

import streamlit as st

from dashboard import clock, metrics
from dashboard.lifecycle import Actor
from dashboard.services import auth as auth_service
from dashboard.services import web_sessions
from dashboard.settings import load_settings
from dashboard.ui.context import data_version, engine, tr
from dashboard.ui.safe import plain
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session

SESSION_HASH = "_web_session_hash"  # session_state: the SHA-256 of this browser's session id
SESSION_ID = "_web_session_id"
RESUMED = "_web_session_resumed"  # (data version, id hash, Resumed): the last check, reused while it holds


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def client_address() -> str:
    """The address sign-ins are throttled by. Behind a reverse proxy (``DASHBOARD_BEHIND_PROXY=1``)
    the first ``X-Forwarded-For`` entry, which the proxy must set; else the connection's address."""
    try:
        if _truthy("DASHBOARD_BEHIND_PROXY"):
            forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
            if forwarded:
                return forwarded
        address = st.context.ip_address
        return address if isinstance(address, str) and address else "local"
    except Exception:  # no browser context (AppTest)
        return "local"


def _user_agent() -> str:
    try:
        agent = st.context.headers.get("User-Agent")
        return agent if isinstance(agent, str) else ""
    except Exception:  # no browser context (AppTest)
        return ""


def _cookie_hash() -> str | None:
    try:
        value = st.context.cookies.get(web_sessions.COOKIE_NAME)
    except Exception:  # no browser context (AppTest)
        return None
    return web_sessions.digest(value) if isinstance(value, str) and value else None


def _forget() -> None:
    for key in ("actor", SESSION_HASH, SESSION_ID, RESUMED):
        st.session_state.pop(key, None)


def _post_form(action: str, fields: dict[str, str], label: str) -> None:
    """A same-origin form the browser submits at once (a button if scripts are off). It carries the one-time
    ticket, never the session id: that comes back only in the route's ``Set-Cookie`` header."""
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items())
    st.html(f'<form id="session-handoff" method="post" action="{action}">{inputs}'
            f'<button type="submit">{html.escape(label)}</button></form>'
            '<script>document.getElementById("session-handoff").submit();</script>',
            unsafe_allow_javascript=True)


def _login_form() -> None:
    placeholder = st.empty()
    with placeholder.form("login_form"):
        st.subheader(tr("login.title"))
        username = st.text_input(tr("login.username"), autocomplete="off", key="login_username")
        password = st.text_input(tr("login.password"), type="password", autocomplete="off", key="login_password")
        submitted = st.form_submit_button(tr("login.submit"))
    if not submitted:
        return
    address = client_address()
    with unit_of_work(engine()) as session:
        result = auth_service.sign_in(session, username, password, address)
        ticket = None
        if result.ok:
            ticket = web_sessions.start(session, result.actor, address, _user_agent(),  # type: ignore[arg-type]  # a successful sign-in names its actor
                                        web_sessions.Notice(result.failed_attempts, result.last_failed_at))
    metrics.SIGN_INS.labels(outcome="ok" if result.ok else
                            "throttled" if result.message_key == "login.throttled" else "failed").inc()
    if ticket is None:
        message = tr(result.message_key or "login.failed", **result.params)
        if result.attempts_left:  # the same count for every name from this client: nothing to learn
            with read_session(engine()) as session:
                minutes = load_settings(session).lockout_minutes
            message += tr("login.attempts_left", left=result.attempts_left, minutes=minutes)
        st.error(message)
        return
    placeholder.empty()
    st.info(tr("login.entering"))
    _post_form("/auth/session", {"ticket": ticket}, tr("login.enter"))


def _failed_attempts_notice(session_id: int) -> None:
    with unit_of_work(engine()) as session:
        notice = web_sessions.take_notice(session, session_id)
    if notice is not None:
        at = notice.last_failed_at.strftime("%Y-%m-%d %H:%M") if notice.last_failed_at else "?"
        st.warning(plain(tr("login.failed_attempts_notice", count=notice.failed, at=at)))


def signed_in_actor() -> Actor | None:
    """The actor of this browser's live session; else the login form (and None)."""
    if st.session_state.pop("_clear_cookie", False):  # after logout: the route clears the dead cookie
        _post_form("/auth/logout", {}, tr("login.logout"))
        return None
    id_hash = st.session_state.get(SESSION_HASH) or _cookie_hash()
    resumed = _resume(id_hash)
    if resumed is None:
        if st.session_state.get(SESSION_HASH):
            st.warning(tr("login.session_ended"))
        _forget()
        _login_form()
        return None
    first_run = st.session_state.get(SESSION_ID) != resumed.session_id
    st.session_state.update({SESSION_HASH: id_hash, SESSION_ID: resumed.session_id, "actor": resumed.actor})
    if resumed.stale:
        with unit_of_work(engine()) as session:
            web_sessions.touch(session, resumed.session_id)
    if first_run:
        _failed_attempts_notice(resumed.session_id)
    return resumed.actor


def _resume(id_hash: str | None) -> web_sessions.Resumed | None:
    """The session row is read again only when the data version changed (a logout, "sign out everywhere", a
    password, role or unit change, deactivation or a changed setting all write, audited) or when the last answer
    stops holding (a touch is due, or the session would expire): not on every rerun."""
    version = data_version()
    last = st.session_state.get(RESUMED)
    if (last is not None and last[0] == version and last[1] == id_hash and last[2].holds_until is not None
            and clock.now() < last[2].holds_until):
        return last[2]
    with read_session(engine()) as session:
        resumed = web_sessions.resume(session, id_hash)
    if resumed is None:
        st.session_state.pop(RESUMED, None)
    else:
        st.session_state[RESUMED] = (version, id_hash, resumed)
    return resumed


def current_session_id() -> int | None:
    return st.session_state.get(SESSION_ID)


def logout(actor: Actor) -> None:
    """This browser's session ends on every replica; the next run has the route clear the cookie."""
    session_id = current_session_id()
    if session_id is not None:
        with unit_of_work(engine()) as session:
            web_sessions.end_current(session, actor, session_id)
    _forget()
    st.session_state["_clear_cookie"] = True
    st.rerun()
