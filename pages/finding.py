"""问题详情 Finding detail: every field, measures, progress, evidence, history, and the actions
the signed-in user's role allows in the finding's current state."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from sqlalchemy import select

from dashboard.lifecycle import Action, can
from dashboard.services import findings as svc
from dashboard.services import views
from dashboard.services.findings import UploadedFile
from dashboard.ui import navigation
from dashboard.ui.context import flash, lbl, reading, run_service, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import day, evidence_upload_limits, image_preview, light_badge
from dashboard.vocab import (EscalationKind, ExtensionDecision, Priority, RectType, ReviewDecision, SourceKind,
                             Status, VillageLevel, codes)
from db.models import Finding

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def finish(message_key: str | None) -> None:
    """After a successful action: forget the version this page saw (it changed) and show the result."""
    for key in [k for k in st.session_state if str(k).startswith("seen_version_")]:
        del st.session_state[key]
    if message_key:
        flash(message_key)
    st.rerun()


def pick_finding() -> int | None:
    """The finding to show: the one opened from another page, or one looked up by its serial."""
    serial = st.text_input(tr("finding.lookup"), key="lookup_serial", placeholder="ZG-2026-0001")
    if serial.strip():
        with reading() as session:
            found = session.execute(select(Finding.id).where(Finding.serial == serial.strip().upper())).scalar()
        if found is None:
            st.warning(tr("finding.not_found", serial=plain(serial)))
        else:
            st.session_state["finding_id"] = found
    return st.session_state.get("finding_id")


def header(detail: dict) -> None:
    finding = detail["finding"]
    st.markdown(f"### {plain(finding.serial)} &nbsp; {light_badge(detail['light'])} &nbsp; "
                f"<span style='font-size:0.9em'>{lbl(finding.status, Status)}</span>", unsafe_allow_html=True)
    st.markdown(f"**{plain(finding.description)}**")
    if detail["days_overdue"]:
        st.error(tr("finding.overdue_by", days=detail["days_overdue"]))
    if detail["shared_evidence"]:
        st.warning(tr("finding.shared_evidence"))


def facts(detail: dict) -> None:
    finding, village, source = detail["finding"], detail["village"], detail["source"]
    rows = [
        ("col.source", f"{source.title}（{lbl(source.kind, SourceKind)}，{source.issuing_body}）"),
        ("col.category", detail["category"]),
        ("col.township", finding.township or "—"),
        ("col.village", f"{village.name}（{lbl(village.level, VillageLevel)}）" if village else "—"),
        ("col.lead_unit", detail["lead_unit"]),
        ("col.co_units", "、".join(detail["co_units"]) or "—"),
        ("col.leader", finding.responsible_leader or "—"),
        ("col.person", finding.responsible_person or "—"),
        ("col.rect_type", lbl(finding.rect_type, RectType)),
        ("col.priority", lbl(finding.priority, Priority)),
        ("col.deadline_original", day(finding.original_deadline)),
        ("col.deadline_now", day(finding.current_deadline)),
        ("col.logged", f"{day(finding.created_at)} {detail['people'].get(finding.created_by_id, '')}"),
        ("col.closed_at", day(finding.closed_at)),
        ("col.repeat_of", detail["repeat_of_serial"] or "—"),
        *([("col.original_serial", finding.original_serial)] if finding.original_serial else []),
        ("col.remarks", finding.remarks or finding.cancel_reason or "—"),
    ]
    left, right = st.columns(2)
    half = (len(rows) + 1) // 2
    for column, chunk in ((left, rows[:half]), (right, rows[half:])):
        column.dataframe(pd.DataFrame([{tr("ui.field"): tr(key), tr("ui.value"): str(value)} for key, value in chunk]),
                         hide_index=True, width="stretch")


def measures_tab(detail: dict, actor, seen_version: int) -> None:
    finding = detail["finding"]
    may_tick = can(actor, Action.TICK_MEASURE, status=finding.status, lead_unit_id=finding.lead_unit_id,
                   co_unit_ids=detail["co_unit_ids"])
    for measure in detail["measures"]:
        cols = st.columns([6, 2, 2])
        mark = "☑" if measure.done else "☐"
        cols[0].markdown(f"{mark} {measure.seq}. {plain(measure.text)}")
        cols[1].caption(f"{tr('col.deadline')}: {day(measure.deadline)}")
        if measure.done:
            cols[2].caption(f"{tr('finding.done_at')}: {day(measure.done_at)}")
        elif may_tick and cols[2].button(tr("finding.tick"), key=f"tick_{measure.id}"):
            if run_service(svc.tick_measure, actor, measure.id, measure.version, conflict_key="conflict"):
                finish("finding.ticked")


def progress_tab(detail: dict) -> None:
    if not detail["progress"]:
        st.info(tr("finding.no_progress"))
    for entry in detail["progress"]:
        with st.container(border=True):
            st.markdown(f"**{day(entry.reported_at)}** · {plain(detail['people'].get(entry.author_id, ''))} · "
                        f"{tr('col.percent')} {entry.percent}%")
            st.markdown(plain(entry.done_text))
            if entry.next_text:
                st.caption(f"{tr('finding.next_step')}: {plain(entry.next_text)}")


def evidence_tab(detail: dict, actor) -> None:
    if not detail["evidence"]:
        st.info(tr("finding.no_evidence"))
    for evidence in detail["evidence"]:
        cols = st.columns([5, 2, 2, 2])
        flag = " ⚠" if evidence.sha256 in detail["shared_evidence"] else ""
        cols[0].markdown(f"**{plain(evidence.filename)}**{flag}")
        cols[1].caption(f"{evidence.size / 1024:.1f} KB")
        cols[2].caption(day(evidence.uploaded_at))
        with reading() as session:
            _, data = views.evidence_file(session, actor, evidence.id)
        cols[3].download_button(tr("finding.download"), data, file_name=evidence.filename,
                                mime=evidence.content_type, key=f"dl_{evidence.id}")
        if evidence.content_type in IMAGE_TYPES:
            preview = image_preview(evidence.sha256, data)  # None for a file that cannot be shown safely
            if preview:
                st.image(preview, width=320)
            else:
                st.caption(tr("finding.no_preview"))


def history_tab(detail: dict) -> None:
    people = detail["people"]
    if detail["extensions"]:
        st.markdown(f"**{tr('finding.extensions')}**")
        st.dataframe(pd.DataFrame([{
            tr("col.requested_at"): day(x.requested_at), tr("col.reason"): x.reason,
            tr("col.deadline_original"): day(x.old_deadline), tr("col.asked_deadline"): day(x.asked_deadline),
            tr("col.decision"): lbl(x.decision, ExtensionDecision), tr("col.decided_by"): people.get(x.decided_by_id, ""),
            tr("col.comment"): x.comment,
        } for x in detail["extensions"]]), hide_index=True, width="stretch")
    if detail["reviews"]:
        st.markdown(f"**{tr('finding.reviews')}**")
        st.dataframe(pd.DataFrame([{
            tr("col.applied_at"): day(r.applied_at), tr("col.applied_by"): people.get(r.applied_by_id, ""),
            tr("col.summary"): r.summary, tr("col.evidence_count"): len(r.evidence_ids),
            tr("col.decision"): lbl(r.decision, ReviewDecision), tr("col.decided_by"): people.get(r.decided_by_id, ""),
            tr("col.reason"): r.reason,
        } for r in detail["reviews"]]), hide_index=True, width="stretch")
    if detail["escalations"]:
        st.markdown(f"**{tr('finding.escalations')}**")
        st.dataframe(pd.DataFrame([{
            tr("col.date"): day(e.issued_on), tr("col.kind"): lbl(e.kind, EscalationKind),
            tr("col.by"): people.get(e.issued_by_id, ""), tr("col.respond_by"): day(e.respond_by), tr("col.note"): e.note,
        } for e in detail["escalations"]]), hide_index=True, width="stretch")
    if not (detail["extensions"] or detail["reviews"] or detail["escalations"]):
        st.info(tr("finding.no_history"))


def audit_tab(detail: dict) -> None:
    st.dataframe(pd.DataFrame([{
        tr("col.time"): day(row.at), tr("col.user"): row.username, tr("col.action"): row.action,
        tr("col.entity"): row.entity, tr("col.old"): _short(row.old), tr("col.new"): _short(row.new),
        tr("col.note"): row.note,
    } for row in detail["audit"]]), hide_index=True, width="stretch")


def _short(values: dict | None) -> str:
    if not values:
        return ""
    text = "；".join(f"{key}={value}" for key, value in values.items())
    return text if len(text) < 160 else text[:157] + "…"


# --- action forms ------------------------------------------------------------------------------------

def department_actions(detail: dict, actor, seen: int) -> None:
    finding, co_units = detail["finding"], detail["co_unit_ids"]

    def allowed(action: Action) -> bool:
        return can(actor, action, status=finding.status, lead_unit_id=finding.lead_unit_id, co_unit_ids=co_units)

    if allowed(Action.REPORT_PROGRESS):
        generation = st.session_state.get("progress_form_generation", 0)  # a new one empties the form
        with st.form("progress_form"):
            st.markdown(f"**{tr('action.report_progress')}**")
            done = st.text_area(tr("finding.done_text"), key=f"p_done_{generation}")
            nxt = st.text_input(tr("finding.next_step"), key=f"p_next_{generation}")
            pct = st.slider(tr("col.percent"), 0, 100, 50, step=5, key=f"p_percent_{generation}")
            files = st.file_uploader(tr("finding.upload"), accept_multiple_files=True, key=f"p_files_{generation}",
                                     **evidence_upload_limits())
            if st.form_submit_button(tr("ui.submit"), type="primary"):
                uploads = [UploadedFile(f.name, f.getvalue(), f.type) for f in files or []]
                if run_service(svc.report_progress, actor, finding.id, done_text=done, next_text=nxt, percent=pct,
                               files=uploads):
                    st.session_state["progress_form_generation"] = generation + 1
                    finish("finding.progress_saved")
    if allowed(Action.REQUEST_EXTENSION) and detail["pending_extension"] is None and finding.current_deadline:
        with st.form("extension_form"):
            st.markdown(f"**{tr('action.request_extension')}**")
            asked = st.date_input(tr("col.asked_deadline"), value=finding.current_deadline + dt.timedelta(days=30),
                                  key="x_date")
            reason = st.text_area(tr("col.reason"), key="x_reason")
            if st.form_submit_button(tr("ui.submit")):
                if run_service(svc.request_extension, actor, finding.id, asked_deadline=asked, reason=reason):
                    finish("finding.extension_requested")
    if allowed(Action.APPLY_CLOSURE):
        with st.form("apply_form"):
            st.markdown(f"**{tr('action.apply_closure')}**")
            st.caption(tr("finding.apply_help"))
            summary = st.text_area(tr("col.summary"), key="a_summary")
            if st.form_submit_button(tr("action.apply_closure"), type="primary"):
                if run_service(svc.apply_closure, actor, finding.id, seen, summary=summary, conflict_key="conflict"):
                    finish("finding.applied")


def inspector_actions(detail: dict, actor, seen: int) -> None:
    finding, co_units = detail["finding"], detail["co_unit_ids"]

    def allowed(action: Action) -> bool:
        return can(actor, action, status=finding.status, lead_unit_id=finding.lead_unit_id, co_unit_ids=co_units)

    if allowed(Action.CLOSE) or allowed(Action.SEND_BACK):
        with st.form("review_form"):
            st.markdown(f"**{tr('finding.review')}**")
            latest = detail["reviews"][-1] if detail["reviews"] else None
            if latest is not None:
                st.info(f"{tr('col.summary')}: {plain(latest.summary)}")
            comment = st.text_area(tr("finding.review_comment"), key="r_comment")
            options = ["close", "send_back"] + (["set_ongoing"] if finding.rect_type == RectType.LONG_TERM else [])
            choice = st.radio(tr("col.decision"), options, horizontal=True, key="r_choice",
                              format_func=lambda o: tr(f"action.{o}"))
            if st.form_submit_button(tr("ui.submit"), type="primary"):
                service = {"close": svc.close, "send_back": svc.send_back, "set_ongoing": svc.set_ongoing}[choice]
                if run_service(service, actor, finding.id, seen, comment, conflict_key="conflict"):
                    finish(f"finding.decided_{choice}")
    pending = detail["pending_extension"]
    if pending is not None and can(actor, Action.DECIDE_EXTENSION, lead_unit_id=finding.lead_unit_id,
                                   co_unit_ids=co_units):
        with st.form("decide_extension_form"):
            st.markdown(f"**{tr('action.decide_extension')}**")
            st.info(tr("finding.extension_asked", old=day(pending.old_deadline), new=day(pending.asked_deadline),
                       reason=plain(pending.reason)))
            comment = st.text_input(tr("col.comment"), key="d_comment")
            approve = st.radio(tr("col.decision"), [True, False], horizontal=True, key="d_choice",
                               format_func=lambda a: tr("extension_decision.approved" if a else "extension_decision.rejected"))
            if st.form_submit_button(tr("ui.submit")):
                if run_service(svc.decide_extension, actor, pending.id, approve=approve, comment=comment,
                               expected_version=seen, conflict_key="conflict"):
                    finish("finding.extension_decided")
    if finding.status == Status.CLOSED and can(actor, Action.LOG_REPEAT):
        if st.button(tr("action.log_repeat"), key="log_repeat"):
            st.session_state["repeat_of"] = (finding.id, finding.serial)
            navigation.goto("log")


def escalation_form(detail: dict, actor) -> None:
    finding = detail["finding"]
    if not can(actor, Action.RECORD_ESCALATION, status=finding.status):
        return
    with st.form("escalation_form"):
        st.markdown(f"**{tr('action.record_escalation')}**")
        cols = st.columns(2)
        kind = cols[0].selectbox(tr("col.kind"), codes(EscalationKind), format_func=lambda k: lbl(k, EscalationKind),
                                 key="e_kind")
        respond_by = cols[1].date_input(tr("col.respond_by"), value=None, key="e_respond")
        note = st.text_area(tr("col.note"), key="e_note")
        if st.form_submit_button(tr("ui.submit")):
            if run_service(svc.record_escalation, actor, kind=kind, note=note, finding_id=finding.id,
                           respond_by=respond_by):
                finish("finding.escalated")


def admin_actions(detail: dict, actor, seen: int) -> None:
    finding = detail["finding"]
    if can(actor, Action.CANCEL, status=finding.status):
        with st.form("cancel_form"):
            st.markdown(f"**{tr('action.cancel')}**")
            reason = st.text_input(tr("col.reason"), key="c_reason")
            if st.form_submit_button(tr("action.cancel")):
                if run_service(svc.cancel, actor, finding.id, seen, reason, conflict_key="conflict"):
                    finish("finding.cancelled")
    if can(actor, Action.EDIT_FINDING, status=finding.status):
        with st.form("edit_form"):
            st.markdown(f"**{tr('action.edit_finding')}**")
            description = st.text_area(tr("col.description"), value=finding.description, key=f"ed_desc_{finding.id}")
            cols = st.columns(2)
            priority = cols[0].selectbox(tr("col.priority"), codes(Priority), format_func=lambda p: lbl(p, Priority),
                                         index=codes(Priority).index(finding.priority), key=f"ed_pri_{finding.id}")
            remarks = cols[1].text_input(tr("col.remarks"), value=finding.remarks, key=f"ed_rem_{finding.id}")
            if st.form_submit_button(tr("ui.save")):
                if run_service(svc.edit_finding, actor, finding.id, seen,
                               {"description": description, "priority": priority, "remarks": remarks},
                               conflict_key="conflict"):
                    finish("ui.saved")


def show_conflict() -> None:
    other = st.session_state.pop("conflict", None)
    if other:
        with st.container(border=True):
            st.warning(tr("finding.conflict_shown"))
            keys = ("serial", "status", "description", "current_deadline", "remarks", "priority", "version")
            st.dataframe(pd.DataFrame([{tr("ui.field"): key, tr("ui.value"): str(other.get(key, ""))}
                                       for key in keys if key in other]), hide_index=True, width="stretch")


def render() -> None:
    actor = navigation.require("finding")
    show_flash()
    st.title(tr("page.finding"))
    finding_id = pick_finding()
    if finding_id is None:
        st.info(tr("finding.pick_hint"))
        return
    with reading() as session:
        try:
            detail = views.finding_detail(session, actor, finding_id)
        except Exception as error:  # not visible, or gone: say so, never a stack trace
            from dashboard.errors import DomainError

            if not isinstance(error, DomainError):
                raise
            st.error(error.message(st.session_state.get("lang", "zh")))
            return
    finding = detail["finding"]
    seen_key = f"seen_version_{finding.id}"
    seen = st.session_state.get(seen_key, finding.version)
    header(detail)
    show_conflict()
    facts(detail)
    tabs = st.tabs([tr("finding.tab_measures"), tr("finding.tab_progress"), tr("finding.tab_evidence"),
                    tr("finding.tab_history"), tr("finding.tab_audit")])
    with tabs[0]:
        measures_tab(detail, actor, seen)
    with tabs[1]:
        progress_tab(detail)
    with tabs[2]:
        evidence_tab(detail, actor)
    with tabs[3]:
        history_tab(detail)
    with tabs[4]:
        audit_tab(detail)
    st.divider()
    st.subheader(tr("finding.actions"))
    department_actions(detail, actor, seen)
    inspector_actions(detail, actor, seen)
    admin_actions(detail, actor, seen)
    escalation_form(detail, actor)
    st.session_state[seen_key] = finding.version
