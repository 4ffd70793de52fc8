"""The 导入监测对象 page (AppTest, both databases): the administrator (the one role that imports,
``HouseholdAction.IMPORT``) uploads a small generated national export, sees the preview and the result in Chinese;
a file naming a village the system lacks is refused whole with its reasons listed; the county monitoring unit and a
township officer are refused the page. Generated people only (tests/household_files.py)."""
from __future__ import annotations

import pytest
from sqlmodel import func, select

from dashboard.errors import PermissionDenied
from dashboard.services import household_import
from db.engine import read_session
from db.models import Household
from tests.apptest_support import page_app, point_app_at, texts
from tests.household_files import export, home
from tests.test_household_lifecycle import hh  # noqa: F401 - the fixture the tests below name

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORBIDDEN = "您的角色无权访问此页面"


@pytest.fixture(autouse=True)
def _pages_read_the_test_database(database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)


def households_in(engine) -> int:
    with read_session(engine) as session:
        return session.exec(select(func.count()).select_from(Household)).one()


def import_page(actor):
    app = page_app("pages.household_import", actor).run()
    assert not app.exception, app.exception
    return app


def uploaded(app, data: bytes):
    app.file_uploader(key="hh_import_file").set_value(("监测对象信息.xlsx", data, XLSX))
    app = app.run()
    assert not app.exception, app.exception
    assert "Traceback" not in texts(app)
    return app


def test_the_administrator_previews_and_imports_a_small_file(engine, hh):  # noqa: F811 - the fixture imported above
    app = import_page(hh.world.actors["admin"])
    assert [title.value for title in app.title] == ["导入监测对象"] and app.file_uploader(key="hh_import_file")
    app = uploaded(app, export([home("340826101001", 1), home("340826101002", 2)]))
    shown = texts(app)
    assert "户（新增 2 户，已有 0 户）" in shown and not app.error, [e.value for e in app.error]
    assert households_in(engine) == 0   # nothing written before the button
    app = next(b for b in app.button if b.key == "hh_import_go").click().run()
    assert not app.exception, app.exception
    assert [s.value for s in app.success] and "已导入：新增2户" in app.success[0].value
    assert households_in(engine) == 2


def test_a_file_with_an_unknown_village_is_refused_with_its_reasons_in_chinese(engine, hh):  # noqa: F811 - the fixture imported above
    app = uploaded(import_page(hh.world.actors["admin"]),
                   export([home("340826101001", 1), home("340826101009", 9, village="不存在村")]))
    assert [e.value for e in app.error] == ["文件有1处问题，未导入。"]
    assert "系统中没有这些乡镇/村" in texts(app) and "不存在村" in texts(app)
    assert not [b for b in app.button if b.key == "hh_import_go"] and households_in(engine) == 0


def test_the_monitoring_unit_and_a_township_officer_may_not_import(engine, hh):  # noqa: F811 - the fixture imported above
    for actor in (hh.actors["jiance"], hh.actors["gaoshi"]):
        app = import_page(actor)
        assert FORBIDDEN in texts(app) and not app.get("file_uploader"), actor.username
        with read_session(engine) as session, pytest.raises(PermissionDenied):   # and the service refuses them too
            household_import.preview_households(session, actor, export([home("340826101001", 1)]),
                                                filename="监测对象信息.xlsx", year=2026)
