"""Display pieces of the household ledger shared by pages: the monitoring figures (overview, meeting mode,
a snapshot) and the clock light of a clue."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.ui.context import lbl, tr
from dashboard.ui.widgets import metric_cards
from dashboard.vocab import MonitorCategory

FIGURES = ("households", "persons", "not_eliminated", "identified_this_month", "eliminated_this_month",
           "clues_overdue")


def monitoring_block(figures: dict | None, *, large: bool = False) -> None:
    """防返贫监测: the figures of ``household_figures.monitoring_figures`` (live or frozen in a snapshot)."""
    if not figures:
        return
    st.subheader(tr("monitoring.title"))
    metric_cards([(tr(f"monitoring.{key}"), figures.get(key, 0), None) for key in FIGURES])
    categories = figures.get("by_category", {})
    persons = figures.get("persons_by_category")  # a snapshot frozen before it was counted has none
    st.caption(" · ".join(
        tr("monitoring.category_line", category=lbl(category.value, MonitorCategory),
           households=categories.get(category.value, 0), persons=persons.get(category.value, 0))
        if persons is not None else f"{lbl(category.value, MonitorCategory)} {categories.get(category.value, 0)}"
        for category in MonitorCategory))
    rows = figures.get("by_township", [])
    if rows and not large:
        st.dataframe(pd.DataFrame([{
            tr("col.township"): row["township"], tr("monitoring.households"): row["households"],
            tr("monitoring.persons"): row["persons"],
            **{lbl(category.value, MonitorCategory): row["by_category"].get(category.value, 0)
               for category in MonitorCategory},
            tr("monitoring.identified_this_year"): row["identified_this_year"],
            tr("monitoring.eliminated_this_year"): row["eliminated_this_year"],
            tr("monitoring.not_eliminated"): row["not_eliminated"],
            tr("monitoring.clues_overdue"): row["clues_overdue"],
        } for row in rows]), hide_index=True, width="stretch")


def zero_change_block(periods: list[dict] | None, *, large: bool = False) -> None:
    """零变化: the townships and counties with no identification and no elimination last month and last quarter
    (``quality.zero_change_figures``, live or frozen in a snapshot), listed as the stale units are listed."""
    if periods is None:   # a snapshot taken before the figure existed
        return
    if large:
        st.markdown(f"### {tr('zero_change.title')}")
    else:
        st.subheader(tr("zero_change.title"))
    rows = [{tr("zero_change.col_period"): tr(f"zero_change.{period['kind']}", period=period["period"]),
             tr("zero_change.col_level"): tr(f"zero_change.{level}"),
             tr("zero_change.col_places"): "、".join(period[places])}
            for period in periods for level, places in (("township", "townships"), ("county", "counties"))
            if period.get(places)]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.success(tr("zero_change.none"))
