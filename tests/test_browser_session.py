"""The server-owned session in Chromium: after sign-in no script can read the session id (``document.cookie``
has no session value), the cookie is HttpOnly and SameSite=Strict, logout ends it, "sign out everywhere" ends a
second browser's session, and the cookie route refuses a post from another origin or without a valid ticket."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.test_browser import ARGS, CHROMIUM, demo_server, settle, sign_in, sign_out, watch_runs

SESSION_COOKIE = "zhenggai_session"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("session-data")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _page(browser):
    context = watch_runs(browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN"))
    return context, context.new_page()


def test_no_script_can_read_the_session_and_logout_ends_it(server, browser):
    context, page = _page(browser)
    sign_in(page, server, "inspector")
    [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/" and len(cookie["value"]) >= 40
    assert cookie["value"] not in page.evaluate("document.cookie")
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    page.reload()  # a new page load: the cookie alone signs the browser in
    page.get_by_role("button", name="退出登录").wait_for(timeout=30_000)
    stolen = cookie["value"]
    sign_out(page)
    settle(page)
    assert not [c for c in context.cookies() if c["name"] == SESSION_COOKIE]  # the route cleared it
    context.close()
    # the id it had is dead on the server too: a browser that kept a copy is not signed in with it
    context, page = _page(browser)
    context.add_cookies([{**cookie, "value": stolen}])
    page.goto(server)
    page.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_role("button", name="退出登录").count() == 0
    context.close()


def test_sign_out_everywhere_ends_another_browsers_session(server, browser):
    first, page_one = _page(browser)
    second, page_two = _page(browser)
    sign_in(page_one, server, "leader")
    sign_in(page_two, server, "leader")
    page_one.goto(f"{server}/sessions")
    settle(page_one)
    page_one.get_by_role("heading", name="我的登录").wait_for(timeout=10_000)
    page_one.get_by_role("button", name="退出其他登录").click()
    settle(page_one)
    page_one.get_by_text("已结束1个登录会话").first.wait_for(timeout=10_000)
    page_two.locator('[data-testid="stSidebarNav"] a').first.click()  # its next interaction: signed out
    page_two.get_by_role("button", name="登录", exact=True).wait_for(timeout=30_000)
    page_one.reload()
    page_one.get_by_role("button", name="退出登录").wait_for(timeout=30_000)  # this browser goes on
    first.close()
    second.close()


def _post(url: str, data: bytes, origin: str | None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin:
        headers["Origin"] = origin
    try:
        return urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10)
    except urllib.error.HTTPError as refused:
        return refused


def test_the_cookie_route_refuses_other_sites_and_bad_tickets(server):
    other_site = _post(f"{server}/auth/session", b"ticket=anything", "https://evil.example")
    assert other_site.status == 403 and b"web.origin_refused" in other_site.read()
    no_origin = _post(f"{server}/auth/session", b"ticket=anything", None)
    assert no_origin.status == 403
    bad_ticket = _post(f"{server}/auth/session", b"ticket=not-a-ticket", server)
    assert bad_ticket.status == 403 and b"web.ticket_refused" in bad_ticket.read()
    logout_elsewhere = _post(f"{server}/auth/logout", b"", "https://evil.example")
    assert logout_elsewhere.status == 403
