"""The deployment on loopback: deploy/run.py starts two replicas and nginx (TLS, sticky cookie) against the local
PostgreSQL; Chromium goes through nginx. A session stays on its replica across reruns; a finding written through
replica A shows on a page served by replica B; killing A mid-session brings its user to B with no error box and
no lost write; the roll-ups stay exact. Skipped, with the reason, without nginx, Chromium or PostgreSQL.
"""
from __future__ import annotations

import json
import os
import re
import signal
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import text

from tests.conftest import TEST_DATABASE_URL
from tests.test_browser import ARGS, CHROMIUM, edit_cell, go, open_finding, settle, sign_in, watch_runs

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
_PORT = int(os.environ.get("DEPLOY_TEST_PORT", "8650"))  # helpers sharing one machine each use their own range
HTTPS, HTTP, REPLICAS = _PORT, _PORT + 10, (_PORT + 1, _PORT + 2)
BASE = f"https://127.0.0.1:{HTTPS}"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian nginx is not installed (.ci/run installs it)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"),
    pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set: the deployment runs on PostgreSQL"),
]
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE  # the runner's self-signed certificate for 127.0.0.1


def _get(url: str, cookie: str | None = None, data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    try:
        return urllib.request.urlopen(request, context=INSECURE, timeout=30)
    except urllib.error.HTTPError as error:
        return error


class Deployment:
    def __init__(self, workdir: Path, env: dict, runner: subprocess.Popen):
        self.workdir, self.env, self.runner = workdir, env, runner
        self.logs = workdir / "log"

    def pid(self, port: int) -> int:
        started = re.findall(rf"started app-{port} \(pid (\d+)\)", (self.workdir / "runner.log").read_text())
        return int(started[-1])

    def page_lines(self, port: int, user: str | None) -> list[dict]:
        lines = []
        path = self.logs / f"app-{port}.log"
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []:
            if raw.startswith("{") and '"event": "page"' in raw:
                line = json.loads(raw)
                if user is None or line.get("user") == user:
                    lines.append(line)
        return lines

    def route_to(self, port: int) -> str:
        """A value of the sticky cookie that nginx sends to the replica on ``port`` (read from its access log)."""
        for index in range(200):
            value = f"route{index}"
            _get(f"{BASE}/_stcore/health", cookie=f"dashboard_route={value}").read()
            time.sleep(0.05)
            last = [line for line in (self.logs / "access.log").read_text().splitlines() if f"route={value}" in line]
            if last and f"upstream=127.0.0.1:{port}" in last[-1]:
                return value
        raise AssertionError(f"no route value reached {port}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    schema = f"deploy_{uuid.uuid4().hex[:8]}"
    from db.engine import make_engine

    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    env = {**os.environ, "DATABASE_URL": f"{TEST_DATABASE_URL}?options={quote(f'-csearch_path={schema}')}",
           "DASHBOARD_MODE": "demo", "DASHBOARD_DATA_DIR": str(workdir / "var")}  # one cookie key for both replicas
    log = open(workdir / "runner.log", "wb")
    runner = subprocess.Popen([sys.executable, "deploy/run.py", "--replicas", "2", "--base-port", str(REPLICAS[0]),
                               "--nginx", "--https-port", str(HTTPS), "--http-port", str(HTTP), "--no-worker",
                               "--prefix", str(workdir / "nginx"), "--log-dir", str(workdir / "log")],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 180
    ready = False
    while time.time() < deadline and not ready:
        if runner.poll() is not None:
            pytest.fail("the runner exited:\n" + (workdir / "runner.log").read_text())
        try:
            ready = all(_get(f"http://127.0.0.1:{port}/_stcore/health").status == 200 for port in REPLICAS) \
                and _get(f"{BASE}/healthz").status == 200
        except OSError:
            pass
        if not ready:
            time.sleep(0.25)  # (a second's sleep after the last look, when it was ready, was a second lost)
    assert ready, (workdir / "runner.log").read_text()
    yield Deployment(workdir, env, runner)
    os.killpg(runner.pid, signal.SIGTERM)
    try:
        runner.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(runner.pid, signal.SIGKILL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    for port in REPLICAS:
        output = (workdir / "log" / f"app-{port}.log").read_text(errors="replace")
        assert "Traceback" not in output, output[-3000:]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _context(browser, route: str, problems: list[str]):
    context = watch_runs(browser.new_context(viewport={"width": 1500, "height": 1800}, locale="zh-CN",
                                             ignore_https_errors=True))
    context.add_cookies([{"name": "dashboard_route", "value": route, "domain": "127.0.0.1", "path": "/",
                          "secure": True, "httpOnly": True, "sameSite": "Strict"}])
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def _no_error_box(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_headers_tls_and_upload_limit(deployment):
    response = _get(BASE + "/")
    headers = response.headers
    assert response.status == 200
    assert headers["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and "max-age" in headers["Strict-Transport-Security"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "dashboard_route=" in headers["Set-Cookie"] and "Secure" in headers["Set-Cookie"]
    plain = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                            f"http://127.0.0.1:{HTTP}/x"], capture_output=True, text=True).stdout
    assert plain.startswith(f"301 https://127.0.0.1:{HTTPS}/x"), plain
    too_big = _get(BASE + "/_stcore/upload_file/x/y", data=b"0" * (22 * 1024 * 1024))  # limit 20 MB (+1 for the form)
    assert too_big.status == 413


def test_signing_out_on_one_replica_ends_the_session_on_the_other(deployment, browser):
    """The session is a row in the one database: "sign out the others" on replica A ends the same user's session
    in a second browser on replica B at its next click; logout on B then ends B's own."""
    route_a, route_b = deployment.route_to(REPLICAS[0]), deployment.route_to(REPLICAS[1])
    problems: list[str] = []
    page_a, page_b = _context(browser, route_a, problems), _context(browser, route_b, problems)
    sign_in(page_a, BASE, "jiuzhu")
    sign_in(page_b, BASE, "jiuzhu")
    go(page_a, BASE, "sessions")
    page_a.get_by_role("button", name="退出其他登录").click()
    page_a.get_by_text("已结束1个登录会话").first.wait_for(timeout=15_000)
    go(page_b, BASE, "ledger")  # B's next click: signed out there as well
    page_b.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    assert deployment.page_lines(REPLICAS[1], "jiuzhu") and deployment.page_lines(REPLICAS[0], "jiuzhu")
    page_a.reload()
    page_a.get_by_role("button", name="退出登录").wait_for(timeout=30_000)  # A goes on
    sign_in(page_b, None, "jiuzhu")
    page_b.get_by_role("button", name="退出登录").click()  # logout on B ends B's session only
    page_b.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    assert not [c for c in page_b.context.cookies() if c["name"] == "zhenggai_session"]
    go(page_a, BASE, "ledger")
    assert page_a.get_by_role("button", name="退出登录").count() == 1
    page_a.context.close()
    page_b.context.close()


def test_sticky_sessions_shared_writes_and_failover(deployment, browser):
    route_a, route_b = deployment.route_to(REPLICAS[0]), deployment.route_to(REPLICAS[1])
    csp_problems: list[str] = []

    # a session stays on its replica across reruns
    page_a = _context(browser, route_a, csp_problems)
    sign_in(page_a, BASE, "inspector")
    for key in ("ledger", "overview", "ledger"):
        go(page_a, BASE, key)
    on_a, on_b = deployment.page_lines(REPLICAS[0], "inspector"), deployment.page_lines(REPLICAS[1], "inspector")
    assert len(on_a) >= 4 and on_b == [], (len(on_a), len(on_b))
    assert {"overview", "ledger"} <= {line["page"] for line in on_a}
    assert all(line["duration_ms"] >= 0 for line in on_a)

    # a finding written through replica A
    go(page_a, BASE, "log")
    page_a.get_by_role("radio", name="登记问题").or_(
        page_a.get_by_role("button", name="登记问题", exact=True)).first.click()
    settle(page_a)
    page_a.get_by_role("textbox", name="问题描述").fill("负载均衡测试：经副本A登记的问题")
    grid = page_a.locator('[data-testid="stForm"] [data-testid="stDataFrame"]').first
    edit_cell(page_a, grid, 0, 0.3, "入户核实")
    edit_cell(page_a, grid, 0, 0.9, "2026-12-15", date=True)
    page_a.get_by_role("button", name="保存问题").click()
    settle(page_a)
    serial = re.search(r"问题 (ZG-\d{4}-\d{4}) 已登记", page_a.content()).group(1)

    # … shows on a page served by replica B
    page_b = _context(browser, route_b, csp_problems)
    sign_in(page_b, BASE, "leader")
    open_finding(page_b, BASE, serial)
    assert "经副本A登记的问题" in page_b.content()
    assert deployment.page_lines(REPLICAS[1], "leader") and not deployment.page_lines(REPLICAS[0], "leader")

    # replica A dies mid-session: its user comes to B, with no error box, and the write is there
    runs_on_b = len(deployment.page_lines(REPLICAS[1], None))
    before_kill = len(deployment.page_lines(REPLICAS[1], "inspector"))
    os.kill(deployment.pid(REPLICAS[0]), signal.SIGKILL)
    # the page reconnects by itself (no reload) to B, which starts a new session for it at the user's next click
    # (nothing on the page reruns by itself since the login cookie component is gone); the session cookie signs
    # the user in there, the session being a row in the one database
    deadline = time.time() + 60
    while len(deployment.page_lines(REPLICAS[1], None)) == runs_on_b and time.time() < deadline:
        page_a.wait_for_timeout(3000)
        try:
            page_a.locator('[data-testid="stSidebarNav"] a').nth(2).click(timeout=5_000)
        except Exception:  # still reconnecting
            pass
    assert len(deployment.page_lines(REPLICAS[1], None)) > runs_on_b, "the page did not reconnect to B"
    settle(page_a)
    _no_error_box(page_a)
    page_a.screenshot(path=str(deployment.workdir / "after-kill.png"))
    if page_a.get_by_role("button", name="退出登录").count() == 0:  # the login page of B
        sign_in(page_a, None, "inspector")
    open_finding(page_a, BASE, serial)
    _no_error_box(page_a)
    assert "经副本A登记的问题" in page_a.content()
    assert len(deployment.page_lines(REPLICAS[1], "inspector")) > before_kill   # served by B now
    page_a.screenshot(path=str(deployment.workdir / "after-failover.png"))
    print(f"after failover: {deployment.workdir / 'after-failover.png'}")
    assert csp_problems == [], "\n".join(csp_problems)  # the CSP blocked nothing Streamlit needed

    verify = subprocess.run([sys.executable, "-m", "dashboard", "stats", "--verify"], cwd=ROOT, env=deployment.env,
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_compose_files_nginx_config_is_the_rendered_template():
    """deploy/nginx.docker.conf is what the runner renders for the two compose replicas (kept in step)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_run", ROOT / "deploy" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render_nginx(["app1:8501", "app2:8501"], prefix="/var/cache/nginx", log_dir="/var/log/nginx",
                                   cert="/etc/nginx/tls/fullchain.pem", key="/etc/nginx/tls/privkey.pem",
                                   max_body_mb=20, server_name="_")
    assert (ROOT / "deploy" / "nginx.docker.conf").read_text() == rendered + "\n"
    assert "proxy_set_header Upgrade $http_upgrade" in rendered and "client_max_body_size 21m" in rendered


def test_the_compose_file_starts_what_the_runner_starts():
    """No Docker engine runs on these machines (so `docker compose up` is not run here); this checks what can be
    checked without one: every container's command is a real CLI command, nginx proxies to exactly the app
    replicas, each replica is told apart in the logs, and the worker and the apps share the backups volume
    the health page reads."""
    import yaml

    from dashboard.cli import build_parser

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    default_command = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    replicas = sorted(name for name in services if name.startswith("app"))
    assert len(replicas) >= 2
    for name, service in services.items():
        if name in ("db", "nginx"):
            continue
        command = service.get("command", default_command)
        assert command[:3] == ["python", "-m", "dashboard"], name
        build_parser().parse_args(command[3:])  # exits (fails the test) on an unknown command or option
        assert "profiles" not in service, f"{name} would not start with a plain `docker compose up`"
        environment = service["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://ledger:") and environment["DATABASE_URL"].endswith("@db/ledger")
        assert environment["DASHBOARD_BACKUP_DIR"] == "/backups" and "backups:/backups" in service["volumes"]
    assert {services[name]["environment"]["DASHBOARD_REPLICA"] for name in replicas} == set(replicas)
    assert services["worker"]["command"][3:] == ["worker"]
    upstream = re.findall(r"^\s*server (\S+) ", (ROOT / "deploy" / "nginx.docker.conf").read_text(), re.MULTILINE)
    assert sorted(upstream) == [f"{name}:8501" for name in replicas]
    assert set(services["nginx"]["depends_on"]) == set(replicas)
