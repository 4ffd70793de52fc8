"""Figures that cannot drift: whatever order commands run in, whichever process writes, across
midnight and settings changes, the roll-ups equal the base tables (``stats --verify`` clean)."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from openpyxl import Workbook
from sqlalchemy import false, func, select

from dashboard import clock
from dashboard.errors import DomainError
from dashboard.figures import Figures, percent
from dashboard.services import admin, imports, queries, rollups
from dashboard.services import findings as svc
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session, transaction
from db.models import Finding, Measure, RollupMeta
from tests.factories import build_world, evidence, finding_input
from tests.processes import cheap_hashing_command, cli_here
from tests.test_cli import cli_url

ROOT = Path(__file__).resolve().parent.parent


# --- one definition, rounded once ---------------------------------------------------------------------

def test_rates_are_rounded_once_where_they_are_printed():
    assert percent(Figures(total=17, closed=14).completion_rate) == "82.4%"   # 82.353 %, not 82.3 %
    assert percent(Figures(total=68, closed=63).completion_rate) == "92.6%"   # 92.647 %, not 92.7 %
    assert Figures(total=17, closed=14).completion_rate == 14 / 17


def test_effective_excludes_cancelled_and_rates_use_it():
    figures = Figures(total=11, cancelled=1, closed=2, closed_on_time=1, open=4, in_progress=2, pending_review=1)
    assert (figures.effective, figures.working, figures.outstanding) == (10, 6, 7)
    assert (figures.completion_rate, figures.on_time_rate) == (0.2, 0.5)
    assert Figures().completion_rate == 0.0 and Figures().on_time_rate == 0.0


def test_a_snapshot_of_schema_1_keeps_its_stored_rates():
    old = {"total": 17, "cancelled": 0, "closed": 14, "closed_on_time": 7, "completion_rate": 0.8235,
           "on_time_rate": 0.5}
    assert Figures.from_mapping(old).completion_rate == 0.8235  # what its report printed then, it prints now


# --- order of commands: each write in a process of its own -----------------------------------------------
# The command that writes (seed-demo, import-ledger, synthetic, a script, stats --verify/--repair) runs as its
# own process, ``python -m dashboard …`` as an operator or cron runs it. The readings around it (``stats --json``,
# ``stats --verify``) run ``cli.main`` in the test's process on an engine of their own (``_here``): a process
# other than the writer's, with nothing cached from it, at a second less per reading than a new interpreter.
# The last test of the file reads in processes of their own as well.

def _cli(env: dict, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dashboard", *argv], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def _here(env: dict, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m dashboard …`` as ``cli.main`` in the test's process, with ``env``'s DATABASE_URL (``cli_env`` set
    it in the process environment as well) and a new application engine, disposed of afterwards."""
    assert os.environ["DATABASE_URL"] == env["DATABASE_URL"]
    result = cli_here(*argv)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def _stats(env: dict, run=_here) -> dict:
    return json.loads(run(env, "stats", "--json").stdout)


def _verified(env: dict, run=_here) -> None:
    result = run(env, "stats", "--verify", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "一致" in result.stdout


def _count_findings(engine, **where) -> int:
    with read_session(engine) as session:
        statement = select(func.count()).select_from(Finding)
        for column, value in where.items():
            statement = statement.where(getattr(Finding, column) == value)
        return session.execute(statement).scalar_one()


@pytest.fixture
def cli_env(database_url, engine, monkeypatch):
    """The environment of a command's process; DATABASE_URL is set in the test's process too, for ``_here``."""
    monkeypatch.setenv("DATABASE_URL", cli_url(database_url))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return env


def test_stats_then_seed_demo_then_stats(cli_env, engine):
    assert _stats(cli_env)["total"] == 0  # builds today's (empty) roll-ups
    seeded = subprocess.run(cheap_hashing_command("seed-demo"), cwd=ROOT, env=cli_env, capture_output=True,
                            text=True, timeout=300)  # a process of its own; demo passwords hashed at the tests' cost
    assert seeded.returncode == 0, seeded.stderr + seeded.stdout
    after = _stats(cli_env)
    assert after["total"] == _count_findings(engine) > 0
    assert after["cancelled"] == _count_findings(engine, status="cancelled")
    _verified(cli_env)


def _ledger_file(tmp_path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    sheet.append([1, "对象认定不精准", "低保档案不全", "补齐档案", "社会救助办", "2027年9月30日", "正在整改"])
    sheet.append([2, "对象认定不精准", "公示不规范", "规范公示", "社会救助办", "2027年5月30日", "已完成"])
    path = tmp_path / "台账.xlsx"
    book.save(path)
    return path


def test_stats_then_import_then_stats(cli_env, engine, tmp_path, demo_copy):
    demo_copy(engine)  # what `seed-demo` leaves (the test above runs the command itself)
    before = _stats(cli_env)
    _cli(cli_env, "import-ledger", str(_ledger_file(tmp_path)), "--source", "自查台账")
    after = _stats(cli_env)
    assert after["total"] == before["total"] + 2 == _count_findings(engine)
    assert after["closed"] == _count_findings(engine, status="closed")
    _verified(cli_env)


def test_stats_then_synthetic_then_stats(cli_env, engine):
    assert _stats(cli_env)["total"] == 0
    _cli(cli_env, "synthetic", "--findings", "300", "--counties", "3", "--townships", "6", "--villages", "40",
         "--units", "12", "--sources", "5")
    after = _stats(cli_env)
    assert after["total"] == 300 == _count_findings(engine)
    assert after["closed"] == _count_findings(engine, status="closed")
    _verified(cli_env)


def test_a_script_that_imports_only_the_findings_service(cli_env, engine, demo_copy):
    """A script that calls a service in a unit of work keeps the figures, whatever else it imports."""
    demo_copy(engine)
    before = _stats(cli_env)
    script = textwrap.dedent("""
        from sqlmodel import select
        from dashboard.services import findings
        from dashboard.services.common import actor_of
        from dashboard.services.unit_of_work import unit_of_work
        from db.engine import default_engine
        from db.models import Finding, User
        with unit_of_work(default_engine()) as session:
            admin = session.exec(select(User).where(User.role == "admin")).first()
            target = session.exec(select(Finding).where(Finding.status == "open")).first()
            findings.cancel(session, actor_of(admin), target.id, None, "登记有误")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=cli_env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    after = _stats(cli_env)
    assert after["cancelled"] == before["cancelled"] + 1 == _count_findings(engine, status="cancelled")
    _verified(cli_env)


def test_verify_reports_drift_and_repair_fixes_it(cli_env, engine, demo_copy):
    demo_copy(engine)
    _stats(cli_env)
    with engine.begin() as connection:  # someone edits the base table behind the application's back
        connection.exec_driver_sql("UPDATE finding SET status = 'closed', closed_at = created_at "
                                   "WHERE id = (SELECT min(id) FROM finding WHERE status = 'open')")
    result = _cli(cli_env, "stats", "--verify", check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("closed\tall\t-\t") for line in lines), lines
    assert any(line.startswith("contribution\tfinding\t") for line in lines), lines
    repaired = _cli(cli_env, "stats", "--repair", check=False)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    _verified(cli_env)


# --- random sequences of writes, imports and clock moves ---------------------------------------------------

ACTIONS = ("log", "log_late", "progress", "tick", "apply", "send_back", "close", "cancel", "extend", "edit_unit",
           "ongoing", "import", "setting", "clock_hours", "clock_midnight", "read")


def _ledger_bytes(index: int) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "问题类别", "问题描述", "整改措施", "牵头单位", "整改时限", "完成情况"])
    sheet.append([1, "对象认定不精准", f"导入问题{index}甲", "补齐档案", "社会救助办", "2026年6月20日", "正在整改"])
    sheet.append([2, "对象认定不精准", f"导入问题{index}乙", "规范公示", "社会救助办", "2026年5月30日", "已完成"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class Run:
    """The state a sequence of steps walks through: the world, and a clock that only moves forward."""

    def __init__(self, engine, world):
        self.engine, self.world = engine, world
        self.now = dt.datetime(2026, 6, 15, 10, 0)
        self.imports = 0

    def pick(self, session, number: int, *statuses: str) -> int | None:
        statement = select(Finding.id).order_by(Finding.id)
        if statuses:
            statement = statement.where(Finding.status.in_(statuses))
        ids = list(session.execute(statement).scalars())
        return ids[number % len(ids)] if ids else None

    def step(self, action: str, number: int) -> None:
        if action == "clock_hours":
            self.now += dt.timedelta(hours=1 + number % 7)
            return
        if action == "clock_midnight":
            self.now = dt.datetime.combine(self.now.date() + dt.timedelta(days=1 + number % 3), dt.time(0, 0, 1))
            return
        with clock.frozen(self.now):
            if action == "read":
                rollups.refresh_if_stale(self.engine)
                return
            try:
                with unit_of_work(self.engine) as session:
                    self.write(session, action, number)
            except DomainError:
                pass  # refused by the rules (wrong state): nothing written, nothing to count

    def write(self, session, action: str, number: int) -> None:
        actors, world = self.world.actors, self.world
        inspector, dept = actors["inspector"], actors["jiuzhu"]
        if action == "log":
            svc.log_finding(session, inspector, finding_input(
                world, deadline=self.now.date() + dt.timedelta(days=number % 12), village_id=None))
        elif action == "log_late":
            svc.log_finding(session, inspector, finding_input(world, deadline=self.now.date() - dt.timedelta(days=2)))
        elif action == "import":
            self.imports += 1
            imports.commit_import(session, actors["admin"], _ledger_bytes(self.imports * 1000 + number),
                                  source_title="自查台账")
        elif action == "setting":
            admin.update_setting(session, actors["admin"], "due_soon_days", 3 + number % 20)
        else:
            self.move(session, action, number, inspector, dept)

    def move(self, session, action: str, number: int, inspector, dept) -> None:
        target = self.pick(session, number)
        if target is None:
            return
        if action == "progress":
            svc.report_progress(session, dept, target, done_text="推进中", files=[evidence(payload=bytes([number]))])
        elif action == "tick":
            measure_id = session.execute(select(Measure.id).where(
                Measure.finding_id == target, Measure.done == false())).scalars().first()
            if measure_id:
                svc.tick_measure(session, dept, measure_id, None)
        elif action == "apply":
            svc.apply_closure(session, dept, target, None, summary="已整改")
        elif action == "send_back":
            svc.send_back(session, inspector, target, None, "材料不全")
        elif action == "close":
            svc.close(session, inspector, target, None)
        elif action == "cancel":
            svc.cancel(session, self.world.actors["admin"], target, None, "误录")
        elif action == "extend":
            request = svc.request_extension(session, dept, target, reason="等待资金",
                                            asked_deadline=self.now.date() + dt.timedelta(days=20 + number))
            session.flush()
            svc.decide_extension(session, inspector, request.id, approve=number % 2 == 0)
        elif action == "edit_unit":
            svc.edit_finding(session, inspector, target, None, {"lead_unit_id": self.world.units["儿童福利和社会事务股"]})
        elif action == "ongoing":
            svc.set_ongoing(session, inspector, target, None, "长期坚持")


def assert_exact(engine, now: dt.datetime) -> None:
    """Whenever the roll-ups say they are today's, every number in them is the base tables' number."""
    with clock.frozen(now), read_session(engine) as session:
        if rollups.is_fresh(session):
            assert rollups.verify(session) == []
    with clock.frozen(now):
        rollups.refresh_if_stale(engine)
        with read_session(engine) as session:
            assert rollups.is_fresh(session)
            assert rollups.verify(session) == []


@pytest.fixture
def run(engine):
    with clock.frozen(dt.datetime(2026, 6, 15, 9, 0)):
        with unit_of_work(engine) as session:
            world = build_world(session)
        rollups.refresh_if_stale(engine)
    return Run(engine, world)


@settings(max_examples=int(os.environ.get("FIGURE_EXAMPLES", "12")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 40)), min_size=1, max_size=10))
def test_random_sequences_keep_the_rollups_exact(run, steps):
    for action, number in steps:
        run.step(action, number)
        with clock.frozen(run.now), read_session(run.engine) as session:
            if rollups.is_fresh(session):  # not yet rebuilt after midnight: readers rebuild first
                assert rollups.verify(session) == [], (action, number)
    assert_exact(run.engine, run.now)


def test_a_write_racing_a_rebuild_is_counted(engine):
    """The day's rebuild and a write serialise on the roll-up lock; the write is never left out."""
    with unit_of_work(engine) as session:
        world = build_world(session)
    with clock.frozen(dt.datetime(2026, 6, 15, 23, 59)):
        rollups.refresh_if_stale(engine)
    midnight = dt.datetime(2026, 6, 16, 0, 0, 5)
    with clock.frozen(midnight):
        with transaction(engine) as rebuilding:
            assert rollups.rebuild_if_stale(rebuilding)  # holds the lock until it commits
            if engine.dialect.name == "postgresql":
                import threading

                errors = []

                def write():
                    try:
                        with clock.frozen(midnight), unit_of_work(engine) as session:
                            svc.log_finding(session, world.actors["inspector"], finding_input(world))
                    except Exception as error:  # pragma: no cover - reported below
                        errors.append(error)

                writer = threading.Thread(target=write)
                writer.start()
                writer.join(timeout=1.0)
                assert writer.is_alive(), "the write must wait for the rebuild's lock"
        if engine.dialect.name == "postgresql":
            writer.join(timeout=30)
            assert not errors
        else:
            with unit_of_work(engine) as session:
                svc.log_finding(session, world.actors["inspector"], finding_input(world))
        with read_session(engine) as session:
            assert rollups.is_fresh(session)
            assert queries.figures(session).total == 1
            assert rollups.verify(session) == []


def test_the_meta_row_is_created_once_by_concurrent_first_readers(engine):
    with unit_of_work(engine) as session:
        build_world(session)
    with read_session(engine) as session:
        assert session.get(RollupMeta, 1) is None
    import threading

    errors = []

    def read():
        try:
            rollups.refresh_if_stale(engine)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with read_session(engine) as session:
        assert rollups.is_fresh(session) and rollups.verify(session) == []


# --- several processes at once ---------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import random, sys
    from sqlmodel import select
    from dashboard.errors import DomainError
    from dashboard.services import findings
    from dashboard.services.common import actor_of
    from dashboard.services.findings import FindingInput
    from dashboard.services.unit_of_work import run_in_unit_of_work
    from db.engine import default_engine, read_session
    from db.models import Finding, Source, Category, Unit, User
    import datetime as dt

    engine, rng, writes = default_engine(), random.Random(int(sys.argv[1])), int(sys.argv[2])
    with read_session(engine) as session:
        people = {u.username: actor_of(u) for u in session.exec(select(User)).all()}
        source, category = session.exec(select(Source.id)).first(), session.exec(select(Category.id)).first()
        unit = session.exec(select(Unit.id).where(Unit.name == "社会救助办")).first()

    def step(session, n):
        if n % 3 == 0:
            return findings.log_finding(session, people["inspector"], FindingInput(
                source_id=source, category_id=category, description=f"并发问题{sys.argv[1]}-{n}",
                lead_unit_id=unit, measures=["核查"], deadline=dt.date.today() + dt.timedelta(days=rng.randint(-5, 10))))
        ids = list(session.exec(select(Finding.id).where(Finding.status.in_(["open", "in_progress"]))).all())
        if not ids:
            return None
        target = rng.choice(ids)
        if n % 3 == 1:
            return findings.report_progress(session, people["jiuzhu"], target, done_text="推进")
        return findings.set_ongoing(session, people["inspector"], target, None, "长期") if rng.random() < 0.5 \\
            else findings.cancel(session, people["admin"], target, None, "误录")

    for n in range(writes):
        try:
            run_in_unit_of_work(engine, step, n)
        except DomainError:
            pass  # another process moved that finding first: refused, nothing written
""")

REBUILDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dashboard.services import rollups
    from db.engine import default_engine, transaction

    engine, stop = default_engine(), Path(sys.argv[1])
    rounds = 0
    while not stop.exists() and rounds < 400:
        with transaction(engine) as session:  # the day changes, as far as the roll-ups know
            rollups.settle(session, [], everything=True)
        rollups.refresh_if_stale(engine)    # and the first readers of the day race to rebuild
        rounds += 1
        time.sleep(0.01)
    print(rounds)
""")


def test_two_writing_processes_and_a_rebuilding_one_keep_the_figures_exact(cli_env, engine, tmp_path):
    with unit_of_work(engine) as session:
        build_world(session)
    writes = 200 if engine.dialect.name == "postgresql" else 60  # SQLite serialises every writer anyway
    stop = tmp_path / "stop"
    rebuilder = subprocess.Popen([sys.executable, "-c", REBUILDER, str(stop)], cwd=ROOT, env=cli_env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(seed), str(writes)], cwd=ROOT, env=cli_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    try:
        outcomes = [writer.communicate(timeout=600) + (writer.returncode,) for writer in writers]
    finally:
        stop.touch()
        rebuilt, rebuild_errors = rebuilder.communicate(timeout=120)
    for _out, err, code in outcomes:
        assert code == 0, err
    assert rebuilder.returncode == 0, rebuild_errors
    assert int(rebuilt) >= 1
    assert _count_findings(engine) >= 2 * (writes // 3)
    _verified(cli_env, run=_cli)
    stats = _stats(cli_env, run=_cli)
    assert stats["total"] == _count_findings(engine)
    assert stats["cancelled"] == _count_findings(engine, status="cancelled")
