"""The sidebar's card: who is signed in, their unit, the unread count and sign-out.

In a module of its own, not in ``dashboard/app.py``: the entry script runs again on every rerun, and a cached
function defined there is decorated again each time (Streamlit hashes its source for the cache key), which cost
more than the card itself."""
from __future__ import annotations

import streamlit as st

from dashboard.ui import auth, navigation
from dashboard.ui.context import cached_view, data_version, lbl, reading, tr
from dashboard.ui.safe import plain
from db.models import Unit


@cached_view(max_entries=512)
def _card(version: str, user_id: int | None, unit_id: int | None) -> tuple[str | None, int]:
    """The unit's name and the unread count: read again only when the data version changed (a notice created
    or read is a write like any other)."""
    from dashboard.services.notifications import unread_count

    with reading() as session:
        return (session.get(Unit, unit_id).name if unit_id else None), unread_count(session, user_id)


def user_card(actor) -> None:
    unit, unread = _card(data_version(), actor.id, actor.unit_id)
    unit = unit or tr("ui.no_unit")
    with st.sidebar.container(border=True):
        # one element for both lines (each element costs a page view its building, queueing and sending)
        st.markdown(f"**{plain(actor.display_name)}** · {lbl(actor.role)}  \n:small[:gray[{tr('field.unit')}: {plain(unit)}]]")
        if st.button(tr("notify.unread", count=unread), key="sidebar_unread", width="stretch",
                     icon=":material/notifications_active:" if unread else ":material/notifications:",
                     type="primary" if unread else "secondary"):
            navigation.goto("notifications")
        if st.button(tr("login.logout"), key="sign_out", icon=":material/logout:", width="stretch"):
            auth.logout(actor)
