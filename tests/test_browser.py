"""End to end in a real browser: Playwright drives Debian's Chromium against ``streamlit run``.

An inspector logs a finding with a deadline per measure; the department reports progress with a
file, asks for an extension and applies for closure; the inspector sends it back once, then closes
it (the undecided extension is withdrawn); the leader sees the figures change and takes the Word
report from the overview; logout followed by a reload shows the login form. Then: a click anywhere
in a row opens the finding; no English in the Chinese interface, on any page, for any role; phone
screens without sideways scrolling; two browsers editing one finding lose nothing.
Skipped (with the reason) without Chromium. Screenshots go to $SCREENSHOT_DIR when it is set.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import base64
import fcntl
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import cheap_hashing_command

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


DATA: dict[str, Path] = {}
SHOTS = Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else None


def shot(page, name: str) -> None:
    """A screenshot for a human to look at (only when SCREENSHOT_DIR is set)."""
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def query(sql: str, *params):
    with sqlite3.connect(DATA["dir"] / "ledger.db") as connection:
        return connection.execute(sql, params).fetchall()


def demo_data(data: Path) -> None:
    """Fill an empty data folder (made by ``tmp_path_factory.mktemp``) with a copy of the demo ledger (database and
    privacy key) that ``python -m dashboard seed-demo`` built once for this test run (today's demo, as ``run``
    would build it into an empty folder; its passwords hashed at the test suite's cost, so that signing in checks
    a cheap hash: tests/processes.py), instead of building the same demo again for every server. Under
    pytest-xdist the workers share it: it is built in the run's folder above the workers' own, by the first
    worker that needs it, while the others wait on a lock."""
    shared = data.parent.parent if os.environ.get("PYTEST_XDIST_WORKER") else data.parent
    template = shared / "demo-template"
    with open(shared / "demo-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (template / "built").exists():
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir()
            env = {**os.environ, "DASHBOARD_DATA_DIR": str(template), "DASHBOARD_MODE": "demo"}
            env.pop("DATABASE_URL", None)
            subprocess.run(cheap_hashing_command("seed-demo"), cwd=ROOT, env=env, check=True, capture_output=True,
                           timeout=600)
            (template / "built").touch()
    for item in template.iterdir():
        if item.name != "built":
            shutil.copy2(item, data / item.name)


@contextmanager
def demo_server(data: Path, port: int | None = None, startup_seconds: int = 180, *,
                copy_demo: bool = True) -> Iterator[str]:
    """``python -m dashboard run`` on its own SQLite data folder (demo data), until the block ends;
    fails the test if it dies or prints a traceback. Every browser test starts its server this way. The demo is
    a copy of one built once per test process (``demo_data``); ``copy_demo=False``: ``run`` builds it into the
    empty folder itself (test_browser's own server keeps that first-start path under test)."""
    port = port or free_port()
    if copy_demo:
        demo_data(data)
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data), "DASHBOARD_MODE": "demo"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "run", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + startup_seconds
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
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser-data")
    DATA["dir"] = data
    with demo_server(data, copy_demo=False) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


# Watches, inside the page, what ``settle`` waits for (installed with ``watch_runs`` before the page loads): the
# reruns the page asks for (BackMsg.rerun_script, field 11, on the Streamlit websocket), the runs that answer them
# (ForwardMsg.new_session, field 4, then script_finished, field 6, not FINISHED_EARLY_FOR_RERUN = 2), file uploads
# (BackMsg.file_urls_request, 16, answered by ForwardMsg.file_urls_response, 19, then the uploader's PUT), and the
# moment of the last of these or of the user's last input.
RUN_WATCH = r"""
(() => {
  if (window.__zgRuns) return;
  const runs = window.__zgRuns = {sent: 0, started: 0, done: 0, asked: 0, answered: 0, uploads: 0, uploaded: 0,
                                  last: performance.now(), idleSince: null};
  const stamp = () => { runs.last = performance.now(); };
  const varint = (b, i) => { let v = 0, s = 1, x; do { x = b[i++]; v += (x & 127) * s; s *= 128; } while (x & 128); return [v, i]; };
  const fields = data => {  // the top-level fields of a protobuf message, [number, varint value or null]
    const b = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const out = [];
    for (let i = 0, t, v; i < b.length; ) {
      [t, i] = varint(b, i); v = null;
      const wire = t % 8;
      if (wire === 0) [v, i] = varint(b, i);
      else if (wire === 2) { let n; [n, i] = varint(b, i); i += n; }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else break;
      out.push([Math.floor(t / 8), v]);
    }
    return out;
  };
  const Native = window.WebSocket, send = Native.prototype.send;
  Native.prototype.send = function (data) {
    try {
      if (typeof data !== "string") {
        const numbers = fields(data).map(([n]) => n);
        if (numbers.includes(11)) { runs.sent += 1; stamp(); }
        if (numbers.includes(16)) { runs.asked += 1; stamp(); }  // file_urls_request: where to upload a file
      }
    } catch (error) { console.error("RUN_WATCH", error); }
    return send.call(this, data);
  };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", event => {
        if (!(event.data instanceof ArrayBuffer)) return;
        stamp();
        for (const [n, v] of fields(event.data)) {
          if (n === 4) runs.started = runs.sent;                 // a run that answers every rerun asked so far
          else if (n === 6 && v !== 2) runs.done = runs.started;  // ... has finished (not cut short for another)
          else if (n === 19) runs.answered += 1;                  // file_urls_response
        }
      });
      this.addEventListener("close", () => {  // what was asked of a server that is gone will never be answered
        runs.started = runs.done = runs.sent; runs.answered = runs.asked; stamp();
      });
    }
  };
  const open = XMLHttpRequest.prototype.open, xsend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, ...rest) {
    this.__zgUpload = String(method).toUpperCase() === "PUT";
    return open.call(this, method, ...rest);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    if (this.__zgUpload) {
      runs.uploads += 1; stamp();
      this.addEventListener("loadend", () => { runs.uploaded += 1; stamp(); });
    }
    return xsend.apply(this, args);
  };
  for (const kind of ["pointerdown", "pointerup", "click", "keydown", "keyup", "input", "change", "touchend"])
    window.addEventListener(kind, stamp, true);
})();
"""

# True once the page has been idle for ``quiet`` ms: every rerun it asked for has been answered by a finished run,
# no upload is under way, Streamlit's app element says notRunning and shows no status widget, and no message, upload
# or user input came in the last ``quiet`` ms (time for the frontend to draw what the last message brought, and for
# a widget that commits a moment after the input to send its rerun, which then counts as asked for).
PAGE_SETTLED = """quiet => {
  const runs = window.__zgRuns;
  if (!runs) throw new Error("settle(): this page was not made with watch_runs(), so its runs cannot be seen");
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = runs.sent > 0 && runs.done >= runs.sent && runs.answered >= runs.asked && runs.uploaded >= runs.uploads
    && app !== null
    && app.getAttribute("data-test-script-state") === "notRunning"
    && !document.querySelector('[data-testid="stStatusWidget"]');
  const now = performance.now();
  if (!idle) { runs.idleSince = null; return false; }
  if (runs.idleSince === null) runs.idleSince = now;
  return now - Math.max(runs.idleSince, runs.last) >= quiet;
}"""
SETTLE_QUIET_MS = 100


def watch_runs(target):
    """Install ``RUN_WATCH`` in a browser context or page (before it loads a page) so ``settle`` can see its runs;
    returns ``target``. Every page a browser test drives is made with it."""
    target.add_init_script(RUN_WATCH)
    return target


def new_page(browser, **context_options):
    """A page in a new browser context (``context_options`` as for ``browser.new_context``), its runs watched."""
    return watch_runs(browser.new_context(**context_options)).new_page()


def settle(page, timeout: int = 30_000) -> None:
    """Wait until the app has finished what the last action asked for (``PAGE_SETTLED``): not a fixed pause, so a
    quick rerun costs only its own time and a slow one on a loaded machine is still waited for."""
    page.wait_for_function(PAGE_SETTLED, arg=SETTLE_QUIET_MS, timeout=timeout)


# Every table on the screen (a data grid, loaded after the run and drawn on a canvas; one in a closed tab or
# expander is not drawn until it is opened) has its canvas; then two animation frames, so the canvas is painted.
TABLES_DRAWN = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].every(
    grid => !grid.checkVisibility() || grid.querySelector("canvas") !== null)"""


def tables_drawn(page, timeout: int = 20_000) -> None:
    """The page has settled and its tables have been drawn (for a screenshot, or to read what they show)."""
    settle(page, timeout)
    page.wait_for_function(TABLES_DRAWN, timeout=timeout)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def sign_in(page, base: str | None, username: str) -> None:
    """Sign in: the form, then the page posts its one-time ticket to /auth/session, which sets the session
    cookie and reloads the app. A form submitted while the script still runs may be dropped by Streamlit, so
    retry the whole step. ``base=None`` signs in on the page as it stands (a login form a failover already shows)."""
    if base is not None:
        page.goto(base)
    for _attempt in range(4):
        try:
            page.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
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
    card = page.locator(".zg-metric").filter(has=page.locator(".zg-metric-label", has_text=label)).first  # widgets.metric_cards
    return int(card.locator(".zg-metric-value").inner_text())


def open_finding(page, base: str, serial: str) -> None:
    go(page, base, "finding")
    page.get_by_role("textbox", name="按编号查找").fill(serial)
    page.keyboard.press("Enter")
    page.get_by_text(serial).first.wait_for()
    settle(page)


def wait_text(page, text: str, timeout: int = 20_000) -> None:
    """Wait until ``text`` is on the screen (an action's rerun may take a moment to draw its result)."""
    page.wait_for_function("text => document.body.innerText.includes(text)", arg=text, timeout=timeout)


def submit_form(page, heading: str, button: str) -> None:
    """Press ``button`` in the form whose heading is ``heading``."""
    page.locator('[data-testid="stForm"]').filter(has_text=heading).get_by_role("button", name=button).click()
    settle(page)


@pytest.fixture
def page(browser, tmp_path):
    """A fresh browser page; on failure its last screen is saved next to the test's files."""
    page = new_page(browser, viewport={"width": 1440, "height": 2000}, locale="zh-CN")
    yield page
    page.screenshot(path=str(tmp_path / "last-screen.png"))
    print(f"last screen: {tmp_path / 'last-screen.png'}")


ROW_HEIGHT = 35


def grid_cell(page, grid, row: int, x_fraction: float) -> tuple[float, float]:
    """Screen position of a body cell of a data grid (row 0 is the first row under the header)."""
    box = grid.bounding_box()
    return box["x"] + box["width"] * x_fraction, box["y"] + ROW_HEIGHT * (row + 1) + ROW_HEIGHT / 2


def edit_cell(page, grid, row: int, x_fraction: float, value: str, date: bool = False) -> None:
    """Type into a cell of an editable table: a double click opens the cell's editor."""
    grid.scroll_into_view_if_needed()
    position = grid_cell(page, grid, row, x_fraction)
    page.mouse.click(*position)
    page.wait_for_timeout(300)
    editor = page.locator('#portal input[type="date"]' if date else "#portal textarea, #portal input").first
    for attempt in range(3):
        if attempt == 0:
            page.mouse.dblclick(*position)
        else:
            page.keyboard.press("Enter")  # a selected cell opens its editor on Enter
        try:
            editor.wait_for(timeout=3_000)
            break
        except Exception:
            page.wait_for_timeout(300)
    editor.fill(value)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)


def measures_of(serial: str) -> list[tuple[str, str, int]]:
    return query("SELECT m.text, m.deadline, m.done FROM measure m JOIN finding f ON f.id = m.finding_id "
                 "WHERE f.serial = ? ORDER BY m.seq", serial)


def test_whole_job_in_the_browser(server, page, tmp_path):
    base = server

    print("step: leader before")
    sign_in(page, base, "leader")
    closed_before = metric(page, "已销号")
    total_before = metric(page, "有效问题")
    sign_out(page)

    # the inspector logs a new finding, each measure with its own deadline
    print("step: the inspector logs a new finding")
    sign_in(page, base, "inspector")
    go(page, base, "log")
    page.get_by_role("radio", name="登记问题").or_(page.get_by_role("button", name="登记问题", exact=True)).first.click()
    settle(page)
    page.get_by_role("textbox", name="问题描述").fill("浏览器测试：高士镇毛安村2户低保对象收入未核实")
    grid = page.locator('[data-testid="stForm"] [data-testid="stDataFrame"]').first
    edit_cell(page, grid, 0, 0.3, "入户核实家庭收入")
    edit_cell(page, grid, 0, 0.9, "2026-12-15", date=True)
    edit_cell(page, grid, 1, 0.3, "规范低保审批流程")
    shot(page, "inspector-log-measures-1440")
    page.get_by_role("button", name="保存问题").click()
    settle(page)
    serial = re.search(r"问题 (ZG-\d{4}-\d{4}) 已登记", page.content()).group(1)
    logged = measures_of(serial)
    finding_deadline = query("SELECT current_deadline FROM finding WHERE serial = ?", serial)[0][0]
    assert logged == [("入户核实家庭收入", "2026-12-15", 0), ("规范低保审批流程", finding_deadline, 0)]

    # … and the deadlines come back in the detail page and its edit form
    print("step: per-measure deadlines round trip")
    open_finding(page, base, serial)
    assert "2026-12-15" in page.locator('[data-testid="stTabs"]').first.inner_text()
    edit = page.locator('[data-testid="stForm"]').filter(has_text="修改问题")
    grid = edit.locator('[data-testid="stDataFrame"]').first
    edit_cell(page, grid, 1, 0.75, "2026-12-20", date=True)
    edit.get_by_role("button", name="保存").click()
    settle(page)
    page.locator('[data-testid="stAlert"]').filter(has_text="已保存").first.wait_for(timeout=15_000)
    assert measures_of(serial) == [("入户核实家庭收入", "2026-12-15", 0), ("规范低保审批流程", "2026-12-20", 0)]
    shot(page, "inspector-finding-1440")
    sign_out(page)

    # the department ticks the measure, reports progress with a file, applies for closure
    print("step: the department ticks the measure, reports progress with a file, applies for closure")
    sign_in(page, base, "jiuzhu")
    open_finding(page, base, serial)
    page.get_by_role("button", name="标记完成").first.click()
    settle(page)
    proof = tmp_path / "入户核实记录.pdf"
    proof.write_bytes(b"%PDF-1.4 browser test evidence")
    page.get_by_role("button", name="标记完成").first.click()
    settle(page)
    page.get_by_role("textbox", name="本次完成的工作").fill("已入户核实2户家庭收入")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(proof))
    settle(page)  # the upload has finished (settle waits for it)
    submit_form(page, "报送整改进展", "提交")
    wait_text(page, "整改进展已报送")
    # the result is shown where the user pressed the button, not only at the top of the page
    actions = page.get_by_role("heading", name="办理")
    note = page.locator('[data-testid="stAlert"]').filter(has_text="整改进展已报送").first
    assert note.bounding_box()["y"] > actions.bounding_box()["y"]
    page.get_by_role("textbox", name="理由").fill("需等待省级系统数据比对")
    submit_form(page, "申请延期", "提交")
    wait_text(page, "延期申请已提交")
    page.get_by_role("textbox", name="销号申请说明").fill("已核实并规范保障")
    submit_form(page, "销号申请说明", "申请销号")
    wait_text(page, "销号申请已提交")
    sign_out(page)

    # the inspector sends it back once
    print("step: the inspector sends it back once")
    sign_in(page, base, "inspector")
    open_finding(page, base, serial)
    page.get_by_role("textbox", name="审核意见（退回时必填）").fill("缺少入户核实照片")
    page.get_by_text("退回", exact=True).click()
    submit_form(page, "审核意见", "提交")
    wait_text(page, "已退回整改")
    sign_out(page)

    # the department applies again
    print("step: the department applies again")
    sign_in(page, base, "jiuzhu")
    open_finding(page, base, serial)
    page.get_by_role("textbox", name="销号申请说明").fill("已补充入户核实照片")
    submit_form(page, "销号申请说明", "申请销号")
    wait_text(page, "销号申请已提交")
    # 待销号: the actions heading says what the finding waits for, since when, on whom
    assert "等待整改办审核销号申请" in page.locator('[data-testid="stMain"]').inner_text()
    shot(page, "jiuzhu-finding-pending-review-1440")
    sign_out(page)

    # the inspector closes it: the undecided extension request is withdrawn, no decide form is left
    print("step: the inspector closes it")
    sign_in(page, base, "inspector")
    open_finding(page, base, serial)
    submit_form(page, "审核意见", "提交")
    wait_text(page, "已销号。")
    assert query("SELECT r.decision FROM extension_request r JOIN finding f ON f.id = r.finding_id "
                 "WHERE f.serial = ?", serial) == [("withdrawn",)]
    assert page.locator('[data-testid="stForm"]').filter(has_text="审批延期").count() == 0
    header = page.locator("h3").filter(has_text=serial).first.inner_text()
    assert header.count("已销号") == 1, header
    go(page, base, "my_work")
    assert serial not in page.locator('[data-testid="stMain"]').inner_text()  # no pending extension left
    sign_out(page)

    # the leader sees the figures change, and takes the Word report from the overview in one step
    print("step: the leader sees the figures change")
    sign_in(page, base, "leader")
    assert metric(page, "有效问题") == total_before + 1
    assert metric(page, "已销号") == closed_before + 1
    snapshots_before = query("SELECT count(*) FROM snapshot")[0][0]
    page.get_by_role("button", name="整改情况报告（Word）").click()
    with page.expect_download() as report:
        page.get_by_role("button", name="生成快照并下载报告").click()
    assert report.value.suggested_filename.endswith(".docx")
    assert Path(report.value.path()).read_bytes()[:2] == b"PK"
    assert query("SELECT count(*) FROM snapshot")[0][0] == snapshots_before + 1
    page.keyboard.press("Escape")
    go(page, base, "ledger")
    with page.expect_download() as export:  # one click
        page.get_by_role("button", name=re.compile("导出Excel台账")).click()
    assert Path(export.value.path()).read_bytes()[:2] == b"PK"

    # logout, then a reload, shows the login form (the old cookie no longer works)
    sign_out(page)
    page.reload()
    page.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_role("button", name="退出登录").count() == 0


def test_a_click_anywhere_in_a_row_opens_the_finding(server, page):
    sign_in(page, server, "leader")
    go(page, server, "ledger")
    grid = page.locator('[data-testid="stDataFrame"]').first
    # at 1440 px the ledger's columns fit: the table does not scroll sideways
    assert grid.locator(".dvn-scroller").evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    first_serial = query("SELECT serial FROM finding ORDER BY id LIMIT 1")[0][0]
    page.mouse.click(*grid_cell(page, grid, 0, 0.45))  # the description, far from the checkbox column
    settle(page)
    page.get_by_role("heading", name="问题详情").wait_for(timeout=15_000)
    assert first_serial in page.locator("h3").first.inner_text()
    go(page, server, "my_work")
    grid = page.locator('[data-testid="stDataFrame"]').first
    page.mouse.click(*grid_cell(page, grid, 0, 0.5))
    settle(page)
    page.get_by_role("heading", name="问题详情").wait_for(timeout=15_000)


# Streamlit's own English texts, and anything else English a Chinese reader could meet.
ENGLISH = re.compile(r"(?:Choose an? option|Choose options|Press Enter|Press Ctrl|per file|\bUpload\b|Page not found|"
                     r"Drag and drop|Browse files|yyyy|\bNone\b|\bnan\b|\bNaN\b|\bTrue\b|\bFalse\b|/ view|"
                     r"\b(?:create|tick_measure|report_progress|in_progress|pending_review)\b)")
# English words that belong in a Chinese screen: the language switch, file and document names.
ALLOWED = {"Language", "English", "Word", "Excel", "SHA", "PDF", "ZG", "KB", "MB", "pdf", "xlsx", "docx", "png",
           "jpg", "jpeg", "doc", "xls", "gif", "webp", "ofd", "txt", "wps", "csv", "README", "leader", "inspector", "jiuzhu", "admin"}

ROLE_PAGES = {
    "leader": ["overview", "my_work", "ledger", "finding", "villages", "meeting"],
    "inspector": ["overview", "my_work", "ledger", "finding", "log", "villages", "meeting"],
    "jiuzhu": ["overview", "my_work", "ledger", "finding", "villages"],
    "admin": ["overview", "my_work", "ledger", "finding", "log", "villages", "admin"],
}


VISIBLE_TEXT = """() => {
    // the text a reader sees: no icon ligatures (material icons are words drawn as glyphs), nothing
    // hidden or moved off the screen (the "skip to content" link for screen readers)
    const parts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, element = node.parentElement;
        if (!element || !node.textContent.trim()) continue;
        if (element.closest('[data-testid="stIconMaterial"], [data-testid="stIconEmoji"], style, script')) continue;
        const rect = element.getBoundingClientRect(), style = getComputedStyle(element);
        if (rect.width < 2 || rect.height < 2 || rect.right < 0 || rect.bottom < 0) continue;
        if (style.visibility === 'hidden' || style.opacity === '0' || parseFloat(style.fontSize) < 1) continue;
        parts.push(node.textContent);
    }
    return parts.join('\\n');
}"""


def english_on(page) -> list[str]:
    text = page.evaluate(VISIBLE_TEXT)
    found = ENGLISH.findall(text)
    words = {word for word in re.findall(r"[A-Za-z]{3,}", text) if word not in ALLOWED}
    return found + sorted(words)


def visit(page, base: str, key: str) -> None:
    page.goto(f"{base}/{key}")  # every page answers to its name, the home page too
    settle(page)
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=30_000)
    settle(page)
    if key == "finding":
        serial = query("SELECT serial FROM finding WHERE status = 'in_progress' ORDER BY id LIMIT 1")[0][0]
        page.get_by_role("textbox", name="按编号查找").fill(serial)
        page.keyboard.press("Enter")
        settle(page)
        for tab in ("整改措施", "整改进展", "佐证材料", "延期与销号", "操作记录"):
            page.get_by_role("tab", name=tab).click()
            page.locator('[role="tab"][aria-selected="true"]', has_text=tab).wait_for()
            assert not english_on(page), (key, tab, english_on(page))


@pytest.mark.parametrize("username", list(ROLE_PAGES))
def test_no_english_in_the_chinese_interface(server, page, username):
    sign_in(page, server, username)
    # a department lands on its own work, every other role on the overview
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=30_000)
    landing = "我的待办" if username == "jiuzhu" else "总览"
    assert page.locator('[data-testid="stMain"] h1').first.inner_text().strip() == landing
    for key in ROLE_PAGES[username]:
        visit(page, server, key)
        # typing in a text field would show Streamlit's English "Press Enter to apply"
        fields = page.locator('[data-testid="stMain"] [data-testid="stTextInput"] input[type="text"]')
        for field in fields.all()[:2]:
            if field.is_visible() and field.is_enabled():
                field.fill("测试")
                break
        assert not english_on(page), (username, key, english_on(page))
        page.keyboard.press("Escape")
        shot(page, f"{username}-{key}-1440")
    # a page outside the role, and an address that is no page at all: answered in Chinese
    outside = next(key for key in ("admin", "log", "meeting") if key not in ROLE_PAGES[username])
    page.goto(f"{server}/{outside}")
    settle(page)
    assert "您的角色无权访问此页面" in page.locator("body").inner_text()
    assert not english_on(page), english_on(page)
    page.goto(f"{server}/no-such-page")
    settle(page)
    assert not english_on(page), english_on(page)
    if username == "jiuzhu":  # another unit's finding is refused in Chinese only
        other = query("SELECT f.serial FROM finding f JOIN unit u ON u.id = f.lead_unit_id "
                      "WHERE u.name != '社会救助办' AND f.id NOT IN (SELECT finding_id FROM finding_co_unit "
                      "WHERE unit_id = (SELECT id FROM unit WHERE name = '社会救助办')) LIMIT 1")[0][0]
        visit(page, server, "finding")
        page.get_by_role("textbox", name="按编号查找").fill(other)
        page.keyboard.press("Enter")
        settle(page)
        assert "无权查看" in page.locator("body").inner_text()
        assert not english_on(page), english_on(page)


def overflow(page) -> list[str]:
    """Containers that scroll sideways (data grids scroll inside themselves and are not counted)."""
    return page.evaluate("""() => {
        const wide = [];
        for (const el of [document.documentElement, document.body,
                          ...document.querySelectorAll('[data-testid="stAppViewContainer"], [data-testid="stMain"],'
                                                       + '[data-testid="stMainBlockContainer"]')]) {
            if (el.scrollWidth > el.clientWidth + 1) wide.push((el.dataset.testid || el.tagName) + ' ' + el.scrollWidth);
        }
        return wide;
    }""")


@pytest.fixture
def phone(browser, tmp_path):
    page = new_page(browser, viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True,
                    device_scale_factor=2)
    yield page
    page.screenshot(path=str(tmp_path / "last-screen.png"))


def phone_shot(page, name: str) -> None:
    """The whole page at phone width: the viewport grows in height only."""
    if SHOTS is None:
        return
    height = page.evaluate("() => (document.querySelector('[data-testid=stMain]') || document.body).scrollHeight")
    page.set_viewport_size({"width": 390, "height": min(max(height + 40, 844), 6000)})
    page.wait_for_timeout(600)
    shot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)


@pytest.mark.parametrize("username,keys", [("jiuzhu", ["my_work", "finding"]), ("inspector", ["log", "finding"])])
def test_phone_screens_do_not_scroll_sideways(server, phone, username, keys):
    phone.goto(server)
    phone.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    settle(phone)
    assert overflow(phone) == []
    phone_shot(phone, "phone-sign-in")
    sign_in(phone, server, username)
    for key in keys:
        visit(phone, server, key)
        assert overflow(phone) == [], (key, overflow(phone))
        if key == "finding" and username == "jiuzhu":
            uploader = phone.locator('[data-testid="stFileUploaderDropzoneInput"]').first
            assert uploader.count() == 1  # the phone's own picker offers the camera
        phone_shot(phone, f"phone-{username}-{key}")


def test_tabbing_into_a_work_list_does_not_open_its_first_finding(server, page):
    """Keyboard: Tab moves through the work list's toolbar into the table; focus alone opens nothing."""
    sign_in(page, server, "jiuzhu")
    page.locator('[data-testid="stMain"] h1').first.click()
    in_table = "() => !!document.activeElement.closest('[data-testid=stDataFrame]')" \
               " && document.activeElement.tagName === 'CANVAS'"
    for _ in range(15):
        page.evaluate("() => { window.__focusBefore = document.activeElement; }")
        page.keyboard.press("Tab")
        page.wait_for_function("() => document.activeElement !== window.__focusBefore")  # focus has moved on
        if page.evaluate(in_table):
            break
    assert page.evaluate(in_table), "Tab never reached the work list"
    page.keyboard.press("ArrowDown")
    settle(page)
    page.wait_for_timeout(1500)  # the point of the test: time for a (wrong) opening of the row to show; not a settle
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "我的待办"
    assert page.get_by_role("heading", name="问题详情").count() == 0


class Taps:
    """Counts what a thumb does on a phone: a tap on a button, a row or a box (typing in a box is part of
    the tap that focuses it); choosing a photo is two taps (the picker, then the photo)."""

    def __init__(self, page) -> None:
        self.page, self.done = page, []

    def tap(self, locator, what: str) -> None:
        locator.tap()
        self.done.append(what)
        settle(self.page)

    def tap_at(self, x: float, y: float, what: str) -> None:
        self.page.touchscreen.tap(x, y)
        self.done.append(what)
        settle(self.page)

    def type_into(self, locator, text: str, what: str) -> None:
        locator.tap()
        locator.fill(text)
        self.done.append(what)

    def pick_photo(self, path: Path) -> None:
        self.page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
        settle(self.page)  # the upload has finished (settle waits for it)
        self.done += ["open the photo picker", "choose the photo"]


WEEKLY_UPDATE_TAPS = 12  # issue 25: sign-in to closure application on a phone, at most this many taps


def test_the_weekly_update_on_a_phone_takes_at_most_twelve_taps(server, phone, tmp_path):
    """A department's weekly update at 390 × 844, counted from sign-in: open the first item of 我的待办,
    tick its open measures, report progress with a photo, apply for closure."""
    sign_in(phone, server, "jiuzhu")
    taps = Taps(phone)
    grid = phone.locator('[data-testid="stDataFrame"]').first  # 我的待办 is the department's home page
    first_row = grid.locator('table tr[aria-rowindex="2"]').text_content()
    serial = re.search(r"ZG-\d{4}-\d{4}", first_row).group(0)
    taps.tap_at(*grid_cell(phone, grid, 0, 0.5), "open the first item")
    phone.locator("h3").filter(has_text=serial).first.wait_for(timeout=15_000)
    while phone.get_by_role("button", name="标记完成").count():
        taps.tap(phone.get_by_role("button", name="标记完成").first, "tick a measure")
        assert len(taps.done) <= WEEKLY_UPDATE_TAPS, taps.done
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
                                       "60e6kgAAAABJRU5ErkJggg=="))  # a 1 × 1 PNG
    taps.type_into(phone.get_by_role("textbox", name="本次完成的工作"), "已完成危房鉴定复核，附现场照片", "progress text")
    taps.pick_photo(photo)
    progress = phone.locator('[data-testid="stForm"]').filter(has_text="报送整改进展")
    taps.tap(progress.get_by_role("button", name="提交"), "send the progress")
    wait_text(phone, "整改进展已报送")
    taps.type_into(phone.get_by_role("textbox", name="销号申请说明"), "措施均已完成，佐证见照片", "closure text")
    closure = phone.locator('[data-testid="stForm"]').filter(has_text="销号申请说明")
    taps.tap(closure.get_by_role("button", name="申请销号"), "apply for closure")
    wait_text(phone, "销号申请已提交")
    phone_shot(phone, "phone-jiuzhu-weekly-update")
    assert query("SELECT status FROM finding WHERE serial = ?", serial) == [("pending_review",)]
    print(f"weekly update on a phone: {len(taps.done)} taps: {taps.done}")
    assert len(taps.done) <= WEEKLY_UPDATE_TAPS, taps.done


def test_two_browsers_editing_one_finding_lose_nothing(server, browser):
    """A opens a finding; B saves a change; A's page reruns; A's save from the stale form is refused."""
    serial = query("SELECT serial FROM finding WHERE status IN ('open', 'in_progress') ORDER BY id LIMIT 1")[0][0]
    pages = []
    for username in ("inspector", "admin"):
        page = new_page(browser, viewport={"width": 1440, "height": 2000}, locale="zh-CN")
        sign_in(page, server, username)
        open_finding(page, server, serial)
        pages.append(page)
    a, b = pages
    b_form = b.locator('[data-testid="stForm"]').filter(has_text="修改问题")
    b_form.get_by_role("textbox", name="备注").fill("B 补充的备注")
    b_form.get_by_role("button", name="保存").click()
    settle(b)
    b.locator('[data-testid="stAlert"]').filter(has_text="已保存").first.wait_for(timeout=15_000)
    # A's page reruns for another reason (here: looking the same finding up again) before A saves
    a.get_by_role("textbox", name="按编号查找").fill(serial)
    a.keyboard.press("Enter")
    settle(a)
    a_form = a.locator('[data-testid="stForm"]').filter(has_text="修改问题")
    a_form.get_by_role("textbox", name="问题描述").fill("A 改写的问题描述")
    a_form.get_by_role("button", name="保存").click()
    settle(a)
    wait_text(a, "您看到的是旧版本", timeout=30_000)  # on a loaded machine the rerun may draw it late
    assert "您的输入已保留" in a.locator('[data-testid="stMain"]').inner_text()
    assert query("SELECT remarks, description != 'A 改写的问题描述' FROM finding WHERE serial = ?", serial) == [
        ("B 补充的备注", 1)]
    shot(a, "inspector-finding-conflict-1440")
    for page in pages:
        page.context.close()


def test_import_mapping_step_in_the_browser(server, page, tmp_path):
    """An admin uploads a ledger that names a unit the office's way, maps it once, imports; an unreadable
    file before it gets one sentence and no traceback (issue 11, issue 13)."""
    from tests import ledger_files

    base = server
    renamed = tmp_path / "改了扩展名.xlsx"
    renamed.write_bytes(ledger_files.csv_ledger("gbk"))
    ledger = tmp_path / "救助股台账.xlsx"
    ledger.write_bytes(ledger_files.unit_alias_ledger())
    sign_in(page, base, "admin")
    go(page, base, "admin")
    page.get_by_role("tab", name="导入Excel台账").click()
    settle(page)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(str(renamed))
    page.get_by_text("文件扩展名是.xlsx，但内容是文本（CSV）").wait_for(timeout=30_000)
    assert page.get_by_text("Traceback").count() == 0
    page.get_by_role("textbox", name="来源名称（督查检查批次）").fill("县民政局巡察反馈（浏览器）")
    page.keyboard.press("Enter")
    settle(page)
    uploader.set_input_files(str(ledger))
    page.get_by_role("heading", name="名称映射").wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_text("“县民政局社会救助办”按单位“社会救助办”导入").count() == 1
    page.screenshot(path=str(tmp_path / "mapping-step.png"), full_page=True)
    page.locator('[data-testid="stSelectbox"]:visible').nth(1).click()
    page.get_by_role("option", name="对应：社会救助办").first.click()
    settle(page)
    page.get_by_text("单位“救助股”映射为“社会救助办”（2行）").wait_for(timeout=30_000)
    page.get_by_role("button", name="确认导入").click()
    page.get_by_text("已导入4条").first.wait_for(timeout=60_000)  # the success box, and a toast when it is still up
    assert (tmp_path / "mapping-step.png").stat().st_size > 10_000
