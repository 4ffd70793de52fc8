"""Two people at once: concurrent writers on SQLite and PostgreSQL, optimistic concurrency, and
meeting snapshots that stay as they were taken."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.errors import ConflictError, PermissionDenied, ValidationFailed
from dashboard.services import queries, snapshots
from dashboard.services import findings as svc
from dashboard.vocab import Status
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Finding, Measure, Progress, Snapshot, SnapshotFinding
from tests.factories import evidence, finding_input

JOIN_TIMEOUT = 30



def log(engine, world, **overrides) -> Finding:
    with unit_of_work(engine) as session:
        return svc.log_finding(session, world.actors["inspector"], finding_input(world, **overrides))


def get(engine, finding_id) -> Finding:
    with read_session(engine) as session:
        return session.get(Finding, finding_id)


class Worker(threading.Thread):
    """Runs ``job`` in a thread and keeps its result or exception for the test to inspect."""

    def __init__(self, job):
        super().__init__(daemon=True)
        self.job, self.result, self.error, self.finished_at = job, None, None, None

    def run(self):
        try:
            self.result = self.job()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            self.error = exc
        finally:
            self.finished_at = time.monotonic()


def run_all(*workers: Worker) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN_TIMEOUT)
        assert not worker.is_alive(), "deadlock: a writer never finished"


# --- concurrent writers ------------------------------------------------------------------------------

def test_two_writers_at_once_both_succeed_with_unique_serials(engine, world):
    """The first holds its transaction open for a while; the second waits instead of failing."""
    inside = threading.Event()

    def slow():
        with unit_of_work(engine) as session:
            finding = svc.log_finding(session, world.actors["inspector"], finding_input(world, description="慢的一笔"))
            session.flush()
            inside.set()
            time.sleep(0.4)
            return finding.serial

    def fast():
        assert inside.wait(JOIN_TIMEOUT)
        with unit_of_work(engine) as session:
            return svc.log_finding(session, world.actors["inspector"], finding_input(world, description="快的一笔")).serial

    first, second = Worker(slow), Worker(fast)
    run_all(first, second)
    assert first.error is None and second.error is None, (first.error, second.error)
    assert (first.result, second.result) == ("ZG-2026-0001", "ZG-2026-0002")
    assert second.finished_at >= first.finished_at  # it waited for the first to commit
    with read_session(engine) as session:
        assert sorted(session.exec(select(Finding.serial)).all()) == ["ZG-2026-0001", "ZG-2026-0002"]


def test_many_writers_get_distinct_serials(engine, world):
    barrier = threading.Barrier(6)

    def job(n):
        def work():
            barrier.wait(JOIN_TIMEOUT)
            with unit_of_work(engine) as session:
                finding = svc.log_finding(session, world.actors["inspector"],
                                          finding_input(world, description=f"并发登记{n}"))
                session.flush()
                time.sleep(0.05)
                return finding.serial
        return work

    workers = [Worker(job(n)) for n in range(6)]
    run_all(*workers)
    assert [w.error for w in workers] == [None] * 6
    assert sorted(w.result for w in workers) == [f"ZG-2026-{n:04d}" for n in range(1, 7)]


def test_two_units_report_progress_on_one_finding_at_once(engine, world):
    finding = log(engine, world, co_unit_ids=[world.units["儿童福利和社会事务股"]])
    inside = threading.Event()

    def lead():
        with unit_of_work(engine) as session:
            progress = svc.report_progress(session, world.actors["jiuzhu"], finding.id, done_text="牵头单位入户核查",
                                           percent=40, files=[evidence()])
            session.flush()
            inside.set()
            time.sleep(0.3)
            return progress.id

    def co_unit():
        assert inside.wait(JOIN_TIMEOUT)
        with unit_of_work(engine) as session:
            return svc.report_progress(session, world.actors["ertong"], finding.id, done_text="配合单位比对数据",
                                       percent=50).id

    first, second = Worker(lead), Worker(co_unit)
    run_all(first, second)
    assert first.error is None and second.error is None, (first.error, second.error)
    stored = get(engine, finding.id)
    assert stored.status == Status.IN_PROGRESS
    # open → in progress once; the second report (same frozen instant) changes no field of the finding itself
    assert stored.version == finding.version + 1 and stored.last_progress_at == clock.now()
    with read_session(engine) as session:
        texts = session.exec(select(Progress.done_text).where(Progress.finding_id == finding.id)
                             .order_by(Progress.id)).all()
        moves = session.exec(select(AuditLog).where(AuditLog.entity == "Finding", AuditLog.finding_id == finding.id,
                                                    AuditLog.action == "report_progress")).all()
    assert list(texts) == ["牵头单位入户核查", "配合单位比对数据"]
    assert [m.old.get("status") for m in moves].count("open") == 1  # 待整改 → 整改中 happened once


def test_concurrent_edits_of_one_version_exactly_one_wins(engine, world):
    finding = log(engine, world)
    loaded = get(engine, finding.id).version
    barrier = threading.Barrier(2)

    def edit(actor_name, text):
        def work():
            barrier.wait(JOIN_TIMEOUT)
            with unit_of_work(engine) as session:
                svc.edit_finding(session, world.actors[actor_name], finding.id, loaded, {"description": text})
                session.flush()
                time.sleep(0.2)  # hold the row while the other tries
            return text
        return work

    workers = [Worker(edit("inspector", "整改办的修改")), Worker(edit("admin", "管理员的修改"))]
    run_all(*workers)
    winners = [w for w in workers if w.error is None]
    losers = [w for w in workers if w.error is not None]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0].error, ConflictError), repr(losers[0].error)
    stored = get(engine, finding.id)
    assert stored.description == winners[0].result and stored.version == loaded + 1
    assert losers[0].error.current["description"] == winners[0].result
    winner_name = "inspector" if winners[0].result == "整改办的修改" else "admin"
    assert losers[0].error.zh.startswith(f"该记录已被{winner_name}于2026-06-15 10:00修改")


def test_sequential_sessions_that_loaded_the_same_version(engine, world):
    finding = log(engine, world)
    with read_session(engine) as session:  # both people open the form
        seen_by_one = session.get(Finding, finding.id).version
        seen_by_two = session.get(Finding, finding.id).version
    with unit_of_work(engine) as session:
        svc.edit_finding(session, world.actors["inspector"], finding.id, seen_by_one, {"remarks": "第一人的备注"})
    with unit_of_work(engine) as session, pytest.raises(ConflictError):
        svc.edit_finding(session, world.actors["admin"], finding.id, seen_by_two, {"remarks": "第二人的备注"})
    assert get(engine, finding.id).remarks == "第一人的备注"


# --- snapshots ---------------------------------------------------------------------------------------

def _pending_review(engine, world, **overrides) -> int:
    finding = log(engine, world, **overrides)
    dept = world.actors["jiuzhu"]
    with unit_of_work(engine) as session:
        svc.report_progress(session, dept, finding.id, done_text="已落实", files=[evidence()])
        for measure in session.exec(select(Measure).where(Measure.finding_id == finding.id)).all():
            svc.tick_measure(session, dept, measure.id, None)
        svc.apply_closure(session, dept, finding.id, None, summary="已整改到位")
    return finding.id


def _snapshot_rows(engine, snapshot_id) -> dict[int, tuple]:
    with read_session(engine) as session:
        rows = session.exec(select(SnapshotFinding).where(SnapshotFinding.snapshot_id == snapshot_id)).all()
    return {r.finding_id: (r.status, r.light, r.current_deadline, r.days_overdue) for r in rows}


def test_snapshot_freezes_figures_and_lights(engine, world):
    overdue = log(engine, world, deadline=dt.date(2026, 6, 1), description="逾期问题").id
    pending = _pending_review(engine, world, description="待销号问题")
    green = log(engine, world, deadline=dt.date(2026, 12, 31), description="正常推进问题").id

    with unit_of_work(engine) as session:
        taken = snapshots.take_snapshot(session, world.actors["leader"], " 6月整改调度会 ")
    with read_session(engine) as session:
        stored = snapshots.get_snapshot(session, taken.id)
        live = queries.figures(session).as_dict()
        audit = session.exec(select(AuditLog).where(AuditLog.action == "take_snapshot")).one()
    figures_then = stored.figures
    rows_then = _snapshot_rows(engine, taken.id)

    assert (stored.title, stored.as_of, stored.taken_at, stored.taken_by_id) == (
        "6月整改调度会", dt.date(2026, 6, 15), clock.now(), world.actors["leader"].id)
    assert figures_then["totals"] == live
    assert (figures_then["totals"]["total"], figures_then["totals"]["pending_review"],
            figures_then["totals"]["closed"], figures_then["totals"]["red"]) == (3, 1, 0, 1)
    assert [(row["serial"], row["days_overdue"]) for row in figures_then["overdue"]] == [("ZG-2026-0001", 14)]
    assert figures_then["trend"][-1] == {"week": "2026-06-15", "new": 3, "closed": 0, "open": 3}
    assert [row["name"] for row in figures_then["by_unit"]] == ["社会救助办"]
    assert rows_then == {
        overdue: ("open", "red", dt.date(2026, 6, 1), 14),
        pending: ("pending_review", "green", dt.date(2026, 7, 31), 0),
        green: ("open", "green", dt.date(2026, 12, 31), 0),
    }
    assert audit.new == {"title": "6月整改调度会", "as_of": "2026-06-15"}

    # the work goes on: the pending item is closed, the overdue one gets an extension, a week passes
    with clock.frozen(dt.datetime(2026, 6, 22, 9)):
        with unit_of_work(engine) as session:
            svc.close(session, world.actors["inspector"], pending, None, "核查属实")
            request = svc.request_extension(session, world.actors["jiuzhu"], overdue,
                                            asked_deadline=dt.date(2026, 8, 31), reason="等待资金下拨")
            session.flush()
            svc.decide_extension(session, world.actors["inspector"], request.id, approve=True)
        with unit_of_work(engine) as session:
            later = snapshots.take_snapshot(session, world.actors["inspector"], "6月第二次调度会")

    with read_session(engine) as session:
        again = snapshots.get_snapshot(session, taken.id)
        now_figures = queries.figures(session).as_dict()
    assert again.figures == figures_then                      # what leadership saw is shown unchanged
    assert _snapshot_rows(engine, taken.id) == rows_then
    assert (now_figures["closed"], now_figures["red"], now_figures["overdue"]) == (1, 0, 0)
    assert _snapshot_rows(engine, later.id) == {
        overdue: ("open", "green", dt.date(2026, 8, 31), 0),
        pending: ("closed", "closed", dt.date(2026, 7, 31), 0),
        green: ("open", "green", dt.date(2026, 12, 31), 0),
    }
    with read_session(engine) as session:
        assert snapshots.get_snapshot(session, later.id).figures["totals"]["closed"] == 1
        assert len(session.exec(select(Snapshot)).all()) == 2


def test_snapshot_needs_a_title_and_a_permitted_role(engine, world):
    log(engine, world)
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        snapshots.take_snapshot(session, world.actors["jiuzhu"], "调度会")
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed, match="请填写标题"):
        snapshots.take_snapshot(session, world.actors["leader"], "  ")
    with read_session(engine) as session:
        assert session.exec(select(Snapshot)).all() == [] and session.exec(select(SnapshotFinding)).all() == []
