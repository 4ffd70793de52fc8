"""我的待办 My work: what the signed-in user should do next, by role."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.services import household_views, queries, views
from dashboard.ui import navigation
from pages import lookback as lookback_page
from dashboard.ui.context import lbl, reading, show_flash, tr
from dashboard.ui.widgets import ROW_CLICK, clicked_row, day, light_text, open_on_click, style_lights, whole
from dashboard.vocab import EscalationKind, Role, Status


def clickable(frame: pd.DataFrame, ids: list[int], key: str, lights: list[str] | None = None) -> None:
    """A work list: clicking anywhere in a row opens its finding."""
    data = style_lights(frame, tr("col.light"), lights) if lights else frame
    open_on_click(data, ids, key)


def department(session, actor) -> None:
    rows = views.department_work(session, actor)
    st.caption(tr("my_work.department_help"))
    if not rows:
        st.success(tr("my_work.nothing"))
        return
    frame = pd.DataFrame([{
        tr("col.light"): light_text(item.light), tr("col.serial"): item.serial,
        tr("col.description"): item.description, tr("col.status"): lbl(item.status, Status),
        tr("col.deadline_now"): day(item.current_deadline),
        tr("col.days_overdue"): whole(item.days_overdue) if item.days_overdue else "—",
        tr("col.next_step"): tr(item.next_step), tr("col.last_update"): day(item.last_progress_at),
    } for item in rows])
    clickable(frame, [item.id for item in rows], "dept_work", [item.light for item in rows])


def inspector(session, actor) -> None:
    work = views.inspector_work(session, actor)
    st.subheader(tr("my_work.reviews", count=len(work.reviews)))
    if work.reviews:
        clickable(pd.DataFrame([{
            tr("col.serial"): review.serial, tr("col.description"): review.description,
            tr("col.lead_unit"): review.unit, tr("col.applied_at"): day(review.applied_at),
            tr("col.summary"): review.summary, tr("col.sent_back_count"): whole(review.sent_back_count),
        } for review in work.reviews]), [review.finding_id for review in work.reviews], "reviews")
    else:
        st.success(tr("my_work.nothing"))
    st.subheader(tr("my_work.extensions", count=len(work.extensions)))
    if work.extensions:
        clickable(pd.DataFrame([{
            tr("col.serial"): request.serial, tr("col.description"): request.description,
            tr("col.lead_unit"): request.unit, tr("col.deadline_now"): day(request.old_deadline),
            tr("col.asked_deadline"): day(request.asked_deadline), tr("col.reason"): request.reason,
        } for request in work.extensions]), [request.finding_id for request in work.extensions], "extensions")
    else:
        st.success(tr("my_work.nothing"))


def leader(session, actor) -> None:
    due = views.escalations_due(session)
    st.subheader(tr("my_work.escalations_due", count=len(due)))
    if due:
        about_findings = [escalation for escalation in due if escalation.finding_id]
        frame = pd.DataFrame([{
            tr("col.kind"): lbl(escalation.kind, EscalationKind), tr("col.serial"): escalation.serial or "",
            tr("col.lead_unit"): escalation.unit, tr("col.date"): day(escalation.issued_on),
            tr("col.respond_by"): day(escalation.respond_by), tr("col.note"): escalation.note,
        } for escalation in about_findings])
        clickable(frame, [escalation.finding_id for escalation in about_findings], "escalations")
    else:
        st.success(tr("my_work.nothing"))
    overdue = queries.overdue_list(session, actor, limit=20)
    st.subheader(tr("my_work.worst_overdue"))
    if overdue:
        clickable(pd.DataFrame([{
            tr("col.serial"): item.serial, tr("col.description"): item.description,
            tr("col.lead_unit"): item.unit, tr("col.days_overdue"): whole(item.days_overdue),
        } for item in overdue]), [item.id for item in overdue], "worst_overdue")


def household_clues(session, actor) -> None:
    """Clues on the 15-day clock whose next step is this user's (乡镇 officers, the county monitoring unit)."""
    work = household_views.my_clues(session, actor)
    if not work and actor.role != Role.TOWNSHIP:
        return
    st.subheader(tr("my_work.clues", count=len(work)))
    if not work:
        st.success(tr("my_work.nothing"))
        return
    frame = pd.DataFrame([{
        tr("col.light"): light_text(item.light), tr("hh.col_number"): item.number, tr("hh.col_head"): item.head_name,
        tr("col.village"): item.village, tr("hh.days_left"): item.days_left, tr("col.next_step"): tr(f"action.{step}"),
    } for item, step in work])
    picked = st.dataframe(style_lights(frame, tr("col.light"), [item.light for item, _ in work]), hide_index=True,
                          width="stretch", on_select="rerun", selection_mode=ROW_CLICK, key="my_clues")
    row = clicked_row(picked)
    if row is not None and 0 <= row < len(work):
        navigation.open_household(work[row][0].household_id)


def render() -> None:
    actor = navigation.require("my_work")
    show_flash()
    st.title(tr("page.my_work"))
    with reading() as session:
        if actor.role in (Role.DEPARTMENT, Role.TOWNSHIP):
            household_clues(session, actor)
        if actor.role == Role.DEPARTMENT:
            department(session, actor)
        elif actor.role == Role.INSPECTOR:
            inspector(session, actor)
            lookback_page.my_work_section(session, actor)
        elif actor.role == Role.LEADER:
            leader(session, actor)
        elif actor.role == Role.TOWNSHIP:
            pass  # the clues above are a township officer's whole work list
        else:
            st.info(tr("my_work.admin_help"))
            duplicates = queries.duplicate_evidence(session)
            st.metric(tr("overview.duplicate_evidence"), len(duplicates))
