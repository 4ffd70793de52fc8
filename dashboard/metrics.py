"""What ``/metrics`` shows (Prometheus text format, prometheus-client): counted in this process — page runs by
page and outcome with their durations, sign-ins by outcome, API calls by route and status — and read from the
database when scraped, so that every process's work shows wherever it is scraped: deliveries by status, the
scheduled jobs' last runs, and this process's database pool in use."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

REGISTRY = CollectorRegistry()

PAGE_RUNS = Counter("dashboard_page_runs", "Page runs (one per Streamlit script run)", ["page", "status"],
                    registry=REGISTRY)
PAGE_SECONDS = Histogram("dashboard_page_run_seconds", "Duration of a page run", ["page"], registry=REGISTRY,
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
SIGN_INS = Counter("dashboard_sign_ins", "Sign-in attempts by outcome", ["outcome"], registry=REGISTRY)
API_CALLS = Counter("dashboard_api_calls", "Calls to /api/v1 by route and HTTP status", ["route", "status"],
                    registry=REGISTRY)


def page_run(page: str, status: str, seconds: float) -> None:
    PAGE_RUNS.labels(page=page or "unknown", status=status).inc()
    PAGE_SECONDS.labels(page=page or "unknown").observe(seconds)


class DatabaseCollector:
    """Read at each scrape: deliveries by status, each job's last run, the pool's connections in use."""

    def __init__(self, engine_factory) -> None:
        self._engine = engine_factory

    def collect(self):
        from db.engine import read_session
        from db.models import Delivery, JobRun

        engine = self._engine()
        deliveries = GaugeMetricFamily("dashboard_deliveries", "Outbound messages by status (sent, failed …)",
                                       labels=["status"])
        job_ok = GaugeMetricFamily("dashboard_job_last_run_ok", "1 when the job's last run ended well", labels=["job"])
        job_at = GaugeMetricFamily("dashboard_job_last_run_timestamp", "When the job's last run finished (local time, "
                                   "seconds since the epoch)", labels=["job"])
        with read_session(engine) as session:
            for status, count in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
                deliveries.add_metric([status], count)
            for run in session.execute(select(JobRun)).scalars():
                job_ok.add_metric([run.job], 1 if run.ok else 0)
                job_at.add_metric([run.job], run.finished_at.timestamp())
        pool = GaugeMetricFamily("dashboard_db_pool_in_use", "Database connections this process has checked out")
        checked_out = getattr(engine.pool, "checkedout", None)
        pool.add_metric([], checked_out() if callable(checked_out) else 0)
        yield from (deliveries, job_ok, job_at, pool)


_watching: list[DatabaseCollector] = []


def watch_database(engine_factory) -> None:
    """Once per process (the server's start): add the database's figures to the registry."""
    if not _watching:
        _watching.append(DatabaseCollector(engine_factory))
        REGISTRY.register(_watching[0])
