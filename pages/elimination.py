"""风险消除 Elimination: the monitored households that meet every 风险消除 condition today (the rules the
service enforces), and the 公示 lists of a village to download (Word and Excel; never an ID, a phone, a bank
account or health)."""
from __future__ import annotations

import streamlit as st

from dashboard import clock
from dashboard.documents.publicity import publicity_docx, publicity_xlsx
from dashboard.services import household_views
from dashboard.ui import navigation
from dashboard.ui.context import cached_view, labels, lang, reading, show_flash, tr, view_key
from dashboard.ui.widgets import ROW_CLICK, clicked_row, day, labelled_frame
from dashboard.vocab import MonitorCategory

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@cached_view(max_entries=64)
def _queue(_key, _actor):
    """The queue and its size, once per data version and day (``view_key``): the size is one statement from the
    gate's own conditions over every monitored household (seconds at 300,000); the gate itself is the service's,
    checked live when a step is taken."""
    with reading() as session:
        candidates = household_views.elimination_queue(session, _actor, limit=household_views.QUEUE_LIMIT)
        size = (household_views.elimination_queue_size(session, _actor)
                if len(candidates) == household_views.QUEUE_LIMIT else len(candidates))
    return candidates, size


def queue(actor) -> None:
    candidates, size = _queue(view_key(actor), actor)
    st.caption(tr("hh.queue_rule"))
    if not candidates:
        st.info(tr("hh.queue_empty"))
        return
    if size > len(candidates):
        st.caption(tr("hh.queue_cut", shown=len(candidates), count=size))
    categories = labels(MonitorCategory)
    frame = labelled_frame([{
        "hh.col_number": c.number, "hh.col_head": c.head_name, "col.township": c.township, "col.village": c.village,
        "field.hh_category": categories.get(c.category or "", ""), "hh.identified_on": day(c.identified_on),
        "field.hh_income": f"{c.income_per_capita:,.0f}" if c.income_per_capita is not None else "",
        "hh.measures_in_force": c.measures,
    } for c in candidates])
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode=ROW_CLICK,
                          key="elimination_table")
    index = clicked_row(picked)
    if index is not None and 0 <= index < len(candidates):
        navigation.open_household(candidates[index].household_id)


def publicity_downloads(actor) -> None:
    st.subheader(tr("hh.publicity_lists"))
    with reading() as session:
        villages = household_views.villages_of(session, actor)
    if not villages:
        return
    names = {village_id: f"{township} {name}" for village_id, township, name in villages}
    cols = st.columns([3, 2])
    village_id = cols[0].selectbox(tr("col.village"), list(names), format_func=names.get, key="pub_village")
    elimination = cols[1].radio(tr("hh.publicity_kind"), [False, True], horizontal=True, key="pub_kind",
                                format_func=lambda e: tr("hh.publicity_elimination" if e else "hh.publicity_identify"))
    with reading() as session:
        rows = household_views.publicity_list(session, actor, village_id, elimination=elimination)
    village = names[village_id].split(" ", 1)[-1]
    st.caption(tr("hh.publicity_count", count=len(rows)))
    stamp = f"{clock.today():%Y%m%d}"
    buttons = st.columns(2)
    language = lang()

    def word() -> bytes:  # built when pressed, not on every run of the page
        return publicity_docx(rows, village, elimination=elimination, lang=language)

    def excel() -> bytes:
        return publicity_xlsx(rows, village, elimination=elimination, lang=language)

    buttons[0].download_button(tr("hh.download_word"), word, file_name=f"公示名单-{village}-{stamp}.docx", mime=DOCX,
                               key="pub_docx", on_click="ignore")
    buttons[1].download_button(tr("hh.download_excel"), excel, file_name=f"公示名单-{village}-{stamp}.xlsx", mime=XLSX,
                               key="pub_xlsx", on_click="ignore")


def render() -> None:
    actor = navigation.require("elimination")
    show_flash()
    st.title(tr("page.elimination"))
    queue(actor)
    publicity_downloads(actor)
