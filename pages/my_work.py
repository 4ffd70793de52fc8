"""我的待办 My work: what the signed-in user should do next, by role."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.services import queries, views
from dashboard.ui import navigation
from dashboard.ui.context import lbl, reading, show_flash, tr
from dashboard.ui.widgets import day, light_text, open_on_click, style_lights, whole
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
        tr("col.light"): light_text(row["light"]), tr("col.serial"): row["serial"],
        tr("col.description"): row["description"], tr("col.status"): lbl(row["status"], Status),
        tr("col.deadline_now"): day(row["current_deadline"]),
        tr("col.days_overdue"): whole(row["days_overdue"]) if row["days_overdue"] else "—",
        tr("col.next_step"): tr(row["next_step"]), tr("col.last_update"): day(row["last_progress_at"]),
    } for row in rows])
    clickable(frame, [row["id"] for row in rows], "dept_work", [row["light"] for row in rows])


def inspector(session, actor) -> None:
    work = views.inspector_work(session, actor)
    st.subheader(tr("my_work.reviews", count=len(work["reviews"])))
    if work["reviews"]:
        clickable(pd.DataFrame([{
            tr("col.serial"): row["serial"], tr("col.description"): row["description"], tr("col.lead_unit"): row["unit"],
            tr("col.applied_at"): day(row["applied_at"]), tr("col.summary"): row["summary"],
            tr("col.sent_back_count"): whole(row["sent_back_count"]),
        } for row in work["reviews"]]), [row["finding_id"] for row in work["reviews"]], "reviews")
    else:
        st.success(tr("my_work.nothing"))
    st.subheader(tr("my_work.extensions", count=len(work["extensions"])))
    if work["extensions"]:
        clickable(pd.DataFrame([{
            tr("col.serial"): row["serial"], tr("col.description"): row["description"], tr("col.lead_unit"): row["unit"],
            tr("col.deadline_now"): day(row["old_deadline"]), tr("col.asked_deadline"): day(row["asked_deadline"]),
            tr("col.reason"): row["reason"],
        } for row in work["extensions"]]), [row["finding_id"] for row in work["extensions"]], "extensions")
    else:
        st.success(tr("my_work.nothing"))


def leader(session, actor) -> None:
    due = views.escalations_due(session)
    st.subheader(tr("my_work.escalations_due", count=len(due)))
    if due:
        rows = [row for row in due if row["finding_id"]]
        frame = pd.DataFrame([{
            tr("col.kind"): lbl(row["kind"], EscalationKind), tr("col.serial"): row["serial"] or "",
            tr("col.lead_unit"): row["unit"], tr("col.date"): day(row["issued_on"]),
            tr("col.respond_by"): day(row["respond_by"]), tr("col.note"): row["note"],
        } for row in rows])
        clickable(frame, [row["finding_id"] for row in rows], "escalations")
    else:
        st.success(tr("my_work.nothing"))
    overdue = queries.overdue_list(session, actor, limit=20)
    st.subheader(tr("my_work.worst_overdue"))
    if overdue:
        clickable(pd.DataFrame([{
            tr("col.serial"): row["serial"], tr("col.description"): row["description"],
            tr("col.lead_unit"): row["unit"], tr("col.days_overdue"): whole(row["days_overdue"]),
        } for row in overdue]), [row["id"] for row in overdue], "worst_overdue")


def render() -> None:
    actor = navigation.require("my_work")
    show_flash()
    st.title(tr("page.my_work"))
    with reading() as session:
        if actor.role == Role.DEPARTMENT:
            department(session, actor)
        elif actor.role == Role.INSPECTOR:
            inspector(session, actor)
        elif actor.role == Role.LEADER:
            leader(session, actor)
        else:
            st.info(tr("my_work.admin_help"))
            duplicates = queries.duplicate_evidence(session)
            st.metric(tr("overview.duplicate_evidence"), len(duplicates))
