"""The notification centre, the sidebar's unread count, the 督办文书 page and the admin tab, under AppTest."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from dashboard.services import delivery, findings as svc, jobs
from dashboard.services.unit_of_work import unit_of_work
from db.engine import read_session
from db.models import Letter, Notification, User
from tests.apptest_support import button, page_app, point_app_at, signed_in_entry, texts
from tests.databases import world_in
from tests.factories import finding_input


@pytest.fixture
def world(engine, database_url, monkeypatch, frozen_today):
    point_app_at(monkeypatch, database_url)
    monkeypatch.delenv("DASHBOARD_NOTIFY_URLS", raising=False)
    world = world_in(engine)
    with unit_of_work(engine) as session:
        late = svc.log_finding(session, world.actors["inspector"],
                               finding_input(world, description="红旗村档案缺失", deadline=dt.date(2026, 6, 1)))
        world.late_id, world.late_serial = late.id, late.serial
    jobs.run_once(engine)
    return world


def test_sidebar_count_centre_mark_read_and_open(engine, world):
    with read_session(engine) as session:
        version = session.exec(select(User.token_version).where(User.username == "jiuzhu")).one()
    app = signed_in_entry("jiuzhu", version).run()
    assert not app.exception, app.exception
    assert button(app, "未读通知 1 条")
    page = page_app("pages.notifications", world.actors["jiuzhu"]).run()
    assert not page.exception, page.exception
    shown = texts(page).replace("\\", "")  # the page escapes Markdown
    assert "【整改提醒】社会救助办（6月15日）" in shown and f"{world.late_serial}逾期14天" in shown
    button(page, "全部标为已读").click().run()
    assert "已标为已读 1 条。" in texts(page)
    with read_session(engine) as session:
        assert session.exec(select(Notification.read_at)).all() != [None]
    # a notice about a finding opens it
    with unit_of_work(engine) as session:
        svc.record_escalation(session, world.actors["inspector"], kind="notice", note="通报", finding_id=world.late_id)
    page = page_app("pages.notifications", world.actors["jiuzhu"], lang="en").run()
    assert "Your unit received a public notice" in texts(page)
    button(page, "Open the finding").click().run()
    assert page.session_state["finding_id"] == world.late_id


def test_issue_a_letter_from_the_page(engine, world):
    page = page_app("pages.supervision", world.actors["inspector"]).run()
    assert not page.exception, page.exception
    assert page.dataframe[0].value.iloc[0].tolist() == ["社会救助办", 1, 14, "尚无", "提醒函"]
    page.selectbox[1].set_value("letter")  # 督办函
    page.button[0].click().run()
    assert not page.exception, page.exception
    assert "已印发 X整改办督〔2026〕1号，已通知该单位。" in texts(page)
    with read_session(engine) as session:
        letter = session.exec(select(Letter)).one()
    assert letter.finding_ids == [world.late_id]


def test_admin_tab_sets_a_channel_without_showing_the_secret(engine, world):
    page = page_app("pages.admin", world.actors["admin"]).run()
    assert not page.exception, page.exception
    page.selectbox(key="channel_kind").set_value("dingtalk").run()
    inputs = [w for w in page.text_input if w.label in ("Webhook 地址", "加签密钥（钉钉，可选）")]
    inputs[0].input("https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123")
    inputs[1].input("SECsupersecretvalue")
    next(b for b in page.button if b.label == "保存" and "channel_form" in str(b.form_id)).click().run()
    assert not page.exception, page.exception
    visible = texts(page) + "".join(frame.value.to_string() for frame in page.dataframe) + \
        "".join(str(w.value) for w in page.text_input)
    assert "渠道已保存" in visible and "dingtalk://" in visible
    assert "SECsupersecretvalue" not in visible and "0123456789abcdef0123" not in visible
    with read_session(engine) as session:
        assert [row.kind for row in delivery.channels(session)] == ["dingtalk"]


def test_a_notice_about_a_household_opens_it(engine, world):
    from dashboard.services import notifications
    from dashboard.services.notifications import Kind

    with unit_of_work(engine) as session:
        notifications.notify_unit(session, world.units["高士镇"], Kind.ELIMINATION_DUE, outbound=False, params={
            "number": "340826100001", "township": "高士镇", "identified": "2025-12-15", "months": 6,
            "household_id": 7})
    page = page_app("pages.notifications", world.actors["township"]).run()
    assert not page.exception, page.exception
    assert "高士镇户340826100001自12月15日纳入监测已满6个月" in texts(page)
    button(page, "查看农户").click().run()
    assert page.session_state["household_id"] == 7
