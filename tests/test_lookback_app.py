"""回头看 pages under AppTest: the campaign page and the re-check form, in Chinese and in English (no Chinese
on the English page except data), the draw and the verdict through the widgets, 我的待办 and meeting mode."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import select

from dashboard.services import lookback
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CampaignStatus, Verdict
from db.engine import read_session
from db.models import AuditLog, LookbackItem
from tests.apptest_support import button, metric_values, page_app, point_app_at, texts
from tests.factories import build_world
from tests.test_lookback import bulk_closed, campaign_input

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def campaign(engine, database_url, monkeypatch, frozen_today):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        world = build_world(session)
        bulk_closed(session, world, 12, lead="儿童福利和社会事务股", key_every=5)
    with unit_of_work(engine) as session:
        world.campaign_id = lookback.create_campaign(session, world.actors["inspector"], campaign_input()).id
    return world


def data_of(engine, world) -> set[str]:
    """Text that comes from the data (names, titles, descriptions, the checklist), allowed in any language."""
    with read_session(engine) as session:
        rows = lookback.items(session, world.campaign_id)
        campaign = lookback.get_campaign(session, world.campaign_id)
        figures = lookback.campaign_figures(session, world.campaign_id)
    found = {campaign.title, campaign.issuing_body, *campaign.checklist,
             *(row["name"] for row in figures["by_unit"] + figures["by_source"])}
    for row in rows:
        found |= {row["serial"], row["description"], row["unit"], row["township"] or "", row["assignee"] or ""}
    return {text for text in found if text}


def without(text: str, data: set[str]) -> str:
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, "")
    return text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_campaign_page_draws_and_shows_why_each_finding_is_in_the_sample(engine, campaign, lang):
    world = campaign
    app = page_app("pages.lookback", world.actors["inspector"], lang).run()
    assert not app.exception, app.exception
    button(app, "抽样" if lang == "zh" else "Draw the sample").click().run()
    assert not app.exception, app.exception
    with read_session(engine) as session:
        assert lookback.get_campaign(session, world.campaign_id).status == CampaignStatus.ACTIVE
        figures = lookback.campaign_figures(session, world.campaign_id)
    shown = texts(app)
    assert ("已抽取" if lang == "zh" else "findings drawn") in shown
    frames = [frame.value for frame in app.dataframe]
    strata = next(frame for frame in frames if ("抽样层" if lang == "zh" else "Stratum") in frame.columns)
    assert list(strata.iloc[:, 1]) == list(figures["strata"].values())
    why = "纳入原因" if lang == "zh" else "Why in the sample"
    sample = next(frame for frame in frames if why in frame.columns)
    assert len(sample) == figures["totals"]["sampled"]
    assert ("重点督办" if lang == "zh" else "Key supervision") in set(sample[why])
    if lang == "en":
        visible = " ".join([shown, *[" ".join(map(str, [*f.columns, *f.values.ravel()])) for f in frames],
                            *[str(tab.label) for tab in app.tabs], *[str(b.label) for b in app.button],
                            *[label + value for label, value in metric_values(app).items()]])
        leftover = CJK.findall(without(visible, data_of(engine, world) | {"、"}))
        assert leftover == [], without(visible, data_of(engine, world))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_recheck_form_records_a_verdict_and_refuses_a_failure_without_evidence(engine, campaign, lang):
    world = campaign
    with unit_of_work(engine) as session:
        lookback.draw_sample(session, world.actors["inspector"], world.campaign_id)
    with unit_of_work(engine) as session:
        lookback.assign_all(session, world.actors["inspector"], world.campaign_id, [world.actors["inspector"].id],
                            dt.date(2026, 6, 30))
    with read_session(engine) as session:
        first, second = session.exec(select(LookbackItem.id).where(LookbackItem.campaign_id == world.campaign_id)
                                     .order_by(LookbackItem.id)).all()[:2]
    app = page_app("pages.lookback", world.actors["inspector"], lang, lookback_item=first).run()
    assert not app.exception, app.exception
    for n in range(4):
        app.radio(key=f"lb_ans_{first}_{n}").set_value("yes")
    app.radio(key=f"lb_verdict_{first}").set_value(Verdict.ON_PAPER.value)
    app.text_area(key=f"lb_note_{first}").input("只有台账，入户核实不到位")
    button(app, "提交复查结论" if lang == "zh" else "Submit the verdict").click().run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert ("必须上传照片或文件" if lang == "zh" else "needs a photo or document") in shown
    with read_session(engine) as session:
        assert session.get(LookbackItem, first).verdict is None  # nothing saved, the form keeps the input
    assert app.text_area(key=f"lb_note_{first}").value == "只有台账，入户核实不到位"

    app.radio(key=f"lb_verdict_{first}").set_value(Verdict.FIXED.value)
    button(app, "提交复查结论" if lang == "zh" else "Submit the verdict").click().run()
    assert not app.exception, app.exception
    with read_session(engine) as session:
        item = session.get(LookbackItem, first)
        assert item.verdict == Verdict.FIXED and item.answers == ["yes"] * 4 and item.new_finding_id is None
        assert session.exec(select(AuditLog).where(AuditLog.entity == "LookbackItem", AuditLog.entity_id == first,
                                                   AuditLog.action == "recheck")).first()
    assert ("复查结论已保存" if lang == "zh" else "Verdict saved") in texts(app)
    # unanswered checklist: a clear message, nothing saved
    app.radio(key=f"lb_verdict_{second}").set_value(Verdict.FIXED.value)
    button(app, "提交复查结论" if lang == "zh" else "Submit the verdict").click().run()
    assert ("逐条回答" if lang == "zh" else "Answer all 4 points") in texts(app)


def test_my_work_lists_an_inspectors_rechecks_and_meeting_mode_shows_the_campaign(engine, campaign):
    world = campaign
    with unit_of_work(engine) as session:
        lookback.draw_sample(session, world.actors["inspector"], world.campaign_id)
    with unit_of_work(engine) as session:
        given = lookback.assign_all(session, world.actors["inspector"], world.campaign_id,
                                    [world.actors["inspector"].id], dt.date(2026, 6, 30))
    app = page_app("pages.my_work", world.actors["inspector"], "en").run()
    assert not app.exception, app.exception
    assert f"Re-checks ({given})" in texts(app)
    meeting = page_app("pages.meeting", world.actors["leader"], "zh").run()
    assert not meeting.exception, meeting.exception
    assert "回头看 · 社会救助政策落实情况回头看" in texts(meeting)


def test_department_cannot_open_the_lookback_page(engine, campaign):
    app = page_app("pages.lookback", campaign.actors["jiuzhu"], "en").run()
    assert "Your role may not open this page" in texts(app)


def test_freeze_offers_the_word_report(engine, campaign):
    world = campaign
    with unit_of_work(engine) as session:
        lookback.draw_sample(session, world.actors["inspector"], world.campaign_id)
    app = page_app("pages.lookback", world.actors["leader"], "en").run()
    button(app, "Freeze the figures for the report").click().run()
    assert not app.exception, app.exception
    assert "lookback_snapshot" in app.session_state
    assert [b for b in app.get("download_button")], "no download button"
