"""Opposite moves on two findings at once never reach a user as a raw database error: the roll-up
lock orders the counter writes, and a transaction PostgreSQL aborts for a deadlock is run again."""
from __future__ import annotations

import threading

from sqlalchemy import select

from dashboard.services import findings as svc
from dashboard.services import rollups
from dashboard.services.unit_of_work import run_in_unit_of_work, unit_of_work
from db.engine import read_session
from db.models import Finding, Progress
from tests.factories import build_world, finding_input

CALLS = 50  # per thread


def _both(session, dept, first: int, second: int, n: int) -> None:
    """Progress on one finding, then on the other, in one transaction (both rows locked, in this order)."""
    svc.report_progress(session, dept, first, done_text=f"第{n}次推进")
    session.flush()
    svc.report_progress(session, dept, second, done_text=f"第{n}次推进")


def test_opposite_moves_on_two_findings_all_succeed(engine):
    with unit_of_work(engine) as session:
        world = build_world(session)
        a = svc.log_finding(session, world.actors["inspector"], finding_input(world)).id
        b = svc.log_finding(session, world.actors["inspector"], finding_input(world, description="另一问题")).id
    rollups.refresh_if_stale(engine)
    dept, errors = world.actors["jiuzhu"], []

    def worker(first: int, second: int) -> None:
        for n in range(CALLS):
            try:
                run_in_unit_of_work(engine, _both, dept, first, second, n)
            except Exception as error:  # every failure is reported below
                errors.append(repr(error))

    threads = [threading.Thread(target=worker, args=(a, b)), threading.Thread(target=worker, args=(b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    with read_session(engine) as session:
        assert len(session.execute(select(Progress.id)).all()) == 2 * 2 * CALLS
        assert {f.status for f in session.execute(select(Finding)).scalars()} == {"in_progress"}
        assert rollups.verify(session) == []


def test_separate_moves_in_opposite_orders_never_deadlock(engine, caplog):
    """One finding per transaction, A then B against B then A: the counter rows are written under
    the roll-up lock, so PostgreSQL never has to abort one (before: 62 of 200 calls died)."""
    with unit_of_work(engine) as session:
        world = build_world(session)
        a = svc.log_finding(session, world.actors["inspector"], finding_input(world)).id
        b = svc.log_finding(session, world.actors["inspector"], finding_input(world, description="另一问题")).id
    rollups.refresh_if_stale(engine)
    dept, errors = world.actors["jiuzhu"], []

    def progress(session, finding_id, n):
        svc.report_progress(session, dept, finding_id, done_text=f"第{n}次推进")

    def worker(order: tuple[int, int]) -> None:
        for n in range(CALLS * 2):
            try:
                run_in_unit_of_work(engine, progress, order[n % 2], n)
            except Exception as error:  # every failure is reported below
                errors.append(repr(error))

    threads = [threading.Thread(target=worker, args=((a, b),)), threading.Thread(target=worker, args=((b, a),))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert not [r for r in caplog.records if "retried" in r.getMessage()]
    with read_session(engine) as session:
        assert rollups.verify(session) == []


def test_a_write_that_keeps_deadlocking_ends_in_one_busy_message(engine, monkeypatch):
    """Retried a bounded number of times, then the user's message (input kept), never the database's error;
    an error that is not a deadlock is not retried at all."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    from dashboard.services import unit_of_work as uow
    from dashboard.services.unit_of_work import DatabaseBusy

    class Deadlock(Exception):
        sqlstate = "40P01"

    monkeypatch.setattr(uow.time, "sleep", lambda seconds: None)
    calls = []

    def always_deadlocks(session):
        calls.append(1)
        raise DBAPIError("UPDATE finding …", {}, Deadlock("deadlock detected"))

    with pytest.raises(DatabaseBusy):
        run_in_unit_of_work(engine, always_deadlocks)
    assert len(calls) == uow.RETRIES + 1

    def broken(session):
        calls.append(1)
        raise DBAPIError("UPDATE finding …", {}, ValueError("not a deadlock"))

    calls.clear()
    with pytest.raises(DBAPIError):
        run_in_unit_of_work(engine, broken)
    assert len(calls) == 1
