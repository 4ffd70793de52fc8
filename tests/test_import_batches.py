"""On SQLite a large import is written in chunks, each its own short transaction, so that a department's save
waits for one chunk and never for the whole file (issue 25); the import stays one batch: recorded once, and a
failure or a crash mid-way leaves no row of it. (How long a save waits is measured by ``scripts/writers_bench.py``.)"""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import event, func, select

from dashboard import clock
from dashboard.services import data_version, imports, rollups
from db.engine import read_session
from db.models import (AuditLog, Category, ClosureReview, Finding, ImportBatch, Measure, Progress, SerialCounter,
                       Source)
from tests.test_writers import ledger

CHUNK = 40
ROWS = 150  # four chunks: 40, 40, 40, 30


@pytest.fixture
def chunked(engine, world, monkeypatch):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's import is one transaction: a save there does not wait for it")
    monkeypatch.setattr(imports, "CHUNK_ROWS", CHUNK)
    monkeypatch.setattr(imports, "CHUNK_PAUSE", 0.0)
    monkeypatch.setattr(imports, "CHUNK_SECONDS", 3600.0)  # chunks of CHUNK_ROWS however busy the machine
    rollups.refresh_if_stale(engine)
    return world


def _preview(engine, world, tag: str):
    with read_session(engine) as session:
        preview = imports.preview_import(session, world.actors["admin"],
                                         imports.read_ledger(ledger(ROWS, tag), filename="分批.xlsx"))
    assert preview.ok and len(preview.rows) == ROWS
    return preview


def _counts(engine) -> dict[str, int]:
    with read_session(engine) as session:
        counts = {model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
                  for model in (Finding, Measure, Progress, ClosureReview, Source, Category, ImportBatch)}
        counts["serial"] = session.execute(select(func.coalesce(func.max(SerialCounter.last), 0))).scalar_one()
    return counts


def test_on_sqlite_a_large_import_writes_at_most_a_chunk_of_rows_in_each_transaction(engine, chunked):
    """The import's write transactions on SQLite each write at most ``CHUNK_ROWS`` findings (with their children),
    however long the file; the roll-ups are exact, the audit log records the import once and its batch is done."""
    world, importer = chunked, threading.current_thread()
    per_transaction: list[int] = []
    write_rows = imports._write_rows

    def counted(session, prepared, rows, *args):
        per_transaction[-1] += len(rows)
        return write_rows(session, prepared, rows, *args)

    def began(_connection) -> None:
        if threading.current_thread() is importer:
            per_transaction.append(0)

    preview = _preview(engine, world, "分批-")
    event.listen(engine, "begin", began)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(imports, "_write_rows", counted)
            summary = imports.commit_retrying(engine, world.actors["admin"], preview, source_title="分批导入",
                                              filename="分批.xlsx")
    finally:
        event.remove(engine, "begin", began)
    assert summary.imported == ROWS and len(summary.finding_ids) == ROWS
    assert max(per_transaction) == CHUNK and sum(per_transaction) == ROWS
    assert [n for n in per_transaction if n] == [CHUNK, CHUNK, CHUNK, ROWS - 3 * CHUNK]
    with read_session(engine) as session:
        assert rollups.verify(session) == []
        recorded = session.execute(select(AuditLog).where(AuditLog.action == "import_ledger")).scalars().all()
        assert len(recorded) == 1 and recorded[0].new["imported"] == ROWS
        batch = session.execute(select(ImportBatch)).scalars().one()
        assert batch.done and sum(last - first + 1 for first, last in batch.findings) == ROWS
        serials = session.execute(select(Finding.serial).where(Finding.id.in_(summary.finding_ids))).scalars().all()
        assert len(set(serials)) == ROWS


def test_a_failure_mid_import_leaves_no_row_of_it(engine, chunked, monkeypatch):
    """Two chunks committed, the third fails: what the two wrote is removed (chunk by chunk), with the source the
    import created and its serials; the figures are exact and the same file imports whole afterwards."""
    world = chunked
    preview = _preview(engine, world, "失败-")
    before, version = _counts(engine), data_version.current(engine)
    write_chunk, calls = imports._write_chunk, {"n": 0}

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the disk is full")
        return write_chunk(*args)

    monkeypatch.setattr(imports, "_write_chunk", failing)
    with pytest.raises(RuntimeError):
        imports.commit_retrying(engine, world.actors["admin"], preview, source_title="失败的导入", filename="分批.xlsx")
    assert _counts(engine) == before
    assert data_version.current(engine) != version  # the chunks were seen, then their removal
    with read_session(engine) as session:
        keys = [resolved.row.fingerprint for resolved in preview.rows]
        assert session.execute(select(Finding.id).where(Finding.import_key.in_(keys))).first() is None
        assert rollups.verify(session) == []
        undone = session.execute(select(AuditLog).where(AuditLog.action == "import_undone")).scalars().one()
        assert undone.new["file"] == "分批.xlsx"
    monkeypatch.setattr(imports, "_write_chunk", write_chunk)
    again = _preview(engine, world, "失败-")
    assert imports.commit_retrying(engine, world.actors["admin"], again, source_title="失败的导入").imported == ROWS


def test_a_crash_mid_import_is_undone_by_the_next_import(engine, chunked, monkeypatch):
    """A process that dies between two chunks cannot undo them: its batch, not done and untouched for
    ``ABANDONED``, is undone by the next import (``undo_abandoned``) before that one writes."""
    world = chunked
    preview = _preview(engine, world, "崩溃-")
    before = _counts(engine)
    write_chunk, calls = imports._write_chunk, {"n": 0}

    class Crash(BaseException):
        pass

    def crashing(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash
        return write_chunk(*args)

    monkeypatch.setattr(imports, "_write_chunk", crashing)
    monkeypatch.setattr(imports, "undo_batch", lambda *_args, **_kw: False)  # the process is gone: no undo
    with pytest.raises(Crash):
        imports.commit_retrying(engine, world.actors["admin"], preview, source_title="崩溃的导入")
    assert _counts(engine)["finding"] == before["finding"] + 2 * CHUNK
    monkeypatch.undo()
    assert imports.undo_abandoned(engine) == 0  # still within ABANDONED: perhaps an import still writing
    with clock.frozen(clock.now() + imports.ABANDONED + dt.timedelta(minutes=1)):
        assert imports.undo_abandoned(engine) == 1
    assert _counts(engine) == before
    with read_session(engine) as session:
        assert rollups.verify(session) == []


def test_on_a_slow_machine_the_chunks_shrink_to_hold_the_lock_about_chunk_seconds(engine, chunked, monkeypatch):
    """Each chunk after the first is as large as holds the lock about ``CHUNK_SECONDS`` at the pace of the one
    before (never more than ``CHUNK_ROWS``, never fewer than ``MIN_CHUNK_ROWS``): here the machine writes 40 rows a
    second against a target of 0.25 s, so after the first chunk of 40 rows they have 10."""
    world = chunked
    monkeypatch.setattr(imports, "CHUNK_SECONDS", 0.25)
    monkeypatch.setattr(imports, "MIN_CHUNK_ROWS", 5)
    now = {"s": 0.0}
    monkeypatch.setattr(imports, "_monotonic", lambda: now["s"])
    sizes: list[int] = []
    write_rows = imports._write_rows

    def counted(session, prepared, rows, *args):
        sizes.append(len(rows))
        now["s"] += len(rows) / 40  # a slow machine: 40 rows a second
        return write_rows(session, prepared, rows, *args)

    monkeypatch.setattr(imports, "_write_rows", counted)
    summary = imports.commit_retrying(engine, world.actors["admin"], _preview(engine, world, "慢-"), source_title="慢")
    assert summary.imported == ROWS and sizes[0] == CHUNK and set(sizes[1:-1]) == {10} and sum(sizes) == ROWS
    with read_session(engine) as session:
        assert rollups.verify(session) == []


def test_the_nightly_job_undoes_a_batch_whose_process_is_gone(engine, world):
    """A batch left by a process that is gone (on this host) is undone by the nightly roll-up job at once, on
    either database: its findings and the rows referring to them go, the roll-ups stay exact."""
    from dashboard.services import jobs
    from dashboard.services.unit_of_work import unit_of_work

    rollups.refresh_if_stale(engine)
    before = _counts(engine)
    with read_session(engine) as session:
        preview = imports.preview_import(session, world.actors["admin"],
                                         imports.read_ledger(ledger(30, "遗留-"), filename="遗留.xlsx"))
    summary = imports.commit_retrying(engine, world.actors["admin"], preview, source_title="遗留的导入")
    ids = sorted(summary.finding_ids)
    assert ids == list(range(ids[0], ids[-1] + 1))
    with unit_of_work(engine) as session:  # as a chunked import that died after its first chunk leaves it
        session.add(ImportBatch(started_at=clock.now(), touched_at=clock.now(), username="admin",
                                owner=f"{imports.socket.gethostname()}:999999999", findings=[[ids[0], ids[-1]]],
                                created={"source": [summary.source_id]}))
    assert jobs.rebuild_rollups(engine) is not None
    after = _counts(engine)
    assert {name: after[name] for name in ("finding", "measure", "progress", "import_batch", "source")} == {
        name: before[name] for name in ("finding", "measure", "progress", "import_batch", "source")}
    with read_session(engine) as session:
        assert rollups.verify(session) == []
