"""The screening of a department list written in bulk: many people over several lookups (a small ``CHUNK``), two
people of one household (the first opens the clue, the second is then a signal), the same list twice adding
nothing, and for every clue what ``households.register_clue`` writes: the case on the 15-day clock, the household's
new state, its step and its audit entry; the township told once."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select

from dashboard.lifecycle import SYSTEM, HouseholdAction
from dashboard.screening_reader import read_list
from dashboard.services import screening
from dashboard.services.notifications import Kind
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CaseState, ClueSource, HouseholdState, HouseholdType, ScreenKind, UnitKind
from db.engine import read_session
from db.models import AuditLog, Household, HouseholdCase, HouseholdStep, Notification, ScreeningHit, Unit, User
from seed import people
from tests.household_rows import Ledger

TODAY = dt.date(2026, 6, 15)


def _id(seed: int) -> str:
    return people.resident_id(random.Random(seed), dt.date(1960 + seed % 40, 1 + seed % 12, 1 + seed % 28),
                               female=seed % 2 == 0)


@pytest.fixture
def ledger(engine, frozen_today):
    """Seven households not monitored (two people in the first), three monitored, one eliminated; a township unit
    with a user for 高士镇."""
    ids: dict[str, list[str]] = {}
    with unit_of_work(engine) as session:
        unit = Unit(name="高士镇", kind=UnitKind.TOWNSHIP.value)
        session.add(unit)
        session.flush()
        session.add(User(username="gaoshi", display_name="gaoshi", role="township", unit_id=unit.id, password_hash="x"))
        book = Ledger(session)
        seed = 100
        for n in range(11):
            state = (HouseholdState.NOT_MONITORED if n < 7 else HouseholdState.MONITORED if n < 10
                     else HouseholdState.ELIMINATED)
            household = book.household(f"H{n:02d}", state=state, household_type=HouseholdType.ORDINARY,
                                       identified_on=None if n < 7 else dt.date(2025, 12, 1))
            ids[household.number] = []
            for _ in range(2 if n == 0 else 1):
                seed += 1
                ids[household.number].append(_id(seed))
                book.member(household, id_number=ids[household.number][-1])
    return People(ids)


class People(dict):
    """The IDs of the ledger's people by household; shown masked (a failing test prints its fixtures)."""

    def __repr__(self) -> str:
        return f"<{sum(map(len, self.values()))} people in {len(self)} households>"


def medical(ids: dict[str, list[str]]) -> bytes:
    lines = ["序号,姓名,证件号码,年度,个人自付金额（元）"]
    everyone = [number for numbers in ids.values() for number in numbers] + [_id(s) for s in range(900, 905)]
    for i, number in enumerate(everyone, 1):
        lines.append(f"{i},某,{number},2026,{12000 if i % 6 else 100}")   # every sixth below the line
    return "\n".join(lines).encode()


def screen(engine, raw: bytes) -> dict[str, int]:
    listed = read_list(raw, "医保名单.csv", ScreenKind.MEDICAL, TODAY)
    with unit_of_work(engine) as session:
        return screening.counts(screening.screen(session, SYSTEM, listed, list_name="医保名单.csv"))


def test_a_list_over_several_lookups_then_again_adds_nothing(engine, ledger, monkeypatch):
    monkeypatch.setattr(screening, "CHUNK", 2)
    raw = medical(ledger)
    first = screen(engine, raw)
    # 12 people found (17 rows: 5 strangers); rows 6 and 12 below the line (H04 and H10)
    assert first == {"rows": 17, "matched": 12, "unmatched": 5, "below_threshold": 2, "new_clues": 6, "signals": 4,
                     "already_seen": 0}
    with read_session(engine) as session:
        cases = session.execute(select(HouseholdCase, Household.number)
                                .join(Household, Household.id == HouseholdCase.household_id)).all()
        assert sorted(number for _, number in cases) == ["H00", "H01", "H02", "H03", "H05", "H06"]
        for case, _ in cases:
            assert (case.state, case.source, case.received_on, case.due_on) == (
                CaseState.CLUE, ClueSource.DEPARTMENT_ALERT, TODAY, TODAY + dt.timedelta(days=15))
        states = dict(session.execute(select(Household.number, Household.state)).all())
        assert {states[n] for _, n in cases} == {HouseholdState.IDENTIFYING}
        assert states["H04"] == HouseholdState.NOT_MONITORED and states["H10"] == HouseholdState.ELIMINATED
        steps = session.execute(select(HouseholdStep.action, HouseholdStep.case_id)).all()
        assert sorted(case_id for action, case_id in steps if action == HouseholdAction.RECEIVE_CLUE) == sorted(
            case.id for case, _ in cases)
        assert sum(action == screening.SIGNAL_STEP for action, _ in steps) == 4   # H00's second person, H07–H09
        audited = session.execute(select(AuditLog.entity_id, AuditLog.new).where(
            AuditLog.action == HouseholdAction.RECEIVE_CLUE)).all()
        assert sorted(entity_id for entity_id, _ in audited) == sorted(case.id for case, _ in cases)
        assert all(new["source"] == ClueSource.DEPARTMENT_ALERT for _, new in audited)
        told = session.execute(select(Notification.params).where(Notification.kind == Kind.SCREENING_CLUES)).scalars().all()
        assert len(told) == 1 and told[0]["count"] == 6
    again = screen(engine, raw)
    assert again == {"rows": 17, "matched": 12, "unmatched": 5, "below_threshold": 2, "new_clues": 0, "signals": 0,
                     "already_seen": 10}
    with read_session(engine) as session:
        assert session.execute(select(func.count()).select_from(HouseholdCase)).scalar_one() == 6
        assert session.execute(select(func.count()).select_from(ScreeningHit)).scalar_one() == 10
        assert session.execute(select(func.count()).select_from(Notification).where(
            Notification.kind == Kind.SCREENING_CLUES)).scalar_one() == 1
