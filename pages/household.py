"""One household: members (ID and phone masked; a role that needs them reveals one person, audited), risks,
帮扶措施, income against the year's line, 三保障 and safe water, the procedure's steps and dates with the
forms the policy allows now, and the whole history. Usable at phone size for the township officer's
入户核实."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import clock
from dashboard.lifecycle import CLOCKED_CASE_STATES
from dashboard.lifecycle import HouseholdAction as H
from dashboard.services import household_views, households
from dashboard.services.households import HouseholdUpdate, MemberInput, MemberUpdate
from dashboard.ui import navigation
from dashboard.ui.context import flash, labels, lbl, reading, run_service, show_flash, tr
from dashboard.ui.safe import plain
from dashboard.ui.widgets import (day, forget_opened, light_badge, metric_cards, opened_version, records_table,
                                  submit_opened)
from dashboard.vocab import (MEMBER_ADDITIONS, CaseState, ClueSource, EliminationMethod, HouseholdState, LabourSkill,
                             MemberChangeReason, MonitorCategory, Risk, SupportKind, codes)


def _done(key: str, *choices: str, form: str | None = None, **params) -> None:
    """After a save: forget the versions the forms were opened with and the rows ``choices`` (select boxes' keys)
    picked, so the next run opens every form on what it shows then; ``form`` (one keyed by ``_fresh``) opens empty."""
    forget_opened()
    for choice in choices:
        st.session_state.pop(choice, None)
    if form:
        st.session_state[f"_fresh_{form}"] = st.session_state.get(f"_fresh_{form}", 0) + 1
    flash(key, **params)
    st.rerun()


def _fresh(form: str) -> str:
    """The suffix of the keys of ``form`` and of its widgets, new after each save of it (``_done``): the form opens
    empty again after a save, and keeps what the officer typed after a refusal (the stale-copy message says so).
    ``clear_on_submit`` would empty it on a refusal too."""
    saves = st.session_state.get(f"_fresh_{form}", 0)
    return f"_{saves}" if saves else ""


def _checked(form: str, fn, *args, **kwargs):
    """``submit_opened`` with this page's own conflict key (the finding page shows its ``conflict``)."""
    return submit_opened(form, fn, *args, conflict_key="hh_conflict", **kwargs)


def _with_chosen(options: dict, key: str, shown: dict) -> dict:
    """A form's choices plus the row the user picked, when another officer's save has since taken it out of them:
    Streamlit would silently pick the first choice instead, and the save would act on a row the user never chose.
    Kept, the service refuses it with the usual message."""
    chosen = st.session_state.get(key)
    if chosen in shown and chosen not in options:
        return {**options, chosen: shown[chosen]}
    return options


def header(detail) -> None:
    h = detail.household
    st.title(f"{tr('page.household')} {plain(h.number)}")
    st.markdown(f"**{plain(h.township)} {plain(detail.village)}** · {plain(h.head_name)} · "
                f"{lbl(h.state, HouseholdState)}" + (f" · {lbl(h.category, MonitorCategory)}" if h.category else "")
                + (f" &nbsp; {light_badge(detail.light)}" if detail.open_case else ""), unsafe_allow_html=True)
    line = detail.income_line
    income = f"{h.income_per_capita:,.0f}" if h.income_per_capita is not None else "—"
    metric_cards([(tr("field.hh_income"), income, None),
                  (tr("hh.income_line", year=h.income_year or clock.today().year), f"{line:,}" if line else "—", None),
                  (tr("hh.identified_on"), day(h.identified_on) or "—", None)])
    guarantees = [tr(f"guarantee.{name}") + (" ✔" if getattr(h, f"{name}_ok") else " ✘")
                  for name in households.GUARANTEES]
    st.caption(" · ".join(guarantees))


def members(detail, actor) -> None:
    st.subheader(tr("hh.members"))
    skills = labels(LabourSkill)
    shown_health = any(m.health is not None for m in detail.members)
    records_table([{
        "hh.col_name": m.name, "hh.col_relation": m.relation, "hh.col_sex": _sex(m.sex), "hh.col_birth": day(m.birth_date),
        "hh.id_number": m.id_masked + ("" if m.id_valid else " ⚠"), "hh.phone": m.phone_masked,
        "hh.col_skill": skills.get(m.labour_skill or "", ""),
        **({"hh.col_health": m.health or ""} if shown_health else {}),
        "hh.col_flags": " ".join(tr(f"hh.flag_{flag}") for flag in m.flags),
    } for m in detail.members], "hh.no_members")
    if detail.may(H.REVEAL) and detail.members and st.button(tr("action.hh_reveal_household"), key="reveal_button"):
        revealed = run_service(households.reveal_household, actor, detail.household.id)
        if revealed:   # one element: a line per person, every look in the audit log
            st.info("\n\n".join([tr("hh.revealed_household")] + [
                tr("hh.revealed_line", name=plain(person.name), id=person.id_number or "—", phone=person.phone or "—")
                for person in revealed]))


SEXES = ["", "男", "女"]  # as the national export writes them; shown through the catalogue
_SEX_KEYS = {"男": "hh.sex_male", "女": "hh.sex_female"}


def _sex(value: str | None) -> str:
    return tr(_SEX_KEYS[value]) if value in _SEX_KEYS else (value or "—")


def _field_key(prefix: str, field: str, suffixes: dict[str, str]) -> str:
    """A member form field's widget key; ``suffixes`` renews the fields another officer changed (``_renewed``)."""
    return f"{prefix}_{field}{suffixes.get(field, '')}"


def _member_fields(prefix: str, member=None, *, health: bool = False, renewed: dict[str, str] | None = None) -> dict:
    """The fields of one person, one under the other (usable at phone size): empty for a new member, the member's
    own for an edit (the ID and phone only masked on the page, so typed anew to change them). ``renewed``: the key
    suffixes of the fields another officer has changed since the form was opened (``_renewed``)."""
    skills = [None, *codes(LabourSkill)]

    def key(field: str) -> str:
        return _field_key(prefix, field, renewed or {})

    values = {
        "name": st.text_input(tr("hh.col_name"), member.name if member else "", key=key("name")),
        "relation": st.text_input(tr("hh.col_relation"), member.relation if member else "", key=key("relation")),
        "sex": st.selectbox(tr("hh.col_sex"), SEXES, index=SEXES.index(member.sex) if member and member.sex in SEXES else 0,
                            format_func=_sex, key=key("sex")),
        "birth_date": st.date_input(tr("hh.col_birth"), member.birth_date if member else None,
                                    min_value=dt.date(1900, 1, 1), max_value=clock.today(), key=key("birth")),
        "labour_skill": st.selectbox(tr("hh.col_skill"), skills,
                                     index=skills.index(member.labour_skill) if member and member.labour_skill in skills else 0,
                                     format_func=lambda c: "—" if c is None else lbl(c, LabourSkill), key=key("skill")),
        "education": st.text_input(tr("hh.col_education"), member.education if member else "", key=key("education")),
        "school_status": st.text_input(tr("hh.col_school"), member.school_status if member else "",
                                       key=key("school")),
        "id_number": st.text_input(tr("hh.id_number"), "", help=tr("hh.member_id_help") if member else None,
                                   placeholder=member.id_masked if member else "", key=f"{prefix}_id"),
        "phone": st.text_input(tr("hh.phone"), "", placeholder=member.phone_masked if member else "",
                               key=f"{prefix}_phone"),
    }
    if health:   # only for a role that sees health (VIEW_HEALTH)
        values["health"] = st.text_input(tr("hh.col_health"), member.health or "" if member else "",
                                         key=key("health"))
    return values


def member_forms(detail, actor) -> None:
    """补录 and 修改 of members at 入户核实: labour skill, health, education and relation decide 风险消除 (整户无劳动能力)."""
    if not detail.may(H.EDIT_HOUSEHOLD):
        return
    # each form saves against the version it was opened with (a stale copy is refused, not saved over another's edit)
    h = detail.household
    fresh = _fresh("add_member")
    seen_household = opened_version(f"add_member_{h.id}", f"ma{fresh}_name", h.version)
    with st.expander(tr("action.hh_add_member")), st.form(f"add_member{fresh}"):
        values = _member_fields(f"ma{fresh}", health=detail.may(H.VIEW_HEALTH))
        if st.form_submit_button(tr("ui.save"), type="primary"):
            new = MemberInput(**{**values, "labour_skill": values["labour_skill"] or None})
            if _checked(f"add_member_{h.id}", households.add_member, actor, h.id, seen_household, new):
                _done("hh.saved", form="add_member")
    if not detail.members:
        return
    with st.expander(tr("action.hh_edit_member")):
        names = {m.id: f"{m.name}（{m.relation}）" for m in detail.members}
        chosen = st.selectbox(tr("hh.member_edit_who"), list(names), format_func=names.get, key="me_member")
        member = next(m for m in detail.members if m.id == chosen)
        prefix = f"me_{member.id}"   # its _id and _phone fields start empty: their keys never change (the probe)
        seen = opened_version(f"edit_member_{member.id}", f"{prefix}_phone", member.version)
        renewed = _renewed(f"edit_member_{member.id}", prefix, f"{prefix}_phone", _member_shown(member))
        with st.form("edit_member"):
            values = _member_fields(prefix, member, health=member.health is not None, renewed=renewed)
            if st.form_submit_button(tr("ui.save"), type="primary"):
                update = MemberUpdate(**{**values, "labour_skill": values["labour_skill"] or ""})
                if _checked(f"edit_member_{member.id}", households.edit_member, actor, member.id, seen, update):
                    _done("hh.saved")


def _member_shown(member) -> dict:
    """What the member edit form's fields (by key) show of ``member`` when they start."""
    return {"name": member.name, "relation": member.relation, "sex": member.sex if member.sex in SEXES else SEXES[0],
            "birth": member.birth_date,
            "skill": member.labour_skill if member.labour_skill in codes(LabourSkill) else None,
            "education": member.education, "school": member.school_status, "health": member.health or ""}


def _renewed(form: str, prefix: str, probe_key: str, shown: dict) -> dict[str, str]:
    """Key suffixes for the fields of an edit form: a field another officer has changed since the form was opened,
    and this officer has not touched, gets a new key, so that it shows what is saved now (a keyed field keeps the
    value it started with) and the second try after a stale-copy refusal does not write the old value back. A field
    the officer has typed in keeps what was typed. The values the form opened with are forgotten with its version."""
    store = f"_opened_values_{form}"   # an _opened_ key: forget_opened drops it after a save
    if probe_key not in st.session_state or store not in st.session_state:
        st.session_state[store] = dict(shown)
    opened = st.session_state[store]
    suffixes = st.session_state.setdefault(f"_renewed_{form}", {})
    for field, now in shown.items():
        key = _field_key(prefix, field, suffixes)
        if now != opened.get(field) and st.session_state.get(key, opened.get(field)) == opened.get(field):
            suffixes[field] = f"_{int(suffixes.get(field, '_0')[1:]) + 1}"
            opened[field] = now
    return suffixes


def member_changes(detail, actor) -> None:
    """人口变动: a person joins (出生、婚入、迁入) or leaves (死亡、婚出、迁出) the household; the bulletin counts the
    births, marriages and deaths as 自然增加 and 自然减少."""
    if not detail.may(H.EDIT_HOUSEHOLD):
        return
    with st.expander(tr("action.hh_member_change")):
        reason = st.selectbox(tr("field.hh_member_change"), codes(MemberChangeReason), key="mc_reason",
                              format_func=lambda c: lbl(c, MemberChangeReason))
        leavers = {m.id: f"{m.name}（{m.relation}）" for m in detail.members if m.relation != "户主"}
        fresh = _fresh("member_change")
        with st.form(f"member_change{fresh}"):
            happened = _date("field.hh_member_change_on", f"mc_on{fresh}")
            joining = reason in MEMBER_ADDITIONS
            if joining:
                name = st.text_input(tr("hh.col_name"))
                relation = st.text_input(tr("hh.col_relation"))
                sex = st.selectbox(tr("hh.col_sex"), SEXES[1:], format_func=_sex)
                born = st.date_input(tr("hh.col_birth"), None, min_value=dt.date(1900, 1, 1), max_value=clock.today())
                id_number = st.text_input(tr("hh.id_number"))
            else:
                leaving = st.selectbox(tr("hh.member_leaving"), list(leavers), format_func=leavers.get)
            if st.form_submit_button(tr("ui.save"), type="primary"):
                if joining:
                    new = MemberInput(name=name, relation=relation, sex=sex, birth_date=born or happened,
                                      id_number=id_number)
                    saved = run_service(households.record_member_change, actor, detail.household.id, reason=reason,
                                        happened_on=happened, new_member=new)
                else:
                    saved = run_service(households.record_member_change, actor, detail.household.id, reason=reason,
                                        happened_on=happened, member_id=leaving)
                if saved:
                    _done("hh.saved", form="member_change")


def risks_and_measures(detail, actor) -> None:
    h = detail.household
    st.subheader(tr("hh.risks"))
    records_table([{
        "field.hh_risk": lbl(r.kind, Risk), "field.hh_risk_added_on": day(r.added_on),
        "field.hh_risk_removed_on": day(r.removed_on),
    } for r in detail.risks], "hh.no_risks")
    st.subheader(tr("hh.measures"))
    records_table([{
        "field.hh_measure_kind": lbl(m.kind, SupportKind), "field.hh_measure_text": m.text, "hh.col_unit": m.unit_name,
        "field.hh_measure_start": day(m.start_on), "field.hh_measure_end": day(m.end_on),
    } for m in detail.measures], "hh.no_measures")
    if detail.may(H.ADD_MEASURE):
        fresh = _fresh("add_measure")
        with st.expander(tr("action.hh_add_measure")), st.form(f"add_measure{fresh}"):
            kind = st.selectbox(tr("field.hh_measure_kind"), codes(SupportKind), format_func=lambda c: lbl(c, SupportKind),
                                key=f"am_kind{fresh}")
            text = st.text_input(tr("field.hh_measure_text"), key=f"am_text{fresh}")
            unit = st.text_input(tr("hh.col_unit"), key=f"am_unit{fresh}")
            start = st.date_input(tr("field.hh_measure_start"), clock.today(), key=f"am_start{fresh}")
            end = st.date_input(tr("field.hh_measure_end"), None, help=tr("hh.measure_end_help"), key=f"am_end{fresh}")
            if st.form_submit_button(tr("ui.save"), type="primary"):
                if run_service(households.add_measure, actor, h.id, kind=kind, text=text, unit_name=unit, start_on=start,
                               end_on=end):
                    _done("hh.saved", form="add_measure")
    # ending a measure and removing a risk are checked against what the form showed when it was opened: each
    # measure's version, the household's (a risk has none); a second officer's stale copy is refused, not saved
    measures = {m.id: f"{lbl(m.kind, SupportKind)}：{m.text}" for m in detail.measures}
    fresh = _fresh("end_measure")
    running = _with_chosen({m.id: measures[m.id] for m in detail.measures
                            if m.end_on is None or m.end_on > clock.today()}, f"em_measure{fresh}", measures)
    if running and detail.may(H.END_MEASURE):
        seen = {m.id: opened_version(f"end_measure_{m.id}", f"em_measure{fresh}", m.version)
                for m in detail.measures if m.id in running}
        with st.expander(tr("action.hh_end_measure")), st.form(f"end_measure{fresh}"):
            measure = st.selectbox(tr("hh.measure"), list(running), format_func=running.get, key=f"em_measure{fresh}")
            end = st.date_input(tr("field.hh_measure_end"), clock.today(), key=f"em_end{fresh}")
            if st.form_submit_button(tr("action.hh_end_measure"), type="primary"):
                if _checked(f"end_measure_{measure}", households.end_measure, actor, measure, seen[measure], end_on=end):
                    _done("hh.saved", f"em_measure{fresh}", form="end_measure")
    risks = {r.id: f"{lbl(r.kind, Risk)}（{day(r.added_on)}）" for r in detail.risks}
    fresh = _fresh("remove_risk")
    open_risks = _with_chosen({r.id: risks[r.id] for r in detail.risks if r.removed_on is None}, f"rr_risk{fresh}",
                              risks)
    if open_risks and detail.may(H.EDIT_HOUSEHOLD):
        seen_household = opened_version(f"remove_risk_{h.id}", f"rr_risk{fresh}", h.version)
        with st.expander(tr("action.hh_remove_risk")), st.form(f"remove_risk{fresh}"):
            risk_id = st.selectbox(tr("field.hh_risk"), list(open_risks), format_func=open_risks.get,
                                   key=f"rr_risk{fresh}")
            removed = _date("field.hh_risk_removed_on", f"rr_on{fresh}")
            if st.form_submit_button(tr("action.hh_remove_risk"), type="primary"):
                if _checked(f"remove_risk_{h.id}", households.remove_risk, actor, risk_id, seen_household, removed_on=removed):
                    _done("hh.saved", f"rr_risk{fresh}", form="remove_risk")
    if detail.may(H.EDIT_HOUSEHOLD):
        # no key on the fields: a field another officer has changed since starts again from what is saved now, while
        # one nobody else changed keeps what was typed, so that the second try after a stale-copy refusal does not
        # write back values the officer never chose (a keyed field would keep the value the form was opened with)
        seen_household = opened_version(f"edit_household_{h.id}", "eh_risk", h.version)
        with st.expander(tr("action.hh_edit")), st.form("edit_household"):
            income = st.number_input(tr("field.hh_income"), min_value=0.0, step=100.0,
                                     value=float(h.income_per_capita or 0))
            year = st.number_input(tr("hh.income_year"), 2000, 2100, h.income_year or clock.today().year)
            flags = {name: st.checkbox(tr(f"guarantee.{name}"), getattr(h, f"{name}_ok"))
                     for name in households.GUARANTEES}
            risk = st.selectbox(tr("hh.add_risk"), [None, *codes(Risk)], format_func=lambda c: "—" if c is None else lbl(c, Risk),
                                key="eh_risk")
            if st.form_submit_button(tr("ui.save"), type="primary"):
                update = HouseholdUpdate(income_year=int(year), income_per_capita=float(income),
                                         **{f"{name}_ok": value for name, value in flags.items()})
                saved = _checked(f"edit_household_{h.id}", households.update_household, actor, h.id,
                                 seen_household, update)
                if saved and risk:
                    saved = run_service(households.add_risk, actor, h.id, kind=risk, added_on=clock.today())
                if saved:
                    _done("hh.saved")


def _date(label_key: str, key: str):
    return st.date_input(tr(label_key), clock.today(), max_value=clock.today(), key=key)


def procedure(detail, actor) -> None:
    """The forms of the steps the policy allows now, one at a time (a stale copy gets the conflict message)."""
    case, h = detail.open_case, detail.household
    st.subheader(tr("hh.procedure"))
    if case is not None:
        st.markdown(f"**{lbl(case.state, CaseState)}** · " + " → ".join(_step_text(case)))
    if case is None and detail.may(H.RECEIVE_CLUE):
        with st.form("return_clue"):
            st.caption(tr("hh.return_help") if h.state == HouseholdState.ELIMINATED else tr("hh.clue_help"))
            source = st.selectbox(tr("field.hh_clue_source"), ["self_report", "cadre_check", "department_alert"],
                                  format_func=lambda c: lbl(c, ClueSource))
            text = st.text_area(tr("field.hh_clue_text"))
            received = _date("field.hh_received_on", "rc_received")
            if st.form_submit_button(tr("action.hh_receive_clue"), type="primary"):
                if run_service(households.register_clue, actor, source=source, received_on=received, text=text,
                               household_id=h.id):
                    _done("hh.saved")
    forms = {
        H.VERIFY: _verify_form, H.DEMOCRATIC_REVIEW: _review_form, H.PUBLICIZE: _publicity_form,
        H.TOWNSHIP_REVIEW: _township_form, H.COUNTY_DECIDE: _county_form,
        H.ELIM_VERIFY: lambda *args: _elim_start_form(*args, methods=detail.elimination_methods),
        H.ELIM_PUBLICIZE: _elim_publicity_form, H.ELIM_REVIEW: _elim_review_form, H.ELIM_ANNOUNCE: _announce_form,
    }
    offered = blocked = False
    for action, form in forms.items():
        refusal = detail.actions.get(action)
        if refusal is None:
            offered = True
            # a step saves against the case's version when its form was opened (the first widget of each step's
            # form tells whether it is the form the officer is filling in); 开始风险消除 opens a case and has none
            seen = opened_version(_case_form(action, case), STEP_PROBES[action], case.version) if case else None
            with st.form(f"step_{action}"):
                st.markdown(f"**{tr(f'action.{action}')}**")
                form(actor, h, case, seen)
        elif refusal.key == "error.hh_publicity_running":  # the officer's own next step, once the posting ends
            blocked = True
            st.caption(tr(refusal.key, **refusal.params))
        elif action in (H.ELIM_VERIFY,) and h.state == HouseholdState.MONITORED and refusal.key.startswith("error.hh_"):
            blocked = True
            st.caption(tr("hh.elimination_blocked") + " " + "；".join(
                tr(r.key, **r.params) for r in detail.elimination_blockers))
    if case is not None and detail.may(H.REJECT):
        seen = opened_version(_case_form(H.REJECT, case), "rej_on", case.version)
        with st.expander(tr("action.hh_reject")), st.form("reject"):
            reason = st.text_area(tr("field.reason"))
            on = _date("field.hh_decided_on", "rej_on")
            if st.form_submit_button(tr("action.hh_reject")):
                if _checked(_case_form(H.REJECT, case), households.reject, actor, case.id, seen, on=on, reason=reason):
                    _done("hh.saved")
    if not offered and case is not None:
        st.caption(tr("hh.waiting"))
    elif not (offered or blocked or detail.may(H.RECEIVE_CLUE)):  # a heading with nothing under it says nothing
        st.caption(tr("hh.no_procedure"))


def _step_text(case) -> list[str]:
    parts = [f"{tr('field.hh_received_on')} {day(case.received_on)}"]
    for key, value in (("field.hh_visited_on", case.verified_on), ("field.hh_consent_on", case.consent_on),
                       ("field.hh_reviewed_on", case.reviewed_on), ("field.hh_publicity_start", case.publicity_start),
                       ("field.hh_publicity_end", case.publicity_end), ("field.hh_township_on", case.township_on),
                       ("field.hh_county_on", case.county_on)):
        if value:
            parts.append(f"{tr(key)} {day(value)}")
    if case.due_on and CaseState(case.state) in CLOCKED_CASE_STATES:
        parts.append(tr("hh.due", due=day(case.due_on)))
    return parts


# each step form's first widget: while it is in the session, the form is the one the officer opened (opened_version)
STEP_PROBES = {
    H.VERIFY: "v_on", H.DEMOCRATIC_REVIEW: "r_on", H.PUBLICIZE: "p_start", H.TOWNSHIP_REVIEW: "t_on",
    H.COUNTY_DECIDE: "c_on", H.ELIM_VERIFY: "e_on", H.ELIM_PUBLICIZE: "ep_start", H.ELIM_REVIEW: "er_on",
    H.ELIM_ANNOUNCE: "ea_on",
}


def _case_form(action, case) -> str:
    return f"{action}_{case.id}"


def _submit(action, fn, actor, case, version, **kwargs) -> None:
    """Save a step of ``case`` against ``version``, the case's version when the form was opened."""
    if st.form_submit_button(tr("ui.save"), type="primary"):
        if _checked(_case_form(action, case), fn, actor, case.id, version, **kwargs):
            _done("hh.saved")


def _verify_form(actor, h, case, version):
    visited = _date("field.hh_visited_on", "v_on")
    signed = st.checkbox(tr("hh.consent_signed"), key="v_signed")
    consent = st.date_input(tr("field.hh_consent_on"), clock.today(), max_value=clock.today(), key="v_consent")
    note = st.text_area(tr("hh.note"), key="v_note")
    _submit(H.VERIFY, households.record_visit, actor, case, version, visited_on=visited, consent_on=consent if signed else None,
            note=note)


def _review_form(actor, h, case, version):
    on = _date("field.hh_reviewed_on", "r_on")
    _submit(H.DEMOCRATIC_REVIEW, households.record_review, actor, case, version, reviewed_on=on)


def _publicity_form(actor, h, case, version):
    start = _date("field.hh_publicity_start", "p_start")
    end = st.date_input(tr("field.hh_publicity_end"), clock.today(), key="p_end")
    _submit(H.PUBLICIZE, households.record_publicity, actor, case, version, start=start, end=end)


def _category(key: str, current: str | None):
    options = codes(MonitorCategory)
    return st.selectbox(tr("field.hh_category"), options, index=options.index(current) if current in options else 0,
                        format_func=lambda c: lbl(c, MonitorCategory), key=key)


def _township_form(actor, h, case, version):
    on = _date("field.hh_township_on", "t_on")
    category = _category("t_category", case.category)
    _submit(H.TOWNSHIP_REVIEW, households.township_review, actor, case, version, on=on, category=category)


def _county_form(actor, h, case, version):
    on = _date("field.hh_county_on", "c_on")
    category = _category("c_category", case.category)
    _submit(H.COUNTY_DECIDE, households.county_decide, actor, case, version, on=on, category=category)


def _elim_start_form(actor, h, case, version, methods):
    """Only the methods whose conditions hold today (自然消除 alone when nobody in the household can work)."""
    visited = _date("field.hh_visited_on", "e_on")
    method = st.selectbox(tr("field.hh_elimination_method"), methods,
                          format_func=lambda c: lbl(c, EliminationMethod), key="e_method")
    note = st.text_area(tr("hh.note"), key="e_note")
    if st.form_submit_button(tr("ui.save"), type="primary"):
        if run_service(households.start_elimination, actor, h.id, visited_on=visited, method=method, note=note):
            _done("hh.saved")


def _elim_publicity_form(actor, h, case, version):
    start = _date("field.hh_publicity_start", "ep_start")
    end = st.date_input(tr("field.hh_publicity_end"), clock.today(), key="ep_end")
    _submit(H.ELIM_PUBLICIZE, households.record_elimination_publicity, actor, case, version, start=start, end=end)


def _elim_review_form(actor, h, case, version):
    on = _date("field.hh_county_on", "er_on")
    _submit(H.ELIM_REVIEW, households.review_elimination, actor, case, version, on=on)


def _announce_form(actor, h, case, version):
    on = _date("field.hh_decided_on", "ea_on")
    _submit(H.ELIM_ANNOUNCE, households.announce_elimination, actor, case, version, on=on)


def history(detail) -> None:
    st.subheader(tr("hh.history"))
    records_table([{
        "hh.col_date": day(step.on), "hh.col_step": tr(f"action.{step.action}") if step.action.startswith("hh_") else step.action,
        "hh.col_by": step.username, "hh.note": step.note,
    } for step in reversed(detail.steps)], "hh.no_history")


def open_by_number(actor) -> None:
    number = st.text_input(tr("hh.open_number"), key="hh_open_number")
    if number:
        with reading() as session:
            found = household_views.household_id_of(session, actor, number)
        if found is None:
            st.warning(tr("hh.not_found", number=number.strip()))
        elif found != st.session_state.get("household_id"):
            st.session_state["household_id"] = found


def render() -> None:
    actor = navigation.require("household")
    show_flash()
    open_by_number(actor)
    household_id = st.session_state.get("household_id")
    if household_id is None:
        st.title(tr("page.household"))
        st.info(tr("hh.pick"))
        return
    with reading() as session:
        detail = household_views.household_detail(session, actor, int(household_id))
    header(detail)
    procedure(detail, actor)
    members(detail, actor)
    member_forms(detail, actor)
    member_changes(detail, actor)
    risks_and_measures(detail, actor)
    history(detail)
