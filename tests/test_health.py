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
    late = {c.key: c for c in health.checks(engine, admin, backup_dir=folder, disk_path=tmp_path,
                                            worker_last_run=dt.datetime.now() - dt.timedelta(days=3))}
    assert late["worker"].ok is False
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
