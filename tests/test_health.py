"""The admin's health page: each check says what it found; only the admin may look."""
from __future__ import annotations

import datetime as dt

import pytest

from dashboard.errors import PermissionDenied
from dashboard.i18n import t
from dashboard.services import backup, health
from dashboard.services.unit_of_work import unit_of_work
from db.engine import migrate
from tests.factories import build_world


def test_health_checks_for_the_admin(engine, tmp_path):
    migrate(engine)
    with unit_of_work(engine) as session:
        world = build_world(session)
    admin = world.actors["admin"]
    folder = tmp_path / "backups"
    before = {c.key: c for c in health.checks(engine, admin, backup_dir=folder, disk_path=tmp_path)}
    assert before["database"].ok and before["migrations"].ok
    assert before["migrations"].params["current"] == before["migrations"].params["head"]
    assert before["backup"].ok is False                       # no backup yet is a problem
    assert before["worker"].ok is None                        # not known until the worker records a run
    assert before["disk"].params["total_gb"] > 0
    backup.nightly_backup(engine, folder, keep=2)
    after = {c.key: c for c in health.checks(engine, admin, backup_dir=folder, disk_path=tmp_path)}
    assert after["backup"].ok and after["backup"].params["hours"] < 1
    for check in after.values():  # every detail reads in both languages with its parameters
        for lang in ("zh", "en"):
            assert "{" not in t(check.detail_key, lang, **check.params)


def test_only_the_admin_sees_health(engine, tmp_path):
    migrate(engine)
    with unit_of_work(engine) as session:
        world = build_world(session)
    for name in ("leader", "inspector", "jiuzhu"):
        with pytest.raises(PermissionDenied):
            health.checks(engine, world.actors[name], backup_dir=tmp_path, disk_path=tmp_path)


def test_health_shows_the_workers_last_runs_and_failures(engine, tmp_path):
    """The worker writes each job's run to the database; the health page (another process) reads it."""
    from dashboard import clock
    from dashboard.services import jobs
    from dashboard.worker import _guarded

    migrate(engine)
    with unit_of_work(engine) as session:
        world = build_world(session)
    admin = world.actors["admin"]

    def look(now=None):
        return {c.key: c for c in health.checks(engine, admin, backup_dir=tmp_path, disk_path=tmp_path, now=now)}

    assert look()["worker"].ok is None
    with clock.frozen(dt.datetime(2026, 6, 15, 9, 0)):
        _guarded(jobs.Job("deliver", jobs.deliver, {}), engine)()
    fresh = look(dt.datetime(2026, 6, 15, 9, 3))["worker"]
    assert fresh.ok and fresh.params["minutes"] == 3 and fresh.params["worker"] == jobs.worker_name()
    assert t(fresh.detail_key, "zh", **fresh.params).startswith("3 分钟前运行了“消息发送”")
    assert t(fresh.detail_key, "en", **fresh.params).startswith("message sending ran 3 min ago")
    assert look(dt.datetime(2026, 6, 15, 10, 0))["worker"].ok is False  # an hour without a run: not running

    def broken(_engine):
        raise RuntimeError("备份目录不可写")

    with clock.frozen(dt.datetime(2026, 6, 15, 9, 5)):
        _guarded(jobs.Job("backup", broken, {}), engine)()  # logged, recorded, the clock goes on
    found = look(dt.datetime(2026, 6, 15, 9, 6))
    assert found["worker"].ok and found["worker"].params["minutes"] == 1
    failed = found["job_failed"]
    assert failed.ok is False and failed.params["last_ok"] == "—"
    assert "RuntimeError: 备份目录不可写" in t(failed.detail_key, "en", **failed.params)
    assert "夜间备份" in t(failed.detail_key, "zh", **failed.params)
    with clock.frozen(dt.datetime(2026, 6, 15, 9, 10)):
        jobs.run_and_record(engine, "backup", lambda e: "ok")
    assert "job_failed" not in look(dt.datetime(2026, 6, 15, 9, 11))


def test_health_says_how_many_differences_the_days_rebuild_found(engine, tmp_path):
    from dashboard import clock
    from dashboard.services import rollups
    from sqlalchemy import select

    from db.engine import transaction
    from db.models import RollupCount

    migrate(engine)
    from dashboard.services import findings
    from tests.factories import finding_input

    with clock.frozen(dt.datetime(2026, 6, 14, 9, 0)):
        with unit_of_work(engine) as session:
            world = build_world(session)
        with unit_of_work(engine) as session:
            findings.log_finding(session, world.actors["inspector"], finding_input(world))
        rollups.refresh_if_stale(engine)
    with transaction(engine) as session:  # corrupt yesterday's sums
        row = session.execute(select(RollupCount).where(RollupCount.n > 0).limit(1)).scalars().one()
        row.n += 5
    with clock.frozen(dt.datetime(2026, 6, 15, 0, 5)):
        assert rollups.refresh_if_stale(engine)
        check = {c.key: c for c in health.checks(engine, world.actors["admin"], backup_dir=tmp_path,
                                                 disk_path=tmp_path)}["rollups"]
    assert check.ok is False and check.params["drifts"] >= 1 and check.params["day"] == "2026-06-15"
    assert "已修复" in t(check.detail_key, "zh", **check.params)
    with clock.frozen(dt.datetime(2026, 6, 16, 0, 5)):
        assert rollups.refresh_if_stale(engine)
        check = {c.key: c for c in health.checks(engine, world.actors["admin"], backup_dir=tmp_path,
                                                 disk_path=tmp_path)}["rollups"]
    assert check.ok and check.params["drifts"] == 0
