"""我的待办 My work: what the signed-in user should do next, by role."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard.services import household_views, queries, views
from dashboard.ui import navigation
from pages import lookback as lookback_page
from dashboard.ui.context import cached_view, lbl, reading, show_flash, tr, view_key
from dashboard.ui.widgets import (ROW_CLICK, arrow, clicked_row, day, light_cell, light_column, metric_cards, open_on_click,
                                 whole)
from dashboard.vocab import EscalationKind, Role, Status


def clickable(frame, ids: list[int], key: str, lights: bool = False) -> None:
    """A work list: clicking anywhere in a row opens its finding."""
    open_on_click(frame, ids, key, **({"column_config": light_column(tr("col.light"))} if lights else {}))


@cached_view(max_entries=128)
def department_view(key: tuple, _actor) -> tuple[pa.Table | None, list[int]]:
    """The unit's work list as the table shows it (in Arrow), and the finding of each row."""
    with reading() as session:
        rows = views.department_work(session, _actor)
    if not rows:
        return None, []
    return arrow(pd.DataFrame([{
        tr("col.light"): light_cell(item.light), tr("col.serial"): item.serial,
        tr("col.description"): item.description, tr("col.status"): lbl(item.status, Status),
        tr("col.deadline_now"): day(item.current_deadline),
        tr("col.days_overdue"): whole(item.days_overdue) if item.days_overdue else "—",
        tr("col.next_step"): tr(item.next_step), tr("col.last_update"): day(item.last_progress_at),
    } for item in rows])), [item.id for item in rows]


def department(actor) -> None:
    frame, ids = department_view(view_key(actor), actor)
    st.caption(tr("my_work.department_help"))
    if frame is None:
        st.success(tr("my_work.nothing"))
        return
    clickable(frame, ids, "dept_work", lights=True)


@cached_view(max_entries=32)
def _inspector_work(key: tuple, _actor) -> views.InspectorWork:
    with reading() as session:
        return views.inspector_work(session, _actor)


@cached_view(max_entries=16)
def _leader_work(key: tuple, _actor) -> tuple[list, list]:
    with reading() as session:
        return views.escalations_due(session), queries.overdue_list(session, _actor, limit=20)


@cached_view(max_entries=128)
def _my_clues(key: tuple, user_id: int | None, _actor) -> list:
    """Per person, not only per unit: whoever recorded a step may not take the next one."""
    with reading() as session:
        return household_views.my_clues(session, _actor)


def inspector(actor) -> None:
    work = _inspector_work(view_key(actor), actor)
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


def leader(actor) -> None:
    due, overdue = _leader_work(view_key(actor), actor)
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
    st.subheader(tr("my_work.worst_overdue"))
    if overdue:
        clickable(pd.DataFrame([{
            tr("col.serial"): item.serial, tr("col.description"): item.description,
            tr("col.lead_unit"): item.unit, tr("col.days_overdue"): whole(item.days_overdue),
        } for item in overdue]), [item.id for item in overdue], "worst_overdue")


def household_clues(actor) -> None:
    """Clues on the 15-day clock whose next step is this user's (乡镇 officers, the county monitoring unit)."""
    work = _my_clues(view_key(actor), actor.id, actor)
    if not work and actor.role != Role.TOWNSHIP:
        return
    st.subheader(tr("my_work.clues", count=len(work)))
    if not work:
        st.success(tr("my_work.nothing"))
        return
    frame = pd.DataFrame([{
        tr("col.light"): light_cell(item.light), tr("hh.col_number"): item.number, tr("hh.col_head"): item.head_name,
        tr("col.village"): item.village, tr("hh.days_left"): item.days_left, tr("col.next_step"): tr(f"action.{step}"),
    } for item, step in work])
    picked = st.dataframe(frame, hide_index=True, column_config=light_column(tr("col.light")),
                          width="stretch", on_select="rerun", selection_mode=ROW_CLICK, key="my_clues")
    row = clicked_row(picked)
    if row is not None and 0 <= row < len(work):
        navigation.open_household(work[row][0].household_id)


def render() -> None:
    actor = navigation.require("my_work")
    show_flash()
    st.title(tr("page.my_work"))
    if actor.role in (Role.DEPARTMENT, Role.TOWNSHIP):
        household_clues(actor)
    if actor.role == Role.DEPARTMENT:
        department(actor)
    elif actor.role == Role.INSPECTOR:
        inspector(actor)
        with reading() as session:
            lookback_page.my_work_section(session, actor)
    elif actor.role == Role.LEADER:
        leader(actor)
    elif actor.role == Role.TOWNSHIP:
        pass  # the clues above are a township officer's whole work list
    else:
        st.info(tr("my_work.admin_help"))
        with reading() as session:
            duplicates = queries.duplicate_evidence(session)
        metric_cards([(tr("overview.duplicate_evidence"), len(duplicates), None)], per_row=3)
