"""挂牌督战村 Villages: every supervised village with its metrics and findings."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.figures import SUPERVISION_PERSONS, SUPERVISION_RATE_PERCENT
from dashboard.services import household_figures, views
from dashboard.ui import navigation
from dashboard.ui.context import fresh_rollups, labels, lang, lbl, reading, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import ROW_CLICK, clicked_row, day, labelled_frame, light_text, open_on_click
from dashboard.vocab import Status, VillageLevel, VillageStatus, codes


def _rate(check) -> str:
    return f"{check.rate_percent:.2f}%" if check.rate_percent is not None else tr("villages.no_population")


def _verdict(check) -> str:
    if not check.disagrees:
        return ""
    return "⚠ " + tr("villages.should_supervise" if check.qualifies else "villages.should_not")


def mismatch_section() -> dict:
    """Villages whose hand-set level disagrees with the figures computed from the ledger (seed 002's criterion),
    with those figures; returns every village's check for the table below."""
    with reading() as session:
        checks = household_figures.village_checks(session)
        wrong = household_figures.disagreeing_villages(session, checks)
    level = labels(VillageLevel)
    help_text = tr("villages.mismatch_help", rate=f"{SUPERVISION_RATE_PERCENT:g}", persons=SUPERVISION_PERSONS)
    if not wrong:
        st.success(tr("villages.mismatch_none"), icon=":material/check_circle:")
        st.caption(help_text)
        return checks
    with st.expander(tr("villages.mismatch_title", count=len(wrong)), expanded=True):
        st.caption(help_text)
        st.dataframe(labelled_frame([{   # the figures first: on a phone the first four columns are what fits
            "col.village": village.name, "col.level": level[village.level], "villages.ledger_poor": check.poor_persons,
            "villages.ledger_rate": _rate(check), "villages.mismatch": _verdict(check),
            "col.population": str(check.population) if check.population else "—", "col.township": village.township,
        } for village, check in wrong]), hide_index=True, width="stretch")
    return checks


def render() -> None:
    actor = navigation.require("villages")
    fresh_rollups()
    show_flash()
    st.title(tr("page.villages"))
    with reading() as session:
        townships = views.choices(session)["townships"]
    cols = st.columns(2)
    township = cols[0].selectbox(tr("col.township"), [None, *townships], key="v_township",
                                 format_func=lambda v: tr("ui.all") if v is None else v, placeholder=tr("ui.all"))
    levels = cols[1].multiselect(tr("col.level"), codes(VillageLevel), key="v_levels",
                                 default=[VillageLevel.PROVINCIAL.value, VillageLevel.KEY.value],
                                 format_func=lambda c: lbl(c, VillageLevel), placeholder=tr("ui.all"))
    with reading() as session:
        rows = views.villages_overview(session, township=township, levels=levels)
    st.caption(tr("villages.rule"))
    checks = mismatch_section()
    level, status = labels(VillageLevel), labels(VillageStatus)
    frame = labelled_frame([{
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
    if frame.empty:
        st.info(tr("ledger.empty"))
        return
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode=ROW_CLICK, key="village_table",
                          height=min(36 * len(frame) + 40, 760))
    row_index = clicked_row(picked)
    if row_index is None or row_index >= len(rows):
        st.caption(tr("villages.pick_hint"))
        return
    village = rows[row_index]["village"]
    st.subheader(f"{plain(village.township)} · {plain(village.name)}")
    with reading() as session:
        findings = views.village_history(session, village.id, actor)
        history = views.village_audit(session, village.id)
    if findings:
        table = pd.DataFrame([{
            tr("col.serial"): row["serial"], tr("col.light"): light_text(row["light"]),
            tr("col.status"): lbl(row["status"], Status), tr("col.description"): row["description"],
            tr("col.lead_unit"): row["lead_unit"], tr("col.deadline_now"): day(row["current_deadline"]),
        } for row in findings])
        open_on_click(table, [row["id"] for row in findings], "village_findings")
    else:
        st.info(tr("villages.no_findings"))
    st.markdown(f"**{tr('villages.history')}**")
    with reading() as session:
        lines = views.audit_lines(session, None, lang(), entries=list(history))
    st.dataframe(pd.DataFrame([{tr("col.time"): line.at, tr("col.what_happened"): line.text} for line in lines]),
                 hide_index=True, width="stretch")
