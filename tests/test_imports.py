"""Import of existing Excel ledgers (dashboard.services.imports): preview, then all rows or none."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from dashboard.lifecycle import SYSTEM
from dashboard import clock
from dashboard.errors import ValidationFailed
from dashboard.services import admin, imports
from dashboard.services import findings as svc
from dashboard.vocab import RectType, SourceKind, Status
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import (
    AuditLog,
    Finding,
    FindingCoUnit,
    Measure,
    Progress,
    SerialCounter,
    Source,
    Unit,
)
from tests.databases import world_in
from tests.factories import finding_input

HEADER = ["序号", "问题类别", "问题描述", "乡镇", "村", "整改措施", "牵头单位", "配合单位", "责任人", "整改时限",
          "整改进展", "完成情况", "销号时间"]
TITLE = "2026年城乡低保专项审计反馈问题整改台账"

# Excel rows: 1 title, 2 header, 3.. data
GOOD_ROWS = [
    [1, "对象认定不精准", "毛安村3户低保对象家庭车辆信息未核查", "高士镇", "毛安村",
     "1.逐户核查车辆信息；2.清退不符合条件对象", "社会救助办", "儿童福利和社会事务股", "张某某", "2026年9月28日",
     "已清退3户并追回资金", "已完成", "2026.6.10"],
    [2, "对象认定不精准", "部分低保家庭收入核算不准确", None, None,
     "重新核算家庭收入", "社会救助办", None, "李某某", "2026.9.30", "已完成入户核查", "正在整改", None],
    [3, "对象认定不精准", "低保动态管理机制不健全", None, None,
     "建立低保动态管理长效机制", "儿童福利和社会事务股", None, None, "长期坚持", "已建立季度复核制度", "持续整改", None],
    [4, "对象认定不精准", "困境儿童台账信息不全", None, None,
     "补齐困境儿童台账", "儿童福利和社会事务股", "社会救助办", None, "9月底前", None, None, None],
]


def workbook(rows, *, title=TITLE, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def world(engine, frozen_today):
    world = world_in(engine)
    with unit_of_work(engine) as session:
        admin.create_village(session, SYSTEM, county="本县", township="高士镇", name="毛安村", level="provincial")
        return world


def do(engine, fn, *args, **kwargs):
    with unit_of_work(engine) as session:
        return fn(session, *args, **kwargs)


def commit(engine, world, data, title="城乡低保专项审计（导入）", **kwargs):
    return do(engine, imports.commit_import, world.actors["admin"], data, source_title=title,
              source_kind=SourceKind.AUDIT, filename="审计台账.xlsx", **kwargs)


def preview(engine, world, data):
    with read_session(engine) as session:
        return imports.preview_import(session, world.actors["admin"], data)


def counts(engine) -> dict[str, int]:
    with read_session(engine) as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (Finding, Measure, Progress, FindingCoUnit, Source, Unit, AuditLog)}


def by_description(engine) -> dict[str, Finding]:
    with read_session(engine) as session:
        return {f.description: f for f in session.exec(select(Finding)).all()}


def test_preview_reads_every_row_and_writes_nothing(engine, world):
    before = counts(engine)
    result = preview(engine, world, workbook(GOOD_ROWS))
    assert result.ok and result.errors == [] and result.already_imported == 0
    assert [r.row.excel_row for r in result.rows] == [3, 4, 5, 6]
    assert [r.row.state for r in result.rows] == ["closed", "in_progress", "ongoing", "open"]
    assert [r.deadline for r in result.rows] == [dt.date(2026, 9, 28), dt.date(2026, 9, 30), None,
                                                 dt.date(2026, 9, 30)]
    assert counts(engine) == before


def test_good_file_imports_every_row_with_status_mapping(engine, world):
    before = counts(engine)
    summary = commit(engine, world, workbook(GOOD_ROWS))
    assert (summary.imported, summary.already_imported, summary.closed) == (4, 0, 1)
    after = counts(engine)
    assert after["Finding"] == before["Finding"] + 4
    assert after["Measure"] == before["Measure"] + 5    # row 1 has two numbered measures
    assert after["FindingCoUnit"] == before["FindingCoUnit"] + 2
    assert after["Progress"] == before["Progress"] + 3  # every row with 整改进展 text
    assert after["Unit"] == before["Unit"]

    found = by_description(engine)
    closed = found["毛安村3户低保对象家庭车辆信息未核查"]
    in_progress = found["部分低保家庭收入核算不准确"]
    ongoing = found["低保动态管理机制不健全"]
    still_open = found["困境儿童台账信息不全"]
    assert closed.status == Status.CLOSED and closed.closed_at == dt.datetime(2026, 6, 10, 12, 0)
    assert in_progress.status == Status.IN_PROGRESS and in_progress.closed_at is None
    assert ongoing.status == Status.ONGOING and ongoing.rect_type == RectType.LONG_TERM
    assert ongoing.current_deadline is None
    assert still_open.status == Status.OPEN and still_open.last_progress_at is None
    assert (closed.township, closed.responsible_person, closed.source_id) == ("高士镇", "张某某", summary.source_id)
    assert closed.village_id is not None and closed.original_deadline == closed.current_deadline == dt.date(2026, 9, 28)
    assert in_progress.last_progress_at == clock.now()
    assert all(f.import_key and f.created_by_id == world.actors["admin"].id for f in found.values())

    with read_session(engine) as session:
        measures = session.exec(select(Measure).where(Measure.finding_id == closed.id).order_by(Measure.seq)).all()
        assert [(m.text, m.done) for m in measures] == [("逐户核查车辆信息", True), ("清退不符合条件对象", True)]
        open_measures = session.exec(select(Measure).where(Measure.finding_id == still_open.id)).all()
        assert [(m.text, m.done, m.deadline) for m in open_measures] == [("补齐困境儿童台账", False, dt.date(2026, 9, 30))]
        progress = session.exec(select(Progress).where(Progress.finding_id == in_progress.id)).one()
        assert (progress.done_text, progress.percent, progress.unit_id) == (
            "已完成入户核查", 0, world.units["社会救助办"])
        assert session.exec(select(Progress).where(Progress.finding_id == closed.id)).one().percent == 100
        co = session.exec(select(FindingCoUnit.unit_id).where(FindingCoUnit.finding_id == closed.id)).all()
        assert list(co) == [world.units["儿童福利和社会事务股"]]

        rows = session.exec(select(AuditLog).where(AuditLog.action == "import").order_by(AuditLog.id)).all()
        assert len(rows) == 4
        note_of = {row.finding_id: row.note for row in rows}
        assert note_of[closed.id] == "由Excel导入（审计台账.xlsx第3行）；台账记为已完成，导入时记为已销号，完成日期取台账的销号时间"
        assert note_of[in_progress.id] == "由Excel导入（审计台账.xlsx第4行）"
        assert "导入时记为已销号" not in note_of[ongoing.id]
        closed_row = next(row for row in rows if row.finding_id == closed.id)
        assert closed_row.new == {"serial": closed.serial, "status": "closed", "excel_row": 3, "original_serial": "1"}
        assert closed_row.username == "admin"
        summary_row = session.exec(select(AuditLog).where(AuditLog.action == "import_ledger")).one()
        assert summary_row.new["imported"] == 4 and summary_row.new["file"] == "审计台账.xlsx"


def test_importing_the_same_file_twice_adds_nothing(engine, world):
    data = workbook(GOOD_ROWS)
    first = commit(engine, world, data)
    before = counts(engine)
    again = preview(engine, world, data)
    assert again.ok and again.rows == [] and again.already_imported == 4
    second = commit(engine, world, data)
    assert (second.imported, second.already_imported, second.closed) == (0, 4, 0)
    assert second.source_id is None  # nothing new: no source is created or touched
    after = counts(engine)
    assert after["Finding"] == before["Finding"] and after["Measure"] == before["Measure"]
    assert after["Progress"] == before["Progress"] and after["Source"] == before["Source"]
    # the same rows with one more: only the new row is added
    third = commit(engine, world, workbook(GOOD_ROWS + [
        [5, "对象认定不精准", "新发现：低保公示不到位", None, None, "规范公示", "社会救助办", None, None,
         "2026年8月31日", None, None, None]]))
    assert (third.imported, third.already_imported) == (1, 4)
    assert third.source_id == first.source_id  # an existing source is reused by its title


def test_rows_repeated_within_one_file_are_imported_once(engine, world):
    result = preview(engine, world, workbook([GOOD_ROWS[1], GOOD_ROWS[1]]))
    assert [(s.excel_row, s.key, s.params) for s in result.skipped] == [(4, "import.skip_duplicate", {"row": 3})]
    assert result.skipped[0].message("zh") == "与第3行是同一问题（描述、单位、地点、来源相同）"
    assert result.skipped[0].message("en") == "The same finding as row 3 (same description, unit, place and source)"
    summary = commit(engine, world, workbook([GOOD_ROWS[1], GOOD_ROWS[1]]))
    assert (summary.imported, summary.already_imported, summary.skipped) == (1, 0, 1)


def test_unknown_units_are_reported_with_the_excel_row_and_not_created(engine, world):
    rows = [GOOD_ROWS[0],
            [2, "对象认定不精准", "敬老院消防设施不达标", None, None, "更换消防设施", "县民政局", None, None,
             "2026.9.30", None, None, None],
            [3, "对象认定不精准", "残疾人补贴发放滞后", None, None, "按月足额发放", "社会救助办", "县残联、社会救助办",
             None, "2026.9.30", None, None, None]]
    before = counts(engine)
    result = preview(engine, world, workbook(rows))
    assert not result.ok
    # each unknown name once, with its rows and the nearest names here; units are never created
    assert [(u.kind, u.value, u.rows, u.columns) for u in result.unknowns] == [
        ("unit", "县民政局", [4], ["牵头单位"]), ("unit", "县残联", [5], ["配合单位"])]
    [error] = result.errors
    assert error.excel_row == 4 and error.column is None
    assert error.key == "error.import_unknown_units" and error.params["count"] == 2
    assert error.message("zh") == ("有2个单位名称无法识别：“县民政局”（1行）、“县残联”（1行）。导入不会自动创建单位："
                                   "请把每个名称映射到现有单位，或先在“单位”页添加后重新导入。")
    assert error.message("en").startswith("2 unit name(s) are not known: “县民政局” (1 row(s)), “县残联” (1 row(s)). ")
    assert [r.row.excel_row for r in result.rows] == [3]
    with pytest.raises(ValidationFailed) as refused:
        commit(engine, world, workbook(rows))
    assert refused.value.zh == "有1处问题无法导入，整个文件未写入。请按预览中的行号修改后重新导入。"
    assert counts(engine) == before
    with read_session(engine) as session:
        assert session.exec(select(Unit).where(Unit.name.in_(["县民政局", "县残联"]))).all() == []


def test_a_bad_row_refuses_the_whole_file(engine, world):
    rows = GOOD_ROWS + [
        [5, "对象认定不精准", "临时救助审批超时限", None, None, "规范审批", "社会救助办", None, None,
         "尽快", None, None, None],                       # unreadable deadline
        [6, "不存在的类别", "特困人员护理不到位", None, None, "落实护理", "社会救助办", None, None,
         "2026.9.30", None, None, None],                  # unknown category: created by default
        [7, "对象认定不精准", "村级档案缺失", "赛口镇", "红旗村", "补齐档案", "社会救助办", None, None,
         "2026.9.30", None, None, None],                  # unknown village
        [8, "对象认定不精准", "没有措施的问题", None, None, None, "社会救助办", None, None,
         "2026.9.30", None, None, None],                  # no measures
    ]
    data = workbook(rows)
    result = preview(engine, world, data)
    assert [(e.excel_row, e.column) for e in result.errors] == [(7, "整改时限"), (9, "村"), (10, "整改措施")]
    assert result.errors[0].message("zh") == "无法识别的日期：‘尽快’"
    assert result.errors[1].message("zh").startswith("未知村：‘赛口镇·红旗村’（1行，最接近：")
    assert result.errors[1].message("zh").endswith("：请在映射中选择现有名称或新建")
    assert result.errors[1].message("en").startswith("Unknown village: ‘赛口镇·红旗村’ (1 row(s); nearest: ")
    assert result.errors[2].message("zh") == "缺少整改措施"
    assert result.errors[2].message("en") == "No measures"
    assert "将新建问题类别“不存在的类别”（1行）" in result.messages("zh")
    assert "The category “不存在的类别” will be created (1 row(s))" in result.messages("en")
    before = counts(engine)
    with read_session(engine) as session:
        serials_before = session.exec(select(SerialCounter)).all()
    with pytest.raises(ValidationFailed, match="有3处问题无法导入"):
        commit(engine, world, data)
    assert counts(engine) == before
    with read_session(engine) as session:
        assert session.exec(select(SerialCounter)).all() == serials_before
        assert session.exec(select(Source).where(Source.title == "城乡低保专项审计（导入）")).first() is None


def test_source_is_created_if_missing_and_reused_if_it_exists(engine, world):
    summary = commit(engine, world, workbook(GOOD_ROWS[:1]), title="2026年自查台账", received_date=dt.date(2026, 5, 20))
    with read_session(engine) as session:
        created = session.get(Source, summary.source_id)
    assert (created.title, created.kind, created.received_date, created.notes) == (
        "2026年自查台账", "audit", dt.date(2026, 5, 20), "由Excel台账导入")
    # an existing source (here the world's audit) is reused, not duplicated
    with read_session(engine) as session:
        existing = session.get(Source, world.source_id)
    before = counts(engine)["Source"]
    reused = commit(engine, world, workbook(GOOD_ROWS[1:2]), title=existing.title)
    assert reused.source_id == world.source_id
    assert counts(engine)["Source"] == before
    with pytest.raises(ValidationFailed, match="请填写问题来源"):
        commit(engine, world, workbook(GOOD_ROWS[2:3]), title="  ")


def test_serials_continue_the_years_counter_without_gaps(engine, world):
    with unit_of_work(engine) as session:
        first = svc.log_finding(session, world.actors["inspector"], finding_input(world))
    assert first.serial == "ZG-2026-0001"
    commit(engine, world, workbook(GOOD_ROWS))
    with unit_of_work(engine) as session:
        last = svc.log_finding(session, world.actors["inspector"], finding_input(world, description="导入后登记"))
    assert last.serial == "ZG-2026-0006"
    with read_session(engine) as session:
        serials = sorted(session.exec(select(Finding.serial)).all())
        assert session.get(SerialCounter, 2026).last == 6
    assert serials == [f"ZG-2026-{n:04d}" for n in range(1, 7)]
    imported = sorted(f.serial for f in by_description(engine).values() if f.import_key)
    assert imported == ["ZG-2026-0002", "ZG-2026-0003", "ZG-2026-0004", "ZG-2026-0005"]


def test_serials_start_a_new_year_counter(engine, world):
    with clock.frozen(dt.datetime(2027, 1, 4, 9)):
        commit(engine, world, workbook(GOOD_ROWS[:2]))
    with read_session(engine) as session:
        assert sorted(session.exec(select(Finding.serial)).all()) == ["ZG-2027-0001", "ZG-2027-0002"]


def test_empty_ledger_imports_nothing(engine, world):
    before = counts(engine)
    summary = commit(engine, world, workbook([]))
    assert (summary.imported, summary.already_imported, summary.closed) == (0, 0, 0)
    assert counts(engine)["Finding"] == before["Finding"]


def test_missing_category_falls_back_to_other(engine, world):
    row = [1, None, "未分类的问题", None, None, "落实整改", "社会救助办", None, None, "2026.9.30", None, None, None]
    result = preview(engine, world, workbook([row]))
    # an empty 问题类别 means 其他, created (and said) when the database has no such category yet
    assert result.errors == [] and "将新建问题类别“其他”（1行）" in result.messages("zh")
    summary = commit(engine, world, workbook([row]))
    assert summary.created_categories == ["其他"]
    with read_session(engine) as session:
        category_id = session.exec(select(Finding.category_id).where(Finding.description == "未分类的问题")).one()
        other = session.exec(select(func.count()).select_from(Finding).where(Finding.category_id == category_id)).one()
    assert other == 1 and category_id != world.category_id


def test_ledger_as_people_keep_it_merged_cells_and_other_header_names(engine, world):
    """责任单位 instead of 牵头单位, the unit merged down over two rows, a 备注 column, dates in words."""
    book = Workbook()
    sheet = book.active
    sheet.append(["社会救助领域问题整改台账（2026年）"])
    sheet.merge_cells("A1:G1")
    sheet.append(["填报单位：县民政局"])
    sheet.append(["序号", "存在问题", "整改举措", "责任单位", "完成时限", "整改情况", "备注"])
    sheet.append([1, "低保审批档案不规范", "（1）规范档案；（2）开展培训", "社会救助办", "2026年8月底", None, "审计发现"])
    sheet.append([2, "临时救助台账不全", "补齐台账", None, "9月30日前", "已补齐5月以前台账", None])
    sheet.merge_cells("D4:D5")
    sheet.append(["注：本表由整改办汇总"])
    buffer = io.BytesIO()
    book.save(buffer)
    do(engine, admin.create_category, SYSTEM, "其他")
    summary = commit(engine, world, buffer.getvalue())
    assert (summary.imported, summary.closed) == (2, 0)
    found = by_description(engine)
    first, second = found["低保审批档案不规范"], found["临时救助台账不全"]
    assert first.lead_unit_id == second.lead_unit_id == world.units["社会救助办"]
    assert (first.status, first.current_deadline, first.remarks) == ("open", dt.date(2026, 8, 31), "审计发现")
    assert (second.status, second.current_deadline) == ("in_progress", dt.date(2026, 9, 30))
    with read_session(engine) as session:
        measures = session.exec(select(Measure.text).where(Measure.finding_id == first.id).order_by(Measure.seq)).all()
    assert list(measures) == ["规范档案", "开展培训"]


def test_a_file_that_is_not_a_workbook_is_refused_whole(engine, world):
    from dashboard.ledger_reader import LedgerFormatError

    before = counts(engine)
    with pytest.raises(LedgerFormatError, match="文件不是Excel"):
        commit(engine, world, b"%PDF-1.4 not a workbook")
    assert counts(engine) == before


def test_only_admin_imports(engine, world):
    from dashboard.errors import PermissionDenied

    with read_session(engine) as session, pytest.raises(PermissionDenied, match="无权导入台账"):
        imports.preview_import(session, world.actors["inspector"], workbook(GOOD_ROWS))
