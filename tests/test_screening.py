"""应纳未纳 screening: department lists matched by the keyed hash, thresholds at their boundary, clues on the
clock for households not monitored, signals for those that are, nothing added by a second upload, and no
ID of a list ever stored in clear."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import MetaData, select

from dashboard import privacy
from dashboard.errors import PermissionDenied, ValidationFailed
from dashboard.lifecycle import SYSTEM
from dashboard.screening_reader import read_list
from dashboard.services import admin, screening
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import (CaseKind, ClueSource, HouseholdState, HouseholdType, Role, ScreenKind, UnitKind)
from db.engine import read_session
from db.models import Household, HouseholdCase, HouseholdStep, ScreeningHit, ScreeningRun
from seed import people
from tests.factories import PASSWORD, actor_of
from tests.household_rows import Ledger
from tests.test_cli import cli_env  # noqa: F401 - a fixture: DATABASE_URL for the command line

TODAY = dt.date(2026, 6, 15)


def person(seed: int) -> str:
    return people.resident_id(random.Random(seed), dt.date(1960 + seed % 40, 1 + seed % 12, 1 + seed % 28),
                               female=seed % 2 == 0)


IDS = {name: person(seed) for seed, name in enumerate(
    ("ordinary_at", "ordinary_below", "exited_at", "exited_below", "monitored", "stranger", "disabled", "old_event"),
    start=11)}


@pytest.fixture
def households(engine, frozen_today):
    """One household per case, each with the one member a list names."""
    with unit_of_work(engine) as session:
        book = Ledger(session)
        rows = {
            "ordinary_at": {"state": HouseholdState.NOT_MONITORED, "household_type": HouseholdType.ORDINARY},
            "ordinary_below": {"state": HouseholdState.NOT_MONITORED, "household_type": HouseholdType.ORDINARY},
            "exited_at": {"state": HouseholdState.ELIMINATED, "household_type": HouseholdType.EXITED},
            "exited_below": {"state": HouseholdState.NOT_MONITORED, "household_type": HouseholdType.EXITED},
            "monitored": {"state": HouseholdState.MONITORED, "household_type": HouseholdType.EXITED},
            "disabled": {"state": HouseholdState.NOT_MONITORED, "household_type": HouseholdType.ORDINARY},
            "old_event": {"state": HouseholdState.NOT_MONITORED, "household_type": HouseholdType.ORDINARY},
        }
        for name, facts in rows.items():
            household = book.household(name.upper(), identified_on=None, **facts)
            book.member(household, id_number=IDS[name])
    return IDS


def medical_csv(encoding: str = "utf-8") -> bytes:
    lines = ["2026年医保高额自付人员名单", "序号,姓名,证件号码,年度,个人自付金额（元）",
             f"1,甲,{IDS['ordinary_at']},2026,6000", f"2,甲,{IDS['ordinary_at']},2026,4000",   # 10,000 in all
             f"3,乙,{IDS['ordinary_below']},2026,9999.99",
             f"4,丙,{IDS['exited_at']},2026,\"5,000\"",
             f"5,丁,{IDS['exited_below']},2026,4999",
             f"6,戊,{IDS['monitored']},2026,8000",
             f"7,己,{IDS['stranger']},2026,30000"]
    return "\n".join(lines).encode(encoding)


def run_list(engine, raw: bytes, kind=ScreenKind.MEDICAL, name="医保名单.csv", actor=SYSTEM) -> dict[str, int]:
    listed = read_list(raw, name, kind, TODAY)
    with unit_of_work(engine) as session:
        return screening.counts(screening.screen(session, actor, listed, list_name=name))


def test_medical_thresholds_clues_and_signals(engine, households):
    counts = run_list(engine, medical_csv())
    assert counts == {"rows": 7, "matched": 5, "unmatched": 1, "below_threshold": 2, "new_clues": 2, "signals": 1,
                      "already_seen": 0}
    with read_session(engine) as session:
        cases = {session.get(Household, case.household_id).number: case
                 for case in session.exec(select(HouseholdCase)).scalars()}
        assert sorted(cases) == ["EXITED_AT", "ORDINARY_AT"]    # 一般户 at 10,000; 脱贫户 (eliminated) at 5,000
        for case in cases.values():
            assert case.kind == CaseKind.IDENTIFY and case.source == ClueSource.DEPARTMENT_ALERT
            assert case.received_on == TODAY and case.due_on == TODAY + dt.timedelta(days=15)
            assert "医保" in case.clue_text and "医保名单.csv" in case.clue_text
        assert "10,000 元" in cases["ORDINARY_AT"].clue_text and "5,000 元" in cases["EXITED_AT"].clue_text
        assert cases["EXITED_AT"].is_return                    # an eliminated household comes back (返贫)
        states = dict(session.execute(select(Household.number, Household.state)).all())
        assert states["ORDINARY_AT"] == states["EXITED_AT"] == HouseholdState.IDENTIFYING
        assert states["ORDINARY_BELOW"] == states["EXITED_BELOW"] == HouseholdState.NOT_MONITORED
        monitored = session.exec(select(Household).where(Household.number == "MONITORED")).scalars().one()
        steps = session.exec(select(HouseholdStep).where(HouseholdStep.household_id == monitored.id)).scalars().all()
        assert [step.action for step in steps] == [screening.SIGNAL_STEP] and "8,000" in steps[0].note
        assert [hit.outcome for hit in screening.signals_of(session, monitored.id)] == ["signal"]


def test_the_same_list_twice_adds_nothing(engine, households):
    run_list(engine, medical_csv())
    again = run_list(engine, medical_csv("gb18030"))    # the same list saved as GBK
    assert again == {"rows": 7, "matched": 5, "unmatched": 1, "below_threshold": 2, "new_clues": 0, "signals": 0,
                     "already_seen": 3}
    with read_session(engine) as session:
        assert len(session.exec(select(HouseholdCase)).all()) == 2
        assert len(session.exec(select(ScreeningHit)).all()) == 3
        assert len(session.exec(select(ScreeningRun)).all()) == 2


def test_event_lists_count_recent_events_only(engine, households):
    recent = (TODAY - dt.timedelta(days=365)).isoformat()     # screen_event_days = 365: still counts
    old = (TODAY - dt.timedelta(days=366)).isoformat()
    raw = "\n".join(["姓名,身份证号,发证日期", f"甲,{IDS['disabled']},{recent}", f"乙,{IDS['old_event']},{old}"]).encode()
    assert run_list(engine, raw, ScreenKind.DISABILITY, "残联名单.csv") == {
        "rows": 2, "matched": 2, "unmatched": 0, "below_threshold": 1, "new_clues": 1, "signals": 0, "already_seen": 0}


def test_no_id_of_a_list_is_stored_in_clear(engine, households, database_url):
    run_list(engine, medical_csv())
    every_id = list(IDS.values())
    with read_session(engine) as session:
        metadata = MetaData()
        metadata.reflect(bind=session.get_bind())
        for table in metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                text = " ".join(map(str, row))
                assert not any(number in text for number in every_id), table.name
    url, schema = database_url
    if schema is None:   # SQLite: not in the file's bytes either (the write-ahead log checkpointed first)
        engine.dispose()
        raw = open(url.removeprefix("sqlite:///"), "rb").read()
        assert not any(number.encode() in raw for number in every_id)


def test_a_broken_list_is_refused_whole(engine, households):
    raw = "\n".join(["证件号码,个人自付金额", f"{IDS['ordinary_at']},12000", ",500", f"{IDS['monitored']},很多"]).encode()
    with pytest.raises(ValidationFailed) as refused:
        read_list(raw, "坏名单.csv", ScreenKind.MEDICAL, TODAY)
    assert refused.value.key == "error.screen_broken_rows" and refused.value.params["rows"] == "3、4"
    with pytest.raises(ValidationFailed) as no_column:
        read_list("姓名,金额\n甲,1".encode(), "x.csv", ScreenKind.MEDICAL, TODAY)
    assert no_column.value.key == "error.screen_no_id_column"
    with read_session(engine) as session:
        assert session.exec(select(ScreeningRun)).all() == []


def test_only_the_monitoring_unit_or_an_administrator_screens(engine, households):
    with unit_of_work(engine) as session:
        monitoring = admin.create_unit(session, SYSTEM, name="县乡村振兴局监测股", kind=UnitKind.OFFICE, monitoring=True)
        other = admin.create_unit(session, SYSTEM, name="社会救助办", kind=UnitKind.OFFICE)
        session.flush()
        users = {name: actor_of(admin.create_user(session, SYSTEM, username=name, display_name=name,
                                                  role=Role.DEPARTMENT, password=PASSWORD, unit_id=unit.id))
                 for name, unit in (("jiance", monitoring), ("jiuzhu", other))}
    with pytest.raises(PermissionDenied):
        run_list(engine, medical_csv(), actor=users["jiuzhu"])
    assert run_list(engine, medical_csv(), actor=users["jiance"])["new_clues"] == 2


@pytest.mark.usefixtures("cli_env")
def test_screen_list_command(engine, households, tmp_path, capsys):
    from dashboard import cli

    path = tmp_path / "医保名单.csv"
    path.write_bytes(medical_csv("gb18030"))
    assert cli.main(["screen-list", str(path), "--kind", "medical", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rows": 7, "matched": 5, "unmatched": 1, "below_threshold": 2,
                                                   "new_clues": 2, "signals": 1, "already_seen": 0}
    assert cli.main(["screen-list", str(path), "--kind", "medical", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_seen"] == 3
    assert privacy.match_key(IDS["stranger"]) is not None
