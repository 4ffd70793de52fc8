"""督办文书 Supervision letters: per unit the overdue findings and the suggested next rung of the
ladder; issue a 提醒函/督办函/通报/约谈通知书 as a Word file; the letters already issued."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import clock
from dashboard.documents.letter import letter_file
from dashboard.services import letters, views
from dashboard.settings import load_settings
from dashboard.ui import navigation
from dashboard.ui.context import flash, reading, run_service, show_flash, tr
from dashboard.ui.widgets import day

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _kind_label(kind: str | None) -> str:
    return tr(f"letter_kind.{kind}") if kind else tr("letter.none_yet")


def issue_form(actor, ladder) -> None:
    by_unit = {row.unit_id: row for row in ladder}
    unit_id = st.selectbox(tr("letter.unit"), list(by_unit), format_func=lambda i: by_unit[i].unit, key="letter_unit")
    row = by_unit[unit_id]
    with reading() as session:
        overdue = letters.overdue_of_unit(session, unit_id)
        reply_days = load_settings(session).letter_reply_days
    kinds = [kind.value for kind in letters.LADDER]
    with st.form(f"issue_letter_{unit_id}"):
        kind = st.selectbox(tr("letter.kind"), kinds, index=kinds.index(row.suggested), format_func=_kind_label)
        labels = {f.id: f"{f.serial} · {f.description[:40]} · {day(f.current_deadline)}" for f in overdue}
        chosen = st.multiselect(tr("letter.findings"), list(labels), default=list(labels), format_func=labels.get,
                                placeholder=tr("ui.choose_many"))
        respond_by = st.date_input(tr("letter.respond_by"), value=clock.today() + dt.timedelta(days=reply_days),
                                   min_value=clock.today())
        if st.form_submit_button(tr("letter.issue"), type="primary"):
            letter = run_service(letters.issue_letter, actor, unit_id=unit_id, kind=kind, finding_ids=chosen,
                                 respond_by=respond_by)
            if letter is not None:
                st.session_state["letter_issued"] = letter.id
                flash("letter.issued", doc_number=letter.doc_number)
                st.rerun()


def render() -> None:
    actor = navigation.require("supervision")
    show_flash()
    st.title(tr("page.supervision"))
    with reading() as session:
        ladder = letters.ladder(session)
        issued = letters.letters(session)
    just_issued = st.session_state.pop("letter_issued", None)
    if just_issued is not None:
        with reading() as session:
            name, data = letter_file(session, just_issued)
        st.download_button(tr("letter.download"), data, file_name=name, mime=DOCX, key="letter_download_new",
                           type="primary", icon=":material/download:")
    st.subheader(tr("letter.ladder"))
    st.caption(tr("letter.ladder_help"))
    if not ladder:
        st.success(tr("letter.none_overdue"))
    else:
        st.dataframe(pd.DataFrame([{
            tr("letter.unit"): row.unit, tr("col.overdue_count"): row.overdue,
            tr("col.max_days_overdue"): row.max_days, tr("col.reached"): _kind_label(row.reached),
            tr("col.suggested"): _kind_label(row.suggested),
        } for row in ladder]), hide_index=True, width="stretch")
        issue_form(actor, ladder)
    st.subheader(tr("letter.issued_list"))
    if issued:
        with reading() as session:
            units = views.choices(session)["units"]
        st.dataframe(pd.DataFrame([{
            tr("col.doc_number"): letter.doc_number, tr("letter.kind"): _kind_label(letter.kind),
            tr("letter.unit"): units.get(letter.unit_id, ""), tr("col.date"): day(letter.issued_on),
            tr("letter.respond_by"): day(letter.respond_by), tr("letter.findings"): len(letter.finding_ids),
        } for letter in issued]), hide_index=True, width="stretch")
        by_id = {letter.id: letter.doc_number for letter in issued}
        chosen = st.selectbox(tr("col.doc_number"), list(by_id), format_func=by_id.get, key="letter_pick")
        with reading() as session:
            name, data = letter_file(session, chosen)
        st.download_button(tr("letter.download"), data, file_name=name, mime=DOCX, key="letter_download")
