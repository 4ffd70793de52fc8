"""The data-quality rules of the household ledger: each with a household that just hits it and one that
just does not, on both databases; the command line prints what the rules find."""
from __future__ import annotations

import datetime as dt
import io
import json
import random

import pytest
from sqlmodel import select

from dashboard.errors import ValidationFailed
from dashboard.i18n import t
from dashboard.services import quality
from dashboard.services.unit_of_work import unit_of_work
from dashboard.lifecycle import SYSTEM
from dashboard.vocab import (CaseState, EliminationMethod, HouseholdState, LabourSkill, MemberChangeReason, Risk,
                             SupportKind)
from db.engine import read_session
from seed import people
from tests.household_rows import LINE_2026, Ledger
from tests.test_cli import cli_env  # noqa: F401 - a fixture: DATABASE_URL for the command line

TODAY = dt.date(2026, 6, 15)   # the frozen day of tests/conftest.py


def hits(engine, rule_id: str) -> list[str]:
    with read_session(engine) as session:
        return quality.run(session, today=TODAY, rules=[quality.RULES_BY_ID[rule_id]]).result(rule_id).numbers


@pytest.fixture
def ledger(engine, frozen_today):
    def build(fill):
        with unit_of_work(engine) as session:
            fill(Ledger(session))
    return build


def test_every_rule_has_its_fixed_id_and_titles():
    assert [rule.id for rule in quality.RULES] == [
        "short_monitoring", "eliminated_next_month", "no_measure", "income_below_line", "eliminated_unsafe",
        "risk_without_measure", "labour_mismatch", "invalid_id", "duplicate_person", "clue_overdue",
        "publicity_short"]
    for rule in quality.RULES:
        for lang in ("zh", "en"):
            assert t(f"quality_rule.{rule.id}", lang) != f"quality_rule.{rule.id}"


def test_short_monitoring(engine, ledger):
    def fill(book):   # six months from 2025-12-01 is 2026-06-01
        book.household("HIT", state=HouseholdState.ELIMINATED, eliminated_on=dt.date(2026, 5, 31))
        book.household("OK", state=HouseholdState.ELIMINATED, eliminated_on=dt.date(2026, 6, 1))
        book.household("OPEN", eliminated_on=None)
    ledger(fill)
    assert hits(engine, "short_monitoring") == ["HIT"]


def test_eliminated_next_month(engine, ledger):
    def fill(book):
        book.household("HIT", state=HouseholdState.ELIMINATED, identified_on=dt.date(2026, 4, 30),
                       eliminated_on=dt.date(2026, 5, 31))
        book.household("OK", state=HouseholdState.ELIMINATED, identified_on=dt.date(2026, 4, 30),
                       eliminated_on=dt.date(2026, 6, 1))
    ledger(fill)
    assert hits(engine, "eliminated_next_month") == ["HIT"]


def test_no_measure(engine, ledger):
    def fill(book):
        book.household("HIT", identified_on=dt.date(2026, 5, 15))             # a month ago today
        book.household("NEW", identified_on=dt.date(2026, 5, 16))             # not yet a month
        ended = book.household("ENDED", identified_on=dt.date(2026, 1, 5))
        book.measure(ended, SupportKind.INDUSTRY, end=dt.date(2026, 6, 14))   # ended yesterday: hits
        helped = book.household("HELPED", identified_on=dt.date(2026, 1, 5))
        book.measure(helped, SupportKind.INDUSTRY, end=dt.date(2026, 6, 15))  # still in force today
        book.household("GONE", state=HouseholdState.ELIMINATED, identified_on=dt.date(2025, 1, 5),
                       eliminated_on=dt.date(2026, 1, 5))
    ledger(fill)
    assert hits(engine, "no_measure") == ["ENDED", "HIT"]


def test_income_below_line(engine, ledger):
    def fill(book):
        common = {"state": HouseholdState.ELIMINATED, "eliminated_on": dt.date(2026, 6, 1)}
        book.household("HIT", method=EliminationMethod.SUPPORTED, income=LINE_2026 - 1, **common)
        book.household("AT", method=EliminationMethod.SUPPORTED, income=LINE_2026, **common)
        book.household("NATURAL", method=EliminationMethod.NATURAL, income=LINE_2026 - 1, **common)
    ledger(fill)
    assert hits(engine, "income_below_line") == ["HIT"]


def test_eliminated_unsafe(engine, ledger):
    def fill(book):
        common = {"state": HouseholdState.ELIMINATED, "eliminated_on": dt.date(2026, 6, 1)}
        book.household("HOUSE", housing_ok=False, **common)
        book.household("WATER", water_ok=False, **common)
        book.household("MEDICAL", medical_ok=False, **common)
        book.household("SAFE", **common)
        book.household("STILL_MONITORED", housing_ok=False)
    ledger(fill)
    assert hits(engine, "eliminated_unsafe") == ["HOUSE", "MEDICAL", "WATER"]


def test_risk_without_measure(engine, ledger):
    def fill(book):
        ill = book.household("ILL")
        book.risk(ill, Risk.ILLNESS)
        book.measure(ill, SupportKind.INDUSTRY)          # a measure, but not one that answers illness
        helped = book.household("ILL_HELPED")
        book.risk(helped, Risk.ILLNESS)
        book.measure(helped, SupportKind.HEALTH)
        work = book.household("WORK_PUBLIC_JOB")
        book.risk(work, Risk.WORK)
        book.measure(work, SupportKind.PUBLIC_JOB)        # 就业帮扶 or 公益性岗位 answers 因务工就业不稳
        removed = book.household("RISK_REMOVED")
        book.risk(removed, Risk.SCHOOLING, removed_on=dt.date(2026, 3, 1))
        other = book.household("OTHER_RISK")
        book.risk(other, Risk.DISASTER)                   # no fixed answer: not this rule's business
    ledger(fill)
    assert hits(engine, "risk_without_measure") == ["ILL"]


def test_labour_mismatch(engine, ledger):
    def fill(book):   # today 2026-06-15: aged 16 from a birth on 2010-06-15, 60 from 1966-06-15
        young = book.household("SIXTEEN")
        book.risk(young, Risk.LABOUR)
        book.member(young, birth=dt.date(2010, 6, 15), skill=LabourSkill.ORDINARY)
        child = book.household("FIFTEEN")
        book.risk(child, Risk.LABOUR)
        book.member(child, birth=dt.date(2010, 6, 16), skill=LabourSkill.ORDINARY)
        old = book.household("FIFTY_NINE")
        book.risk(old, Risk.LABOUR)
        book.member(old, birth=dt.date(1966, 6, 16), skill=LabourSkill.SKILLED)
        sixty = book.household("SIXTY")
        book.risk(sixty, Risk.LABOUR)
        book.member(sixty, birth=dt.date(1966, 6, 15), skill=LabourSkill.SKILLED)
        weak = book.household("WEAK")
        book.risk(weak, Risk.LABOUR)
        book.member(weak, birth=dt.date(1990, 1, 1), skill=LabourSkill.WEAK)
    ledger(fill)
    assert hits(engine, "labour_mismatch") == ["FIFTY_NINE", "SIXTEEN"]


def test_invalid_and_duplicate_ids(engine, ledger):
    good = people.resident_id(random.Random(1), dt.date(1970, 3, 3), female=True)
    wrong_digit = good[:-1] + ("0" if good[-1] != "0" else "1")
    def fill(book):
        book.member(book.household("BAD"), id_number=wrong_digit)
        book.member(book.household("LONG"), id_number="3403211970030312340012")   # 22 characters: no check digit
        book.member(book.household("FIRST"), id_number=good)
        book.member(book.household("SECOND"), id_number=good)
        same = book.household("ONE_HOUSE")
        twin = people.resident_id(random.Random(2), dt.date(1980, 1, 1), female=False)
        book.member(same, id_number=twin)
        book.member(same, id_number=twin)                                       # twice in one household: not two
    ledger(fill)
    assert hits(engine, "invalid_id") == ["BAD"]
    assert hits(engine, "duplicate_person") == ["FIRST", "SECOND"]


def test_clue_overdue(engine, ledger):
    def fill(book):   # identify_days = 15: a clue of 2026-05-31 is due 2026-06-15, today
        book.case(book.household("LATE", state=HouseholdState.IDENTIFYING), due_on=dt.date(2026, 6, 14))
        book.case(book.household("DUE_TODAY", state=HouseholdState.IDENTIFYING), due_on=dt.date(2026, 6, 15))
        book.case(book.household("DECIDED"), state=CaseState.INCLUDED, due_on=dt.date(2026, 6, 1))
    ledger(fill)
    assert hits(engine, "clue_overdue") == ["LATE"]


def test_publicity_short(engine, ledger):
    def fill(book):   # publicity_days = 5, both ends counted
        book.case(book.household("FOUR"), state=CaseState.PUBLICIZED, publicity_start=dt.date(2026, 6, 1),
                  publicity_end=dt.date(2026, 6, 4))
        book.case(book.household("FIVE"), state=CaseState.PUBLICIZED, publicity_start=dt.date(2026, 6, 1),
                  publicity_end=dt.date(2026, 6, 5))
    ledger(fill)
    assert hits(engine, "publicity_short") == ["FOUR"]


def test_a_township_sees_its_own_households(engine, ledger):
    def fill(book):
        book.household("GAOSHI", state=HouseholdState.ELIMINATED, housing_ok=False, eliminated_on=TODAY)
        book.household("SAIKOU", state=HouseholdState.ELIMINATED, housing_ok=False, eliminated_on=TODAY,
                       township="赛口镇")
    ledger(fill)
    with read_session(engine) as session:
        assert quality.run(session, today=TODAY, township="赛口镇").result("eliminated_unsafe").numbers == ["SAIKOU"]


@pytest.mark.usefixtures("cli_env")
def test_households_check_prints_the_rules(engine, ledger, capsys):  # noqa: F811 - the fixture imported above
    from dashboard import cli

    def fill(book):
        book.household("HIT", state=HouseholdState.ELIMINATED, housing_ok=False, eliminated_on=TODAY)
    ledger(fill)
    assert cli.main(["households-check", "--json", "--lang", "en"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["as_of"] == TODAY.isoformat()
    by_id = {rule["id"]: rule for rule in printed["rules"]}
    assert [rule["id"] for rule in printed["rules"]] == [rule.id for rule in quality.RULES]
    assert by_id["eliminated_unsafe"]["count"] == 1 and by_id["eliminated_unsafe"]["households"] == ["HIT"]
    assert by_id["eliminated_unsafe"]["title"] == t("quality_rule.eliminated_unsafe", "en")
    assert by_id["invalid_id"] == {"id": "invalid_id", "title": t("quality_rule.invalid_id", "en"),
                                   "severity": "low", "count": 0, "households": []}


def test_periods():
    assert quality.last_month(dt.date(2026, 6, 15)).label == "2026-05"
    assert quality.last_month(dt.date(2026, 1, 1)) == quality.Period("month", "2025-12", dt.date(2025, 12, 1),
                                                                      dt.date(2025, 12, 31))
    assert quality.last_quarter(dt.date(2026, 6, 15)) == quality.Period("quarter", "2026Q1", dt.date(2026, 1, 1),
                                                                        dt.date(2026, 3, 31))
    assert quality.last_quarter(dt.date(2026, 1, 10)).label == "2025Q4"
    assert quality.last_quarter(dt.date(2026, 4, 1)).label == "2026Q1"


def test_zero_change_across_a_month_boundary(engine, ledger):
    def fill(book):
        book.household("A", township="甲镇", identified_on=dt.date(2026, 5, 31))        # May: a change
        book.household("B", township="乙镇", identified_on=dt.date(2026, 6, 1))         # June only: May is quiet
        book.household("C", township="丙镇", state=HouseholdState.ELIMINATED, identified_on=dt.date(2025, 10, 1),
                       eliminated_on=dt.date(2026, 5, 1))                              # eliminated in May
        book.household("D", township="丁镇", identified_on=dt.date(2026, 3, 31))        # the quarter's last day
    ledger(fill)
    with read_session(engine) as session:
        month = quality.zero_change(session, quality.last_month(TODAY))
        quarter = quality.zero_change(session, quality.last_quarter(TODAY))
        assert month.townships == ["丁镇", "乙镇"]
        assert quarter.townships == ["丙镇", "乙镇", "甲镇"]
        assert quality.zero_change(session, quality.last_month(TODAY), township="甲镇").townships == []


def test_the_monthly_bulletin(engine, ledger, tmp_path):
    from docx import Document

    from dashboard.documents.bulletin import bulletin_docx

    def fill(book):   # May 2026
        a1 = book.household("A1", township="甲镇", identified_on=dt.date(2026, 5, 3))
        book.household("A2", township="甲镇", state=HouseholdState.ELIMINATED, identified_on=dt.date(2025, 9, 1),
                       eliminated_on=dt.date(2026, 5, 20))
        book.household("A3", township="甲镇", identified_on=dt.date(2026, 6, 2))             # after May: not counted
        late = book.household("B1", township="乙镇", state=HouseholdState.IDENTIFYING, identified_on=None)
        book.case(late, received_on=dt.date(2026, 5, 1), due_on=dt.date(2026, 5, 16))   # past its clock in May
        book.change(a1, MemberChangeReason.BIRTH, dt.date(2026, 5, 10))
    ledger(fill)
    period = quality.month_period("2026-05")
    assert (period.start, period.end) == (dt.date(2026, 5, 1), dt.date(2026, 5, 31))
    with read_session(engine) as session:
        rows = quality.bulletin(session, period, TODAY)
    assert [(r.township, r.identified, r.natural_added, r.natural_removed, r.eliminated, r.not_eliminated,
             r.clues_overdue) for r in rows] == [
        ("乙镇", 0, 0, 0, 0, 0, 1), ("甲镇", 1, 1, 0, 1, 1, 0), (quality.TOTAL, 1, 1, 0, 1, 1, 1)]
    made = quality.Bulletin(period, rows, None, TODAY)
    document = Document(io.BytesIO(bulletin_docx(made)))
    cells = [[cell.text for cell in row.cells] for row in document.tables[0].rows]
    assert cells[0][1:3] == ["新识别（户）", "自然增加（人）"]
    assert cells[2] == ["甲镇", "1", "1", "0", "1", "1", "0", str(rows[1].rule_hits)] and cells[-1][0] == "合计"
    with pytest.raises(ValidationFailed):
        quality.month_period("2026-13")


def test_natural_changes_across_a_month_boundary(engine, ledger):
    """自然增加 (出生、婚入) and 自然减少 (死亡、婚出) by the day of the change, in households under monitoring that day;
    a move in or out is neither."""
    def fill(book):
        watched = book.household("W", township="甲镇", identified_on=dt.date(2026, 4, 1))
        book.change(watched, MemberChangeReason.BIRTH, dt.date(2026, 4, 30))          # April
        book.change(watched, MemberChangeReason.MARRIAGE_IN, dt.date(2026, 5, 1))     # May's first day
        book.change(watched, MemberChangeReason.DEATH, dt.date(2026, 5, 31))          # May's last day
        book.change(watched, MemberChangeReason.MARRIAGE_OUT, dt.date(2026, 6, 1))    # June
        book.change(watched, MemberChangeReason.MOVED_IN, dt.date(2026, 5, 12))       # not natural
        book.change(watched, MemberChangeReason.MOVED_OUT, dt.date(2026, 5, 13))      # not natural
        later = book.household("L", township="甲镇", identified_on=dt.date(2026, 5, 20))
        book.change(later, MemberChangeReason.BIRTH, dt.date(2026, 5, 19))            # before it was monitored
        book.change(later, MemberChangeReason.BIRTH, dt.date(2026, 5, 20))            # the day it was
        gone = book.household("G", township="乙镇", state=HouseholdState.ELIMINATED, identified_on=dt.date(2025, 9, 1),
                              eliminated_on=dt.date(2026, 5, 10))
        book.change(gone, MemberChangeReason.DEATH, dt.date(2026, 5, 9))              # still monitored
        book.change(gone, MemberChangeReason.DEATH, dt.date(2026, 5, 10))             # eliminated that day
    ledger(fill)
    with read_session(engine) as session:
        assert quality.natural_changes(session, quality.month_period("2026-04")) == {"甲镇": (1, 0)}
        assert quality.natural_changes(session, quality.month_period("2026-05")) == {"甲镇": (2, 1), "乙镇": (0, 1)}
        assert quality.natural_changes(session, quality.month_period("2026-06")) == {"甲镇": (0, 1)}


def test_a_frozen_month_does_not_change(engine, ledger):
    """The bulletin of a month that has ended is frozen the first time it is made; later changes to the ledger do
    not alter it. The running month is provisional and not frozen."""
    from db.models import BulletinSnapshot

    ledger(lambda book: book.household("A1", township="甲镇", identified_on=dt.date(2026, 5, 3)))
    may, june = quality.month_period("2026-05"), quality.month_period("2026-06")
    with unit_of_work(engine) as session:
        first = quality.monthly_bulletin(session, SYSTEM, may)
        running = quality.monthly_bulletin(session, SYSTEM, june)
    assert first.frozen_at is not None and running.frozen_at is None
    assert [(row.township, row.identified) for row in first.rows] == [("甲镇", 1), (quality.TOTAL, 1)]

    def later(book):   # recorded after the freeze, dated in May
        born = book.household("A2", township="甲镇", identified_on=dt.date(2026, 5, 9))
        book.change(born, MemberChangeReason.BIRTH, dt.date(2026, 5, 11))
        book.household("B1", township="乙镇", identified_on=dt.date(2026, 5, 12))
    with unit_of_work(engine) as session:
        later(Ledger(session, village=False))
    with unit_of_work(engine) as session:
        again = quality.monthly_bulletin(session, SYSTEM, may)
        assert again.rows == first.rows and again.frozen_at == first.frozen_at
        assert len(quality.bulletin(session, may, TODAY)) == 3          # computed afresh, it would differ
        assert quality.monthly_bulletin(session, SYSTEM, june).frozen_at is None
        assert session.exec(select(BulletinSnapshot.month)).all() == ["2026-05"]


@pytest.mark.usefixtures("cli_env")
def test_monitoring_report_command(engine, ledger, tmp_path, capsys):
    """The command writes the month's frozen figures: made again after a change, the document is the same."""
    from docx import Document

    from dashboard import cli

    ledger(lambda book: book.household("A1", township="甲镇", identified_on=dt.date(2026, 5, 3)))
    out = tmp_path / "通报.docx"
    assert cli.main(["monitoring-report", "2026-05", str(out)]) == 0
    assert out.read_bytes()[:2] == b"PK"
    assert "1个乡镇" in capsys.readouterr().out

    def table(path) -> list[list[str]]:
        return [[cell.text for cell in row.cells] for row in Document(str(path)).tables[0].rows]
    with unit_of_work(engine) as session:
        Ledger(session, village=False).household("A2", township="甲镇", identified_on=dt.date(2026, 5, 4))
    again = tmp_path / "again.docx"
    assert cli.main(["monitoring-report", "2026-05", str(again)]) == 0
    assert table(again) == table(out) and table(out)[1][:2] == ["甲镇", "1"]
    assert cli.main(["monitoring-report", "2026/05", str(out)]) == 2
