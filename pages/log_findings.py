"""登记问题 Log findings: create a source (inspection/audit batch) and log its findings in a row.

The two steps are a control the page keeps in the session (not tabs, which a rerun may reset), so
choosing a township right after creating a source leaves the user where they are.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import clock
from dashboard.services import findings as svc
from dashboard.services import views
from dashboard.services.findings import FindingInput, MeasureInput
from dashboard.ui import navigation
from dashboard.ui.context import joined, flash, lbl, reading, run_service, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import measure_records
from dashboard.vocab import Priority, RectType, SourceKind, codes

CLEARED_AFTER_SAVE = ("lf_description", "lf_remarks", "lf_person")
STEPS = ("source", "findings")


def go_to_step(step: str, **state) -> None:
    """Switch step (and pre-set fields) on the next run, before the widgets exist."""
    st.session_state["_lf_next"] = {"lf_step": step, **state}


def apply_staged() -> None:
    for key, value in st.session_state.pop("_lf_next", {}).items():
        st.session_state[key] = value


def source_form(actor) -> None:
    generation = st.session_state.get("sf_generation", 0)  # a new one empties the form after a save
    with st.form("source_form", enter_to_submit=False):
        cols = st.columns([1, 2, 1])
        kind = cols[0].selectbox(tr("col.kind"), codes(SourceKind), format_func=lambda k: lbl(k, SourceKind),
                                 placeholder=tr("ui.choose"), key=f"sf_kind_{generation}")
        title = cols[1].text_input(tr("col.source_title"), key=f"sf_title_{generation}",
                                   placeholder="省纪委脱贫攻坚专项巡视反馈问题")
        body = cols[2].text_input(tr("col.issuing_body"), key=f"sf_body_{generation}", placeholder="省纪委")
        cols = st.columns(2)
        received = cols[0].date_input(tr("col.received"), value=clock.today(), key=f"sf_received_{generation}")
        # an optional date is a tick and a date: an empty date box shows Streamlit's English "yyyy/mm/dd"
        due = cols[1].date_input(tr("col.report_due"), value=clock.today() + dt.timedelta(days=30),
                                 key=f"sf_due_{generation}")
        due = due if cols[1].checkbox(tr("log.report_due_set"), key=f"sf_due_set_{generation}") else None
        notes = st.text_area(tr("col.notes"), key=f"sf_notes_{generation}")
        pressed = st.form_submit_button(tr("log.create_source"), type="primary")
    if pressed:
        source = run_service(svc.create_source, actor, kind=kind, title=title, received_date=received,
                             issuing_body=body, report_due_date=due, notes=notes)
        if source:
            st.session_state["sf_generation"] = generation + 1
            go_to_step("findings", lf_source=source.id)
            flash("log.source_created", title=source.title)
            st.rerun()
        with reading() as session:
            existing = svc.same_source(session, kind, title or "", body or "", received) if title else None
        if existing is not None:
            st.button(tr("log.use_existing", title=plain(existing.title)), key="use_existing", icon=":material/arrow_forward:",
                      on_click=go_to_step, args=("findings",), kwargs={"lf_source": existing.id})


def report_section(actor, sources: dict) -> None:
    """整改情况报告: each source's report due date and whether it was sent (the reminders stop once it is)."""
    st.subheader(tr("log.reports"))
    st.caption(tr("log.reports_help"))
    with reading() as session:
        reports = svc.source_reports(session)
    if reports:
        st.dataframe(pd.DataFrame([{
            tr("log.report_source"): r.title, tr("col.report_due"): r.report_due_date,
            tr("col.report_sent"): r.report_sent_on.isoformat() if r.report_sent_on else tr("log.report_not_sent"),
        } for r in reports]), hide_index=True, width="stretch")
    else:
        st.info(tr("log.reports_none"))
    if not sources:
        return
    chosen = st.selectbox(tr("log.report_source"), list(sources), key="rp_source", format_func=lambda i: sources[i],
                          placeholder=tr("ui.choose"))
    if chosen is None:
        return
    with reading() as session:
        source = svc.get_source(session, chosen)
    suffix = f"{source.id}_{source.version}"   # a saved edit shows the stored values again
    with st.form("report_form", enter_to_submit=False):
        cols = st.columns(2)
        due = cols[0].date_input(tr("col.report_due"), value=source.report_due_date or clock.today(),
                                 key=f"rp_due_{suffix}")
        due_set = cols[0].checkbox(tr("log.report_due_set"), value=source.report_due_date is not None,
                                   key=f"rp_due_set_{suffix}")
        sent_on = cols[1].date_input(tr("log.report_sent_on"), value=source.report_sent_on or clock.today(),
                                     key=f"rp_sent_{suffix}")
        sent = cols[1].checkbox(tr("log.report_sent_set"), value=source.report_sent_on is not None,
                                key=f"rp_sent_set_{suffix}")
        pressed = st.form_submit_button(tr("log.report_save"))
    if pressed:
        saved = run_service(svc.set_source_report, actor, source.id, source.version,
                            report_due_date=due if due_set else None, report_sent_on=sent_on if sent else None)
        if saved:
            flash("log.report_saved", title=saved.title)
            st.rerun()


def measure_inputs(frame: pd.DataFrame) -> list[MeasureInput]:
    """The rows of the measures table as the service takes them; blank rows are dropped."""
    return [MeasureInput(text, due) for text, due, _record in measure_records(frame)]


def measures_table(key: str) -> pd.DataFrame:
    """整改措施: one per row, each with its own deadline (blank: the finding's 整改时限)."""
    start = st.session_state.get("lf_measure_rows") or [{"text": "", "deadline": None}, {"text": "", "deadline": None}]
    frame = pd.DataFrame(start, columns=["text", "deadline"])
    frame["deadline"] = pd.to_datetime(frame["deadline"])
    return st.data_editor(
        frame, key=key, num_rows="dynamic", hide_index=True, width="stretch", placeholder=tr("log.same_deadline"),
        column_config={
            "text": st.column_config.TextColumn(tr("col.measure"), width="large"),
            "deadline": st.column_config.DateColumn(tr("col.measure_deadline"), format="YYYY-MM-DD",
                                                    help=tr("finding.measure_deadline_help")),
        })


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
                                 format_func=lambda v: "—" if v is None else v, placeholder=tr("ui.choose"))
    with reading() as session:
        villages = views.villages_in(session, township)
    if st.session_state.get("lf_village") not in villages:
        st.session_state.pop("lf_village", None)
    village = cols[1].selectbox(tr("col.village"), [None, *villages], key="lf_village", disabled=not township,
                                help=None if township else tr("ledger.township_first"), placeholder=tr("ui.choose"),
                                format_func=lambda i: "—" if i is None else villages[i])
    generation = st.session_state.get("lf_generation", 0)
    if st.session_state.get("lf_source") not in options["sources"]:
        st.session_state.pop("lf_source", None)
    with st.form("finding_form", enter_to_submit=False):
        cols = st.columns(2)
        source = cols[0].selectbox(tr("col.source"), list(options["sources"]), key="lf_source",
                                   format_func=lambda i: options["sources"][i], placeholder=tr("ui.choose"))
        category = cols[1].selectbox(tr("col.category"), list(options["categories"]), key="lf_category",
                                     format_func=lambda i: options["categories"][i], placeholder=tr("ui.choose"))
        description = st.text_area(tr("col.description"), key="lf_description")
        st.markdown(f"**{tr('log.measures')}**")
        st.caption(tr("log.measures_help"))
        measures = measures_table(f"lf_measures_{generation}")
        cols = st.columns(2)
        lead = cols[0].selectbox(tr("col.lead_unit"), list(options["units"]), key="lf_lead",
                                 format_func=lambda i: options["units"][i], placeholder=tr("ui.choose"))
        co_units = cols[1].multiselect(tr("col.co_units"), list(options["units"]), key="lf_co",
                                       format_func=lambda i: options["units"][i], placeholder=tr("ui.choose_many"))
        cols = st.columns(4)
        rect_type = cols[0].selectbox(tr("col.rect_type"), codes(RectType), index=1, key="lf_type",
                                      format_func=lambda c: lbl(c, RectType), placeholder=tr("ui.choose"))
        priority = cols[1].selectbox(tr("col.priority"), codes(Priority), key="lf_priority",
                                     format_func=lambda c: lbl(c, Priority), placeholder=tr("ui.choose"))
        deadline = cols[2].date_input(tr("col.deadline"), value=clock.today() + dt.timedelta(days=60),
                                      key="lf_deadline")
        leader = cols[3].text_input(tr("col.leader"), key="lf_leader")
        cols = st.columns(2)
        person = cols[0].text_input(tr("col.person"), key="lf_person")
        remarks = cols[1].text_input(tr("col.remarks"), key="lf_remarks")
        pressed = st.form_submit_button(tr("log.save_finding"), type="primary")
    if pressed:
        data = FindingInput(
            source_id=source, category_id=category, description=description, lead_unit_id=lead,
            measures=measure_inputs(measures),
            deadline=None if rect_type == RectType.LONG_TERM else deadline, rect_type=rect_type,
            priority=priority, co_unit_ids=co_units, township=township, village_id=village,
            responsible_leader=leader, responsible_person=person, remarks=remarks,
            repeat_of_id=repeat[0] if repeat else None)
        finding = run_service(svc.log_finding, actor, data)
        if finding:
            st.session_state.pop("repeat_of", None)
            st.session_state.pop("lf_measure_rows", None)
            for key in CLEARED_AFTER_SAVE:
                st.session_state.pop(key, None)
            st.session_state["lf_generation"] = generation + 1  # an empty measures table
            st.session_state.setdefault("logged_now", []).append(finding.serial)
            flash("log.finding_saved", serial=finding.serial)
            st.rerun()


def render() -> None:
    actor = navigation.require("log")
    show_flash()
    st.title(tr("page.log"))
    with reading() as session:
        options = views.choices(session)
    apply_staged()
    if st.session_state.get("lf_step") not in STEPS:
        st.session_state["lf_step"] = "findings" if options["sources"] else "source"
    step = st.segmented_control(tr("log.step"), STEPS, key="lf_step", label_visibility="collapsed", required=True,
                                format_func=lambda s: tr("log.tab_source" if s == "source" else "log.tab_findings"))
    if step == "source":
        source_form(actor)
        report_section(actor, options["sources"])
        return
    st.caption(tr("log.quick_help"))
    if not options["sources"]:
        st.info(tr("log.no_sources"))
    else:
        finding_form(actor, options)
    logged = st.session_state.get("logged_now", [])
    if logged:
        st.caption(tr("log.logged_now", serials=joined(logged[-10:])))
