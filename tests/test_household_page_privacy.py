"""Health (健康状况) on the household page: a role without ``HouseholdAction.VIEW_HEALTH`` (the leader, the
administrator, an inspector, a township officer of another township) finds no member's health anywhere the page
draws (texts, tables, widgets' values, labels and placeholders); the township officer and the county monitoring
unit see it (AppTest, both databases; the values are generated)."""
from __future__ import annotations

import random

import pytest
from google.protobuf import text_format
from streamlit.testing.v1.element_tree import Dataframe

from dashboard.lifecycle import HouseholdAction as H
from dashboard.lifecycle import household_refusal
from dashboard.services import household_views, households
from dashboard.services.households import MemberUpdate
from dashboard.services.unit_of_work import unit_of_work
from db.models import Household
from tests.apptest_support import page_app, point_app_at
from tests.test_household_lifecycle import hh, new_clue, run  # noqa: F401 - the fixture the tests below name
from tests.test_household_pages import household_of


@pytest.fixture(autouse=True)
def _pages_read_the_test_database(database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)


def drawn(app) -> str:
    """Everything the page drew: every element's protobuf as text (values, labels, placeholders, help, Markdown)
    and every table's cells."""
    parts: list[str] = []

    def walk(node) -> None:
        children = getattr(node, "children", None)
        if children:
            for child in children.values():
                walk(child)
            return
        if isinstance(node, Dataframe):
            parts.append(node.value.to_csv())
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(text_format.MessageToString(proto, as_utf8=True))

    walk(app._tree)
    return "\n".join(parts)


def household_with_health(engine, hh) -> tuple[int, list[str]]:  # noqa: F811 - the fixture imported above
    """A household whose two members carry generated health statuses (a test token each, no real person's)."""
    household_id = household_of(engine, new_clue(engine, hh, number="3408260777"))
    rng = random.Random("health")
    with unit_of_work(engine) as session:
        detail = household_views.household_detail(session, hh.actors["gaoshi"], household_id)
    values = []
    for member in detail.members:
        value = f"测试健康状况{rng.randrange(10**8):08d}"
        run(engine, households.edit_member, hh.actors["gaoshi"], member.id, member.version, MemberUpdate(health=value))
        values.append(value)
    return household_id, values


def page(actor, household_id: int):
    app = page_app("pages.household", actor, household_id=household_id).run()
    assert not app.exception, app.exception
    return app


def test_health_is_nowhere_on_the_page_for_a_role_without_view_health(engine, hh):  # noqa: F811 - the fixture imported above
    household_id, values = household_with_health(engine, hh)
    world = hh.world
    for name, actor in (("leader", world.actors["leader"]), ("admin", world.actors["admin"]),
                        ("inspector", world.actors["inspector"]), ("saikou", hh.actors["saikou"])):
        with unit_of_work(engine) as session:
            facts = households.facts(session, session.get(Household, household_id))
        assert household_refusal(actor, H.VIEW_HEALTH, facts) is not None, name   # the premise: refused to this role
        shown = drawn(page(actor, household_id))
        assert "3408260777" in shown, name   # the page did render the household …
        for value in values:                 # … and no member's health
            assert value not in shown, name
        assert "健康状况" not in shown, name   # not even the column or the field


def test_health_is_shown_to_the_roles_that_act_on_the_household(engine, hh):  # noqa: F811 - the fixture imported above
    household_id, values = household_with_health(engine, hh)
    for actor in (hh.actors["gaoshi"], hh.actors["jiance"]):
        app = page(actor, household_id)
        table = "\n".join(frame.value.to_csv() for frame in app.dataframe)
        assert "健康状况" in table and all(value in table for value in values), actor.username
        assert all(value in drawn(app) for value in values)   # the search of the test above finds it when shown
