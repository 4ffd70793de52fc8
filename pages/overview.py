"""总览 Overview: the leadership figures, charts, the red list and the stale list."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard import charts
from dashboard.figures import Figures, percent, percent_change
from dashboard.settings import load_settings
from dashboard.lifecycle import Action, can
from dashboard.services import quality, queries, snapshots
from dashboard.services.household_figures import monitoring_figures
from dashboard.ui import navigation
from dashboard.ui.context import (cached_view, flash, fresh_rollups, joined, lbl, reading, run_service, show_flash, tr,
                                  view_key)
from dashboard.ui.households import monitoring_block, zero_change_block
from dashboard.ui.widgets import arrow, arrow_chart, day, draw_chart, metric_cards, open_on_click, whole
from dashboard.vocab import Role, Status


KPI_VALUES = {  # label -> the figure it shows (dashboard.figures defines each)
    "kpi.effective": lambda f: f.effective,
    "kpi.closed": lambda f: f.closed,
    "kpi.ongoing": lambda f: f.ongoing,
    "kpi.in_progress": lambda f: f.working,
    "kpi.pending_review": lambda f: f.pending_review,
    "kpi.overdue": lambda f: f.overdue,
    "kpi.completion_rate": lambda f: f.completion_rate,
    "kpi.on_time_rate": lambda f: f.on_time_rate,
    "kpi.extended": lambda f: f.extended,
    "kpi.repeats": lambda f: f.repeats,
}
RATES = {"kpi.completion_rate", "kpi.on_time_rate"}


def _shown(key: str, value) -> str | int:
    return percent(value) if key in RATES else value


def _delta(key: str, now: Figures, before: Figures | None) -> str | None:
    """Change since the compared snapshot (+/- since the last meeting)."""
    if before is None:
        return None
    change = KPI_VALUES[key](now) - KPI_VALUES[key](before)
    if key in RATES:
        return percent_change(change)
    return f"{change:+d}"


def kpi_cards(totals: Figures, before: Figures | None = None) -> None:
    metric_cards([(tr(key), _shown(key, value(totals)), _delta(key, totals, before)) for key, value in KPI_VALUES.items()],
                 per_row=5)
    if totals.cancelled:
        st.caption(tr("kpi.effective_help", total=totals.total, cancelled=totals.cancelled))


def own_unit_block(view: OverviewView) -> None:
    st.subheader(tr("overview.my_unit"))
    if view.my_rank:
        st.caption(tr("overview.my_rank", rank=view.my_rank[0], count=view.my_rank[1]))
    kpi_cards(view.my_totals)


def compare_choice(key: tuple) -> Figures | None:
    """The totals of a snapshot to compare with, if the user picked one."""
    taken = _snapshot_names(key[0])
    if not taken:
        return None
    names = dict(taken)
    chosen = st.selectbox(tr("overview.compare"), [None, *names], key="compare_snapshot",
                          format_func=lambda i: tr("overview.no_compare") if i is None else names[i],
                          placeholder=tr("overview.no_compare"))
    return _snapshot_totals(chosen) if chosen else None


@cached_view(max_entries=8)
def _snapshot_names(version: str) -> list[tuple[int, str]]:
    with reading() as session:
        return [(s.id, f"{s.title} · {s.taken_at:%Y-%m-%d %H:%M}") for s in snapshots.list_snapshots(session)]


@cached_view(max_entries=16)
def _snapshot_totals(snapshot_id: int) -> Figures:
    """A snapshot's figures never change once taken: by its id alone."""
    with reading() as session:
        return Figures.from_mapping(snapshots.get_snapshot(session, snapshot_id).figures["totals"])


@dataclass
class LedgerWide:
    """What every reader's overview shows the same, whatever their role and unit: built once per data version,
    day and language (fifty departments in a meeting share it instead of building it fifty times)."""

    totals: Figures
    completion: list[charts.Chart]  # by unit, by source, by category
    weekly: charts.Chart
    burn_down: charts.Chart
    stale: pa.Table | None
    stale_days: int
    monitoring: dict
    ranks: dict[int, int]  # unit id -> its rank by completion


@dataclass
class OverviewView:
    """Everything below the page's widgets: the ledger-wide part (shared), and what depends on the role and unit."""

    wide: LedgerWide
    overdue: pa.Table | None
    overdue_ids: list[int]
    duplicates: pa.Table | None
    my_totals: Figures | None = None
    my_rank: tuple[int, int] | None = None


@cached_view(max_entries=8)
def ledger_wide(version: str, today: str, language: str) -> LedgerWide:
    with reading() as session:
        totals = queries.figures(session)
        by_unit = queries.rollup(session, "unit")
        by_source = queries.rollup(session, "source")
        by_category = queries.rollup(session, "category")
        trend = queries.weekly_trend(session)
        stale = queries.stale_units(session)
        stale_days = load_settings(session).stale_days  # the list above uses the same setting
        monitoring = monitoring_figures(session).as_dict()
    return LedgerWide(
        totals=totals,
        completion=[arrow_chart(charts.completion_bars(rows, tr)) for rows in (by_unit, by_source, by_category)],
        weekly=arrow_chart(charts.weekly_new_closed(trend, tr)), burn_down=arrow_chart(charts.burn_down(trend, tr)),
        stale=arrow(pd.DataFrame([{
            tr("col.unit"): row["name"], tr("col.open_items"): row["open_items"],
            tr("col.last_update"): day(row["last_update"]), tr("col.days_silent"): whole(row["days_silent"]),
        } for row in stale])) if stale else None,
        stale_days=stale_days, monitoring=monitoring, ranks={row["id"]: row["rank"] for row in by_unit})


@cached_view(max_entries=64)
def overview_view(key: tuple, _actor) -> OverviewView:
    shared = ledger_wide(key[0], key[1], key[2])
    with reading() as session:
        my_totals = queries.figures(session, _actor) if _actor.role == Role.DEPARTMENT else None
        overdue = queries.overdue_list(session, _actor)
        duplicates = queries.duplicate_evidence(session) if _actor.role != Role.DEPARTMENT else []
    view = OverviewView(
        wide=shared,
        overdue=arrow(pd.DataFrame([{
            tr("col.serial"): item.serial, tr("col.description"): item.description,
            tr("col.lead_unit"): item.unit, tr("col.deadline_now"): day(item.current_deadline),
            tr("col.days_overdue"): whole(item.days_overdue), tr("col.status"): lbl(item.status, Status),
        } for item in overdue])) if overdue else None,
        overdue_ids=[item.id for item in overdue],
        duplicates=arrow(pd.DataFrame([{
            tr("col.file"): group["filename"], tr("col.findings"): joined(group["findings"]),
            "SHA-256": group["sha256"][:16] + "…",
        } for group in duplicates])) if duplicates else None)
    if _actor.role == Role.DEPARTMENT:
        rank = shared.ranks.get(_actor.unit_id)  # type: ignore[arg-type]  # a department always has its unit
        view.my_totals = my_totals
        view.my_rank = (rank, len(shared.ranks)) if rank is not None else None
    return view


def snapshot_button(actor) -> None:
    with st.popover(tr("overview.take_snapshot"), icon=":material/photo_camera:"):
        title = st.text_input(tr("col.snapshot_title"), value=tr("overview.snapshot_default"), key="snapshot_title")
        if st.button(tr("ui.submit"), key="take_snapshot"):
            snapshot = run_service(snapshots.take_snapshot, actor, title)
            if snapshot:
                flash("overview.snapshot_taken", title=snapshot.title)
                st.rerun()


def report_block(actor) -> None:
    """整改情况报告 from the overview in one step: the download takes a named snapshot and builds the
    Word report from it (the same report meeting mode offers for a snapshot)."""
    from dashboard import clock
    from dashboard.documents.report import report_for_snapshot
    from dashboard.ui.context import engine
    from dashboard.services.unit_of_work import run_in_unit_of_work

    with st.popover(tr("overview.word_report"), icon=":material/description:"):
        default = tr("overview.report_snapshot_default", date=f"{clock.today():%Y-%m-%d}")
        title = st.text_input(tr("col.snapshot_title"), value=default, key="report_title").strip() or default
        st.caption(tr("overview.word_report_help"))
        database = engine()

        def build() -> bytes:  # runs when pressed, outside the script run: the engine captured above
            return run_in_unit_of_work(
                database, lambda session: report_for_snapshot(snapshots.take_snapshot(session, actor, title)))

        st.download_button(tr("overview.word_report_download"), build, key="report_from_overview",
                           on_click="ignore", icon=":material/download:",
                           file_name=f"整改情况报告-{clock.today():%Y%m%d}.docx",
                           mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")


@cached_view(max_entries=16)
def _zero_change(version: str, day: str) -> list[dict]:
    with reading() as session:
        return quality.zero_change_figures(session)


def zero_change_section(key: tuple) -> None:
    """零变化 townships and counties, last month and last quarter (the figure of ``quality.zero_change``), built
    once per data version and day (the same for every reader)."""
    zero_change_block(_zero_change(key[0], key[1]))


def render() -> None:
    actor = navigation.require("overview")
    fresh_rollups()
    show_flash()
    st.title(tr("page.overview"))
    if can(actor, Action.TAKE_SNAPSHOT):
        with st.container(horizontal=True):
            snapshot_button(actor)
            report_block(actor)
    key = view_key(actor)
    if actor.role == Role.DEPARTMENT:
        view = overview_view(key, actor)
        own_unit_block(view)
        st.divider()
        st.subheader(tr("overview.whole_bureau"))
    compared = compare_choice(key)
    view = overview_view(key, actor)
    wide = view.wide
    kpi_cards(wide.totals, compared)

    left, right = st.columns(2)
    with left:
        st.subheader(tr("overview.completion"))
        tabs = st.tabs([tr("overview.by_unit"), tr("overview.by_source"), tr("overview.by_category")])
        for tab, chart in zip(tabs, wide.completion):
            draw_chart(chart, tab)
    with right:
        st.subheader(tr("overview.trend"))
        draw_chart(wide.weekly)
        draw_chart(wide.burn_down)

    st.subheader(tr("overview.red_list"))
    if view.overdue is not None:
        open_on_click(view.overdue, view.overdue_ids, "overdue_table")
    else:
        st.success(tr("overview.no_overdue"))

    st.subheader(tr("overview.stale_units", days=wide.stale_days))
    if wide.stale is not None:
        st.dataframe(wide.stale, hide_index=True, width="stretch")
    else:
        st.success(tr("overview.no_stale"))

    monitoring_block(wide.monitoring)
    zero_change_section(key)

    if view.duplicates is not None:
        st.subheader(tr("overview.duplicate_evidence"))
        st.warning(tr("overview.duplicate_evidence_help"))
        st.dataframe(view.duplicates, hide_index=True, width="stretch")
