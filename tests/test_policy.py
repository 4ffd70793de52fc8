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
            assert refused is not None and (refused.key, refused.params) == (error.key, error.params)
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
def test_nothing_is_offered_on_a_final_finding(status):
    for actor in ACTORS:
        assert available(actor, facts(status, pending_extension=True)) == set(), actor


def test_the_operator_may_snapshot_but_not_close():
    assert refusal(SYSTEM, Action.CLOSE, facts(Status.PENDING_REVIEW)).key == "error.role_denied"
    assert Action.CANCEL in available("system", facts())
