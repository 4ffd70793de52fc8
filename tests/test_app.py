"""Every page renders for every role that may see it; each role sees exactly its pages; a page a
role may not see refuses to render; and at least one action per page changes the database."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import func, select

from dashboard.services import findings as svc
from dashboard.ui.navigation import PAGES, SPECS, allowed, home_key, page_keys_for
from dashboard.vocab import Role, Status
from db.engine import read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import AuditLog, Finding, Progress, Snapshot, User
from tests.apptest_support import button, metric_cards, page_app, point_app_at, signed_in_entry, texts
from tests.databases import world_in
from tests.factories import evidence, finding_input

ROLE_USER = {Role.ADMIN: "admin", Role.LEADER: "leader", Role.INSPECTOR: "inspector", Role.DEPARTMENT: "jiuzhu",
             Role.TOWNSHIP: "township"}


def _two_findings(engine):
    """The small world with an open finding and a late one with progress and evidence."""
    world = world_in(engine)
    with unit_of_work(engine) as session:
        open_one = svc.log_finding(session, world.actors["inspector"], finding_input(world))
        session.flush()
        late = svc.log_finding(session, world.actors["inspector"],
                               finding_input(world, description="红旗村档案缺失", deadline=dt.date(2026, 6, 1)))
        session.flush()
        svc.report_progress(session, world.actors["jiuzhu"], late.id, done_text="已补齐部分档案", files=[evidence()])
        world.open_id, world.late_id = open_one.id, late.id
    return world


@pytest.fixture
def world(engine, database_url, monkeypatch, frozen_today, templates):
    """``_two_findings`` on the test's copy of the small world: built once per session and backend, copied for
    each of the 455 tests (tests/databases.py, ``copy_prepared``)."""
    point_app_at(monkeypatch, database_url)
    return templates.copy_prepared(engine, "test_app world", _two_findings, on_world=True)


def test_page_table_covers_every_page():
    assert {spec.key for spec in PAGES} == {"overview", "my_work", "ledger", "finding", "log", "villages", "meeting",
                                            "admin", "supervision", "notifications", "lookback", "health",
                                            "households", "household", "clues", "elimination", "household_import",
                                            "sessions", "quality"}


HOUSEHOLD_PAGES = {"households", "household", "clues", "elimination", "quality"}  # every role reads the household ledger


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_sees_exactly_its_pages(engine, world, role):
    username = ROLE_USER[role]
    with read_session(engine) as session:
        version = session.exec(select(User.token_version).where(User.username == username)).one()
    app = signed_in_entry(username, version).run()
    assert not app.exception, app.exception
    assert list(app.session_state["_pages"]) == page_keys_for(role)
    expected = {
        Role.ADMIN: {"overview", "my_work", "ledger", "finding", "villages", "log", "admin", "notifications", "quality", "sessions", "lookback", "health"},
        Role.LEADER: {"overview", "my_work", "ledger", "finding", "villages", "meeting", "supervision", "notifications", "quality", "sessions", "lookback"},
        Role.INSPECTOR: {"overview", "my_work", "ledger", "finding", "villages", "log", "meeting", "supervision",
                         "notifications", "sessions", "lookback"},
        Role.DEPARTMENT: {"overview", "my_work", "ledger", "finding", "villages", "notifications", "sessions"},
        Role.TOWNSHIP: {"overview", "my_work", "ledger", "finding", "villages", "notifications", "sessions"},
    }[role] | HOUSEHOLD_PAGES | ({"household_import"} if role == Role.ADMIN else set())
    assert set(page_keys_for(role)) == expected


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_lands_on_its_home_page(engine, world, role):
    """A department came to do its own items: it lands on 我的待办; every other role on 总览."""
    username = ROLE_USER[role]
    with read_session(engine) as session:
        version = session.exec(select(User.token_version).where(User.username == username)).one()
    app = signed_in_entry(username, version).run()
    assert not app.exception, app.exception
    expected = "我的待办" if role is Role.DEPARTMENT else "总览"
    assert [title.value for title in app.title] == [expected]
    assert home_key(role) == ("my_work" if role is Role.DEPARTMENT else "overview")


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


def test_department_is_told_why_it_cannot_apply_for_closure_yet(engine, world):
    """The policy refuses 申请销号 while measures are open: the page says so instead of a form that fails."""
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.late_id).run()
    assert not app.exception
    assert "项整改措施未完成" in texts(app)
    assert "a_summary" not in [area.key for area in app.text_area]
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


def test_log_page_logs_a_finding_with_a_deadline_per_measure(engine, world):
    from db.models import Measure

    app = page_app("pages.log_findings", world.actors["inspector"],
                   lf_measure_rows=[{"text": "梳理超时限案件", "deadline": dt.date(2026, 6, 30)},
                                    {"text": "建立审批时限提醒", "deadline": None}]).run()
    app.text_area(key="lf_description").input("赛口镇临时救助审批超时限")
    button(app, "保存问题").click().run()
    assert not app.exception
    assert _count(engine, Finding) == 3
    assert "ZG-2026-0003" in texts(app)
    with read_session(engine) as session:
        finding = session.exec(select(Finding).where(Finding.serial == "ZG-2026-0003")).one()
        measures = session.exec(select(Measure).where(Measure.finding_id == finding.id).order_by(Measure.seq)).all()
    assert [(m.text, m.deadline) for m in measures] == [("梳理超时限案件", dt.date(2026, 6, 30)),
                                                        ("建立审批时限提醒", finding.current_deadline)]


def test_log_page_refuses_a_measure_due_after_the_finding_and_keeps_the_input(engine, world):
    app = page_app("pages.log_findings", world.actors["inspector"],
                   lf_measure_rows=[{"text": "建立长效机制", "deadline": dt.date(2027, 12, 31)}]).run()
    app.text_area(key="lf_description").input("赛口镇临时救助审批超时限")
    button(app, "保存问题").click().run()
    assert "晚于问题的整改时限" in texts(app)
    assert app.text_area(key="lf_description").value == "赛口镇临时救助审批超时限"
    assert _count(engine, Finding) == 2


def test_source_form_empties_after_saving_and_a_second_press_creates_nothing(engine, world):
    from db.models import Source

    app = page_app("pages.log_findings", world.actors["inspector"], lf_step="source").run()
    app.text_input(key="sf_title_0").input("2026年第二轮暗访")
    button(app, "创建问题来源").click().run()
    assert not app.exception
    assert app.segmented_control(key="lf_step").value == "findings"  # on to logging its findings
    assert app.selectbox(key="lf_source").value == _only(engine, Source, Source.title == "2026年第二轮暗访")
    app.segmented_control(key="lf_step").set_value("source").run()
    assert app.text_input(key="sf_title_1").value == ""  # the form is empty again
    app.text_input(key="sf_title_1").input("2026年第二轮暗访")  # the same source once more
    button(app, "创建问题来源").click().run()
    assert "已经存在" in texts(app)
    assert _count(engine, Source, Source.title == "2026年第二轮暗访") == 1
    button(app, "使用已有来源“2026年第二轮暗访”登记问题").click().run()
    assert app.segmented_control(key="lf_step").value == "findings"


def test_choosing_a_township_after_creating_a_source_stays_on_the_findings_step(engine, world):
    _villages(engine, world)
    app = page_app("pages.log_findings", world.actors["inspector"], lf_step="source").run()
    app.text_input(key="sf_title_0").input("回头看专项检查")
    button(app, "创建问题来源").click().run()
    app.selectbox(key="lf_township").select("高士镇").run()
    assert app.segmented_control(key="lf_step").value == "findings"
    assert not app.selectbox(key="lf_village").disabled


def test_the_log_page_sets_a_report_due_and_marks_it_sent(engine, world):
    from db.models import Source

    app = page_app("pages.log_findings", world.actors["inspector"], lf_step="source").run()
    assert "还没有设置报告时限的问题来源。" in texts(app)
    app.selectbox(key="rp_source").select(world.source_id).run()
    suffix = f"{world.source_id}_1"
    app.date_input(key=f"rp_due_{suffix}").set_value(dt.date(2026, 6, 20))
    app.checkbox(key=f"rp_due_set_{suffix}").check()
    button(app, "保存报告情况").click().run()
    assert not app.exception and "已保存“城乡低保专项审计”的整改情况报告。" in texts(app)
    suffix = f"{world.source_id}_2"
    app.date_input(key=f"rp_sent_{suffix}").set_value(dt.date(2026, 6, 16))   # tomorrow: refused, nothing lost
    app.checkbox(key=f"rp_sent_set_{suffix}").check()
    button(app, "保存报告情况").click().run()
    assert "报送日期应在反馈日期" in texts(app)
    assert app.checkbox(key=f"rp_sent_set_{suffix}").value   # the input is kept
    app.date_input(key=f"rp_sent_{suffix}").set_value(dt.date(2026, 6, 15))
    button(app, "保存报告情况").click().run()
    with read_session(engine) as session:
        source = session.get(Source, world.source_id)
        assert (source.report_due_date, source.report_sent_on) == (dt.date(2026, 6, 20), dt.date(2026, 6, 15))


def _only(engine, model, *where) -> int:
    with read_session(engine) as session:
        return session.exec(select(model.id).where(*where)).one()


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
    app.session_state["lf_measure_rows"] = [{"text": "补齐评议记录", "deadline": None}]
    app.text_area(key="lf_description").input("红旗村低保评议记录缺失")
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
    assert any("毛安村" in list(frame.value.astype(str).stack()) for frame in app.dataframe)  # the main table, or the panel of villages whose level disagrees with their figures


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
    total = next(card for card in metric_cards(app) if card[0] == "有效问题")
    assert total[1:] == ("3", "+1")


def test_a_rerun_does_not_refresh_the_version_a_form_was_opened_with(engine, world):
    """Issue 13.1: B saves; A's page reruns for another reason; A's save is refused, B's change kept."""
    app = page_app("pages.finding", world.actors["inspector"], finding_id=world.open_id).run()
    with unit_of_work(engine) as session:  # B (the admin) saves a change meanwhile
        finding = session.get(Finding, world.open_id)
        svc.edit_finding(session, world.actors["admin"], finding.id, finding.version, {"remarks": "B 的备注"})
    app.text_input(key="lookup_serial").input("ZG-2026-0001").run()  # A's page reruns
    app.run()
    assert "B 的备注" not in [app.text_input(key=f"ed_rem_{world.open_id}").value]  # A still sees the old form
    app.text_area(key=f"ed_desc_{world.open_id}").input("A 改写的描述")
    button(app, "保存").click().run()
    assert "旧版本" in texts(app)
    with read_session(engine) as session:
        assert session.get(Finding, world.open_id).remarks == "B 的备注"
    button(app, "保存").click().run()  # A has now seen B's version: checking and saving again goes through
    with read_session(engine) as session:
        finding = session.get(Finding, world.open_id)
        assert finding.description == "A 改写的描述"


def test_progress_by_the_unit_does_not_make_the_inspectors_open_decision_stale(engine, world):
    with unit_of_work(engine) as session:
        request = svc.request_extension(session, world.actors["jiuzhu"], world.late_id,
                                        asked_deadline=dt.date(2026, 9, 30), reason="等待数据比对")
    app = page_app("pages.finding", world.actors["inspector"], finding_id=world.late_id).run()
    with unit_of_work(engine) as session:
        svc.report_progress(session, world.actors["jiuzhu"], world.late_id, done_text="又完成一批核查")
    app.run()
    app.text_input(key="d_comment").input("同意")
    next(b for b in app.button if b.label == "提交" and "decide" in str(b.form_id)).click().run()
    assert not app.exception
    with read_session(engine) as session:
        assert session.get(type(request), request.id).decision == "approved"


def test_no_decide_form_on_a_closed_finding_and_the_page_says_why(engine, world):
    from db.models import ExtensionRequest

    with unit_of_work(engine) as session:
        request = svc.request_extension(session, world.actors["jiuzhu"], world.open_id,
                                        asked_deadline=dt.date(2026, 9, 30), reason="等待数据比对")
        session.add(ExtensionRequest(finding_id=world.late_id, reason="旧数据", asked_deadline=dt.date(2026, 9, 30),
                                     old_deadline=dt.date(2026, 6, 1)))
        session.get(Finding, world.late_id).status = "closed"  # as old data left it, before the rule
    app = page_app("pages.finding", world.actors["inspector"], finding_id=world.late_id).run()
    assert not [form for form in app.get("form") if "decide" in str(form.proto.form.form_id)]
    assert "审批延期" not in texts(app)
    assert request.id


def test_pending_review_says_what_it_waits_for(engine, world):
    with unit_of_work(engine) as session:
        from db.models import Measure

        for measure in session.exec(select(Measure).where(Measure.finding_id == world.late_id)).all():
            svc.tick_measure(session, world.actors["jiuzhu"], measure.id, measure.version)
        svc.apply_closure(session, world.actors["jiuzhu"], world.late_id, None, summary="已全部整改")
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.late_id).run()
    shown = texts(app)
    assert "等待整改办审核销号申请" in shown and "jiuzhu" in shown and "2026-06-15" in shown


def test_my_work_shows_whole_days_and_dashes(engine, world):
    app = page_app("pages.my_work", world.actors["jiuzhu"]).run()
    frame = app.dataframe[0].value
    days = list(frame["逾期天数"])
    assert days == ["14", "—"]


def test_audit_tab_reads_as_sentences(engine, world):
    app = page_app("pages.finding", world.actors["leader"], finding_id=world.late_id).run()
    frame = next(df.value for df in app.dataframe if "操作" in df.value.columns)
    text = "\n".join(frame["操作"])
    assert "登记了问题" in text and "报送了整改进展" in text and "状态由“待整改”改为“整改中”" in text
    assert "None" not in text and "tick_measure" not in text and "Finding" not in text


def test_another_units_finding_is_refused_in_one_language(engine, world):
    app = page_app("pages.finding", world.actors["ertong"], finding_id=world.late_id).run()
    shown = texts(app)
    assert "无权查看" in shown and "view" not in shown


def test_edit_form_changes_a_measures_deadline(engine, world):
    """The measures table of the edit form reaches the service (the editor itself is driven in the browser test)."""
    from pages.finding import measure_rows
    import pandas as pd

    frame = pd.DataFrame([{"id": 1, "text": "核查", "deadline": pd.Timestamp("2026-07-01"), "done": False},
                          {"id": None, "text": "  ", "deadline": None, "done": False},
                          {"id": float("nan"), "text": "新增措施", "deadline": pd.NaT, "done": False}])
    rows = measure_rows(frame)
    assert [(r.id, r.text, r.deadline) for r in rows] == [(1, "核查", dt.date(2026, 7, 1)), (None, "新增措施", None)]


def test_the_detail_page_reads_evidence_files_only_when_needed(engine, world, monkeypatch):
    """A rerun of the detail page reads no evidence file: downloads read on the click, an image's bytes once
    for its cached preview."""
    import io

    from PIL import Image

    from dashboard.services import views
    from dashboard.ui.widgets import image_preview

    picture = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(picture, format="PNG")
    with unit_of_work(engine) as session:
        svc.report_progress(session, world.actors["jiuzhu"], world.late_id, done_text="补充照片",
                            files=[evidence("现场照片.png", picture.getvalue())])
    reads: list[int] = []
    original = views.evidence_file

    def counted(session, actor, evidence_id):
        reads.append(evidence_id)
        return original(session, actor, evidence_id)

    monkeypatch.setattr(views, "evidence_file", counted)
    image_preview.clear()
    app = page_app("pages.finding", world.actors["jiuzhu"], finding_id=world.late_id).run()
    assert not app.exception, app.exception
    assert len(reads) == 1  # the picture, for its preview; the PDF is not read until downloaded
    app.run()
    assert not app.exception
    assert len(reads) == 1  # a rerun reads nothing
    with read_session(engine) as session:  # what a click on 下载 gets
        ids = [e.id for e in views.finding_detail(session, world.actors["jiuzhu"], world.late_id).evidence]
        assert {views.evidence_bytes(session, world.actors["jiuzhu"], i)[:4] for i in ids} == {b"%PDF", b"\x89PNG"}
