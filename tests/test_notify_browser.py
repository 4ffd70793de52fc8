"""Issue 23's done-when in a real browser, on the demo data: the nightly run (``python -m dashboard remind
--once``) finds the planted problem and tells the township (read at phone size) and reminds the inspectors of
a report due; the inspector marks that report sent and raises a finding from the rule's hits in 高士镇; the
township officer adds the missing measure; 高士镇's liaison applies for closure and the inspector closes it.
No page shows a full ID. Screenshots at 1440 px and 390 × 844 when SCREENSHOT_DIR is set."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.processes import cli_here
from tests.test_browser import (DATA, ROOT, browser, demo_server, open_finding, query, settle, shot,  # noqa: F401 - fixtures and helpers the test names
                                sign_in, sign_out, submit_form, tables_drawn, wait_text, watch_runs)

pytestmark = [pytest.mark.browser]
DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}
FULL_ID = re.compile(r"(?<![\d*])\d{17}[\dXx](?![\d*])")   # an 18-character ID in clear (masks carry *)
REPORT_SOURCE = "防止返贫监测帮扶集中排查"   # the demo source whose 整改情况报告 falls due in 7 days


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("notify-browser")
    DATA["dir"] = data
    with demo_server(data) as base:
        yield base


def command(*argv: str, own_process: bool = False) -> dict:
    """``python -m dashboard …`` on the server's own database, its JSON output: with ``own_process`` as a process of
    its own (the nightly run, as cron starts it), else ``cli.main`` in the test's process with the same environment
    and an application engine of its own, disposed of afterwards (a check the test reads: a second less than a new
    interpreter)."""
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(DATA["dir"]), "DASHBOARD_MODE": "demo"}
    env.pop("DATABASE_URL", None)
    if own_process:
        done = subprocess.run([sys.executable, "-m", "dashboard", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DASHBOARD_DATA_DIR", env["DASHBOARD_DATA_DIR"])
        patch.setenv("DASHBOARD_MODE", "demo")
        patch.delenv("DATABASE_URL", raising=False)
        done = cli_here(*argv)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def eventually(read, seconds: float = 60):
    """``read()`` once it returns rows: on a busy machine the click's rerun may still be writing when the page
    has settled (the test then read no row, before the finding was raised)."""
    deadline = time.time() + seconds
    while not (rows := read()) and time.time() < deadline:
        time.sleep(0.5)
    return rows


def rule_hits(rule_id: str) -> list[str]:
    return next(rule["households"] for rule in command("households-check", "--json")["rules"] if rule["id"] == rule_id)


def snap(page, name: str) -> None:
    """A screenshot once the tables (drawn on a canvas after the run) have appeared; never with a clear ID."""
    tables_drawn(page)
    assert not FULL_ID.search(page.locator('[data-testid="stMain"]').inner_text()), name
    shot(page, name)


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the select box ``label`` (a combo box: its Open button shows the options)."""
    box = page.get_by_role("combobox", name=label).first
    for _attempt in range(3):   # a rerun that redraws the box may close the list just opened
        box.locator("xpath=..").get_by_role("button", name="Open").click()
        try:
            page.get_by_role("option", name=option).first.click(timeout=5_000)
            break
        except Exception:
            settle(page)
    settle(page)
    assert box.input_value() == option


def test_from_the_nightly_check_to_a_closed_finding_in_the_browser(browser, server, tmp_path):  # noqa: F811 - the fixture imported above
    (number,) = rule_hits("no_measure")   # the planted household of 高士镇
    nightly = command("remind", "--once", own_process=True)
    assert nightly["quality_units"] >= 1 and nightly["report_reminders"] == 1

    # 1. the township officer reads the night's notices on a phone
    phone = watch_runs(browser.new_page(viewport=PHONE))
    sign_in(phone, server, "gaoshi")
    phone.goto(f"{server}/notifications")
    settle(phone)
    wait_text(phone, "数据质量核查（")
    snap(phone, "notify-township-notices-phone")
    phone.close()

    # 2. the inspector is reminded of the report, marks it sent, and raises a finding from the check
    page = watch_runs(browser.new_page(viewport=DESKTOP))
    sign_in(page, server, "inspector")
    page.goto(f"{server}/notifications")
    settle(page)
    wait_text(page, f"整改情况报告提醒：“{REPORT_SOURCE}”")
    snap(page, "notify-inspector-report-reminder")
    page.goto(f"{server}/log")
    settle(page)
    page.get_by_text("新建问题来源").first.click()
    settle(page)
    pick(page, "问题来源", REPORT_SOURCE)
    form = page.get_by_test_id("stForm").filter(has_text="报送日期").first
    form.get_by_text("已报送", exact=True).click()
    form.get_by_role("button", name="保存报告情况").click()
    settle(page)
    wait_text(page, f"已保存“{REPORT_SOURCE}”的整改情况报告")
    snap(page, "notify-report-sent")
    assert query("SELECT report_sent_on IS NOT NULL FROM source WHERE title = ?", REPORT_SOURCE) == [(1,)]

    page.goto(f"{server}/quality")
    settle(page)
    pick(page, "乡镇", "高士镇")
    pick(page, "查看命中户", "纳入监测满一个月无帮扶措施（1）")
    snap(page, "notify-quality-gaoshi")
    page.get_by_role("button", name="转为高士镇的整改问题").click()
    settle(page)
    ((serial,),) = eventually(lambda: query("SELECT f.serial FROM finding f JOIN finding_household l "
                                            "ON l.finding_id = f.id JOIN household h ON h.id = l.household_id "
                                            "WHERE h.number = ?", number))
    wait_text(page, serial)
    snap(page, "notify-finding-raised")
    sign_out(page)

    # 3. the township officer adds the missing 健康帮扶 measure on the household
    sign_in(page, None, "gaoshi")
    page.goto(f"{server}/household")
    settle(page)
    field = page.get_by_label("按户编号打开")
    field.fill(number)
    field.press("Enter")
    settle(page)
    page.get_by_text(f"监测户 {number}").first.wait_for(timeout=20_000)
    page.get_by_text("添加帮扶措施").click()
    form = page.get_by_test_id("stForm").filter(has_text="帮扶内容").first
    pick(page, "帮扶类型", "健康帮扶")
    form.get_by_label("帮扶内容").fill("家庭医生签约服务，大病救助")
    form.get_by_label("责任单位").fill("县卫健委")
    form.get_by_role("button", name="保存").click()
    settle(page)
    page.get_by_text("已保存。").first.wait_for(timeout=20_000)
    snap(page, "notify-household-fixed")
    assert number not in rule_hits("no_measure")
    sign_out(page)

    # 4. 高士镇's liaison reports, ticks the measure and applies for closure; the inspector closes it
    sign_in(page, None, "gaoshi_lianluo")
    open_finding(page, server, serial)
    page.get_by_role("button", name="标记完成").first.click()
    settle(page)
    proof = tmp_path / "帮扶措施落实记录.pdf"
    proof.write_bytes(b"%PDF-1.4 notify browser evidence")
    page.get_by_role("textbox", name="本次完成的工作").fill("已为该户落实健康帮扶措施")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(proof))
    page.wait_for_timeout(800)
    submit_form(page, "报送整改进展", "提交")
    wait_text(page, "整改进展已报送")
    page.get_by_role("textbox", name="销号申请说明").fill("已落实健康帮扶措施，数据质量核查不再命中")
    submit_form(page, "销号申请说明", "申请销号")
    wait_text(page, "销号申请已提交")
    snap(page, "notify-closure-applied")
    sign_out(page)
    sign_in(page, None, "inspector")
    open_finding(page, server, serial)
    submit_form(page, "审核意见", "提交")
    wait_text(page, "已销号。")
    snap(page, "notify-finding-closed")
    assert query("SELECT status FROM finding WHERE serial = ?", serial) == [("closed",)]
    page.close()

    # 5. the liaison hears of the closure, on a phone
    phone = watch_runs(browser.new_page(viewport=PHONE))
    sign_in(phone, server, "gaoshi_lianluo")
    phone.goto(f"{server}/notifications")
    settle(phone)
    wait_text(phone, f"{serial} 的销号申请")
    snap(phone, "notify-liaison-closed-phone")
    phone.close()
    assert command("remind", "--once")["quality_units"] == 0   # the same night again: told once
