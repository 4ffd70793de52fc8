"""Altair charts for the overview and meeting pages. Pure: rows in, chart out (no streamlit)."""
from __future__ import annotations

from typing import Any, Callable

import altair as alt
import pandas as pd

LIGHT_SCALE = alt.Scale(domain=["red", "yellow", "green"], range=["#d93025", "#f9ab00", "#188038"])
FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"


def _themed(chart: alt.Chart, size: int = 13) -> alt.Chart:
    return (chart.configure_axis(labelFont=FONT, titleFont=FONT, labelFontSize=size, titleFontSize=size,
                                 labelLimit=260)
            .configure_legend(labelFont=FONT, titleFont=FONT, labelFontSize=size, titleFontSize=size)
            .configure_title(font=FONT, fontSize=size + 3)
            .configure_view(strokeWidth=0))


def completion_bars(rows: list[dict[str, Any]], tr: Callable[[str], str], size: int = 13,
                    limit: int = 15) -> alt.Chart:
    """Completion rate per group (unit, source, category), worst at the bottom, coloured by red items."""
    frame = pd.DataFrame([{
        "name": row["name"], "rate": row["completion_rate"], "closed": row["closed"],
        "counted": row["total"] - row["cancelled"], "overdue": row["overdue"],
        "flag": "red" if row["red"] else ("yellow" if row["yellow"] else "green"),
    } for row in rows[:limit]])
    if frame.empty:
        frame = pd.DataFrame(columns=["name", "rate", "closed", "counted", "overdue", "flag"])
    frame = frame.sort_values(["rate", "name"], ascending=[False, True])
    base = alt.Chart(frame).encode(
        y=alt.Y("name:N", sort=list(frame["name"]), title=None),  # a layered chart ignores field sorts
        x=alt.X("rate:Q", title=tr("chart.completion_rate"), axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("name:N", title=tr("chart.name")),
                 alt.Tooltip("rate:Q", title=tr("chart.completion_rate"), format=".1%"),
                 alt.Tooltip("closed:Q", title=tr("kpi.closed")),
                 alt.Tooltip("counted:Q", title=tr("kpi.total")),
                 alt.Tooltip("overdue:Q", title=tr("kpi.overdue"))],
    )
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        color=alt.Color("flag:N", scale=LIGHT_SCALE, legend=None))
    labels = base.mark_text(align="left", dx=4, fontSize=size).encode(
        text=alt.Text("rate:Q", format=".0%"))
    height = max(120, 28 * len(frame) + 40)
    return _themed((bars + labels).properties(height=height), size)


def weekly_new_closed(trend: list[dict[str, Any]], tr: Callable[[str], str], size: int = 13) -> alt.Chart:
    frame = pd.DataFrame(trend)
    long = frame.melt(id_vars=["week"], value_vars=["new", "closed"], var_name="kind", value_name="count")
    long["kind"] = long["kind"].map({"new": tr("chart.new"), "closed": tr("chart.closed")})
    long["week"] = pd.to_datetime(long["week"])
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("yearmonthdate(week):O", title=tr("chart.week"), axis=alt.Axis(format="%m-%d", labelAngle=0)),
        xOffset="kind:N",
        y=alt.Y("count:Q", title=tr("chart.count")),
        color=alt.Color("kind:N", title=None, scale=alt.Scale(range=["#e8710a", "#1a73e8"]),
                        legend=alt.Legend(orient="top")),
        tooltip=["week:T", "kind:N", "count:Q"],
    ).properties(height=260)
    return _themed(chart, size)


def burn_down(trend: list[dict[str, Any]], tr: Callable[[str], str], size: int = 13) -> alt.Chart:
    frame = pd.DataFrame(trend)
    frame["week"] = pd.to_datetime(frame["week"])
    chart = alt.Chart(frame).mark_area(line={"color": "#1a73e8"}, color="#d2e3fc").encode(
        x=alt.X("week:T", title=tr("chart.week"), axis=alt.Axis(format="%m-%d")),
        y=alt.Y("open:Q", title=tr("chart.open_items")),
        tooltip=[alt.Tooltip("week:T", title=tr("chart.week")), alt.Tooltip("open:Q", title=tr("chart.open_items"))],
    ).properties(height=260)
    return _themed(chart, size)
