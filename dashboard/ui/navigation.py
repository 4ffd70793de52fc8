"""The pages, who may open each, and the navigation built from the signed-in user's role.

A page's audience comes from the permission matrix (``dashboard.lifecycle``), so the menu and
the services can never disagree. A page absent from a role's menu cannot be reached by its
URL, and every page checks the role again when it runs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import streamlit as st

from dashboard.lifecycle import Action, Actor, HouseholdAction, may, may_household
from dashboard.ui.context import tr
from dashboard.vocab import Role


@dataclass(frozen=True)
class PageSpec:
    key: str
    module: str
    icon: str
    action: Action | HouseholdAction | None = None  # the page is for roles allowed to do this (None: every role)


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "pages.overview", ":material/dashboard:"),
    PageSpec("my_work", "pages.my_work", ":material/checklist:"),
    PageSpec("ledger", "pages.ledger", ":material/table_view:"),
    PageSpec("finding", "pages.finding", ":material/description:"),
    PageSpec("log", "pages.log_findings", ":material/add_circle:", action=Action.LOG_FINDING),
    PageSpec("villages", "pages.villages", ":material/holiday_village:"),
    PageSpec("lookback", "pages.lookback", ":material/fact_check:", action=Action.VIEW_ALL),
    PageSpec("meeting", "pages.meeting", ":material/co_present:", action=Action.TAKE_SNAPSHOT),
    PageSpec("supervision", "pages.supervision", ":material/gavel:", action=Action.ISSUE_LETTER),
    PageSpec("notifications", "pages.notifications", ":material/notifications:"),
    PageSpec("sessions", "pages.sessions", ":material/devices:"),
    PageSpec("admin", "pages.admin", ":material/settings:", action=Action.MANAGE_USERS),
    PageSpec("health", "pages.health", ":material/monitor_heart:", action=Action.VIEW_HEALTH),
    # the household monitoring ledger (issue 22)
    PageSpec("households", "pages.households", ":material/family_restroom:", action=HouseholdAction.VIEW),
    PageSpec("household", "pages.household", ":material/home:", action=HouseholdAction.VIEW),
    PageSpec("clues", "pages.clues", ":material/timer:", action=HouseholdAction.VIEW),
    PageSpec("elimination", "pages.elimination", ":material/task_alt:", action=HouseholdAction.VIEW),
    PageSpec("quality", "pages.quality", ":material/rule:", action=HouseholdAction.VIEW),
    PageSpec("household_import", "pages.household_import", ":material/upload_file:", action=HouseholdAction.IMPORT),
)
SPECS = {spec.key: spec for spec in PAGES}
HOME_PATH = "__home"   # the home page's internal name, which no one types: its address is "/"


def home_key(role: Role | str) -> str:
    """The page a role lands on: a department came to do its own work, everyone else to see the whole."""
    return "my_work" if Role(role) is Role.DEPARTMENT else "overview"


def allowed(spec: PageSpec, role: Role | str) -> bool:
    if isinstance(spec.action, HouseholdAction):
        return may_household(Actor(id=None, username="", role=Role(role)), spec.action)
    return spec.action is None or may(role, spec.action)


def page_keys_for(role: Role | str) -> list[str]:
    return [spec.key for spec in PAGES if allowed(spec, role)]


def build(actor: Actor) -> list[st.Page]:
    """Every page, so that any page's address resolves; those outside the role are hidden from the
    menu and refuse to render with a sentence in the user's language (``require``), instead of
    Streamlit's own English "Page not found" dialog. ``_pages`` keeps the role's pages only."""
    pages, every = {}, []
    home = home_key(actor.role)
    for spec in PAGES:
        render = importlib.import_module(spec.module).render
        visible = allowed(spec, actor.role)
        is_home = spec.key == home
        # the home page is served at "/", and Streamlit knows it by no other address; its own name (a
        # bookmark of /overview, say) gets a hidden alias below instead of Streamlit's English dialog
        page = st.Page(render, title=tr(f"page.{spec.key}"), icon=spec.icon,
                       url_path=HOME_PATH if is_home else spec.key, default=is_home,
                       visibility="visible" if visible else "hidden")
        every.append(page)
        if visible:
            pages[spec.key] = page
        if is_home:
            every.append(st.Page(render, title=tr(f"page.{spec.key}"), icon=spec.icon, url_path=spec.key,
                                 visibility="hidden"))
    missing = _unknown_path()
    if missing:
        every.append(st.Page(_not_found, title=tr("ui.page_missing_title"), url_path=missing, visibility="hidden"))
    st.session_state["_pages"] = pages
    st.session_state["_all_pages"] = every
    return every


def _unknown_path() -> str | None:
    """The path of an address that names no page at all (a typo, an old bookmark), if any."""
    try:
        url = st.context.url or ""
    except Exception:  # no browser context (tests, bare mode)
        return None
    from urllib.parse import urlparse

    path = urlparse(url).path.strip("/").split("/")[-1] if url else ""
    if not path or path in SPECS or path == HOME_PATH or not path.replace("-", "").replace("_", "").isalnum():
        return None
    return path


def _not_found() -> None:
    st.warning(tr("ui.page_missing"))
    actor: Actor = st.session_state["actor"]
    home = SPECS[home_key(actor.role)]
    st.page_link(st.session_state["_pages"][home.key], label=tr(f"page.{home.key}"), icon=home.icon)


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


def open_household(household_id: int) -> None:
    st.session_state["household_id"] = int(household_id)
    goto("household")


def open_finding(finding_id: int) -> None:
    st.session_state["finding_id"] = int(finding_id)
    goto("finding")
