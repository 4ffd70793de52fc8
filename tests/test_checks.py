"""From a check to a finding: an inspector raises a finding from what a rule hits in a township; its closure
is refused while the rule still hits a household it names, and goes through once the township fixed them."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from dashboard.errors import InvalidState, PermissionDenied, ValidationFailed
from dashboard.lifecycle import SYSTEM, Action
from dashboard.services import admin, checks
from dashboard.services import findings as svc
from db.models import Measure
from dashboard.services import views
from dashboard.services.common import actor_of
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import HouseholdState, Priority, Role, SourceKind, Status
from db.engine import read_session
from db.models import Finding, FindingHousehold, Household, Source
from tests.factories import PASSWORD, evidence
from tests.household_rows import Ledger

TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def checked(engine, world):
    """Two households of 高士镇 eliminated while unsafe, one of 赛口镇, and the 高士镇 unit's liaison."""
    with unit_of_work(engine) as session:
        book = Ledger(session)
        for number, township in (("GS-1", "高士镇"), ("GS-2", "高士镇"), ("SK-1", "赛口镇")):
            book.household(number, state=HouseholdState.ELIMINATED, eliminated_on=TODAY, housing_ok=False,
                           township=township)
        liaison = admin.create_user(session, SYSTEM, username="gaoshi_lianluo", display_name="高士镇联络员",
                                    role=Role.DEPARTMENT, password=PASSWORD, unit_id=world.units["高士镇"])
        session.flush()
        world.actors["liaison"] = actor_of(liaison)
    return world


def test_a_rule_hit_becomes_a_finding_of_the_township(engine, checked):
    with unit_of_work(engine) as session:
        finding = checks.raise_finding(session, checked.actors["inspector"], rule_id="eliminated_unsafe",
                                       township="高士镇")
        finding_id = finding.id
    with read_session(engine) as session:
        finding = session.get(Finding, finding_id)
        source = session.get(Source, finding.source_id)
        assert (source.kind, source.title) == (SourceKind.SELF_CHECK, "数据质量核查 2026-06")
        assert finding.lead_unit_id == checked.units["高士镇"] and finding.township == "高士镇"
        assert "GS-1、GS-2" in finding.description and "SK-1" not in finding.description
        assert finding.priority == Priority.KEY and finding.current_deadline == TODAY + dt.timedelta(days=30)
        linked = session.exec(select(FindingHousehold.household_id).where(FindingHousehold.finding_id == finding_id))
        numbers = {session.get(Household, hid).number for hid in linked}
        assert numbers == {"GS-1", "GS-2"}
    with unit_of_work(engine) as session:   # the same month's next check is filed under the same source
        again = checks.raise_finding(session, checked.actors["inspector"], rule_id="eliminated_unsafe",
                                     township="高士镇")
        assert again.source_id == source.id and again.id != finding_id


def test_closure_waits_until_the_rule_no_longer_hits(engine, checked):
    with unit_of_work(engine) as session:
        finding_id = checks.raise_finding(session, checked.actors["inspector"], rule_id="eliminated_unsafe",
                                          township="高士镇").id
    liaison, inspector = checked.actors["liaison"], checked.actors["inspector"]
    with unit_of_work(engine) as session:
        svc.report_progress(session, liaison, finding_id, done_text="已入户核实两户住房", files=[evidence()])
        for measure in session.exec(select(Measure).where(Measure.finding_id == finding_id)).all():
            svc.tick_measure(session, liaison, measure.id, None)
    with unit_of_work(engine) as session, pytest.raises(InvalidState) as refused:
        svc.apply_closure(session, liaison, finding_id, None, summary="已整改")
    assert refused.value.key == "error.households_still_hit"
    assert refused.value.params == {"count": 2, "households": "GS-1、GS-2"}
    with read_session(engine) as session:   # the page shows the same refusal
        detail = views.finding_detail(session, liaison, finding_id)
        refusal = detail.actions[Action.APPLY_CLOSURE]
        assert (refusal.key, refusal.params["households"]) == ("error.households_still_hit", "GS-1、GS-2")
    with unit_of_work(engine) as session:   # the township fixes one household: the other is still named
        session.exec(select(Household).where(Household.number == "GS-1")).one().housing_ok = True
    with unit_of_work(engine) as session, pytest.raises(InvalidState) as refused:
        svc.apply_closure(session, liaison, finding_id, None, summary="已整改")
    assert refused.value.params == {"count": 1, "households": "GS-2"}
    with unit_of_work(engine) as session:
        session.exec(select(Household).where(Household.number == "GS-2")).one().housing_ok = True
    with unit_of_work(engine) as session:
        svc.apply_closure(session, liaison, finding_id, None, summary="两户住房已鉴定安全")
    with unit_of_work(engine) as session:
        svc.close(session, inspector, finding_id, None)
    with read_session(engine) as session:
        assert session.get(Finding, finding_id).status == Status.CLOSED


def test_what_cannot_be_raised(engine, checked):
    inspector = checked.actors["inspector"]
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as nothing:
        checks.raise_finding(session, inspector, rule_id="invalid_id", township="高士镇")
    assert nothing.value.key == "error.check_nothing_hit"
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as no_unit:
        checks.raise_finding(session, inspector, rule_id="eliminated_unsafe", township="赛口镇")
    assert no_unit.value.key == "error.check_no_township_unit"
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed) as unknown:
        checks.raise_finding(session, inspector, rule_id="no_such_rule", township="高士镇")
    assert unknown.value.key == "error.check_unknown_rule"
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        checks.raise_finding(session, checked.actors["jiuzhu"], rule_id="eliminated_unsafe", township="高士镇")
