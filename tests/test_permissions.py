"""The role × action matrix of the SPEC, tried cell by cell through the real services.

For every action and every role, the service is called on a finding prepared in a state where
the action is valid: an allowed role must succeed, a denied role must get PermissionDenied.
Unit scopes and separation of duties get their own cells below.
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select

from dashboard.errors import PermissionDenied
from dashboard.lifecycle import PERMISSIONS, SCOPES, SYSTEM, Action, Scope
from dashboard.services import admin, delivery, health, imports, letters, lookback, queries, snapshots
from dashboard.services import findings as svc
from dashboard.vocab import RectType, Role, SourceKind
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import ExtensionRequest, Finding, LookbackItem, Measure
from tests.factories import evidence, finding_input

ROLE_USER = {Role.ADMIN: "admin", Role.LEADER: "leader", Role.INSPECTOR: "inspector", Role.DEPARTMENT: "jiuzhu",
             Role.TOWNSHIP: "township"}

# The SPEC's role × action table, copied here by hand (NOT derived from ``lifecycle.PERMISSIONS``), so that a
# wrong cell in the code's table fails. Each row says where the SPEC (/work/shared/SPEC.md, "Who uses it" and
# the lifecycle) grants it; rows marked "decided" are later product decisions the SPEC does not spell out.
#                      leader  inspector  department  admin
SPEC_MATRIX = """
create_source             .       X          .         X     inspector logs findings from an inspection, audit …; admin imports
log_finding               .       X          .         X     inspector "logs new findings"; admin: import of existing ledgers
edit_finding              .       X          .         X     whoever may log may correct the entry
report_progress           .       .          X         .     department "reports progress (整改进展)"
attach_evidence           .       .          X         .     department: progress "with evidence (佐证材料)"
tick_measure              .       .          X         .     department "ticks off measures"
request_extension         .       .          X         .     department "asks for extension (延期)"
decide_extension          .       X          .         .     inspector "decides extension requests"
apply_closure             .       .          X         .     department "applies for closure (申请销号)"
close                     .       X          .         .     inspector "verifies and closes (销号)"
send_back                 .       X          .         .     inspector "sends back (退回)"
set_ongoing               .       X          .         .     长期坚持: 销号审核 (the inspector's) may set 持续整改
cancel                    .       .          .         X     "撤销 (admin only, reason required)"
log_repeat                .       X          .         X     a recurrence is a new finding, logged like one
record_escalation         X       X          .         .     leader "issues 督办/通报/约谈"; the inspector records them
take_snapshot             X       X          .         .     leader "takes a meeting snapshot"
view_all                  X       X          .         X     a department "sees the items its unit leads or co-operates on"
manage_users              .       .          .         X     admin: users
view_health               .       .          .         X     decided: the operator's page, with backup
manage_reference          .       .          .         X     admin: units, villages, categories
manage_settings           .       .          .         X     admin: thresholds
import_ledger             .       .          .         X     admin: "import of existing Excel ledgers"
manage_lookback           .       X          .         X     回头看 is run by 整改办/督查组; decided: admin too
recheck                   .       X          .         .     "assigns re-checks to inspectors outside the finding's units"
lookback_report           X       X          .         X     回头看情况报告 from a frozen snapshot; decided: who reads figures
issue_letter              X       X          .         .     leader "issues 督办/通报/约谈"
manage_notify             .       .          .         X     decided: outbound channels are the administrator's
"""
SPEC_ROLES = (Role.LEADER, Role.INSPECTOR, Role.DEPARTMENT, Role.ADMIN)


def _spec_table() -> dict[str, frozenset[Role]]:
    table = {}
    for line in SPEC_MATRIX.strip().splitlines():
        action, *marks = line.split()[:5]
        table[action] = frozenset(role for role, mark in zip(SPEC_ROLES, marks, strict=True) if mark == "X")
    return table


SPEC_TABLE = _spec_table()


def test_the_code_grants_exactly_the_spec_table():
    """Every action of the code is in the SPEC's table, and each grants exactly the roles the SPEC names."""
    assert set(SPEC_TABLE) == {action.value for action in Action}
    wrong = {action.value: (sorted(PERMISSIONS[action]), sorted(SPEC_TABLE[action.value]))
             for action in Action if PERMISSIONS[action] != SPEC_TABLE[action.value]}
    assert wrong == {}



def _log(session, world, **overrides) -> Finding:
    finding = svc.log_finding(session, world.actors["inspector"], finding_input(world, **overrides))
    session.flush()
    return finding


def _ready_for_closure(session, world, **overrides) -> Finding:
    finding = _log(session, world, **overrides)
    dept = world.actors["jiuzhu"]
    svc.report_progress(session, dept, finding.id, done_text="完成核查", files=[evidence()])
    for measure in session.exec(select(Measure).where(Measure.finding_id == finding.id)).all():
        svc.tick_measure(session, dept, measure.id, None)
    session.flush()
    return finding


def _pending_review(session, world, **overrides) -> Finding:
    finding = _ready_for_closure(session, world, **overrides)
    svc.apply_closure(session, world.actors["jiuzhu"], finding.id, None, summary="已整改")
    session.flush()
    return finding


def _with_extension_request(session, world) -> ExtensionRequest:
    finding = _log(session, world)
    request = svc.request_extension(session, world.actors["jiuzhu"], finding.id,
                                    asked_deadline=dt.date(2026, 9, 30), reason="等待数据比对")
    session.flush()
    return request


def _closed(session, world) -> Finding:
    finding = _pending_review(session, world)
    svc.close(session, world.actors["inspector"], finding.id, None)
    session.flush()
    return finding


def _ledger_file() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    sheet.append([1, "对象认定不精准", "低保档案不全", "补齐档案", "社会救助办", "2026年9月30日", "正在整改"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _lookback_campaign(session, world):
    from dashboard.services import lookback

    return lookback.create_campaign(session, SYSTEM, lookback.CampaignInput(
        title="回头看", start_date=dt.date(2026, 6, 15), end_date=dt.date(2026, 7, 15), seed=1))


def _lookback_item(session, world):
    from dashboard.services import lookback

    finding = _closed(session, world)
    campaign = _lookback_campaign(session, world)
    session.flush()
    lookback.draw_sample(session, SYSTEM, campaign.id)
    session.flush()
    return session.exec(select(LookbackItem).where(LookbackItem.finding_id == finding.id)).one()


def _recheck(session, actor, world, item):
    from dashboard.services import lookback

    lookback.record_verdict(session, actor, item.id, None, verdict="fixed", answers=["yes"] * 4)


# action -> (prepare(session, world) -> context, perform(session, actor, world, context))
CELLS = {
    Action.CREATE_SOURCE: (lambda s, w: None, lambda s, a, w, c: svc.create_source(
        s, a, kind=SourceKind.REVIEW, title="回头看", received_date=dt.date(2026, 6, 1))),
    Action.LOG_FINDING: (lambda s, w: None, lambda s, a, w, c: svc.log_finding(s, a, finding_input(w))),
    Action.EDIT_FINDING: (_log, lambda s, a, w, c: svc.edit_finding(s, a, c.id, c.version, {"remarks": "补充"})),
    Action.REPORT_PROGRESS: (_log, lambda s, a, w, c: svc.report_progress(s, a, c.id, done_text="进展")),
    Action.ATTACH_EVIDENCE: (_log, lambda s, a, w, c: svc.attach_evidence(s, a, c.id, evidence())),
    Action.TICK_MEASURE: (
        lambda s, w: s.exec(select(Measure).where(Measure.finding_id == _log(s, w).id)).first(),
        lambda s, a, w, c: svc.tick_measure(s, a, c.id, c.version)),
    Action.REQUEST_EXTENSION: (_log, lambda s, a, w, c: svc.request_extension(
        s, a, c.id, asked_deadline=dt.date(2026, 9, 30), reason="等待")),
    Action.DECIDE_EXTENSION: (_with_extension_request, lambda s, a, w, c: svc.decide_extension(
        s, a, c.id, approve=True)),
    Action.APPLY_CLOSURE: (_ready_for_closure, lambda s, a, w, c: svc.apply_closure(
        s, a, c.id, None, summary="已整改")),
    Action.CLOSE: (_pending_review, lambda s, a, w, c: svc.close(s, a, c.id, None)),
    Action.SEND_BACK: (_pending_review, lambda s, a, w, c: svc.send_back(s, a, c.id, None, "材料不全")),
    Action.SET_ONGOING: (lambda s, w: _pending_review(s, w, rect_type=RectType.LONG_TERM, deadline=None),
                         lambda s, a, w, c: svc.set_ongoing(s, a, c.id, None)),
    Action.CANCEL: (_log, lambda s, a, w, c: svc.cancel(s, a, c.id, None, "误录")),
    Action.LOG_REPEAT: (_closed, lambda s, a, w, c: svc.log_finding(s, a, finding_input(w, repeat_of_id=c.id))),
    Action.RECORD_ESCALATION: (_log, lambda s, a, w, c: svc.record_escalation(
        s, a, kind="letter", note="请加快整改", finding_id=c.id)),
    Action.TAKE_SNAPSHOT: (_log, lambda s, a, w, c: snapshots.take_snapshot(s, a, "调度会")),
    Action.VIEW_ALL: (lambda s, w: _log(s, w, lead_unit_id=w.units["儿童福利和社会事务股"]),
                      lambda s, a, w, c: queries.check_visible(s, a, c.id)),
    Action.MANAGE_USERS: (lambda s, w: None, lambda s, a, w, c: admin.create_user(
        s, a, username="newbie", display_name="新人", role=Role.LEADER, password="long-enough-1")),
    Action.MANAGE_REFERENCE: (lambda s, w: None, lambda s, a, w, c: admin.create_unit(s, a, name="县残联")),
    Action.MANAGE_SETTINGS: (lambda s, w: None, lambda s, a, w, c: admin.update_setting(s, a, "stale_days", 20)),
    Action.IMPORT_LEDGER: (lambda s, w: None, lambda s, a, w, c: imports.commit_import(
        s, a, _ledger_file(), source_title="2026年自查台账")),
    Action.MANAGE_LOOKBACK: (_lookback_campaign, lambda s, a, w, c: lookback.draw_sample(s, a, c.id)),
    Action.RECHECK: (_lookback_item, _recheck),
    Action.LOOKBACK_REPORT: (_lookback_campaign, lambda s, a, w, c: lookback.freeze(s, a, c.id)),
    Action.ISSUE_LETTER: (_log, lambda s, a, w, c: letters.issue_letter(
        s, a, unit_id=c.lead_unit_id, kind="letter", finding_ids=[c.id])),
    Action.MANAGE_NOTIFY: (lambda s, w: None, lambda s, a, w, c: delivery.set_channel(
        s, a, None, "apprise", {"url": "json://127.0.0.1:9/hook"})),
    Action.VIEW_HEALTH: (lambda s, w: None, lambda s, a, w, c: health.checks(
        getattr(s.get_bind(), "engine", s.get_bind()), a, backup_dir=Path("/nonexistent"), disk_path=Path("/"))),
}


def test_every_action_has_a_cell():
    assert set(CELLS) == set(Action)


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_matrix_cell(engine, world, action, role):
    prepare, perform = CELLS[action]
    with unit_of_work(engine) as session:
        context = prepare(session, world)
    actor = world.actors[ROLE_USER[role]]
    allowed = role in SPEC_TABLE[action.value]  # the SPEC's answer, not the code's table
    with unit_of_work(engine) as session:
        if allowed:
            perform(session, actor, world, context)
        else:
            with pytest.raises(PermissionDenied) as refused:
                perform(session, actor, world, context)
            assert refused.value.zh and refused.value.en


UNIT_SCOPED = [action for action, scope in SCOPES.items() if scope in (Scope.LEAD, Scope.INVOLVED)]
NOT_OWN = [action for action, scope in SCOPES.items() if scope is Scope.NOT_OWN]


@pytest.mark.parametrize("action", UNIT_SCOPED, ids=str)
def test_department_cannot_touch_another_units_finding(engine, world, action):
    prepare, perform = CELLS[action]
    with unit_of_work(engine) as session:
        context = prepare(session, world)
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied, match="不属于您的单位"):
        perform(session, world.actors["ertong"], world, context)


@pytest.mark.parametrize("action", NOT_OWN, ids=str)
def test_nobody_reviews_a_finding_their_own_unit_leads(engine, world, action):
    prepare, perform = CELLS[action]
    with unit_of_work(engine) as session:
        context = prepare(session, world)
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied, match="职责分离"):
        perform(session, world.actors["inspector_jiuzhu"], world, context)


def test_co_operating_unit_may_report_progress_but_not_apply(engine, world):
    with unit_of_work(engine) as session:
        finding = _ready_for_closure(session, world, co_unit_ids=[world.units["儿童福利和社会事务股"]])
    with unit_of_work(engine) as session:
        svc.report_progress(session, world.actors["ertong"], finding.id, done_text="配合完成入户")
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        svc.apply_closure(session, world.actors["ertong"], finding.id, None, summary="配合单位申请")


def test_department_sees_only_its_units_findings(engine, world):
    with unit_of_work(engine) as session:
        own = _log(session, world).id
        other = _log(session, world, lead_unit_id=world.units["儿童福利和社会事务股"]).id
    with read_session(engine) as session:
        rows, total = queries.ledger_page(session, world.actors["jiuzhu"], queries.LedgerFilter())
        assert [row["id"] for row in rows] == [own] and total == 1
        rows, total = queries.ledger_page(session, world.actors["leader"], queries.LedgerFilter())
        assert {row["id"] for row in rows} == {own, other}
        assert queries.figures(session, world.actors["jiuzhu"]).total == 1
