"""Walk a finding through every path of the SPEC lifecycle, and through every refusal."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.errors import ConflictError, InvalidState, PermissionDenied, ValidationFailed
from dashboard.services import findings as svc
from dashboard.services.queries import light_of
from dashboard.vocab import ExtensionDecision, RectType, ReviewDecision, Status
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, ClosureReview, Finding, Measure
from tests.factories import evidence, finding_input



def log(engine, world, **overrides) -> int:
    with unit_of_work(engine) as session:
        return svc.log_finding(session, world.actors["inspector"], finding_input(world, **overrides)).id


def get(engine, finding_id) -> Finding:
    with read_session(engine) as session:
        return session.get(Finding, finding_id)


def do(engine, fn, *args, **kwargs):
    with unit_of_work(engine) as session:
        return fn(session, *args, **kwargs)


def finish_measures_with_evidence(engine, world, finding_id):
    dept = world.actors["jiuzhu"]
    do(engine, svc.report_progress, dept, finding_id, done_text="已入户核查", percent=80, files=[evidence()])
    with read_session(engine) as session:
        measures = session.exec(select(Measure).where(Measure.finding_id == finding_id)).all()
    for measure in measures:
        do(engine, svc.tick_measure, dept, measure.id, measure.version)


def apply(engine, world, finding_id):
    do(engine, svc.apply_closure, world.actors["jiuzhu"], finding_id, get(engine, finding_id).version,
       summary="已完成核查并清退2户")


def test_logged_finding_is_open_with_serial_and_measures(engine, world):
    finding_id = log(engine, world)
    finding = get(engine, finding_id)
    assert finding.status == Status.OPEN
    assert finding.serial == "ZG-2026-0001"
    assert finding.original_deadline == finding.current_deadline == dt.date(2026, 7, 31)
    with read_session(engine) as session:
        assert len(session.exec(select(Measure).where(Measure.finding_id == finding_id)).all()) == 2
        assert session.exec(select(AuditLog).where(AuditLog.finding_id == finding_id)).first().action == "create"


def test_serials_are_never_reused(engine, world):
    first = log(engine, world)
    do(engine, svc.cancel, world.actors["admin"], first, None, "录入错误")
    second = log(engine, world)
    assert get(engine, second).serial == "ZG-2026-0002"


def test_happy_path_open_progress_apply_close(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    assert get(engine, finding_id).status == Status.IN_PROGRESS
    apply(engine, world, finding_id)
    assert get(engine, finding_id).status == Status.PENDING_REVIEW
    do(engine, svc.close, world.actors["inspector"], finding_id, get(engine, finding_id).version, "核查属实")
    closed = get(engine, finding_id)
    assert closed.status == Status.CLOSED and closed.closed_at == clock.now()
    with read_session(engine) as session:
        assert light_of(session, finding_id) == "closed"


def test_send_back_needs_reason_then_returns_to_in_progress(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    apply(engine, world, finding_id)
    version = get(engine, finding_id).version
    with pytest.raises(ValidationFailed):
        do(engine, svc.send_back, world.actors["inspector"], finding_id, version, "  ")
    do(engine, svc.send_back, world.actors["inspector"], finding_id, version, "缺少入户核查台账")
    finding = get(engine, finding_id)
    assert finding.status == Status.IN_PROGRESS and finding.sent_back_count == 1
    apply(engine, world, finding_id)
    do(engine, svc.send_back, world.actors["inspector"], finding_id, get(engine, finding_id).version, "仍不完整")
    with read_session(engine) as session:
        reviews = session.exec(select(ClosureReview).where(ClosureReview.finding_id == finding_id)).all()
        assert [r.decision for r in reviews] == [ReviewDecision.SENT_BACK, ReviewDecision.SENT_BACK]
        assert light_of(session, finding_id) == "yellow"  # sent back twice


def test_closure_refused_with_open_measure(engine, world):
    finding_id = log(engine, world)
    do(engine, svc.report_progress, world.actors["jiuzhu"], finding_id, done_text="开始核查", files=[evidence()])
    with pytest.raises(InvalidState) as refused:
        apply(engine, world, finding_id)
    assert "2项整改措施未完成" in refused.value.zh and "measure" in refused.value.en


def test_closure_refused_without_evidence(engine, world):
    finding_id = log(engine, world)
    with read_session(engine) as session:
        measures = session.exec(select(Measure).where(Measure.finding_id == finding_id)).all()
    for measure in measures:
        do(engine, svc.tick_measure, world.actors["jiuzhu"], measure.id, measure.version)
    with pytest.raises(InvalidState, match="佐证材料"):
        apply(engine, world, finding_id)


def test_closure_needs_summary(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    with pytest.raises(ValidationFailed):
        do(engine, svc.apply_closure, world.actors["jiuzhu"], finding_id, None, summary="")


def test_closed_finding_is_never_reopened(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    apply(engine, world, finding_id)
    do(engine, svc.close, world.actors["inspector"], finding_id, None)
    for action in (lambda s: svc.report_progress(s, world.actors["jiuzhu"], finding_id, done_text="再报"),
                   lambda s: svc.apply_closure(s, world.actors["jiuzhu"], finding_id, None, summary="x"),
                   lambda s: svc.send_back(s, world.actors["inspector"], finding_id, None, "重开")):
        with pytest.raises(InvalidState) as refused:
            do(engine, action)
        assert "不能重新打开" in refused.value.zh


def test_repeat_links_to_closed_finding_only(engine, world):
    earlier = log(engine, world)
    with pytest.raises(InvalidState):
        log(engine, world, repeat_of_id=earlier)
    finish_measures_with_evidence(engine, world, earlier)
    apply(engine, world, earlier)
    do(engine, svc.close, world.actors["inspector"], earlier, None)
    repeat = log(engine, world, repeat_of_id=earlier)
    assert get(engine, repeat).repeat_of_id == earlier and get(engine, repeat).status == Status.OPEN
    with pytest.raises(PermissionDenied):
        do(engine, svc.log_finding, world.actors["jiuzhu"], finding_input(world, repeat_of_id=earlier))


def test_long_term_finding_can_be_set_ongoing_and_apply_again(engine, world):
    finding_id = log(engine, world, rect_type=RectType.LONG_TERM, deadline=None)
    finish_measures_with_evidence(engine, world, finding_id)
    apply(engine, world, finding_id)
    do(engine, svc.set_ongoing, world.actors["inspector"], finding_id, None, "阶段性成果认可")
    assert get(engine, finding_id).status == Status.ONGOING
    do(engine, svc.report_progress, world.actors["jiuzhu"], finding_id, done_text="季度复核完成")
    assert get(engine, finding_id).status == Status.ONGOING
    apply(engine, world, finding_id)
    do(engine, svc.close, world.actors["inspector"], finding_id, None)
    assert get(engine, finding_id).status == Status.CLOSED


def test_set_ongoing_refused_for_deadline_items(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    apply(engine, world, finding_id)
    with pytest.raises(InvalidState, match="长期坚持"):
        do(engine, svc.set_ongoing, world.actors["inspector"], finding_id, None)


def test_cancel_needs_admin_and_reason_and_keeps_the_record(engine, world):
    finding_id = log(engine, world)
    with pytest.raises(PermissionDenied):
        do(engine, svc.cancel, world.actors["inspector"], finding_id, None, "重复录入")
    with pytest.raises(ValidationFailed):
        do(engine, svc.cancel, world.actors["admin"], finding_id, None, "")
    do(engine, svc.cancel, world.actors["admin"], finding_id, None, "重复录入")
    finding = get(engine, finding_id)
    assert finding.status == Status.CANCELLED and finding.cancel_reason == "重复录入"
    with pytest.raises(InvalidState):
        do(engine, svc.cancel, world.actors["admin"], finding_id, None, "再撤销")


def test_extension_approved_changes_deadline_in_force_and_keeps_original(engine, world):
    finding_id = log(engine, world)
    dept, inspector = world.actors["jiuzhu"], world.actors["inspector"]
    with pytest.raises(ValidationFailed):
        do(engine, svc.request_extension, dept, finding_id, asked_deadline=dt.date(2026, 7, 1), reason="来不及")
    request = do(engine, svc.request_extension, dept, finding_id, asked_deadline=dt.date(2026, 9, 30),
                 reason="需等待省级系统数据比对结果")
    with pytest.raises(InvalidState):
        do(engine, svc.request_extension, dept, finding_id, asked_deadline=dt.date(2026, 10, 30), reason="再延")
    do(engine, svc.decide_extension, inspector, request.id, approve=True)
    finding = get(engine, finding_id)
    assert finding.original_deadline == dt.date(2026, 7, 31)
    assert finding.current_deadline == dt.date(2026, 9, 30)
    assert finding.extension_count == 1
    with pytest.raises(InvalidState):
        do(engine, svc.decide_extension, inspector, request.id, approve=False, comment="重复审批")


def test_extension_rejection_needs_comment_and_keeps_deadline(engine, world):
    finding_id = log(engine, world)
    request = do(engine, svc.request_extension, world.actors["jiuzhu"], finding_id,
                 asked_deadline=dt.date(2026, 9, 30), reason="人手不足")
    with pytest.raises(ValidationFailed):
        do(engine, svc.decide_extension, world.actors["inspector"], request.id, approve=False)
    decided = do(engine, svc.decide_extension, world.actors["inspector"], request.id, approve=False,
                 comment="理由不充分")
    assert decided.decision == ExtensionDecision.REJECTED
    assert get(engine, finding_id).current_deadline == dt.date(2026, 7, 31)


def test_stale_edit_is_refused_and_the_other_edit_kept(engine, world):
    finding_id = log(engine, world)
    loaded_version = get(engine, finding_id).version
    do(engine, svc.edit_finding, world.actors["inspector"], finding_id, loaded_version, {"description": "第一人的修改"})
    with pytest.raises(ConflictError) as conflict:
        do(engine, svc.edit_finding, world.actors["admin"], finding_id, loaded_version, {"description": "第二人的修改"})
    assert conflict.value.current["description"] == "第一人的修改"
    assert "inspector" in conflict.value.zh
    assert get(engine, finding_id).description == "第一人的修改"


def test_stale_closure_decision_is_refused(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    seen = get(engine, finding_id).version
    apply(engine, world, finding_id)
    with pytest.raises(ConflictError):
        do(engine, svc.close, world.actors["inspector"], finding_id, seen)


def test_overdue_is_computed_from_deadline_in_force(engine, world):
    finding_id = log(engine, world, deadline=dt.date(2026, 6, 1))
    with read_session(engine) as session:
        assert light_of(session, finding_id) == "red"
    request = do(engine, svc.request_extension, world.actors["jiuzhu"], finding_id,
                 asked_deadline=dt.date(2026, 8, 31), reason="等待资金下拨")
    do(engine, svc.decide_extension, world.actors["inspector"], request.id, approve=True)
    with read_session(engine) as session:
        assert light_of(session, finding_id) == "green"


def test_lights_yellow_for_due_soon_and_stale(engine, world):
    soon = log(engine, world, deadline=dt.date(2026, 6, 20))
    with read_session(engine) as session:
        assert light_of(session, soon) == "yellow"
    later = log(engine, world, deadline=dt.date(2026, 12, 31))
    with read_session(engine) as session:
        assert light_of(session, later) == "green"
        assert light_of(session, later, now=clock.now() + dt.timedelta(days=31)) == "yellow"  # 零变化
    do(engine, svc.report_progress, world.actors["jiuzhu"], later, done_text="进展")
    with read_session(engine) as session:
        assert light_of(session, later, now=clock.now() + dt.timedelta(days=29)) == "green"


def test_every_change_is_audited_with_old_and_new(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    apply(engine, world, finding_id)
    do(engine, svc.send_back, world.actors["inspector"], finding_id, None, "材料不全")
    with read_session(engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.finding_id == finding_id).order_by(AuditLog.id)).all()
    actions = [row.action for row in rows]
    for expected in ("create", "report_progress", "attach_evidence", "tick_measure", "apply_closure", "send_back"):
        assert expected in actions
    status_changes = [(row.old["status"], row.new["status"]) for row in rows
                      if row.entity == "Finding" and row.old and "status" in row.old]
    assert status_changes == [("open", "in_progress"), ("in_progress", "pending_review"),
                              ("pending_review", "in_progress")]
    assert all(row.username for row in rows)


# --- per-measure deadlines (issue 14.1) ----------------------------------------------------------------

def measures_of(engine, finding_id) -> list[Measure]:
    with read_session(engine) as session:
        return list(session.exec(select(Measure).where(Measure.finding_id == finding_id).order_by(Measure.seq)).all())


def test_each_measure_keeps_its_own_deadline_and_defaults_to_the_findings(engine, world):
    finding_id = log(engine, world, measures=[svc.MeasureInput("入户核查", dt.date(2026, 6, 30)),
                                              svc.MeasureInput("清退不符合条件对象", None)])
    assert [(m.text, m.deadline) for m in measures_of(engine, finding_id)] == [
        ("入户核查", dt.date(2026, 6, 30)), ("清退不符合条件对象", dt.date(2026, 7, 31))]


def test_a_measure_due_after_the_finding_is_refused_with_both_dates(engine, world):
    with pytest.raises(ValidationFailed) as refused:
        log(engine, world, measures=[svc.MeasureInput("建立长效机制", dt.date(2026, 9, 30))])
    assert "2026-09-30" in refused.value.zh and "2026-07-31" in refused.value.zh and "建立长效机制" in refused.value.zh
    assert "after the finding's deadline" in refused.value.en
    with pytest.raises(ValidationFailed):  # nor before the feedback was received (2026-05-01)
        log(engine, world, measures=[svc.MeasureInput("补录", dt.date(2026, 4, 1))])
    with read_session(engine) as session:
        assert session.exec(select(Finding)).all() == []


def test_long_term_findings_take_any_measure_deadline(engine, world):
    finding_id = log(engine, world, rect_type=RectType.LONG_TERM, deadline=None,
                     measures=[svc.MeasureInput("每季度回访", dt.date(2027, 3, 31)), "建立台账"])
    assert [m.deadline for m in measures_of(engine, finding_id)] == [dt.date(2027, 3, 31), None]


def test_editing_measures_rewords_redates_adds_and_drops_open_ones_only(engine, world):
    finding_id = log(engine, world)
    first, second = measures_of(engine, finding_id)
    do(engine, svc.tick_measure, world.actors["jiuzhu"], first.id, first.version)
    version = get(engine, finding_id).version
    edits = [svc.MeasureEdit(first.text, first.deadline, first.id),
             svc.MeasureEdit("清退2户不符合条件对象", dt.date(2026, 7, 15), second.id),
             svc.MeasureEdit("建立入户核查制度", None)]
    do(engine, svc.edit_finding, world.actors["inspector"], finding_id, version, {}, measures=edits)
    assert [(m.text, m.deadline, m.done) for m in measures_of(engine, finding_id)] == [
        ("逐户核查家庭经济状况", dt.date(2026, 7, 31), True),
        ("清退2户不符合条件对象", dt.date(2026, 7, 15), False),
        ("建立入户核查制度", dt.date(2026, 7, 31), False)]
    # a done measure can be neither dropped nor changed; a late deadline is refused; nothing half-written
    version = get(engine, finding_id).version
    with pytest.raises(InvalidState):
        do(engine, svc.edit_finding, world.actors["inspector"], finding_id, version, {},
           measures=[svc.MeasureEdit("只留一项", None)])
    with pytest.raises(ValidationFailed):
        do(engine, svc.edit_finding, world.actors["inspector"], finding_id, version, {"remarks": "不应保存"},
           measures=[svc.MeasureEdit(first.text, first.deadline, first.id),
                     svc.MeasureEdit("晚于问题时限", dt.date(2026, 8, 31))])
    assert len(measures_of(engine, finding_id)) == 3 and get(engine, finding_id).remarks == ""
    with read_session(engine) as session:
        actions = {row.action for row in session.exec(select(AuditLog).where(AuditLog.finding_id == finding_id))}
    assert {"edit_measure", "add_measure"} <= actions


# --- pending extensions are settled when nobody could decide them any more (issue 14.2) ----------------

def _pending_request(engine, world, finding_id):
    return do(engine, svc.request_extension, world.actors["jiuzhu"], finding_id,
              asked_deadline=dt.date(2026, 9, 30), reason="等待省级数据比对")


@pytest.mark.parametrize("ending", ["close", "set_ongoing", "cancel"])
def test_closing_cancelling_or_ongoing_withdraws_the_pending_extension(engine, world, ending):
    finding_id = log(engine, world, rect_type=RectType.LONG_TERM if ending == "set_ongoing" else RectType.DEADLINE,
                     deadline=dt.date(2026, 7, 31))
    finish_measures_with_evidence(engine, world, finding_id)
    request = _pending_request(engine, world, finding_id)
    if ending == "cancel":
        do(engine, svc.cancel, world.actors["admin"], finding_id, None, "重复录入")
    else:
        apply(engine, world, finding_id)
        do(engine, getattr(svc, ending), world.actors["inspector"], finding_id, None, "")
    with read_session(engine) as session:
        settled = session.get(type(request), request.id)
        assert settled.decision == ExtensionDecision.WITHDRAWN
        entry = session.exec(select(AuditLog).where(AuditLog.action == "withdraw_extension")).one()
        assert entry.entity_id == request.id and entry.new["decision"] == "withdrawn"
    with pytest.raises(InvalidState):  # nothing left to decide
        do(engine, svc.decide_extension, world.actors["inspector"], request.id, approve=True)
    assert get(engine, finding_id).current_deadline == dt.date(2026, 7, 31)


def test_a_pending_extension_survives_a_send_back(engine, world):
    finding_id = log(engine, world)
    finish_measures_with_evidence(engine, world, finding_id)
    request = _pending_request(engine, world, finding_id)
    apply(engine, world, finding_id)
    do(engine, svc.send_back, world.actors["inspector"], finding_id, None, "材料不全")
    do(engine, svc.decide_extension, world.actors["inspector"], request.id, approve=True)
    assert get(engine, finding_id).current_deadline == dt.date(2026, 9, 30)


# --- a conflict means something the decision depends on changed (issue 13.4) ----------------------------

def test_progress_reports_do_not_make_an_open_decision_stale(engine, world):
    finding_id = log(engine, world)
    dept = world.actors["jiuzhu"]
    do(engine, svc.report_progress, dept, finding_id, done_text="第一次进展")
    request = _pending_request(engine, world, finding_id)
    opened = get(engine, finding_id).version  # the inspector opens the decision form
    for number in range(3):  # … while the unit keeps reporting and uploading
        do(engine, svc.report_progress, dept, finding_id, done_text=f"进展{number}", files=[evidence(f"{number}.pdf")])
        do(engine, svc.attach_evidence, dept, finding_id, evidence(f"extra{number}.pdf"))
    do(engine, svc.decide_extension, world.actors["inspector"], request.id, approve=True, expected_version=opened)
    assert get(engine, finding_id).current_deadline == dt.date(2026, 9, 30)
    assert get(engine, finding_id).last_progress_at is not None


def test_a_changed_deadline_or_status_still_makes_the_decision_stale(engine, world):
    finding_id = log(engine, world)
    first = _pending_request(engine, world, finding_id)
    opened = get(engine, finding_id).version
    do(engine, svc.report_progress, world.actors["jiuzhu"], finding_id, done_text="首次进展")  # 待整改 → 整改中
    with pytest.raises(ConflictError):
        do(engine, svc.decide_extension, world.actors["inspector"], first.id, approve=True, expected_version=opened)
    opened = get(engine, finding_id).version
    do(engine, svc.decide_extension, world.actors["inspector"], first.id, approve=True, expected_version=opened)
    second = do(engine, svc.request_extension, world.actors["jiuzhu"], finding_id,
                asked_deadline=dt.date(2026, 10, 31), reason="再延")
    with pytest.raises(ConflictError):  # the deadline moved since the form was opened
        do(engine, svc.decide_extension, world.actors["inspector"], second.id, approve=True, expected_version=opened)


# --- duplicate sources (issue 14.3) -------------------------------------------------------------------

def test_an_exact_duplicate_source_is_refused_and_names_the_existing_one(engine, world):
    from db.models import Source

    values = dict(kind="audit", title="城乡低保专项审计", received_date=dt.date(2026, 5, 1), issuing_body="审计部门")
    with pytest.raises(svc.DuplicateSource) as refused:
        do(engine, svc.create_source, world.actors["inspector"], **values)
    assert refused.value.existing_id == world.source_id and "城乡低保专项审计" in refused.value.zh
    do(engine, svc.create_source, world.actors["inspector"], **{**values, "received_date": dt.date(2026, 5, 2)})
    with read_session(engine) as session:
        assert len(session.exec(select(Source)).all()) == 2
