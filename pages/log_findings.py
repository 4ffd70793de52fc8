"""登记问题 Log findings: create a source (inspection/audit batch) and log its findings in a row."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import clock
from dashboard.services import findings as svc
from dashboard.services import views
from dashboard.services.findings import FindingInput, MeasureInput
from dashboard.ui import navigation
from dashboard.ui.context import flash, lbl, reading, run_service, show_flash, tr
from dashboard.vocab import Priority, RectType, SourceKind, codes

CLEARED_AFTER_SAVE = ("lf_description", "lf_measures", "lf_remarks", "lf_person")


def source_form(actor) -> None:
    with st.form("source_form", clear_on_submit=False):
        cols = st.columns([1, 2, 1])
        kind = cols[0].selectbox(tr("col.kind"), codes(SourceKind), format_func=lambda k: lbl(k, SourceKind),
                                 key="sf_kind")
        title = cols[1].text_input(tr("col.source_title"), key="sf_title", placeholder="省纪委脱贫攻坚专项巡视反馈问题")
        body = cols[2].text_input(tr("col.issuing_body"), key="sf_body", placeholder="省纪委")
        cols = st.columns(3)
        received = cols[0].date_input(tr("col.received"), value=clock.today(), key="sf_received")
        due = cols[1].date_input(tr("col.report_due"), value=None, key="sf_due")
        notes = st.text_area(tr("col.notes"), key="sf_notes")
        if st.form_submit_button(tr("log.create_source"), type="primary"):
            source = run_service(svc.create_source, actor, kind=kind, title=title, received_date=received,
                                 issuing_body=body, report_due_date=due, notes=notes)
            if source:
                st.session_state["lf_source"] = source.id
                flash("log.source_created", title=source.title)
                st.rerun()


def finding_form(actor, options: dict) -> None:
    repeat = st.session_state.get("repeat_of")
    if repeat:
        st.warning(tr("log.repeat_banner", serial=repeat[1]))
        if st.button(tr("log.cancel_repeat")):
            st.session_state.pop("repeat_of")
            st.rerun()
    # The place sits outside the form: choosing a township must narrow the villages at once.
    cols = st.columns(2)
    township = cols[0].selectbox(tr("col.township"), [None, *options["townships"]], key="lf_township",
                                 format_func=lambda v: "—" if v is None else v)
    with reading() as session:
        villages = views.villages_in(session, township)
    if st.session_state.get("lf_village") not in villages:
        st.session_state.pop("lf_village", None)
    village = cols[1].selectbox(tr("col.village"), [None, *villages], key="lf_village", disabled=not township,
                                help=None if township else tr("ledger.township_first"),
                                format_func=lambda i: "—" if i is None else villages[i])
    with st.form("finding_form"):
        cols = st.columns(2)
        source = cols[0].selectbox(tr("col.source"), list(options["sources"]), key="lf_source",
                                   format_func=lambda i: options["sources"][i])
        category = cols[1].selectbox(tr("col.category"), list(options["categories"]), key="lf_category",
                                     format_func=lambda i: options["categories"][i])
        description = st.text_area(tr("col.description"), key="lf_description")
        measures = st.text_area(tr("log.measures"), key="lf_measures", help=tr("log.measures_help"))
        cols = st.columns(2)
        lead = cols[0].selectbox(tr("col.lead_unit"), list(options["units"]), key="lf_lead",
                                 format_func=lambda i: options["units"][i])
        co_units = cols[1].multiselect(tr("col.co_units"), list(options["units"]), key="lf_co",
                                       format_func=lambda i: options["units"][i])
        cols = st.columns(4)
        rect_type = cols[0].selectbox(tr("col.rect_type"), codes(RectType), index=1, key="lf_type",
                                      format_func=lambda c: lbl(c, RectType))
        priority = cols[1].selectbox(tr("col.priority"), codes(Priority), key="lf_priority",
                                     format_func=lambda c: lbl(c, Priority))
        deadline = cols[2].date_input(tr("col.deadline"), value=clock.today() + dt.timedelta(days=60),
                                      key="lf_deadline")
        leader = cols[3].text_input(tr("col.leader"), key="lf_leader")
        cols = st.columns(2)
        person = cols[0].text_input(tr("col.person"), key="lf_person")
        remarks = cols[1].text_input(tr("col.remarks"), key="lf_remarks")
        if st.form_submit_button(tr("log.save_finding"), type="primary"):
            data = FindingInput(
                source_id=source, category_id=category, description=description, lead_unit_id=lead,
                measures=[MeasureInput(line.strip()) for line in measures.splitlines() if line.strip()],
                deadline=None if rect_type == RectType.LONG_TERM else deadline, rect_type=rect_type,
                priority=priority, co_unit_ids=co_units, township=township, village_id=village,
                responsible_leader=leader, responsible_person=person, remarks=remarks,
                repeat_of_id=repeat[0] if repeat else None)
            finding = run_service(svc.log_finding, actor, data)
            if finding:
                st.session_state.pop("repeat_of", None)
                for key in CLEARED_AFTER_SAVE:
                    st.session_state.pop(key, None)
                st.session_state.setdefault("logged_now", []).append(finding.serial)
                flash("log.finding_saved", serial=finding.serial)
                st.rerun()


def render() -> None:
    actor = navigation.require("log")
    show_flash()
    st.title(tr("page.log"))
    with reading() as session:
        options = views.choices(session)
    new_source, findings_tab = st.tabs([tr("log.tab_source"), tr("log.tab_findings")])
    with new_source:
        source_form(actor)
    with findings_tab:
        st.caption(tr("log.quick_help"))
        if not options["sources"]:
            st.info(tr("log.no_sources"))
        else:
            finding_form(actor, options)
        logged = st.session_state.get("logged_now", [])
        if logged:
            st.caption(tr("log.logged_now", serials="、".join(logged[-10:])))
