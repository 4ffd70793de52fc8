"""The 督办 ladder as Word letters: 文号 per kind and year without gaps, findings, escalations, notices."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from docx import Document
from sqlmodel import select

from dashboard.errors import PermissionDenied, ValidationFailed
from dashboard.documents.letter import letter_file
from dashboard.services import findings as svc, letters, notifications
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import Escalation
from tests.databases import world_in
from tests.factories import finding_input


@pytest.fixture
def world(engine, frozen_today):
    return world_in(engine)


def _overdue(engine, world, count=2):
    with unit_of_work(engine) as session:
        made = [svc.log_finding(session, world.actors["inspector"], finding_input(
            world, description=f"第{i}项逾期问题：低保档案不全", deadline=dt.date(2026, 6, 1 + i))) for i in range(count)]
    return made


def _read(engine, letter_id):
    with read_session(engine) as session:
        name, data = letter_file(session, letter_id)
    document = Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    table = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    return name, paragraphs, table


def test_issue_a_letter_numbers_records_and_notifies(engine, world):
    first, second = _overdue(engine, world)
    unit = world.units["社会救助办"]
    with read_session(engine) as session:
        ladder = letters.ladder(session)
    assert [(r.unit, r.overdue, r.max_days, r.reached, r.suggested) for r in ladder] == [
        ("社会救助办", 2, 14, None, "reminder")]
    with unit_of_work(engine) as session:
        letter = letters.issue_letter(session, world.actors["inspector"], unit_id=unit, kind="letter",
                                      finding_ids=[second.id, first.id], respond_by=dt.date(2026, 6, 25))
    assert letter.doc_number == "X整改办督〔2026〕1号"
    name, paragraphs, table = _read(engine, letter.id)
    assert name == "X整改办督〔2026〕1号.docx"
    assert paragraphs[0] == "X整改办督〔2026〕1号" and paragraphs[1] == "督办函"
    assert "社会救助办：" in paragraphs and any("下列2项整改任务" in p and "2026年6月25日" in p for p in paragraphs)
    assert table[0] == ["序号", "问题编号", "问题描述", "整改时限", "逾期天数"]
    assert table[1:] == [["1", first.serial, first.description, "2026年6月1日", "14天"],
                         ["2", second.serial, second.description, "2026年6月2日", "13天"]]
    assert paragraphs[-2:] == ["X县民政局整改工作领导小组办公室", "2026年6月15日"]
    with read_session(engine) as session:
        escalations = session.exec(select(Escalation.finding_id, Escalation.kind, Escalation.note)).all()
        notices = notifications.list_for(session, world.actors["jiuzhu"].id)
        ladder = letters.ladder(session)
    assert sorted(escalations) == sorted([(first.id, "letter", letter.doc_number), (second.id, "letter", letter.doc_number)])
    assert [notifications.text(n.kind, n.params) for n in notices] == [
        "你单位收到督办函X整改办督〔2026〕1号，涉及问题2项，请按要求回复。"]
    assert ladder[0].reached == "letter" and ladder[0].suggested == "notice"


def test_numbers_per_kind_and_year_without_gaps(engine, world):
    first, second = _overdue(engine, world)
    unit, inspector, leader = world.units["社会救助办"], world.actors["inspector"], world.actors["leader"]
    issued = []
    for actor, kind in ((inspector, "letter"), (leader, "letter"), (inspector, "notice")):
        with unit_of_work(engine) as session:
            issued.append(letters.issue_letter(session, actor, unit_id=unit, kind=kind, finding_ids=[first.id]).doc_number)
    # refused issues take no number: a finding of another unit, no findings, a department user
    for actor, ids in ((inspector, [first.id, 999999]), (inspector, []), (world.actors["jiuzhu"], [first.id])):
        with pytest.raises((ValidationFailed, PermissionDenied)):
            with unit_of_work(engine) as session:
                letters.issue_letter(session, actor, unit_id=unit, kind="letter", finding_ids=ids)
    with unit_of_work(engine) as session:
        issued.append(letters.issue_letter(session, inspector, unit_id=unit, kind="letter", finding_ids=[second.id]).doc_number)
    assert issued == ["X整改办督〔2026〕1号", "X整改办督〔2026〕2号", "X整改办通〔2026〕1号", "X整改办督〔2026〕3号"]


def test_templates_are_editable_and_checked(engine, world):
    first, _ = _overdue(engine, world, 1) + [None]
    admin = world.actors["admin"]
    with unit_of_work(engine) as session:
        letters.save_template(session, admin, "reminder", title="整改提醒函", prefix="民整改提",
                              issuing_body="某县民政局", body="{unit}：请于{respond_by}前回复（共{count}项）。")
    with pytest.raises(ValidationFailed) as refused:
        with unit_of_work(engine) as session:
            letters.save_template(session, admin, "reminder", title="t", prefix="p", issuing_body="b", body="{who}")
    assert "who" in refused.value.zh
    with pytest.raises(PermissionDenied):
        with unit_of_work(engine) as session:
            letters.save_template(session, world.actors["inspector"], "reminder", title="t", prefix="p",
                                  issuing_body="b", body="x")
    with unit_of_work(engine) as session:
        letter = letters.issue_letter(session, world.actors["inspector"], unit_id=world.units["社会救助办"],
                                      kind="reminder", finding_ids=[first.id])
    _, paragraphs, table = _read(engine, letter.id)
    assert paragraphs[0] == "民整改提〔2026〕1号"
    assert "社会救助办：请于2026年6月25日前回复（共1项）。" in paragraphs  # reply in letter_reply_days = 10
    assert paragraphs[-2] == "某县民政局" and table[1][1] == first.serial
