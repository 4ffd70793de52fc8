"""The audit log read as sentences: labelled old → new values, names instead of ids, no raw codes."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import select

from dashboard.services import findings as svc
from dashboard.services import views
from dashboard.services.audit_text import AuditLine, Names, sentence
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Measure
from tests.factories import build_world, evidence, finding_input

RAW = re.compile(r"\b(create|tick_measure|report_progress|Finding|Measure|None|True|False|in_progress|open|"
                 r"pending_review|done=|status=|_id)\b")


@pytest.fixture
def history(engine, frozen_today):
    with unit_of_work(engine) as session:
        world = build_world(session)
        finding = svc.log_finding(session, world.actors["inspector"], finding_input(world))
        session.flush()
        finding_id = finding.id
    with unit_of_work(engine) as session:
        svc.report_progress(session, world.actors["jiuzhu"], finding_id, done_text="已入户核查28户", percent=60,
                            files=[evidence()])
    with unit_of_work(engine) as session:
        measure = session.exec(select(Measure).where(Measure.finding_id == finding_id)).first()
        svc.tick_measure(session, world.actors["jiuzhu"], measure.id, measure.version)
    with unit_of_work(engine) as session:
        version = session.get(type(finding), finding_id).version
        svc.edit_finding(session, world.actors["inspector"], finding_id, version,
                         {"remarks": "管理员补充的备注", "priority": "key", "lead_unit_id": world.units["儿童福利和社会事务股"]})
    with unit_of_work(engine) as session:
        request = svc.request_extension(session, world.actors["ertong"], finding_id,
                                        asked_deadline=dt.date(2026, 9, 30), reason="等待数据比对")
    with unit_of_work(engine) as session:
        svc.decide_extension(session, world.actors["inspector"], request.id, approve=False, comment="理由不充分")
    with read_session(engine) as session:
        return views.audit_lines(session, finding_id, "zh"), views.audit_lines(session, finding_id, "en")


def test_every_entry_is_a_sentence_without_raw_codes(history):
    zh, en = history
    assert len(zh) >= 7 and all(isinstance(line, AuditLine) for line in zh)
    for line in zh:
        assert not RAW.search(line.text), line.text
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", line.at)
        assert line.text.endswith("。")
    for line in en:
        assert not re.search(r"[\u4e00-\u9fff]{2,}", line.text.split(":")[0]), line.text  # the frame is English
        assert not re.search(r"\b(None|True|False|in_progress|tick_measure|_id)\b", line.text), line.text


def test_changes_show_labelled_old_and_new_values_with_names(history):
    zh, en = history
    texts = "\n".join(line.text for line in zh)
    assert "inspector 登记了问题：编号为“ZG-2026-0001”" in texts
    assert "配合单位" not in texts.splitlines()[0]  # nothing empty is listed for a new record
    assert "督办级别由“一般”改为“重点督办”" in texts
    assert "备注由“—”改为“管理员补充的备注”" in texts
    assert "牵头单位由“社会救助办”改为“儿童福利和社会事务股”" in texts
    assert "状态由“待整改”改为“整改中”" in texts
    assert "将整改措施标记为完成：已完成由“否”改为“是”" in texts
    assert "决定由“待审批”改为“驳回”" in texts and "意见由“—”改为“理由不充分”" in texts
    english = "\n".join(line.text for line in en)
    assert "priority from “Normal” to “Key item”" in english
    assert "status from “Open” to “In progress”" in english


def test_unknown_actions_and_fields_still_read_as_words():
    entry = AuditLog(at=dt.datetime(2026, 6, 15, 9, 30), username="someone", action="future_action",
                     entity="Finding", old={"mystery": None}, new={"mystery": 81.0}, note="")
    line = sentence(entry, Names(users={"someone": "张三"}), "zh")
    assert line.text == "张三 修改了问题：其他由“—”改为“81”。"
    assert line.at == "2026-06-15 09:30"

