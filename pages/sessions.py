"""登录会话 Sessions: where and when the signed-in user is signed in, with "sign out the others"; an admin also
sees every user's sessions and ends any user's everywhere."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.lifecycle import Action, may
from dashboard.services import web_sessions
from dashboard.ui import auth, navigation
from dashboard.ui.context import flash, reading, run_service, show_flash, tr
from dashboard.ui.widgets import day


def _table(rows: list[web_sessions.SessionListing], with_user: bool) -> None:
    frame = pd.DataFrame([{
        **({tr("sessions.user"): row.username} if with_user else {}),
        tr("sessions.signed_in_at"): day(row.created_at),
        tr("sessions.last_seen"): day(row.last_seen_at),
        tr("sessions.address"): row.address,
        tr("sessions.browser"): row.user_agent[:80],
        tr("sessions.this_one"): tr("sessions.this_browser") if row.current else "",
    } for row in rows])
    st.dataframe(frame, hide_index=True, width="stretch")


def _own(actor, current: int | None) -> None:
    with reading() as session:
        mine = web_sessions.listing(session, actor, actor.id, current)
    st.subheader(tr("sessions.mine"))
    _table(mine, with_user=False)
    others = [row for row in mine if not row.current]
    if current is not None and st.button(tr("sessions.sign_out_others"), key="sessions_end_others",
                                         icon=":material/logout:", disabled=not others):
        ended = run_service(web_sessions.end_others, actor, current)
        if ended is not None:
            flash("sessions.ended", count=ended)
            st.rerun()


def _everyone(actor, current: int | None) -> None:
    with reading() as session:
        rows = web_sessions.listing(session, actor, None, current)
    st.subheader(tr("sessions.everyone"))
    if not rows:
        st.info(tr("sessions.none"))
        return
    _table(rows, with_user=True)
    users = {row.user_id: row.username for row in rows}
    with st.form("sessions_end_user", enter_to_submit=False):
        user_id = st.selectbox(tr("sessions.user"), options=list(users), format_func=users.get)
        if st.form_submit_button(tr("sessions.sign_out_everywhere"), icon=":material/block:"):
            ended = run_service(web_sessions.end_all, actor, user_id)
            if ended is not None:
                flash("sessions.ended", count=ended)
                st.rerun()


def render() -> None:
    actor = navigation.require("sessions")
    show_flash()
    st.title(tr("page.sessions"))
    current = auth.current_session_id()
    _own(actor, current)
    if may(actor.role, Action.MANAGE_USERS):
        _everyone(actor, current)
