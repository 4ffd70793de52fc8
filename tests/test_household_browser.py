"""A browser run of the household ledger on the demo data: a township officer registers a clue and records
the 入户核实, the 民主评议 and the 村内公示 at phone size (a posting shorter than five days refused; 初审 waits
for the posting's end); a clue whose 公示 has ended goes through 乡镇初审 and the county's 县级审定; a
measure is added; a 风险消除 goes through 县级审核 and 公告, and another starts from the queue with its
入户核实 and its 民主评议公示. Pages show no
full ID; screenshots at 1440 px and 390 × 844 when SCREENSHOT_DIR is set."""
from __future__ import annotations

import datetime as dt
import random
import sqlite3

import pytest

from dashboard import clock
from seed import people
from tests.test_browser import DATA, browser, demo_server, settle, shot, sign_in, sign_out, tables_drawn, watch_runs  # noqa: F401 - fixtures and helpers the tests below name

pytestmark = [pytest.mark.browser]
PORT = 8761  # this area's own port (8760-8779)
DESKTOP = {"width": 1440, "height": 1000}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("household-browser")
    DATA["dir"] = data
    with demo_server(data, port=PORT) as base:
        yield base
PHONE = {"width": 390, "height": 844}


def one(sql: str, *params):
    with sqlite3.connect(DATA["dir"] / "ledger.db") as connection:
        return connection.execute(sql, params).fetchone()


def snap(page, name: str) -> None:
    """A screenshot once the tables (drawn on a canvas after the run) have appeared."""
    tables_drawn(page)
    shot(page, name)


def open_household(page, server, number: str) -> None:  # noqa: F811 - the fixture imported above
    page.goto(f"{server}/household")
    settle(page)
    field = page.get_by_label("按户编号打开")
    field.fill(number)
    field.press("Enter")
    settle(page)
    page.get_by_text(f"监测户 {number}").first.wait_for(timeout=20_000)


def save_step(page, title: str) -> None:
    form = page.get_by_test_id("stForm").filter(has_text=title).first
    form.get_by_role("button", name="保存").click()
    settle(page)
    page.get_by_text("已保存。").first.wait_for(timeout=20_000)


def post_for_five_days(page, title: str, today: dt.date) -> None:
    """A posting from today to five days on (the rule's minimum), saved."""
    form = page.get_by_test_id("stForm").filter(has_text=title).first
    end = today + dt.timedelta(days=5)
    for part, value in (("year", f"{end:%Y}"), ("month", f"{end:%m}"), ("day", f"{end:%d}")):
        segment = form.get_by_role("spinbutton", name=f"{part}, 公示结束日期")  # the date field's own segments
        segment.click()
        segment.press_sequentially(value)
    page.keyboard.press("Tab")
    save_step(page, title)


def ready_for_elimination():
    """The 风险消除 queue of the server's database, read through the same service the page uses."""
    from dashboard.lifecycle import SYSTEM
    from dashboard.services import household_views
    from db.engine import make_engine, read_session

    engine = make_engine(f"sqlite:///{DATA['dir'] / 'ledger.db'}")
    try:
        with read_session(engine) as session:
            return household_views.elimination_queue(session, SYSTEM)
    finally:
        engine.dispose()


def no_full_id(page, ids: list[str]) -> None:
    content = page.content()
    assert not any(number in content for number in ids)


def test_clue_to_elimination_in_the_browser(browser, server):  # noqa: F811 - the fixture imported above
    rng = random.Random(7)
    new_id = people.resident_id(rng, dt.date(1968, 5, 4), female=False)
    today = clock.today()   # the app's day (China time): between 16:00 and 24:00 UTC the machine's date is a day behind

    # 1. the township officer, at phone size: a new clue and its 入户核实
    phone = watch_runs(browser.new_page(viewport=PHONE))
    sign_in(phone, server, "gaoshi")
    phone.goto(f"{server}/clues")
    settle(phone)
    snap(phone, "hh-clues-phone")
    phone.get_by_text("登记新线索（新农户）").click()
    phone.get_by_label("户编号").fill("340826109901")
    phone.get_by_label("户主").fill("测试户主")
    phone.get_by_label("证件号码").fill(new_id)
    phone.get_by_label("联系电话").fill("13800001234")
    phone.get_by_label("线索内容").fill("户主突发重病住院，自付医疗费用较高")
    phone.get_by_role("button", name="登记线索").click()
    settle(phone)
    phone.get_by_text("监测户 340826109901").first.wait_for(timeout=30_000)
    phone.get_by_text("农户已签署承诺授权书").click()
    save_step(phone, "入户核实")
    phone.get_by_text("已入户核实").first.wait_for(timeout=20_000)
    no_full_id(phone, [new_id, "13800001234"])
    snap(phone, "hh-household-phone")
    save_step(phone, "民主评议")
    phone.get_by_text("已民主评议").first.wait_for(timeout=20_000)
    posting = phone.get_by_test_id("stForm").filter(has_text="村内公示").first
    posting.get_by_role("button", name="保存").click()  # ending today: shorter than the five days the rule asks
    settle(phone)
    phone.get_by_text("公示期至少5天").first.wait_for(timeout=20_000)
    post_for_five_days(phone, "村内公示", today)
    phone.get_by_text("已村内公示").first.wait_for(timeout=20_000)
    phone.get_by_text("公示尚未结束，结束后才能乡镇初审").first.wait_for(timeout=20_000)  # 初审 waits for the posting
    assert phone.get_by_test_id("stForm").filter(has_text="乡镇初审").count() == 0
    assert one("SELECT c.state FROM household_case c JOIN household h ON h.id = c.household_id "
               "WHERE h.number = '340826109901'") == ("publicized",)
    snap(phone, "hh-household-posting-phone")
    phone.close()

    # 2. a clue whose 村内公示 has ended: 乡镇初审 by the township, 县级审定 by the county, then a measure
    number, = one("SELECT h.number FROM household h JOIN household_case c ON c.household_id = h.id "
                  "WHERE c.state = 'publicized' AND c.publicity_end < ? AND h.township = '高士镇' ORDER BY h.number",
                  today.isoformat())
    page = watch_runs(browser.new_page(viewport=DESKTOP))
    sign_in(page, server, "gaoshi")
    open_household(page, server, number)
    snap(page, "hh-household-publicized")
    save_step(page, "乡镇初审")
    sign_out(page)
    sign_in(page, None, "jiance")
    open_household(page, server, number)
    save_step(page, "县级审定")
    page.get_by_text("监测帮扶中").first.wait_for(timeout=20_000)
    page.get_by_text("添加帮扶措施").click()
    form = page.get_by_test_id("stForm").filter(has_text="帮扶内容").first
    form.get_by_label("帮扶内容").fill("大病救助并签约家庭医生")
    form.get_by_label("责任单位").fill("县卫健委")
    form.get_by_role("button", name="保存").click()
    settle(page)
    page.get_by_text("大病救助并签约家庭医生").first.wait_for(state="attached", timeout=20_000)  # a table cell
    snap(page, "hh-household-monitored")
    assert one("SELECT state FROM household WHERE number = ?", number) == ("monitored",)

    # 3. 风险消除: 县级审核 and 公告 by the county on a household whose posting has ended
    eliminating, = one("SELECT h.number FROM household h JOIN household_case c ON c.household_id = h.id "
                       "WHERE c.state = 'elim_publicized' AND c.publicity_end < ? ORDER BY h.number", today.isoformat())
    open_household(page, server, eliminating)
    save_step(page, "风险消除县级审核")
    save_step(page, "风险消除公告")
    page.get_by_text("风险已消除").first.wait_for(timeout=20_000)
    assert one("SELECT state FROM household WHERE number = ?", eliminating) == ("eliminated",)
    snap(page, "hh-household-eliminated")
    for name in ("households", "clues", "elimination"):
        page.goto(f"{server}/{name}")
        settle(page)
        snap(page, f"hh-{name}")
    sign_out(page)

    # 4. the queue: the township officer starts a 风险消除 (入户核实) from it
    sign_in(page, None, "gaoshi")
    ready = next(c.number for c in ready_for_elimination() if c.township == "高士镇")
    open_household(page, server, ready)
    save_step(page, "风险消除入户核实")
    assert one("SELECT state FROM household WHERE number = ?", ready) == ("eliminating",)
    post_for_five_days(page, "风险消除民主评议公示", today)  # the review and its posting, recorded by the township
    assert one("SELECT c.state FROM household_case c JOIN household h ON h.id = c.household_id "
               "WHERE h.number = ? AND c.state = 'elim_publicized'", ready) == ("elim_publicized",)
    page.close()
    for size, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        view = watch_runs(browser.new_page(viewport=size))
        sign_in(view, server, "jiance")
        for key in ("households", "elimination"):
            view.goto(f"{server}/{key}")
            settle(view)
            snap(view, f"hh-{key}-{name}")
        view.close()
