"""Meetings and documents: snapshots stay frozen, the Word report carries the snapshot's (and
``stats``'s) numbers, the Excel export keeps the SPEC's layout and the filters, and an exported
ledger can be imported without duplicating anything."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import func, select

from dashboard import cli
from dashboard.documents.ledger_export import COLUMNS, export_ledger
from dashboard.documents.report import report_for_snapshot, totals_sentence
from dashboard.i18n import t
from dashboard.services import imports, queries, snapshots
from dashboard.services import findings as svc
from dashboard.services.queries import LedgerFilter
from db import engine as db_engine
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import Finding
from tests.apptest_support import point_app_at
from tests.factories import build_world, evidence, finding_input

SPEC_ORDER = ["序号", "问题来源", "问题类别", "问题描述", "乡镇", "村", "整改措施", "牵头单位", "配合单位", "责任领导",
              "责任人", "整改类型", "整改时限（原/现）", "整改进展", "完成情况", "销号时间", "佐证材料数", "备注"]
IMPORT_COLUMNS = ["原编号", "县（区）", "优先级", "重复问题"]  # after the usual ones: an import elsewhere loses nothing


@pytest.fixture
def ledger(engine, frozen_today):
    """Three findings: one closed, one overdue with progress, one open; plus a cancelled one."""
    with unit_of_work(engine) as session:
        world = build_world(session)
        dept, inspector = world.actors["jiuzhu"], world.actors["inspector"]
        closed = svc.log_finding(session, inspector, finding_input(world, measures=["核查"]))
        session.flush()
        svc.report_progress(session, dept, closed.id, done_text="核查完毕", files=[evidence()])
        svc.tick_measure(session, dept, session.exec(select(svc.Measure).where(svc.Measure.finding_id == closed.id))
                         .one().id, None)
        svc.apply_closure(session, dept, closed.id, None, summary="已整改")
        svc.close(session, inspector, closed.id, None)
        late = svc.log_finding(session, inspector, finding_input(world, description="档案缺失", deadline=dt.date(2026, 6, 1)))
        session.flush()
        svc.report_progress(session, dept, late.id, done_text="补档中")
        svc.log_finding(session, inspector, finding_input(world, description="临时救助超时",
                                                          lead_unit_id=world.units["儿童福利和社会事务股"]))
        wrong = svc.log_finding(session, inspector, finding_input(world, description="录错的问题"))
        session.flush()
        svc.cancel(session, world.actors["admin"], wrong.id, None, "重复录入")
    return world


def _report_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def test_report_numbers_equal_the_snapshot_and_stats(engine, ledger):
    with unit_of_work(engine) as session:
        snapshot = snapshots.take_snapshot(session, ledger.actors["leader"], "6月调度会")
    with read_session(engine) as session:
        stats = queries.stats(session)
    text = _report_text(report_for_snapshot(snapshot))
    totals = snapshot.figures["totals"]
    for key in ("total", "closed", "ongoing", "overdue", "cancelled", "completion_rate"):
        assert totals[key] == stats[key]
    assert f"共发现问题{stats['total'] - stats['cancelled']}项" in text
    assert f"已整改销号{stats['closed']}项" in text
    assert f"正在整改{stats['open'] + stats['in_progress']}项" in text
    assert f"整改完成率{stats['completion_rate'] * 100:.1f}%" in text
    assert f"逾期未完成{stats['overdue']}项" in text
    assert "另有1项因登记有误已撤销" in text
    assert "ZG-2026-0002" in text and "档案缺失" in text  # the overdue list
    assert "6月调度会" in text


def test_snapshot_stays_frozen_and_its_report_unchanged(engine, ledger):
    with unit_of_work(engine) as session:
        snapshot = snapshots.take_snapshot(session, ledger.actors["inspector"], "冻结")
    before = report_for_snapshot(snapshot)
    with unit_of_work(engine) as session:
        svc.log_finding(session, ledger.actors["inspector"], finding_input(ledger, description="会后新增问题"))
    with read_session(engine) as session:
        again = snapshots.get_snapshot(session, snapshot.id)
        assert again.figures == snapshot.figures
        assert queries.figures(session).total == snapshot.figures["totals"]["total"] + 1
    assert _report_text(report_for_snapshot(again)) == _report_text(before)


def test_totals_sentence_reads_like_the_spec():
    totals = {"total": 10, "cancelled": 1, "closed": 4, "ongoing": 1, "open": 1, "in_progress": 2,
              "pending_review": 1, "completion_rate": 0.4444, "on_time_rate": 0.75, "overdue": 2, "extended": 1,
              "repeats": 0}
    sentence = totals_sentence(totals, "2026-06-15")
    assert sentence.startswith("截至2026年6月15日，共发现问题9项，已整改销号4项，持续整改1项，正在整改3项")
    assert "整改完成率44.4%" in sentence


def _export(engine, actor, flt=None, filters_text=""):
    buffer = io.BytesIO()
    with read_session(engine) as session:
        count = export_ledger(session, actor, buffer, flt=flt, filters_text=filters_text)
    return count, load_workbook(io.BytesIO(buffer.getvalue()))


def test_export_layout(engine, ledger):
    count, book = _export(engine, ledger.actors["leader"])
    sheet = book.active
    assert count == 4
    assert [t(key) for key, _w, _x in COLUMNS] == SPEC_ORDER + IMPORT_COLUMNS
    assert [cell.value for cell in sheet[3]] == SPEC_ORDER + IMPORT_COLUMNS
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A1:V1", "A2:V2"} <= merged
    assert "问题整改台账" in sheet["A1"].value and "截至2026-06-15" in sheet["A1"].value
    assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == 9
    assert sheet.freeze_panes == "A4"
    # XlsxWriter stores the width Excel shows as 40 characters plus its cell padding
    assert int(sheet.column_dimensions["D"].width) == 40 and sheet["D4"].alignment.wrap_text
    rows = {row[0].value: [c.value for c in row] for row in sheet.iter_rows(min_row=4)}
    closed = rows["ZG-2026-0001"]
    assert closed[14] == "已销号" and closed[15] == "2026-06-15" and closed[16] == 1
    assert closed[6] == "1.核查" and closed[13] == "核查完毕"


def test_export_keeps_the_filters(engine, ledger):
    flt = LedgerFilter(overdue_only=True)
    count, book = _export(engine, ledger.actors["leader"], flt, "只看逾期")
    sheet = book.active
    assert count == 1 and sheet.max_row == 4
    assert sheet["A2"].value == "筛选条件：只看逾期"
    with read_session(engine) as session:
        _rows, total = queries.ledger_page(session, ledger.actors["leader"], flt)
    assert total == count


def test_department_exports_only_its_own_findings(engine, ledger):
    count, _book = _export(engine, ledger.actors["ertong"])
    assert count == 1


def test_exported_ledger_imports_without_duplicates(engine, ledger):
    _count, book = _export(engine, ledger.actors["leader"])
    buffer = io.BytesIO()
    book.save(buffer)
    with read_session(engine) as session:
        preview = imports.preview_import(session, ledger.actors["admin"], buffer.getvalue())
    assert preview.ok, preview.errors
    assert (preview.already_imported, preview.cancelled_skipped, len(preview.rows)) == (3, 1, 0)


@pytest.fixture
def cli_db(engine, database_url, monkeypatch, ledger):
    point_app_at(monkeypatch, database_url)
    yield
    db_engine.default_engine.cache_clear()


def test_cli_report_export_and_import(engine, cli_db, tmp_path, capsys):
    report = tmp_path / "报告.docx"
    assert cli.main(["report", str(report)]) == 0
    assert cli.main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert f"已整改销号{stats['closed']}项" in _report_text(report.read_bytes())

    with read_session(engine) as session:
        snapshot_id = snapshots.list_snapshots(session)[0].id
    again = tmp_path / "again.docx"
    assert cli.main(["report", str(again), "--snapshot", str(snapshot_id)]) == 0
    assert _report_text(again.read_bytes()) == _report_text(report.read_bytes())

    ledger_file = tmp_path / "台账.xlsx"
    assert cli.main(["export-ledger", str(ledger_file)]) == 0
    assert "已导出 4 条" in capsys.readouterr().out
    assert cli.main(["import-ledger", str(ledger_file), "--source", "回导测试"]) == 0
    assert "新增 0 条（其中已完成 0 条）；更新 0 条；未变 3 条" in capsys.readouterr().out
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Finding)).one() == 4


def test_cli_import_refuses_a_bad_file_and_names_every_row(engine, cli_db, tmp_path, capsys):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["民政局问题整改台账"])
    sheet.append(["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    sheet.append([1, "低保公示不规范", "规范公示", "社会救助办", "2026年9月30日", "正在整改"])
    sheet.append([2, "档案不全", "补齐档案", "不存在的股", "2026年9月30日", "正在整改"])
    sheet.append([3, "", "补齐档案", "社会救助办", "下月中旬", "基本完成"])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    assert cli.main(["import-ledger", str(path), "--source", "坏文件"]) == 1
    err = capsys.readouterr().err
    assert "第4行" in err and "不存在的股" in err
    assert "第5行" in err and "缺少问题描述" in err and "下月中旬" in err
    assert "未导入任何数据" in err
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Finding)).one() == 4


def test_export_keeps_awkward_text_as_text(engine, ledger):
    """Markup characters, a leading '=' and line breaks survive; nothing becomes a formula or a link."""
    awkward = "=SUM(A1:A9) <b>低保</b> & “资金” http://example.cn\n第二行"
    with unit_of_work(engine) as session:
        svc.log_finding(session, ledger.actors["inspector"],
                        finding_input(ledger, description=awkward, measures=["核查 <一> & <二>"]))
    _count, book = _export(engine, ledger.actors["leader"])
    sheet = book.active
    row = next(r for r in sheet.iter_rows(min_row=4) if r[3].value == awkward)
    assert row[3].data_type == "s" and row[6].value == "1.核查 <一> & <二>"
    assert row[3].hyperlink is None
    assert sheet.row_dimensions[row[3].row].height >= 2 * 13.5  # two lines: the row grows, nothing overlaps


def test_row_height_estimate_counts_chinese_as_double_width():
    from dashboard.documents.xlsx_stream import display_width, wrapped_lines

    assert display_width("低保ab") == 6
    assert wrapped_lines("低" * 19, 40) == 1 and wrapped_lines("低" * 20, 40) == 2
    assert wrapped_lines("1.核查\n2.补档", 36) == 2


def test_streamed_sheet_escapes_control_characters():
    from dashboard.documents.xlsx_stream import escape

    assert escape("a&b<c>d\te\nf\x01") == "a&amp;b&lt;c&gt;d\te\nf_x0001_"


def test_the_snapshot_pick_list_reads_no_figures(engine, ledger):
    """Overview and meeting mode list the snapshots on every run: a weekly meeting for a year must not make them
    read fifty snapshots' figures (a megabyte of JSON each at a million findings)."""
    from sqlalchemy import event

    from dashboard.services.unit_of_work import unit_of_work

    with unit_of_work(engine) as session:
        first = snapshots.take_snapshot(session, ledger.actors["leader"], "第一次调度会")
    with unit_of_work(engine) as session:
        second = snapshots.take_snapshot(session, ledger.actors["leader"], "第二次调度会")
    statements = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731 - a one-line helper read where it is used
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with read_session(engine) as session:
            listed = snapshots.list_snapshots(session)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert [(s.id, s.title) for s in listed] == [(second.id, "第二次调度会"), (first.id, "第一次调度会")]
    assert not any("figures" in statement for statement in statements)
