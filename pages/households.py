"""监测对象 Households: the household monitoring ledger with its filters (township, village, category, risk,
state, clock light); a row opens the household page."""
from __future__ import annotations

import streamlit as st

from dashboard.services import household_views
from dashboard.services.household_views import HouseholdFilter
from dashboard.ui import navigation
from dashboard.ui.context import labels, lbl, reading, show_flash, tr
from dashboard.ui.widgets import ROW_CLICK, clicked_row, day, labelled_frame, light_text
from dashboard.vocab import HouseholdState, HouseholdType, Light, MonitorCategory, Risk, codes

LIGHTS = (Light.RED.value, Light.YELLOW.value, Light.GREEN.value)


def _choice(column, key: str, options: list, state_key: str, fmt=None):
    return column.selectbox(tr(key), [None, *options], key=state_key, placeholder=tr("ui.all"),
                            format_func=lambda v: tr("ui.all") if v is None else (fmt(v) if fmt else v))


def render() -> None:
    actor = navigation.require("households")
    show_flash()
    st.title(tr("page.households"))
    with reading() as session:
        own = household_views.own_township(session, actor)
        townships = household_views.townships_of(session, actor)
    first = st.columns(3)
    township = own or _choice(first[0], "col.township", townships, "hh_township")
    if own:
        first[0].text_input(tr("col.township"), own, disabled=True, key="hh_own_township")
    # the villages of the chosen township only (as the ledger's filter): all 20,000 would be a pick list no one reads
    with reading() as session:
        villages = household_views.villages_of(session, actor, township) if township else []
    names = {village_id: name for village_id, _, name in villages}
    village_id = _choice(first[1], "col.village", list(names), "hh_village", names.get)
    number = first[2].text_input(tr("hh.number_starts"), key="hh_number")
    second = st.columns(4)
    category = _choice(second[0], "field.hh_category", codes(MonitorCategory), "hh_category",
                       lambda c: lbl(c, MonitorCategory))
    risk = _choice(second[1], "field.hh_risk", codes(Risk), "hh_risk", lambda c: lbl(c, Risk))
    state = _choice(second[2], "col.status", codes(HouseholdState), "hh_state", lambda c: lbl(c, HouseholdState))
    light = _choice(second[3], "hh.clock", list(LIGHTS), "hh_light", lambda c: lbl(c, Light))
    page = st.session_state.get("hh_page", 0)
    flt = HouseholdFilter(township=township, village_id=village_id, category=category, risk=risk, state=state,
                          light=light, number=number or None)
    with reading() as session:
        rows, total = household_views.household_list(session, actor, flt, page=page)
    st.caption(tr("hh.count", total=total))
    if not rows:
        st.info(tr("hh.none"))
        return
    categories, states, types = labels(MonitorCategory), labels(HouseholdState), labels(HouseholdType)
    frame = labelled_frame([{
        "hh.col_number": row.number, "col.township": row.township, "col.village": row.village,
        "hh.col_head": row.head_name, "hh.col_persons": row.persons, "hh.col_type": types[row.household_type],
        "field.hh_category": categories.get(row.category or "", ""), "col.status": states[row.state],
        "hh.col_identified": day(row.identified_on), "hh.clock": light_text(row.light) if row.light != "closed" else "",
    } for row in rows])
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode=ROW_CLICK,
                          key="households_table")
    index = clicked_row(picked)
    if index is not None and 0 <= index < len(rows):
        navigation.open_household(rows[index].id)
    pages = max(1, -(-total // household_views.PAGE_SIZE))
    if pages > 1:
        st.session_state["hh_page"] = st.number_input(tr("hh.page", pages=pages), 1, pages, page + 1, key="hh_page_in") - 1
