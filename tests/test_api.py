"""/api/v1 with tokens: every scope allowed and refused, a token after revocation and after expiry, a stale
version (409), an import previewed then committed equals the command line's, the rate limit, no route without
a token, refusals as JSON in the caller's language, and the OpenAPI document."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from dashboard import clock
from dashboard.services import api_tokens, rollups
from dashboard.services import findings as svc
from dashboard.services.queries import stats
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import AuditLog, Finding, Progress
from tests.apptest_support import point_app_at
from tests.factories import finding_input
from tests.test_imports import GOOD_ROWS, workbook

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def api(engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from dashboard.web.api import api as app

    with unit_of_work(engine) as session:
        world.finding = svc.log_finding(session, world.actors["inspector"], finding_input(world)).serial
    return TestClient(Starlette(routes=[Mount("/api/v1", app=app)]), base_url="http://testserver/api/v1")  # as served


def token(engine, world, name, scopes, units=(), days=90) -> dict[str, str]:
    with unit_of_work(engine) as session:
        secret = api_tokens.create(session, world.actors["admin"], name, list(scopes), list(units), days)
    return {"Authorization": f"Bearer {secret}"}


def test_no_route_answers_without_a_token(api):
    from dashboard.web.api import api as app

    paths = [route.path for route in app.routes if route.path not in ("/openapi.json",)]
    assert {"/stats", "/findings", "/findings/{serial}", "/findings/{serial}/progress", "/imports"} <= set(paths)
    for method, path in (("get", "/stats"), ("get", "/findings"), ("get", "/findings/ZG-2026-0001"),
                         ("post", "/findings/ZG-2026-0001/progress"), ("post", "/imports")):
        answer = getattr(api, method)(path)
        assert answer.status_code == 401 and answer.json()["error"] == "api.token_missing", (path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
    bad = api.get("/stats", headers={"Authorization": "Bearer zgt_made-up", "Accept-Language": "en-GB,en;q=0.8"})
    assert bad.status_code == 401 and bad.json() == {"error": "api.token_invalid", "message": "The token is not valid."}


def test_figures_read_is_the_stats_json_object_and_nothing_more(api, engine, world):
    figures = token(engine, world, "province", ["figures:read"])
    answer = api.get("/stats", headers=figures)
    assert answer.status_code == 200
    rollups.refresh_if_stale(engine)
    with read_session(engine) as session:
        assert answer.json() == json.loads(json.dumps(stats(session), ensure_ascii=False, default=str))
    for path in ("/findings", f"/findings/{world.finding}"):
        refused = api.get(path, headers=figures)
        assert refused.status_code == 403 and refused.json()["error"] == "api.scope_missing"
        assert "findings:read" in refused.json()["message"]


def test_findings_read_for_chosen_units_with_paging_and_etag(api, engine, world):
    everyone = token(engine, world, "all-units", ["findings:read"])
    ertong = token(engine, world, "ertong-only", ["findings:read"], ["儿童福利和社会事务股"])
    page = api.get("/findings", headers=everyone, params={"page_size": 1})
    assert page.status_code == 200 and page.json()["total"] == 1 and page.json()["items"][0]["serial"] == world.finding
    again = api.get("/findings", headers={**everyone, "If-None-Match": page.headers["etag"]}, params={"page_size": 1})
    assert again.status_code == 304
    one = api.get(f"/findings/{world.finding}", headers=everyone)
    assert one.status_code == 200 and one.json()["version"] == 1 and one.json()["measures"]
    assert api.get("/findings", headers=ertong).json()["total"] == 0  # the finding is 社会救助办's
    hidden = api.get(f"/findings/{world.finding}", headers=ertong)
    assert hidden.status_code == 404 and hidden.json()["error"] == "api.not_found"
    refused = api.post(f"/findings/{world.finding}/progress", headers=everyone,
                       json={"done_text": "x", "version": 1})
    assert refused.status_code == 403 and refused.json()["error"] == "api.scope_missing"
    assert api.get("/findings", headers=everyone, params={"page_size": 501}).status_code == 422


def test_progress_for_its_one_unit_and_409_on_a_stale_version(api, engine, world):
    jiuzhu = token(engine, world, "jiuzhu-app", ["findings:progress", "findings:read"], ["社会救助办"])
    ertong = token(engine, world, "ertong-app", ["findings:progress"], ["儿童福利和社会事务股"])
    report = {"done_text": "已入户核查3户", "percent": 40, "version": 1}
    written = api.post(f"/findings/{world.finding}/progress", headers=jiuzhu, json=report)
    assert written.status_code == 201, written.text
    assert written.json()["version"] == 2 and written.json()["status"] == "in_progress"
    stale = api.post(f"/findings/{world.finding}/progress", headers={**jiuzhu, "Accept-Language": "en"}, json=report)
    assert stale.status_code == 409 and stale.json()["error"] == "error.conflict"
    other_unit = api.post(f"/findings/{world.finding}/progress", headers=ertong, json={**report, "version": 2})
    assert other_unit.status_code == 403  # the policy's answer: not this unit's finding
    bad = api.post(f"/findings/{world.finding}/progress", headers=jiuzhu, json={"done_text": "", "version": 2})
    assert bad.status_code == 422 and bad.json()["error"] == "api.bad_request"
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(Progress)).one() == 1
        finding = session.exec(select(Finding).where(Finding.serial == world.finding)).one()
        assert finding.version == 2
        assert set(session.exec(select(AuditLog.username).where(AuditLog.action == "report_progress")).all()) == {"api:jiuzhu-app"}


def test_a_token_after_revocation_and_after_expiry(api, engine, world):
    revoked = token(engine, world, "old-platform", ["figures:read"])
    assert api.get("/stats", headers=revoked).status_code == 200
    with unit_of_work(engine) as session:
        api_tokens.revoke(session, world.actors["admin"], "old-platform")
    answer = api.get("/stats", headers=revoked)
    assert answer.status_code == 401 and answer.json()["error"] == "api.token_revoked"
    short = token(engine, world, "short", ["figures:read"], days=1)
    with clock.frozen(clock.now() + dt.timedelta(days=1, seconds=1)):
        answer = api.get("/stats", headers=short)
    assert answer.status_code == 401 and answer.json()["error"] == "api.token_expired"


def test_the_rate_limit_and_every_call_audited(api, engine, world, monkeypatch):
    monkeypatch.setattr(api_tokens, "CALLS_PER_MINUTE", 3)
    figures = token(engine, world, "busy", ["figures:read"])
    assert [api.get("/stats", headers=figures).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert api.get("/stats", headers=figures).json()["error"] == "api.rate_limited"
    with read_session(engine) as session:
        calls = session.exec(select(AuditLog.note).where(AuditLog.action == "api_call")).all()
    assert calls == ["GET /api/v1/stats"] * 3


def test_import_preview_then_commit_equals_the_command_line(api, engine, world, database_url, tmp_path):
    importer = token(engine, world, "ledger-feed", ["ledger:import"])
    rows = [row[:4] + [None] + row[5:] for row in GOOD_ROWS]  # no village: names this small world knows
    data = workbook(rows)
    refused = api.post("/imports", headers=token(engine, world, "reader", ["findings:read"]), content=data)
    assert refused.status_code == 403
    preview = api.post("/imports", headers=importer, content=data, params={"filename": "台账.xlsx"})
    assert preview.status_code == 200 and preview.json()["ok"] and preview.json()["new"] == 4, preview.text
    changed = api.post("/imports", headers=importer, content=workbook(rows[:2]),
                       params={"commit": preview.json()["preview_id"]})
    assert changed.status_code == 409 and changed.json()["error"] == "api.preview_changed"
    committed = api.post("/imports", headers=importer, content=data,
                         params={"filename": "台账.xlsx", "source": "2026年低保专项审计",
                                 "commit": preview.json()["preview_id"]})
    assert committed.status_code == 200 and committed.json()["imported"] == 4, committed.text

    # the same file through `python -m dashboard import-ledger` says the same: everything already imported
    url, schema = database_url
    env_url = f"{url}?options=-csearch_path%3D{schema}" if schema else url
    path = tmp_path / "台账.xlsx"
    path.write_bytes(data)
    cli = subprocess.run([sys.executable, "-m", "dashboard", "import-ledger", str(path), "--source", "2026年低保专项审计"],
                         cwd=ROOT, env={**__import__("os").environ, "DATABASE_URL": env_url},
                         capture_output=True, text=True, timeout=300)
    again = api.post("/imports", headers=importer, content=data, params={"filename": "台账.xlsx"})
    assert again.json()["unchanged"] == 4 and again.json()["new"] == 0
    assert "4" in cli.stdout and cli.returncode == 0, cli.stdout + cli.stderr
    assert all(message in cli.stdout for message in again.json()["messages"]), (cli.stdout, again.json()["messages"])


def test_openapi_document(api):
    document = api.get("/openapi.json").json()
    assert set(document["paths"]) == {"/stats", "/findings", "/findings/{serial}", "/findings/{serial}/progress",
                                      "/imports"}
    assert document["servers"] == [{"url": "/api/v1"}]


def test_the_admin_page_creates_a_token_shown_once_and_revokes_it(engine, world, database_url, monkeypatch):
    from tests.apptest_support import button, page_app, texts

    point_app_at(monkeypatch, database_url)
    app = page_app("pages.admin", world.actors["admin"]).run()
    assert not app.exception, app.exception
    [name] = [box for box in app.text_input if box.label == "令牌名称"]
    name.input("省平台")
    [scopes] = [box for box in app.multiselect if box.label == "权限"]
    scopes.set_value(["figures:read"])
    button(app, "创建令牌").click().run()
    assert not app.exception, app.exception
    [shown] = [block.value for block in app.code]
    assert shown.startswith(api_tokens.TOKEN_PREFIX) and "省平台" in texts(app)
    with read_session(engine) as session:
        [stored] = api_tokens.listing(session, world.actors["admin"])
    assert stored.token_hash == api_tokens.digest(shown) and stored.scopes == ["figures:read"]
    app.run()  # the next run: the token is not shown again
    assert not [block.value for block in app.code]
    button(app, "吊销令牌").click().run()
    with read_session(engine) as session:
        assert api_tokens.listing(session, world.actors["admin"])[0].revoked_at is not None
