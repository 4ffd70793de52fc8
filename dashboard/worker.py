"""``python -m dashboard worker``: the scheduled jobs (``dashboard.services.jobs.timetable``) on an
APScheduler clock in the bureau's time zone. Every daily run is claimed in the database, so two
workers, or a worker and a cron ``remind --once``, never send anything twice."""
from __future__ import annotations

import logging
import signal

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from dashboard import clock, config, logs
from dashboard.services import jobs
from dashboard.settings import load_settings
from db.engine import read_session

log = logging.getLogger("dashboard.worker")


def _guarded(job: jobs.Job, engine: Engine):
    """The job as the clock runs it: recorded in ``job_run`` for the health page, one JSON log line with its
    duration, and a failure logged without stopping the clock."""
    def run() -> None:
        try:
            with logs.timed("job", job=job.name):
                result = jobs.run_and_record(engine, job.name, job.run)
            log.info("job %s: %s", job.name, result)
        except Exception:  # one failing run must not stop the clock
            log.exception("job %s failed", job.name)
    return run


def scheduler(engine: Engine) -> BlockingScheduler:
    clock_ = BlockingScheduler(timezone=config.TIMEZONE,
                               job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for job in jobs.timetable(engine):
        clock_.add_job(_guarded(job, engine), id=job.name, name=job.name, **job.trigger)
    return clock_


def run(engine: Engine) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with read_session(engine) as session:
        hour = load_settings(session).digest_hour
    if clock.now().hour >= hour:  # started after today's digest hour: catch up (claims keep it once)
        _guarded(jobs.Job("daily", jobs.daily, {}), engine)()
    clock_ = scheduler(engine)
    signal.signal(signal.SIGTERM, lambda *_: clock_.shutdown(wait=False))
    log.info("worker started: %s", ", ".join(job.name for job in jobs.timetable(engine)))
    try:
        clock_.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0
