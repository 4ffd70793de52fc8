"""通知 Notification centre: the signed-in user's notices, unread first; mark read; open the finding."""
from __future__ import annotations

import streamlit as st

from dashboard.services import notifications
from dashboard.ui import navigation
from dashboard.ui.context import actor as current_actor, flash, lang, reading, run_service, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import day

PAGE_SIZE = 100


def render() -> None:
    actor = navigation.require("notifications")
    show_flash()
    st.title(tr("page.notifications"))
    unread_only = st.toggle(tr("notify.unread_only"), key="notify_unread_only")
    with reading() as session:
        unread = notifications.unread_count(session, actor.id)
        notices = notifications.list_for(session, actor.id, limit=PAGE_SIZE, unread_only=unread_only)
    st.caption(tr("notify.unread", count=unread))
    if unread and st.button(tr("notify.mark_all_read"), key="notify_all_read", icon=":material/done_all:"):
        count = run_service(notifications.mark_read, current_actor())
        if count is not None:
            flash("notify.marked", count=count)
            st.rerun()
    if not notices:
        st.info(tr("notify.none"))
        return
    language = lang()
    for notice in notices:
        with st.container(border=True):
            left, right = st.columns([5, 2])
            badge = f":red-badge[{tr('notify.new')}] " if notice.read_at is None else ""
            left.markdown(badge + plain(notifications.text(notice.kind, notice.params, language)))
            left.caption(day(notice.created_at))
            if notice.read_at is None and right.button(tr("notify.mark_read"), key=f"notify_read_{notice.id}"):
                if run_service(notifications.mark_read, current_actor(), [notice.id]) is not None:
                    st.rerun()
            if notice.finding_id and right.button(tr("notify.open_finding"), key=f"notify_open_{notice.id}"):
                run_service(notifications.mark_read, current_actor(), [notice.id])
                navigation.open_finding(notice.finding_id)
            household_id = (notice.params or {}).get("household_id")
            if household_id and right.button(tr("notify.open_household"), key=f"notify_household_{notice.id}"):
                run_service(notifications.mark_read, current_actor(), [notice.id])
                navigation.open_household(household_id)
