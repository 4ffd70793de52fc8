"""The admin page's API 令牌 tab: the tokens other systems call /api/v1 with — created here (shown once), listed
with their scopes, units, expiry and last use, and revoked."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import clock
from dashboard.services import api_tokens
from dashboard.ui.context import flash, reading, run_service, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import day

SHOWN_ONCE = "_api_token_shown_once"


def _state(token, now) -> str:
    if token.revoked_at is not None:
        return tr("api_admin.revoked")
    return tr("api_admin.expired") if token.expires_at <= now else tr("api_admin.active")


def _listing(tokens, units: dict[int, str]) -> None:
    now = clock.now()
    if not tokens:
        st.info(tr("api_admin.none"))
        return
    st.dataframe(pd.DataFrame([{
        tr("api_admin.name"): token.name,
        tr("api_admin.scopes"): ", ".join(token.scopes),
        tr("api_admin.units"): "、".join(units.get(u, str(u)) for u in token.unit_ids) or tr("api_admin.all_units"),
        tr("api_admin.expires"): day(token.expires_at),
        tr("api_admin.last_used"): day(token.last_used_at) if token.last_used_at else "—",
        tr("api_admin.state"): _state(token, now),
    } for token in tokens]), hide_index=True, width="stretch")


def _create(actor, units: dict[int, str]) -> None:
    with st.form("api_token_create", enter_to_submit=False, clear_on_submit=True):
        name = st.text_input(tr("api_admin.name"), max_chars=40)
        scopes = st.multiselect(tr("api_admin.scopes"), options=[str(s) for s in api_tokens.Scope],
                                format_func=lambda s: f"{s} · {tr('api_scope.' + s.replace(':', '_'))}",
                                placeholder=tr("ui.choose_many"))
        chosen = st.multiselect(tr("api_admin.units"), options=list(units), format_func=units.get,
                                help=tr("api_admin.units_help"), placeholder=tr("api_admin.all_units"))
        days = st.number_input(tr("api_admin.days"), min_value=1, max_value=366, value=90, step=1)
        if st.form_submit_button(tr("api_admin.create"), icon=":material/key:"):
            token = run_service(api_tokens.create, actor, name, scopes, [units[u] for u in chosen], int(days))
            if token is not None:
                st.session_state[SHOWN_ONCE] = (name.strip(), token)
                st.rerun()


def _revoke(actor, tokens) -> None:
    active = [token.name for token in tokens if token.revoked_at is None]
    if not active:
        return
    st.markdown(f"**{tr('api_admin.revoke')}**")
    with st.form("api_token_revoke", enter_to_submit=False):
        name = st.selectbox(tr("api_admin.name"), options=active)
        if st.form_submit_button(tr("api_admin.revoke"), icon=":material/block:"):
            if run_service(api_tokens.revoke, actor, name) is not None:
                flash("api_admin.revoked_done", name=name)
                st.rerun()


def api_tab(actor, units: dict[int, str]) -> None:
    shown = st.session_state.pop(SHOWN_ONCE, None)
    if shown:  # once: the next run no longer has it, and the database only its hash
        st.success(plain(tr("api_admin.created", name=shown[0])))
        st.code(shown[1], language=None)
    with reading() as session:
        tokens = api_tokens.listing(session, actor)
    _listing(tokens, units)
    st.markdown(f"**{tr('api_admin.new')}**")
    _create(actor, units)
    _revoke(actor, tokens)
