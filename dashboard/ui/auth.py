"""Login with streamlit-authenticator over the users in the database.

The library's own logout leaves a valid cookie behind (a reload logs the user back in), and
its cookie carries only the username. We add the user's token version to the cookie and
compare it with the database on every run; logout, password change and deactivation bump it.
"""
from __future__ import annotations

import os
import secrets

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.models.cookie_model import CookieModel

from dashboard import config
from dashboard.lifecycle import Actor
from dashboard.services import auth as auth_service
from dashboard.settings import load_settings
from dashboard.ui.context import engine, reading, tr
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work

COOKIE_NAME = "zhenggai_login"
COOKIE_DAYS = 7
WEAK_KEYS = {"", "some_key", "change-me", "changeme", "secret"}


def _token_encode(self: CookieModel) -> str:
    """The library's cookie payload plus our token version (checked on every run)."""
    return jwt.encode({"username": st.session_state["username"], "exp_date": self.exp_date,
                       "tv": st.session_state.get("token_version")}, self.cookie_key, algorithm="HS256")


_library_get_cookie = CookieModel.get_cookie


def _get_cookie(self: CookieModel):
    """Honour the login cookie only while its token version is the user's current one."""
    token = _library_get_cookie(self)
    if not isinstance(token, dict):
        return None
    with read_session(engine()) as session:
        if auth_service.resume(session, token.get("username", ""), token.get("tv")) is None:
            return None
    st.session_state["token_version"] = token.get("tv")
    return token


CookieModel._token_encode = _token_encode  # type: ignore[method-assign]
CookieModel.get_cookie = _get_cookie  # type: ignore[method-assign]


class CookieKeyMissing(RuntimeError):
    pass


def cookie_key() -> str:
    """From Streamlit secrets or DASHBOARD_COOKIE_KEY; demo mode generates one and keeps it locally."""
    key = os.environ.get("DASHBOARD_COOKIE_KEY", "")
    if not key:
        try:
            key = str(st.secrets.get("cookie_key", ""))
        except Exception:  # no secrets.toml at all
            key = ""
    if key.strip() and key.strip().lower() not in WEAK_KEYS and len(key) >= 16:
        return key
    if config.is_production():
        raise CookieKeyMissing(tr("login.cookie_key_missing"))
    path = config.data_dir() / "cookie_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _authenticator() -> stauth.Authenticate:
    with read_session(engine()) as session:
        credentials = auth_service.credentials(session)
    return stauth.Authenticate(credentials, cookie_name=COOKIE_NAME, cookie_key=cookie_key(),
                               cookie_expiry_days=COOKIE_DAYS, auto_hash=False, login_sleep_time=0)


def _on_login(event: dict) -> None:
    with unit_of_work(engine()) as session:
        result = auth_service.record_login(session, event["username"])
    if result is not None:
        st.session_state["actor"], st.session_state["token_version"] = result


def _forget(authenticator: stauth.Authenticate | None = None) -> None:
    for key in ("actor", "token_version", "authentication_status", "username", "name", "roles", "email"):
        st.session_state.pop(key, None)
    if authenticator is not None:
        try:
            authenticator.cookie_controller.delete_cookie()
        except Exception:  # the cookie component is not rendered in every context (tests)
            pass


def signed_in_actor() -> Actor | None:
    """Render the login form if needed; return the actor of a valid session, else None."""
    authenticator = _authenticator()
    st.session_state.setdefault("authentication_status", None)
    fields = {"Form name": tr("login.title"), "Username": tr("login.username"),
              "Password": tr("login.password"), "Login": tr("login.submit")}
    authenticator.login(location="main", fields=fields, key="login_form", callback=_on_login)
    status = st.session_state.get("authentication_status")
    if status is False:
        _report_failure(authenticator)
        return None
    if not status:
        return None
    username = st.session_state.get("username")
    with read_session(engine()) as session:
        actor = auth_service.resume(session, username, st.session_state.get("token_version"))
    if actor is None:
        _forget(authenticator)
        st.warning(tr("login.session_ended"))
        st.rerun()
    st.session_state["actor"] = actor
    st.session_state["_authenticator"] = authenticator
    return actor


def _report_failure(authenticator: stauth.Authenticate) -> None:
    failed = [name for name, entry in authenticator.authentication_controller.authentication_model
              .credentials["usernames"].items() if entry.get("failed_login_attempts")]
    state = None
    if failed:
        with unit_of_work(engine()) as session:
            state = auth_service.record_failed_login(session, failed[0])
    if state is not None and state.reason_key:
        until = state.until.strftime("%H:%M") if state.until else ""
        st.error(tr(state.reason_key, until=until))
    elif state is not None and state.attempts_left is not None:
        with reading() as session:
            minutes = load_settings(session).lockout_minutes
        st.error(tr("login.failed_attempts_left", left=state.attempts_left, minutes=minutes))
    else:
        st.error(tr("login.failed"))


def logout(actor: Actor) -> None:
    with unit_of_work(engine()) as session:
        auth_service.logout(session, actor)
    _forget(st.session_state.get("_authenticator"))
    st.session_state["_logged_out"] = True
    st.rerun()
