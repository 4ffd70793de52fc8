"""Writers behind a long writer: how long a department's progress save waits while an import commits or the
day's roll-up rebuild runs, on SQLite and on PostgreSQL.

    python scripts/writers_bench.py [--findings 20000] [--rows 20000] [--databases sqlite postgresql] [--out f.json]

Per database: a fresh database with ``--findings`` synthetic findings (PostgreSQL when ``TEST_DATABASE_URL`` is
set: a scratch schema, dropped afterwards). A save alone is timed first. Then an import of ``--rows`` ledger rows
(read and checked before, as the admin page and ``import-ledger`` do) is committed in one thread while another
thread saves progress on a department's findings, one save after another with a short pause, until the import
is done; then the same while the day's rebuild (``jobs.rebuild_rollups``, the nightly job, on the next day's
clock) runs. Printed: each save's time, the longest, and the longest minus a save alone (the wait); the import's
and the rebuild's own time. At the end ``rollups.verify`` must be empty (the figures are exact). It never fails
on a slow figure; it fails (exit 1) only on drift or on an error.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TODAY = dt.datetime(2026, 11, 23, 10, 0)
PAUSE = 0.05  # between two saves of the saving thread


def _database(backend: str, workdir: Path):
    from sqlalchemy import text

    from db.engine import make_engine

    if backend == "sqlite":
        path = workdir / f"writers-{uuid.uuid4().hex[:6]}.db"
        return make_engine(f"sqlite:///{path}"), lambda: None
    url = os.environ["TEST_DATABASE_URL"]
    schema = f"writers_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return make_engine(url, schema=schema), drop


def _ledger(engine, rows: int) -> bytes:
    """An Excel ledger of ``rows`` new findings over ten units, some closed, some overdue."""
    from openpyxl import Workbook
    from sqlalchemy import select

    from db.engine import read_session
    from db.models import Unit

    with read_session(engine) as session:
        units = list(session.execute(select(Unit.name).where(Unit.id.between(2, 11)).order_by(Unit.id)).scalars())
    book = Workbook(write_only=True)
    sheet = book.create_sheet("台账")
    sheet.append(["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    tag = uuid.uuid4().hex[:6]
    for index in range(rows):
        deadline = "2026年11月30日" if index % 4 == 0 else ("2026年10月31日" if index % 4 == 1 else "2027年3月31日")
        sheet.append([index + 1, "档案资料", f"并发测试问题{tag}-{index}：低保档案资料不全", "补齐档案",
                      units[index % len(units)], deadline, "正在整改" if index % 3 else "已完成"])
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


class Saver(threading.Thread):
    """Saves progress on a department's findings, one after another, until told to stop."""

    def __init__(self, engine, actor, finding_ids: list[int]):
        super().__init__(daemon=True)
        self.engine, self.actor, self.finding_ids = engine, actor, finding_ids
        self.stop = threading.Event()
        self.times: list[float] = []
        self.errors: list[str] = []

    def save_once(self, index: int) -> float:
        from dashboard.services import findings
        from dashboard.services.unit_of_work import run_in_unit_of_work

        started = time.perf_counter()
        run_in_unit_of_work(self.engine, findings.report_progress, self.actor,
                            self.finding_ids[index % len(self.finding_ids)], done_text=f"本周进展{index}", percent=50)
        return time.perf_counter() - started

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            try:
                self.times.append(self.save_once(index))
            except Exception as error:  # noqa: BLE001 - reported in the figures, not raised in a thread
                self.errors.append(f"{type(error).__name__}: {str(error)[:200]}")
            index += 1
            self.stop.wait(PAUSE)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _behind(engine, actor, finding_ids, alone: float, long_writer) -> dict:
    """Saves in a loop while ``long_writer()`` runs in this thread; their times and the longest wait."""
    saver = Saver(engine, actor, finding_ids)
    started = time.perf_counter()
    saver.start()
    try:
        result = long_writer()
    finally:
        took = time.perf_counter() - started
        saver.stop.set()
        saver.join(120)
    times = saver.times
    return {"long_writer_seconds": round(took, 2), "long_writer_result": result, "saves": len(times),
            "save_max_ms": _ms(max(times)) if times else None,
            "save_median_ms": _ms(statistics.median(times)) if times else None,
            "longest_wait_ms": _ms(max(times) - alone) if times else None, "errors": saver.errors[:3]}


def measure(backend: str, workdir: Path, findings: int, rows: int) -> dict:
    from sqlalchemy import select

    from dashboard import clock
    from dashboard.lifecycle import Action, starts_from
    from dashboard.services import imports, jobs, rollups
    from dashboard.services.common import actor_of
    from dashboard.vocab import Status
    from db.engine import migrate, read_session
    from db.models import Finding, User
    from seed.synthetic import SyntheticSize, generate

    engine, drop = _database(backend, workdir)
    report: dict = {"database": backend, "findings": findings, "import_rows": rows}
    try:
        with clock.frozen(TODAY):
            migrate(engine)
            generate(engine, SyntheticSize(findings=findings), today=TODAY.date())
            rollups.refresh_if_stale(engine)
            with read_session(engine) as session:
                users = {u.username: actor_of(u) for u in session.execute(select(User)).scalars()}
                dept = users["dept2"]
                open_states = [status.value for status in Status if starts_from(Action.REPORT_PROGRESS, status)]
                ids = list(session.execute(select(Finding.id).where(Finding.lead_unit_id == dept.unit_id,
                                                                    Finding.status.in_(open_states))
                                           .order_by(Finding.id).limit(50)).scalars())
            saver = Saver(engine, dept, ids)
            alone = statistics.median(saver.save_once(i) for i in range(5))
            report["save_alone_ms"] = _ms(alone)

            data = _ledger(engine, rows)
            parsed = imports.read_ledger(data, filename="并发测试导入.xlsx")
            with read_session(engine) as session:
                preview = imports.preview_import(session, users["admin"], parsed)

            def import_ledger():
                return imports.commit_retrying(engine, users["admin"], preview, source_title="并发测试导入").imported
            report["behind_import"] = _behind(engine, dept, ids, alone, import_ledger)

        with clock.frozen(TODAY + dt.timedelta(days=1)):  # the nightly rebuild: the next day's lights
            report["behind_rebuild"] = _behind(engine, dept, ids, alone, lambda: bool(jobs.rebuild_rollups(engine)))
            rollups.refresh_if_stale(engine)
            with read_session(engine) as session:
                drifts = rollups.verify(session)
            report["drifts"] = [str(drift) for drift in drifts[:10]]
            report["drift_count"] = len(drifts)
    finally:
        engine.dispose()
        drop()
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=20_000, help="synthetic findings in the database first")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the imported ledger")
    parser.add_argument("--databases", nargs="+", default=None, choices=("sqlite", "postgresql"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    backends = args.databases or (["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"])
    reports = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            reports.append(measure(backend, Path(workdir), args.findings, args.rows))
            print(json.dumps(reports[-1], ensure_ascii=False, indent=1), flush=True)
    if args.out:
        args.out.write_text(json.dumps(reports, ensure_ascii=False, indent=1))
    failed = any(report["drift_count"] or report["behind_import"]["errors"] or report["behind_rebuild"]["errors"]
                 for report in reports)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
