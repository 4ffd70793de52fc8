"""The policy without a database: for every role, unit relation, state and fact, the answer pages
get (``available_actions``) is exactly what services enforce (``enforce``), and it reads as the SPEC."""
from __future__ import annotations

import itertools

import pytest

from dashboard.errors import DomainError
from dashboard.lifecycle import (FINDING_ACTIONS, SYSTEM, Action, Actor, FindingFacts, available_actions, enforce,
                                 refusal)
from dashboard.vocab import Role, Status

LEAD, CO, OTHER = 1, 2, 3
ACTORS = {
    "leader": Actor(id=1, username="leader", role=Role.LEADER),
    "inspector": Actor(id=2, username="inspector", role=Role.INSPECTOR, unit_id=OTHER),
    "inspector_of_lead": Actor(id=3, username="i2", role=Role.INSPECTOR, unit_id=LEAD),
    "inspector_of_co": Actor(id=4, username="i3", role=Role.INSPECTOR, unit_id=CO),
    "lead_dept": Actor(id=5, username="d1", role=Role.DEPARTMENT, unit_id=LEAD),
    "co_dept": Actor(id=6, username="d2", role=Role.DEPARTMENT, unit_id=CO),
    "other_dept": Actor(id=7, username="d3", role=Role.DEPARTMENT, unit_id=OTHER),
    "admin": Actor(id=8, username="admin", role=Role.ADMIN),
    "system": SYSTEM,
}


def facts(status=Status.IN_PROGRESS, **overrides) -> FindingFacts:
    return FindingFacts(status=status, lead_unit_id=LEAD, co_unit_ids=frozenset({CO}), **overrides)


ALL_FACTS = [facts(status, long_term=long_term, has_deadline=deadline, pending_extension=pending,
                   open_measures=measures, evidence_count=evidence)
             for status, long_term, deadline, pending, measures, evidence in itertools.product(
                 Status, (False, True), (False, True), (False, True), (0, 2), (0, 1))]


def test_what_pages_are_shown_is_what_services_enforce():
    for actor, finding, action in itertools.product(ACTORS.values(), ALL_FACTS, FINDING_ACTIONS):
        refused = refusal(actor, action, finding)
        try:
            enforce(actor, action, finding)
        except DomainError as error:
            assert refused is not None and (refused.key, refused.params, refused.error) == (error.key, error.params, type(error))
        else:
            assert refused is None, (actor.username, action, finding)


def available(actor: str, finding: FindingFacts) -> set[Action]:
    return {action for action, refused in available_actions(ACTORS[actor], finding).items() if refused is None}


def test_a_department_works_on_its_own_findings_only():
    assert available("lead_dept", facts()) == {Action.REPORT_PROGRESS, Action.ATTACH_EVIDENCE, Action.TICK_MEASURE,
                                               Action.REQUEST_EXTENSION, Action.APPLY_CLOSURE}
    assert available("co_dept", facts()) == {Action.REPORT_PROGRESS, Action.ATTACH_EVIDENCE}
    assert available("other_dept", facts()) == set()


def test_separation_of_duties_counts_co_units():
    review = facts(Status.PENDING_REVIEW)
    assert {Action.CLOSE, Action.SEND_BACK} <= available("inspector", review)
    for actor in ("inspector_of_lead", "inspector_of_co"):
        assert not {Action.CLOSE, Action.SEND_BACK, Action.SET_ONGOING} & available(actor, review), actor
        assert refusal(ACTORS[actor], Action.CLOSE, review).key == "error.own_unit_close"


def test_content_preconditions():
    assert refusal(ACTORS["lead_dept"], Action.APPLY_CLOSURE, facts(open_measures=2)).params == {"count": 2}
    assert refusal(ACTORS["lead_dept"], Action.APPLY_CLOSURE, facts(evidence_count=0)).key == "error.no_evidence"
    assert refusal(ACTORS["lead_dept"], Action.REQUEST_EXTENSION, facts(pending_extension=True)).key == \
        "error.extension_pending"
    assert refusal(ACTORS["inspector"], Action.DECIDE_EXTENSION, facts()).key == "error.no_pending_extension"
    assert Action.DECIDE_EXTENSION in available("inspector", facts(pending_extension=True))
    review = facts(Status.PENDING_REVIEW)
    assert refusal(ACTORS["inspector"], Action.SET_ONGOING, review).key == "error.not_long_term"
    assert Action.SET_ONGOING in available("inspector", facts(Status.PENDING_REVIEW, long_term=True))


@pytest.mark.parametrize("status", [Status.CLOSED, Status.CANCELLED])
def test_nothing_is_offered_on_a_final_finding_but_logging_its_repeat(status):
    for actor in ACTORS:
        repeat = {Action.LOG_REPEAT} if status is Status.CLOSED and actor in ("inspector", "inspector_of_lead",
                                                                              "inspector_of_co", "admin", "system") else set()
        assert available(actor, facts(status, pending_extension=True)) == repeat, actor


def test_the_operator_may_snapshot_but_not_close():
    assert refusal(SYSTEM, Action.CLOSE, facts(Status.PENDING_REVIEW)).key == "error.role_denied"
    assert Action.CANCEL in available("system", facts())


def test_the_review_queue_uses_the_policy_scope(engine, world):
    """An inspector of a co-operating unit is not shown a review the policy would refuse them."""
    import datetime as dt

    from sqlalchemy import select

    from dashboard.services import admin, views
    from dashboard.services import findings as svc
    from dashboard.services.common import actor_of
    from dashboard.services.unit_of_work import unit_of_work
    from db.engine import read_session
    from db.models import Finding, Measure
    from dashboard.vocab import RectType
    from tests.factories import evidence, finding_input

    with unit_of_work(engine) as session:
        co_inspector = admin.create_user(session, world.actors["admin"], username="inspector_co",
                                         display_name="配合单位督查员", role=Role.INSPECTOR, password="Zx8#pq-Lm2!w",
                                         unit_id=world.units["儿童福利和社会事务股"])
        finding = svc.log_finding(session, world.actors["inspector"], finding_input(
            world, co_unit_ids=[world.units["儿童福利和社会事务股"]], measures=["核查"], rect_type=RectType.DEADLINE,
            deadline=dt.date(2026, 7, 31)))
    dept = world.actors["jiuzhu"]
    with unit_of_work(engine) as session:
        svc.report_progress(session, dept, finding.id, done_text="已核查", files=[evidence()])
        facts = svc.facts_of(session, session.get(Finding, finding.id))
        assert (facts.open_measures, facts.evidence_count, facts.co_unit_ids) == (
            1, 1, frozenset({world.units["儿童福利和社会事务股"]}))
        for measure_id in session.execute(select(Measure.id).where(Measure.finding_id == finding.id)).scalars():
            svc.tick_measure(session, dept, measure_id, None)
    with unit_of_work(engine) as session:
        svc.apply_closure(session, dept, finding.id, None, summary="已整改")
    co_actor = actor_of(co_inspector)
    with read_session(engine) as session:
        assert views.inspector_work(session, co_actor).reviews == []
        assert [review.finding_id for review in views.inspector_work(session, world.actors["inspector"]).reviews] \
            == [finding.id]
        detail = views.finding_detail(session, co_actor, finding.id)
        assert detail.actions[Action.CLOSE].key == "error.own_unit_close"
