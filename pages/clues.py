"""线索 Clues: every clue on the 15-day clock with its light, most urgent first; a new clue (a household
not yet in the ledger) is registered here by a township officer or the county unit."""
from __future__ import annotations

import streamlit as st

from dashboard import clock
from dashboard.lifecycle import HouseholdAction, may_household
from dashboard.services import household_views, households
from dashboard.services.households import HouseholdInput, MemberInput
from dashboard.ui import navigation
from dashboard.ui.context import flash, labels, lbl, reading, run_service, show_flash, tr
from dashboard.ui.widgets import ROW_CLICK, clicked_row, day, labelled_frame, light_text, style_lights
from dashboard.vocab import CaseState, ClueSource, MonitorCategory, codes


def inbox(actor) -> None:
    with reading() as session:
        items = household_views.clue_inbox(session, actor)
    if not items:
        st.info(tr("hh.no_clues"))
        return
    states, sources = labels(CaseState), labels(ClueSource)
    frame = labelled_frame([{
        "hh.clock": light_text(item.light), "hh.days_left": item.days_left, "hh.col_number": item.number,
        "hh.col_head": item.head_name, "col.township": item.township, "col.village": item.village,
        "field.hh_clue_source": sources.get(item.source or "", ""), "col.status": states[item.state],
        "field.hh_received_on": day(item.received_on), "hh.due_on": day(item.due_on),
        "hh.is_return": tr("hh.return_yes") if item.is_return else "",
    } for item in items])
    picked = st.dataframe(style_lights(frame, tr("hh.clock"), [item.light for item in items]), hide_index=True,
                          width="stretch", on_select="rerun", selection_mode=ROW_CLICK, key="clue_table")
    index = clicked_row(picked)
    if index is not None and 0 <= index < len(items):
        navigation.open_household(items[index].household_id)


def new_clue_form(actor) -> None:
    with reading() as session:
        villages = household_views.all_villages(session, actor)
    with st.expander(tr("hh.new_clue"), expanded=False), st.form("new_clue", clear_on_submit=False):
        names = {village_id: f"{township} {name}" for village_id, township, name in villages}
        village_id = st.selectbox(tr("col.village"), list(names), format_func=names.get, key="clue_village")
        number = st.text_input(tr("field.hh_number"), key="clue_number")
        head = st.text_input(tr("hh.col_head"), key="clue_head")
        id_number = st.text_input(tr("hh.id_number"), key="clue_id", type="password")
        phone = st.text_input(tr("hh.phone"), key="clue_phone", type="password")
        source = st.selectbox(tr("field.hh_clue_source"), codes(ClueSource), format_func=lambda c: lbl(c, ClueSource))
        category = st.selectbox(tr("field.hh_category"), codes(MonitorCategory),
                                format_func=lambda c: lbl(c, MonitorCategory))
        received = st.date_input(tr("field.hh_received_on"), clock.today(), max_value=clock.today())
        text = st.text_area(tr("field.hh_clue_text"), key="clue_text")
        if st.form_submit_button(tr("hh.register"), type="primary"):
            data = HouseholdInput(number=number, village_id=village_id,
                                  members=[MemberInput(name=head, id_number=id_number, phone=phone)])
            case = run_service(households.register_clue, actor, source=source, received_on=received, text=text,
                               new=data, category=category)
            if case:
                flash("hh.clue_registered", number=number.strip())
                navigation.open_household(case.household_id)


def render() -> None:
    actor = navigation.require("clues")
    show_flash()
    st.title(tr("page.clues"))
    st.caption(tr("hh.clock_rule"))
    if may_household(actor, HouseholdAction.RECEIVE_CLUE):
        new_clue_form(actor)
    inbox(actor)
