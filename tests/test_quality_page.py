"""The 数据质量 page under AppTest: the rules' hits per township, a finding raised in one click, the township
officer's own township only, and screening offered to the county's monitoring unit only."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from dashboard.lifecycle import SYSTEM
from dashboard.services import admin
from dashboard.services.common import actor_of
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import HouseholdState, Role, UnitKind
from db.engine import read_session
from db.models import Finding, FindingHousehold
from tests.apptest_support import button, page_app, point_app_at, texts
from tests.factories import PASSWORD
from tests.household_rows import Ledger

TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def ledger(engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        book = Ledger(session)
        for number in ("GS-1", "GS-2"):
            book.household(number, state=HouseholdState.ELIMINATED, eliminated_on=TODAY, housing_ok=False)
        book.household("SK-1", state=HouseholdState.ELIMINATED, eliminated_on=TODAY, housing_ok=False,
                       township="赛口镇")
        monitoring = admin.create_unit(session, SYSTEM, name="县乡村振兴局监测股", kind=UnitKind.OFFICE,
                                       monitoring=True)
        session.flush()
        world.actors["jiance"] = actor_of(admin.create_user(
            session, SYSTEM, username="jiance", display_name="监测股", role=Role.DEPARTMENT, password=PASSWORD,
            unit_id=monitoring.id))
    return world


def test_an_inspector_raises_a_finding_from_the_page(engine, ledger):
    app = page_app("pages.quality", ledger.actors["inspector"]).run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "风险消除但住房、饮水或医保未保障" in shown or any(
        "风险消除但住房" in str(frame.value) for frame in app.dataframe)
    assert "选择一个乡镇后" in shown                       # all townships: nothing to raise yet
    assert not any("开始筛查" in str(b.label) for b in app.button)   # screening is the monitoring unit's
    app.selectbox(key="quality_township").set_value("高士镇").run()
    button(app, "转为高士镇的整改问题").click().run()
    assert not app.exception, app.exception
    with read_session(engine) as session:
        finding = session.exec(select(Finding).where(Finding.township == "高士镇")).one()
        assert finding.lead_unit_id == ledger.units["高士镇"]
        assert len(session.exec(select(FindingHousehold).where(FindingHousehold.finding_id == finding.id)).all()) == 2


def test_a_township_officer_sees_its_own_township(engine, ledger):
    app = page_app("pages.quality", ledger.actors["township"]).run()
    assert not app.exception, app.exception
    assert "乡镇: 高士镇" in texts(app)
    assert not any(box.key == "quality_township" for box in app.selectbox)
    hits = " ".join(str(frame.value) for frame in app.dataframe)
    assert "GS-1" in hits and "SK-1" not in hits
    assert not any("转为" in str(b.label) for b in app.button)   # no finding action is a township officer's


def test_the_monitoring_unit_screens_a_list(engine, ledger):
    app = page_app("pages.quality", ledger.actors["jiance"]).run()
    assert not app.exception, app.exception
    assert "应纳未纳筛查" in texts(app)
    button(app, "开始筛查").click().run()                    # no file chosen: said so, nothing run
    assert "请先选择名单文件" in texts(app)


def test_the_bulletin_on_the_page_equals_the_word_document(engine, ledger, tmp_path, monkeypatch):
    """Last month's bulletin as the page shows it (which freezes it) and as ``monitoring-report`` writes it: the
    same figures, cell by cell, even after the ledger changed in between."""
    from docx import Document

    from dashboard import cli
    from dashboard.vocab import MemberChangeReason

    with unit_of_work(engine) as session:
        book = Ledger(session, village=False)
        may = book.household("GS-3", identified_on=dt.date(2026, 5, 6))
        book.change(may, MemberChangeReason.BIRTH, dt.date(2026, 5, 7))
        book.change(may, MemberChangeReason.DEATH, dt.date(2026, 5, 30))
    app = page_app("pages.quality", ledger.actors["inspector"]).run()
    assert not app.exception, app.exception
    frame = next(f.value for f in app.dataframe if "自然增加（人）" in f.value.columns)
    shown = [[str(value) for value in row] for row in frame.itertuples(index=False)]
    assert shown[0][:4] == ["赛口镇", "0", "0", "0"] and shown[1][:4] == ["高士镇", "1", "1", "1"]
    assert "冻结" in texts(app)
    with unit_of_work(engine) as session:   # after the freeze: the document must not see it
        Ledger(session, village=False).household("GS-4", identified_on=dt.date(2026, 5, 8))
    out = tmp_path / "通报.docx"
    assert cli.main(["monitoring-report", "2026-05", str(out)]) == 0
    document = [[cell.text for cell in row.cells] for row in Document(str(out)).tables[0].rows]
    assert document[0] == list(frame.columns)
    assert document[1:] == shown
