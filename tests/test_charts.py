"""Charts: cached Vega-Lite templates filled per render, valid against the schema, copies not shared."""
from __future__ import annotations

import datetime as dt

import altair as alt

from dashboard import charts
from dashboard.i18n import t


def tr_zh(key: str) -> str:
    return t(key, "zh")


def tr_en(key: str) -> str:
    return t(key, "en")


ROWS = [
    {"name": "社会救助股", "completion_rate": 0.5, "closed": 1, "total": 2, "cancelled": 0, "overdue": 1,
     "red": 1, "yellow": 0},
    {"name": "养老服务股", "completion_rate": 0.9, "closed": 9, "total": 10, "cancelled": 0, "overdue": 0,
     "red": 0, "yellow": 1},
    {"name": "办公室", "completion_rate": 0.9, "closed": 9, "total": 11, "cancelled": 1, "overdue": 0,
     "red": 0, "yellow": 0},
]
TREND = [{"week": dt.date(2026, 11, 9), "new": 4, "closed": 1, "open": 10},
         {"week": dt.date(2026, 11, 16), "new": 2, "closed": 3, "open": 9}]


def test_completion_bars_order_height_colours_and_labels():
    chart = charts.completion_bars(ROWS, tr_zh)
    assert chart.spec["encoding"]["y"]["sort"] == ["养老服务股", "办公室", "社会救助股"]  # best first, ties by name
    assert chart.spec["height"] == 28 * 3 + 40
    assert list(chart.data["flag"]) == ["yellow", "green", "red"]
    assert list(chart.data["counted"]) == [10, 10, 2]
    assert chart.spec["encoding"]["x"]["title"] == t("chart.completion_rate", "zh")
    assert charts.completion_bars(ROWS, tr_en).spec["encoding"]["x"]["title"] == t("chart.completion_rate", "en")


def test_rows_travel_beside_the_spec_not_inside_it():
    for chart in (charts.completion_bars(ROWS, tr_zh), charts.weekly_new_closed(TREND, tr_zh),
                  charts.burn_down(TREND, tr_zh)):
        assert "datasets" not in chart.spec and "data" not in chart.spec
        assert all("data" not in layer for layer in chart.spec.get("layer", []))
        assert not chart.data.empty


def test_specs_are_valid_vega_lite_once_the_rows_are_in():
    for chart, kind in ((charts.completion_bars(ROWS, tr_zh), alt.LayerChart),
                        (charts.weekly_new_closed(TREND, tr_zh), alt.Chart),
                        (charts.burn_down(TREND, tr_zh), alt.Chart)):
        spec = dict(chart.spec, data={"values": chart.data.astype(str).to_dict("records")})
        kind.from_dict(spec, validate=True)  # raises on a schema error


def test_a_render_cannot_change_the_cached_template():
    first = charts.completion_bars(ROWS, tr_zh)
    first.spec["encoding"]["y"]["sort"].append("篡改")
    first.spec["height"] = 1
    again = charts.completion_bars(ROWS[:1], tr_zh)
    assert again.spec["encoding"]["y"]["sort"] == ["社会救助股"]
    assert again.spec["height"] == 120


def test_empty_inputs_still_draw():
    chart = charts.completion_bars([], tr_zh)
    assert chart.data.empty and chart.spec["encoding"]["y"]["sort"] == [] and chart.spec["height"] == 120
    weekly = charts.weekly_new_closed(TREND, tr_en)
    assert set(weekly.data["kind"]) == {t("chart.new", "en"), t("chart.closed", "en")}
    assert list(charts.burn_down(TREND, tr_zh).data["open"]) == [10, 9]
