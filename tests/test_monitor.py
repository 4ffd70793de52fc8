"""Issue 23 items 3, 4 and 6 beyond the 数据质量 page: 零变化 on the overview and in meeting mode (live and frozen),
member changes (人口变动) recorded by hand and by an import, and villages checked against the ledger."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.errors import PermissionDenied, ValidationFailed
from dashboard.figures import qualifies_for_supervision
from dashboard.services import household_figures, households, quality, snapshots
from dashboard.services.households import MemberInput
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import HouseholdState, VillageLevel, VillageStatus
from db.engine import read_session
from db.models import HouseholdMember, MemberChange, Village
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


# --- villages checked against the ledger ------------------------------------------------------------------------

def test_the_supervision_criterion_at_its_boundaries():
    assert qualifies_for_supervision(1.0, 0) and not qualifies_for_supervision(0.99, 50)
    assert qualifies_for_supervision(None, 51) and not qualifies_for_supervision(None, 50)


@pytest.fixture
def villages(engine, world, database_url, monkeypatch):
    """Three villages: one supervised whose figures agree, one supervised below the criterion, one 一般 above it."""
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        book = Ledger(session)
        agree = session.get(Village, book.village_id)
        agree.level, agree.population = VillageLevel.PROVINCIAL.value, 300   # 3 poor of 300: 1.00 %
        below = Village(county="宿松县", township="高士镇", name="黄河村", level=VillageLevel.KEY.value, population=1000)
        above = Village(county="宿松县", township="高士镇", name="光明村", level=VillageLevel.NORMAL.value, population=0)
        gone = Village(county="宿松县", township="高士镇", name="沿河村", level=VillageLevel.KEY.value,
                       status=VillageStatus.DELISTED.value, population=2000)
        session.add_all([below, above, gone])
        session.flush()
        for village, households_, size in ((agree, 1, 3), (below, 2, 4), (above, 17, 3)):
            for index in range(households_):
                book.village_id = village.id
                household = book.household(f"{village.name}{index}")
                for _ in range(size):
                    book.member(household)
        book.village_id = below.id   # persons of households not under monitoring do not count
        for state in (HouseholdState.ELIMINATED, HouseholdState.NOT_MONITORED, HouseholdState.IDENTIFYING):
            household = book.household(f"黄河村{state.value}", state=state)
            for _ in range(20):
                book.member(household)
        ids = {village.name: village.id for village in (agree, below, above, gone)}
    return world, ids


def test_village_checks_from_the_ledger(engine, villages):
    _, ids = villages
    with read_session(engine) as session:
        checks = household_figures.village_checks(session)
        wrong = [village.name for village, _ in household_figures.disagreeing_villages(session)]
    agree, below, above, gone = (checks[ids[name]] for name in ("毛安村", "黄河村", "光明村", "沿河村"))
    assert (agree.poor_persons, agree.rate_percent, agree.qualifies, agree.disagrees) == (3, 1.0, True, False)
    assert (below.households, below.poor_persons, below.rate_percent, below.qualifies) == (2, 8, 0.8, False)
    assert below.supervised and below.disagrees
    assert (above.poor_persons, above.rate_percent, above.qualifies, above.disagrees) == (51, None, True, True)
    assert not gone.supervised and not gone.disagrees   # 已摘牌: not supervised, and nothing qualifies it
    assert sorted(wrong) == ["光明村", "黄河村"]


def test_the_villages_page_flags_a_level_that_disagrees(engine, villages):
    world, _ = villages
    app = page_app("pages.villages", world.actors["leader"]).run()
    assert not app.exception, app.exception
    assert [e.label for e in app.expander] == ["挂牌等级与台账数据不符的村（2个）"]
    flagged = app.dataframe[0].value
    rows = {row["村"]: row for row in flagged.to_dict("records")}
    assert set(rows) == {"黄河村", "光明村"}
    assert rows["黄河村"]["台账未消除人口"] == 8 and rows["黄河村"]["台账发生率"] == "0.80%"
    assert rows["黄河村"]["等级与数据不符"] == "⚠ 不应挂牌" and rows["光明村"]["等级与数据不符"] == "⚠ 应挂牌"
    assert rows["光明村"]["户籍人口"] == "—" and rows["光明村"]["台账发生率"] == "未填户籍人口"
    english = page_app("pages.villages", world.actors["leader"], "en").run()
    assert not english.exception
    assert [e.label for e in english.expander] == ["Villages whose level disagrees with the ledger (2)"]
