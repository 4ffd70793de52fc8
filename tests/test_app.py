"""Every page renders for every role that may see it; each role sees exactly its pages; a page a
role may not see refuses to render; and at least one action per page changes the database."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import func, select

from dashboard.services import findings as svc
from dashboard.ui.navigation import PAGES, SPECS, allowed, page_keys_for
from dashboard.vocab import Role, Status
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Finding, Progress, Snapshot, User
from tests.apptest_support import button, page_app, point_app_at, signed_in_entry, texts
from tests.factories import build_world, evidence, finding_input

ROLE_USER = {Role.ADMIN: "admin", Role.LEADER: "leader", Role.INSPECTOR: "inspector", Role.DEPARTMENT: "jiuzhu"}


@pytest.fixture
def world(engine, database_url, monkeypatch, frozen_today):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        world = build_world(session)
        open_one = svc.log_finding(session, world.actors["inspector"], finding_input(world))
        session.flush()
        late = svc.log_finding(session, world.actors["inspector"],
                               finding_input(world, description="红旗村档案缺失", deadline=dt.date(2026, 6, 1)))
        session.flush()
        svc.report_progress(session, world.actors["jiuzhu"], late.id, done_text="已补齐部分档案", files=[evidence()])
        world.open_id, world.late_id = open_one.id, late.id
    return world


def test_page_table_covers_every_page():
    assert {spec.key for spec in PAGES} == {"overview", "my_work", "ledger", "finding", "log", "villages", "meeting",
                                            "admin", "health"}


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_sees_exactly_its_pages(engine, world, role):
    username = ROLE_USER[role]
    with read_session(engine) as session:
        version = session.exec(select(User.token_version).where(User.username == username)).one()
    app = signed_in_entry(username, version).run()
    assert not app.exception, app.exception
    assert list(app.session_state["_pages"]) == page_keys_for(role)
    expected = {
        Role.ADMIN: {"overview", "my_work", "ledger", "finding", "villages", "log", "admin", "health"},
        Role.LEADER: {"overview", "my_work", "ledger", "finding", "villages", "meeting"},
        Role.INSPECTOR: {"overview", "my_work", "ledger", "finding", "villages", "log", "meeting"},
        Role.DEPARTMENT: {"overview", "my_work", "ledger", "finding", "villages"},
    }[role]
    assert set(page_keys_for(role)) == expected


def test_stale_token_version_shows_the_login_form(engine, world):
    app = signed_in_entry("leader", token_version=999).run()
    assert not app.exception
    assert "actor" not in app.session_state
    assert any("登录" in str(b.label) for b in app.button)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("key", [spec.key for spec in PAGES])
def test_every_allowed_page_renders(engine, world, role, key, lang):
    actor = world.actors[ROLE_USER[role]]
    app = page_app(SPECS[key].module, actor, lang, finding_id=world.late_id).run()
    assert not app.exception, app.exception
    shown = texts(app)
    if allowed(SPECS[key], role):
        assert "无权访问" not in shown and "may not open" not in shown
        assert app.title and app.title[0].value
    else:
        assert ("您的角色无权访问此页面" if lang == "zh" else "Your role may not open this page") in shown


def _count(engine, model, *where) -> int:
    with read_session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_overview_takes_a_snapshot(engine, world):
    app = page_app("pages.overview", world.actors["leader"]).run()
    button(app, "提交").click().run()
    assert not app.exception
    assert _count(engine, Snapshot) == 1


def test_ledger_filter_changes_the_rows(engine, world):
    app = page_app("pages.ledger", world.actors["leader"]).run()
    assert "共 **2** 条" in texts(app)
    app.checkbox(key="f_overdue").check().run()
    assert "共 **1** 条" in texts(app)
    app.text_input(key="f_keyword").input("不存在的关键词").run()
    assert "没有符合条件的记录" in texts(app)


def test_department_reports_progress_on_the_detail_page(engine, world):
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.open_id).run()
    app.text_area(key="p_done_0").input("已完成入户核查28户")
    button(app, "提交").click().run()
    assert not app.exception
    assert _count(engine, Progress, Progress.finding_id == world.open_id) == 1
    with read_session(engine) as session:
        assert session.get(Finding, world.open_id).status == Status.IN_PROGRESS


def test_department_refused_with_message_keeps_input(engine, world):
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.late_id).run()
    app.text_area(key="a_summary").input("已全部整改")
    button(app, "申请销号").click().run()
    assert "项整改措施未完成" in texts(app)
    assert app.text_area(key="a_summary").value == "已全部整改"
    with read_session(engine) as session:
        assert session.get(Finding, world.late_id).status == Status.IN_PROGRESS


def test_stale_edit_on_the_detail_page_shows_the_conflict(engine, world):
    app = page_app("pages.finding", world.actors["inspector"], finding_id=world.open_id).run()
    with unit_of_work(engine) as session:  # someone else edits meanwhile
        finding = session.get(Finding, world.open_id)
        svc.edit_finding(session, world.actors["admin"], finding.id, finding.version, {"remarks": "管理员补充的备注"})
    app.text_input(key=f"ed_rem_{world.open_id}").input("我的备注")
    button(app, "保存").click().run()
    shown = texts(app)
    assert "旧版本" in shown and "您的输入已保留" in shown
    assert app.text_input(key=f"ed_rem_{world.open_id}").value == "我的备注"
    with read_session(engine) as session:
        assert session.get(Finding, world.open_id).remarks == "管理员补充的备注"


def test_my_work_lists_the_departments_items_by_urgency(engine, world):
    app = page_app("pages.my_work", world.actors["jiuzhu"]).run()
    assert not app.exception
    frame = app.dataframe[0].value
    assert list(frame.iloc[:, 1]) == ["ZG-2026-0002", "ZG-2026-0001"]  # the red (overdue) one first


def test_log_page_logs_a_finding(engine, world):
    app = page_app("pages.log_findings", world.actors["inspector"]).run()
    app.text_area(key="lf_description").input("赛口镇临时救助审批超时限")
    app.text_area(key="lf_measures").input("梳理超时限案件\n建立审批时限提醒")
    button(app, "保存问题").click().run()
    assert not app.exception
    assert _count(engine, Finding) == 3
    assert "ZG-2026-0003" in texts(app)


def _villages(engine, world) -> dict[str, int]:
    from dashboard.services import admin

    with unit_of_work(engine) as session:
        made = [admin.create_village(session, world.actors["admin"], township=township, name=name, level="key")
                for township, name in (("高士镇", "毛安村"), ("高士镇", "同心村"), ("赛口镇", "红旗村"))]
        return {village.name: village.id for village in made}


def test_village_choice_waits_for_a_township_and_lists_only_its_villages(engine, world):
    ids = _villages(engine, world)
    app = page_app("pages.ledger", world.actors["leader"]).run()
    assert app.selectbox(key="f_village").disabled and app.selectbox(key="f_village").options == ["全部"]
    app.selectbox(key="f_township").select("高士镇").run()
    village = app.selectbox(key="f_village")
    assert not village.disabled and village.options == ["全部", "同心村", "毛安村"]
    village.select(ids["毛安村"]).run()
    app.selectbox(key="f_township").select("赛口镇").run()  # the village of the other township is dropped
    assert app.selectbox(key="f_village").value is None and not app.exception


def test_log_page_saves_the_chosen_village(engine, world):
    ids = _villages(engine, world)
    app = page_app("pages.log_findings", world.actors["inspector"]).run()
    app.selectbox(key="lf_township").select("赛口镇").run()
    app.selectbox(key="lf_village").select(ids["红旗村"]).run()
    app.text_area(key="lf_description").input("红旗村低保评议记录缺失")
    app.text_area(key="lf_measures").input("补齐评议记录")
    button(app, "保存问题").click().run()
    assert not app.exception
    with read_session(engine) as session:
        finding = session.exec(select(Finding).where(Finding.description == "红旗村低保评议记录缺失")).one()
        assert (finding.township, finding.village_id) == ("赛口镇", ids["红旗村"])


def test_admin_page_creates_a_user(engine, world):
    app = page_app("pages.admin", world.actors["admin"]).run()
    app.text_input(key="nu_username").input("newleader")
    app.text_input(key="nu_name").input("新领导")
    app.selectbox(key="nu_role").select("leader")
    app.text_input(key="nu_password").input("a-long-password")
    button(app, "新建").click().run()
    assert not app.exception
    assert _count(engine, User, User.username == "newleader") == 1
    assert _count(engine, AuditLog, AuditLog.entity == "User", AuditLog.action == "create") >= 7


def test_villages_page_lists_villages(engine, world):
    from dashboard.services import admin

    with unit_of_work(engine) as session:
        admin.create_village(session, world.actors["admin"], township="高士镇", name="毛安村", level="provincial",
                             poverty_rate=2.6, remaining_poor=68)
    app = page_app("pages.villages", world.actors["leader"]).run()
    assert not app.exception
    assert "毛安村" in list(app.dataframe[0].value.iloc[:, 1])


def test_meeting_mode_shows_live_figures_then_a_frozen_snapshot(engine, world):
    app = page_app("pages.meeting", world.actors["leader"]).run()
    assert not app.exception
    assert "实时数据" in texts(app)
    button(app, "生成会议快照").click().run()
    assert not app.exception
    assert _count(engine, Snapshot) == 1
    with unit_of_work(engine) as session:  # the ledger moves on after the meeting
        svc.log_finding(session, world.actors["inspector"], finding_input(world, description="会后新增"))
    app.run()
    shown = "\n".join(str(block.value) for block in app.markdown)
    assert "调度会快照" in app.title[0].value
    assert "有效问题</div><div class='value' style='color:#1a73e8'>2<" in shown  # frozen: 2, not 3
    assert any(element.type == "download_button" for element in app.get("download_button"))


def test_overview_compares_with_a_snapshot(engine, world):
    from dashboard.services import snapshots

    with unit_of_work(engine) as session:
        snapshots.take_snapshot(session, world.actors["leader"], "上次调度会")
    with unit_of_work(engine) as session:
        svc.log_finding(session, world.actors["inspector"], finding_input(world, description="会后新增"))
    app = page_app("pages.overview", world.actors["leader"]).run()
    app.selectbox(key="compare_snapshot").select_index(1).run()
    assert not app.exception
    total = next(metric for metric in app.metric if metric.label == "有效问题")
    assert total.value == "3" and total.delta == "+1"
