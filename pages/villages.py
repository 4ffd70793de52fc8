"""挂牌督战村 Villages: every supervised village with its metrics and findings."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard.figures import SUPERVISION_PERSONS, SUPERVISION_RATE_PERCENT
from dashboard.services import household_figures, views
from dashboard.ui import navigation
from dashboard.ui.context import cached_view, fresh_rollups, labels, lang, lbl, reading, show_flash, tr, view_key
from dashboard.ui.safe import plain
from dashboard.ui.widgets import ROW_CLICK, arrow, clicked_row, day, labelled_frame, light_text, open_on_click
from dashboard.vocab import Status, VillageLevel, VillageStatus, codes


def _rate(check) -> str:
    return f"{check.rate_percent:.2f}%" if check.rate_percent is not None else tr("villages.no_population")


def _verdict(check) -> str:
    if not check.disagrees:
        return ""
    return "⚠ " + tr("villages.should_supervise" if check.qualifies else "villages.should_not")


@dataclass
class VillagesView:
    """The page below its filters, built once per data version, day, language, role, unit and filter."""

    mismatches: pa.Table | None  # villages whose hand-set level disagrees with the ledger's figures
    mismatch_count: int
    table: pa.Table | None
    villages: list[tuple[int, str, str]]  # (id, township, name) of each row of the table


@cached_view(max_entries=8)
def _townships(version: str) -> list[str]:
    with reading() as session:
        return views.choices(session)["townships"]


@cached_view(max_entries=64)
def villages_view(key: tuple, township: str | None, levels: tuple[str, ...]) -> VillagesView:
    """Every village's check (seed 002's criterion computed from the ledger), the disagreeing ones, and the table."""
    with reading() as session:
        rows = views.villages_overview(session, township=township, levels=list(levels))
        checks = household_figures.village_checks(session)
        wrong = household_figures.disagreeing_villages(session, checks)
    level, status = labels(VillageLevel), labels(VillageStatus)
    mismatches = labelled_frame([{   # the figures first: on a phone the first four columns are what fits
        "col.village": village.name, "col.level": level[village.level], "villages.ledger_poor": check.poor_persons,
        "villages.ledger_rate": _rate(check), "villages.mismatch": _verdict(check),
        "col.population": str(check.population) if check.population else "—", "col.township": village.township,
    } for village, check in wrong])
    table = labelled_frame([{
        "col.township": row["village"].township, "col.village": row["village"].name,
        "col.level": level[row["village"].level],
        "col.poverty_rate": f"{row['village'].poverty_rate:.2f}%",
        "col.remaining_poor": row["village"].remaining_poor,
        "col.monitored": row["village"].monitored_households,
        "villages.mismatch": _verdict(checks[row["village"].id]),
        "villages.ledger_poor": checks[row["village"].id].poor_persons,
        "villages.ledger_rate": _rate(checks[row["village"].id]),
        "col.population": row["village"].population,
        "col.village_leader": row["village"].leader, "col.work_team": row["village"].work_team,
        "col.support_unit": row["village"].support_unit,
        "col.village_status": status[row["village"].status],
        "col.open_findings": row["open_findings"], "col.red_findings": row["red_findings"],
    } for row in rows])
    return VillagesView(
        mismatches=arrow(mismatches) if wrong else None, mismatch_count=len(wrong),
        table=None if table.empty else arrow(table),
        villages=[(row["village"].id, row["village"].township, row["village"].name) for row in rows])


def mismatch_section(view: VillagesView) -> None:
    """Villages whose hand-set level disagrees with the figures computed from the ledger, with those figures."""
    help_text = tr("villages.mismatch_help", rate=f"{SUPERVISION_RATE_PERCENT:g}", persons=SUPERVISION_PERSONS)
    if view.mismatches is None:
        st.success(tr("villages.mismatch_none"), icon=":material/check_circle:")
        st.caption(help_text)
        return
    with st.expander(tr("villages.mismatch_title", count=view.mismatch_count), expanded=True):
        st.caption(help_text)
        st.dataframe(view.mismatches, hide_index=True, width="stretch")


@dataclass
class VillageDetail:
    findings: pa.Table | None
    finding_ids: list[int]
    history: pa.Table


@cached_view(max_entries=128)
def village_detail(key: tuple, village_id: int, _actor) -> VillageDetail:
    """One village's findings (as far as the actor may see them: role and unit are in the key) and its history."""
    with reading() as session:
        findings = views.village_history(session, village_id, _actor)
        history = views.village_audit(session, village_id)
        lines = views.audit_lines(session, None, lang(), entries=list(history))
    table = pd.DataFrame([{
        tr("col.serial"): row["serial"], tr("col.light"): light_text(row["light"]),
        tr("col.status"): lbl(row["status"], Status), tr("col.description"): row["description"],
        tr("col.lead_unit"): row["lead_unit"], tr("col.deadline_now"): day(row["current_deadline"]),
    } for row in findings])
    return VillageDetail(findings=arrow(table) if findings else None, finding_ids=[row["id"] for row in findings],
                         history=arrow(pd.DataFrame(
                             [{tr("col.time"): line.at, tr("col.what_happened"): line.text} for line in lines],
                             columns=[tr("col.time"), tr("col.what_happened")])))


def render() -> None:
    actor = navigation.require("villages")
    fresh_rollups()
    show_flash()
    st.title(tr("page.villages"))
    key = view_key(actor)
    cols = st.columns(2)
    township = cols[0].selectbox(tr("col.township"), [None, *_townships(key[0])], key="v_township",
                                 format_func=lambda v: tr("ui.all") if v is None else v, placeholder=tr("ui.all"))
    levels = cols[1].multiselect(tr("col.level"), codes(VillageLevel), key="v_levels",
                                 default=[VillageLevel.PROVINCIAL.value, VillageLevel.KEY.value],
                                 format_func=lambda c: lbl(c, VillageLevel), placeholder=tr("ui.all"))
    view = villages_view(key, township, tuple(levels))
    st.caption(tr("villages.rule"))
    mismatch_section(view)
    if view.table is None:
        st.info(tr("ledger.empty"))
        return
    picked = st.dataframe(view.table, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode=ROW_CLICK, key="village_table",
                          height=min(36 * len(view.villages) + 40, 760))
    row_index = clicked_row(picked)
    if row_index is None or row_index >= len(view.villages):
        st.caption(tr("villages.pick_hint"))
        return
    village_id, village_township, village_name = view.villages[row_index]
    st.subheader(f"{plain(village_township)} · {plain(village_name)}")
    detail = village_detail(key, village_id, actor)
    if detail.findings is not None:
        open_on_click(detail.findings, detail.finding_ids, "village_findings")
    else:
        st.info(tr("villages.no_findings"))
    st.markdown(f"**{tr('villages.history')}**")
    st.dataframe(detail.history, hide_index=True, width="stretch")
