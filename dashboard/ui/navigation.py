"""The pages, who may open each, and the navigation built from the signed-in user's role.

A page's audience comes from the permission matrix (``dashboard.lifecycle``), so the menu and
the services can never disagree. A page absent from a role's menu cannot be reached by its
URL, and every page checks the role again when it runs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import streamlit as st

from dashboard.lifecycle import Action, Actor, may
from dashboard.ui.context import tr
from dashboard.vocab import Role


@dataclass(frozen=True)
class PageSpec:
    key: str
    module: str
    icon: str
    action: Action | None = None     # the page is for roles allowed to do this (None: every role)
    roles: frozenset[Role] | None = None  # or an explicit audience


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "pages.overview", ":material/dashboard:"),
    PageSpec("my_work", "pages.my_work", ":material/checklist:"),
    PageSpec("ledger", "pages.ledger", ":material/table_view:"),
    PageSpec("finding", "pages.finding", ":material/description:"),
    PageSpec("log", "pages.log_findings", ":material/add_circle:", action=Action.LOG_FINDING),
    PageSpec("villages", "pages.villages", ":material/holiday_village:"),
    PageSpec("meeting", "pages.meeting", ":material/co_present:", action=Action.TAKE_SNAPSHOT),
    PageSpec("admin", "pages.admin", ":material/settings:", action=Action.MANAGE_USERS),
    PageSpec("health", "pages.health", ":material/monitor_heart:", action=Action.VIEW_HEALTH),
)
SPECS = {spec.key: spec for spec in PAGES}


def allowed(spec: PageSpec, role: Role | str) -> bool:
    if spec.roles is not None:
        return Role(role) in spec.roles
    return spec.action is None or may(role, spec.action)


def page_keys_for(role: Role | str) -> list[str]:
    return [spec.key for spec in PAGES if allowed(spec, role)]


def build(actor: Actor) -> list[st.Page]:
    pages = {}
    for key in page_keys_for(actor.role):
        spec = SPECS[key]
        render = importlib.import_module(spec.module).render
        pages[key] = st.Page(render, title=tr(f"page.{key}"), icon=spec.icon, url_path=key,
                             default=key == "overview")
    st.session_state["_pages"] = pages
    return list(pages.values())


def require(key: str) -> Actor:
    """First line of every page: the role check again, whatever the menu showed."""
    actor: Actor | None = st.session_state.get("actor")
    if actor is None or not allowed(SPECS[key], actor.role):
        st.error(tr("ui.page_forbidden"))
        st.stop()
    return actor


def goto(key: str) -> None:
    page = st.session_state.get("_pages", {}).get(key)
    if page is not None:
        st.switch_page(page)


def open_finding(finding_id: int) -> None:
    st.session_state["finding_id"] = int(finding_id)
    goto("finding")
