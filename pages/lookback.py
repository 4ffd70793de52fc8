"""回头看 Re-inspection campaigns: set up, draw the sample, assign, re-check in the field, report."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import clock
from dashboard.documents.lookback_report import build_lookback_report
from dashboard.figures import percent
from dashboard.lifecycle import Action, CampaignStep, campaign_drawn, campaign_may, can
from dashboard.services import lookback
from dashboard.services.findings import UploadedFile
from dashboard.settings import load_settings
from dashboard.ui import navigation
from dashboard.ui.context import (cached_view, data_version, flash, labels, lang, lbl, reading, run_service,
                                  show_flash, tr)
from dashboard.ui.safe import plain
from dashboard.ui.widgets import day, evidence_upload_limits, labelled_frame, metric_cards
from dashboard.vocab import CampaignStatus, CheckAnswer, SampleReason, Verdict

CAMPAIGN_KEY = "lookback_campaign_id"
ITEM_KEY = "lookback_item"


def separator() -> str:
    return "、" if lang() == "zh" else ", "


# --- setting up ------------------------------------------------------------------------------------------

def new_campaign_form(actor) -> None:
    with reading() as session:
        options = lookback.scope_options(session)
    with st.expander(tr("lookback.new"), expanded=False), st.form("lookback_new"):
        title = st.text_input(tr("lookback.title"), key="lb_title")
        body = st.text_input(tr("lookback.issuing_body"), key="lb_body")
        today = clock.today()
        start = st.date_input(tr("lookback.start"), value=today, key="lb_start")
        end = st.date_input(tr("lookback.end"), value=today + dt.timedelta(days=30), key="lb_end")
        due = st.date_input(tr("col.report_due"), value=today + dt.timedelta(days=40), key="lb_due")
        st.markdown(f"**{tr('lookback.scope')}**")
        sources = st.multiselect(tr("lookback.scope_sources"), list(options["sources"]),
                                 format_func=lambda i: options["sources"][i], key="lb_sources",
                                 placeholder=tr("ui.all"))
        units = st.multiselect(tr("lookback.scope_units"), list(options["units"]),
                               format_func=lambda i: options["units"][i], key="lb_units",
                               placeholder=tr("ui.all"))
        townships = st.multiselect(tr("lookback.scope_townships"), options["townships"], key="lb_townships",
                                   placeholder=tr("ui.all"))
        closed_from = st.date_input(tr("lookback.closed_from"), value=None, key="lb_closed_from")
        closed_to = st.date_input(tr("lookback.closed_to"), value=None, key="lb_closed_to")
        st.markdown(f"**{tr('lookback.checklist')}**")
        checklist = st.text_area(tr("lookback.checklist_help"), value="\n".join(lookback.DEFAULT_CHECKLIST),
                                 height=140, key="lb_checklist")
        st.markdown(f"**{tr('lookback.rule')}**")
        share = st.number_input(tr("setting.lookback_percent"), 1, 100, options["percent"], key="lb_percent")
        minimum = st.number_input(tr("setting.lookback_min_per_unit"), 0, 50, options["min_per_unit"], key="lb_min")
        key = st.checkbox(tr("lookback.rule_key"), value=True, key="lb_key")
        sent_back = st.checkbox(tr("lookback.rule_sent_back"), value=True, key="lb_sent_back")
        shared = st.checkbox(tr("lookback.rule_shared"), value=True, key="lb_shared")
        seed = st.text_input(tr("lookback.seed_optional"), key="lb_seed")
        if st.form_submit_button(tr("lookback.create"), type="primary"):
            if seed.strip() and not seed.strip().isdigit():
                st.error(tr("lookback.seed_digits"))
                return
            data = lookback.CampaignInput(
                title=title, issuing_body=body, start_date=start, end_date=end, report_due_date=due,
                source_ids=sources, lead_unit_ids=units, townships=townships, closed_from=closed_from,
                closed_to=closed_to, checklist=checklist.splitlines(), percent=int(share), min_per_unit=int(minimum),
                include_key=key, include_sent_back=sent_back, include_shared_evidence=shared,
                seed=int(seed) if seed.strip() else None)
            campaign = run_service(lookback.create_campaign, actor, data)
            if campaign:
                st.session_state[CAMPAIGN_KEY] = campaign.id
                flash("lookback.created", title=campaign.title)
                st.rerun()


def choose_campaign(campaigns) -> int:
    ids = [c.id for c in campaigns]
    names = {c.id: c.title for c in campaigns}
    if st.session_state.get(CAMPAIGN_KEY) not in ids:
        st.session_state[CAMPAIGN_KEY] = ids[0]
    return st.selectbox(tr("lookback.campaign"), ids, format_func=lambda i: names[i], key=CAMPAIGN_KEY)


# --- figures ----------------------------------------------------------------------------------------------

def figures_section(figures: dict) -> None:
    totals = figures["totals"]
    metric_cards([(tr("lookback.sampled"), totals["sampled"], None),
                  (tr("lookback.checked"), f"{totals['checked']}/{totals['sampled']}", None),
                  (tr("lookback.pass_rate"), percent(totals["pass_rate"]), None),
                  (tr("lookback.failed"), totals["failed"], None)], per_row=2)
    st.progress(min(1.0, totals["progress"]), text=tr("lookback.progress", rate=percent(totals["progress"])))


def breakdown(rows: list[dict], name_key: str) -> None:
    if not rows:
        st.caption(tr("lookback.no_rows"))
        return
    st.dataframe(labelled_frame([{
        name_key: plain(row["name"]), "lookback.sampled": row["sampled"], "lookback.checked": row["checked"],
        "lookback.passed": row["passed"], "lookback.failed": row["failed"],
        "lookback.pass_rate": percent(row["pass_rate"]),
    } for row in rows]), hide_index=True, width="stretch")


def failures_table(rows: list[dict]) -> None:
    if not rows:
        st.success(tr("lookback.no_failures"))
        return
    verdicts = labels(Verdict)
    frame = labelled_frame([{
        "col.serial": row["serial"], "lookback.verdict": verdicts[row["verdict"]], "col.lead_unit": row["unit"],
        "col.note": row["note"], "lookback.new_finding": row["new_serial"] or "—",
        "col.deadline": row["new_deadline"] or "—",
    } for row in rows])
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key="lb_failures")
    if picked.selection.rows:
        navigation.open_finding(rows[picked.selection.rows[0]]["new_finding_id"])


def strata_table(strata: dict[str, int]) -> None:
    reasons = labels(SampleReason)
    st.dataframe(labelled_frame([{"lookback.stratum": reasons[code], "lookback.count": n,
                                  "lookback.why": tr(f"lookback.why_{code}")} for code, n in strata.items()]),
                 hide_index=True, width="stretch")


# --- the sample -------------------------------------------------------------------------------------------

def sample_tab(actor, campaign, figures: dict) -> None:
    strata_table(figures["strata"])
    st.caption(tr("lookback.seed_line", seed=campaign.seed, percent=campaign.rule.get("percent"),
                  minimum=campaign.rule.get("min_per_unit")))
    if campaign_drawn(campaign.status):
        if st.button(tr("lookback.verify"), key="lb_verify"):
            with reading() as session:
                same = lookback.verify_draw(session, campaign.id)
            (st.success if same else st.warning)(tr("lookback.verified" if same else "lookback.not_verified"))
    manage = can(actor, Action.MANAGE_LOOKBACK)
    if manage and campaign_may(CampaignStep.DRAW, campaign.status):
        st.info(tr("lookback.draft_help"))
        if st.button(tr("lookback.draw"), type="primary", key="lb_draw"):
            counts = run_service(lookback.draw_sample, actor, campaign.id, campaign.version)
            if counts is not None:
                flash("lookback.drawn", count=sum(counts.values()))
                st.rerun()
    if manage and campaign_may(CampaignStep.ADD_BY_HAND, campaign.status):
        with st.form("lb_add"):
            serial = st.text_input(tr("lookback.add_serial"), key="lb_add_serial")
            if st.form_submit_button(tr("lookback.add")):
                item = run_service(lookback.add_by_hand, actor, campaign.id, serial)
                if item:
                    flash("lookback.added", serial=serial.strip())
                    st.rerun()
    reasons, verdicts = labels(SampleReason), labels(Verdict)
    left, right = st.columns(2)
    stratum = left.selectbox(tr("lookback.stratum_filter"), [None, *[r.value for r in SampleReason]],
                             format_func=lambda code: reasons[code] if code else tr("lookback.all_strata"),
                             key="lb_stratum")
    total = figures["strata"][stratum] if stratum else figures["totals"]["sampled"]
    with reading() as session:
        size = load_settings(session).lookback_rows
        pages = max(1, -(-total // size))
        number = right.number_input(tr("lookback.page"), 1, pages, 1, key="lb_page") if pages > 1 else 1
        rows = lookback.items(session, campaign.id, reason=stratum, limit=size, offset=(int(number) - 1) * size)
    if not rows:
        st.caption(tr("lookback.no_rows"))
        return
    if total > len(rows):
        st.caption(tr("lookback.shown_of", shown=len(rows), total=total))
    frame = labelled_frame([{
        "col.serial": row["serial"], "col.description": row["description"], "col.lead_unit": row["unit"],
        "lookback.reasons": separator().join(reasons[r] for r in row["reasons"]),
        "lookback.assignee": row["assignee"] or "—", "lookback.due": day(row["due_date"]),
        "lookback.verdict": verdicts[row["verdict"]] if row["verdict"] else "—",
    } for row in rows])
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key="lb_items")
    if picked.selection.rows:
        st.session_state[ITEM_KEY] = rows[picked.selection.rows[0]]["id"]


def assign_tab(actor, campaign) -> None:
    if not campaign_may(CampaignStep.ASSIGN_ALL, campaign.status):
        st.caption(tr("lookback.assign_when_active"))
        return
    with reading() as session:
        people = {user.id: user.display_name for user in lookback.inspectors(session)}
    st.caption(tr("lookback.assign_help"))
    with st.form("lb_assign"):
        chosen = st.multiselect(tr("lookback.assignees"), list(people), format_func=lambda i: people[i],
                                key="lb_assignees", placeholder=tr("ui.choose_many"))
        due = st.date_input(tr("lookback.due"), value=clock.today() + dt.timedelta(days=14), key="lb_assign_due")
        if st.form_submit_button(tr("lookback.assign"), type="primary"):
            given = run_service(lookback.assign_all, actor, campaign.id, chosen, due)
            if given is not None:
                flash("lookback.assigned", count=given)
                st.rerun()


# --- the re-check -----------------------------------------------------------------------------------------

def recheck_tab(actor, campaign) -> None:
    if not can(actor, Action.RECHECK):
        st.caption(tr("lookback.recheck_inspectors"))
        return
    if not campaign_may(CampaignStep.RECHECK, campaign.status):
        st.caption(tr("lookback.recheck_when_active"))
        return
    with reading() as session:
        mine = lookback.recheck_choices(session, campaign.id, actor, load_settings(session).lookback_rows)
    chosen_id = st.session_state.get(ITEM_KEY)
    ids = [row["id"] for row in mine]
    if chosen_id not in ids and chosen_id is not None:
        ids = [chosen_id, *ids]
    if not ids:
        st.success(tr("lookback.nothing_to_check"))
        return
    names = {row["id"]: f"{row['serial']} · {row['unit']}" for row in mine}
    item_id = st.selectbox(tr("lookback.item"), ids, index=ids.index(chosen_id) if chosen_id in ids else 0,
                           format_func=lambda i: names.get(i, f"#{i}"), key="lb_item_pick")
    recheck_form(actor, item_id)


def recheck_form(actor, item_id: int) -> None:
    with reading() as session:
        detail = lookback.item_detail(session, item_id)
    item, finding = detail["item"], detail["finding"]
    st.markdown(f"**{plain(finding['serial'])}** · {plain(finding['unit'])} · {plain(finding['township'] or '')}")
    st.text(finding["description"])
    reasons = labels(SampleReason)
    st.caption(tr("lookback.in_sample_because", reasons=separator().join(reasons[r] for r in item["reasons"])))
    if item["verdict"]:
        st.info(tr("lookback.already", verdict=lbl(item["verdict"], Verdict)))
        return
    answers_labels = labels(CheckAnswer)
    with st.form(f"lb_recheck_{item_id}"):
        answers = [st.radio(question, [a.value for a in CheckAnswer], index=None, horizontal=True,
                            format_func=lambda code: answers_labels[code], key=f"lb_ans_{item_id}_{n}")
                   for n, question in enumerate(detail["checklist"])]
        verdict_labels = labels(Verdict)
        verdict = st.radio(tr("lookback.verdict"), [v.value for v in Verdict], index=None,
                           format_func=lambda code: verdict_labels[code], key=f"lb_verdict_{item_id}")
        note = st.text_area(tr("lookback.note"), key=f"lb_note_{item_id}")
        files = st.file_uploader(tr("lookback.evidence"), accept_multiple_files=True, key=f"lb_files_{item_id}",
                                 **evidence_upload_limits())
        if st.form_submit_button(tr("lookback.submit"), type="primary", width="stretch"):
            if verdict is None:
                st.error(tr("lookback.pick_verdict"))
                return
            uploads = [UploadedFile(f.name, f.getvalue(), f.type) for f in files or []]
            saved = run_service(lookback.record_verdict, actor, item_id, item["version"], verdict=verdict,
                                answers=[a for a in answers if a], note=note, files=uploads)
            if saved:
                st.session_state.pop(ITEM_KEY, None)
                flash("lookback.saved_fail" if verdict != Verdict.FIXED else "lookback.saved_pass")
                st.rerun()


# --- the report -------------------------------------------------------------------------------------------

def report_section(actor, campaign, figures: dict) -> None:
    st.subheader(tr("lookback.by_unit"))
    breakdown(figures["by_unit"], "col.lead_unit")
    st.subheader(tr("lookback.by_source"))
    breakdown(figures["by_source"], "col.source")
    st.subheader(tr("lookback.failures"))
    failures_table(figures["failures"])
    if can(actor, Action.LOOKBACK_REPORT):
        if st.button(tr("lookback.freeze"), key="lb_freeze"):
            snapshot = run_service(lookback.freeze, actor, campaign.id)
            if snapshot:
                st.session_state["lookback_snapshot"] = snapshot.id
        snapshot_id = st.session_state.get("lookback_snapshot")
        if snapshot_id:
            with reading() as session:
                snapshot = lookback.get_snapshot(session, snapshot_id)
            if snapshot.campaign_id == campaign.id:
                st.download_button(tr("lookback.download"), build_lookback_report(snapshot.figures),
                                   file_name=f"回头看情况报告-{snapshot.taken_at:%Y%m%d%H%M}.docx", key="lb_download",
                                   mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    if can(actor, Action.MANAGE_LOOKBACK) and campaign_may(CampaignStep.FINISH, campaign.status):
        if st.button(tr("lookback.finish"), key="lb_finish"):
            if run_service(lookback.finish_campaign, actor, campaign.id, campaign.version):
                flash("lookback.finished")
                st.rerun()


def render() -> None:
    actor = navigation.require("lookback")
    show_flash()
    st.title(tr("page.lookback"))
    if can(actor, Action.MANAGE_LOOKBACK):
        new_campaign_form(actor)
    with reading() as session:
        campaigns = lookback.list_campaigns(session)
    if not campaigns:
        st.info(tr("lookback.none"))
        return
    campaign_id = choose_campaign(campaigns)
    with reading() as session:
        campaign = lookback.get_campaign(session, campaign_id)
        figures = lookback.campaign_figures(session, campaign_id)
    st.caption(tr("lookback.dates", status=lbl(campaign.status, CampaignStatus), start=campaign.start_date.isoformat(), end=campaign.end_date.isoformat(),
                  due=day(campaign.report_due_date), body=plain(campaign.issuing_body or "—")))
    figures_section(figures)
    recheck, sample, assign, report = st.tabs([tr("lookback.tab_recheck"), tr("lookback.tab_sample"),
                                               tr("lookback.tab_assign"), tr("lookback.tab_report")])
    with recheck:
        recheck_tab(actor, campaign)
    with sample:
        sample_tab(actor, campaign, figures)
    with assign:
        if can(actor, Action.MANAGE_LOOKBACK):
            assign_tab(actor, campaign)
        else:
            st.caption(tr("lookback.assign_managers"))
    with report:
        report_section(actor, campaign, figures)


# --- pieces other pages show ------------------------------------------------------------------------------

def my_work_section(session, actor) -> None:
    """我的待办: the re-checks assigned to this inspector."""
    rows = lookback.my_rechecks(session, actor)
    st.subheader(tr("lookback.my_rechecks", count=len(rows)))
    if not rows:
        st.success(tr("my_work.nothing"))
        return
    frame = labelled_frame([{
        "lookback.campaign": recheck.campaign, "col.serial": recheck.serial, "col.description": recheck.description,
        "col.lead_unit": recheck.unit, "col.township": recheck.township or "", "lookback.due": day(recheck.due_date),
    } for recheck in rows])
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key="my_rechecks")
    if picked.selection.rows:
        recheck = rows[picked.selection.rows[0]]
        st.session_state[CAMPAIGN_KEY], st.session_state[ITEM_KEY] = recheck.campaign_id, recheck.item_id
        navigation.goto("lookback")


@cached_view(max_entries=8)
def _newest_campaign_figures(version: str, today: str) -> dict | None:
    with reading() as session:
        campaigns = [c for c in lookback.list_campaigns(session) if campaign_drawn(c.status)]
        return lookback.campaign_figures(session, campaigns[0].id) if campaigns else None


def meeting_section() -> None:
    """会议模式: the newest campaign that has a sample, in large figures (read once per data version and day)."""
    figures = _newest_campaign_figures(data_version(), clock.today().isoformat())
    if figures is None:
        return
    totals = figures["totals"]
    st.markdown(f"### {tr('page.lookback')} · {plain(figures['campaign']['title'])}")
    metric_cards([(tr("lookback.checked"), f"{totals['checked']}/{totals['sampled']}", None),
                  (tr("lookback.pass_rate"), percent(totals["pass_rate"]), None),
                  (tr("lookback.failed"), totals["failed"], None)])
    breakdown(figures["by_unit"], "col.lead_unit")
