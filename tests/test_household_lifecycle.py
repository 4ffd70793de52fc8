"""The household ledger's procedure: the policy table cell by cell, the services from clue to 风险消除 and
back, separation of duties, scopes, the 15-day clock across a day boundary, each 风险消除 condition on its
own, the audited reveal, and a concurrent 乡镇初审."""
from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.errors import ConflictError, InvalidState, PermissionDenied, ValidationFailed
from dashboard.lifecycle import (
    CASE_OPENERS,
    CASE_TRANSITIONS,
    COUNTY_STAGE,
    ELIMINATE_OPEN,
    HOUSEHOLD_PERMISSIONS,
    IDENTIFY_OPEN,
    STAGE_ROLES,
    SYSTEM,
    TOWNSHIP_STAGE,
    Actor,
    HouseholdAction,
    HouseholdFacts,
    enforce_household,
)
from dashboard.services import household_views, households
from dashboard.services.households import HouseholdInput, HouseholdUpdate, MemberInput
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CaseState, HouseholdState, LabourSkill, Light, Role
from db.models import AuditLog, Household, HouseholdCase, HouseholdStep
from seed import people
from tests.conftest import TODAY
from tests.factories import INCOME_LINE_2026, build_household_world
from tests.test_concurrency import JOIN_TIMEOUT, Worker, run_all

H = HouseholdAction
TOWNSHIP_UNIT, OTHER_TOWNSHIP, MONITORING, OTHER_UNIT = 10, 11, 20, 21


# --- the policy table, cell by cell (no database) ------------------------------------------------------------

ACTORS = {
    Role.TOWNSHIP: Actor(id=1, username="t", role=Role.TOWNSHIP, unit_id=TOWNSHIP_UNIT),
    Role.DEPARTMENT: Actor(id=2, username="d", role=Role.DEPARTMENT, unit_id=MONITORING),
    Role.ADMIN: Actor(id=3, username="a", role=Role.ADMIN),
    Role.LEADER: Actor(id=4, username="l", role=Role.LEADER),
    Role.INSPECTOR: Actor(id=5, username="i", role=Role.INSPECTOR, unit_id=OTHER_UNIT),
}


def policy_facts(state: HouseholdState, case_state: CaseState | None) -> HouseholdFacts:
    return HouseholdFacts(state=state, township_unit_id=TOWNSHIP_UNIT, monitoring_unit_ids=frozenset({MONITORING}),
                          case_state=case_state, verified_by_id=99, publicity_over=True)


@pytest.mark.parametrize("action", [a for a in CASE_TRANSITIONS], ids=str)
@pytest.mark.parametrize("case_state", list(CaseState), ids=str)
def test_case_transition_cell(action, case_state):
    moves = CASE_TRANSITIONS[action]
    for role in HOUSEHOLD_PERMISSIONS[action]:
        facts = policy_facts(HouseholdState.IDENTIFYING, case_state)
        if case_state not in moves:
            with pytest.raises(InvalidState):
                enforce_household(ACTORS[role], action, facts)
        elif role in STAGE_ROLES.get(action, {}).get(case_state, HOUSEHOLD_PERMISSIONS[action]):
            assert enforce_household(ACTORS[role], action, facts) is moves[case_state]
        else:
            with pytest.raises(PermissionDenied) as refused:
                enforce_household(ACTORS[role], action, facts)
            assert refused.value.key == "error.hh_not_your_stage"


def test_the_stages_cover_every_open_state_once():
    assert TOWNSHIP_STAGE | COUNTY_STAGE == set(IDENTIFY_OPEN + ELIMINATE_OPEN)
    assert not TOWNSHIP_STAGE & COUNTY_STAGE
    for action, stages in STAGE_ROLES.items():
        assert set(stages) == set(CASE_TRANSITIONS[action]), action
        assert all(roles <= HOUSEHOLD_PERMISSIONS[action] for roles in stages.values()), action


REJECT_EXPECTED = {  # 不予纳入/不予消除: who may, in each open state (township until its 初审, the county after)
    CaseState.CLUE: Role.TOWNSHIP, CaseState.VERIFIED: Role.TOWNSHIP, CaseState.REVIEWED: Role.TOWNSHIP,
    CaseState.PUBLICIZED: Role.TOWNSHIP, CaseState.TOWNSHIP_APPROVED: Role.DEPARTMENT,
    CaseState.ELIM_VERIFIED: Role.DEPARTMENT, CaseState.ELIM_PUBLICIZED: Role.DEPARTMENT,
    CaseState.ELIM_APPROVED: Role.DEPARTMENT,
}


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("case_state", list(CaseState), ids=str)
def test_reject_cell(role, case_state):
    """Each role × case state of 不予纳入/不予消除, written out rather than read from the table it checks."""
    household_state = (HouseholdState.ELIMINATING if case_state in ELIMINATE_OPEN else HouseholdState.IDENTIFYING)
    facts = policy_facts(household_state, case_state)
    if REJECT_EXPECTED.get(case_state) is role:
        assert enforce_household(ACTORS[role], H.REJECT, facts) is CaseState.REJECTED
        return
    with pytest.raises((PermissionDenied, InvalidState)) as refused:
        enforce_household(ACTORS[role], H.REJECT, facts)
    if case_state not in REJECT_EXPECTED:
        expected = "error.role_denied" if role not in (Role.TOWNSHIP, Role.DEPARTMENT) else "error.hh_bad_state"
    else:
        expected = "error.hh_not_your_stage" if role in (Role.TOWNSHIP, Role.DEPARTMENT) else "error.role_denied"
    assert refused.value.key == expected


@pytest.mark.parametrize("case_state", sorted(COUNTY_STAGE), ids=str)
def test_reject_at_county_stage_refused_to_the_verifier(case_state):
    department = ACTORS[Role.DEPARTMENT]
    facts = HouseholdFacts(state=HouseholdState.IDENTIFYING, township_unit_id=TOWNSHIP_UNIT,
                           monitoring_unit_ids=frozenset({MONITORING}), case_state=case_state,
                           verified_by_id=department.id, publicity_over=True)
    with pytest.raises(PermissionDenied) as refused:
        enforce_household(department, H.REJECT, facts)
    assert refused.value.key == "error.hh_verifier_decides"


@pytest.mark.parametrize("action", list(CASE_OPENERS), ids=str)
@pytest.mark.parametrize("state", list(HouseholdState), ids=str)
def test_case_opener_cell(action, state):
    allowed = CASE_OPENERS[action]
    role = next(iter(HOUSEHOLD_PERMISSIONS[action] - {Role.ADMIN}))
    facts = policy_facts(state, None)
    if state in allowed:
        assert enforce_household(ACTORS[role], action, facts) is allowed[state]
    else:
        with pytest.raises(InvalidState):
            enforce_household(ACTORS[role], action, facts)


@pytest.mark.parametrize("action", [a for a in H if a not in (H.IMPORT, H.VIEW)], ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_role_cell(action, role):
    """Each role is refused every action it is not given, whatever the state."""
    if role in HOUSEHOLD_PERMISSIONS[action]:
        return
    for state in HouseholdState:
        for case_state in (None, *CaseState):
            with pytest.raises(PermissionDenied):
                enforce_household(ACTORS[role], action, policy_facts(state, case_state))


def test_scopes_of_the_township_officer_and_the_department():
    facts = policy_facts(HouseholdState.IDENTIFYING, CaseState.CLUE)
    other_officer = Actor(id=7, username="t2", role=Role.TOWNSHIP, unit_id=OTHER_TOWNSHIP)
    other_department = Actor(id=8, username="d2", role=Role.DEPARTMENT, unit_id=OTHER_UNIT)
    with pytest.raises(PermissionDenied) as refused:
        enforce_household(other_officer, H.VERIFY, facts)
    assert refused.value.key == "error.hh_other_township"
    with pytest.raises(PermissionDenied) as refused:
        enforce_household(other_department, H.VERIFY, facts)
    assert refused.value.key == "error.hh_not_monitoring_unit"


# --- the services ------------------------------------------------------------------------------------------------

def member(rng: random.Random, relation: str, skill: LabourSkill = LabourSkill.ORDINARY) -> MemberInput:
    born = people.birth(rng, TODAY.date(), 20, 60)
    return MemberInput(name=people.name(rng), relation=relation, labour_skill=skill, phone=people.phone(rng),
                       id_number=people.resident_id(rng, born, female=relation == "配偶"), birth_date=born,
                       health="健康")


@pytest.fixture
def hh(engine, world):
    with unit_of_work(engine) as session:
        return build_household_world(session, world)


def new_clue(engine, hh, actor_name="gaoshi", number="3408260101", received=None, skills=None) -> int:
    rng = random.Random(number)
    skills = skills or (LabourSkill.ORDINARY, LabourSkill.ORDINARY)
    data = HouseholdInput(number=number, village_id=hh.villages["毛安村"], income_year=2026, income_per_capita=5200,
                          members=[member(rng, "户主", skills[0]), member(rng, "配偶", skills[1])], risks=["illness"])
    with unit_of_work(engine) as session:
        case = households.register_clue(session, hh.actors[actor_name], source="cadre_check",
                                        received_on=received or TODAY.date(), text="户主住院，医疗支出大", new=data)
        return case.id


def version(engine, case_id: int) -> int:
    with unit_of_work(engine) as session:
        return session.get(HouseholdCase, case_id).version


def run(engine, fn, *args, **kwargs):
    with unit_of_work(engine) as session:
        return fn(session, *args, **kwargs)


def identify(engine, hh, case_id: int, *, verifier="gaoshi", decider="jiance", start: dt.date | None = None,
             decide: bool = True) -> None:
    """The whole identification procedure, each step on its own day starting ``start`` (without 县级审定 when
    ``decide`` is false: the case is left 'township_approved')."""
    start = start or TODAY.date()
    officer = hh.actors["gaoshi"]
    with clock.frozen(dt.datetime.combine(start + dt.timedelta(days=8), dt.time(10))):
        run(engine, households.record_visit, hh.actors[verifier], case_id, version(engine, case_id),
            visited_on=start + dt.timedelta(days=1), consent_on=start + dt.timedelta(days=1))
        run(engine, households.record_review, officer, case_id, version(engine, case_id),
            reviewed_on=start + dt.timedelta(days=2))
        run(engine, households.record_publicity, officer, case_id, version(engine, case_id),
            start=start + dt.timedelta(days=2), end=start + dt.timedelta(days=6))
        run(engine, households.township_review, officer, case_id, version(engine, case_id),
            on=start + dt.timedelta(days=7), category="marginal")
        if not decide:
            return
        run(engine, households.county_decide, hh.actors[decider], case_id, version(engine, case_id),
            on=start + dt.timedelta(days=8), category="marginal")


def test_clue_to_monitored_with_every_step_in_the_history(engine, hh):
    case_id = new_clue(engine, hh)
    identify(engine, hh, case_id)
    with unit_of_work(engine) as session:
        case = session.get(HouseholdCase, case_id)
        household = session.get(Household, case.household_id)
        assert case.state == CaseState.INCLUDED and case.due_on == TODAY.date() + dt.timedelta(days=15)
        assert household.state == HouseholdState.MONITORED and household.category == "marginal"
        assert household.identified_on == TODAY.date() + dt.timedelta(days=8)
        steps = session.exec(select(HouseholdStep.action).where(HouseholdStep.household_id == household.id)
                             .order_by(HouseholdStep.id)).all()
        assert steps == [H.RECEIVE_CLUE, H.VERIFY, H.DEMOCRATIC_REVIEW, H.PUBLICIZE, H.TOWNSHIP_REVIEW, H.COUNTY_DECIDE]
        assert session.exec(select(AuditLog).where(AuditLog.entity == "HouseholdCase")).all()


def test_publicity_is_long_enough_and_initial_review_waits_for_its_end(engine, hh):
    case_id = new_clue(engine, hh)
    officer = hh.actors["gaoshi"]
    run(engine, households.record_visit, officer, case_id, None, visited_on=TODAY.date(), consent_on=TODAY.date())
    run(engine, households.record_review, officer, case_id, None, reviewed_on=TODAY.date())
    with pytest.raises(ValidationFailed) as short:
        run(engine, households.record_publicity, officer, case_id, None, start=TODAY.date(),
            end=TODAY.date() + dt.timedelta(days=3))
    assert short.value.key == "error.hh_publicity_short"
    run(engine, households.record_publicity, officer, case_id, None, start=TODAY.date(),
        end=TODAY.date() + dt.timedelta(days=4))
    with pytest.raises(InvalidState) as running:
        run(engine, households.township_review, officer, case_id, None, on=TODAY.date(), category="marginal")
    assert running.value.key == "error.hh_publicity_running"
    with pytest.raises(InvalidState):  # once: the posting cannot be recorded a second time
        run(engine, households.record_publicity, officer, case_id, None, start=TODAY.date(),
            end=TODAY.date() + dt.timedelta(days=9))


def test_visit_needs_consent(engine, hh):
    case_id = new_clue(engine, hh)
    with pytest.raises(ValidationFailed) as refused:
        run(engine, households.record_visit, hh.actors["gaoshi"], case_id, None, visited_on=TODAY.date(),
            consent_on=None)
    assert refused.value.key == "error.hh_no_consent"


def test_whoever_verified_may_not_decide(engine, hh):
    case_id = new_clue(engine, hh, actor_name="jiance")
    with pytest.raises(PermissionDenied) as refused:
        identify(engine, hh, case_id, verifier="jiance", decider="jiance")
    assert refused.value.key == "error.hh_verifier_decides"
    with clock.frozen(dt.datetime.combine(TODAY.date() + dt.timedelta(days=8), dt.time(10))):
        run(engine, households.county_decide, hh.actors["jiance2"], case_id, version(engine, case_id),
            on=TODAY.date() + dt.timedelta(days=8), category="marginal")


def test_other_township_and_other_departments_are_refused(engine, hh, world):
    case_id = new_clue(engine, hh)
    with pytest.raises(PermissionDenied):
        run(engine, households.record_visit, hh.actors["saikou"], case_id, None, visited_on=TODAY.date(),
            consent_on=TODAY.date())
    with pytest.raises(PermissionDenied):
        run(engine, households.record_visit, world.actors["jiuzhu"], case_id, None, visited_on=TODAY.date(),
            consent_on=TODAY.date())


def test_reject_returns_the_household_and_a_new_clue_may_follow(engine, hh):
    case_id = new_clue(engine, hh)
    run(engine, households.reject, hh.actors["gaoshi"], case_id, None, on=TODAY.date(), reason="收入高于标准")
    with unit_of_work(engine) as session:
        household_id = session.get(HouseholdCase, case_id).household_id
        assert session.get(Household, household_id).state == HouseholdState.NOT_MONITORED
    with pytest.raises(ValidationFailed):
        run(engine, households.reject, hh.actors["gaoshi"], case_id, None, on=TODAY.date(), reason=" ")
    again = run(engine, households.register_clue, hh.actors["gaoshi"], source="self_report", received_on=TODAY.date(),
                text="再次申报", household_id=household_id)
    assert again.state == CaseState.CLUE


def test_township_may_not_reject_after_its_initial_review_and_the_verifier_may_not_either(engine, hh):
    case_id = new_clue(engine, hh, actor_name="jiance")
    identify(engine, hh, case_id, verifier="jiance", decide=False)
    on = TODAY.date() + dt.timedelta(days=8)
    with clock.frozen(dt.datetime.combine(on, dt.time(10))):
        with pytest.raises(PermissionDenied) as township:
            run(engine, households.reject, hh.actors["gaoshi"], case_id, None, on=on, reason="乡镇改变意见")
        assert township.value.key == "error.hh_not_your_stage" and township.value.en
        with pytest.raises(PermissionDenied) as verifier:
            run(engine, households.reject, hh.actors["jiance"], case_id, None, on=on, reason="核实人不予纳入")
        assert verifier.value.key == "error.hh_verifier_decides"
        run(engine, households.reject, hh.actors["jiance2"], case_id, None, on=on, reason="县级审定不予纳入")
    with unit_of_work(engine) as session:
        case = session.get(HouseholdCase, case_id)
        assert case.state == CaseState.REJECTED
        assert session.get(Household, case.household_id).state == HouseholdState.NOT_MONITORED


def test_the_county_may_not_reject_before_the_township_has_reviewed(engine, hh):
    case_id = new_clue(engine, hh)
    with pytest.raises(PermissionDenied) as refused:
        run(engine, households.reject, hh.actors["jiance"], case_id, None, on=TODAY.date(), reason="县里先否")
    assert refused.value.key == "error.hh_not_your_stage"


# --- the order of the steps' dates ------------------------------------------------------------------------------

def day(n: int) -> dt.date:
    return TODAY.date() + dt.timedelta(days=n)


def refused_step(engine, fn, *args, **kwargs) -> tuple[str, dict]:
    with pytest.raises(ValidationFailed) as refused:
        run(engine, fn, *args, **kwargs)
    assert refused.value.en and refused.value.zh
    return refused.value.key, refused.value.params


def test_identification_steps_are_dated_in_order(engine, hh):
    case_id = new_clue(engine, hh)   # received on day 0
    officer, county = hh.actors["gaoshi"], hh.actors["jiance"]
    with clock.frozen(dt.datetime.combine(day(20), dt.time(10))):
        key, params = refused_step(engine, households.record_visit, officer, case_id, None, visited_on=day(-1),
                                   consent_on=day(-1))
        assert key == "error.hh_step_order" and params["earlier_on"] == day(0).isoformat()
        run(engine, households.record_visit, officer, case_id, None, visited_on=day(1), consent_on=day(1))
        assert refused_step(engine, households.record_review, officer, case_id, None,
                            reviewed_on=day(0))[0] == "error.hh_step_order"
        run(engine, households.record_review, officer, case_id, None, reviewed_on=day(2))
        assert refused_step(engine, households.record_publicity, officer, case_id, None, start=day(1),
                            end=day(6))[0] == "error.hh_step_order"
        run(engine, households.record_publicity, officer, case_id, None, start=day(2), end=day(6))
        key, params = refused_step(engine, households.township_review, officer, case_id, None, on=day(6),
                                   category="marginal")   # 初审 on the last day of the 公示: not after its end
        assert key == "error.hh_after_publicity" and params["end"] == day(6).isoformat()
        run(engine, households.township_review, officer, case_id, None, on=day(8), category="marginal")
        assert refused_step(engine, households.county_decide, county, case_id, None, on=day(7),
                            category="marginal")[0] == "error.hh_step_order"
        assert refused_step(engine, households.reject, county, case_id, None, on=day(7),
                            reason="日期早于初审")[0] == "error.hh_step_order"
        run(engine, households.county_decide, county, case_id, None, on=day(8), category="marginal")
    with unit_of_work(engine) as session:
        assert session.get(HouseholdCase, case_id).state == CaseState.INCLUDED


def test_elimination_steps_are_dated_in_order(engine, hh):
    household_id = monitored(engine, hh)
    officer, county = hh.actors["gaoshi"], hh.actors["jiance"]
    later = LATER.date()
    with clock.frozen(LATER):
        key, params = refused_step(engine, households.start_elimination, officer, household_id,
                                   visited_on=MONITORED_FROM - dt.timedelta(days=1), method="supported")
        assert key == "error.hh_date_order"
        case = run(engine, households.start_elimination, officer, household_id, visited_on=later, method="supported")
        assert refused_step(engine, households.record_elimination_publicity, officer, case.id, None,
                            start=later - dt.timedelta(days=1), end=later + dt.timedelta(days=4))[0] == "error.hh_step_order"
        run(engine, households.record_elimination_publicity, officer, case.id, None, start=later,
            end=later + dt.timedelta(days=4))
    with clock.frozen(AFTER_POSTING + dt.timedelta(days=3)):
        key, params = refused_step(engine, households.review_elimination, county, case.id, None,
                                   on=later + dt.timedelta(days=4))   # 县级审核 dated inside the 公示
        assert key == "error.hh_after_publicity"
        run(engine, households.review_elimination, county, case.id, None, on=later + dt.timedelta(days=6))
        assert refused_step(engine, households.announce_elimination, county, case.id, None,
                            on=later + dt.timedelta(days=5))[0] == "error.hh_step_order"
        run(engine, households.announce_elimination, county, case.id, None, on=later + dt.timedelta(days=6))
    with unit_of_work(engine) as session:
        assert session.get(Household, household_id).eliminated_on == later + dt.timedelta(days=6)


# --- the clock --------------------------------------------------------------------------------------------------

def inbox_light(engine, hh, case_id: int) -> tuple[str, int]:
    with unit_of_work(engine) as session:
        item = next(i for i in household_views.clue_inbox(session, hh.actors["gaoshi"]) if i.case_id == case_id)
        return item.light, item.days_left


def test_the_clock_across_a_day_boundary(engine, hh):
    received = TODAY.date()
    case_id = new_clue(engine, hh, received=received)
    due = received + dt.timedelta(days=15)
    with clock.frozen(dt.datetime.combine(received + dt.timedelta(days=2), dt.time(12))):
        assert inbox_light(engine, hh, case_id) == (Light.GREEN, 13)
    with clock.frozen(dt.datetime.combine(due - dt.timedelta(days=8), dt.time(23, 59, 59))):
        assert inbox_light(engine, hh, case_id) == (Light.GREEN, 8)
    with clock.frozen(dt.datetime.combine(due - dt.timedelta(days=7), dt.time(0, 0))):
        assert inbox_light(engine, hh, case_id) == (Light.YELLOW, 7)
    with clock.frozen(dt.datetime.combine(due, dt.time(23, 59, 59))):
        assert inbox_light(engine, hh, case_id) == (Light.YELLOW, 0)
    with clock.frozen(dt.datetime.combine(due + dt.timedelta(days=1), dt.time(0, 0))):
        assert inbox_light(engine, hh, case_id) == (Light.RED, -1)
        with unit_of_work(engine) as session:
            rows, total = household_views.household_list(session, hh.actors["gaoshi"],
                                                          household_views.HouseholdFilter(light=Light.RED))
            assert total == 1 and rows[0].light == Light.RED


def test_the_township_officer_sees_only_its_township_in_the_inbox(engine, hh):
    new_clue(engine, hh)
    with unit_of_work(engine) as session:
        assert household_views.clue_inbox(session, hh.actors["saikou"]) == []
        assert len(household_views.clue_inbox(session, hh.actors["jiance"])) == 1


# --- 风险消除 ----------------------------------------------------------------------------------------------------

MONITORED_FROM = TODAY.date() + dt.timedelta(days=8)
LATER = dt.datetime.combine(MONITORED_FROM + dt.timedelta(days=190), dt.time(10))


def monitored(engine, hh, *, number="3408260201", skills=None, measure=True, income=9000) -> int:
    case_id = new_clue(engine, hh, number=number, skills=skills)
    identify(engine, hh, case_id)
    household_id = run(engine, lambda s: s.get(HouseholdCase, case_id).household_id)
    with clock.frozen(dt.datetime.combine(MONITORED_FROM + dt.timedelta(days=1), dt.time(10))):
        if measure:
            run(engine, households.add_measure, hh.actors["gaoshi"], household_id, kind="health",
                text="大病救助及慢病签约服务", unit_name="县卫健委", start_on=MONITORED_FROM + dt.timedelta(days=1))
        run(engine, households.update_household, hh.actors["gaoshi"], household_id, None,
            HouseholdUpdate(income_year=2026, income_per_capita=income))
    return household_id


AFTER_POSTING = LATER + dt.timedelta(days=5)  # the 风险消除 公示 of LATER to LATER + 4 days is over


def eliminate(engine, hh, household_id: int, *, method="supported") -> None:
    with clock.frozen(LATER):
        case = run(engine, households.start_elimination, hh.actors["gaoshi"], household_id, visited_on=LATER.date(),
                   method=method)
        run(engine, households.record_elimination_publicity, hh.actors["gaoshi"], case.id, None,
            start=LATER.date(), end=LATER.date() + dt.timedelta(days=4))
        with pytest.raises(InvalidState) as running:   # the county waits for the end of the posting
            run(engine, households.review_elimination, hh.actors["jiance"], case.id, None, on=LATER.date())
        assert running.value.key == "error.hh_publicity_running"
    with clock.frozen(AFTER_POSTING):
        run(engine, households.review_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
        run(engine, households.announce_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())


def refused_key(engine, hh, household_id: int, when: dt.datetime = LATER, method="supported") -> str | None:
    with clock.frozen(when):
        try:
            run(engine, households.start_elimination, hh.actors["gaoshi"], household_id, visited_on=when.date(),
                method=method)
        except (InvalidState, PermissionDenied, ValidationFailed) as refused:
            return refused.key
    return None


def test_elimination_then_return_through_identification(engine, hh):
    household_id = monitored(engine, hh)
    eliminate(engine, hh, household_id)
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household.state == HouseholdState.ELIMINATED and household.elimination_method == "supported"
    with clock.frozen(LATER + dt.timedelta(days=30)):  # noqa: SIM117 - the later clock wraps the whole unit of work, kept visible
        case = run(engine, households.register_clue, hh.actors["gaoshi"], source="department_alert",
                   received_on=(LATER + dt.timedelta(days=30)).date(), text="医保报销预警：大额自付",
                   household_id=household_id)
        assert case.is_return
        run(engine, households.reject, hh.actors["gaoshi"], case.id, None, on=(LATER + dt.timedelta(days=30)).date(),
            reason="核实后风险可控")
    with unit_of_work(engine) as session:
        assert session.get(Household, household_id).state == HouseholdState.ELIMINATED
        steps = session.exec(select(HouseholdStep.action).where(HouseholdStep.household_id == household_id)
                             .order_by(HouseholdStep.id)).all()
    assert steps[-6:] == [H.ELIM_VERIFY, H.ELIM_PUBLICIZE, H.ELIM_REVIEW, H.ELIM_ANNOUNCE, H.RECEIVE_CLUE, H.REJECT]


def test_a_return_clue_is_not_dated_before_the_elimination(engine, hh):
    household_id = monitored(engine, hh)
    eliminate(engine, hh, household_id)
    with clock.frozen(AFTER_POSTING + dt.timedelta(days=1)):
        with pytest.raises(ValidationFailed) as refused:
            run(engine, households.register_clue, hh.actors["gaoshi"], source="self_report",
                received_on=AFTER_POSTING.date() - dt.timedelta(days=1), text="返贫申报", household_id=household_id)
        assert refused.value.key == "error.hh_date_order"
        case = run(engine, households.register_clue, hh.actors["gaoshi"], source="self_report",
                   received_on=AFTER_POSTING.date(), text="返贫申报", household_id=household_id)
    assert case.is_return


def test_elimination_allowed_when_every_condition_holds(engine, hh):
    assert refused_key(engine, hh, monitored(engine, hh)) is None


def test_elimination_refused_too_early(engine, hh):
    early = dt.datetime.combine(MONITORED_FROM + dt.timedelta(days=100), dt.time(10))
    assert refused_key(engine, hh, monitored(engine, hh), when=early) == "error.hh_too_early"


def test_elimination_refused_without_a_measure_in_force(engine, hh):
    assert refused_key(engine, hh, monitored(engine, hh, measure=False)) == "error.hh_no_measure"


def test_elimination_refused_below_the_income_line(engine, hh):
    household_id = monitored(engine, hh, income=INCOME_LINE_2026 - 1)
    assert refused_key(engine, hh, household_id) == "error.hh_income_below"


def test_elimination_refused_when_a_guarantee_fails(engine, hh):
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        run(engine, households.update_household, hh.actors["gaoshi"], household_id, None,
            HouseholdUpdate(housing_ok=False))
    assert refused_key(engine, hh, household_id) == "error.hh_guarantee"


def test_elimination_refused_with_a_risk_added_since(engine, hh):
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        run(engine, households.add_risk, hh.actors["gaoshi"], household_id, kind="disaster", added_on=LATER.date())
    assert refused_key(engine, hh, household_id) == "error.hh_new_risk"


def test_nobody_can_work_is_not_eliminated_with_support(engine, hh):
    household_id = monitored(engine, hh, skills=(LabourSkill.LOST, LabourSkill.NONE))
    assert refused_key(engine, hh, household_id) == "error.hh_nobody_works"
    assert refused_key(engine, hh, household_id, method="natural") is None


def test_county_review_checks_the_conditions_again(engine, hh):
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        case = run(engine, households.start_elimination, hh.actors["gaoshi"], household_id, visited_on=LATER.date(),
                   method="supported")
        run(engine, households.record_elimination_publicity, hh.actors["gaoshi"], case.id, None,
            start=LATER.date(), end=LATER.date() + dt.timedelta(days=4))
        run(engine, households.add_risk, hh.actors["gaoshi"], household_id, kind="accident", added_on=LATER.date())
    with clock.frozen(AFTER_POSTING):
        with pytest.raises(InvalidState) as refused:
            run(engine, households.review_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
    assert refused.value.key == "error.hh_new_risk"


def test_township_may_not_reject_an_approved_elimination(engine, hh):
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        case = run(engine, households.start_elimination, hh.actors["gaoshi"], household_id, visited_on=LATER.date(),
                   method="supported")
        run(engine, households.record_elimination_publicity, hh.actors["gaoshi"], case.id, None,
            start=LATER.date(), end=LATER.date() + dt.timedelta(days=4))
    with clock.frozen(AFTER_POSTING):
        run(engine, households.review_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
        with pytest.raises(PermissionDenied) as refused:
            run(engine, households.reject, hh.actors["gaoshi"], case.id, None, on=AFTER_POSTING.date(),
                reason="乡镇不同意消除")
        assert refused.value.key == "error.hh_not_your_stage"
        run(engine, households.reject, hh.actors["jiance2"], case.id, None, on=AFTER_POSTING.date(),
            reason="公告前发现新情况")
    with unit_of_work(engine) as session:
        assert session.get(Household, household_id).state == HouseholdState.MONITORED


def test_county_review_of_an_elimination_refused_to_its_verifier(engine, hh):
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        case = run(engine, households.start_elimination, hh.actors["jiance"], household_id, visited_on=LATER.date(),
                   method="supported")
        run(engine, households.record_elimination_publicity, hh.actors["gaoshi"], case.id, None,
            start=LATER.date(), end=LATER.date() + dt.timedelta(days=4))
    with clock.frozen(AFTER_POSTING):
        with pytest.raises(PermissionDenied) as refused:
            run(engine, households.review_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
        assert refused.value.key == "error.hh_verifier_decides"
        run(engine, households.review_elimination, hh.actors["jiance2"], case.id, None, on=AFTER_POSTING.date())


def test_announcement_checks_the_conditions_again(engine, hh):
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        case = run(engine, households.start_elimination, hh.actors["gaoshi"], household_id, visited_on=LATER.date(),
                   method="supported")
        run(engine, households.record_elimination_publicity, hh.actors["gaoshi"], case.id, None,
            start=LATER.date(), end=LATER.date() + dt.timedelta(days=4))
    with clock.frozen(AFTER_POSTING):
        run(engine, households.review_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
        run(engine, households.update_household, hh.actors["gaoshi"], household_id, None,
            HouseholdUpdate(income_per_capita=INCOME_LINE_2026 - 100))
        with pytest.raises(InvalidState) as refused:
            run(engine, households.announce_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
        assert refused.value.key == "error.hh_income_below"
        run(engine, households.update_household, hh.actors["gaoshi"], household_id, None,
            HouseholdUpdate(income_per_capita=INCOME_LINE_2026 + 100))
        run(engine, households.announce_elimination, hh.actors["jiance"], case.id, None, on=AFTER_POSTING.date())
    with unit_of_work(engine) as session:
        assert session.get(Household, household_id).state == HouseholdState.ELIMINATED


def test_elimination_queue_lists_exactly_the_households_that_qualify(engine, hh):
    ready = monitored(engine, hh, number="3408260301")
    monitored(engine, hh, number="3408260302", income=100)
    with clock.frozen(LATER), unit_of_work(engine) as session:
        queue = household_views.elimination_queue(session, hh.actors["jiance"])
    assert [c.household_id for c in queue] == [ready]


# --- privacy in the services, and concurrency ---------------------------------------------------------------------

def test_reveal_is_audited_and_refused_to_readers(engine, hh, world):
    case_id = new_clue(engine, hh)
    with unit_of_work(engine) as session:
        household_id = session.get(HouseholdCase, case_id).household_id
        detail = household_views.household_detail(session, hh.actors["gaoshi"], household_id)
        head = detail.members[0]
        assert "*" in head.id_masked and head.health == "健康"
    with unit_of_work(engine) as session:
        leader_view = household_views.household_detail(session, world.actors["leader"], household_id)
        assert leader_view.members[0].health is None  # health only for roles that act on the household
    revealed = run(engine, households.reveal_member, hh.actors["gaoshi"], head.id)
    assert len(revealed.id_number) == 18 and revealed.id_number[-4:] == head.id_masked[-4:]
    with pytest.raises(PermissionDenied):
        run(engine, households.reveal_member, world.actors["leader"], head.id)
    with pytest.raises(PermissionDenied):
        run(engine, households.reveal_member, hh.actors["saikou"], head.id)
    with unit_of_work(engine) as session:
        entries = session.exec(select(AuditLog).where(AuditLog.action == "reveal_member")).all()
        everything = " ".join(str((e.old, e.new, e.note)) for e in session.exec(select(AuditLog)).all())
    assert [(e.username, e.entity_id) for e in entries] == [("gaoshi", head.id)]
    assert revealed.id_number not in everything and revealed.phone not in everything


def test_a_second_initial_review_from_a_stale_page_is_told(engine, hh):
    """One after the other, from two pages opened at the same version (the two-thread race is below)."""
    case_id = new_clue(engine, hh)
    officer = hh.actors["gaoshi"]
    start = TODAY.date()
    run(engine, households.record_visit, officer, case_id, None, visited_on=start, consent_on=start)
    run(engine, households.record_review, officer, case_id, None, reviewed_on=start)
    run(engine, households.record_publicity, officer, case_id, None, start=start, end=start + dt.timedelta(days=4))
    loaded = version(engine, case_id)  # both officers opened the page at this version
    with clock.frozen(dt.datetime.combine(start + dt.timedelta(days=6), dt.time(9))):
        run(engine, households.township_review, officer, case_id, loaded, on=start + dt.timedelta(days=6),
            category="marginal")
        with pytest.raises(ConflictError) as stale:
            run(engine, households.township_review, officer, case_id, loaded, on=start + dt.timedelta(days=6),
                category="sudden")
    assert stale.value.key == "error.conflict" and stale.value.en
    with unit_of_work(engine) as session:
        assert session.get(HouseholdCase, case_id).category == "marginal"


def test_concurrent_initial_review_exactly_one_wins_the_other_is_told(engine, hh):
    """Two units of work in two threads, released together by a barrier, 乡镇初审 of the same case at the same
    version: one commits, the other is refused as a stale edit, and the history holds one 初审."""
    case_id = new_clue(engine, hh)
    officer = hh.actors["gaoshi"]
    start = TODAY.date()
    run(engine, households.record_visit, officer, case_id, None, visited_on=start, consent_on=start)
    run(engine, households.record_review, officer, case_id, None, reviewed_on=start)
    run(engine, households.record_publicity, officer, case_id, None, start=start, end=start + dt.timedelta(days=4))
    loaded = version(engine, case_id)
    barrier = threading.Barrier(2)

    def review(category):
        def work():
            barrier.wait(JOIN_TIMEOUT)
            with unit_of_work(engine) as session:
                households.township_review(session, officer, case_id, loaded, on=start + dt.timedelta(days=6),
                                           category=category)
                session.flush()
                time.sleep(0.2)  # hold the case while the other tries
            return category
        return work

    workers = [Worker(review("marginal")), Worker(review("sudden"))]
    with clock.frozen(dt.datetime.combine(start + dt.timedelta(days=6), dt.time(9))):
        run_all(*workers)
    winners = [w for w in workers if w.error is None]
    losers = [w for w in workers if w.error is not None]
    assert len(winners) == 1 and len(losers) == 1, [repr(w.error) for w in workers]
    assert isinstance(losers[0].error, ConflictError), repr(losers[0].error)
    assert losers[0].error.key == "error.conflict" and losers[0].error.zh and losers[0].error.en
    with unit_of_work(engine) as session:
        case = session.get(HouseholdCase, case_id)
        assert case.state == CaseState.TOWNSHIP_APPROVED and case.category == winners[0].result
        assert case.version == loaded + 1
        steps = session.exec(select(HouseholdStep).where(HouseholdStep.case_id == case_id,
                                                         HouseholdStep.action == H.TOWNSHIP_REVIEW)).all()
    assert len(steps) == 1


def test_income_line_is_an_admin_setting(engine, hh, world):
    with pytest.raises(PermissionDenied):
        run(engine, households.set_income_line, hh.actors["gaoshi"], 2027, 7900)
    with pytest.raises(ValidationFailed):
        run(engine, households.set_income_line, SYSTEM, 2027, 5)
    run(engine, households.set_income_line, world.actors["admin"], 2027, 7900)
    assert run(engine, households.income_line, 2027) == 7900
