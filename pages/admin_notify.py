"""The admin page's 通知与督办文书 tab: outbound channels (secrets never shown again), the test
message, the delivery log with failures first, and the letter templates."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.services import delivery, letters
from dashboard.ui.context import flash, reading, run_service, tr
from dashboard.ui.widgets import day

FIELDS = {
    "wecom": ("webhook",),
    "dingtalk": ("webhook", "secret"),
    "email": ("host", "port", "username", "password", "sender", "to", "security"),
    "apprise": ("url",),
}
FIELD_LABELS = {"webhook": "channel.webhook", "secret": "channel.secret", "host": "channel.smtp_host",
                "port": "channel.smtp_port", "username": "channel.smtp_user", "password": "channel.smtp_password",
                "sender": "channel.sender", "to": "channel.to", "security": "channel.smtp_security",
                "url": "channel.url"}
SECRET_FIELDS = {"secret", "password", "webhook", "url"}


def channels_section(actor, units: dict[int, str]) -> None:
    with reading() as session:
        rows = delivery.channels(session)
    st.markdown(f"**{tr('channel.configured')}**")
    if rows:
        st.dataframe(pd.DataFrame([{
            tr("channel.for_unit"): row.unit or tr("channel.default"), tr("field.kind"): tr(f"channel_kind.{row.kind}"),
            tr("channel.address"): row.masked,
        } for row in rows]), hide_index=True, width="stretch")
        options = {row.id: f"{row.unit or tr('channel.default')} · {tr(f'channel_kind.{row.kind}')}" for row in rows}
        left, right = st.columns([3, 1])
        picked = left.selectbox(tr("channel.test"), list(options), format_func=options.get, key="channel_pick",
                                label_visibility="collapsed")
        if right.button(tr("channel.test"), key="channel_test", icon=":material/send:"):
            result = run_service(delivery.send_test, actor, picked)
            if result is not None:
                ok, error = result
                (st.success(tr("channel.test_ok")) if ok else st.error(tr("channel.test_failed", error=error)))
        if picked is not None and right.button(tr("channel.remove"), key="channel_remove"):
            if run_service(delivery.remove_channel, actor, picked):
                st.rerun()
    kind = st.selectbox(tr("field.kind"), list(FIELDS), format_func=lambda k: tr(f"channel_kind.{k}"),
                        key="channel_kind")
    saves = st.session_state.get("channel_saves", 0)  # a fresh form after a save: the secret is not kept
    with st.form(f"channel_form_{kind}_{saves}", clear_on_submit=True):
        unit = st.selectbox(tr("channel.for_unit"), [None, *units],
                            format_func=lambda i: tr("channel.default") if i is None else units[i])
        values = {}
        for name in FIELDS[kind]:
            if name == "security":
                values[name] = st.selectbox(tr(FIELD_LABELS[name]), ["ssl", "starttls", "insecure"])
            elif name == "port":
                values[name] = st.number_input(tr(FIELD_LABELS[name]), min_value=1, max_value=65535, value=465)
            else:
                values[name] = st.text_input(tr(FIELD_LABELS[name]),
                                             type="password" if name in SECRET_FIELDS else "default")
        if st.form_submit_button(tr("ui.save"), type="primary"):
            if run_service(delivery.set_channel, actor, unit, kind, values) is not None:
                st.session_state["channel_saves"] = saves + 1
                flash("channel.saved")
                st.rerun()


def log_section() -> None:
    st.markdown(f"**{tr('delivery.log')}**")
    failed_only = st.toggle(tr("delivery.failed_only"), key="delivery_failed_only")
    with reading() as session:
        failed = delivery.log_rows(session, failed_only=True)
        rows = failed if failed_only else delivery.log_rows(session)
    if failed:
        st.warning(tr("delivery.failed_count", count=len(failed)))
    if rows:
        st.dataframe(pd.DataFrame([{
            tr("col.created_at"): day(row.created_at), tr("col.recipient"): row.recipient,
            tr("col.outcome"): tr(f"delivery_status.{row.status}"), tr("col.attempts"): row.attempts,
            tr("col.error"): row.last_error, tr("col.message"): row.body[:80],
        } for row in rows]), hide_index=True, width="stretch")


def templates_section(actor) -> None:
    st.markdown(f"**{tr('letter.templates')}**")
    kinds = [kind.value for kind in letters.LADDER]
    kind = st.selectbox(tr("letter.kind"), kinds, format_func=lambda k: tr(f"letter_kind.{k}"), key="template_kind")
    with reading() as session:
        current = letters.template(session, kind)
    with st.form(f"template_{kind}"):
        title = st.text_input(tr("field.title"), value=current["title"])
        prefix = st.text_input(tr("letter.prefix"), value=current["prefix"])
        issuing_body = st.text_input(tr("letter.issuing_body"), value=current["issuing_body"])
        body = st.text_area(tr("letter.body"), value=current["body"], height=160)
        if st.form_submit_button(tr("ui.save")):
            if run_service(letters.save_template, actor, kind, title=title, prefix=prefix,
                           issuing_body=issuing_body, body=body) is not None:
                flash("ui.saved")
                st.rerun()


def notify_tab(actor, units: dict[int, str]) -> None:
    channels_section(actor, units)
    st.divider()
    log_section()
    st.divider()
    templates_section(actor)
