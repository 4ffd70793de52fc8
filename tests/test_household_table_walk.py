"""The household procedure's table (``lifecycle.CASE_TRANSITIONS``, and ``CASE_OPENERS``) walked through the
services on a database: for every cell (case state × action) a case is in that state, the action of the cell
succeeds through its service and leads where the table says, and an action the state does not allow is refused.

The cases are built once per session and backend (one household in each open state, through the services on
their own dates) and copied into each test's database (``templates.copy_prepared``)."""
from __future__ import annotations

import datetime as dt

import pytest

from dashboard import clock
from dashboard.errors import InvalidState
from dashboard.lifecycle import CASE_OPENERS, CASE_TRANSITIONS, COUNTY_STAGE, HOUSEHOLD_STATE_OF_CASE, HouseholdAction
from dashboard.services import households
from dashboard.services.households import HouseholdInput
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CaseState, HouseholdState
from db.models import Household, HouseholdCase
from tests.databases import world_in
from tests.factories import build_household_world
from tests.test_household_lifecycle import AFTER_POSTING, LATER, monitored, new_clue, run

H, CS = HouseholdAction, CaseState
ACT = AFTER_POSTING + dt.timedelta(days=10)   # every case's last step lies before this moment
IDENTIFICATION = (CS.CLUE, CS.VERIFIED, CS.REVIEWED, CS.PUBLICIZED, CS.TOWNSHIP_APPROVED)
ELIMINATION = (CS.ELIM_VERIFIED, CS.ELIM_PUBLICIZED, CS.ELIM_APPROVED)


def _identification_to(engine, hh, case_id: int, until: CaseState) -> None:
    """The identification steps after the clue (received on the day the world was built), each on its day."""
    start, officer = clock.today(), hh.actors["gaoshi"]
    steps = [
        lambda v: households.record_visit(v[0], officer, case_id, None, visited_on=start + dt.timedelta(days=1),
                                          consent_on=start + dt.timedelta(days=1)),
        lambda v: households.record_review(v[0], officer, case_id, None, reviewed_on=start + dt.timedelta(days=2)),
        lambda v: households.record_publicity(v[0], officer, case_id, None, start=start + dt.timedelta(days=2),
                                              end=start + dt.timedelta(days=6)),
        lambda v: households.township_review(v[0], officer, case_id, None, on=start + dt.timedelta(days=7),
                                             category="marginal"),
    ]
    with clock.frozen(dt.datetime.combine(start + dt.timedelta(days=8), dt.time(10))):
        for step in steps[:IDENTIFICATION.index(until)]:
            with unit_of_work(engine) as session:
                step((session,))


def _elimination_to(engine, hh, household_id: int, until: CaseState) -> int:
    officer, county = hh.actors["gaoshi"], hh.actors["jiance"]
    with clock.frozen(LATER):
        case = run(engine, households.start_elimination, officer, household_id, visited_on=LATER.date(),
                   method="supported")
        if until is CS.ELIM_VERIFIED:
            return case.id
        run(engine, households.record_elimination_publicity, officer, case.id, None, start=LATER.date(),
            end=LATER.date() + dt.timedelta(days=4))
    if until is CS.ELIM_APPROVED:
        with clock.frozen(AFTER_POSTING):
            run(engine, households.review_elimination, county, case.id, None, on=AFTER_POSTING.date())
    return case.id


def _eliminated(engine, hh, household_id: int) -> None:
    case_id = _elimination_to(engine, hh, household_id, CS.ELIM_APPROVED)
    with clock.frozen(AFTER_POSTING):
        run(engine, households.announce_elimination, hh.actors["jiance"], case_id, None, on=AFTER_POSTING.date())


def _cases_in_every_open_state(engine) -> tuple:
    """One household with its case in each open state, and one household without a case in each state a case
    opens from; returns the household world, {case state: case id} and {household state: household id}."""
    world = world_in(engine)
    with unit_of_work(engine) as session:
        hh = build_household_world(session, world)
    cases: dict[CaseState, int] = {}
    for index, state in enumerate(IDENTIFICATION):
        case_id = new_clue(engine, hh, number=f"34082601{index:02d}")
        _identification_to(engine, hh, case_id, state)
        cases[state] = case_id
    for index, state in enumerate(ELIMINATION):
        household_id = monitored(engine, hh, number=f"34082602{index:02d}")
        cases[state] = _elimination_to(engine, hh, household_id, state)
    bare: dict[HouseholdState, int] = {HouseholdState.MONITORED: monitored(engine, hh, number="3408260301")}
    bare[HouseholdState.ELIMINATED] = monitored(engine, hh, number="3408260302")
    _eliminated(engine, hh, bare[HouseholdState.ELIMINATED])
    with unit_of_work(engine) as session:
        bare[HouseholdState.NOT_MONITORED] = households.new_household(session, HouseholdInput(
            number="3408260303", village_id=hh.villages["毛安村"], household_type="exited")).id
    return hh, cases, bare


@pytest.fixture
def walked(engine, world, templates):
    return templates.copy_prepared(engine, "household table walk", _cases_in_every_open_state, on_world=True)


def _take(engine, hh, action: HouseholdAction, state: CaseState, case_id: int) -> HouseholdCase:
    """``action`` on the case through its service, by a person the table gives it to in ``state``."""
    on = ACT.date()
    township, county = hh.actors["gaoshi"], hh.actors["jiance2"]   # jiance2 verified nothing
    calls = {
        H.VERIFY: lambda s: households.record_visit(s, township, case_id, None, visited_on=on, consent_on=on),
        H.DEMOCRATIC_REVIEW: lambda s: households.record_review(s, township, case_id, None, reviewed_on=on),
        H.PUBLICIZE: lambda s: households.record_publicity(s, township, case_id, None, start=on,
                                                           end=on + dt.timedelta(days=4)),
        H.TOWNSHIP_REVIEW: lambda s: households.township_review(s, township, case_id, None, on=on,
                                                                category="sudden"),
        H.COUNTY_DECIDE: lambda s: households.county_decide(s, county, case_id, None, on=on, category="sudden"),
        H.REJECT: lambda s: households.reject(s, county if state in COUNTY_STAGE else township, case_id, None,
                                              on=on, reason="核实后不符合条件"),
        H.ELIM_PUBLICIZE: lambda s: households.record_elimination_publicity(s, township, case_id, None, start=on,
                                                                            end=on + dt.timedelta(days=4)),
        H.ELIM_REVIEW: lambda s: households.review_elimination(s, county, case_id, None, on=on),
        H.ELIM_ANNOUNCE: lambda s: households.announce_elimination(s, county, case_id, None, on=on),
    }
    assert set(calls) == set(CASE_TRANSITIONS), "a new action of the table needs its service here"
    with clock.frozen(ACT), unit_of_work(engine) as session:
        return calls[action](session)


CELLS = [(state, action) for action, moves in CASE_TRANSITIONS.items() for state in moves]


def test_every_cell_is_walked():
    assert set(IDENTIFICATION + ELIMINATION) == {state for state, _ in CELLS}


@pytest.mark.parametrize(("state", "action"), CELLS, ids=[f"{s}-{a}" for s, a in CELLS])
def test_table_cell_through_the_services(engine, walked, state, action):
    hh, cases, _ = walked
    case_id = cases[state]
    with unit_of_work(engine) as session:
        assert session.get(HouseholdCase, case_id).state == state
    other = next(a for a, moves in CASE_TRANSITIONS.items() if state not in moves)
    with pytest.raises(InvalidState) as refused:
        _take(engine, hh, other, state, case_id)
    assert refused.value.key == "error.hh_bad_state"
    case = _take(engine, hh, action, state, case_id)
    assert case.state == CASE_TRANSITIONS[action][state]
    with unit_of_work(engine) as session:
        household = session.get(Household, session.get(HouseholdCase, case_id).household_id)
        expected = {CS.INCLUDED: HouseholdState.MONITORED, CS.ELIMINATED: HouseholdState.ELIMINATED,
                    CS.REJECTED: (HouseholdState.MONITORED if state in ELIMINATION else HouseholdState.NOT_MONITORED)
                    }.get(case.state, HouseholdState.ELIMINATING if state in ELIMINATION else HouseholdState.IDENTIFYING)
        assert household.state == expected


OPENER_CELLS = [(state, action) for action, starts in CASE_OPENERS.items() for state in starts]


def _open(engine, hh, action: HouseholdAction, household_id: int) -> HouseholdCase:
    on = ACT.date()
    with clock.frozen(ACT), unit_of_work(engine) as session:
        if action is H.RECEIVE_CLUE:
            return households.register_clue(session, hh.actors["gaoshi"], source="self_report", received_on=on,
                                            text="申报", household_id=household_id)
        assert action is H.ELIM_VERIFY, "a new opener of the table needs its service here"
        return households.start_elimination(session, hh.actors["gaoshi"], household_id, visited_on=on,
                                            method="supported")


def test_every_opener_cell_has_a_household():
    """The world builds a household without a case in exactly these states (a new opener state needs one)."""
    assert {state for state, _ in OPENER_CELLS} == {
        HouseholdState.NOT_MONITORED, HouseholdState.ELIMINATED, HouseholdState.MONITORED}


@pytest.mark.parametrize(("state", "action"), OPENER_CELLS, ids=[f"{s}-{a}" for s, a in OPENER_CELLS])
def test_opener_cell_through_the_services(engine, walked, state, action):
    """A case opens from a household state of ``CASE_OPENERS`` through its service; the other opener, whose
    table does not list that state, is refused."""
    hh, _, bare = walked
    household_id = bare[state]
    other = next(a for a, starts in CASE_OPENERS.items() if state not in starts)
    with pytest.raises(InvalidState) as refused:
        _open(engine, hh, other, household_id)
    assert refused.value.key == "error.hh_bad_state"
    case = _open(engine, hh, action, household_id)
    assert case.state == CASE_OPENERS[action][state]
    with unit_of_work(engine) as session:
        assert session.get(Household, household_id).state == HOUSEHOLD_STATE_OF_CASE[case.state]
