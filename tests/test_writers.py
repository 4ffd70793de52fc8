"""A department's save while a large import is in its write transaction (issue 25): the save is not queued
behind the import on PostgreSQL, waits for it on SQLite (one writer at a time), and the figures stay exact."""
from __future__ import annotations

import io
import threading
import time

import pytest
from openpyxl import Workbook
from sqlalchemy import event
from sqlmodel import func, select

from dashboard import clock
from dashboard.services import findings as svc
from dashboard.services import imports, queries, rollups
from dashboard.services.unit_of_work import run_in_unit_of_work, unit_of_work
from db.engine import read_session
from db.models import Finding
from tests.factories import finding_input

ROWS = 3_000
JOIN_TIMEOUT = 120


def ledger(rows: int, tag: str = "") -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("台账")
    sheet.append(["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    for index in range(rows):
        sheet.append([index + 1, "档案资料", f"并发导入问题{tag}{index}：低保档案资料不全", "补齐档案",
                      "社会救助办" if index % 2 else "儿童福利和社会事务股",
                      "2026年5月31日" if index % 3 == 0 else "2026年12月31日", "正在整改" if index % 4 else "已完成"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_save_during_a_large_import_is_not_lost_and_figures_stay_exact(engine, world):
    with unit_of_work(engine) as session:
        target = svc.log_finding(session, world.actors["inspector"], finding_input(world)).id
    rollups.refresh_if_stale(engine)  # today's sums: both writers apply deltas to them
    with read_session(engine) as session:
        preview = imports.preview_import(session, world.actors["admin"], imports.read_ledger(ledger(ROWS)))
    assert preview.ok and len(preview.rows) == ROWS

    written, saved = threading.Event(), threading.Event()
    done: dict[str, float] = {}
    errors: list[BaseException] = []

    def pause() -> None:
        written.set()  # the import's transaction is open: the save starts now
        saved.wait(2 if engine.dialect.name == "sqlite" else JOIN_TIMEOUT)  # SQLite: the save must wait

    def at_the_lock(_connection, _cursor, statement, *_args) -> None:
        """PostgreSQL: the import has written its rows and prepared its roll-up sums, and is about to take
        the roll-up lock; the save commits its own sums now, on the same counter rows."""
        if threading.current_thread() is importer and "rollup_meta" in statement and "FOR UPDATE" in statement:
            if not written.is_set():
                pause()

    def import_ledger():
        try:
            with unit_of_work(engine) as session:
                imports.commit_import(session, world.actors["admin"], preview, source_title="并发导入")
                session.flush()
                if engine.dialect.name == "sqlite":
                    pause()
            done["import"] = time.monotonic()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            errors.append(error)
            written.set()

    def save():
        try:
            assert written.wait(JOIN_TIMEOUT)
            run_in_unit_of_work(engine, svc.report_progress, world.actors["jiuzhu"], target, done_text="本周已整改两处")
            done["save"] = time.monotonic()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            errors.append(error)
        finally:
            saved.set()

    importer = threading.Thread(target=import_ledger)
    threads = [importer, threading.Thread(target=save)]
    event.listen(engine, "before_cursor_execute", at_the_lock)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
            assert not thread.is_alive(), "a writer never finished"
    finally:
        event.remove(engine, "before_cursor_execute", at_the_lock)
    assert not errors, errors
    if engine.dialect.name == "postgresql":
        assert done["save"] < done["import"], "the save waited for the whole import"
    else:
        assert done["import"] < done["save"], "SQLite has one writer: the save follows the import"
    with read_session(engine) as session:
        assert session.get(Finding, target).status == "in_progress"
        assert queries.figures(session).total == session.exec(select(func.count()).select_from(Finding)).one()
        assert rollups.is_fresh(session)
        assert rollups.verify(session) == []


def test_an_import_builds_and_cleans_its_rows_before_its_transaction_begins(engine, world, monkeypatch):
    """On SQLite a unit of work begins by taking the one write lock (BEGIN IMMEDIATE) and every save waits for
    it: the rows are built and cleaned (the Python half of an import's write) before, not inside."""
    with read_session(engine) as session:
        preview = imports.preview_import(session, world.actors["admin"], imports.read_ledger(ledger(50)))
    open_transactions: list[bool] = []
    in_transaction = {"now": False}

    def began(_connection) -> None:
        in_transaction["now"] = True

    def ended(_connection) -> None:
        in_transaction["now"] = False

    cleaned = imports.clean_row

    def clean_row(row):
        open_transactions.append(in_transaction["now"])
        return cleaned(row)

    monkeypatch.setattr(imports, "clean_row", clean_row)
    for name, listener in (("begin", began), ("commit", ended), ("rollback", ended)):
        event.listen(engine, name, listener)
    try:
        summary = imports.commit_retrying(engine, world.actors["admin"], preview, source_title="导入前准备")
    finally:
        for name, listener in (("begin", began), ("commit", ended), ("rollback", ended)):
            event.remove(engine, name, listener)
    assert summary.imported == 50
    assert open_transactions and not any(open_transactions)
    with read_session(engine) as session:  # each child row names its own finding, by id and serial
        from db.models import AuditLog, Measure
        serials = dict(session.execute(select(Finding.id, Finding.serial)
                                       .where(Finding.id.in_(summary.finding_ids))).all())
        audits = session.execute(select(AuditLog).where(AuditLog.action == "import")).scalars().all()
        measures = session.execute(select(Measure.finding_id).where(Measure.finding_id.in_(summary.finding_ids)))
    assert len(serials) == 50 and {a.entity_id for a in audits} == set(serials)
    assert all(a.finding_id == a.entity_id and a.new["serial"] == serials[a.entity_id] for a in audits)
    assert {finding_id for (finding_id,) in measures} == set(serials)


class _Undo(Exception):
    """Rolls a unit of work back once its rows are read."""


def _written_rows(engine, actor, dialect) -> dict[str, list[tuple]]:
    """Every row an import writes, as the database stores it (read through the driver), in a unit of work that is
    then rolled back: ``dialect`` given, the rows go through the driver (SQLite), None through Core inserts."""
    tables = {"finding": "id", "measure": "finding_id", "finding_co_unit": "finding_id", "progress": "finding_id",
              "extension_request": "finding_id", "closure_review": "finding_id", "audit_log": "finding_id"}
    found: dict[str, list[tuple]] = {}
    with read_session(engine) as session:  # a new preview: a commit fills in the categories it creates
        preview = imports.preview_import(session, actor, imports.read_ledger(ledger(60)))
    prepared = imports._prepare_rows(actor, preview.rows, clock.now(), "并发导入.xlsx", dialect)
    assert (prepared.driver is not None) == (dialect is not None)
    try:
        with unit_of_work(engine) as session:
            summary = imports.commit_import(session, actor, preview, prepared=prepared, source_title="并发导入",
                                            filename="并发导入.xlsx")
            session.flush()
            first, last = min(summary.finding_ids), max(summary.finding_ids)
            for table, column in tables.items():
                found[table] = sorted(session.connection().exec_driver_sql(
                    f"SELECT * FROM {table} WHERE {column} BETWEEN ? AND ?", (first, last)).all(), key=repr)
            raise _Undo
    except _Undo:
        pass
    return found


def test_on_sqlite_the_driver_writes_exactly_what_core_inserts_write(engine, world):
    """SQLite's import sends its rows through the driver's executemany, with values made before the write lock by
    the column types' own bind processors: the stored rows are byte for byte what SQLAlchemy's inserts store."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the driver's executemany is SQLite's path; PostgreSQL's import holds no lock a save waits for")
    rollups.refresh_if_stale(engine)
    driver = _written_rows(engine, world.actors["admin"], engine.dialect)
    core = _written_rows(engine, world.actors["admin"], None)
    assert driver["finding"] and driver["measure"] and driver["audit_log"]
    assert driver == core


def _statements_in_the_import(engine, world, rows: int) -> list[tuple[str, int]]:
    """The statements SQLAlchemy executes between the import's BEGIN IMMEDIATE and its COMMIT, with the number
    of parameter sets each carries."""
    with read_session(engine) as session:
        preview = imports.preview_import(session, world.actors["admin"], imports.read_ledger(ledger(rows, f"{rows}-")))
    seen: list[tuple[str, int]] = []
    inside = {"now": False}

    def statement(_connection, _cursor, sql, parameters, _context, executemany) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):
            inside["now"] = True
        elif inside["now"]:
            seen.append((sql.split("(")[0][:60], len(parameters) if executemany else 1))

    def ended(_connection) -> None:
        inside["now"] = False

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", ended)
    try:
        summary = imports.commit_retrying(engine, world.actors["admin"], preview, source_title=f"导入{rows}")
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", ended)
    assert summary.imported == rows
    return seen


def test_on_sqlite_what_an_import_does_under_the_write_lock_does_not_grow_with_its_rows(engine, world):
    """On SQLite a save waits for the whole of an import's unit of work (one writer at a time). Inside it, what
    passes through SQLAlchemy is a fixed set of statements, whatever the number of rows: the rows go through the
    driver's executemany with values made before, and the roll-ups of the new findings are stored and counted in
    SQL over their range of ids. (A save cannot get in during SQLite's write; it waits only for SQLite's own
    work, measured in ``scripts/writers_bench.py``.)"""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's saves do not wait for the import's transaction (the test above)")
    rollups.refresh_if_stale(engine)
    _statements_in_the_import(engine, world, 5)  # the first creates the ledger's category and source
    small, large = _statements_in_the_import(engine, world, 40), _statements_in_the_import(engine, world, 800)
    assert len(large) == len(small), (small, large)
    many = [(sql, count) for sql, count in large if count > 1]  # no executemany through SQLAlchemy but the counters
    assert [sql.strip() for sql, _count in many] == ["INSERT INTO rollup_count"], many
    assert many[0][1] < 100  # one row per changed (dimension, key, status, light), not per finding
    with read_session(engine) as session:
        assert rollups.verify(session) == []
