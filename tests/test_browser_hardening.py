"""User text in a real browser: Markdown typed into a finding is shown as text, fetches nothing
and links nowhere (issue 13, item 9). Skipped (with the reason) without Chromium."""
from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlmodel import select

from tests.test_browser import ARGS, CHROMIUM, demo_server, new_page, open_finding, settle, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"),
]
SHOTS = Path(os.environ.get("HARDENING_SHOTS", "")) if os.environ.get("HARDENING_SHOTS") else None


class Listener:
    """An HTTP server on 127.0.0.1 that counts every request it receives."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name the server library calls
                listener.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser-hardening")
    with demo_server(data) as base:
        yield base, data



@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _plant(data: Path, port: int) -> str:
    """Markdown and HTML typed by users into a finding, its progress, and a display name."""
    from dashboard.services import admin
    from dashboard.services import findings as svc
    from dashboard.services.common import actor_of
    from dashboard.services.unit_of_work import unit_of_work
    from db.engine import make_engine
    from db.models import Finding, User

    base = f"http://127.0.0.1:{port}"
    payload = (f"![]({base}/description.png) [点我]({base}/click) <img src=\"{base}/html.png\"> "
               f"$x^2$ :red[红字] {base}/bare")
    engine = make_engine(f"sqlite:///{data / 'ledger.db'}")
    with unit_of_work(engine) as session:
        people = {u.username: u for u in session.exec(select(User)).all()}
        boss, dept = actor_of(people["admin"]), actor_of(people["jiuzhu"])
        finding = session.exec(select(Finding).where(Finding.lead_unit_id == dept.unit_id,
                                                     Finding.status.in_(["open", "in_progress"]))
                               .order_by(Finding.id)).first()
        svc.edit_finding(session, boss, finding.id, None, {"description": payload, "remarks": payload})
        svc.report_progress(session, dept, finding.id, done_text=payload, next_text=f"![]({base}/next.png)")
        admin.update_user(session, boss, dept.id, None, display_name=f"![]({base}/name.png)救助办")
        serial = finding.serial
    engine.dispose()
    return serial


def test_markdown_typed_by_users_is_shown_as_text(served, browser):
    base, data = served
    listener = Listener()
    try:
        serial = _plant(data, listener.port)
        page = new_page(browser, viewport={"width": 1500, "height": 2200}, locale="zh-CN")
        sign_in(page, base, "jiuzhu")
        open_finding(page, base, serial)
        page.get_by_role("tab", name="整改进展").click()
        page.locator('[role="tab"][aria-selected="true"]', has_text="整改进展").wait_for()
        settle(page)
        if SHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "finding-markdown-as-text.png"), full_page=True)
        main = page.locator('[data-testid="stMain"]')
        shown = (main.inner_text() + page.locator('[data-testid="stSidebar"]').inner_text()).replace("\u2060", "")
        assert f"![](http://127.0.0.1:{listener.port}/description.png)" in shown
        assert "[点我](" in shown and ":red[红字]" in shown and "$x^2$" in shown
        assert f"![](http://127.0.0.1:{listener.port}/name.png)救助办" in shown  # the sidebar's user card
        assert page.locator("a", has_text="点我").count() == 0
        assert page.locator(f'img[src*="127.0.0.1:{listener.port}"]').count() == 0
        links = page.locator(f'a[href*="127.0.0.1:{listener.port}"]')
        assert links.count() == 0, [links.nth(i).evaluate("e => e.outerHTML") for i in range(min(links.count(), 3))]
        page.wait_for_timeout(500)  # the point: time for a browser to fetch a planted address (none may come)
        assert listener.paths == []  # no reader's browser fetched anything
    finally:
        listener.close()
