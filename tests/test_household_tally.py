"""The monitoring figures' roll-up (``household_tally``): equal to a direct count of the base tables after every
kind of write (ORM, a bulk Core write that names its townships or not, the synthetic generator, a restore), on any
day (a month's and a year's boundary, a clue's due day), and checked and repaired by ``stats --verify/--repair``."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import and_, case, func, insert, or_, update
from sqlmodel import select

from dashboard import clock
from dashboard.lights import clue_overdue
from dashboard.services import household_figures
from dashboard.services.household_figures import MONITORING_STATES, NOT_ELIMINATED_STATES, monitoring_figures
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CaseState, HouseholdState, MonitorCategory
from db.engine import read_session
from db.models import Household, HouseholdCase, HouseholdTally
from tests.household_rows import Ledger
from tests.test_cli import cli_env, run  # noqa: F401 - a fixture: DATABASE_URL for the command line


def direct(session, today: dt.date) -> dict:
    """The figures by a scan of the base tables: what the figures were before the roll-up (the reference)."""
    month, year = today.replace(day=1), today.replace(month=1, day=1)
    states = [s.value for s in MONITORING_STATES]

    def n(condition, value=1) -> object:
        return func.coalesce(func.sum(case((condition, value), else_=0)), 0)

    row = session.execute(select(
        func.count(), func.coalesce(func.sum(Household.persons), 0),
        *[n(Household.category == c.value) for c in MonitorCategory],
        *[n(Household.category == c.value, Household.persons) for c in MonitorCategory],
        n(Household.identified_on >= month), n(Household.eliminated_on >= month),
        n(Household.identified_on >= year), n(Household.eliminated_on >= year),
        n(Household.state.in_([s.value for s in NOT_ELIMINATED_STATES]))).where(Household.state.in_(states))).one()
    overdue = session.execute(select(func.count()).select_from(HouseholdCase).join(
        Household, Household.id == HouseholdCase.household_id).where(clue_overdue(today))).scalar_one()
    values = [int(v) for v in row]
    names = [c.value for c in MonitorCategory]
    rest = 2 + 2 * len(names)
    return {"households": values[0], "persons": values[1],
            "by_category": dict(zip(names, values[2:2 + len(names)])),
            "persons_by_category": dict(zip(names, values[2 + len(names):rest])),
            "identified_this_month": values[rest], "eliminated_this_month": values[rest + 1],
            "identified_this_year": values[rest + 2], "eliminated_this_year": values[rest + 3],
            "not_eliminated": values[rest + 4], "clues_overdue": overdue}


def assert_exact(engine, *days: dt.date) -> None:
    with read_session(engine) as session:
        assert household_figures.verify(session) == []
        for day in days:
            shown = monitoring_figures(session, dt.datetime.combine(day, dt.time(10))).as_dict()
            shown.pop("by_township")
            assert shown == direct(session, day), day


@pytest.fixture
def book(engine, frozen_today):
    with unit_of_work(engine) as session:
        Ledger(session)
    return engine


def test_exact_after_orm_writes_and_across_boundaries(book):
    engine = book
    with unit_of_work(engine) as session:
        ledger = Ledger(session, village=False)
        a = ledger.household("A", identified_on=dt.date(2026, 6, 30))
        ledger.member(a)
        ledger.member(a)
        ledger.household("B", township="赛口镇", identified_on=dt.date(2025, 12, 31),
                         category=MonitorCategory.MARGINAL)
        ledger.household("C", state=HouseholdState.ELIMINATED, identified_on=dt.date(2025, 7, 1),
                         eliminated_on=dt.date(2026, 6, 30))
        clue = ledger.household("D", state=HouseholdState.IDENTIFYING, identified_on=None, category=None)
        ledger.case(clue, received_on=dt.date(2026, 6, 15), due_on=dt.date(2026, 6, 30))
    days = (dt.date(2026, 6, 29), dt.date(2026, 6, 30), dt.date(2026, 7, 1), dt.date(2025, 12, 31),
            dt.date(2026, 1, 1))
    assert_exact(engine, *days)
    with read_session(engine) as session:
        june = monitoring_figures(session, dt.datetime(2026, 6, 30, 10))
        july = monitoring_figures(session, dt.datetime(2026, 7, 1, 10))
    assert (june.identified_this_month, july.identified_this_month) == (1, 0)      # the month turned
    assert (june.eliminated_this_month, july.eliminated_this_month) == (1, 0)
    assert (june.clues_overdue, july.clues_overdue) == (0, 1)                      # due the 30th: late on the 1st
    assert june.persons == 2
    with unit_of_work(engine) as session:   # moved, eliminated, decided, removed: each by the ORM
        moved = session.exec(select(Household).where(Household.number == "A")).one()
        moved.township = "赛口镇"
        gone = session.exec(select(Household).where(Household.number == "B")).one()
        gone.state, gone.eliminated_on = HouseholdState.ELIMINATED.value, dt.date(2026, 6, 20)
        decided = session.exec(select(HouseholdCase)).one()
        decided.state = CaseState.INCLUDED.value
        session.delete(session.exec(select(Household).where(Household.number == "C")).one())
    assert_exact(engine, *days)
    with read_session(engine) as session:
        assert {row["township"] for row in monitoring_figures(session).by_township} == {"赛口镇"}


def test_exact_after_bulk_core_writes(book):
    """A Core statement that writes households outside a flush: every township counted again, or only those
    the writer named with ``touch``."""
    engine = book
    with unit_of_work(engine) as session:
        village_id = Ledger(session, village=False).village_id
        session.execute(insert(Household), [
            {"number": f"BULK{i}", "township": "甲镇" if i % 2 else "乙镇", "village_id": village_id,
             "state": HouseholdState.MONITORED.value, "category": MonitorCategory.SUDDEN.value,
             "identified_on": dt.date(2026, 6, 1), "persons": 3, "flags": []} for i in range(10)])
    assert_exact(engine, dt.date(2026, 6, 15))
    with unit_of_work(engine) as session:
        session.connection().execute(update(Household).where(Household.township == "甲镇")
                                     .values(state=HouseholdState.ELIMINATED.value, eliminated_on=dt.date(2026, 6, 2)))
        household_figures.touch(session, ["甲镇"])
    assert_exact(engine, dt.date(2026, 6, 15))
    with read_session(engine) as session:
        assert monitoring_figures(session).eliminated_this_month == 5


def test_a_township_recount_leaves_the_others(book):
    engine = book
    with unit_of_work(engine) as session:
        ledger = Ledger(session, village=False)
        ledger.household("X", township="甲镇")
        ledger.household("Y", township="乙镇")
    with unit_of_work(engine) as session:
        session.execute(update(HouseholdTally).where(HouseholdTally.township == "乙镇").values(n=99))
        household_figures.recount(session, ["甲镇"])
        assert session.exec(select(HouseholdTally.n).where(HouseholdTally.township == "乙镇",
                                                           HouseholdTally.kind == "state")).one() == 99
        household_figures.recount(session, ["乙镇"])
    assert_exact(engine, dt.date(2026, 6, 15))


@pytest.mark.usefixtures("cli_env")
def test_stats_verify_finds_a_wrong_row_and_repair_mends_it(book, capsys):
    engine = book
    with unit_of_work(engine) as session:
        Ledger(session, village=False).household("X")
    with engine.begin() as connection:   # below the unit of work: nothing settles this
        connection.execute(update(HouseholdTally).where(and_(HouseholdTally.kind == "state",
                                                             or_(HouseholdTally.n > 0))).values(n=7))
    assert run("stats", "--verify") == 1
    assert "household_tally" in capsys.readouterr().out
    assert run("stats", "--repair") == 0
    assert_exact(engine, dt.date(2026, 6, 15))


def test_exact_after_the_synthetic_generator(database_url, engine):
    from seed.synthetic import SyntheticSize, generate

    with clock.frozen(dt.datetime(2026, 11, 23, 10)):
        generate(engine, SyntheticSize(findings=0, households=300), today=dt.date(2026, 11, 23))
    assert_exact(engine, dt.date(2026, 11, 23), dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    with read_session(engine) as session:
        assert monitoring_figures(session, dt.datetime(2026, 11, 23, 10)).households > 0
