"""Sign-in form and login cookie.

The password check is ours (``dashboard.services.auth.sign_in``: one answer for every failure,
in the same time, throttled without ending open sessions). streamlit-authenticator's cookie
controller keeps the login cookie. Its logout leaves a valid cookie behind and its cookie carries
only the username, so we add the user's token version to the cookie and compare it with the
database on every run; logout, password change and deactivation bump it.

The cookie is written by a JavaScript component in the browser (extra-streamlit-components'
CookieManager, through ``document.cookie``), so it is ``SameSite=Strict`` and, where the
deployment uses HTTPS, ``Secure``; it cannot be ``HttpOnly`` (only a ``Set-Cookie`` response
header can set that, and Streamlit gives the app no way to send one). Its token is signed and
checked against the token version on every run.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets

import jwt
import streamlit as st
from streamlit_authenticator.controllers.cookie_controller import CookieController
from streamlit_authenticator.models.cookie_model import CookieModel

from dashboard import config
from dashboard.lifecycle import Actor
from dashboard.services import auth as auth_service
from dashboard.settings import load_settings
from dashboard.ui.context import engine, tr
from dashboard.ui.safe import plain
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session

COOKIE_NAME = "zhenggai_login"
COOKIE_DAYS = 7
WEAK_KEYS = {"", "some_key", "change-me", "changeme", "secret"}


def uses_https() -> bool:
    """``DASHBOARD_HTTPS=1``, or the page was opened over HTTPS (directly or via the reverse proxy)."""
    if os.environ.get("DASHBOARD_HTTPS", "").strip().lower() in ("1", "true", "yes"):
        return True
    try:
        if (st.context.headers.get("X-Forwarded-Proto") or "").lower() == "https":
            return True
        return (st.context.url or "").startswith("https://")
    except Exception:  # no browser context (AppTest)
        return False


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


def _set_cookie(self: CookieModel) -> None:
    """SameSite=Strict always, Secure where the deployment uses HTTPS."""
    self.exp_date = self._set_exp_date()
    self.cookie_manager.set(self.cookie_name, self._token_encode(),
                            expires_at=dt.datetime.now() + dt.timedelta(days=self.cookie_expiry_days),
                            secure=True if uses_https() else None, same_site="strict")


CookieModel._token_encode = _token_encode  # type: ignore[method-assign]  # our token and cookie flags replace the library's
CookieModel.get_cookie = _get_cookie  # type: ignore[method-assign]  # (as above)
CookieModel.set_cookie = _set_cookie  # type: ignore[method-assign]  # (as above)


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


def client_address() -> str:
    """The address sign-ins are throttled by. Behind a reverse proxy (``DASHBOARD_BEHIND_PROXY=1``)
    the first ``X-Forwarded-For`` entry, which the proxy must set; else the connection's address."""
    try:
        if os.environ.get("DASHBOARD_BEHIND_PROXY", "").strip().lower() in ("1", "true", "yes"):
            forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
            if forwarded:
                return forwarded
        return st.context.ip_address or "local"
    except Exception:  # no browser context (AppTest)
        return "local"


def _cookies() -> CookieController:
    st.session_state.setdefault("logout", None)  # read by the library's cookie model
    return CookieController(cookie_name=COOKIE_NAME, cookie_key=cookie_key(), cookie_expiry_days=COOKIE_DAYS)


def _forget(cookies: CookieController | None = None) -> None:
    for key in ("actor", "token_version", "authentication_status", "username", "name", "roles", "email"):
        st.session_state.pop(key, None)
    if cookies is not None:
        try:
            cookies.delete_cookie()
        except Exception:  # the cookie component is not rendered in every context (tests)
            pass


def _login_form(cookies: CookieController) -> None:
    placeholder = st.empty()
    with placeholder.form("login_form"):
        st.subheader(tr("login.title"))
        username = st.text_input(tr("login.username"), autocomplete="off", key="login_username")
        password = st.text_input(tr("login.password"), type="password", autocomplete="off", key="login_password")
        submitted = st.form_submit_button(tr("login.submit"))
    if not submitted:
        return
    with unit_of_work(engine()) as session:
        result = auth_service.sign_in(session, username, password, client_address())
    if not result.ok:
        st.session_state["authentication_status"] = False
        message = tr(result.message_key or "login.failed", **result.params)
        if result.attempts_left:  # the same count for every name from this client: nothing to learn
            with read_session(engine()) as session:
                minutes = load_settings(session).lockout_minutes
            message += tr("login.attempts_left", left=result.attempts_left, minutes=minutes)
        st.error(message)
        return
    placeholder.empty()
    actor = result.actor
    assert actor is not None, "a successful sign-in names its actor"
    st.session_state.update(authentication_status=True, username=actor.username,
                            name=actor.display_name, token_version=result.token_version)
    if result.failed_attempts:
        at = result.last_failed_at.strftime("%Y-%m-%d %H:%M") if result.last_failed_at else "?"
        st.session_state["_login_notice"] = tr("login.failed_attempts_notice", count=result.failed_attempts, at=at)
    cookies.set_cookie()


def signed_in_actor() -> Actor | None:
    """Render the login form if needed; return the actor of a valid session, else None."""
    cookies = _cookies()
    st.session_state.setdefault("authentication_status", None)
    if not st.session_state.get("authentication_status"):
        token = cookies.get_cookie()
        if token:
            st.session_state.update(authentication_status=True, username=token["username"])
    if not st.session_state.get("authentication_status"):
        _login_form(cookies)
    if not st.session_state.get("authentication_status"):
        return None
    username = st.session_state.get("username")
    with read_session(engine()) as session:
        actor = auth_service.resume(session, username, st.session_state.get("token_version"))
    if actor is None:
        _forget(cookies)
        st.warning(tr("login.session_ended"))
        st.rerun()
    notice = st.session_state.pop("_login_notice", None)
    if notice:
        st.warning(plain(notice))
    st.session_state["actor"] = actor
    st.session_state["_cookies"] = cookies
    return actor


def logout(actor: Actor) -> None:
    with unit_of_work(engine()) as session:
        auth_service.logout(session, actor)
    _forget(st.session_state.get("_cookies"))
    st.session_state["_logged_out"] = True
    st.rerun()
