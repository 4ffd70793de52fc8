"""The stored data-quality check: the 数据质量 page reads the last run (nightly, "run now", ``households-check``)
and says when it was computed; the command line and the page show the same result; raising a finding and the
closure gate read live data, never the stored run."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.lifecycle import SYSTEM
from dashboard.services import checks, jobs, quality
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import HouseholdState
from db.engine import read_session
from db.models import FindingHousehold, Household, QualityCheck, QualityHit
from tests.apptest_support import button, page_app, point_app_at, texts
from tests.household_rows import Ledger
from tests.test_cli import cli_env, run  # noqa: F401 - a fixture: DATABASE_URL for the command line

TODAY = dt.date(2026, 6, 15)


def unsafe(book: Ledger, number: str, township: str = "高士镇") -> Household:
    return book.household(number, state=HouseholdState.ELIMINATED, eliminated_on=TODAY, housing_ok=False,
                          township=township)


@pytest.fixture
def ledger(engine, world, database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)
    with unit_of_work(engine) as session:
        book = Ledger(session)
        unsafe(book, "GS-1")
        unsafe(book, "SK-1", township="赛口镇")
    return world


def stored_numbers(engine, rule_id: str) -> list[str]:
    with read_session(engine) as session:
        return sorted(session.exec(select(QualityHit.number).where(QualityHit.rule_id == rule_id)).all())


def test_the_page_shows_the_stored_run_and_when_it_was_computed(engine, ledger):
    with clock.frozen(dt.datetime(2026, 6, 15, 1, 0)):
        jobs.quality_pass(engine)                       # the night's run, stored
    assert stored_numbers(engine, "eliminated_unsafe") == ["GS-1", "SK-1"]
    with unit_of_work(engine) as session:              # after the night: not on the page until the next run
        unsafe(Ledger(session, village=False), "GS-2")
    app = page_app("pages.quality", ledger.actors["leader"]).run()
    assert not app.exception, app.exception
    shown = texts(app)
    assert "截至 2026-06-15 的核查结果，计算于 2026-06-15 01:00（system" in shown
    frames = " ".join(str(frame.value) for frame in app.dataframe)
    assert "GS-1" in frames and "GS-2" not in frames
    assert not any("立即重新核查" in str(b.label) for b in app.button)   # a leader may not run it on demand


def test_run_now_refreshes_the_stored_run(engine, ledger):
    app = page_app("pages.quality", ledger.actors["inspector"]).run()   # nothing stored yet: made on first view
    assert not app.exception, app.exception
    assert stored_numbers(engine, "eliminated_unsafe") == ["GS-1", "SK-1"]
    with unit_of_work(engine) as session:
        unsafe(Ledger(session, village=False), "GS-2")
    assert "GS-2" not in " ".join(str(frame.value) for frame in app.dataframe)
    button(app, "立即重新核查").click().run()
    assert not app.exception, app.exception
    assert "已重新核查" in texts(app)
    assert stored_numbers(engine, "eliminated_unsafe") == ["GS-1", "GS-2", "SK-1"]
    assert "GS-2" in " ".join(str(frame.value) for frame in app.dataframe)
    with read_session(engine) as session:
        assert session.get(QualityCheck, 1).computed_by == "inspector"


def test_run_now_is_refused_to_a_role_that_may_not(engine, ledger):
    from dashboard.errors import PermissionDenied

    with read_session(engine) as session:
        computed = quality.compute(session, TODAY)
    with pytest.raises(PermissionDenied), unit_of_work(engine) as session:
        quality.store_run_now(session, ledger.actors["leader"], computed)
    assert quality.may_run_now(ledger.actors["inspector"]) and not quality.may_run_now(ledger.actors["leader"])


@pytest.mark.usefixtures("cli_env")
def test_the_command_line_stores_and_the_page_agrees(engine, ledger, capsys):
    capsys.readouterr()
    assert run("households-check", "--json") == 0
    printed = {rule["id"]: rule for rule in json.loads(capsys.readouterr().out)["rules"]}
    with read_session(engine) as session:
        check = quality.stored(session)
    assert {rule.id: check.count(rule.id) for rule in quality.RULES} == {
        rule_id: rule["count"] for rule_id, rule in printed.items()}
    assert printed["eliminated_unsafe"]["households"] == ["GS-1", "SK-1"]
    app = page_app("pages.quality", ledger.actors["inspector"]).run()
    summary = next(frame.value for frame in app.dataframe if "命中户数" in frame.value.columns)
    assert dict(zip(summary["核查规则"], summary["命中户数"])) == {
        quality_title(rule_id): rule["count"] for rule_id, rule in printed.items()}
    capsys.readouterr()
    assert run("households-check", "--json", "--township", "赛口镇") == 0
    one = {rule["id"]: rule for rule in json.loads(capsys.readouterr().out)["rules"]}
    assert one["eliminated_unsafe"]["households"] == ["SK-1"]


def quality_title(rule_id: str) -> str:
    from dashboard.i18n import t

    return t(f"quality_rule.{rule_id}", "zh")


def test_raising_and_the_closure_gate_read_live_data(engine, ledger):
    """A stored run that no longer holds is never what a finding or its closure is decided on."""
    with unit_of_work(engine) as session:
        quality.refresh(session, SYSTEM, TODAY)
        unsafe(Ledger(session, village=False), "GS-2")          # after the stored run
    with unit_of_work(engine) as session:
        finding = checks.raise_finding(session, ledger.actors["inspector"], rule_id="eliminated_unsafe",
                                       township="高士镇")
        linked = session.exec(select(FindingHousehold.household_id).where(
            FindingHousehold.finding_id == finding.id)).all()
        assert len(linked) == 2                                     # GS-2 too: the rule ran at that moment
        finding_id = finding.id
    with unit_of_work(engine) as session:
        for household in session.exec(select(Household).where(Household.township == "高士镇")).all():
            household.housing_ok = True
    with read_session(engine) as session:
        assert quality.still_hit(session, finding_id, TODAY) == []   # live: fixed, though the stored run says hit
        assert quality.stored(session).count("eliminated_unsafe", "高士镇") == 1


def test_zero_change_is_stored_with_the_check_and_read_back(engine, ledger):
    """零变化 is computed with the rules by ``zero_change_figures`` (the one definition) and stored; the page shows the
    stored one, as of the check, while it is for today's periods, and computes it now once they have moved on."""
    with clock.frozen(dt.datetime(2026, 6, 15, 1, 0)):
        jobs.quality_pass(engine)
        with read_session(engine) as session:
            check = quality.stored(session)
            assert check.zero_change == quality.zero_change_figures(session, TODAY)
    assert [figure["townships"] for figure in check.zero_change] == [["赛口镇", "高士镇"], ["赛口镇", "高士镇"]]
    with unit_of_work(engine) as session:              # identified in May, after the night's run
        Ledger(session, village=False).household("GS-2", identified_on=dt.date(2026, 5, 10))
    with clock.frozen(dt.datetime(2026, 6, 15, 9, 0)):
        app = page_app("pages.quality", ledger.actors["inspector"]).run()
        assert not app.exception, app.exception
        assert "按截至 2026-06-15 的核查结果" in texts(app)
        assert [md.value for md in app.markdown if "、" in md.value] == ["赛口镇、高士镇", "赛口镇、高士镇"]
        app.selectbox(key="quality_township").set_value("高士镇").run()    # one township: it, as stored
        assert [md.value for md in app.markdown if md.value in ("赛口镇", "高士镇")] == ["高士镇", "高士镇"]
        app.selectbox(key="quality_township").set_value("__all__").run()
        button(app, "立即重新核查").click().run()          # the stored one follows the run
        assert not app.exception, app.exception
        with read_session(engine) as session:
            assert quality.stored(session).zero_change[0]["townships"] == ["赛口镇"]
        assert [md.value for md in app.markdown if md.value in ("赛口镇", "赛口镇、高士镇")] == ["赛口镇", "赛口镇、高士镇"]
    with clock.frozen(dt.datetime(2026, 7, 2, 9, 0)):  # July: last month is June, not the check's May
        app = page_app("pages.quality", ledger.actors["inspector"]).run()
        assert not app.exception, app.exception
        assert "按截至" not in texts(app)
        assert "上月（2026-06）" in texts(app)


def test_the_summary_is_stored_with_the_check_and_agrees_with_the_counts(engine, ledger):
    """The page's first table reads the summary stored with the check (``quality.summarise`` of the counts): per rule
    the households hit and the townships it hits most; a check stored before the summary was kept is summarised from
    its counts when read; one township reads its own counts."""
    from sqlalchemy import update

    with unit_of_work(engine) as session:
        unsafe(Ledger(session, village=False), "GS-2")
        quality.refresh(session, SYSTEM, TODAY)
    with read_session(engine) as session:
        full, summary = quality.stored(session), quality.stored_summary(session)
        assert summary.worst["eliminated_unsafe"] == [("高士镇", 2), ("赛口镇", 1)]
        assert {rule.id: summary.count(rule.id) for rule in quality.RULES} == {
            rule.id: full.count(rule.id) for rule in quality.RULES}
        one = quality.stored_summary(session, "赛口镇")
        assert {rule.id: one.count(rule.id) for rule in quality.RULES} == {
            rule.id: full.count(rule.id, "赛口镇") for rule in quality.RULES}
    assert quality.summarise({"r": {"乙": 2, "甲": 2, "丙": 1, "丁": 3}}) == {
        "totals": {"r": 8}, "worst": {"r": [["丁", 3], ["乙", 2], ["甲", 2]]}}   # ties by name (code points)
    with unit_of_work(engine) as session:              # as a check stored by the release before
        session.execute(update(QualityCheck).values(summary={}, zero_change=[]))
    with read_session(engine) as session:
        assert quality.stored_summary(session) == summary.__class__(**{**summary.__dict__, "zero_change": []})
