"""Small display pieces shared by pages."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard.charts import Chart
from dashboard.ui.context import joined, lbl, run_service, tr
from dashboard.ui.safe import html_text, plain
from dashboard.vocab import Light

LIGHT_COLOURS = {
    Light.RED.value: ("#d93025", "#fde7e6"),
    Light.YELLOW.value: ("#b06000", "#fef3d6"),
    Light.GREEN.value: ("#188038", "#e6f4ea"),
    Light.CLOSED.value: ("#1a57b5", "#e8f0fe"),
    Light.CANCELLED.value: ("#5f6368", "#f1f3f4"),
}
LIGHT_DOT = {Light.RED.value: "●", Light.YELLOW.value: "●", Light.GREEN.value: "●",
             Light.CLOSED.value: "✔", Light.CANCELLED.value: "✕"}


def light_text(light: str) -> str:
    return f"{LIGHT_DOT.get(light, '●')} {lbl(light, Light)}"


def light_badge(light: str) -> str:
    colour, background = LIGHT_COLOURS.get(light, ("#5f6368", "#f1f3f4"))
    return (f"<span style='color:{colour};background:{background};padding:2px 10px;border-radius:10px;"
            f"font-weight:600;white-space:nowrap'>{light_text(light)}</span>")


LIGHT_ORDER = (Light.RED.value, Light.YELLOW.value, Light.GREEN.value, Light.CLOSED.value, Light.CANCELLED.value)


def light_cell(light: str) -> list[str]:
    """A light as a cell of a ``light_column``: a coloured label, coloured by the column, not by a Styler (a
    Styler's per-cell styles cost the ledger more than the rest of its page put together)."""
    return [light_text(light)]


def light_column(label: str, width: int = 88) -> dict[str, Any]:
    """The ``column_config`` entry that shows ``light_cell`` values as labels in the light's colour."""
    return {label: st.column_config.MultiselectColumn(
        label, options=[light_text(light) for light in LIGHT_ORDER],
        color=[LIGHT_COLOURS[light][0] for light in LIGHT_ORDER], width=width)}


def style_lights(frame: pd.DataFrame, column: str, lights: list[str]) -> Any:
    """Colour the light column of a table by the light of each row."""
    def colour(_value: Any, light: str) -> str:
        fg, bg = LIGHT_COLOURS.get(light, ("#000", "#fff"))
        return f"color:{fg};background-color:{bg};font-weight:600"

    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    styles[column] = [colour(None, light) for light in lights]
    return frame.style.apply(lambda _: styles, axis=None)


def clicked_row(picked: Any) -> int | None:
    """The row a user clicked in a table shown with ``ROW_CLICK``: a whole row, or any cell of it."""
    selection = picked.selection
    if selection.rows:
        return selection.rows[0]
    cells = getattr(selection, "cells", None) or []
    return cells[0][0] if cells else None


# Clicking anywhere in a row opens it: any cell selects the cell, and with it its row. (No checkbox
# column at the left: it was the only place a click used to work, and it took width from the data.)
ROW_CLICK = "single-cell"


def open_on_click(data: Any, ids: list[int], key: str, **kwargs: Any) -> None:
    """A table whose rows open their finding when clicked anywhere."""
    from dashboard.ui import navigation

    picked = st.dataframe(data, hide_index=True, width="stretch", on_select="rerun", selection_mode=ROW_CLICK,
                          key=key, **kwargs)
    row = clicked_row(picked)
    if row is not None and 0 <= row < len(ids):
        navigation.open_finding(ids[row])


def whole(value: Any) -> str:
    """A count or a number of days as a reader expects it: an integer, or "—" when there is none."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return "—"
    return str(int(round(float(value))))


def opened_version(form: str, probe_key: str, current: int) -> int:
    """The version of the record a form was opened with, kept until the form is submitted or reset.

    A rerun (another widget, a tab, someone else's save) never refreshes it: while the form's own
    widget ``probe_key`` lives in the session, the form is the one the user is filling in, and its
    save must be checked against what the user saw. When the form was not on the screen in the last
    run (first opened, or opened again), it starts from the current version.
    """
    store = f"_opened_{form}"
    if probe_key not in st.session_state or store not in st.session_state:
        st.session_state[store] = current
    return st.session_state[store]


def submit_opened(form: str, fn: Callable[..., Any], *args: Any, conflict_key: str, **kwargs: Any) -> Any:
    """``run_service`` for a form that passes the version it was opened with (``opened_version``). After a
    stale-copy refusal the form is re-based on the version the page now shows (the user has seen the other edit:
    ``st.session_state[conflict_key]``), so submitting again is checked against that; the other edit is never
    lost silently."""
    st.session_state.pop(conflict_key, None)
    result = run_service(fn, *args, conflict_key=conflict_key, **kwargs)
    other = st.session_state.get(conflict_key)
    if result is None and other:
        st.session_state[f"_opened_{form}"] = other.get("version")
    return result


def forget_opened(form: str | None = None) -> None:
    """After a save (or a reset): the next run opens the form on the version then current."""
    for key in [k for k in st.session_state if str(k).startswith("_opened_")]:
        if form is None or key == f"_opened_{form}":
            del st.session_state[key]


def evidence_upload_limits() -> dict[str, Any]:
    """The evidence uploader's size limit and help: the app's own limit (setting ``max_upload_mb``),
    never above the server's ``server.maxUploadSize``, which ``python -m dashboard run`` sets to it."""
    from dashboard.settings import load_settings
    from dashboard.ui.context import reading

    with reading() as session:
        settings = load_settings(session)
    limit = max(1, min(int(settings.max_upload_mb), int(st.get_option("server.maxUploadSize"))))
    return {"max_upload_size": limit,
            "help": tr("finding.upload_limit", limit_mb=limit, allowed=plain(joined(settings.allowed_extensions)))}


@st.cache_data(max_entries=200, show_spinner=False)
def image_preview(sha256: str, _load: Callable[[], bytes]) -> bytes | None:
    """A small PNG of an evidence image, or None when it cannot be shown safely (see
    ``dashboard.services.evidence.preview``); one per file content, kept across reruns, so the file's
    bytes are read (``_load``) only the first time a content is shown."""
    from dashboard.services.evidence import preview

    return preview(_load())


def arrow(frame: pd.DataFrame) -> pa.Table:
    """A table as Streamlit sends it, converted once: a cached view keeps this, so a rerun of unchanged data does
    not convert the same frame to Arrow again (``st.dataframe`` and ``st.vega_lite_chart`` take it as it is)."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def arrow_chart(chart: Chart) -> Chart:
    return Chart(arrow(chart.data), chart.spec)  # type: ignore[arg-type]  # the same data, in Arrow


def draw_chart(chart: Chart, container: Any = st) -> None:
    """Draw a chart from ``dashboard.charts`` in a container (the page, a column, a tab)."""
    container.vega_lite_chart(chart.data, chart.spec, width="stretch")


def labelled_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A table whose records are keyed by catalogue keys; the headers are translated once, not per row."""
    frame = pd.DataFrame(records)
    return frame.rename(columns={key: tr(key) for key in frame.columns})


def records_table(records: list[dict[str, Any]], empty_key: str) -> None:
    """A table of catalogue-keyed records, or the catalogue's sentence for none: an empty ``st.dataframe`` draws a
    headless box that says "empty" in English whatever the page's language."""
    if records:
        st.dataframe(labelled_frame(records), hide_index=True, width="stretch")
    else:
        st.caption(tr(empty_key))


def labelled_table(columns: dict[str, list[Any]]) -> pa.Table:
    """A table given column by column, keyed by catalogue keys, built straight in Arrow (what ``st.dataframe``
    sends): no pandas frame for a table of many rows (the 数据质量 page's 1,500-township bulletin cost more in pandas
    than every read of the page)."""
    return pa.table({tr(key): values for key, values in columns.items()})


def day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


# The cards of ``metric_cards``: a grid of bordered figures as ``st.metric(border=True)`` draws them, sent as one
# element. Ten ``st.metric`` in ``st.columns`` were 22 elements, each built, queued and sent on its own: on the
# overview that was a quarter of a warm view's CPU. Two columns on a phone. Also the cards and lines of HTML that
# stand for many small elements elsewhere (a finding's progress entries and measures).
PAGE_CSS = """
<style>
.zg-metrics {display: grid; gap: 0.75rem; margin: 0 0 1rem 0;}
.zg-metric {border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.75rem 1rem; min-width: 0;}
.zg-metric-label {font-size: 0.875rem; color: rgba(49, 51, 63, 0.75); white-space: nowrap; overflow: hidden;
                  text-overflow: ellipsis;}
.zg-metric-value {font-size: 2rem; line-height: 1.3; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
.zg-metric-delta {font-size: 0.875rem; display: inline-block; padding: 0 0.4rem; border-radius: 0.75rem;}
.zg-metric-delta.up {color: #158237; background: rgba(33, 195, 84, 0.1);}
.zg-metric-delta.down {color: #bd4043; background: rgba(255, 43, 43, 0.09);}
.zg-metric-delta.flat {color: rgba(49, 51, 63, 0.6); background: rgba(49, 51, 63, 0.06);}
.zg-card {border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.6rem 1rem; margin: 0 0 0.6rem 0;}
.zg-muted {font-size: 0.875rem; color: rgba(49, 51, 63, 0.6);}
.zg-line {display: grid; grid-template-columns: 6fr 2fr 2fr; gap: 0.75rem; align-items: baseline; padding: 0.2rem 0;}
.zg-facts {display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; margin-bottom: 1rem;}
.zg-facts table {width: 100%; margin: 0; font-size: 0.9rem;}
.zg-facts th {width: 32%; font-weight: 400; color: rgba(49, 51, 63, 0.7); text-align: left; vertical-align: top;}
@media (max-width: 640px) {.zg-line, .zg-facts {grid-template-columns: 1fr;}}
@media (max-width: 640px) {.zg-metrics {grid-template-columns: repeat(2, minmax(0, 1fr)) !important;}
                           .zg-metric-value {font-size: 1.6rem;}}
</style>
"""


def _delta_html(delta: str | None) -> str:
    if not delta:
        return ""
    trend = "down" if delta.startswith("-") else "flat" if delta.lstrip("+").strip("0.%") == "" else "up"
    arrow = {"up": "↑", "down": "↓", "flat": ""}[trend]
    return f'<div class="zg-metric-delta {trend}">{arrow} {html_text(delta)}</div>'


def metric_html(items: list[tuple[str, Any, str | None]], per_row: int | None = None) -> str:
    """The HTML of ``metric_cards``: each card's label (translated), value and optional delta, as text
    (``safe.html_text``)."""
    columns = per_row or len(items)
    cards = "".join(
        f'<div class="zg-metric"><div class="zg-metric-label">{html_text(label)}</div>'
        f'<div class="zg-metric-value">{html_text(value)}</div>{_delta_html(delta)}</div>'
        for label, value, delta in items)
    return (f'<div class="zg-metrics" style="grid-template-columns: repeat({columns}, minmax(0, 1fr))">'
            f"{cards}</div>")


def metric_cards(items: list[tuple[str, Any, str | None]], per_row: int | None = None,
                 container: Any = st) -> None:
    """Bordered metric cards, (label, value, optional delta) each, ``per_row`` to a row (all in one row by
    default), drawn as one element (see ``PAGE_CSS``)."""
    container.markdown(metric_html(items, per_row), unsafe_allow_html=True)


def measure_records(frame: pd.DataFrame) -> list[tuple[str, dt.date | None, dict[str, Any]]]:
    """The rows of a measures editor that have a text: the text stripped, its deadline as a date (None when
    blank), and the whole row for any other column."""
    rows = []
    for record in frame.to_dict("records"):
        text = record.get("text")
        if isinstance(text, str) and text.strip():
            due = record.get("deadline")
            rows.append((text.strip(), None if due is None or pd.isna(due) else pd.Timestamp(due).date(), record))
    return rows
