"""Running pages under streamlit.testing.v1.AppTest against a test database."""
from __future__ import annotations

import streamlit as st
from streamlit.testing.v1 import AppTest

from sqlmodel import select

from dashboard.ui.context import forget_views
from db import engine as db_engine


def _scan_installed_components_once() -> None:
    """Each ``AppTest`` looks for Streamlit components in every installed distribution's metadata on its first
    run (``scan_component_manifests``: 0.1-0.2 s, as long as many a page's run), and every test makes a new
    ``AppTest``. What is installed does not change while the tests run: scan once per process."""
    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    found: list = []

    def scan_once(max_workers: int | None = None):
        if not found:
            found.append(scan(max_workers))
        return list(found[0])

    manifest_scanner.scan_component_manifests = scan_once


_scan_installed_components_once()  # once: this module is imported once per process

PAGE_SCRIPT = """
import streamlit as st
import importlib
importlib.import_module("{module}").render()
"""


def point_app_at(monkeypatch, database_url: tuple[str, str | None]) -> None:
    """Make the app's engine (``DATABASE_URL``) the test database, with no cached engine left over."""
    url, schema = database_url
    if schema:
        url = f"{url}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("DATABASE_URL", url)
    db_engine.default_engine.cache_clear()
    st.cache_resource.clear()
    forget_views()  # the pages' cached views of another test's database


def page_app(module: str, actor, lang: str = "zh", **state) -> AppTest:
    app = AppTest.from_string(PAGE_SCRIPT.format(module=module), default_timeout=60)
    app.session_state["actor"] = actor
    app.session_state["lang"] = lang
    for key, value in state.items():
        app.session_state[key] = value
    return app


def signed_in_entry(username: str, token_version: int | None = None, lang: str = "zh") -> AppTest:
    """The app as a browser with a live session of this user sees it (the session row the sign-in route would
    have made; ``token_version`` other than the user's: a session a password change has ended)."""
    app = AppTest.from_file("../dashboard/app.py", default_timeout=60)
    app.session_state["_web_session_hash"] = live_session(username, token_version)
    app.session_state["lang"] = lang
    return app


def live_session(username: str, token_version: int | None = None) -> str:
    """A web_session row for this user, as ``/auth/session`` leaves it; returns the hash of its id."""
    import secrets

    from dashboard.services import web_sessions
    from dashboard.services.unit_of_work import unit_of_work
    from db.models import User, WebSession

    with unit_of_work(db_engine.default_engine()) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        id_hash = web_sessions.digest(secrets.token_urlsafe(16))
        session.add(WebSession(id_hash=id_hash, user_id=user.id, address="local",
                               token_version=user.token_version if token_version is None else token_version))
    return id_hash


def texts(app: AppTest) -> str:
    """All visible text of a run, for asserting on messages."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning", "success", "info"):
        parts.extend(str(element.value) for element in getattr(app, kind))
    return "\n".join(parts)


def button(app: AppTest, label: str):
    for candidate in app.button:
        if candidate.label == label:
            return candidate
    raise AssertionError(f"no button {label!r}: {[b.label for b in app.button]}")


def metric_cards(app: AppTest) -> list[tuple[str, str, str | None]]:
    """The metric cards a page shows (``dashboard.ui.widgets.metric_cards``): (label, value, delta or None), as
    displayed."""
    import html
    import re

    card = re.compile(r'<div class="zg-metric-label">(.*?)</div><div class="zg-metric-value">(.*?)</div>'
                      r'(?:<div class="zg-metric-delta \w+">\S* ?(.*?)</div>)?')
    return [(html.unescape(label), html.unescape(value), html.unescape(delta) if delta else None)
            for block in app.markdown for label, value, delta in card.findall(str(block.value))]


def metric_values(app: AppTest) -> dict[str, str]:
    """label → value of ``metric_cards``."""
    return {label: value for label, value, _delta in metric_cards(app)}
