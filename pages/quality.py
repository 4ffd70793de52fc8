"""数据质量 Data quality: what the household ledger's rules hit, per township; a finding raised from a rule in one
action; 应纳未纳 screening of a department's list."""
from __future__ import annotations

import streamlit as st

from dashboard import clock

from dashboard.lifecycle import Action, may
from dashboard.services import checks, quality, screening, views
from dashboard.ui import navigation
from dashboard.ui.context import engine, flash, labels, lang, lbl, reading, run_service, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import day, labelled_frame, labelled_table
from dashboard.vocab import HouseholdState, HouseholdType, ScreenKind, codes

ALL = "__all__"


def _township_picker(session, actor) -> str | None:
    own = quality.own_township(session, actor)
    if own is not None:
        st.caption(f"{tr('col.township')}: {plain(own)}")
        return own
    townships = views.townships(session)
    picked = st.selectbox(tr("col.township"), [ALL, *townships], key="quality_township",
                          format_func=lambda value: tr("ui.all") if value == ALL else value)
    return None if picked == ALL else picked


def _summary(check: quality.CheckSummary, township: str | None) -> None:
    records = []
    for rule in quality.RULES:
        # the count next to the rule: on a phone the first two columns are what fits
        record = {"quality.col_rule": tr(f"quality_rule.{rule.id}"), "quality.col_count": check.count(rule.id),
                  "quality.col_severity": tr(f"quality_severity.{rule.severity}")}
        if township is None:
            worst = check.worst.get(rule.id, [])
            record["quality.col_townships"] = "、".join(f"{name} {count}" for name, count in worst) or "—"
        records.append(record)
    st.dataframe(labelled_frame(records), hide_index=True, width="stretch", height=36 * len(records) + 40)


def _zero_change(check: quality.CheckSummary, today, township: str | None) -> None:
    """零变化 last month and last quarter: as the stored check computed it when it is for today's periods (the
    nightly run's), else computed now."""
    st.subheader(tr("quality.zero_change"))
    figures = quality.stored_zero_change(check, today)
    if figures is None:
        with reading() as session:
            figures = quality.zero_change_figures(session, today)
    else:
        st.caption(tr("quality.zero_as_of", date=check.as_of.isoformat()))
    for column, figure in zip(st.columns(2), figures):
        townships = quality.zero_townships(figure, township)
        title = tr(f"quality.zero_{figure['kind']}", period=figure["period"])
        column.markdown(f"**{title}**")
        column.write(plain("、".join(townships)) if townships else tr("quality.zero_none"))


def _bulletin(actor, today) -> None:
    """Last month's bulletin: frozen the first time it is made (here or by ``monitoring-report``); the table and the
    Word document show the same frozen rows."""
    from dashboard.documents.bulletin import bulletin_docx

    st.subheader(tr("quality.bulletin"))
    period = quality.last_month(today)
    with reading() as session:   # frozen already (after its first view): a read, no unit of work
        made = quality.frozen_bulletin(session, actor, period)
    if made is None:
        made = run_service(quality.monthly_bulletin, actor, period)
    if made is None:
        return
    names = {quality.TOTAL: tr("bulletin.total")}
    st.dataframe(labelled_table({"col.township": [names.get(row.township, row.township) for row in made.rows],
                                 **{f"bulletin.{name}": [getattr(row, name) for row in made.rows]
                                    for name in quality.BULLETIN_COLUMNS}}), hide_index=True, width="stretch")
    st.caption(tr("bulletin.frozen", at=f"{made.frozen_at:%Y-%m-%d %H:%M}") if made.frozen_at
               else tr("bulletin.provisional", date=made.as_of.isoformat()))
    st.download_button(tr("quality.bulletin_download"), lambda: bulletin_docx(made, lang()),
                       key="bulletin_download", on_click="ignore", icon=":material/download:",
                       file_name=f"月度监测通报-{made.period.label}.docx",
                       mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")


def _hits(session, actor, check: quality.CheckSummary, township: str | None) -> None:
    hit = [rule.id for rule in quality.RULES if check.count(rule.id)]
    if not hit:
        st.success(tr("quality.nothing_hit"))
        return
    rule_id = st.selectbox(tr("quality.pick_rule"), hit, key="quality_rule",
                           format_func=lambda value: f"{tr(f'quality_rule.{value}')}（{check.count(value)}）")
    count = check.count(rule_id)
    rows = quality.stored_hit_rows(session, rule_id, township)
    types, states = labels(HouseholdType), labels(HouseholdState)   # once, not a session-state read per cell
    st.dataframe(labelled_table({
        "field.hh_number": [row.number for row in rows], "col.township": [row.township for row in rows],
        "col.village": [row.village for row in rows],
        "field.hh_type": [types[row.household_type] if row.household_type else "" for row in rows],
        "quality.col_state": [states[row.state] if row.state else "" for row in rows],
    }), hide_index=True, width="stretch", height=min(36 * len(rows) + 40, 420))
    if len(rows) < count:
        st.caption(tr("quality.rows_cut", shown=len(rows), count=count))
    if may(actor.role, Action.LOG_FINDING):
        _raise_finding(actor, rule_id, township)


def _raise_finding(actor, rule_id: str, township: str | None) -> None:
    if township is None:
        st.caption(tr("quality.pick_township_to_raise"))
        return
    if st.button(tr("quality.raise_finding", township=township), key="quality_raise", type="primary",
                 icon=":material/add_task:"):
        finding = run_service(checks.raise_finding, actor, rule_id=rule_id, township=township)
        if finding is not None:
            flash("quality.finding_raised", serial=finding.serial)
            navigation.open_finding(finding.id)


def _screening(actor) -> None:
    st.subheader(tr("quality.screening"))
    st.caption(tr("quality.screening_help"))
    with st.form("screening_form", clear_on_submit=True, enter_to_submit=False):
        kind = st.selectbox(tr("quality.screen_kind"), codes(ScreenKind), format_func=lambda c: lbl(c, ScreenKind))
        upload = st.file_uploader(tr("quality.screen_file"), type=["xlsx", "xls", "et", "ods", "csv"],
                                  help=tr("quality.screen_file_help"))
        submitted = st.form_submit_button(tr("quality.screen_start"), type="primary")
    if submitted:
        if upload is None:
            st.error(tr("quality.screen_no_file"))
        else:
            run = run_service(screening.screen_file, actor, upload.getvalue(), upload.name, kind)
            if run is not None:
                st.success(tr("quality.screen_done", **screening.counts(run)))
    with reading() as session:
        runs = screening.recent_runs(session)
    if runs:
        st.dataframe(labelled_frame([{
            "col.date": day(run.run_at), "quality.screen_kind": lbl(run.kind, ScreenKind),
            "quality.col_list": run.list_name, "quality.col_rows": run.rows, "quality.col_matched": run.matched,
            "quality.col_new_clues": run.new_clues, "quality.col_signals": run.signals,
            "quality.col_already_seen": run.already_seen, "quality.col_by": run.run_by,
        } for run in runs]), hide_index=True, width="stretch")


def _stored(actor, township: str | None) -> quality.CheckSummary | None:
    """The stored check (made now if there is none yet), and the "run now" button for those who may."""
    if quality.may_run_now(actor):
        if st.button(tr("quality.run_now"), key="quality_run_now", icon=":material/refresh:"):
            with reading() as session:
                computed = quality.compute(session)
            done = run_service(quality.store_run_now, actor, computed)
            if done is not None:
                quality.analyse_stored(engine())
                st.success(tr("quality.run_done", date=done.as_of.isoformat()))
    with reading() as session:
        check = quality.stored_summary(session, township)
    if check is None and run_service(quality.first_check, actor) is not None:
        with reading() as session:
            check = quality.stored_summary(session, township)
    return check


def render() -> None:
    actor = navigation.require("quality")
    show_flash()
    st.title(tr("page.quality"))
    with reading() as session:
        township = _township_picker(session, actor)
    check = _stored(actor, township)
    if check is None:
        return
    st.caption(tr("quality.as_of", date=check.as_of.isoformat(), at=f"{check.computed_at:%Y-%m-%d %H:%M}",
                  by=check.computed_by, seconds=f"{check.seconds:g}"))
    _summary(check, township)
    today = clock.today()
    _zero_change(check, today, township)
    if township is None:
        _bulletin(actor, today)
    with reading() as session:
        _hits(session, actor, check, township)
        may_screen = screening.may_screen(session, actor)
    if may_screen:
        _screening(actor)
