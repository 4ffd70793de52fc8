"""回头看 end to end in a real browser at phone size (390 × 844), on the demo data: an inspector creates a
campaign, draws the sample, re-checks a finding in the field (checklist, verdict, note, a photo), the failure
appears with its new finding, and the report is frozen for download. Screenshots go to LOOKBACK_SHOTS
(default: the test's temporary folder). Skipped without Chromium."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.test_browser import ARGS, CHROMIUM, demo_server, free_port, new_page, settle, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"),
]
PORT = int(os.environ.get("LOOKBACK_BROWSER_PORT", "0"))  # 0: any free port (each xdist worker its own)
PHONE = {"width": 390, "height": 844}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = PORT or free_port()
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            port = free_port()
    with demo_server(tmp_path_factory.mktemp("lookback-browser"), port) as base:
        yield base


def test_a_whole_campaign_at_phone_size(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("LOOKBACK_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = new_page(browser, viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
        sign_in(page, server, "inspector")
        page.goto(f"{server}/lookback")
        try:
            page.get_by_role("heading", name="回头看").first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(shots / "0-arrival.png"), full_page=True)
        settle(page)
        page.screenshot(path=str(shots / "1-finished-campaign.png"), full_page=True)

        page.get_by_text("新建回头看").click()
        settle(page)
        page.get_by_label("回头看名称").fill("2026年第二轮回头看")
        page.keyboard.press("Tab")
        page.get_by_role("button", name="创建").click()
        try:
            page.get_by_text("已创建").first.wait_for(timeout=20_000)
        except Exception:  # a form submitted while a script still runs may be dropped (as sign_in says): once
            page.screenshot(path=str(shots / "1b-create.png"))
            settle(page)
            if page.get_by_text("2026年第二轮回头看").count() == 0:  # not created: the click was dropped
                page.get_by_role("button", name="创建").click()
            page.get_by_text("已创建").or_(page.get_by_text("2026年第二轮回头看")).first.wait_for(timeout=30_000)
        settle(page)
        page.get_by_role("tab", name="样本").click()
        page.get_by_role("button", name="抽样").click()
        page.get_by_text("个问题。").first.wait_for(timeout=30_000)
        settle(page)
        page.get_by_role("tab", name="样本").click()
        settle(page)
        page.screenshot(path=str(shots / "2-drawn-sample.png"), full_page=True)

        page.get_by_role("tab", name="复查").click()
        settle(page)
        page.screenshot(path=str(shots / "3a-recheck-tab.png"))
        groups = page.locator('[data-testid="stRadio"]')
        for n in range(4):
            groups.nth(n).get_by_text("否", exact=True).click()
        groups.nth(4).get_by_text("虚假整改/纸面整改").click()
        page.get_by_label("复查意见").fill("入户核实：2户仍不符合条件，整改只在台账上。")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            {"name": "现场照片.png", "mimeType": "image/png", "buffer": PNG})
        page.get_by_text("现场照片.png").wait_for(timeout=15_000)
        page.screenshot(path=str(shots / "3-recheck-form.png"), full_page=True)
        page.get_by_role("button", name="提交复查结论").click()
        page.get_by_text("已重新登记为屡改屡犯问题").first.wait_for(timeout=30_000)
        settle(page)

        download_button = page.get_by_role("button", name="下载回头看情况报告（Word）")
        for _attempt in range(4):  # a tab click during the rerun that follows a save is lost: try again
            settle(page)
            page.get_by_role("tab", name="统计与报告").click()
            settle(page)
            page.get_by_role("button", name="冻结数据并生成报告").click()
            settle(page)
            try:
                download_button.wait_for(state="attached", timeout=10_000)
                break
            except Exception:
                page.screenshot(path=str(shots / f"4a-freeze-{_attempt}.png"))
        page.get_by_role("tab", name="统计与报告").click()
        settle(page)
        page.screenshot(path=str(shots / "4-figures-and-report.png"), full_page=True)
        page.get_by_role("button", name="下载回头看情况报告（Word）").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "5-download.png"))
        with page.expect_download() as download:
            page.get_by_role("button", name="下载回头看情况报告（Word）").click()
        report = Path(download.value.path()).read_bytes()
        width = page.evaluate("document.documentElement.scrollWidth")
        browser.close()
    assert width <= PHONE["width"] + 1, f"the page scrolls sideways at phone size: {width}px"
    from docx import Document
    import io
    text = "\n".join(p.text for p in Document(io.BytesIO(report)).paragraphs)
    assert "2026年第二轮回头看情况报告" in text and "未通过1项" in text
