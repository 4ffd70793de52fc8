"""Issue 23's done-when from the command line, on both databases: on the demo data the nightly run
(``python -m dashboard remind --once``) finds the planted problem and tells the township, an inspector raises
a finding from it, the township fixes the household, the finding closes, and the next night finds nothing."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import select

from dashboard import passwords
from dashboard.errors import InvalidState
from dashboard.services import checks, households
from dashboard.services import findings as svc
from dashboard.services.common import actor_of
from dashboard.services.notifications import Kind
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import ReviewDecision, Role, Status, SupportKind
from db.engine import read_session
from db.models import Finding, FindingHousehold, Household, Measure, Notification, Source, User
from tests.factories import evidence
from tests.test_cli import cli_env, run  # noqa: F401 - a fixture: DATABASE_URL for the command line

RULE = "no_measure"


def user(session, username: str):
    return actor_of(session.exec(select(User).where(User.username == username)).one())


def nightly(capsys) -> dict:
    capsys.readouterr()
    assert run("remind", "--once") == 0
    return json.loads(capsys.readouterr().out)


def check(capsys) -> dict[str, list[str]]:
    capsys.readouterr()
    assert run("households-check", "--json") == 0
    return {rule["id"]: rule["households"] for rule in json.loads(capsys.readouterr().out)["rules"]}


@pytest.mark.usefixtures("cli_env")
def test_from_the_nightly_check_to_a_closed_finding(engine, frozen_today, capsys, monkeypatch, demo_copy):
    monkeypatch.setattr(passwords, "COST", passwords.TEST_COST)
    monkeypatch.setenv("DASHBOARD_MODE", "demo")
    today = frozen_today.date()
    demo_copy(engine)  # seed_demo(engine, today), built once
    (number,) = check(capsys)[RULE]   # the planted household: monitored two months, a 因病 risk, no measure
    with read_session(engine) as session:
        planted = session.exec(select(Household).where(Household.number == number)).one()
        assert planted.township == "高士镇" and planted.identified_on < today - dt.timedelta(days=31)
        household_id = planted.id
        audit = session.exec(select(Source).where(Source.kind == "audit")).one()
        assert (audit.report_due_date.month, audit.report_due_date.day) == (9, 28)   # seed 003's 9月28日

    # the nightly run finds the planted household and tells the township's unit (both its users)
    first = nightly(capsys)
    assert first["quality_units"] == 2 and first["household_events"] > 0 and first["report_reminders"] == 1
    assert nightly(capsys)["quality_units"] == 0                    # run again the same night: nothing twice
    hits = check(capsys)
    assert number in hits[RULE] and number in hits["risk_without_measure"]
    with read_session(engine) as session:
        for username in ("gaoshi", "gaoshi_lianluo"):
            user_id = session.exec(select(User.id).where(User.username == username)).one()
            kinds = set(session.exec(select(Notification.kind).where(Notification.user_id == user_id)).all())
            assert {Kind.QUALITY_HITS, Kind.DIGEST} <= kinds, username
        inspectors = session.exec(select(User.id).where(User.role.in_([Role.INSPECTOR.value, Role.LEADER.value])))
        reminded = session.exec(select(Notification).where(Notification.kind == Kind.REPORT_DUE,
                                                           Notification.user_id.in_(list(inspectors)))).all()
        assert {n.params["title"] for n in reminded} == {"防止返贫监测帮扶集中排查"} and len(reminded) == 4

    # an inspector raises a finding from the rule's hits in 高士镇, led by the township's unit
    with unit_of_work(engine) as session:
        inspector, liaison = user(session, "inspector"), user(session, "gaoshi_lianluo")
        finding = checks.raise_finding(session, inspector, rule_id=RULE, township="高士镇")
        finding_id = finding.id
        assert finding.lead_unit_id == liaison.unit_id and number in finding.description
        linked = session.exec(select(FindingHousehold.household_id).where(FindingHousehold.finding_id == finding_id))
        assert list(linked) == [household_id]
    with unit_of_work(engine) as session:
        svc.report_progress(session, liaison, finding_id, done_text="已入户核实", files=[evidence()])
        for measure in session.exec(select(Measure).where(Measure.finding_id == finding_id)).all():
            svc.tick_measure(session, liaison, measure.id, None)
    with unit_of_work(engine) as session, pytest.raises(InvalidState) as refused:
        svc.apply_closure(session, liaison, finding_id, None, summary="已整改")
    assert refused.value.key == "error.households_still_hit" and refused.value.params["households"] == number

    # the township officer adds the missing measure on the household
    with unit_of_work(engine) as session:
        households.add_measure(session, user(session, "gaoshi"), household_id, kind=SupportKind.HEALTH,
                               text="家庭医生签约服务，大病救助", unit_name="县卫健委", start_on=today)
    assert number not in check(capsys)[RULE]
    with unit_of_work(engine) as session:
        svc.apply_closure(session, liaison, finding_id, None, summary="已落实健康帮扶措施")
    with unit_of_work(engine) as session:
        svc.close(session, inspector, finding_id, None)
    with read_session(engine) as session:
        assert session.get(Finding, finding_id).status == Status.CLOSED
        user_id = session.exec(select(User.id).where(User.username == "gaoshi_lianluo")).one()
        closed = session.exec(select(Notification).where(Notification.user_id == user_id,
                                                         Notification.kind == Kind.CLOSURE_DECIDED)).one()
        assert closed.params["decision"] == ReviewDecision.CLOSED and closed.finding_id == finding_id
    hits = check(capsys)
    assert number not in hits[RULE] and number not in hits["risk_without_measure"]
