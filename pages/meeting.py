"""会议模式 Meeting mode: large figures for a projector, live or from a frozen snapshot."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from dashboard import charts, clock
from dashboard.charts import Chart
from dashboard.documents.report import report_for_snapshot
from dashboard.figures import Figures, percent
from dashboard.services import snapshots
from dashboard.ui import navigation
from pages import lookback as lookback_page
from dashboard.ui.context import (cached_view, flash, fresh_rollups, labels, read_later, reading, run_service, show_flash,
                                  tr, view_key)
from dashboard.ui.households import monitoring_block, zero_change_block
from dashboard.ui.safe import html_text, plain
from dashboard.ui.widgets import LIGHT_COLOURS, arrow_chart, draw_chart
from dashboard.vocab import VillageLevel

PROJECTOR_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header {display: none !important;}
.block-container {padding-top: 1rem; max-width: 100% !important;}
</style>
"""
BIG_CSS = """
<style>
.meeting-kpis {display: grid; grid-template-columns: repeat(5, 1fr); gap: 18px; margin: 8px 0 18px 0;}
.meeting-kpi {border-radius: 12px; padding: 14px 20px; background: #f4f6f9; border-left: 10px solid #1a73e8;}
.meeting-kpi .label {font-size: 26px; color: #3c4043;}
.meeting-kpi .value {font-size: 64px; font-weight: 700; line-height: 1.1;}
.meeting-table {width: 100%; border-collapse: collapse; font-size: 22px;}
.meeting-table th, .meeting-table td {border-bottom: 1px solid #dadce0; padding: 6px 10px; text-align: left;}
.meeting-villages {display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 12px;}
.meeting-village {border-radius: 10px; padding: 10px 14px; font-size: 20px; border: 3px solid;}
</style>
"""


def kpis(totals: Figures) -> str:
    items = [
        ("kpi.effective", totals.effective, "#1a73e8"),
        ("kpi.closed", totals.closed, "#1a57b5"),
        ("kpi.completion_rate", percent(totals.completion_rate), "#188038"),
        ("kpi.overdue", totals.overdue, "#d93025"),
        ("kpi.pending_review", totals.pending_review, "#b06000"),
    ]
    cards = "".join(f"<div class='meeting-kpi' style='border-left-color:{colour}'><div class='label'>{tr(key)}</div>"
                    f"<div class='value' style='color:{colour}'>{value}</div></div>" for key, value, colour in items)
    return f"<div class='meeting-kpis'>{cards}</div>"


def overdue_table(rows: list[dict], limit: int = 10) -> str:
    head = "".join(f"<th>{tr(k)}</th>" for k in ("col.serial", "col.description", "col.lead_unit", "col.days_overdue"))
    body = "".join(
        f"<tr><td>{row['serial']}</td><td>{html_text(row['description'][:38])}</td>"
        f"<td>{html_text(row['unit'])}</td><td style='color:#d93025;font-weight:700'>{row['days_overdue']}</td></tr>"
        for row in rows[:limit])
    return f"<table class='meeting-table'><tr>{head}</tr>{body}</table>"


def villages_grid(villages: list[dict]) -> str:
    cards, levels = [], labels(VillageLevel)
    open_label, red_label = tr("col.open_findings"), tr("col.red_findings")
    for village in villages:
        light = "red" if village["red_findings"] else ("yellow" if village["open_findings"] else "green")
        colour, background = LIGHT_COLOURS[light]
        cards.append(f"<div class='meeting-village' style='border-color:{colour};background:{background}'>"
                     f"<b>{html_text(village['name'])}</b> <small>{html_text(village['township'])}</small><br>"
                     f"<small>{levels[village['level']]}</small><br>"
                     f"{open_label} {village['open_findings']} · "
                     f"<span style='color:#d93025'>{red_label} {village['red_findings']}</span></div>")
    return f"<div class='meeting-villages'>{''.join(cards)}</div>"


@cached_view(max_entries=8)
def _snapshot_list(version: str) -> list:
    with reading() as session:
        return snapshots.list_snapshots(session)


@dataclass
class MeetingView:
    """What the page draws from a set of figures (live, or a snapshot's), built once per figures and language."""

    kpis: str
    ranking: Chart
    trend: Chart
    overdue: str | None
    villages: str
    monitoring: dict | None  # absent from snapshots taken before the household ledger
    zero_change: list[dict] | None = None  # 零变化, live or as frozen in the snapshot (absent from older snapshots)
    title: str | None = None  # a snapshot's
    taken_at: dt.datetime | None = None


def _view(figures: dict) -> MeetingView:
    return MeetingView(
        kpis=kpis(Figures.from_mapping(figures["totals"])),
        ranking=arrow_chart(charts.completion_bars(figures["by_unit"], tr, size=18)),
        trend=arrow_chart(charts.weekly_new_closed(figures["trend"], tr, size=18)),
        overdue=overdue_table(figures["overdue"]) if figures["overdue"] else None,
        villages=villages_grid(figures.get("villages", [])), monitoring=figures.get("monitoring"),
        zero_change=figures.get("zero_change"))


@cached_view(max_entries=16)
def live_view(key: tuple) -> MeetingView:
    with reading() as session:
        return _view(snapshots.meeting_figures(session, clock.now()))


@cached_view(max_entries=16)
def snapshot_view(snapshot_id: int, lang: str) -> MeetingView:
    """A snapshot never changes once taken: by its id (and the language) alone."""
    with reading() as session:
        snapshot = snapshots.get_snapshot(session, snapshot_id)
        view = _view(snapshot.figures)
    view.title, view.taken_at = snapshot.title, snapshot.taken_at
    return view


def _report(snapshot_id: int):
    """The Word report of a snapshot, built when the button is pressed (outside the run: the engine captured)."""
    load = read_later(snapshots.get_snapshot, snapshot_id)
    return lambda: report_for_snapshot(load())


def choose_figures(actor):
    """Live figures, or those of a snapshot chosen from the list; returns (view, snapshot id, report column)."""
    key = view_key(actor)
    taken = _snapshot_list(key[0])
    options = [None, *[s.id for s in taken]]
    if "_select_snapshot" in st.session_state:  # staged by the button below, applied before the widget exists
        st.session_state["meeting_snapshot"] = st.session_state.pop("_select_snapshot")
    names = {s.id: f"{s.title} · {s.taken_at:%Y-%m-%d %H:%M}" for s in taken}
    cols = st.columns([3, 1, 1, 1])
    chosen = cols[0].selectbox(tr("meeting.source"), options, key="meeting_snapshot",
                               format_func=lambda i: tr("meeting.live") if i is None else names[i],
                               placeholder=tr("meeting.live"))
    cols[1].toggle(tr("meeting.projector"), key="projector")
    if cols[2].button(tr("overview.take_snapshot"), key="meeting_take"):
        snapshot = run_service(snapshots.take_snapshot, actor, tr("overview.snapshot_default"))
        if snapshot:
            st.session_state["_select_snapshot"] = snapshot.id
            flash("overview.snapshot_taken", title=snapshot.title)
            st.rerun()
    if chosen is None:
        return live_view(key), None, cols[3]
    return snapshot_view(chosen, key[2]), chosen, cols[3]


def render() -> None:
    actor = navigation.require("meeting")
    fresh_rollups()
    show_flash()
    view, snapshot_id, report_column = choose_figures(actor)
    if snapshot_id is not None and view.taken_at is not None:
        report_column.download_button(tr("meeting.word_report"), _report(snapshot_id), on_click="ignore",
                                      file_name=f"整改情况报告-{view.taken_at:%Y%m%d}.docx", key="report_download",
                                      mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    else:
        report_column.caption(tr("meeting.report_hint"))
    st.markdown(BIG_CSS + (PROJECTOR_CSS if st.session_state.get("projector") else ""), unsafe_allow_html=True)
    stamp = (view.taken_at or clock.now()).strftime("%Y-%m-%d %H:%M")
    st.title(f"{tr('page.meeting')} · {plain(view.title) if view.title else tr('meeting.live')} · {stamp}")
    st.markdown(view.kpis, unsafe_allow_html=True)
    left, right = st.columns(2)
    with left:
        st.markdown(f"### {tr('meeting.ranking')}")
        draw_chart(view.ranking)
    with right:
        st.markdown(f"### {tr('overview.trend')}")
        draw_chart(view.trend)
    st.markdown(f"### {tr('overview.red_list')}")
    if view.overdue:
        st.markdown(view.overdue, unsafe_allow_html=True)
    else:
        st.success(tr("overview.no_overdue"))
    st.markdown(f"### {tr('meeting.villages')}")
    st.markdown(view.villages, unsafe_allow_html=True)
    monitoring_block(view.monitoring, large=True)
    zero_change_block(view.zero_change, large=True)
    lookback_page.meeting_section()
