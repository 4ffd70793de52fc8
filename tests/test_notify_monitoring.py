"""The monitoring work's notices (issue 23 item 7): a clue nearing its clock, a 公示 that ends, a household
that reaches its elimination date, a new screening clue — each told once to the township unit that holds the
household (and the county's monitoring unit where it acts next); clues and 零变化 in the daily digest; a
source's 整改情况报告 reminded to inspectors and leaders 7 and 3 days before and on the day until it is sent."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlmodel import select

from dashboard import clock, privacy
from dashboard.errors import PermissionDenied, ValidationFailed
from dashboard.screening_reader import read_list
from dashboard.services import findings, jobs, notifications, screening
from dashboard.services.notifications import Kind
from dashboard.services.unit_of_work import unit_of_work
from dashboard.lifecycle import SYSTEM
from dashboard.vocab import CaseKind, CaseState, HouseholdState, HouseholdType, MonitorCategory, ScreenKind
from db.engine import read_session
from db.models import AuditLog, Household, HouseholdCase, HouseholdMember, Notification, Source, User
from seed import people
from tests.factories import build_household_world

TODAY = dt.date(2026, 6, 15)   # the frozen day of tests/conftest.py
VILLAGE = {"高士镇": "毛安村", "赛口镇": "红旗村"}


@pytest.fixture
def hh(engine, world):
    with unit_of_work(engine) as session:
        return build_household_world(session, world)


def add_household(engine, hh, number: str, township: str = "高士镇", *, state=HouseholdState.IDENTIFYING,
                  identified_on=None, cases=(), id_number: str | None = None,
                  household_type=HouseholdType.ORDINARY) -> int:
    """A household written straight into the tables with its cases (each a dict of HouseholdCase fields)."""
    with unit_of_work(engine) as session:
        household = Household(number=number, township=township, village_id=hh.villages[VILLAGE[township]],
                              state=state, household_type=household_type, head_name="户主",
                              identified_on=identified_on,
                              category=MonitorCategory.MARGINAL if identified_on else None)
        session.add(household)
        session.flush()
        for fields in cases:
            session.add(HouseholdCase(household_id=household.id, **({"kind": CaseKind.IDENTIFY,
                                                                     "received_on": TODAY} | fields)))
        if id_number:
            session.add(HouseholdMember(household_id=household.id, name="成员", relation="户主", is_head=True,
                                        id_cipher=privacy.seal(id_number, privacy.Field.ID),
                                        id_hash=privacy.match_key(id_number), id_masked=privacy.mask_id(id_number)))
        return household.id


def notices(engine, username: str, kind: str | None = None) -> list[Notification]:
    with read_session(engine) as session:
        user_id = session.exec(select(User.id).where(User.username == username)).one()
        statement = select(Notification).where(Notification.user_id == user_id)
        if kind:
            statement = statement.where(Notification.kind == kind)
        return list(session.exec(statement.order_by(Notification.id)).all())


def numbers(engine, username: str, kind: str) -> list[str]:
    return [n.params["number"] for n in notices(engine, username, kind)]


def on(day: dt.date):
    return clock.frozen(dt.datetime.combine(day, dt.time(1, 0)))


# --- a clue nearing its clock ----------------------------------------------------------------------------

def test_a_clue_nearing_its_clock_is_told_once_to_its_township(engine, hh):
    add_household(engine, hh, "GS-CLUE", cases=[{"state": CaseState.CLUE, "due_on": TODAY + dt.timedelta(days=3)}])
    add_household(engine, hh, "GS-COUNTY", cases=[{"state": CaseState.TOWNSHIP_APPROVED,
                                                   "due_on": TODAY + dt.timedelta(days=1)}])
    add_household(engine, hh, "SK-LATER", "赛口镇", cases=[{"state": CaseState.VERIFIED,
                                                          "due_on": TODAY + dt.timedelta(days=5)}])
    add_household(engine, hh, "GS-DECIDED", state=HouseholdState.MONITORED, identified_on=TODAY,
                  cases=[{"state": CaseState.INCLUDED, "due_on": TODAY + dt.timedelta(days=2)}])
    add_household(engine, hh, "GS-LATE", cases=[{"state": CaseState.CLUE, "due_on": TODAY - dt.timedelta(days=1)}])

    assert jobs.household_reminder_pass(engine, TODAY) == 2
    assert jobs.household_reminder_pass(engine, TODAY) == 0          # the same night again: nothing
    for officer in ("gaoshi", "township"):                             # every user of 高士镇's unit
        assert sorted(numbers(engine, officer, Kind.CLUE_DUE_SOON)) == ["GS-CLUE", "GS-COUNTY"]
    assert numbers(engine, "jiance", Kind.CLUE_DUE_SOON) == ["GS-COUNTY"]   # 县级审定 is the county's next step
    assert notices(engine, "saikou") == []
    first = next(n for n in notices(engine, "gaoshi", Kind.CLUE_DUE_SOON) if n.params["number"] == "GS-CLUE")
    assert notifications.text(first.kind, first.params, "zh") == (
        "线索即将到期：高士镇户GS-CLUE的识别时限为6月18日（还有3天），请按时完成核实和认定。")
    assert "(in 3 days)" in notifications.text(first.kind, first.params, "en")

    assert jobs.household_reminder_pass(engine, TODAY + dt.timedelta(days=1)) == 0   # told once, not every night
    assert jobs.household_reminder_pass(engine, TODAY + dt.timedelta(days=2)) == 1   # 赛口镇's clue, 3 days left
    assert numbers(engine, "saikou", Kind.CLUE_DUE_SOON) == ["SK-LATER"]
    assert len(notices(engine, "gaoshi", Kind.CLUE_DUE_SOON)) == 2


def test_a_decided_clue_is_not_told(engine, hh):
    case_due = TODAY + dt.timedelta(days=2)
    household_id = add_household(engine, hh, "GS-1", cases=[{"state": CaseState.PUBLICIZED, "due_on": case_due,
                                                            "publicity_end": TODAY - dt.timedelta(days=2)}])
    with unit_of_work(engine) as session:   # decided before the night came
        case = session.exec(select(HouseholdCase).where(HouseholdCase.household_id == household_id)).one()
        case.state = CaseState.INCLUDED
    assert jobs.household_reminder_pass(engine, TODAY) == 0
    assert notices(engine, "gaoshi") == []


# --- a 公示 that ends ----------------------------------------------------------------------------------------

def test_a_posting_that_ends_today_or_tomorrow(engine, hh):
    add_household(engine, hh, "GS-TOMORROW", cases=[{"state": CaseState.PUBLICIZED, "due_on": TODAY + dt.timedelta(days=9),
                                                     "publicity_end": TODAY + dt.timedelta(days=1)}])
    add_household(engine, hh, "GS-ELIM", state=HouseholdState.ELIMINATING, identified_on=dt.date(2025, 6, 1),
                  cases=[{"kind": CaseKind.ELIMINATE, "state": CaseState.ELIM_PUBLICIZED, "publicity_end": TODAY}])
    add_household(engine, hh, "GS-LATER", cases=[{"state": CaseState.PUBLICIZED, "due_on": TODAY + dt.timedelta(days=9),
                                                  "publicity_end": TODAY + dt.timedelta(days=2)}])
    add_household(engine, hh, "SK-PAST", "赛口镇", cases=[{"state": CaseState.TOWNSHIP_APPROVED,
                                                         "due_on": TODAY + dt.timedelta(days=9),
                                                         "publicity_end": TODAY}])   # 初审 done: nothing to tell
    assert jobs.household_reminder_pass(engine, TODAY) == 2
    assert sorted(numbers(engine, "gaoshi", Kind.PUBLICITY_ENDS)) == ["GS-ELIM", "GS-TOMORROW"]
    assert numbers(engine, "jiance", Kind.PUBLICITY_ENDS) == ["GS-ELIM"]     # 县级审核 follows the posting
    assert notices(engine, "saikou") == []
    texts = {n.params["number"]: notifications.text(n.kind, n.params, "zh")
             for n in notices(engine, "gaoshi", Kind.PUBLICITY_ENDS)}
    assert texts["GS-TOMORROW"] == "高士镇户GS-TOMORROW的识别纳入公示明天（6月16日）结束，公示期满后请按程序进行下一步。"
    assert "风险消除公示今天（6月15日）结束" in texts["GS-ELIM"]
    # the next night GS-LATER's posting ends tomorrow; GS-TOMORROW's is not told again
    assert jobs.household_reminder_pass(engine, TODAY + dt.timedelta(days=1)) == 1
    assert sorted(numbers(engine, "gaoshi", Kind.PUBLICITY_ENDS)) == ["GS-ELIM", "GS-LATER", "GS-TOMORROW"]


# --- the elimination date --------------------------------------------------------------------------------------

def test_a_household_monitored_six_months_is_told_once(engine, hh):
    monitored = {"state": HouseholdState.MONITORED}
    add_household(engine, hh, "GS-TODAY", identified_on=dt.date(2025, 12, 15), **monitored)
    add_household(engine, hh, "GS-TOMORROW", identified_on=dt.date(2025, 12, 16), **monitored)
    add_household(engine, hh, "SK-MISSED", "赛口镇", identified_on=dt.date(2025, 12, 10), **monitored)  # a night missed
    add_household(engine, hh, "GS-LONG-AGO", identified_on=dt.date(2025, 11, 1), **monitored)
    add_household(engine, hh, "GS-UNDER-WAY", state=HouseholdState.ELIMINATING, identified_on=dt.date(2025, 12, 15),
                  cases=[{"kind": CaseKind.ELIMINATE, "state": CaseState.ELIM_VERIFIED}])
    assert jobs.household_reminder_pass(engine, TODAY) == 2
    assert numbers(engine, "gaoshi", Kind.ELIMINATION_DUE) == ["GS-TODAY"]
    assert numbers(engine, "saikou", Kind.ELIMINATION_DUE) == ["SK-MISSED"]
    assert notices(engine, "jiance") == []
    notice = notices(engine, "gaoshi", Kind.ELIMINATION_DUE)[0]
    assert notifications.text(notice.kind, notice.params, "zh") == (
        "高士镇户GS-TODAY自12月15日纳入监测已满6个月，请评估是否符合风险消除条件。")
    assert jobs.household_reminder_pass(engine, TODAY) == 0
    assert jobs.household_reminder_pass(engine, TODAY + dt.timedelta(days=1)) == 1
    assert numbers(engine, "gaoshi", Kind.ELIMINATION_DUE) == ["GS-TODAY", "GS-TOMORROW"]
    assert jobs.household_reminder_pass(engine, TODAY + dt.timedelta(days=2)) == 0


# --- a new screening clue ---------------------------------------------------------------------------------------

def _id(seed: int) -> str:
    return people.resident_id(random.Random(seed), dt.date(1970, 1 + seed % 12, 1 + seed % 28), female=False)


def test_a_department_list_tells_each_township_of_its_new_clues_once(engine, hh):
    ids = {name: _id(seed) for seed, name in enumerate(("gs1", "gs2", "sk1", "gs_monitored"), start=31)}
    for name, township in (("gs1", "高士镇"), ("gs2", "高士镇"), ("sk1", "赛口镇")):
        add_household(engine, hh, name.upper(), township, state=HouseholdState.NOT_MONITORED, id_number=ids[name])
    add_household(engine, hh, "GS_MONITORED", state=HouseholdState.MONITORED, identified_on=dt.date(2026, 1, 5),
                  id_number=ids["gs_monitored"])
    rows = ["序号,姓名,证件号码,年度,个人自付金额（元）"] + [f"{i},某,{ids[name]},2026,12000" for i, name in enumerate(ids, 1)]
    raw = "\n".join(rows).encode()

    def screen() -> dict[str, int]:
        with unit_of_work(engine) as session:
            run = screening.screen(session, SYSTEM, read_list(raw, "医保名单.csv", ScreenKind.MEDICAL, TODAY),
                                   list_name="医保名单.csv")
            return screening.counts(run)

    assert screen()["new_clues"] == 3
    told = notices(engine, "gaoshi", Kind.SCREENING_CLUES)
    assert [(n.params["count"], n.params["numbers"]) for n in told] == [(2, "GS1、GS2")]
    assert notifications.text(told[0].kind, told[0].params, "zh") == (
        "部门筛查预警：医保高额自付名单“医保名单.csv”在高士镇新增2条线索（户编号GS1、GS2），请及时入户核实。")
    assert [n.params["numbers"] for n in notices(engine, "saikou", Kind.SCREENING_CLUES)] == ["SK1"]
    assert notices(engine, "saikou", Kind.SCREENING_CLUES)[0].params["household_id"] is not None  # one: a link
    assert notices(engine, "jiance", Kind.SCREENING_CLUES) == []   # the county screened it itself
    assert screen()["new_clues"] == 0                                 # the same list again: no clue, no notice
    assert len(notices(engine, "gaoshi", Kind.SCREENING_CLUES)) == 1


# --- clues and 零变化 in the daily digest ----------------------------------------------------------------------

def test_the_digest_carries_clues_to_townships_and_zero_change_to_the_county(engine, hh):
    add_household(engine, hh, "GS-LATE", cases=[{"state": CaseState.VERIFIED, "due_on": TODAY - dt.timedelta(days=2)}])
    add_household(engine, hh, "GS-NEAR", cases=[{"state": CaseState.CLUE, "due_on": TODAY + dt.timedelta(days=1)}])
    add_household(engine, hh, "SK-QUIET", "赛口镇", state=HouseholdState.MONITORED, identified_on=dt.date(2025, 9, 3))
    assert jobs.digest_pass(engine, TODAY) == 2          # 高士镇's unit and the monitoring unit
    assert jobs.digest_pass(engine, TODAY) == 0
    (gaoshi,) = notices(engine, "gaoshi", Kind.DIGEST)
    assert (gaoshi.params["clues_overdue"], gaoshi.params["clues_due_soon"]) == ([["GS-LATE", 2]],
                                                                                 [["GS-NEAR", "2026-06-16"]])
    text = notifications.text(Kind.DIGEST, gaoshi.params, "zh")
    assert "线索超期未认定1户：GS-LATE超期2天" in text and "3日内到期线索1户：GS-NEAR于6月16日到期" in text
    assert "零变化" not in text
    (county,) = notices(engine, "jiance", Kind.DIGEST)
    county_text = notifications.text(Kind.DIGEST, county.params, "zh")
    # May and the second quarter's predecessor were quiet in both townships of the ledger
    assert "零变化（2026-05）：2个乡镇无新识别、无风险消除：赛口镇、高士镇" in county_text
    assert "零变化（2026Q1）" in county_text and "线索" not in county_text
    assert "Zero change (2026-05): 2 townships" in notifications.text(Kind.DIGEST, county.params, "en")
    assert notices(engine, "saikou") == []                # no clue of its own, and 零变化 is the county's


def test_an_old_digest_without_the_clue_lines_still_reads(engine):
    params = {"unit": "高士镇", "date": "2026-06-15", "overdue_count": 0, "link": "http://x/my_work"}
    assert notifications.digest_text(params, "zh").splitlines() == ["【整改提醒】高士镇（6月15日）", "请登录处理：http://x/my_work"]


# --- a source's 整改情况报告 ------------------------------------------------------------------------------------

def set_report(engine, actor, source_id, *, due, sent=None):
    with unit_of_work(engine) as session:
        version = session.get(Source, source_id).version
        return findings.set_source_report(session, actor, source_id, version, report_due_date=due,
                                          report_sent_on=sent).version


def test_a_report_is_reminded_7_and_3_days_before_and_on_the_day_until_sent(engine, world):
    inspector = world.actors["inspector"]
    due = TODAY + dt.timedelta(days=7)
    set_report(engine, inspector, world.source_id, due=due)
    told = {}
    for offset in range(0, 8):
        day = TODAY + dt.timedelta(days=offset)
        told[offset] = jobs.report_reminder_pass(engine, day)
        assert jobs.report_reminder_pass(engine, day) == 0      # once a day at most
    assert told == {0: 1, 1: 0, 2: 0, 3: 0, 4: 1, 5: 0, 6: 0, 7: 1}
    readers = ("inspector", "inspector_jiuzhu", "leader")
    for username in readers:
        assert [n.params["days"] for n in notices(engine, username, Kind.REPORT_DUE)] == [7, 3, 0]
    for username in ("admin", "jiuzhu", "ertong", "township"):
        assert notices(engine, username, Kind.REPORT_DUE) == []
    last = notices(engine, "leader", Kind.REPORT_DUE)[-1]
    assert notifications.text(last.kind, last.params, "zh") == (
        "整改情况报告提醒：“城乡低保专项审计”的整改情况报告应于6月22日前报送（今天到期）；报送后请在“登记问题”页标记已报送。")
    assert "(in 7 days)" in notifications.text(Kind.REPORT_DUE, notices(engine, "leader", Kind.REPORT_DUE)[0].params, "en")


def test_a_report_marked_sent_is_reminded_no_more(engine, world):
    inspector = world.actors["inspector"]
    set_report(engine, inspector, world.source_id, due=TODAY + dt.timedelta(days=3))
    assert jobs.report_reminder_pass(engine, TODAY) == 1
    with on(TODAY + dt.timedelta(days=1)):
        set_report(engine, inspector, world.source_id, due=TODAY + dt.timedelta(days=3), sent=TODAY + dt.timedelta(days=1))
    assert jobs.report_reminder_pass(engine, TODAY + dt.timedelta(days=3)) == 0
    assert len(notices(engine, "leader", Kind.REPORT_DUE)) == 1
    with read_session(engine) as session:
        source = session.get(Source, world.source_id)
        assert (source.report_sent_on, source.report_sent_by_id) == (TODAY + dt.timedelta(days=1), inspector.id)
        entry = session.exec(select(AuditLog).where(AuditLog.action == "source_report")
                             .order_by(AuditLog.id.desc())).first()
        assert entry.username == "inspector" and entry.new == {"report_sent_on": "2026-06-16",
                                                               "report_sent_by_id": inspector.id}
        assert [s.id for s in findings.source_reports(session)] == [world.source_id]


def test_who_may_set_a_report_and_what_is_refused(engine, world):
    with pytest.raises(PermissionDenied):
        set_report(engine, world.actors["jiuzhu"], world.source_id, due=TODAY)
    with pytest.raises(ValidationFailed) as early:
        set_report(engine, world.actors["inspector"], world.source_id, due=dt.date(2026, 4, 30))   # received 5-01
    assert early.value.key == "error.report_due_before_received"
    with pytest.raises(ValidationFailed) as future:
        set_report(engine, world.actors["inspector"], world.source_id, due=TODAY, sent=TODAY + dt.timedelta(days=1))
    assert future.value.key == "error.report_sent_on_range"
    with read_session(engine) as session:
        assert session.get(Source, world.source_id).report_due_date is None   # nothing was written
