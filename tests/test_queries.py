"""The read side (dashboard.services.queries) on a small hand-built ledger where every number is known.

The ledger, as seen on Monday 2026-06-15 10:00 (``frozen_today``); stale after 30 days without
progress, so the stale cutoff is 2026-05-16 10:00; due soon up to 2026-06-22.

    serial  key  logged       lead unit  source  category  place          state / history                      light
    0001    K    05-01 09:00  高士镇     回头看   认定      -              open, deadline 12-31, never touched   yellow (stale)
    0002    A    05-10 09:00  救助办     审计     档案      高士镇 毛安村   open, deadline 06-01                  red (14 days overdue)
    0003    B    06-01 09:00  救助办     审计     档案      高士镇 毛安村   in progress 06-10, deadline 06-20     yellow (due soon)
    0004    C    06-01 09:00  儿童股     审计     认定      赛口镇 红旗村   in progress 06-12, co-unit 救助办     green
    0005    D    06-01 09:00  儿童股     审计     认定      -              closed 06-12, deadline 07-31         closed (on time)
    0006    E    06-01 09:00  救助办     审计     认定      -              closed 06-10, deadline 06-05         closed (late)
    0007    F    06-01 09:00  儿童股     审计     认定      -              cancelled 06-02                      cancelled
    0008    G    06-01 09:00  儿童股     审计     认定      高士镇          pending review, deadline 06-10      red (5 days overdue)
    0009    H    06-01 09:00  救助办     审计     认定      -              long-term, set ongoing 06-06         green
    0010    J    06-01 09:00  救助办     回头看   认定      -              deadline 06-30 extended to 09-30     green
    0011    I    06-13 09:00  救助办     审计     认定      -              repeat of D, deadline 08-31          green

Tests that only read use one ledger per backend for the module (``ledger``); tests that change data
build their own (``fresh_ledger``, on the per-test ``engine``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

import pytest
from sqlmodel import select

from sqlalchemy import Engine, text

from dashboard.lifecycle import SYSTEM
from dashboard import clock, passwords
from dashboard import lights
from dashboard.services import admin, jobs, letters, queries
from dashboard.services import findings as svc
from dashboard.services.queries import LedgerFilter
from dashboard.vocab import RectType, SourceKind
from db.engine import make_engine, migrate, read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import Finding, Measure
from tests.conftest import BACKENDS, TEST_DATABASE_URL, TODAY
from tests.factories import build_world, evidence, finding_input


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute)


@dataclass
class Ledger:
    engine: Engine
    world: object
    ids: dict[str, int]
    serials: dict[str, str]
    units: dict[str, int]
    source2_id: int
    category2_id: int
    village_ids: dict[str, int]

    def keys_of(self, rows) -> list[str]:
        by_id = {finding_id: key for key, finding_id in self.ids.items()}
        return [by_id[row["id"]] for row in rows]


def _log(session, world, when, **overrides):
    with clock.frozen(when):
        finding = svc.log_finding(session, world.actors["inspector"], finding_input(world, **overrides))
        session.flush()
    return finding


def _progress(session, actor, finding_id, when, **kwargs):
    with clock.frozen(when):
        svc.report_progress(session, actor, finding_id, done_text="已开展入户核查", percent=50, **kwargs)
        session.flush()


def _apply(session, actor, finding_id, when):
    """Progress with a unique evidence file, every measure ticked, and 申请销号, all at ``when``."""
    with clock.frozen(when):
        svc.report_progress(session, actor, finding_id, done_text="整改措施已落实", percent=100,
                            files=[evidence(f"佐证{finding_id}.pdf", f"%PDF-1.4 proof {finding_id}".encode())])
        for measure in session.exec(select(Measure).where(Measure.finding_id == finding_id)).all():
            svc.tick_measure(session, actor, measure.id, None)
        svc.apply_closure(session, actor, finding_id, None, summary="已整改到位")
        session.flush()


def _as(when, fn, session, *args, **kwargs):
    with clock.frozen(when):
        result = fn(session, *args, **kwargs)
        session.flush()
    return result


def build_ledger(engine) -> Ledger:
    with unit_of_work(engine) as session:
        world = build_world(session)
        w = world
        jiuzhu, ertong, inspector = w.actors["jiuzhu"], w.actors["ertong"], w.actors["inspector"]
        jz, et, gs = w.units["社会救助办"], w.units["儿童福利和社会事务股"], w.units["高士镇"]
        source2 = svc.create_source(session, inspector, kind=SourceKind.REVIEW, title="全市民政重点工作回头看",
                                    received_date=dt.date(2026, 4, 20), issuing_body="市民政局")
        category2 = admin.create_category(session, SYSTEM, "档案资料")
        maoan = admin.create_village(session, SYSTEM, county="本县", township="高士镇", name="毛安村",
                                     level="provincial")
        hongqi = admin.create_village(session, SYSTEM, county="本县", township="赛口镇", name="红旗村", level="key")
        session.flush()

        ids: dict[str, int] = {}
        ids["K"] = _log(session, w, at(5, 1), source_id=source2.id, lead_unit_id=gs,
                        description="长岭村监测户帮扶措施未落实", deadline=dt.date(2026, 12, 31)).id
        ids["A"] = _log(session, w, at(5, 10), lead_unit_id=jz, category_id=category2.id, village_id=maoan.id,
                        description="毛安村低保档案缺少家庭收入核查表", responsible_person="张某某",
                        deadline=dt.date(2026, 6, 1)).id
        ids["B"] = _log(session, w, at(6, 1), lead_unit_id=jz, category_id=category2.id, village_id=maoan.id,
                        description="毛安村低保公示不到位", deadline=dt.date(2026, 6, 20)).id
        ids["C"] = _log(session, w, at(6, 1), lead_unit_id=et, co_unit_ids=[jz], village_id=hongqi.id,
                        description="红旗村留守儿童未建立档案", responsible_person="李某某",
                        deadline=dt.date(2026, 12, 31)).id
        ids["D"] = _log(session, w, at(6, 1), lead_unit_id=et, description="孤儿基本生活费发放不及时",
                        deadline=dt.date(2026, 7, 31)).id
        ids["E"] = _log(session, w, at(6, 1), lead_unit_id=jz, description="临时救助审批超时限",
                        deadline=dt.date(2026, 6, 5)).id
        ids["F"] = _log(session, w, at(6, 1), lead_unit_id=et, description="误录问题",
                        deadline=dt.date(2026, 6, 1)).id
        ids["G"] = _log(session, w, at(6, 1), lead_unit_id=et, township="高士镇",
                        description="高士镇困境儿童信息未录入系统", deadline=dt.date(2026, 6, 10)).id
        ids["H"] = _log(session, w, at(6, 1), lead_unit_id=jz, rect_type=RectType.LONG_TERM, deadline=None,
                        description="低保动态管理长效机制").id
        ids["J"] = _log(session, w, at(6, 1), source_id=source2.id, lead_unit_id=jz,
                        description="低保信息系统数据与台账不一致", deadline=dt.date(2026, 6, 30)).id

        _progress(session, jiuzhu, ids["B"], at(6, 10))
        _progress(session, ertong, ids["C"], at(6, 12))
        _apply(session, ertong, ids["D"], at(6, 11))
        _as(at(6, 12, 10), svc.close, session, inspector, ids["D"], None, "核查属实")
        _apply(session, jiuzhu, ids["E"], at(6, 9))
        _as(at(6, 10, 10), svc.close, session, inspector, ids["E"], None, "核查属实")
        _as(at(6, 2), svc.cancel, session, w.actors["admin"], ids["F"], None, "重复录入")
        _apply(session, ertong, ids["G"], at(6, 8))
        _apply(session, jiuzhu, ids["H"], at(6, 5))
        _as(at(6, 6), svc.set_ongoing, session, inspector, ids["H"], None, "阶段性成果认可")
        request = _as(at(6, 2), svc.request_extension, session, jiuzhu, ids["J"],
                      asked_deadline=dt.date(2026, 9, 30), reason="等待省级系统数据比对")
        _as(at(6, 3), svc.decide_extension, session, inspector, request.id, approve=True)
        ids["I"] = _log(session, w, at(6, 13), lead_unit_id=jz, repeat_of_id=ids["D"],
                        description="孤儿基本生活费再次发放不及时", deadline=dt.date(2026, 8, 31)).id

        serials = {key: session.get(Finding, finding_id).serial for key, finding_id in ids.items()}
        return Ledger(engine=engine, world=w, ids=ids, serials=serials, units={"jz": jz, "et": et, "gs": gs},
                      source2_id=source2.id, category2_id=category2.id,
                      village_ids={"毛安村": maoan.id, "红旗村": hongqi.id})


@pytest.fixture(scope="module", params=BACKENDS)
def shared_ledger(request, tmp_path_factory):
    """One ledger per backend for the tests that only read it (building it for each test is slow)."""
    schema = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "COST", passwords.TEST_COST)
        if request.param == "sqlite":
            engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('queries') / 'ledger.db'}")
        else:
            schema = f"t_{uuid.uuid4().hex[:12]}"
            admin_engine = make_engine(TEST_DATABASE_URL)
            with admin_engine.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = make_engine(TEST_DATABASE_URL, schema=schema)
        migrate(engine)
        with clock.frozen(TODAY):
            ledger = build_ledger(engine)
    yield ledger
    engine.dispose()
    if schema:
        with admin_engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@pytest.fixture
def ledger(shared_ledger, frozen_today) -> Ledger:
    """The shared, read-only ledger; tests that change data use ``fresh_ledger``."""
    return shared_ledger


@pytest.fixture
def fresh_ledger(engine, frozen_today) -> Ledger:
    return build_ledger(engine)


def test_ledger_serials_follow_logging_order(ledger):
    order = ["K", "A", "B", "C", "D", "E", "F", "G", "H", "J", "I"]
    assert [ledger.serials[key] for key in order] == [f"ZG-2026-{n:04d}" for n in range(1, 12)]


# --- figures ---------------------------------------------------------------------------------------

EXPECTED_FIGURES = {
    "total": 11, "open": 4, "in_progress": 2, "pending_review": 1, "ongoing": 1, "closed": 2, "cancelled": 1,
    "overdue": 2, "closed_on_time": 1, "extended": 1, "repeats": 1, "stale": 2,
    "red": 2, "yellow": 2, "green": 4,
    "completion_rate": 0.2,   # 2 closed / (11 − 1 cancelled)
    "on_time_rate": 0.5,      # 1 of the 2 closed was closed by its deadline
    "outstanding": 7,         # open + in progress + pending review
    "effective": 10,          # 有效问题: total − cancelled
    "working": 6,             # open + in progress
}


def test_figures_every_key(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        result = queries.figures(session).as_dict()
    assert result == EXPECTED_FIGURES
    states = ("open", "in_progress", "pending_review", "ongoing", "closed", "cancelled")
    assert sum(result[state] for state in states) == result["total"]
    assert result["red"] + result["yellow"] + result["green"] + result["closed"] + result["cancelled"] == 11


def test_figures_for_a_department_count_only_its_findings(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        # 救助办 leads A B E H I J and co-operates on C
        result = queries.figures(session, ledger.world.actors["jiuzhu"]).as_dict()
        assert result["total"] == 7
        assert (result["open"], result["in_progress"], result["ongoing"], result["closed"]) == (3, 2, 1, 1)
        assert result["completion_rate"] == 1 / 7  # full precision: rounded once, where it is printed
        assert (result["red"], result["yellow"], result["green"]) == (1, 1, 4)
        # 儿童股 leads C D F G
        result = queries.figures(session, ledger.world.actors["ertong"]).as_dict()
        assert (result["total"], result["closed"], result["cancelled"], result["completion_rate"]) == (4, 1, 1, 1 / 3)


def test_figures_move_with_the_clock(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        later = queries.figures(session, now=at(7, 1, 10)).as_dict()
    # on 07-01: B (06-20) is overdue too; J is due 09-30 and green; C, H, I silent for > 30 days? no (C 06-12)
    assert later["overdue"] == 3
    assert later["red"] == 3


def test_figures_where_clause(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        result = queries.figures(session, where=queries.involves_unit(ledger.units["gs"])).as_dict()
    assert result["total"] == 1 and result["open"] == 1 and result["stale"] == 1 and result["yellow"] == 1


# --- roll-ups --------------------------------------------------------------------------------------

def _pick(rows, *keys):
    return [tuple(row[key] for key in keys) for row in rows]


def test_rollup_by_unit_with_ranks(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.rollup(session, "unit")
    assert _pick(rows, "rank", "name", "total", "closed", "cancelled", "overdue", "completion_rate", "red") == [
        (1, "儿童福利和社会事务股", 4, 1, 1, 1, 1 / 3, 1),
        (2, "社会救助办", 6, 1, 0, 1, 1 / 6, 1),
        (3, "高士镇", 1, 0, 0, 0, 0.0, 0),
    ]
    assert [row["id"] for row in rows] == [ledger.units["et"], ledger.units["jz"], ledger.units["gs"]]
    assert sum(row["total"] for row in rows) == 11
    jz = rows[1]
    assert (jz["open"], jz["in_progress"], jz["ongoing"], jz["yellow"], jz["green"], jz["extended"],
            jz["repeats"], jz["stale"]) == (3, 1, 1, 1, 3, 1, 1, 1)


def test_rollup_by_source(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.rollup(session, "source")
    assert _pick(rows, "rank", "name", "total", "closed", "overdue", "completion_rate") == [
        (1, "城乡低保专项审计", 9, 2, 2, 0.25),
        (2, "全市民政重点工作回头看", 2, 0, 0, 0.0),
    ]
    assert rows[1]["id"] == ledger.source2_id and rows[1]["extended"] == 1


def test_rollup_by_category(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.rollup(session, "category")
    assert _pick(rows, "rank", "name", "total", "closed", "cancelled", "overdue", "completion_rate") == [
        (1, "对象认定不精准", 9, 2, 1, 1, 0.25),
        (2, "档案资料", 2, 0, 0, 1, 0.0),
    ]
    assert rows[1]["id"] == ledger.category2_id


def test_rollup_by_village_ties_broken_by_overdue(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.rollup(session, "village")
    # both at 0% completion: the one without overdue items ranks first
    assert _pick(rows, "rank", "name", "township", "total", "overdue", "red", "yellow", "green") == [
        (1, "红旗村", "赛口镇", 1, 0, 0, 0, 1),
        (2, "毛安村", "高士镇", 2, 1, 1, 1, 0),
    ]
    assert [row["id"] for row in rows] == [ledger.village_ids["红旗村"], ledger.village_ids["毛安村"]]


def test_rollup_by_township(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.rollup(session, "township")
    # G names 高士镇 without a village; findings without a township are left out
    assert _pick(rows, "rank", "name", "total", "overdue", "red", "completion_rate") == [
        (1, "赛口镇", 1, 0, 0, 0.0),
        (2, "高士镇", 3, 2, 2, 0.0),
    ]
    assert "id" not in rows[0]


def test_rollup_respects_visibility(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.rollup(session, "unit", ledger.world.actors["jiuzhu"])
    # 救助办 sees its six and C, which 儿童股 leads
    assert _pick(rows, "name", "total") == [("社会救助办", 6), ("儿童福利和社会事务股", 1)]


# --- trend -----------------------------------------------------------------------------------------

def test_weekly_trend_new_closed_and_burn_down(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        trend = queries.weekly_trend(session, weeks=4)
    # A and K were logged before 05-25 and are still open; F (cancelled) is never counted
    assert trend == [
        {"week": dt.date(2026, 5, 25), "new": 0, "closed": 0, "open": 2},
        {"week": dt.date(2026, 6, 1), "new": 7, "closed": 0, "open": 9},
        {"week": dt.date(2026, 6, 8), "new": 1, "closed": 2, "open": 8},
        {"week": dt.date(2026, 6, 15), "new": 0, "closed": 0, "open": 8},
    ]


def test_weekly_trend_default_window_puts_sunday_in_its_week(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        trend = queries.weekly_trend(session)
    assert len(trend) == 12
    assert trend[0]["week"] == dt.date(2026, 3, 30) and trend[-1]["week"] == dt.date(2026, 6, 15)
    by_week = {row["week"]: row for row in trend}
    assert by_week[dt.date(2026, 4, 27)]["new"] == 1   # K, Friday 05-01
    assert by_week[dt.date(2026, 5, 4)]["new"] == 1    # A, Sunday 05-10 belongs to the week of Monday 05-04
    assert sum(row["new"] for row in trend) == 10      # every finding but the cancelled one
    assert sum(row["closed"] for row in trend) == 2
    assert trend[-1]["open"] == 8


def test_weekly_trend_with_the_clock_moved(ledger):
    engine = ledger.engine
    with clock.frozen(at(6, 29, 8)), read_session(engine) as session:
        trend = queries.weekly_trend(session, weeks=4)
    assert trend == [
        {"week": dt.date(2026, 6, 8), "new": 1, "closed": 2, "open": 8},
        {"week": dt.date(2026, 6, 15), "new": 0, "closed": 0, "open": 8},
        {"week": dt.date(2026, 6, 22), "new": 0, "closed": 0, "open": 8},
        {"week": dt.date(2026, 6, 29), "new": 0, "closed": 0, "open": 8},
    ]


def test_week_boundary_sunday_night_and_monday_morning(engine, frozen_today):
    with unit_of_work(engine) as session:
        world = build_world(session)
        _log(session, world, at(6, 14, 23, 30))
        _log(session, world, at(6, 15, 0, 10))
    with read_session(engine) as session:
        trend = queries.weekly_trend(session, weeks=2)
    assert trend == [{"week": dt.date(2026, 6, 8), "new": 1, "closed": 0, "open": 1},
                     {"week": dt.date(2026, 6, 15), "new": 1, "closed": 0, "open": 2}]


# --- lists -----------------------------------------------------------------------------------------

def test_overdue_list_most_overdue_first(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.overdue_list(session)
    assert [(item.serial, item.unit, item.days_overdue, item.status) for item in rows] == [
        (ledger.serials["A"], "社会救助办", 14, "open"),
        (ledger.serials["G"], "儿童福利和社会事务股", 5, "pending_review"),
    ]
    assert rows[0].current_deadline == rows[0].original_deadline == dt.date(2026, 6, 1)
    assert rows[0].description == "毛安村低保档案缺少家庭收入核查表"


def test_overdue_list_equal_days_by_serial_and_limit_and_visibility(engine, fresh_ledger):
    ledger = fresh_ledger
    with read_session(engine) as session:
        later = queries.overdue_list(session, now=at(7, 3, 10))
        # on 07-03: A 32 days, G 23, B 13 (06-20); E is closed, F cancelled: never listed
        assert [(item.serial, item.days_overdue) for item in later] == [
            (ledger.serials["A"], 32), (ledger.serials["G"], 23), (ledger.serials["B"], 13)]
        assert len(queries.overdue_list(session, now=at(7, 3, 10), limit=2)) == 2
        assert [item.serial for item in queries.overdue_list(session, ledger.world.actors["ertong"])] == [
            ledger.serials["G"]]
    with unit_of_work(engine) as session:  # a second item 14 days overdue, logged after A
        f = _log(session, ledger.world, at(5, 20), deadline=dt.date(2026, 6, 1), description="同日到期")
    with read_session(engine) as session:
        rows = queries.overdue_list(session)
    assert [(item.serial, item.days_overdue) for item in rows] == [
        (ledger.serials["A"], 14), (f.serial, 14), (ledger.serials["G"], 5)]


def test_stale_units(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows = queries.stale_units(session)
        # only 高士镇's one item (K, logged 05-01 09:00) has been silent for more than 30 days
        assert [(row["name"], row["open_items"], row["last_update"], row["days_silent"]) for row in rows] == [
            ("高士镇", 1, at(5, 1), 45)]
        assert rows[0]["id"] == ledger.units["gs"]
        later = queries.stale_units(session, now=at(7, 20, 10))
    # by 07-20 every unit is silent; pending review (G) and closed items do not count
    assert [(row["name"], row["open_items"], row["last_update"], row["days_silent"]) for row in later] == [
        ("高士镇", 1, at(5, 1), 80),
        ("儿童福利和社会事务股", 1, at(6, 12), 38),    # C, progress 06-12
        ("社会救助办", 5, at(6, 13), 37),              # A B H I J; I logged 06-13
    ]


def test_stale_units_follows_the_setting(engine, fresh_ledger):
    ledger = fresh_ledger
    with unit_of_work(engine) as session:
        admin.update_setting(session, ledger.world.actors["admin"], "stale_days", 60)
    with read_session(engine) as session:
        assert queries.stale_units(session) == []
        assert queries.figures(session).stale == 0


def test_duplicate_evidence(engine, frozen_today):
    with unit_of_work(engine) as session:
        world = build_world(session)
        dept = world.actors["jiuzhu"]
        first, second, third, fourth = (_log(session, world, at(6, 1), description=f"问题{n}") for n in range(4))
        shared = b"%PDF-1.4 meeting minutes shared"
        own = b"%PDF-1.4 only for the third finding"
        uploads = [(first, "会议纪要.pdf", shared), (second, "纪要副本.pdf", shared),
                   # the same file twice on ONE finding is not a warning
                   (third, "台账.pdf", own), (third, "台账.pdf", own),
                   (fourth, "另一文件.pdf", b"%PDF-1.4 different")]
        for hour, (finding, name, payload) in enumerate(uploads, start=8):
            _as(at(6, 2, hour), svc.attach_evidence, session, dept, finding.id, evidence(name, payload))
    with read_session(engine) as session:
        groups = queries.duplicate_evidence(session)
    assert groups == [{"sha256": hashlib.sha256(shared).hexdigest(), "filename": "会议纪要.pdf",
                       "findings": [first.serial, second.serial]}]


def test_duplicate_evidence_lists_each_finding_once(engine, frozen_today):
    with unit_of_work(engine) as session:
        world = build_world(session)
        dept = world.actors["jiuzhu"]
        first, second = (_log(session, world, at(6, 1), description=f"问题{n}") for n in range(2))
        for hour, finding in enumerate((first, second, first), start=8):
            _as(at(6, 2, hour), svc.attach_evidence, session, dept, finding.id, evidence())
    with read_session(engine) as session:
        groups = queries.duplicate_evidence(session)
    assert [group["findings"] for group in groups] == [[first.serial, second.serial]]


def test_no_duplicate_evidence_when_every_file_differs(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        assert queries.duplicate_evidence(session) == []  # the ledger's files are all different


# --- the paged ledger ------------------------------------------------------------------------------

def _page(engine, ledger, flt=None, **kwargs):
    with read_session(engine) as session:
        rows, total = queries.ledger_page(session, ledger.world.actors["leader"], flt or LedgerFilter(), **kwargs)
    return ledger.keys_of(rows), total


FILTER_CASES = [
    (LedgerFilter(), ["K", "A", "B", "C", "D", "E", "F", "G", "H", "J", "I"]),
    (LedgerFilter(statuses=["open"]), ["K", "A", "J", "I"]),
    (LedgerFilter(statuses=["closed", "cancelled"]), ["D", "E", "F"]),
    (LedgerFilter(lights=["red"]), ["A", "G"]),
    (LedgerFilter(lights=["yellow"]), ["K", "B"]),
    (LedgerFilter(lights=["green"]), ["C", "H", "J", "I"]),
    (LedgerFilter(lights=["closed", "cancelled"]), ["D", "E", "F"]),
    (LedgerFilter(overdue_only=True), ["A", "G"]),
    (LedgerFilter(township="高士镇"), ["A", "B", "G"]),
    (LedgerFilter(township=""), ["K", "A", "B", "C", "D", "E", "F", "G", "H", "J", "I"]),  # empty = no filter
    (LedgerFilter(keyword="公示"), ["B"]),
    (LedgerFilter(keyword="  公示 "), ["B"]),
    (LedgerFilter(keyword="李某某"), ["C"]),          # 责任人
    (LedgerFilter(keyword="ZG-2026-0003"), ["B"]),    # serial
    (LedgerFilter(keyword="zg-2026-0003"), ["B"]),    # serial typed in lower case: same on both databases
    (LedgerFilter(keyword="毛安村"), ["A", "B"]),
    (LedgerFilter(keyword="没有这个词"), []),
    (LedgerFilter(township="高士镇", lights=["red"]), ["A", "G"]),
    (LedgerFilter(statuses=["open"], overdue_only=True), ["A"]),
]


def test_ledger_filters(ledger):
    engine = ledger.engine
    for flt, expected in FILTER_CASES:
        keys, total = _page(engine, ledger, flt)
        assert (keys, total) == (expected, len(expected)), flt


def test_ledger_filters_by_id(ledger):
    engine = ledger.engine
    cases = [
        (LedgerFilter(source_id=ledger.source2_id), ["K", "J"]),
        (LedgerFilter(lead_unit_id=ledger.units["et"]), ["C", "D", "F", "G"]),
        (LedgerFilter(village_id=ledger.village_ids["毛安村"]), ["A", "B"]),
        (LedgerFilter(category_id=ledger.category2_id), ["A", "B"]),
        (LedgerFilter(involved_unit_id=ledger.units["jz"]), ["A", "B", "C", "E", "H", "J", "I"]),  # C as co-unit
        (LedgerFilter(involved_unit_id=ledger.units["gs"]), ["K"]),
        (LedgerFilter(lead_unit_id=ledger.units["jz"], statuses=["in_progress"]), ["B"]),
    ]
    for flt, expected in cases:
        keys, total = _page(engine, ledger, flt)
        assert (keys, total) == (expected, len(expected)), flt


def test_ledger_row_content(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows, _ = queries.ledger_page(session, ledger.world.actors["leader"], LedgerFilter(keyword="核查表"))
    (row,) = rows
    assert row["serial"] == ledger.serials["A"]
    assert (row["source"], row["category"], row["township"], row["village"], row["lead_unit"]) == (
        "城乡低保专项审计", "档案资料", "高士镇", "毛安村", "社会救助办")
    assert (row["status"], row["light"], row["days_overdue"], row["rect_type"], row["priority"]) == (
        "open", "red", 14, "deadline", "normal")
    assert row["original_deadline"] == row["current_deadline"] == dt.date(2026, 6, 1)
    assert row["version"] == 1
    with read_session(engine) as session:
        rows, _ = queries.ledger_page(session, ledger.world.actors["leader"],
                                      LedgerFilter(source_id=ledger.source2_id))
    extended = {row["id"]: row for row in rows}[ledger.ids["J"]]
    assert extended["original_deadline"] == dt.date(2026, 6, 30)
    assert extended["current_deadline"] == dt.date(2026, 9, 30)
    assert extended["days_overdue"] == 0 and extended["village"] is None


def test_ledger_paging(ledger):
    engine = ledger.engine
    assert _page(engine, ledger, page=1, page_size=4) == (["K", "A", "B", "C"], 11)
    assert _page(engine, ledger, page=2, page_size=4) == (["D", "E", "F", "G"], 11)
    assert _page(engine, ledger, page=3, page_size=4) == (["H", "J", "I"], 11)
    assert _page(engine, ledger, page=4, page_size=4) == ([], 11)
    assert _page(engine, ledger, LedgerFilter(statuses=["open"]), page=2, page_size=3) == (["I"], 4)


def test_ledger_sorting(ledger):
    engine = ledger.engine
    assert _page(engine, ledger, sort="serial", descending=True, page_size=4) == (["I", "J", "H", "G"], 11)
    assert _page(engine, ledger, sort="created", descending=True, page_size=1) == (["I"], 11)
    assert _page(engine, ledger, sort="created")[0][:2] == ["K", "A"]
    # ties (same deadline) in logging order; the long-term item without a deadline (H) last both ways
    assert _page(engine, ledger, sort="deadline")[0] == ["A", "F", "E", "G", "B", "D", "I", "J", "K", "C", "H"]
    assert _page(engine, ledger, sort="deadline", descending=True)[0] == [
        "K", "C", "J", "I", "D", "B", "G", "E", "A", "F", "H"]
    # cancelled < closed < in_progress < ongoing < open < pending_review
    assert _page(engine, ledger, sort="status")[0] == ["F", "D", "E", "B", "C", "H", "K", "A", "J", "I", "G"]
    assert _page(engine, ledger, sort="no-such-column")[0] == _page(engine, ledger)[0]  # falls back to serial


def test_ledger_for_a_department(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        rows, total = queries.ledger_page(session, ledger.world.actors["ertong"], LedgerFilter())
        assert ledger.keys_of(rows) == ["C", "D", "F", "G"] and total == 4
        rows, total = queries.ledger_page(session, ledger.world.actors["ertong"], LedgerFilter(lights=["red"]))
        assert ledger.keys_of(rows) == ["G"] and total == 1


def test_light_of_each_finding(ledger):
    engine = ledger.engine
    expected = {"K": "yellow", "A": "red", "B": "yellow", "C": "green", "D": "closed", "E": "closed",
                "F": "cancelled", "G": "red", "H": "green", "J": "green", "I": "green"}
    with read_session(engine) as session:
        assert {key: queries.light_of(session, finding_id) for key, finding_id in ledger.ids.items()} == expected
        # H (ongoing, last progress 06-05) turns yellow once silent for more than 30 days
        assert queries.light_of(session, ledger.ids["H"], now=at(7, 6, 10)) == "yellow"
        assert queries.light_of(session, ledger.ids["H"], now=at(7, 5, 8)) == "green"


def test_last_progress(ledger):
    engine = ledger.engine
    with read_session(engine) as session:
        assert queries.last_progress(session, ledger.ids["K"]) is None
        last = queries.last_progress(session, ledger.ids["D"])
        assert last.done_text == "整改措施已落实" and last.percent == 100 and last.reported_at == at(6, 11)


def test_every_page_read_from_either_end_is_the_same(ledger):
    """Pages past the middle are read backwards; each sort must give the same pages as a forward read."""
    engine = ledger.engine
    for sort in ("serial", "deadline", "created", "status"):
        for descending in (False, True):
            whole, total = _page(engine, ledger, sort=sort, descending=descending, page_size=50)
            pages = []
            for page in range(1, 5):
                pages += _page(engine, ledger, sort=sort, descending=descending, page=page, page_size=3)[0]
            assert pages == whole and total == 11, (sort, descending)


@pytest.mark.parametrize("day", [at(6, 15, 10), at(7, 3, 10)], ids=["today", "later"])
def test_every_reader_of_overdue_agrees_with_the_one_rule(ledger, day):
    """逾期 is ``lights.is_overdue`` / ``days_overdue``: the red list (through the partial index), the
    figures, the 督办 ladder, a unit's letter candidates and the daily digest all give its answer."""
    today = day.date()
    with read_session(ledger.engine) as session:
        rule = dict(session.execute(select(Finding.id, lights.days_overdue(today)).where(lights.is_overdue(today))).all())
        unit_of = dict(session.execute(select(Finding.id, Finding.lead_unit_id)).all())
        serial_of = dict(session.execute(select(Finding.id, Finding.serial)).all())
        per_unit: dict[int, list[int]] = {}
        for finding_id in rule:
            per_unit.setdefault(unit_of[finding_id], []).append(finding_id)
        assert len(rule) >= 2

        assert set(queries._longest_overdue_ids(session, today, 1000)) == set(rule)
        assert {item.id: item.days_overdue for item in queries.overdue_list(session, now=day, limit=1000)} == rule
        assert queries.figures(session, now=day).overdue == len(rule)
        assert {row.unit_id: (row.overdue, row.max_days) for row in letters.ladder(session, today)} == {
            unit: (len(ids), max(rule[i] for i in ids)) for unit, ids in per_unit.items()}
        for unit, ids in per_unit.items():
            assert {f.id for f in letters.overdue_of_unit(session, unit, today)} == set(ids)
        digests = jobs.unit_digests(session, today, 7)
        for unit, ids in per_unit.items():
            assert digests[unit].overdue_count == len(ids)
            assert sorted(digests[unit].overdue) == sorted([serial_of[i], rule[i]] for i in ids)
