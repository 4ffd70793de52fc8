"""Charts for the overview and meeting pages. Pure: rows in, chart out (no streamlit).

Each chart's Vega-Lite spec is written with altair once per language and size, then reused: altair
validates every spec against the Vega-Lite schema when it is built, which cost about 50 ms per chart
and made the charts the largest part of the overview's run. A render only copies the cached spec,
sets what depends on the rows (bar order, height) and hands the rows over separately.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import altair as alt
import pandas as pd

from dashboard.figures import Figures

LIGHT_SCALE = alt.Scale(domain=["red", "yellow", "green"], range=["#d93025", "#f9ab00", "#188038"])
FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"
Translate = Callable[[str], str]


@dataclass(frozen=True)
class Chart:
    """What ``st.vega_lite_chart(chart.data, chart.spec)`` draws."""

    data: pd.DataFrame
    spec: dict[str, Any]


def _themed(chart: alt.TopLevelMixin, size: int) -> alt.TopLevelMixin:
    return (chart.configure_axis(labelFont=FONT, titleFont=FONT, labelFontSize=size, titleFontSize=size,
                                 labelLimit=260)
            .configure_legend(labelFont=FONT, titleFont=FONT, labelFontSize=size, titleFontSize=size)
            .configure_title(font=FONT, fontSize=size + 3)
            .configure_view(strokeWidth=0))


def _to_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    # Streamlit turns altair's default theme off too: no fixed 300 px width or height.
    with alt.theme.enable("none"):
        spec = chart.to_dict()
    # A chart built without rows gets a placeholder dataset; the rows come with each render instead.
    spec.pop("datasets", None)
    for part in [spec, *spec.get("layer", [])]:
        part.pop("data", None)
    return spec


def _labels(tr: Translate, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(tr(key) for key in keys)


# --- completion ranking --------------------------------------------------------------------------------

COMPLETION_LABELS = ("chart.completion_rate", "chart.name", "kpi.closed", "kpi.effective", "kpi.overdue")
COMPLETION_COLUMNS = ["name", "rate", "closed", "counted", "overdue", "flag"]


@lru_cache(maxsize=32)
def _completion_spec(labels: tuple[str, ...], size: int) -> dict[str, Any]:
    rate, name, closed, total, overdue = labels
    bars = alt.Chart().mark_bar(cornerRadiusEnd=3).encode(
        color=alt.Color("flag:N", scale=LIGHT_SCALE, legend=None))
    texts = alt.Chart().mark_text(align="left", dx=4, fontSize=size).encode(text=alt.Text("rate:Q", format=".0%"))
    layered = alt.layer(bars, texts).encode(
        y=alt.Y("name:N", sort=[], title=None),  # the order is set per render: a layer ignores field sorts
        x=alt.X("rate:Q", title=rate, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("name:N", title=name), alt.Tooltip("rate:Q", title=rate, format=".1%"),
                 alt.Tooltip("closed:Q", title=closed), alt.Tooltip("counted:Q", title=total),
                 alt.Tooltip("overdue:Q", title=overdue)],
    )
    return _to_spec(_themed(layered, size))


def completion_bars(rows: list[dict[str, Any]], tr: Translate, size: int = 13, limit: int = 15) -> Chart:
    """Completion rate per group (unit, source, category), best first, coloured by red items."""
    figures = [(row["name"], Figures.from_mapping(row)) for row in rows[:limit]]
    frame = pd.DataFrame([{
        "name": name, "rate": f.completion_rate, "closed": f.closed, "counted": f.effective, "overdue": f.overdue,
        "flag": "red" if f.red else ("yellow" if f.yellow else "green"),
    } for name, f in figures], columns=COMPLETION_COLUMNS)
    frame = frame.sort_values(["rate", "name"], ascending=[False, True])
    spec = copy.deepcopy(_completion_spec(_labels(tr, COMPLETION_LABELS), size))
    spec["encoding"]["y"]["sort"] = list(frame["name"])
    spec["height"] = max(120, 28 * len(frame) + 40)
    return Chart(frame, spec)


# --- weekly trend --------------------------------------------------------------------------------------

WEEKLY_LABELS = ("chart.week", "chart.count")


@lru_cache(maxsize=32)
def _weekly_spec(labels: tuple[str, ...], size: int) -> dict[str, Any]:
    week, count = labels
    chart = alt.Chart().mark_bar().encode(
        x=alt.X("yearmonthdate(week):O", title=week, axis=alt.Axis(format="%m-%d", labelAngle=0)),
        xOffset="kind:N",
        y=alt.Y("count:Q", title=count),
        color=alt.Color("kind:N", title=None, scale=alt.Scale(range=["#e8710a", "#1a73e8"]),
                        legend=alt.Legend(orient="top")),
        tooltip=["week:T", "kind:N", "count:Q"],
    ).properties(height=260)
    return _to_spec(_themed(chart, size))


def weekly_new_closed(trend: list[dict[str, Any]], tr: Translate, size: int = 13) -> Chart:
    frame = pd.DataFrame(trend, columns=["week", "new", "closed", "open"])
    long = frame.melt(id_vars=["week"], value_vars=["new", "closed"], var_name="kind", value_name="count")
    long["kind"] = long["kind"].map({"new": tr("chart.new"), "closed": tr("chart.closed")})
    long["week"] = pd.to_datetime(long["week"])
    return Chart(long, copy.deepcopy(_weekly_spec(_labels(tr, WEEKLY_LABELS), size)))


# --- burn-down -----------------------------------------------------------------------------------------

BURN_DOWN_LABELS = ("chart.week", "chart.open_items")


@lru_cache(maxsize=32)
def _burn_down_spec(labels: tuple[str, ...], size: int) -> dict[str, Any]:
    week, open_items = labels
    chart = alt.Chart().mark_area(line={"color": "#1a73e8"}, color="#d2e3fc").encode(
        x=alt.X("week:T", title=week, axis=alt.Axis(format="%m-%d")),
        y=alt.Y("open:Q", title=open_items),
        tooltip=[alt.Tooltip("week:T", title=week), alt.Tooltip("open:Q", title=open_items)],
    ).properties(height=260)
    return _to_spec(_themed(chart, size))


def burn_down(trend: list[dict[str, Any]], tr: Translate, size: int = 13) -> Chart:
    frame = pd.DataFrame(trend, columns=["week", "new", "closed", "open"])
    frame["week"] = pd.to_datetime(frame["week"])
    return Chart(frame, copy.deepcopy(_burn_down_spec(_labels(tr, BURN_DOWN_LABELS), size)))
