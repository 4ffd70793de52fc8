"""The household pages run for the roles that use them, show IDs and phones only masked, and offer exactly
the steps the policy allows (AppTest; the browser run is in test_household_browser)."""
from __future__ import annotations

import datetime as dt

from dashboard.services.unit_of_work import unit_of_work
from db.models import HouseholdCase
import pytest

from tests.apptest_support import page_app, point_app_at, texts
from tests.test_household_lifecycle import hh, identify, new_clue, run, version  # noqa: F401 - fixtures and helpers the tests below name
from dashboard.services import households


@pytest.fixture(autouse=True)
def _pages_read_the_test_database(database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)


def everything(app) -> str:
    """Visible text and the cells of every table (``texts`` leaves tables out)."""
    return texts(app) + "\n".join(frame.value.to_csv() for frame in app.dataframe)


def household_of(engine, case_id: int) -> int:
    with unit_of_work(engine) as session:
        return session.get(HouseholdCase, case_id).household_id


def revealed_numbers(engine, hh, household_id):  # noqa: F811 - the fixture imported above
    from dashboard.services import household_views

    with unit_of_work(engine) as session:
        detail = household_views.household_detail(session, hh.actors["gaoshi"], household_id)
    return [run(engine, households.reveal_member, hh.actors["gaoshi"], m.id) for m in detail.members]


def test_household_page_masks_and_offers_the_next_step(engine, hh, world):  # noqa: F811 - the fixture imported above
    case_id = new_clue(engine, hh)
    household_id = household_of(engine, case_id)
    people = revealed_numbers(engine, hh, household_id)
    app = page_app("pages.household", hh.actors["gaoshi"], household_id=household_id).run()
    assert not app.exception, app.exception
    shown = everything(app)
    assert "入户核实" in shown and "3408260101" in shown
    for person in people:
        assert person.id_number not in shown and person.phone not in shown
    assert "保存" in [b.label for b in app.button]
    leader = page_app("pages.household", world.actors["leader"], household_id=household_id).run()
    assert not leader.exception and "查看完整证件号码" not in texts(leader)


def test_list_inbox_and_queue_pages_render_without_personal_numbers(engine, hh, world):  # noqa: F811 - the fixture imported above
    case_id = new_clue(engine, hh)
    people = revealed_numbers(engine, hh, household_of(engine, case_id))
    for module in ("pages.households", "pages.clues", "pages.elimination"):
        for actor in (hh.actors["gaoshi"], hh.actors["jiance"], world.actors["leader"]):
            app = page_app(module, actor).run()
            assert not app.exception, (module, app.exception)
            shown = everything(app)
            assert all(p.id_number not in shown and p.phone not in shown for p in people)
    inbox = everything(page_app("pages.clues", hh.actors["gaoshi"]).run())
    assert "3408260101" in inbox


def test_publicity_list_never_carries_personal_data(engine, hh):  # noqa: F811 - the fixture imported above
    from dashboard.documents.publicity import publicity_docx, publicity_xlsx
    from dashboard.services import household_views
    import io
    import zipfile

    case_id = new_clue(engine, hh)
    household_id = household_of(engine, case_id)
    officer = hh.actors["gaoshi"]
    start = dt.date(2026, 6, 15)
    run(engine, households.record_visit, officer, case_id, None, visited_on=start, consent_on=start)
    run(engine, households.record_review, officer, case_id, None, reviewed_on=start)
    run(engine, households.record_publicity, officer, case_id, None, start=start, end=start + dt.timedelta(days=4))
    people = revealed_numbers(engine, hh, household_id)
    with unit_of_work(engine) as session:
        rows = household_views.publicity_list(session, officer, hh.villages["毛安村"])
    assert len(rows) == 1 and rows[0].persons == 2
    for document in (publicity_docx(rows, "毛安村"), publicity_xlsx(rows, "毛安村")):
        text = b"".join(zipfile.ZipFile(io.BytesIO(document)).read(name)
                        for name in zipfile.ZipFile(io.BytesIO(document)).namelist())
        assert people[0].name.encode() in text  # the head of household is named …
        for person in people:                      # … but no number and no health
            assert person.id_number.encode() not in text and person.phone.encode() not in text
        assert "健康".encode() not in text
    assert version


def test_my_work_lists_the_clues_whose_next_step_is_mine(engine, hh, world):  # noqa: F811 - the fixture imported above
    from dashboard.services import household_views
    from dashboard.lifecycle import HouseholdAction

    case_id = new_clue(engine, hh)
    with unit_of_work(engine) as session:
        mine = household_views.my_clues(session, hh.actors["gaoshi"])
        county = household_views.my_clues(session, hh.actors["jiance"])
        other = household_views.my_clues(session, hh.actors["saikou"])
    assert [(item.case_id, step) for item, step in mine] == [(case_id, HouseholdAction.VERIFY)]
    assert [step for _, step in county] == [HouseholdAction.VERIFY] and other == []
    app = page_app("pages.my_work", hh.actors["gaoshi"]).run()
    assert not app.exception and "3408260101" in everything(app)


def test_empty_sections_say_so_in_the_page_language(engine, hh, world):  # noqa: F811 - the fixture imported above
    """A household with no measure yet (a new clue): the section says so in words, never an empty table (which
    Streamlit labels 'empty' in English whatever the language)."""
    household_id = household_of(engine, new_clue(engine, hh))
    app = page_app("pages.household", hh.actors["gaoshi"], household_id=household_id).run()
    assert not app.exception, app.exception
    captions = [caption.value for caption in app.caption]
    assert "暂无帮扶措施。" in captions
    assert all(len(frame.value) for frame in app.dataframe)  # every table drawn has rows
