"""The monitoring figures: one definition for stats --json, the overview, meeting mode and snapshots."""
from __future__ import annotations

import datetime as dt
import json

from dashboard import clock
from dashboard.lifecycle import SYSTEM
from dashboard.services import household_views, queries, snapshots
from dashboard.services.household_figures import monitoring_figures
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from tests.conftest import TODAY
from tests.test_household_lifecycle import AFTER_POSTING, LATER, eliminate, hh, identify, monitored, new_clue  # noqa: F401 - fixtures and helpers the tests below name

KEYS = {"households", "persons", "by_category", "identified_this_month", "eliminated_this_month", "not_eliminated",
        "clues_overdue"}


def figures(engine, when: dt.datetime) -> dict:
    with clock.frozen(when), read_session(engine) as session:
        return monitoring_figures(session).as_dict()


def test_figures_follow_the_ledger(engine, hh):  # noqa: F811 - the fixture imported above
    first = monitored(engine, hh, number="3408260401")    # identified TODAY + 8 days, 2 people
    monitored(engine, hh, number="3408260402")
    late_clue = new_clue(engine, hh, number="3408260403")  # received TODAY, never decided
    at_identification = dt.datetime.combine(TODAY.date() + dt.timedelta(days=9), dt.time(10))
    values = figures(engine, at_identification)
    assert KEYS <= set(values)
    assert values["households"] == 2 and values["persons"] == 4 and values["by_category"]["marginal"] == 2
    assert values["persons_by_category"]["marginal"] == 4 and sum(values["persons_by_category"].values()) == 4
    assert values["by_township"][0]["persons_by_category"] == values["persons_by_category"]
    assert values["identified_this_month"] == 2 and values["not_eliminated"] == 2 and values["clues_overdue"] == 0
    assert figures(engine, dt.datetime.combine(TODAY.date() + dt.timedelta(days=16), dt.time(0)))["clues_overdue"] == 1
    eliminate(engine, hh, first)
    after = figures(engine, AFTER_POSTING)
    assert after["eliminated_this_month"] == 1 and after["not_eliminated"] == 1 and after["households"] == 2
    assert [row["township"] for row in after["by_township"]] == ["高士镇"]
    assert after["by_township"][0]["clues_overdue"] == 1 and late_clue


def test_stats_snapshot_and_meeting_carry_the_same_figures(engine, hh, world):  # noqa: F811 - the fixture imported above
    monitored(engine, hh, number="3408260501")
    now = dt.datetime.combine(TODAY.date() + dt.timedelta(days=9), dt.time(10))
    with clock.frozen(now):
        with read_session(engine) as session:
            stats = queries.stats(session)
            meeting = snapshots.meeting_figures(session, now)
        with unit_of_work(engine) as session:
            snapshot = snapshots.take_snapshot(session, world.actors["leader"], "月度调度会")
            frozen = snapshot.figures
    assert stats["monitoring"] == meeting["monitoring"] == json.loads(json.dumps(frozen["monitoring"]))
    monitored(engine, hh, number="3408260502")
    with clock.frozen(now), read_session(engine) as session:
        assert snapshots.get_snapshot(session, snapshot.id).figures["monitoring"]["households"] == 1  # frozen
        assert queries.stats(session)["monitoring"]["households"] == 2
        assert household_views.household_list(session, SYSTEM, household_views.HouseholdFilter())[1] == 2
    assert identify


def test_persons_follow_every_write_of_a_member(engine):
    """``Household.persons`` (what 监测人数 sums) is recounted by the flush hook whenever a member is added, moved
    or removed, whichever code wrote it."""
    from sqlalchemy import func, select

    from dashboard.services.unit_of_work import unit_of_work
    from db.models import Household, HouseholdMember
    from tests.household_rows import Ledger

    with unit_of_work(engine) as session:
        book = Ledger(session)
        first, second = book.household("P-1"), book.household("P-2")
        members = [book.member(first) for _ in range(3)]
        assert first.persons == 3 and second.persons == 0
        members[0].household_id = second.id
        session.delete(members[1])
        session.flush()
        assert (first.persons, second.persons) == (1, 1)
    with unit_of_work(engine) as session:
        counted = dict(session.execute(select(HouseholdMember.household_id, func.count())
                                       .group_by(HouseholdMember.household_id)).all())
        stored = dict(session.execute(select(Household.id, Household.persons)).all())
        assert stored == {household_id: counted.get(household_id, 0) for household_id in stored}
