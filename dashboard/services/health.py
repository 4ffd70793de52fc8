"""The admin's health checks: database reachable, migrations at head, roll-ups fresh, worker last run, backup
age, free disk space. Each check is a ``Check`` with a catalogue key and raw parameters; the page translates."""
from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from dashboard import clock
from dashboard.lifecycle import Action, Actor, authorize
from dashboard.errors import Phrase
from dashboard.services import backup, jobs, rollups
from db.engine import alembic_config, read_session
from db.models import RollupMeta

BACKUP_WARN_HOURS = 26     # a nightly backup older than this is a problem
WORKER_WARN_MINUTES = 10   # the worker sends every minute: this long without any run means it is not running
DISK_WARN_FRACTION = 0.10  # less free than this is a problem


@dataclass(frozen=True)
class Check:
    key: str                      # health.<key> names it
    ok: bool | None               # None: not known
    detail_key: str
    params: dict[str, Any] = field(default_factory=dict)


def checks(engine: Engine, actor: Actor, *, backup_dir: Path, disk_path: Path,
           now: dt.datetime | None = None) -> list[Check]:
    authorize(actor, Action.VIEW_HEALTH)
    now = now or clock.now()
    found = [_database(engine)]
    if found[0].ok:
        found += [_migrations(engine), _rollups(engine, now), *_worker(engine, now)]
    found += [_backup(backup_dir), _disk(disk_path)]
    return found


def _database(engine: Engine) -> Check:
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - the check reports it
        return Check("database", False, "backup.failed", {"detail": type(error).__name__})
    return Check("database", True, "health.database_detail",
                 {"dialect": engine.dialect.name, "ms": round((time.perf_counter() - started) * 1000, 1)})


def _migrations(engine: Engine) -> Check:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return Check("migrations", current == head, "health.migrations_detail", {"current": current, "head": head})


def _rollups(engine: Engine, now: dt.datetime) -> Check:
    with read_session(engine) as session:
        fresh = rollups.is_fresh(session, now)
        meta = session.get(RollupMeta, 1)
    if not fresh:
        return Check("rollups", None, "health.rollups_stale")
    rebuilt = _minute(meta.rebuilt_at)
    if meta.checked_drifts is None:
        return Check("rollups", True, "health.rollups_unchecked", {"day": str(meta.as_of), "at": rebuilt})
    return Check("rollups", meta.checked_drifts == 0, "health.rollups_detail",  # drift repaired: a bug to look into
                 {"day": str(meta.as_of), "at": rebuilt, "drifts": meta.checked_drifts})


def _worker(engine: Engine, now: dt.datetime) -> list[Check]:
    """The worker runs a job every minute (sending); no run for WORKER_WARN_MINUTES means it is not running.
    A job whose latest run failed is a problem of its own."""
    with read_session(engine) as session:
        runs = jobs.last_runs(session)
    if not runs:
        return [Check("worker", None, "health.worker_unknown")]
    newest = runs[0]
    minutes = int((now - newest.finished_at).total_seconds() // 60)
    found = [Check("worker", minutes <= WORKER_WARN_MINUTES, "health.worker_detail",
                   {"minutes": max(minutes, 0), "job": Phrase(f"job.{newest.job}"), "worker": newest.worker})]
    for run in runs:
        if not run.ok:
            found.append(Check("job_failed", False, "health.job_failed_detail",
                               {"job": Phrase(f"job.{run.job}"), "at": _minute(run.finished_at), "error": run.detail,
                                "last_ok": _minute(run.last_ok_at)}))
    return found


def _minute(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


def _backup(directory: Path) -> Check:
    age = backup.latest_backup_age(directory)
    if age is None:
        return Check("backup", False, "health.never", {"path": str(directory)})
    newest = backup.backups(directory)[0]
    hours = round(age.total_seconds() / 3600, 1)
    return Check("backup", hours <= BACKUP_WARN_HOURS, "health.age_hours", {"hours": hours, "path": newest.name})


def _disk(path: Path) -> Check:
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return Check("disk", usage.free / usage.total >= DISK_WARN_FRACTION, "health.disk_detail",
                 {"free_gb": round(usage.free / 2**30, 1), "total_gb": round(usage.total / 2**30, 1), "path": str(path)})
