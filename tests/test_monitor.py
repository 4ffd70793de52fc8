"""Issue 23 items 3, 4 and 6 beyond the 数据质量 page: 零变化 on the overview and in meeting mode (live and frozen),
and member changes (人口变动) recorded by hand and by an import."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.errors import PermissionDenied, ValidationFailed
from dashboard.services import households, quality, snapshots
from dashboard.services.households import MemberInput
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import HouseholdMember, MemberChange
from seed import people
from tests.apptest_support import page_app, point_app_at, texts
from tests.household_files import export, home, person
from tests.household_rows import Ledger
from tests.test_household_import import do_import, hh  # noqa: F401 - hh is a fixture

TODAY = dt.date(2026, 6, 15)   # the frozen day of tests/conftest.py


# --- 零变化 on the overview and in meeting mode ------------------------------------------------------------------

@pytest.fixture
def quiet(engine, world, database_url, monkeypatch):
    """甲镇 changed in May, 乙镇 only before the quarter: 乙镇 is 零变化 last month and last quarter."""
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        book = Ledger(session)
        book.household("A1", township="甲镇", county="宿松县", identified_on=dt.date(2026, 5, 3))
        book.household("B1", township="乙镇", county="太湖县", identified_on=dt.date(2025, 10, 3))
    return world


def test_zero_change_figures_name_townships_and_counties(engine, quiet):
    with read_session(engine) as session:
        month, quarter = quality.zero_change_figures(session, TODAY)
    assert (month["kind"], month["period"], month["townships"]) == ("month", "2026-05", ["乙镇"])
    assert (quarter["period"], quarter["townships"]) == ("2026Q1", ["乙镇", "甲镇"])   # 甲镇 changed in May only
    assert month["counties"] == ["太湖县"] and quarter["counties"] == sorted(["太湖县", "宿松县"])


def test_the_overview_lists_zero_change(engine, quiet):
    app = page_app("pages.overview", quiet.actors["leader"]).run()
    assert not app.exception, app.exception
    assert "零变化乡镇和县" in texts(app)
    frame = next(f.value for f in app.dataframe if "零变化" in f.value.columns)
    assert ["月度 2026-05", "乡镇", "乙镇"] in frame.values.tolist()
    assert ["月度 2026-05", "县", "太湖县"] in frame.values.tolist()
    english = page_app("pages.overview", quiet.actors["leader"], "en").run()
    assert not english.exception and "Zero change" in texts(english)


def test_meeting_mode_shows_zero_change_live_and_frozen(engine, quiet):
    now = clock.now()
    with unit_of_work(engine) as session:
        snapshot = snapshots.take_snapshot(session, quiet.actors["leader"], "月度调度会")
    with unit_of_work(engine) as session:   # 乙镇 identifies a household in May, after the meeting
        Ledger(session, village=False).household("B2", township="乙镇", identified_on=dt.date(2026, 5, 20))
    with read_session(engine) as session:
        live = snapshots.meeting_figures(session, now)["zero_change"]
        frozen = snapshots.get_snapshot(session, snapshot.id).figures["zero_change"]
    assert live[0]["townships"] == [] and frozen[0]["townships"] == ["乙镇"]
    app = page_app("pages.meeting", quiet.actors["leader"]).run()
    assert not app.exception, app.exception
    assert "零变化乡镇和县" in texts(app)
    app.selectbox(key="meeting_snapshot").set_value(snapshot.id).run()
    assert not app.exception, app.exception
    frame = next(f.value for f in app.dataframe if "零变化" in f.value.columns)
    assert ["月度 2026-05", "乡镇", "乙镇"] in frame.values.tolist()


# --- 人口变动: by hand and by an import -------------------------------------------------------------------------

def _household(engine, hh, number: str = "340826101001") -> int:  # noqa: F811 - hh is the fixture
    do_import(engine, export([home(number, 1)]))
    with read_session(engine) as session:
        from db.models import Household
        return session.exec(select(Household.id).where(Household.number == number)).one()


def test_a_township_officer_records_a_birth_and_a_death(engine, hh):  # noqa: F811 - hh is the fixture
    household_id = _household(engine, hh)
    officer = hh.actors["gaoshi"]
    rng = random.Random(3)
    born = TODAY - dt.timedelta(days=3)
    baby = MemberInput(name="新生儿", relation="之孙子", birth_date=born, id_number=people.resident_id(rng, born, female=False))
    with unit_of_work(engine) as session:
        households.record_member_change(session, officer, household_id, reason="birth", happened_on=born,
                                        new_member=baby)
    with read_session(engine) as session:
        members = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id)).all()
        head = next(m for m in members if m.is_head)
        son = next(m for m in members if m.relation == "之子")
    assert len(members) == 4 and {m.name for m in members} >= {"新生儿"}
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as refused:
        households.record_member_change(session, officer, household_id, reason="death", happened_on=TODAY,
                                        member_id=head.id)
    assert refused.value.key == "error.hh_member_head_leaves"
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):   # a reason of joining, for a leaver
        households.record_member_change(session, officer, household_id, reason="birth", happened_on=TODAY,
                                        member_id=son.id)
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):   # another township's officer
        households.record_member_change(session, hh.actors["saikou"], household_id, reason="death",
                                        happened_on=TODAY, member_id=son.id)
    with unit_of_work(engine) as session:
        households.record_member_change(session, officer, household_id, reason="death", happened_on=TODAY,
                                        member_id=son.id)
    with read_session(engine) as session:
        changes = session.exec(select(MemberChange.reason, MemberChange.happened_on).order_by(MemberChange.id)).all()
        assert session.get(HouseholdMember, son.id) is None
    assert changes == [("birth", born), ("death", TODAY)]


def test_the_household_page_records_a_death(engine, hh, database_url, monkeypatch):  # noqa: F811 - hh is the fixture
    point_app_at(monkeypatch, database_url)
    household_id = _household(engine, hh)
    app = page_app("pages.household", hh.actors["gaoshi"], household_id=household_id).run()
    assert not app.exception, app.exception
    app.selectbox(key="mc_reason").set_value("death").run()
    assert not app.exception, app.exception
    next(b for b in app.button if b.form_id == "member_change").click().run()
    assert not app.exception, app.exception
    with read_session(engine) as session:
        change = session.exec(select(MemberChange)).one()
        remaining = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id)).all()
    assert (change.reason, change.happened_on, len(remaining)) == ("death", TODAY, 2)
    english = page_app("pages.household", hh.actors["gaoshi"], "en", household_id=household_id).run()
    assert not english.exception and "member change" in [e.label for e in english.expander]


def test_an_import_records_who_joined_and_who_left(engine, hh):  # noqa: F811 - hh is the fixture
    """A first import records no change; a re-import does: a person born after the household entered the ledger
    is a birth, a person with a 变动原因 is recorded with it, and one listed as 死亡 is no longer a member."""
    homes = [home("340826101001", 1), home("340826101002", 2)]
    with clock.frozen(dt.datetime(2026, 5, 20, 9)):   # the households entered the ledger in May
        do_import(engine, export(homes, changes=True))
    with read_session(engine) as session:
        assert session.exec(select(MemberChange)).all() == []
    rng = random.Random(11)
    baby = person(rng, "之孙子", age=0)
    baby.birth = (TODAY - dt.timedelta(days=1)).strftime("%Y%m%d")
    homes[0].members.append(baby)
    bride = person(rng, "之儿媳", age=25)
    bride.change, bride.change_on = "婚入", "20260610"
    homes[0].members.append(bride)
    homes[1].members[2].change, homes[1].members[2].change_on = "死亡", "20260602"
    _, summary = do_import(engine, export(homes, changes=True))
    assert summary.updated == 2
    with read_session(engine) as session:
        changes = sorted(session.exec(select(MemberChange.reason, MemberChange.happened_on)).all())
        left = homes[1].members[2].name
        assert not session.exec(select(HouseholdMember).where(HouseholdMember.name == left)).all()
    assert changes == [("birth", TODAY - dt.timedelta(days=1)), ("death", dt.date(2026, 6, 2)),
                       ("marriage_in", dt.date(2026, 6, 10))]
    with read_session(engine) as session:   # under monitoring (identified 2025-12): counted in June
        assert quality.natural_changes(session, quality.month_period("2026-06")) == {"高士镇": (2, 1)}


def test_an_unknown_reason_refuses_the_file(engine, hh):  # noqa: F811 - hh is the fixture
    homes = [home("340826101001", 1)]
    homes[0].members[2].change = "出走"
    preview, summary = do_import(engine, export(homes, changes=True))
    assert summary is None and [e.key for e in preview.parsed.errors] == ["error.hh_import_unknown"]
