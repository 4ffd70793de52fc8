"""问题详情 Finding detail: every field, measures, progress, evidence, history, and the actions
the signed-in user's role allows in the finding's current state."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import clock
from dashboard.errors import DomainError
from dashboard.lifecycle import Action
from dashboard.services import findings as svc
from dashboard.services import views
from dashboard.services.views import FindingDetail
from dashboard.services.findings import MeasureEdit, UploadedFile
from dashboard.ui import navigation
from dashboard.ui.context import (cached_view, data_version, flash, joined, lang, lbl, read_later, reading, run_service,
                                  show_flash, tr, view_key)
from dashboard.ui.safe import html_text, plain
from dashboard.ui.widgets import (arrow, day, evidence_upload_limits, forget_opened, image_preview, light_badge,
                                  measure_records, opened_version, submit_opened)
from dashboard.vocab import (EscalationKind, ExtensionDecision, Light, Priority, RectType, ReviewDecision, SourceKind,
                             Status, VillageLevel, codes)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def finish(message_key: str | None) -> None:
    """After a successful action: forget the versions the forms were opened with (the record changed,
    and the user saw their own change) and show the result where the user is."""
    forget_opened()
    if message_key:
        flash(message_key)
    st.rerun()


def submit(form: str, fn, *args, **kwargs):
    """``submit_opened`` with this page's conflict key (``show_conflict`` shows the other edit)."""
    return submit_opened(form, fn, *args, conflict_key="conflict", **kwargs)


def pick_finding() -> int | None:
    """The finding to show: the one opened from another page, or one looked up by its serial."""
    serial = st.text_input(tr("finding.lookup"), key="lookup_serial", placeholder="ZG-2026-0001")
    if serial.strip():
        found = _finding_id(data_version(), serial)
        if found is None:
            st.warning(tr("finding.not_found", serial=plain(serial)))
        else:
            st.session_state["finding_id"] = found
    return st.session_state.get("finding_id")


@cached_view(max_entries=256)
def _finding_id(version: str, serial: str) -> int | None:
    with reading() as session:
        return views.finding_id_by_serial(session, serial)


@cached_view(max_entries=256)
def finding_view(key: tuple, finding_id: int, user_id: int | None, _actor) -> FindingDetail:
    """The detail read model, once per key, finding and person (the actions it offers depend on who asks:
    whoever verified a finding may not decide on it); a finding the actor may not see raises each time (an
    exception is never cached)."""
    with reading() as session:
        return views.finding_detail(session, _actor, finding_id)


def header(detail: FindingDetail) -> None:
    finding = detail.finding
    status = lbl(finding.status, Status)
    # a closed or cancelled finding's light already says so: "✔ 已销号", not "✔ 已销号 已销号"
    said = detail.light in (Light.CLOSED, Light.CANCELLED)
    st.markdown(f"### {plain(finding.serial)} &nbsp; {light_badge(detail.light)}"
                + ("" if said else f" &nbsp; <span style='font-size:0.9em'>{status}</span>"), unsafe_allow_html=True)
    st.markdown(f"**{plain(finding.description)}**")
    if detail.days_overdue:
        st.error(tr("finding.overdue_by", days=detail.days_overdue))
    if detail.shared_evidence:
        st.warning(tr("finding.shared_evidence"))


@cached_view(max_entries=256)
def _facts_html(key: tuple, finding_id: int, _detail: FindingDetail) -> str:
    """The facts as two tables side by side (one under the other on a phone), one element of HTML, once per key
    and finding (two data frames in two columns were five elements, each drawn on a canvas)."""
    detail = _detail
    finding, village, source = detail.finding, detail.village, detail.source
    rows = [
        ("col.source", tr("finding.source_fact", title=source.title, kind=lbl(source.kind, SourceKind),
                          body=source.issuing_body)),
        ("col.category", detail.category),
        ("col.township", finding.township or "—"),
        ("col.village", tr("finding.village_fact", name=village.name, level=lbl(village.level, VillageLevel))
         if village else "—"),
        ("col.lead_unit", detail.lead_unit),
        ("col.co_units", joined(detail.co_units) or "—"),
        ("col.leader", finding.responsible_leader or "—"),
        ("col.person", finding.responsible_person or "—"),
        ("col.rect_type", lbl(finding.rect_type, RectType)),
        ("col.priority", lbl(finding.priority, Priority)),
        ("col.deadline_original", day(finding.original_deadline)),
        ("col.deadline_now", day(finding.current_deadline)),
        ("col.logged", f"{day(finding.created_at)} {detail.people.get(finding.created_by_id, '')}"),
        ("col.closed_at", day(finding.closed_at)),
        ("col.repeat_of", detail.repeat_of_serial or "—"),
        *([("col.original_serial", finding.original_serial)] if finding.original_serial else []),
        ("col.remarks", finding.remarks or finding.cancel_reason or "—"),
    ]
    half = (len(rows) + 1) // 2
    tables = "".join(
        "<table>" + "".join(f"<tr><th>{html_text(tr(label))}</th><td>{html_text(value)}</td></tr>"
                            for label, value in chunk) + "</table>"
        for chunk in (rows[:half], rows[half:]))
    return f'<div class="zg-facts">{tables}</div>'


def facts(key: tuple, detail: FindingDetail) -> None:
    st.markdown(_facts_html(key, detail.finding.id, detail), unsafe_allow_html=True)


def measures_tab(detail: FindingDetail, actor) -> None:
    """The measures, one line each: the lines with nothing to press go out together as one element; a measure
    the user may tick is a row with its button."""
    may_tick = open_to(detail, Action.TICK_MEASURE)
    lines: list[str] = []
    for measure in detail.measures:
        mark = "☑" if measure.done else "☐"
        text = f"{mark} {measure.seq}. {html_text(measure.text)}"
        deadline = f"{tr('col.deadline')}: {day(measure.deadline)}"
        if measure.done or not may_tick:
            done = f"{tr('finding.done_at')}: {day(measure.done_at)}" if measure.done else ""
            lines.append(_measure_line(text, deadline, done))
            continue
        _lines(lines)
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown(_measure_line(text, deadline), unsafe_allow_html=True)
        if row.button(tr("finding.tick"), key=f"tick_{measure.id}"):
            if submit("tick", svc.tick_measure, actor, measure.id, measure.version):
                finish("finding.ticked")
    _lines(lines)


def _measure_line(text: str, deadline: str, done: str | None = None) -> str:
    """A measure's line (``.zg-line``): its text, its deadline and, unless a tick button stands there, when done."""
    cells = [f"<span>{text}</span>", f'<span class="zg-muted">{deadline}</span>']
    if done is not None:
        cells.append(f'<span class="zg-muted">{done}</span>')
    return f'<div class="zg-line">{"".join(cells)}</div>'


def _lines(lines: list[str]) -> None:
    """Draw the lines gathered so far as one element, and start again."""
    if lines:
        st.markdown("".join(lines), unsafe_allow_html=True)
        lines.clear()


def progress_tab(detail: FindingDetail) -> None:
    """Every progress entry as a bordered card, all of them one element (they were four each)."""
    if not detail.progress:
        st.info(tr("finding.no_progress"))
        return
    cards = []
    for entry in detail.progress:
        head = (f"<b>{day(entry.reported_at)}</b> · {html_text(detail.people.get(entry.author_id, ''))} · "
                f"{tr('col.percent')} {entry.percent}%")
        following = (f'<div class="zg-muted">{tr("finding.next_step")}: {html_text(entry.next_text)}</div>'
                     if entry.next_text else "")
        cards.append(f'<div class="zg-card"><div>{head}</div><div>{html_text(entry.done_text)}</div>{following}</div>')
    st.markdown("".join(cards), unsafe_allow_html=True)


def evidence_tab(detail: FindingDetail, actor) -> None:
    if not detail.evidence:
        st.info(tr("finding.no_evidence"))
    for evidence in detail.evidence:
        cols = st.columns([5, 2, 2, 2])
        flag = " ⚠" if evidence.sha256 in detail.shared_evidence else ""
        cols[0].markdown(f"**{plain(evidence.filename)}**{flag}")
        cols[1].caption(f"{evidence.size / 1024:.1f} KB")
        cols[2].caption(day(evidence.uploaded_at))
        load = read_later(views.evidence_bytes, actor, evidence.id)  # the bytes are read on a click, not each rerun
        cols[3].download_button(tr("finding.download"), load, file_name=evidence.filename,
                                mime=evidence.content_type, key=f"dl_{evidence.id}")
        if evidence.content_type in IMAGE_TYPES:
            preview = image_preview(evidence.sha256, load)  # None for a file that cannot be shown safely
            if preview:
                st.image(preview, width=320)
            else:
                st.caption(tr("finding.no_preview"))


@cached_view(max_entries=256)
def _history_tables(key: tuple, finding_id: int, _detail: FindingDetail) -> list[tuple[str, Any]]:
    """Extensions, closure reviews and escalations, each a table in Arrow (or absent), once per key and finding."""
    detail, people = _detail, _detail.people
    tables: list[tuple[str, Any]] = []
    if detail.extensions:
        tables.append(("finding.extensions", arrow(pd.DataFrame([{
            tr("col.requested_at"): day(x.requested_at), tr("col.reason"): x.reason,
            tr("col.deadline_original"): day(x.old_deadline), tr("col.asked_deadline"): day(x.asked_deadline),
            tr("col.decision"): lbl(x.decision, ExtensionDecision), tr("col.decided_by"): people.get(x.decided_by_id, ""),
            tr("col.comment"): x.comment,
        } for x in detail.extensions]))))
    if detail.reviews:
        tables.append(("finding.reviews", arrow(pd.DataFrame([{
            tr("col.applied_at"): day(r.applied_at), tr("col.applied_by"): people.get(r.applied_by_id, ""),
            tr("col.summary"): r.summary, tr("col.evidence_count"): len(r.evidence_ids),
            tr("col.decision"): lbl(r.decision, ReviewDecision), tr("col.decided_by"): people.get(r.decided_by_id, ""),
            tr("col.reason"): r.reason,
        } for r in detail.reviews]))))
    if detail.escalations:
        tables.append(("finding.escalations", arrow(pd.DataFrame([{
            tr("col.date"): day(e.issued_on), tr("col.kind"): lbl(e.kind, EscalationKind),
            tr("col.by"): people.get(e.issued_by_id, ""), tr("col.respond_by"): day(e.respond_by), tr("col.note"): e.note,
        } for e in detail.escalations]))))
    return tables


def history_tab(key: tuple, detail: FindingDetail) -> None:
    tables = _history_tables(key, detail.finding.id, detail)
    for title, table in tables:
        st.markdown(f"**{tr(title)}**")
        st.dataframe(table, hide_index=True, width="stretch")
    if not tables:
        st.info(tr("finding.no_history"))


@cached_view(max_entries=256)
def _audit_table(key: tuple, finding_id: int, _detail: FindingDetail):
    with reading() as session:
        lines = views.audit_lines(session, finding_id, lang(), entries=_detail.audit)
    return arrow(pd.DataFrame([{tr("col.time"): line.at, tr("col.what_happened"): line.text} for line in lines]))


def audit_tab(key: tuple, detail: FindingDetail) -> None:
    """Every entry as a sentence in the reader's language (dashboard.services.audit_text)."""
    st.dataframe(_audit_table(key, detail.finding.id, detail),
                 hide_index=True, width="stretch", row_height=76,  # a sentence wraps over up to three lines
                 column_config={tr("col.time"): st.column_config.TextColumn(width=130),
                                tr("col.what_happened"): st.column_config.TextColumn(width="large")})


# --- action forms ------------------------------------------------------------------------------------
# Which form to offer is the policy's answer (``detail.actions``, from ``lifecycle.available_actions``):
# the page never re-derives a rule, so it offers exactly what the services accept.

CONTENT_REFUSALS = {"error.measures_open", "error.no_evidence"}  # worth telling the unit: it can fix them


def open_to(detail: FindingDetail, action: Action) -> bool:
    return detail.actions.get(action, True) is None


def why_not(detail: FindingDetail, action: Action) -> int:
    """Say why an action the user would expect is not open yet (returns 1 when something was said)."""
    refused = detail.actions.get(action)
    if refused is None or refused.key not in CONTENT_REFUSALS:
        return 0
    st.info(f"{tr('action.' + action.value)}: {tr(refused.key, **refused.params)}")
    return 1


def department_actions(detail: FindingDetail, actor) -> int:
    """The unit's forms; returns how many were offered."""
    finding = detail.finding
    offered = 0

    def allowed(action: Action) -> bool:
        return open_to(detail, action)

    if allowed(Action.REPORT_PROGRESS):
        offered += 1
        generation = st.session_state.get("progress_form_generation", 0)  # a new one empties the form
        limits = evidence_upload_limits()
        with st.form("progress_form", enter_to_submit=False):
            st.markdown(f"**{tr('action.report_progress')}**")
            done = st.text_area(tr("finding.done_text"), key=f"p_done_{generation}")
            nxt = st.text_input(tr("finding.next_step"), key=f"p_next_{generation}")
            pct = st.slider(tr("col.percent"), 0, 100, 50, step=5, key=f"p_percent_{generation}")
            files = st.file_uploader(tr("finding.upload"), accept_multiple_files=True, key=f"p_files_{generation}",
                                     **limits)
            st.caption(limits["help"])  # Streamlit's own "… per file" line is English, and hidden
            if st.form_submit_button(tr("ui.submit"), type="primary"):
                uploads = [UploadedFile(f.name, f.getvalue(), f.type) for f in files or []]
                if run_service(svc.report_progress, actor, finding.id, done_text=done, next_text=nxt, percent=pct,
                               files=uploads):
                    st.session_state["progress_form_generation"] = generation + 1
                    finish("finding.progress_saved")
    if allowed(Action.REQUEST_EXTENSION):
        offered += 1
        with st.form("extension_form", enter_to_submit=False):
            st.markdown(f"**{tr('action.request_extension')}**")
            asked = st.date_input(tr("col.asked_deadline"), value=finding.current_deadline + dt.timedelta(days=30),
                                  key="x_date")
            reason = st.text_area(tr("col.reason"), key="x_reason")
            if st.form_submit_button(tr("ui.submit")):
                if run_service(svc.request_extension, actor, finding.id, asked_deadline=asked, reason=reason):
                    finish("finding.extension_requested")
    if not allowed(Action.APPLY_CLOSURE):
        offered += why_not(detail, Action.APPLY_CLOSURE)  # e.g. 2 measures still open: say so, offer nothing
    else:
        offered += 1
        seen = opened_version("apply", "a_summary", finding.version)
        with st.form("apply_form", enter_to_submit=False):
            st.markdown(f"**{tr('action.apply_closure')}**")
            st.caption(tr("finding.apply_help"))
            summary = st.text_area(tr("col.summary"), key="a_summary")
            if st.form_submit_button(tr("action.apply_closure"), type="primary"):
                if submit("apply", svc.apply_closure, actor, finding.id, seen, summary=summary):
                    finish("finding.applied")
    return offered


def inspector_actions(detail: FindingDetail, actor) -> int:
    finding = detail.finding
    offered = 0

    def allowed(action: Action) -> bool:
        return open_to(detail, action)

    if allowed(Action.CLOSE) or allowed(Action.SEND_BACK):
        offered += 1
        seen = opened_version("review", "r_comment", finding.version)
        with st.form("review_form", enter_to_submit=False):
            st.markdown(f"**{tr('finding.review')}**")
            latest = detail.reviews[-1] if detail.reviews else None
            if latest is not None:
                st.info(f"{tr('col.summary')}: {plain(latest.summary)}")
            comment = st.text_area(tr("finding.review_comment"), key="r_comment")
            options = [a.value for a in (Action.CLOSE, Action.SEND_BACK, Action.SET_ONGOING) if allowed(a)]
            choice = st.radio(tr("col.decision"), options, horizontal=True, key="r_choice",
                              format_func=lambda o: tr(f"action.{o}"))
            if st.form_submit_button(tr("ui.submit"), type="primary"):
                service = {"close": svc.close, "send_back": svc.send_back, "set_ongoing": svc.set_ongoing}[choice]
                if submit("review", service, actor, finding.id, seen, comment):
                    finish(f"finding.decided_{choice}")
    pending = detail.pending_extension
    if pending is not None and allowed(Action.DECIDE_EXTENSION):
        offered += 1
        seen = opened_version("decide", "d_comment", finding.version)
        # the request the form was opened on, not whichever is pending when the button is pressed
        request_id = opened_version("decide_request", "d_comment", pending.id)
        with st.form("decide_extension_form", enter_to_submit=False):
            st.markdown(f"**{tr('action.decide_extension')}**")
            st.info(tr("finding.extension_asked", old=day(pending.old_deadline), new=day(pending.asked_deadline),
                       reason=plain(pending.reason)))
            comment = st.text_input(tr("col.comment"), key="d_comment")
            approve = st.radio(tr("col.decision"), [True, False], horizontal=True, key="d_choice",
                               format_func=lambda a: tr("extension_decision.approved" if a else "extension_decision.rejected"))
            if st.form_submit_button(tr("ui.submit")):
                if submit("decide", svc.decide_extension, actor, request_id, approve=approve, comment=comment,
                          expected_version=seen):
                    finish("finding.extension_decided")
    if open_to(detail, Action.LOG_REPEAT):
        offered += 1
        if st.button(tr("action.log_repeat"), key="log_repeat"):
            st.session_state["repeat_of"] = (finding.id, finding.serial)
            navigation.goto("log")
    return offered


def escalation_form(detail: FindingDetail, actor) -> int:
    finding = detail.finding
    if not open_to(detail, Action.RECORD_ESCALATION):
        return 0
    with st.form("escalation_form", enter_to_submit=False):
        st.markdown(f"**{tr('action.record_escalation')}**")
        cols = st.columns(2)
        kind = cols[0].selectbox(tr("col.kind"), codes(EscalationKind), format_func=lambda k: lbl(k, EscalationKind),
                                 placeholder=tr("ui.choose"), key="e_kind")
        # an optional date is a tick and a date: an empty date box shows Streamlit's English "yyyy/mm/dd"
        respond_by = cols[1].date_input(tr("col.respond_by"), value=clock.today() + dt.timedelta(days=14),
                                        key="e_respond")
        wants_reply = cols[1].checkbox(tr("finding.wants_reply"), value=True, key="e_wants_reply")
        respond_by = respond_by if wants_reply else None
        note = st.text_area(tr("col.note"), key="e_note")
        if st.form_submit_button(tr("ui.submit")):
            if run_service(svc.record_escalation, actor, kind=kind, note=note, finding_id=finding.id,
                           respond_by=respond_by):
                finish("finding.escalated")
    return 1


def admin_actions(detail: FindingDetail, actor) -> int:
    finding = detail.finding
    offered = 0
    if open_to(detail, Action.CANCEL):
        offered += 1
        seen = opened_version("cancel", "c_reason", finding.version)
        with st.form("cancel_form", enter_to_submit=False):
            st.markdown(f"**{tr('action.cancel')}**")
            reason = st.text_input(tr("col.reason"), key="c_reason")
            if st.form_submit_button(tr("action.cancel")):
                if submit("cancel", svc.cancel, actor, finding.id, seen, reason):
                    finish("finding.cancelled")
    if open_to(detail, Action.EDIT_FINDING):
        offered += 1
        edit_form(detail, actor)
    return offered


def measure_rows(frame: pd.DataFrame) -> list[MeasureEdit]:
    """The rows of the measures editor as the service takes them (blank rows dropped)."""
    rows = []
    for text, due, record in measure_records(frame):
        measure_id = record.get("id")
        rows.append(MeasureEdit(text=text, deadline=due,
                                id=None if measure_id is None or pd.isna(measure_id) else int(measure_id)))
    return rows


def measures_editor(key: str, rows: list[dict], deadline: dt.date | None) -> pd.DataFrame:
    """An editable table of measures, one per row, each with its own deadline (blank: the finding's)."""
    frame = pd.DataFrame(rows, columns=["id", "text", "deadline", "done"])
    frame["deadline"] = pd.to_datetime(frame["deadline"])
    frame["done"] = frame["done"].fillna(False).astype(bool)
    return st.data_editor(
        frame, key=key, num_rows="dynamic", hide_index=True, width="stretch", placeholder=tr("log.same_deadline"),
        column_order=["text", "deadline", "done"], disabled=["done"],
        column_config={
            "text": st.column_config.TextColumn(tr("col.measure"), width="large", required=True),
            "deadline": st.column_config.DateColumn(tr("col.measure_deadline"), format="YYYY-MM-DD",
                                                    default=deadline, max_value=deadline,
                                                    help=tr("finding.measure_deadline_help")),
            "done": st.column_config.CheckboxColumn(tr("col.measure_done"), default=False),
        })


def edit_form(detail: FindingDetail, actor) -> None:
    finding = detail.finding
    seen = opened_version("edit", f"ed_desc_{finding.id}", finding.version)
    with st.form("edit_form", enter_to_submit=False):
        st.markdown(f"**{tr('action.edit_finding')}**")
        description = st.text_area(tr("col.description"), value=finding.description, key=f"ed_desc_{finding.id}")
        cols = st.columns(2)
        priority = cols[0].selectbox(tr("col.priority"), codes(Priority), format_func=lambda p: lbl(p, Priority),
                                     index=codes(Priority).index(finding.priority), key=f"ed_pri_{finding.id}",
                                     placeholder=tr("ui.choose"))
        remarks = cols[1].text_input(tr("col.remarks"), value=finding.remarks, key=f"ed_rem_{finding.id}")
        st.caption(tr("finding.measures_edit_help", deadline=day(finding.current_deadline)))
        edited = measures_editor(f"ed_measures_{finding.id}", [
            {"id": m.id, "text": m.text, "deadline": m.deadline, "done": m.done} for m in detail.measures],
            finding.current_deadline)
        if st.form_submit_button(tr("ui.save")):
            if submit("edit", svc.edit_finding, actor, finding.id, seen,
                      {"description": description, "priority": priority, "remarks": remarks},
                      measures=measure_rows(edited)):
                finish("ui.saved")


def show_conflict() -> None:
    other = st.session_state.pop("conflict", None)
    if other:
        with st.container(border=True):
            st.warning(tr("finding.conflict_shown"))
            from dashboard.services.audit_text import Names, field_label, value_text

            keys = ("status", "description", "current_deadline", "remarks", "priority")
            st.dataframe(pd.DataFrame([{tr("ui.field"): field_label(key, lang()),
                                        tr("ui.value"): value_text("Finding", key, other.get(key), Names(), lang())}
                                       for key in keys if key in other]), hide_index=True, width="stretch")


def waiting_note(detail: FindingDetail) -> None:
    """When the user has nothing to do here: say what the finding is waiting for, since when, on whom."""
    finding, people = detail.finding, detail.people
    if finding.status == Status.PENDING_REVIEW and detail.reviews:
        latest = detail.reviews[-1]
        st.info(tr("finding.waiting_review", who=plain(people.get(latest.applied_by_id, "—")),
                   when=day(latest.applied_at)))
    elif finding.status == Status.CLOSED:
        st.info(tr("finding.nothing_closed", when=day(finding.closed_at)))
    elif finding.status == Status.CANCELLED:
        st.info(tr("finding.nothing_cancelled", reason=plain(finding.cancel_reason or "—")))
    else:
        st.info(tr("finding.nothing_for_you", status=lbl(finding.status, Status)))
    pending = detail.pending_extension
    if pending is not None:
        st.info(tr("finding.waiting_extension", who=plain(people.get(pending.requested_by_id, "—")),
                   when=day(pending.requested_at), new=day(pending.asked_deadline)))


def render() -> None:
    actor = navigation.require("finding")
    st.title(tr("page.finding"))
    finding_id = pick_finding()
    if finding_id is None:
        st.info(tr("finding.pick_hint"))
        return
    key = view_key(actor)
    try:
        detail = finding_view(key, finding_id, actor.id, actor)
    except DomainError as error:  # not visible, or gone: say so, never a stack trace
        st.error(error.message(st.session_state.get("lang", "zh")))
        return
    finding = detail.finding
    if st.session_state.get("_opened_for") != finding.id:  # another finding: its forms start afresh
        forget_opened()
        st.session_state["_opened_for"] = finding.id
    header(detail)
    facts(key, detail)
    tabs = st.tabs([tr("finding.tab_measures"), tr("finding.tab_progress"), tr("finding.tab_evidence"),
                    tr("finding.tab_history"), tr("finding.tab_audit")])
    with tabs[0]:
        measures_tab(detail, actor)
    with tabs[1]:
        progress_tab(detail)
    with tabs[2]:
        evidence_tab(detail, actor)
    with tabs[3]:
        history_tab(key, detail)
    with tabs[4]:
        audit_tab(key, detail)
    st.divider()
    st.subheader(tr("finding.actions"))
    show_flash()  # the result of an action, where the user pressed the button
    offered = (department_actions(detail, actor) + inspector_actions(detail, actor) + admin_actions(detail, actor))
    if not offered:
        waiting_note(detail)
    show_conflict()  # the other person's version, right under the form that was refused
    escalation_form(detail, actor)
