"""问题台账 Ledger: filters, coloured lights, paging and sorting in SQL; a row opens its detail."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard import clock
from dashboard.documents.ledger_export import ledger_workbook
from dashboard.services import queries, views
from dashboard.services.queries import LedgerFilter
from dashboard.ui import navigation
from dashboard.ui.context import cached_view, engine, joined, labels, lbl, reading, show_flash, tr, view_key
from dashboard.ui.widgets import ROW_CLICK, arrow, clicked_row, day, labelled_frame, light_cell, light_column, whole
from dashboard.vocab import Light, Status, codes

PAGE_SIZES = (20, 50, 100)
SORTS = ("serial", "deadline", "created", "status")


def filters(options: dict, version: str) -> LedgerFilter:
    with st.expander(tr("ledger.filters"), expanded=True):
        # horizontal containers, not st.columns: a row of four is one element instead of five
        first = st.container(horizontal=True)
        source = first.selectbox(tr("col.source"), [None, *options["sources"]], key="f_source",
                                    format_func=lambda i: tr("ui.all") if i is None else options["sources"][i],
                                    placeholder=tr("ui.all"))
        unit = first.selectbox(tr("col.lead_unit"), [None, *options["units"]], key="f_unit",
                                  format_func=lambda i: tr("ui.all") if i is None else options["units"][i],
                                  placeholder=tr("ui.all"))
        township = first.selectbox(tr("col.township"), [None, *options["townships"]], key="f_township",
                                      format_func=lambda v: tr("ui.all") if v is None else v, placeholder=tr("ui.all"))
        villages = _villages_in(version, township)
        if st.session_state.get("f_village") not in villages:
            st.session_state.pop("f_village", None)  # a village of the township chosen before
        village = first.selectbox(tr("col.village"), [None, *villages], key="f_village",
                                     disabled=not township, help=None if township else tr("ledger.township_first"),
                                     format_func=lambda i: tr("ui.all") if i is None else villages[i],
                                     placeholder=tr("ui.all"))
        second = st.container(horizontal=True)
        category = second.selectbox(tr("col.category"), [None, *options["categories"]], key="f_category",
                                       format_func=lambda i: tr("ui.all") if i is None else options["categories"][i],
                                       placeholder=tr("ui.all"))
        statuses = second.multiselect(tr("col.status"), codes(Status), key="f_status",
                                         format_func=lambda c: lbl(c, Status), placeholder=tr("ui.all"))
        lights = second.multiselect(tr("col.light"), codes(Light), key="f_light",
                                       format_func=lambda c: lbl(c, Light), placeholder=tr("ui.all"))
        keyword = second.text_input(tr("ledger.keyword"), key="f_keyword", placeholder=tr("ledger.keyword_help"))
        overdue_only = st.checkbox(tr("ledger.overdue_only"), key="f_overdue")
    return LedgerFilter(source_id=source, lead_unit_id=unit, township=township, village_id=village,
                        category_id=category, statuses=statuses, lights=lights, overdue_only=overdue_only,
                        keyword=keyword)


@cached_view(max_entries=8)
def _choices(version: str) -> dict:
    with reading() as session:
        return views.choices(session)


@cached_view(max_entries=64)
def _villages_in(version: str, township: str | None) -> dict:
    with reading() as session:
        return views.villages_in(session, township)


@dataclass
class LedgerView:
    """One page of the ledger as the table shows it, built once per key, filter, page, size and order."""

    rows: list[dict]
    total: int
    page: int
    pages: int
    frame: pa.Table | None


@cached_view(max_entries=128)
def ledger_view(key: tuple, flt: LedgerFilter, page: int, page_size: int, sort: str | None, descending: bool,
                _actor) -> LedgerView:
    with reading() as session:
        rows, total = queries.ledger_page(session, _actor, flt, page=page, page_size=page_size, sort=sort,
                                          descending=descending)
        pages = max(1, math.ceil(total / page_size))
        if page > pages:
            page = pages
            rows, total = queries.ledger_page(session, _actor, flt, page=page, page_size=page_size, sort=sort,
                                              descending=descending)
    return LedgerView(rows, total, page, pages, arrow(table(rows)) if rows else None)


def table(rows: list[dict]) -> pd.DataFrame:
    """The columns that decide what to open next; source, category, type and the rest are in the detail
    (and in the export), so the table fits a 1440 px screen without scrolling sideways."""
    status = labels(Status)
    return labelled_frame([{
        "col.serial": row["serial"],
        "col.light": light_cell(row["light"]),
        "col.status": status[row["status"]],
        "col.description": row["description"],
        "col.lead_unit": row["lead_unit"],
        "col.place": "·".join(part for part in (row["township"], row["village"]) if part) or "—",
        "col.deadline_now": day(row["current_deadline"]),
        "col.days_overdue": whole(row["days_overdue"]) if row["days_overdue"] else "—",
    } for row in rows])


def LEDGER_WIDTHS() -> dict:
    """Column widths (px) that fit the main area of a 1440 px screen; the description takes the rest."""
    widths = {"col.serial": 105, "col.light": 84, "col.status": 72, "col.description": 280, "col.lead_unit": 140,
              "col.place": 112, "col.deadline_now": 92, "col.days_overdue": 72}
    return {tr(key): st.column_config.Column(width=width) for key, width in widths.items()} | light_column(tr("col.light"), widths["col.light"])


def filters_text(flt: LedgerFilter, options: dict) -> str:
    """The active filters in words, for the title block of the export."""
    parts = []
    for key, value, names in (("col.source", flt.source_id, options["sources"]),
                              ("col.lead_unit", flt.lead_unit_id, options["units"]),
                              ("col.category", flt.category_id, options["categories"])):
        if value is not None:
            parts.append(f"{tr(key)}={names[value]}")
    if flt.village_id is not None:
        with reading() as session:
            parts.append(f"{tr('col.village')}={views.village_label(session, flt.village_id)}")
    elif flt.township:
        parts.append(f"{tr('col.township')}={flt.township}")
    if flt.statuses:
        parts.append(f"{tr('col.status')}={joined(lbl(s, Status) for s in flt.statuses)}")
    if flt.lights:
        parts.append(f"{tr('col.light')}={joined(lbl(x, Light) for x in flt.lights)}")
    if flt.overdue_only:
        parts.append(tr("ledger.overdue_only"))
    if flt.keyword.strip():
        parts.append(f"{tr('ledger.keyword')}={flt.keyword.strip()}")
    return "；".join(parts)


def export_button(actor, flt: LedgerFilter, options: dict, total: int) -> None:
    """One click: the .xlsx of the filtered rows is built when the button is pressed (not on every run)."""
    text, lang, database = filters_text(flt, options), st.session_state.get("lang", "zh"), engine()

    def build() -> bytes:  # runs outside the script run: no streamlit calls, the engine captured above
        return ledger_workbook(database, actor, flt=flt, filters_text=text, lang=lang)

    st.download_button(tr("ledger.export_count", count=total), build, key="export_download",
                       icon=":material/download:", on_click="ignore",
                       file_name=f"整改台账-{clock.today():%Y%m%d}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def render() -> None:
    actor = navigation.require("ledger")
    show_flash()
    st.title(tr("page.ledger"))
    key = view_key(actor)
    options = _choices(key[0])
    flt = filters(options, key[0])
    controls = st.container(horizontal=True, vertical_alignment="bottom")
    count = controls.empty()  # the count comes first on the line, written once the page is read
    sort = controls.selectbox(tr("ledger.sort"), SORTS, format_func=lambda s: tr(f"ledger.sort_{s}"), key="sort",
                              placeholder=tr("ui.choose"), width=200)
    descending = controls.toggle(tr("ledger.descending"), key="descending", width="content")
    page_size = controls.selectbox(tr("ledger.page_size"), PAGE_SIZES, index=1, key="page_size",
                                   placeholder=tr("ui.choose"), width=120)
    page = st.session_state.get("ledger_page", 1)
    view = ledger_view(key, flt, page, page_size, sort, descending, actor)
    rows, total, pages = view.rows, view.total, view.pages
    if view.page != page:
        page = st.session_state["ledger_page"] = view.page
    count.markdown(tr("ledger.count", total=total, page=page, pages=pages))
    st.session_state["ledger_filter"] = flt
    export_button(actor, flt, options, total)
    if view.frame is not None:
        frame = view.frame
        st.caption(tr("ledger.click_hint"))
        picked = st.dataframe(frame, hide_index=True,
                              width="stretch", on_select="rerun", selection_mode=ROW_CLICK,
                              key="ledger_table", height=min(38 * len(rows) + 40, 720),
                              column_config=LEDGER_WIDTHS())
        row = clicked_row(picked)
        if row is not None and row < len(rows):
            navigation.open_finding(rows[row]["id"])
    else:
        st.info(tr("ledger.empty"))
    pager = st.container(horizontal=True, vertical_alignment="center")
    if pager.button(tr("ledger.prev"), disabled=page <= 1, key="prev"):
        st.session_state["ledger_page"] = page - 1
        st.rerun()
    pager.number_input(tr("ledger.page"), min_value=1, max_value=pages, value=page, key="page_jump",
                       label_visibility="collapsed", on_change=_jump, width=140)
    if pager.button(tr("ledger.next"), disabled=page >= pages, key="next"):
        st.session_state["ledger_page"] = page + 1
        st.rerun()


def _jump() -> None:
    st.session_state["ledger_page"] = int(st.session_state["page_jump"])
