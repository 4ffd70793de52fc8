"""/metrics: Prometheus text that prometheus_client's own parser reads, with page runs, sign-ins, API calls,
deliveries, job runs and the pool; only for loopback and DASHBOARD_METRICS_ALLOW, never for a caller a proxy
names from elsewhere; the nginx template does not pass it on."""
from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from dashboard import metrics
from dashboard.services import api_tokens
from dashboard.services.unit_of_work import unit_of_work
from dashboard.web import metrics_route
from db.models import Delivery
from tests.apptest_support import point_app_at

ROOT = Path(__file__).resolve().parent.parent


def _client(client_address: str) -> TestClient:
    from dashboard.web.api import api
    from dashboard.web.common import database

    metrics.watch_database(database)
    app = Starlette(routes=[*metrics_route.routes(), Mount("/api/v1", app=api)])
    return TestClient(app, client=(client_address, 50000))


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_parse_and_count(engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        secret = api_tokens.create(session, world.actors["admin"], "metrics-probe", ["figures:read"])
        session.add(Delivery(kind="digest", body="x", status="failed"))
        session.add(Delivery(kind="digest", body="y", status="sent"))
    metrics.page_run("ledger", "ok", 0.2)
    metrics.SIGN_INS.labels(outcome="throttled").inc()
    local = _client("127.0.0.1")
    before = _samples(local.get("/metrics").text)
    assert local.get("/api/v1/stats", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert local.get("/api/v1/stats").status_code == 401
    answer = local.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    after = _samples(answer.text)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("dashboard_api_calls_total", route="/stats", status="200") == 1
    assert grew("dashboard_api_calls_total", route="/stats", status="401") == 1
    assert after[("dashboard_page_runs_total", (("page", "ledger"), ("status", "ok")))] >= 1
    assert after[("dashboard_page_run_seconds_count", (("page", "ledger"),))] >= 1
    assert after[("dashboard_sign_ins_total", (("outcome", "throttled"),))] >= 1
    assert after[("dashboard_deliveries", (("status", "failed"),))] == 1
    assert after[("dashboard_deliveries", (("status", "sent"),))] == 1
    assert ("dashboard_db_pool_in_use", ()) in after


def test_only_loopback_and_the_allowed_addresses(engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    assert _client("203.0.113.5").get("/metrics").status_code == 403
    # through a proxy on the same machine, for a caller elsewhere: refused too
    assert _client("127.0.0.1").get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 403
    monkeypatch.setenv("DASHBOARD_METRICS_ALLOW", "10.8.0.0/16, 192.0.2.7")
    assert _client("10.8.3.4").get("/metrics").status_code == 200
    assert _client("192.0.2.7").get("/metrics").status_code == 200
    assert _client("192.0.2.8").get("/metrics").status_code == 403
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    assert "location = /metrics {\n            return 404;" in template
