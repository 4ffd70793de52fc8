"""Screenshots of every page for every role, in both languages, for a human look.

    python scripts/screenshots.py http://127.0.0.1:8501 OUTDIR

Uses Debian's Chromium (/usr/bin/chromium) through Playwright; no browser download.
"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PASSWORD = "demo1234"
DEPARTMENTS = {"jiuzhu"}  # a department lands on 我的待办
ROLE_PAGES = {
    "leader": ["overview", "my_work", "ledger", "finding", "villages"],
    "inspector": ["my_work", "log", "finding"],
    "jiuzhu": ["overview", "my_work", "finding"],
    "admin": ["admin", "health"],
}


def wait_idle(page) -> None:
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_timeout(900)


def login(page, base: str, username: str) -> None:
    page.goto(base)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    wait_idle(page)


def main(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for username, pages in ROLE_PAGES.items():
            context = browser.new_context(viewport={"width": 1600, "height": 2200}, locale="zh-CN")
            page = context.new_page()
            login(page, base, username)
            for lang in ("zh", "en"):
                if lang == "en":
                    page.get_by_text("English").click()
                    wait_idle(page)
                for key in pages:
                    home = "my_work" if username in DEPARTMENTS else "overview"  # navigation.home_key
                    path = "" if key == home else key  # the home page lives at the root URL
                    page.locator(f'[data-testid="stSidebarNav"] a[href="{base}/{path}"]').click()
                    wait_idle(page)
                    if key == "finding":
                        page.get_by_label("按编号查找" if lang == "zh" else "Find by serial").fill("ZG-2026-0002")
                        page.keyboard.press("Enter")
                        wait_idle(page)
                    page.screenshot(path=str(out / f"{username}-{key}-{lang}.png"), full_page=True)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), Path(sys.argv[2]))
