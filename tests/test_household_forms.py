"""What the household services can do is reachable from the app: the yearly income line (administration page and
``income-line``), the county monitoring unit, removing a risk and ending a measure, entering and editing members,
自然消除 on the page and in the queue, and revealing a household's IDs with one click (AppTest, both databases)."""
from __future__ import annotations

import pytest
from sqlmodel import select

from dashboard import cli
from dashboard.errors import PermissionDenied
from dashboard.services import households
from dashboard.services.unit_of_work import unit_of_work
from db.engine import default_engine
from db.models import AuditLog
from tests.apptest_support import page_app, point_app_at, texts
from tests.test_cli import cli_url
from tests.test_household_lifecycle import hh, run  # noqa: F401 - the fixture the tests below name


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
