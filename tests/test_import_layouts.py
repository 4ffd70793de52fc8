"""Real ledgers in, nothing lost (issue 11), consistent imported history (issue 10 item 4), and files that
cannot break an import (issue 13 items 3, 6, 7): one test per layout, on SQLite and PostgreSQL where a
database is involved. Each asserts what is read exactly, what the preview says, that a refused file
writes nothing, and that importing twice adds nothing."""
from __future__ import annotations

import datetime as dt
import io
import threading
import time

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import func, select

from dashboard.lifecycle import SYSTEM
from dashboard import cli
from dashboard.documents.ledger_export import export_ledger
from dashboard.ledger_reader import LedgerFormatError, parse_ledger
from dashboard.errors import ValidationFailed
from dashboard.services import admin, imports
from dashboard.services import findings as svc
from dashboard.services.common import actor_of
from dashboard.vocab import Role
from db import engine as db_engine
from dashboard.services.unit_of_work import unit_of_work
from db.engine import make_engine, migrate, read_session
from db.models import (
    AuditLog,
    Category,
    ClosureReview,
    ExtensionRequest,
    Finding,
    FindingCoUnit,
    Measure,
    NameAlias,
    Progress,
    Source,
    Unit,
    User,
    Village,
)
from tests import ledger_files as files
from tests.apptest_support import point_app_at
from tests.factories import build_world

D = dt.date



def preview(engine, world, data, **kwargs):
    with read_session(engine) as session:
        return imports.preview_import(session, world.actors["admin"], data, **kwargs)


def commit(engine, world, data, title="巡察反馈（导入）", filename="台账.xlsx", **kwargs):
    with unit_of_work(engine) as session:
        return imports.commit_import(session, world.actors["admin"], data, source_title=title,
                                     filename=filename, **kwargs)


def counts(engine) -> dict[str, int]:
    with read_session(engine) as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (Finding, Measure, Progress, FindingCoUnit, Source, Unit, Category, Village,
                              ExtensionRequest, ClosureReview, NameAlias, AuditLog)}


def imported(engine) -> dict[str, Finding]:
    with read_session(engine) as session:
        return {f.description: f for f in session.exec(select(Finding)).all()}


def measures_of(engine, finding_id: int) -> list[tuple[str, D | None, bool]]:
    with read_session(engine) as session:
        return [(m.text, m.deadline, m.done) for m in
                session.exec(select(Measure).where(Measure.finding_id == finding_id).order_by(Measure.seq))]


def twice_adds_nothing(engine, world, data, **kwargs) -> None:
    before = counts(engine)
    again = commit(engine, world, data, **kwargs)
    assert (again.imported, again.updated) == (0, 0)
    assert counts(engine) == before


# --------------------------------------------------------------------------- multi-row findings


def test_multi_row_findings_keep_every_measure_and_its_deadline(engine, world):
    data, expected = files.multi_row_ledger()
    result = preview(engine, world, data)
    assert result.ok, result.errors
    assert [r.row.excel_rows for r in result.rows] == [[3, 4, 5], [6, 7], [8, 9, 10], [11, 12, 13]]
    assert sum(len(r.row.measures) for r in result.rows) == 11
    assert result.skipped == [] and result.unchanged == []
    assert "7个续行作为上方问题的整改措施（各带时限）" in result.messages("zh")
    # the finding's deadline is the latest of its measures'
    assert [r.deadline for r in result.rows] == [D(2026, 9, 30), D(2026, 8, 15), D(2026, 12, 31), D(2026, 8, 31)]
    assert [r.row.state for r in result.rows] == ["in_progress", "closed", "in_progress", "closed"]

    summary = commit(engine, world, data)
    assert (summary.imported, summary.closed) == (4, 2)
    found = imported(engine)
    assert len(found) == 4
    for description, items in expected.items():
        finding = found[description]
        got = measures_of(engine, finding.id)
        assert [(text, due) for text, due, _done in got] == [
            (text, parse_ledger_date(due)) for text, due in items]
        assert finding.current_deadline == max(parse_ledger_date(due) for _t, due in items)
    first = found[files.MULTI_FINDINGS[0][1]]
    assert [done for _t, _d, done in measures_of(engine, first.id)] == [True, False, False]
    twice_adds_nothing(engine, world, data)


def parse_ledger_date(text: str) -> D:
    from dashboard.ledger_reader import parse_date_text

    return parse_date_text(text, 2026)


# --------------------------------------------------------------------------- WPS group rows


def test_wps_group_rows_carry_their_heading_and_are_not_read_as_data(engine, world):
    data = files.wps_group_ledger()
    parsed = parse_ledger(data)
    assert parsed.errors == [] and parsed.groups == 3
    assert parsed.columns["deadline"] == "整改时限" and parsed.columns["completion"] == "完成情况"
    got = [(r.excel_row, r.category, r.category_text, r.description, r.rect_type, r.deadline, r.state)
           for r in parsed.rows]
    assert got == [
        (4, "对象认定方面", "一、对象认定方面", "低保对象家庭收入核算不准", "deadline", D(2026, 9, 30), "in_progress"),
        (5, "对象认定方面", "一、对象认定方面", "漏保对象未及时纳入", "deadline", D(2026, 10, 31), "open"),
        (7, "资金管理方面", "二、资金管理方面", "临时救助资金发放不及时", "deadline", D(2026, 8, 31), "closed"),
        (9, "服务保障方面", "（三）服务保障方面", "困境儿童探访记录不全", "long_term", None, "open"),
    ]
    result = preview(engine, world, data)
    assert result.ok, result.errors
    assert "3个分组标题行作为其下各行的问题类别来源" in result.messages("zh")
    assert [(u.kind, u.value, u.rows) for u in result.unknowns] == [
        ("category", "对象认定方面", [4, 5]), ("category", "资金管理方面", [7]), ("category", "服务保障方面", [9])]
    summary = commit(engine, world, data)
    assert summary.created_categories == ["对象认定方面", "服务保障方面", "资金管理方面"]
    found = imported(engine)
    assert found["漏保对象未及时纳入"].remarks == ""  # the heading became the category: nothing to keep aside
    twice_adds_nothing(engine, world, data)


# --------------------------------------------------------------------------- group headings as categories


def test_group_headings_as_categories_are_listed_once_and_mapped(engine, world):
    data = files.heading_category_ledger()
    result = preview(engine, world, data, create_categories=False)
    # 19 rows, 3 values: three messages, not nineteen
    assert not result.ok and len(result.errors) == 3
    assert [(u.value, len(u.rows)) for u in result.unknowns] == [("对象认定方面", 8), ("资金管理方面", 6), ("作风建设方面", 5)]
    assert result.errors[0].message("zh").startswith("未知问题类别：‘对象认定方面’（8行")
    before = counts(engine)
    with pytest.raises(ValidationFailed):
        commit(engine, world, data, create_categories=False)
    assert counts(engine) == before

    decisions = {("category", "对象认定方面"): imports.Decision(imports.MAP, "对象认定不精准"),
                 ("category", "资金管理方面"): imports.Decision(imports.CREATE),
                 ("category", "作风建设方面"): imports.Decision(imports.OTHER)}
    with unit_of_work(engine) as session:
        admin.create_category(session, SYSTEM, "其他")
    result = preview(engine, world, data, decisions=decisions)
    assert result.ok, result.errors
    assert "问题类别“对象认定方面”映射为“对象认定不精准”（8行）" in result.messages("zh")
    assert "将新建问题类别“资金管理方面”（6行）" in result.messages("zh")
    assert "问题类别“作风建设方面”归入“其他”，原文记入备注（5行）" in result.messages("zh")
    summary = commit(engine, world, data, decisions=decisions)
    assert (summary.imported, summary.created_categories) == (19, ["资金管理方面"])
    with read_session(engine) as session:
        names = dict(session.execute(select(Category.id, Category.name)).all())
        aliases = session.exec(select(NameAlias.kind, NameAlias.alias)).all()
    found = imported(engine)
    assert names[found["对象认定方面问题1"].category_id] == "对象认定不精准"
    assert found["对象认定方面问题1"].remarks == "原问题类别：一、对象认定方面"
    assert names[found["资金管理方面问题9"].category_id] == "资金管理方面"
    assert names[found["作风建设方面问题15"].category_id] == "其他"
    assert found["作风建设方面问题15"].remarks == "原问题类别：三、作风建设方面"
    assert list(aliases) == [("category", "对象认定方面")]  # remembered: the next ledger maps itself
    twice_adds_nothing(engine, world, data, decisions=decisions)
    nxt = preview(engine, world, files.xlsx({1: ["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限"],
                                             2: [1, "一、对象认定方面", "新问题", "新措施", "社会救助办", "2026.12.31"]}))
    assert nxt.ok and nxt.unknowns == []
    assert "“对象认定方面”按问题类别“对象认定不精准”导入" in nxt.messages("zh")


# --------------------------------------------------------------------------- units the office's way


def test_units_as_people_write_them(engine, world):
    data = files.unit_alias_ledger()
    before = counts(engine)
    result = preview(engine, world, data)
    # 县民政局社会救助办 and 社会救助办公室 are the same unit; 救助股 is listed once, with the nearest names
    assert [(u.kind, u.value, u.rows) for u in result.unresolved] == [("unit", "救助股", [4, 5])]
    assert "社会救助办" in result.unresolved[0].suggestions
    [error] = result.errors
    assert error.message("zh").startswith("有1个单位名称无法识别：“救助股”（2行，最接近：社会救助办")
    assert "“县民政局社会救助办”按单位“社会救助办”导入" in result.messages("zh")
    assert "“社会救助办公室”按单位“社会救助办”导入" in result.messages("zh")
    with pytest.raises(ValidationFailed):
        commit(engine, world, data)
    assert counts(engine) == before

    decisions = imports.decisions_from_pairs(["救助股=社会救助办"])
    summary = commit(engine, world, data, decisions=decisions)
    assert summary.imported == 4
    found = imported(engine)
    with read_session(engine) as session:
        co = sorted(session.exec(select(FindingCoUnit.unit_id).where(
            FindingCoUnit.finding_id == found["临时救助台账不全"].id)).all())
    # co-units separated by a space or a slash are two units
    assert co == sorted([world.units["儿童福利和社会事务股"], world.units["高士镇"]])
    assert {f.lead_unit_id for f in found.values()} == {world.units["社会救助办"]}
    ongoing = found["救助政策宣传不到位"]
    assert (ongoing.rect_type, ongoing.status, ongoing.current_deadline) == ("long_term", "ongoing", None)  # 持续推进
    twice_adds_nothing(engine, world, data)
    # the mapping is remembered: another ledger of that office maps itself
    other = files.unit_alias_ledger().replace(b"", b"")
    nxt = preview(engine, world, files.xlsx({1: ["序号", "问题描述", "整改措施", "牵头单位", "整改时限"],
                                             2: [1, "救助资金公示不到位", "规范公示", "救助股", "2026.12.31"]}))
    assert nxt.ok and [r.lead_unit_id for r in nxt.rows] == [world.units["社会救助办"]]
    assert other


def test_aliases_are_editable(engine, world):
    admin_actor = world.actors["admin"]
    with unit_of_work(engine) as session:
        imports.add_alias(session, admin_actor, kind="unit", alias="救助股", target="社会救助办")
    with read_session(engine) as session:
        [alias] = imports.list_aliases(session, admin_actor)
    assert (alias["kind"], alias["alias"], alias["target"]) == ("unit", "救助股", "社会救助办")
    with unit_of_work(engine) as session:
        imports.add_alias(session, admin_actor, kind="unit", alias="救助股", target="儿童福利和社会事务股")
        with pytest.raises(ValidationFailed, match="没有名为“不存在”的单位"):
            imports.add_alias(session, admin_actor, kind="unit", alias="x", target="不存在")
    with read_session(engine) as session:
        [alias] = imports.list_aliases(session, admin_actor)
    assert alias["target"] == "儿童福利和社会事务股"
    with unit_of_work(engine) as session:
        imports.delete_alias(session, admin_actor, alias["id"])
    with read_session(engine) as session:
        assert imports.list_aliases(session, admin_actor) == []


# --------------------------------------------------------------------------- summary sheet first, .xls, .csv


def test_summary_and_cover_sheets_are_passed_over(engine, world):
    data = files.summary_first_ledger()
    result = preview(engine, world, data)
    assert result.ok
    assert result.messages("zh")[0] == "读取工作表“明细台账”（表头在第1行），跳过工作表：封面、汇总表"
    assert [(r.row.description, r.deadline) for r in result.rows] == [
        ("低保档案不规范", D(2026, 9, 30)), ("临时救助台账不全", D(2026, 10, 31))]
    assert commit(engine, world, data).imported == 2
    twice_adds_nothing(engine, world, data)


def test_old_xls(engine, world):
    data = files.xls_ledger()
    parsed = parse_ledger(data)
    assert (parsed.file_type, parsed.sheet, parsed.header_row) == ("xls", "整改台账", 2)
    got = [(r.description, r.measures, r.lead_unit, r.deadline, r.state) for r in parsed.rows]
    assert got == [("低保档案不规范", ["规范档案", "开展培训"], "社会救助办", D(2026, 9, 30), "in_progress"),
                   ("临时救助台账不全", ["补齐台账"], "社会救助办", D(2026, 10, 31), "closed")]  # merged unit filled
    assert commit(engine, world, data).imported == 2
    twice_adds_nothing(engine, world, data)


def test_ods_spreadsheet(engine, world):
    data = files.ods_ledger()
    parsed = parse_ledger(data, filename="台账.ods")
    assert (parsed.file_type, parsed.sheet, parsed.errors) == ("ods", "台账", [])
    assert [(r.description, r.deadline, r.state) for r in parsed.rows] == [
        ("低保档案不规范", D(2026, 9, 30), "in_progress"), ("临时救助台账不全", D(2026, 10, 31), "closed")]
    assert commit(engine, world, data, filename="台账.ods").imported == 2
    twice_adds_nothing(engine, world, data, filename="台账.ods")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_csv_in_gbk_or_utf8(encoding):
    parsed = parse_ledger(files.csv_ledger(encoding), filename="台账.csv")
    assert parsed.file_type == "csv" and parsed.errors == []
    assert [(r.description, r.deadline, r.state) for r in parsed.rows] == [
        ("低保档案不规范", D(2026, 9, 30), "in_progress"), ("临时救助台账不全，涉及3户", D(2026, 10, 31), "closed")]


def test_gbk_csv_imports_once(engine, world):
    data = files.csv_ledger("gbk")
    assert commit(engine, world, data, filename="台账.csv").imported == 2
    twice_adds_nothing(engine, world, data, filename="台账.csv")


# --------------------------------------------------------------------------- identity and updates


def test_a_serial_from_elsewhere_never_identifies_a_finding_here(engine, world):
    with unit_of_work(engine) as session:
        here = svc.log_finding(session, world.actors["inspector"], _finding(world))
    other_office = files.xlsx({1: ["序号", "问题描述", "整改措施", "牵头单位", "整改时限"],
                               2: [here.serial, "另一个县的无关问题", "整改", "社会救助办", "2026.12.31"]})
    result = preview(engine, world, other_office)
    assert [r.row.description for r in result.rows] == ["另一个县的无关问题"] and result.unchanged == []
    assert commit(engine, world, other_office).imported == 1
    assert imported(engine)["另一个县的无关问题"].original_serial == here.serial


def _finding(world):
    from tests.factories import finding_input

    return finding_input(world)


def test_reimport_with_changed_progress_and_completion_is_an_update(engine, world):
    header = ["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "整改进展", "完成情况"]
    first = files.xlsx({1: header, 2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026.9.30", "已核查一半", None],
                        3: [2, "临时救助台账不全", "补齐台账", "社会救助办", "2026.9.30", None, None]})
    commit(engine, world, first)
    later = files.xlsx({1: header, 2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026.9.30", "已全部核查", "已完成"],
                        3: [2, "临时救助台账不全", "补齐台账", "社会救助办", "2026.9.30", None, None],
                        4: [3, "新发现的问题", "整改", "社会救助办", "2026.9.30", None, None]})
    result = preview(engine, world, later)
    assert [(u.row.excel_row, u.new_progress, u.apply_closure) for u in result.updates] == [(2, "已全部核查", True)]
    assert [s.excel_row for s in result.unchanged] == [3] and [r.row.excel_row for r in result.rows] == [4]
    summary = commit(engine, world, later)
    assert (summary.imported, summary.updated, summary.already_imported) == (1, 1, 1)
    found = imported(engine)["低保档案不规范"]
    assert found.status == "pending_review"  # an import never closes a finding by itself
    with read_session(engine) as session:
        texts = session.exec(select(Progress.done_text).where(Progress.finding_id == found.id).order_by(Progress.id)).all()
        review = session.exec(select(ClosureReview).where(ClosureReview.finding_id == found.id)).one()
    assert list(texts) == ["已核查一半", "已全部核查"] and review.decision == "pending"
    twice_adds_nothing(engine, world, later)


# --------------------------------------------------------------------------- consistent history (issue 10 item 4)


def test_imported_history_is_consistent(engine, world):
    header = ["序号", "问题描述", "整改措施", "牵头单位", "整改时限(原)", "整改时限(现)", "完成情况", "销号时间"]
    data = files.xlsx({1: header,
                       2: [1, "去年已销号的问题", "整改", "社会救助办", "2025.9.30", None, "已完成", "2025.10.8"],
                       3: [2, "延期过的问题", "整改", "社会救助办", "2026.3.31", "2026.9.30", "整改中", None],
                       4: [3, "没写销号时间的完成问题", "整改", "社会救助办", "2026.5.31", None, "已完成", None]})
    result = preview(engine, world, data)
    assert ("已完成的2条中，1条按台账的销号时间记录完成日期，1条未写销号时间、记为导入当天；登记时间均不晚于完成日期"
            in result.messages("zh"))
    assert "1条有原/现两个时限，记为已批准的延期（来源：本次导入）" in result.messages("zh")
    summary = commit(engine, world, data)
    assert (summary.closed_with_date, summary.extensions) == (1, 1)
    found = imported(engine)
    closed = found["去年已销号的问题"]
    assert closed.closed_at == dt.datetime(2025, 10, 8, 12) and closed.created_at <= closed.closed_at
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Finding).where(Finding.closed_at < Finding.created_at)).one() == 0
        [extension] = session.exec(select(ExtensionRequest)).all()
    extended = found["延期过的问题"]
    assert (extended.original_deadline, extended.current_deadline, extended.extension_count) == (
        D(2026, 3, 31), D(2026, 9, 30), 1)
    assert (extension.finding_id, extension.decision, extension.old_deadline, extension.asked_deadline) == (
        extended.id, "approved", D(2026, 3, 31), D(2026, 9, 30))
    assert "由Excel导入" in extension.reason and "台账.xlsx第3行" in extension.comment
    # the report's list of extensions and its prose agree
    from dashboard.services import snapshots

    with read_session(engine) as session:
        granted = snapshots.extensions_granted(session)
    assert [row["serial"] for row in granted] == [extended.serial]


# --------------------------------------------------------------------------- the round trip of the demo export


def _export_rows(engine, actor) -> tuple[bytes, list[list]]:
    out = io.BytesIO()
    with read_session(engine) as session:
        export_ledger(session, actor, out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    return out.getvalue(), [[cell.value for cell in row] for row in sheet.iter_rows(min_row=4)]


def test_round_trip_of_the_demo_export_keeps_every_field(engine, tmp_path, templates, demo_copy):
    from seed.demo import _reference_data

    templates.fill_sqlite(f"sqlite:///{tmp_path / 'demo.db'}")  # migrated, as migrate(demo) leaves it
    demo = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    migrate(demo)
    demo_copy(demo)  # seed_demo(demo), built once
    with read_session(demo) as session:
        demo_admin = actor_of(session.exec(select(User).where(User.role == Role.ADMIN.value)).first())
    data, before = _export_rows(demo, demo_admin)
    # the demo holds every case the round trip must keep (else the comparison below would prove little)
    assert {"待销号", "已销号", "持续整改", "整改中", "待整改", "已撤销"} <= {row[14] for row in before}
    assert any(row[20] == "重点督办" for row in before) and any(row[21] for row in before)
    assert any(row[19] for row in before) and any(" / " in (row[12] or "") for row in before)
    assert any("（时限：" in (row[6] or "") for row in before) and any(row[13] for row in before)
    with unit_of_work(engine) as session:  # another office: the same units, villages and categories, no findings
        _reference_data(session)
        user = admin.create_user(session, SYSTEM, username="admin2", display_name="admin2", role=Role.ADMIN,
                                 password="s3cret-pass-2")
        session.flush()
        here = actor_of(user)
    with read_session(engine) as session:
        result = imports.preview_import(session, here, data, filename="demo.xlsx")
    assert result.ok, result.errors[:5]
    assert result.parsed.own_export
    summary = commit_as(engine, here, data)
    _again, after = _export_rows(engine, here)
    cancelled = [row for row in before if row[14] == "已撤销"]
    assert summary.cancelled_skipped == len(cancelled)
    kept = {row[0]: row for row in before if row[14] != "已撤销"}
    by_original = {row[18]: row for row in after}
    assert set(by_original) == set(kept)
    new_to_old = {row[0]: row[18] for row in after}
    for serial, old in kept.items():
        new = by_original[serial]
        # every column the export shows, except this database's own serial, the evidence files (not in a ledger)
        # and the 原编号 (now the serial it had there); the repeat link is the same finding under its new serial
        for index in range(len(old)):
            if index in (0, 16, 18):
                continue
            if index == 21:
                assert new_to_old.get(new[index], new[index]) == old[index], (serial, index)
                continue
            assert new[index] == old[index], (serial, index, old[index], new[index])
    with read_session(engine) as session:
        approved = session.exec(select(func.count()).select_from(ExtensionRequest)).one()
        pending = session.exec(select(func.count()).select_from(ClosureReview).where(ClosureReview.decision == "pending")).one()
    assert approved == sum(1 for row in kept.values() if " / " in (row[12] or ""))
    assert pending == sum(1 for row in kept.values() if row[14] == "待销号")
    twice_adds_nothing_as(engine, here, data)
    demo.dispose()


def commit_as(engine, actor, data):
    with unit_of_work(engine) as session:
        return imports.commit_import(session, actor, data, source_title="回导", filename="demo.xlsx")


def twice_adds_nothing_as(engine, actor, data):
    before = counts(engine)
    again = commit_as(engine, actor, data)
    assert (again.imported, again.updated) == (0, 0)
    assert counts(engine) == before


def test_measures_that_begin_with_a_digit_survive_round_trips(engine, world):
    header = ["序号", "问题描述", "整改措施", "牵头单位", "整改时限"]
    with unit_of_work(engine) as session:
        finding = svc.log_finding(session, world.actors["inspector"], _finding_with_measures(world))
    text_before = measures_of(engine, finding.id)
    data, rows = _export_rows(engine, world.actors["admin"])
    assert rows[0][6] == "1.3名工作人员未持证上岗\n2.1.5万元资金未拨付（时限：2026-07-15）"
    parsed = parse_ledger(data)
    assert parsed.rows[0].measures == ["3名工作人员未持证上岗", "1.5万元资金未拨付"]
    assert parsed.rows[0].measure_deadlines == [D(2026, 7, 31), D(2026, 7, 15)]
    assert [(t, d) for t, d, _ in text_before] == list(zip(parsed.rows[0].measures, parsed.rows[0].measure_deadlines))
    assert header  # the layout of a human ledger is read as before (see test_ledger_parse)


def _finding_with_measures(world):
    from dashboard.services.findings import MeasureInput
    from tests.factories import finding_input

    return finding_input(world, measures=[MeasureInput("3名工作人员未持证上岗"),
                                          MeasureInput("1.5万元资金未拨付", dt.date(2026, 7, 15))])


# --------------------------------------------------------------------------- files that cannot be read (issue 13)


HOSTILE = {
    "csv_named_xlsx": (lambda: files.csv_ledger("utf-8"), "台账.xlsx", "文件扩展名是.xlsx，但内容是文本（CSV）"),
    "empty_workbook": (files.empty_workbook, "台账.xlsx", "工作簿的1个工作表都是空的"),
    "fifty_sheets": (files.many_sheets_without_a_ledger, "台账.xlsx", "在50个工作表中都没有找到台账表头"),
    "malformed_xml": (files.malformed_sheet_xml, "台账.xlsx", "工作表“Sheet”已损坏，无法读取"),
    "empty_file": (lambda: b"", "台账.xlsx", "文件是空的"),
    "pdf": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "台账.pdf", "文件不是Excel"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_unreadable_files_get_one_sentence(name):
    build, filename, message = HOSTILE[name]
    with pytest.raises(LedgerFormatError) as refused:
        parse_ledger(build(), filename=filename)
    assert refused.value.zh.startswith(message)
    assert refused.value.zh.count("。") == 1 and "：" in refused.value.zh  # what is wrong: what to do.
    assert refused.value.en and refused.value.en != refused.value.zh


def test_zip_bomb_is_refused_early_with_bounded_memory():
    import tracemalloc

    bomb = files.zip_bomb(1_000_000)
    assert len(bomb) < 8 * 2**20
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(LedgerFormatError, match="工作表超过200000行"):
        parse_ledger(bomb, filename="台账.xlsx")
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40 * 2**20, peak
    assert seconds < 10


@pytest.fixture
def cli_world(engine, database_url, monkeypatch, world):
    point_app_at(monkeypatch, database_url)
    yield world
    db_engine.default_engine.cache_clear()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_cli_refuses_unreadable_files_with_exit_2_and_writes_nothing(engine, cli_world, tmp_path, capsys, name):
    build, filename, message = HOSTILE[name]
    path = tmp_path / filename
    path.write_bytes(build())
    before = counts(engine)
    assert cli.main(["import-ledger", str(path), "--source", "巡察"]) == 2
    out = capsys.readouterr()
    assert message in out.err and "Traceback" not in out.err + out.out
    # the same sentence, once, in the reader's language
    with pytest.raises(LedgerFormatError) as refused:
        parse_ledger(path.read_bytes(), filename=filename)
    assert out.err == refused.value.zh + "\n"
    assert cli.main(["--lang", "en", "import-ledger", str(path), "--source", "巡察"]) == 2
    assert capsys.readouterr().err == refused.value.en + "\n"
    assert counts(engine) == before


def test_cli_maps_names_and_remembers_them(engine, cli_world, tmp_path, capsys):
    path = tmp_path / "救助股台账.xlsx"
    path.write_bytes(files.unit_alias_ledger())
    before = counts(engine)
    assert cli.main(["import-ledger", str(path), "--source", "巡察"]) == 1
    err = capsys.readouterr().err
    assert "有1个单位名称无法识别：“救助股”（2行，最接近：社会救助办" in err
    assert "--map 救助股=…" in err and "未导入任何数据" in err
    assert counts(engine) == before
    assert cli.main(["import-ledger", str(path), "--source", "巡察", "--map", "救助股=社会救助办",
                     "--create-categories"]) == 0
    out = capsys.readouterr().out
    assert "新增 4 条" in out and "新建问题类别：其他" in out
    with read_session(engine) as session:  # the command line acts as the server's operator, as CONTRIBUTING says
        rows = session.exec(select(AuditLog.username, AuditLog.user_id, AuditLog.entity_id)
                            .where(AuditLog.action == "import")).all()
        creators = set(session.exec(select(Finding.created_by_id).where(Finding.id.in_([r[2] for r in rows]))).all())
    assert len(rows) == 4 and {(r[0], r[1]) for r in rows} == {("system", None)} and creators == {None}
    assert cli.main(["import-ledger", str(path), "--source", "巡察"]) == 0
    assert "新增 0 条（其中已完成 0 条）；更新 0 条；未变 4 条" in capsys.readouterr().out
    assert cli.main(["import-ledger", str(path), "--source", "巡察", "--map", "救助股"]) == 2
    assert capsys.readouterr().err == "映射“救助股=”无法使用：格式应为 旧名称=现有名称\n"
    assert cli.main(["import-ledger", str(path), "--source", "巡察", "--map", "救助股", "--lang", "en"]) == 2
    assert capsys.readouterr().err == "Mapping “救助股=” cannot be used: write it as old name=existing name\n"


# --------------------------------------------------------------------------- writers are not locked out (issue 13 item 3)


def test_no_write_lock_is_held_while_the_file_is_read(engine, cli_world, database_url, tmp_path, monkeypatch, capsys):
    """A department user saves while the CLI reads and checks a file: the import opens its write
    transaction only for the short insert, so the save goes through at once."""
    path = tmp_path / "台账.xlsx"
    path.write_bytes(files.multi_row_ledger()[0])
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 300)
    url, schema = database_url
    other = make_engine(url, schema=schema)  # another process's connection, short busy timeout
    real = imports.parse_ledger
    saved = []

    def parse_while_someone_saves(*args, **kwargs):
        with unit_of_work(other) as session:
            session.execute(text("UPDATE unit SET version = version + 1 WHERE id = :id"),
                            {"id": cli_world.units["社会救助办"]})
        saved.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "parse_ledger", parse_while_someone_saves)
    assert cli.main(["import-ledger", str(path), "--source", "巡察"]) == 0
    assert saved == [True] and "新增 4 条" in capsys.readouterr().out
    other.dispose()


def test_busy_database_is_retried_then_refused_plainly(tmp_path, monkeypatch, frozen_today):
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = make_engine(url)
    migrate(engine)
    with unit_of_work(engine) as session:
        world = build_world(session)
    data = files.summary_first_ledger()
    with read_session(engine) as session:
        ready = imports.preview_import(session, world.actors["admin"], imports.read_ledger(data))
    holder = make_engine(url)
    waits = []

    def hold(seconds: float) -> threading.Thread:
        def run():
            with unit_of_work(holder) as session:  # BEGIN IMMEDIATE: holds the write lock
                session.execute(text("UPDATE unit SET version = version"))
                time.sleep(seconds)
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.1)
        return thread

    monkeypatch.setattr(imports, "_sleep", lambda s: (waits.append(s), time.sleep(min(s, 0.3)))[1])
    thread = hold(0.5)  # a long save elsewhere: the import waits, retries and succeeds
    summary = imports.commit_retrying(engine, world.actors["admin"], ready, source_title="巡察",
                                      on_busy=lambda attempt, wait: None)
    thread.join()
    assert summary.imported == 2 and waits
    before = counts(engine)
    waits.clear()
    with read_session(engine) as session:
        fresh = imports.preview_import(session, world.actors["admin"], imports.read_ledger(files.xls_ledger()))
    thread = hold(3)  # busy throughout: a plain sentence, nothing written
    with pytest.raises(ValidationFailed, match="数据库正忙") as refused:
        imports.commit_retrying(engine, world.actors["admin"], fresh, source_title="巡察")
    thread.join()
    assert refused.value.en.startswith("The database stayed busy")
    assert counts(engine) == before and len(waits) == imports.BUSY_ATTEMPTS - 1
    engine.dispose()
    holder.dispose()


# --------------------------------------------------------------------------- the import through the same guards (issue 21)

HOSTILE_TEXT = "\x00\x01\x07\x08\x1f\ufffe\uffff"  # what no document or database can hold (PostgreSQL refuses NUL)


def _hostile_xls() -> bytes:
    """Text pasted from Word and old systems: control characters, non-characters, Word's manual line breaks."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("台账")
    rows = [["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "整改进展", "完成情况", "备注", "责任人"],
            [1, f"低保{HOSTILE_TEXT}档案不规范\x0b第二行", "规范\x08档案\u2028开展培训", "社会救助办", "2026-09-30",
             "已核查\x07一半\x0c", "整改中", "备\uffff注\r\n次行", "张\x1f某"],
            [2, "临时救助台账不全\ufffe", "补齐台账", "社会救助办", "2026-10-31", None, "已完成", None, None]]
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            if value is not None:
                sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_hostile_ledger_is_stored_clean_like_every_other_write(engine, world):
    """The import's bulk statements pass through ``dashboard.text.clean`` as every ORM write does."""
    from dashboard.text import has_illegal

    data = _hostile_xls()
    assert commit(engine, world, data, filename="台账.xls").imported == 2
    with read_session(engine) as session:
        stored = [*session.exec(select(Finding.description, Finding.remarks, Finding.responsible_person)).all(),
                  *[(text,) for text in session.exec(select(Measure.text)).all()],
                  *[(text,) for text in session.exec(select(Progress.done_text)).all()]]
        notes = session.exec(select(AuditLog.note, AuditLog.new).where(AuditLog.action == "import")).all()
    flat = [value for row in stored for value in row if value]
    assert flat and not any(has_illegal(value) for value in flat)
    assert not any(has_illegal(str(value)) for row in notes for value in row)
    found = imported(engine)
    assert set(found) == {"低保档案不规范\n第二行", "临时救助台账不全"}
    first = found["低保档案不规范\n第二行"]
    assert (first.remarks, first.responsible_person) == ("备注\n次行", "张某")
    assert [m[0] for m in measures_of(engine, first.id)] == ["规范档案", "开展培训"]
    with read_session(engine) as session:
        out = io.BytesIO()
        assert export_ledger(session, world.actors["admin"], out) == 2
    twice_adds_nothing(engine, world, data, filename="台账.xls")


def test_a_row_marked_done_on_an_untouched_finding_reports_progress_then_applies(engine, world):
    """待整改 → 待销号 is no move of the transition table: the import takes 报送进展 then 申请销号."""
    header = ["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"]
    commit(engine, world, files.xlsx({1: header, 2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026.9.30", None]}))
    assert imported(engine)["低保档案不规范"].status == "open"
    done = files.xlsx({1: header, 2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026.9.30", "已完成"]})
    assert commit(engine, world, done).updated == 1
    found = imported(engine)["低保档案不规范"]
    assert found.status == "pending_review" and found.last_progress_at is not None
    with read_session(engine) as session:
        [progress] = session.exec(select(Progress.done_text).where(Progress.finding_id == found.id)).all()
        review = session.exec(select(ClosureReview).where(ClosureReview.finding_id == found.id)).one()
    assert progress.startswith("台账记为已完成") and review.decision == "pending"
    twice_adds_nothing(engine, world, done)


def test_the_import_asks_the_transition_table(engine, world, monkeypatch):
    """Were 申请销号 not allowed from 整改中, a re-imported done mark would change nothing."""
    from dashboard import lifecycle

    header = ["序号", "问题描述", "整改措施", "牵头单位", "整改时限", "整改进展", "完成情况"]
    commit(engine, world, files.xlsx({1: header, 2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026.9.30",
                                                     "已核查一半", None]}))
    assert imported(engine)["低保档案不规范"].status == "in_progress"
    narrowed = {**lifecycle.TRANSITIONS, lifecycle.Action.APPLY_CLOSURE: {lifecycle.Status.ONGOING: lifecycle.Status.PENDING_REVIEW}}
    monkeypatch.setattr(lifecycle, "TRANSITIONS", narrowed)
    done = files.xlsx({1: header, 2: [1, "低保档案不规范", "规范档案", "社会救助办", "2026.9.30", "已核查一半", "已完成"]})
    result = preview(engine, world, done)
    assert result.updates == [] and [s.key for s in result.unchanged] == ["import.skip_known"]
    assert commit(engine, world, done).updated == 0
    assert imported(engine)["低保档案不规范"].status == "in_progress"
