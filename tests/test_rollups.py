"""The maintained roll-ups always equal the direct SQL aggregates: after every kind of write,
after the day changes (lights move) and after the warning settings change."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import delete
from sqlmodel import select

from dashboard import clock
from dashboard.lifecycle import SYSTEM, Actor
from dashboard.services.queries import LedgerFilter
from dashboard.vocab import Role
from dashboard.services import admin, imports, queries, rollups, views
from dashboard.services import findings as svc
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import Measure, RollupCount, RollupMeta
from tests.databases import world_in
from tests.factories import evidence, finding_input

DIMENSIONS = ("unit", "source", "category", "township", "village")


LEADER = Actor(id=0, username="leader", role=Role.LEADER)
LEDGER_FILTERS = [
    LedgerFilter(), LedgerFilter(lights=["red"]), LedgerFilter(lights=["yellow", "green"]),
    LedgerFilter(statuses=["in_progress", "pending_review"]), LedgerFilter(statuses=["closed"], lights=["closed"]),
    LedgerFilter(overdue_only=True), LedgerFilter(overdue_only=True, lights=["green"]),
    LedgerFilter(lead_unit_id=1, lights=["red", "yellow"]), LedgerFilter(township="高士镇"),
    LedgerFilter(village_id=1, statuses=["open"]), LedgerFilter(category_id=1, overdue_only=True),
    LedgerFilter(source_id=1),
]


def _ledger_counts(session, now):
    """The row count of the ledger page under each filter (from the roll-ups when they are fresh)."""
    return [queries.ledger_page(session, LEADER, flt, page_size=1, now=now)[1] for flt in LEDGER_FILTERS]


def _everything(session, now):
    return {"figures": queries.figures(session, now=now),
            "ledger_counts": _ledger_counts(session, now),
            "trend": queries.weekly_trend(session, now=now),
            "stale_units": queries.stale_units(session, now=now),
            "villages": [{k: v for k, v in row.items() if k != "village"} for row in views.villages_overview(session)],
            **{by: queries.rollup(session, by, now=now) for by in DIMENSIONS}}


def assert_rollups_match(engine, now=None):
    """Everything read from the roll-ups equals the same read done by direct SQL."""
    now = now or clock.now()
    with read_session(engine) as session:
        assert rollups.is_fresh(session, now)
        assert not session.exec(select(RollupCount).where(RollupCount.n < 0)).all()
        from_rollups = _everything(session, now)
        session.execute(delete(RollupMeta))  # never committed: only makes this session read directly
        assert not rollups.is_fresh(session, now)
        direct = _everything(session, now)
        session.rollback()
    for key in direct:
        assert from_rollups[key] == direct[key], key


@pytest.fixture
def world(engine, frozen_today):
    world = world_in(engine)
    with unit_of_work(engine) as session:
        admin.create_village(session, SYSTEM, township="高士镇", name="毛安村", level="provincial", poverty_rate=2.6)
    rollups.refresh_if_stale(engine)
    return world


def test_every_kind_of_write_keeps_the_sums(engine, world):
    dept, inspector = world.actors["jiuzhu"], world.actors["inspector"]

    def act(fn, *args, **kwargs):
        with unit_of_work(engine) as session:
            result = fn(session, *args, **kwargs)
        assert_rollups_match(engine)
        return result

    first = act(svc.log_finding, inspector, finding_input(world, village_id=1))
    late = act(svc.log_finding, inspector, finding_input(world, description="逾期", deadline=dt.date(2026, 6, 1)))
    soon = act(svc.log_finding, inspector, finding_input(world, description="临期", deadline=dt.date(2026, 6, 18)))
    act(svc.report_progress, dept, first.id, done_text="核查", files=[evidence()])
    with read_session(engine) as session:
        measures = session.exec(select(Measure).where(Measure.finding_id == first.id)).all()
    for measure in measures:
        act(svc.tick_measure, dept, measure.id, None)
    act(svc.apply_closure, dept, first.id, None, summary="已整改")
    act(svc.send_back, inspector, first.id, None, "材料不全")
    act(svc.apply_closure, dept, first.id, None, summary="已补充")
    act(svc.close, inspector, first.id, None)
    request = act(svc.request_extension, dept, late.id, asked_deadline=dt.date(2026, 9, 30), reason="等待资金")
    act(svc.decide_extension, inspector, request.id, approve=True)
    act(svc.edit_finding, inspector, soon.id, None, {"lead_unit_id": world.units["儿童福利和社会事务股"]})
    act(svc.cancel, world.actors["admin"], soon.id, None, "误录")
    act(svc.log_finding, inspector, finding_input(world, description="屡改屡犯", repeat_of_id=first.id))
    with read_session(engine) as session:
        totals = queries.figures(session).as_dict()
    assert (totals["total"], totals["closed"], totals["cancelled"], totals["extended"], totals["repeats"]) == (4, 1, 1, 1, 1)


def test_imported_rows_are_counted(engine, world):
    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    sheet.append([1, "对象认定不精准", "低保档案不全", "补齐档案", "社会救助办", "2026年9月30日", "正在整改"])
    sheet.append([2, "对象认定不精准", "公示不规范", "规范公示", "社会救助办", "2026年5月30日", "已完成"])
    buffer = io.BytesIO()
    book.save(buffer)
    with unit_of_work(engine) as session:
        imports.commit_import(session, world.actors["admin"], buffer.getvalue(), source_title="自查台账")
    assert_rollups_match(engine)


def test_a_new_day_rebuilds_and_lights_move(engine, world):
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world, deadline=dt.date(2026, 6, 20)))
    with read_session(engine) as session:
        assert queries.figures(session).red == 0
    later = dt.datetime(2026, 6, 25, 9, 0)
    with clock.frozen(later):
        with read_session(engine) as session:
            assert not rollups.is_fresh(session)
        assert rollups.refresh_if_stale(engine)
        with read_session(engine) as session:
            assert queries.figures(session).red == 1
        assert_rollups_match(engine)


def test_changed_settings_rebuild(engine, world):
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world, deadline=dt.date(2026, 6, 30)))
    with unit_of_work(engine) as session:
        admin.update_setting(session, world.actors["admin"], "due_soon_days", 20)
    with read_session(engine) as session:
        assert not rollups.is_fresh(session)
    rollups.refresh_if_stale(engine)
    assert_rollups_match(engine)
    with read_session(engine) as session:
        assert queries.figures(session).yellow == 1


def test_villages_page_figures_match_direct(engine, world):
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world, village_id=1, deadline=dt.date(2026, 6, 1)))
    with read_session(engine) as session:
        from_rollups = views.villages_overview(session)
    with clock.frozen(clock.now() + dt.timedelta(seconds=1)), read_session(engine) as session:
        rows = views._village_counts(session, [1], clock.now() + dt.timedelta(days=0))
    assert from_rollups[0]["open_findings"] == 1 and from_rollups[0]["red_findings"] == 1
    assert rows[1]["red_findings"] == 1


def test_the_days_rebuild_checks_yesterdays_sums_before_it_takes_the_lock(engine, world, monkeypatch):
    """A save on the new day waits for whatever the rebuild does under the roll-up lock: the check of yesterday's
    sums (half its time) runs before, in one snapshot, and is used when no one rebuilt or marked them meanwhile."""
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world, deadline=dt.date(2026, 6, 20)))
    rollups.refresh_if_stale(engine)
    steps: list[str] = []
    checked, lock = rollups.verify_as_built, rollups._lock
    monkeypatch.setattr(rollups, "verify_as_built", lambda *args, **kwargs: steps.append("check") or checked(*args, **kwargs))
    monkeypatch.setattr(rollups, "_lock", lambda session: steps.append("lock") or lock(session))
    with clock.frozen(dt.datetime(2026, 6, 25, 9, 0)):
        assert rollups.refresh_if_stale(engine)
        with read_session(engine) as session:
            assert session.get(RollupMeta, 1).checked_drifts == 0
            assert queries.figures(session).red == 1
        assert_rollups_match(engine)
    assert steps == ["check", "lock"]
