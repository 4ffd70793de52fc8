"""Every output leadership reads shows the same numbers: the overview, meeting mode, ``stats --json``,
a snapshot, the Word report built from it and the Excel export; for the demo ledger and for
20,000 synthetic findings."""
from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter

from docx import Document
from sqlalchemy import true
from python_calamine import CalamineWorkbook

from dashboard import cli, clock
from dashboard.documents.ledger_export import COLUMNS, HEADER_ROW, export_ledger
from dashboard.documents.report import report_for_snapshot
from dashboard.figures import Figures, percent
from dashboard.i18n import label
from dashboard.lifecycle import SYSTEM, Actor
from dashboard.services import queries, rollups, snapshots
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import Role, Status
from db.engine import default_engine, read_session
from seed.synthetic import SyntheticSize, generate
from tests.apptest_support import metric_values, page_app, point_app_at
from tests.test_cli import cli_url

LEADER = Actor(id=0, username="leader", role=Role.LEADER)
TODAY = dt.datetime(2026, 11, 23, 10, 0)


def _stats_json(monkeypatch, database_url, capsys) -> dict:
    monkeypatch.setenv("DATABASE_URL", cli_url(database_url))
    default_engine.cache_clear()
    try:
        assert cli.main(["stats", "--json"]) == 0
    finally:
        default_engine().dispose()
        default_engine.cache_clear()
    return json.loads(capsys.readouterr().out)


def _overview_metrics(monkeypatch, database_url) -> dict[str, str]:
    point_app_at(monkeypatch, database_url)
    app = page_app("pages.overview", LEADER).run()
    assert not app.exception
    return metric_values(app)


def _report_text(data: bytes) -> str:
    return "\n".join(paragraph.text for paragraph in Document(io.BytesIO(data)).paragraphs)


def _export_statuses(engine) -> Counter:
    """The completion column of the Excel export, read back from the file (with python-calamine, the app's own
    fast reader: openpyxl took 13 s to read the 20,000 rows)."""
    buffer = io.BytesIO()
    with read_session(engine) as session:
        export_ledger(session, LEADER, buffer)
    book = CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue()))
    rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    column = [key for key, _w, _x in COLUMNS].index("export.completion")
    return Counter(row[column] for row in rows[HEADER_ROW + 1:])


def _assert_outputs_agree(engine, database_url, monkeypatch, capsys) -> Figures:
    rollups.refresh_if_stale(engine)
    with read_session(engine) as session:
        direct = queries.figures(session, LEADER, where=true())  # a plain SQL count, not the roll-ups
        meeting = Figures.from_mapping(snapshots.meeting_figures(session, clock.now())["totals"])
    with unit_of_work(engine) as session:
        snapshot = snapshots.take_snapshot(session, SYSTEM, "调度会")
    stored = Figures.from_mapping(snapshot.figures["totals"])
    stats = _stats_json(monkeypatch, database_url, capsys)

    assert stored.as_dict() == meeting.as_dict() == direct.as_dict() == Figures.from_mapping(stats).as_dict()
    assert snapshot.figures["schema"] == 2
    assert stats["total"] == direct.total and stats["completion_rate"] == direct.completion_rate

    report = _report_text(report_for_snapshot(snapshot))
    assert (f"共发现问题{direct.effective}项，已整改销号{direct.closed}项，持续整改{direct.ongoing}项，"
            f"正在整改{direct.working}项，待销号{direct.pending_review}项，"
            f"整改完成率{percent(direct.completion_rate)}，按期完成率{percent(direct.on_time_rate)}。"
            f"其中逾期未完成{direct.overdue}项，经批准延期{direct.extended}项，屡改屡犯{direct.repeats}项。") in report

    statuses = _export_statuses(engine)
    assert sum(statuses.values()) == direct.total
    for status in Status:
        assert statuses.get(label(status, "zh"), 0) == getattr(direct, status.value), status

    shown = _overview_metrics(monkeypatch, database_url)
    assert shown["有效问题"] == str(direct.effective)
    assert shown["已销号"] == str(direct.closed)
    assert shown["逾期"] == str(direct.overdue)
    assert shown["完成率"] == percent(direct.completion_rate)
    assert shown["按期完成率"] == percent(direct.on_time_rate)
    with read_session(engine) as session:
        assert rollups.verify(session) == []
    return direct


def test_the_demo_reads_the_same_everywhere(engine, database_url, monkeypatch, capsys, demo_copy):
    with clock.frozen(TODAY):
        demo_copy(engine)  # seed_demo(engine), built once
        figures = _assert_outputs_agree(engine, database_url, monkeypatch, capsys)
    assert figures.cancelled == 1 and figures.effective == figures.total - 1


def test_twenty_thousand_findings_read_the_same_everywhere(engine, database_url, monkeypatch, capsys):
    generate(engine, SyntheticSize(findings=20_000, counties=10, townships=60, villages=600, units=40, sources=30),
             today=TODAY.date())
    with clock.frozen(TODAY):
        figures = _assert_outputs_agree(engine, database_url, monkeypatch, capsys)
    assert figures.total == 20_000 and figures.cancelled > 0
