"""What the household services can do is reachable from the app: the yearly income line (administration page and
``income-line``), the county monitoring unit, removing a risk and ending a measure, entering and editing members,
自然消除 on the page and in the queue, and revealing a household's IDs with one click (AppTest, both databases)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from dashboard import cli, clock
from dashboard.errors import PermissionDenied
from dashboard.services import households
from dashboard.services.unit_of_work import unit_of_work
from db.engine import default_engine
from dashboard.lifecycle import HouseholdAction as H
from db.models import AuditLog, HouseholdRisk, SupportMeasure
from tests.apptest_support import page_app, point_app_at, texts
from tests.test_cli import cli_url
from tests.test_household_lifecycle import LATER, MONITORED_FROM, hh, monitored, run  # noqa: F401 - the fixture the tests below name


@pytest.fixture(autouse=True)
def _pages_read_the_test_database(database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)


def submit(app, form_id: str):
    return next(b for b in app.button if b.form_id == form_id).click().run()


# --- 1. the yearly income line -----------------------------------------------------------------------------

def test_admin_sets_the_income_line_and_it_is_listed(engine, world):
    app = page_app("pages.admin", world.actors["admin"]).run()
    assert not app.exception, app.exception
    assert "尚未设置任何年度的监测收入标准" in texts(app)
    app.number_input(key="il_year").set_value(2027)
    app.number_input(key="il_yuan").set_value(7900)
    app = submit(app, "income_line")
    assert not app.exception, app.exception
    assert run(engine, households.income_line, 2027) == 7900
    assert "2027: 7,900" in texts(app)
    with unit_of_work(engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "set_income_line")).one()
    assert audit.username == "admin"


def test_only_the_administrator_sets_the_income_line(engine, hh, world):  # noqa: F811 - the fixture imported above
    for actor in (hh.actors["gaoshi"], hh.actors["jiance"], world.actors["leader"]):
        with pytest.raises(PermissionDenied):
            run(engine, households.set_income_line, actor, 2027, 7900)
    assert run(engine, households.income_line, 2027) is None


def test_the_command_line_sets_the_income_line_as_the_operator(_no_env_database, database_url, engine, monkeypatch,
                                                                capsys):
    monkeypatch.setenv("DATABASE_URL", cli_url(database_url))
    default_engine.cache_clear()
    try:
        assert cli.main(["income-line", "2027", "7900"]) == 0
        assert capsys.readouterr().out == "2027年监测收入标准已设为 7900 元/人·年\n"
        assert cli.main(["--lang", "en", "income-line", "2027", "5"]) == 2
        assert "between 1000 and 100000" in capsys.readouterr().err
    finally:
        default_engine().dispose()
        default_engine.cache_clear()
    assert run(engine, households.income_line, 2027) == 7900
    with unit_of_work(engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "set_income_line")).one()
    assert (audit.username, audit.user_id) == ("system", None)


# --- 2. the county monitoring unit ----------------------------------------------------------------------------

def test_admin_flags_the_county_monitoring_unit_on_create_and_on_edit(engine, world):
    from db.models import Unit

    app = page_app("pages.admin", world.actors["admin"]).run()
    app.text_input(key="un_name").input("县乡村振兴局监测股")
    app.selectbox(key="un_kind").set_value("office")
    app.checkbox(key="un_monitoring").check()
    app = submit(app, "new_unit")
    assert not app.exception, app.exception
    with unit_of_work(engine) as session:
        created = session.exec(select(Unit).where(Unit.name == "县乡村振兴局监测股")).one()
        other = session.exec(select(Unit).where(Unit.id != created.id).order_by(Unit.id)).first()
        assert created.monitoring and households.monitoring_unit_ids(session) == {created.id}
        other_id = other.id
    app.selectbox(key="ue_unit").set_value(other_id).run()
    app.checkbox(key=f"ue_monitoring_{other_id}").check()
    app = submit(app, "edit_unit")
    assert not app.exception, app.exception
    with unit_of_work(engine) as session:
        assert households.monitoring_unit_ids(session) == {created.id, other_id}
        audit = session.exec(select(AuditLog).where(AuditLog.entity == "Unit", AuditLog.entity_id == other_id,
                                                    AuditLog.action == "update")).one()
    assert audit.username == "admin" and audit.new == {"monitoring": True}


# --- 3. a risk removed, a measure ended, a measure with its end --------------------------------------------------

def household_page(actor, household_id: int, lang: str = "zh"):
    app = page_app("pages.household", actor, lang=lang, household_id=household_id).run()
    assert not app.exception, app.exception
    return app


def test_a_risk_added_after_identification_is_removed_on_the_page_and_elimination_opens(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    officer = hh.actors["gaoshi"]
    with clock.frozen(LATER):
        risk = run(engine, households.add_risk, officer, household_id, kind="disaster", added_on=LATER.date())
        app = household_page(officer, household_id)
        assert "纳入监测后新增1项风险尚未消除" in texts(app)
        assert not [b for b in app.button if b.form_id == f"step_{H.ELIM_VERIFY}"]
        app.selectbox(key="rr_risk").set_value(risk.id)
        app = submit(app, "remove_risk")
        assert not app.exception, app.exception
        assert [b for b in app.button if b.form_id == f"step_{H.ELIM_VERIFY}"]  # 风险消除 may start now
    with unit_of_work(engine) as session:
        removed = session.get(HouseholdRisk, risk.id)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "hh_remove_risk")).one()
    assert removed.removed_on == LATER.date() and audit.username == "gaoshi"
    leader = page_app("pages.household", hh.world.actors["leader"], household_id=household_id).run()
    assert not leader.exception and not [b for b in leader.button if b.form_id in ("remove_risk", "end_measure")]


def test_a_measure_is_added_with_its_end_and_another_is_ended_on_the_page(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    officer = hh.actors["gaoshi"]
    with clock.frozen(LATER):
        app = household_page(officer, household_id)
        app.selectbox(key="am_kind").set_value("employment")
        app.text_input(key="am_text").input("公益性岗位：护林员")
        app.text_input(key="am_unit").input("县林业局")
        app.date_input(key="am_end").set_value(LATER.date() + dt.timedelta(days=365))
        app = submit(app, "add_measure")
        assert not app.exception, app.exception
        with unit_of_work(engine) as session:
            measures = session.exec(select(SupportMeasure).where(SupportMeasure.household_id == household_id)
                                    .order_by(SupportMeasure.id)).all()
            first, added = measures[0].id, measures[-1]
        assert (added.text, added.end_on) == ("公益性岗位：护林员", LATER.date() + dt.timedelta(days=365))
        app.selectbox(key="em_measure").set_value(first)
        app = submit(app, "end_measure")
        assert not app.exception, app.exception
    with unit_of_work(engine) as session:
        assert session.get(SupportMeasure, first).end_on == LATER.date()
        audit = session.exec(select(AuditLog).where(AuditLog.action == H.END_MEASURE)).one()
    assert audit.username == "gaoshi"


def test_ending_a_measure_before_it_started_is_refused_with_a_message(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        app = household_page(hh.actors["gaoshi"], household_id)
        app.date_input(key="em_end").set_value(MONITORED_FROM - dt.timedelta(days=30))
        app = submit(app, "end_measure")
    assert not app.exception and "“措施结束日期”不能早于“措施开始日期”" in texts(app)
