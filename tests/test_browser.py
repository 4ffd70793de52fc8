"""End to end in a real browser: Playwright drives Debian's Chromium against ``streamlit run``.

An inspector logs a finding; the department reports progress with a file and applies for
closure; the inspector sends it back once, then closes it; the leader sees the figures change;
logout followed by a reload shows the login form. Skipped (with the reason) without Chromium.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser-data")
    port = free_port()
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data), "DASHBOARD_MODE": "demo"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "run", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.stdout.read()}")
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    output = process.communicate(timeout=20)[0]
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def settle(page) -> None:
    page.wait_for_timeout(400)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_timeout(400)


def sign_in(page, base: str, username: str) -> None:
    """Sign in; the cookie component of streamlit-authenticator reruns the script once after the page
    loads, and a form submitted at that very moment is dropped by Streamlit, so retry the whole step."""
    page.goto(base)
    for _attempt in range(4):
        try:
            page.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
            page.locator("iframe").first.wait_for(state="attached", timeout=30_000)
            settle(page)
            page.get_by_label("用户名").fill(username, timeout=10_000)
            page.get_by_label("密码").fill("demo1234", timeout=10_000)
            page.get_by_role("button", name="登录", exact=True).click(timeout=10_000)
            page.get_by_role("button", name="退出登录").wait_for(timeout=15_000)
            break
        except Exception:
            page.wait_for_timeout(1000)
    page.get_by_role("button", name="退出登录").wait_for(timeout=10_000)
    settle(page)


def sign_out(page) -> None:
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)


def go(page, base: str, key: str) -> None:
    path = "" if key == "overview" else key
    page.locator(f'[data-testid="stSidebarNav"] a[href="{base}/{path}"]').click()
    settle(page)


def metric(page, label: str) -> int:
    card = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return int(card.locator('[data-testid="stMetricValue"]').inner_text())


def open_finding(page, base: str, serial: str) -> None:
    go(page, base, "finding")
    page.get_by_role("textbox", name="按编号查找").fill(serial)
    page.keyboard.press("Enter")
    page.get_by_text(serial).first.wait_for()
    settle(page)


def submit_form(page, heading: str, button: str) -> None:
    """Press ``button`` in the form whose heading is ``heading``."""
    page.locator('[data-testid="stForm"]').filter(has_text=heading).get_by_role("button", name=button).click()
    settle(page)


@pytest.fixture
def page(browser, tmp_path):
    """A fresh browser page; on failure its last screen is saved next to the test's files."""
    page = browser.new_context(viewport={"width": 1500, "height": 2000}, locale="zh-CN").new_page()
    yield page
    page.screenshot(path=str(tmp_path / "last-screen.png"))
    print(f"last screen: {tmp_path / 'last-screen.png'}")


def test_whole_job_in_the_browser(server, page, tmp_path):
    base = server

    print("step: leader before")
    sign_in(page, base, "leader")
    closed_before = metric(page, "已销号")
    total_before = metric(page, "有效问题")
    sign_out(page)

    # the inspector logs a new finding
    print("step: the inspector logs a new finding")
    sign_in(page, base, "inspector")
    go(page, base, "log")
    page.get_by_role("tab", name="登记问题").click()
    page.get_by_role("textbox", name="问题描述").fill("浏览器测试：高士镇毛安村2户低保对象收入未核实")
    page.get_by_role("textbox", name="整改措施（每行一项）").fill("入户核实家庭收入")
    page.get_by_role("button", name="保存问题").click()
    settle(page)
    serial = re.search(r"问题 (ZG-\d{4}-\d{4}) 已登记", page.content()).group(1)
    sign_out(page)

    # the department ticks the measure, reports progress with a file, applies for closure
    print("step: the department ticks the measure, reports progress with a file, applies for closure")
    sign_in(page, base, "jiuzhu")
    open_finding(page, base, serial)
    page.get_by_role("button", name="标记完成").first.click()
    settle(page)
    proof = tmp_path / "入户核实记录.pdf"
    proof.write_bytes(b"%PDF-1.4 browser test evidence")
    page.get_by_role("textbox", name="本次完成的工作").fill("已入户核实2户家庭收入")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(proof))
    page.wait_for_timeout(800)
    submit_form(page, "报送整改进展", "提交")
    assert "整改进展已报送" in page.content()
    page.get_by_role("textbox", name="销号申请说明").fill("已核实并规范保障")
    submit_form(page, "销号申请说明", "申请销号")
    assert "销号申请已提交" in page.content()
    sign_out(page)

    # the inspector sends it back once
    print("step: the inspector sends it back once")
    sign_in(page, base, "inspector")
    open_finding(page, base, serial)
    page.get_by_role("textbox", name="审核意见（退回时必填）").fill("缺少入户核实照片")
    page.get_by_text("退回", exact=True).click()
    submit_form(page, "审核意见", "提交")
    assert "已退回整改" in page.content()
    sign_out(page)

    # the department applies again
    print("step: the department applies again")
    sign_in(page, base, "jiuzhu")
    open_finding(page, base, serial)
    page.get_by_role("textbox", name="销号申请说明").fill("已补充入户核实照片")
    submit_form(page, "销号申请说明", "申请销号")
    assert "销号申请已提交" in page.content()
    sign_out(page)

    # the inspector closes it
    print("step: the inspector closes it")
    sign_in(page, base, "inspector")
    open_finding(page, base, serial)
    submit_form(page, "审核意见", "提交")
    assert "已销号。" in page.content()
    sign_out(page)

    # the leader sees the figures change
    print("step: the leader sees the figures change")
    sign_in(page, base, "leader")
    assert metric(page, "有效问题") == total_before + 1
    assert metric(page, "已销号") == closed_before + 1

    # logout, then a reload, shows the login form (the old cookie no longer works)
    sign_out(page)
    page.reload()
    page.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_role("button", name="退出登录").count() == 0
