"""The 风险消除 queue is one SQL statement built from the conditions the service enforces
(``households.elimination_conditions``, of the method with the fewest: ``households.eliminable_conditions``); here
every condition is put at its boundary, a household on each side, and the queue must list exactly the households
the service would let through by either method (帮扶消除, or 自然消除 when nobody can work)."""
from __future__ import annotations

import datetime as dt

import pytest

from dashboard import clock
from dashboard.lifecycle import SYSTEM, add_months, identified_by
from dashboard.services import household_views, households
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import EliminationMethod, LabourSkill, Risk, SupportKind
from db.engine import read_session
from db.models import HouseholdRisk
from tests.household_rows import LINE_2026, Ledger

NOW = dt.datetime(2026, 6, 15, 10, 0)
TODAY = NOW.date()
SINCE = identified_by(TODAY, 6)   # 2025-12-15: the latest 识别监测时间 that has been monitored six months


def _build(book: Ledger, number: str, *, identified=SINCE, income=float(LINE_2026), measure=(SINCE, None),
           skills=(LabourSkill.ORDINARY,), risk_after=None, risk_removed=None, line_year=2026, **facts):
    household = book.household(number, identified_on=identified, income=income, **facts)
    household.income_year = line_year
    for skill in skills:
        book.member(household, skill=skill)
    if measure is not None:
        book.measure(household, SupportKind.HEALTH, start=measure[0], end=measure[1])
    if risk_after is not None:
        book.session.add(HouseholdRisk(household_id=household.id, kind=Risk.ILLNESS, added_on=risk_after,
                                       removed_on=risk_removed))
    book.session.flush()
    return household


CASES = {  # number: (the household's facts, may it be eliminated)
    "OK": ({}, True),
    "DAY-LATE": ({"identified": SINCE + dt.timedelta(days=1)}, False),
    "NO-DATE": ({"identified": None}, False),
    "MEASURE-ENDS-TODAY": ({"measure": (SINCE, TODAY)}, True),
    "MEASURE-ENDED": ({"measure": (SINCE, TODAY - dt.timedelta(days=1))}, False),
    "MEASURE-TOMORROW": ({"measure": (TODAY + dt.timedelta(days=1), None)}, False),
    "NO-MEASURE": ({"measure": None}, False),
    "INCOME-BELOW": ({"income": LINE_2026 - 0.01}, False),
    "NO-INCOME": ({"income": None}, False),
    "NO-LINE": ({"line_year": 2027}, False),
    "UNSAFE-HOUSE": ({"housing_ok": False}, False),
    "NO-WATER": ({"water_ok": False}, False),
    "NO-SCHOOL": ({"education_ok": False}, False),
    "NO-INSURANCE": ({"medical_ok": False}, False),
    "RISK-SAME-DAY": ({"risk_after": SINCE}, True),
    "RISK-AFTER": ({"risk_after": SINCE + dt.timedelta(days=1)}, False),
    "RISK-AFTER-REMOVED": ({"risk_after": SINCE + dt.timedelta(days=1), "risk_removed": TODAY}, True),
    "NOBODY-WORKS": ({"skills": (LabourSkill.LOST, LabourSkill.NONE)}, True),   # by 自然消除 only
    "ONE-SKILL-UNKNOWN": ({"skills": (LabourSkill.LOST, None)}, True),
    "NO-MEMBERS": ({"skills": ()}, True),
}


def test_identified_by_is_the_last_day_add_months_allows():
    for today in (dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 8, 30), dt.date(2024, 2, 29), TODAY):
        cut = identified_by(today, 6)
        assert add_months(cut, 6) <= today < add_months(cut + dt.timedelta(days=1), 6)


def test_the_queue_and_the_service_agree_at_every_boundary(engine):
    with clock.frozen(NOW):
        with unit_of_work(engine) as session:
            book = Ledger(session)
            for number, (facts, _) in CASES.items():
                _build(book, number, **facts)
        with read_session(engine) as session:
            queued = {c.number for c in household_views.elimination_queue(session, SYSTEM)}
            refused = {}
            for number in CASES:
                household = session.exec(
                    households.select(households.Household).where(households.Household.number == number)).one()
                refused[number] = min(([r.key for r in households.facts(session, household, method=method).elimination]
                                       for method in EliminationMethod), key=len)
                if number == "NOBODY-WORKS":
                    assert [r.key for r in households.facts(session, household).elimination] == ["error.hh_nobody_works"]
            size = household_views.elimination_queue_size(session, SYSTEM)
    assert queued == {number for number, (_, ok) in CASES.items() if ok}
    for number, (_, ok) in CASES.items():
        assert (refused[number] == []) is ok, (number, refused[number])
        assert (number in queued) is ok, number
    assert size == len(queued)


@pytest.mark.parametrize("limit", [1, 3])
def test_the_queue_is_cut_longest_monitored_first(engine, limit):
    with clock.frozen(NOW):
        with unit_of_work(engine) as session:
            book = Ledger(session)
            for months in range(4):
                _build(book, f"Q{months}", identified=add_months(SINCE, -months))
        with read_session(engine) as session:
            listed = household_views.elimination_queue(session, SYSTEM, limit=limit)
    assert [c.number for c in listed] == [f"Q{m}" for m in (3, 2, 1, 0)][:limit]
