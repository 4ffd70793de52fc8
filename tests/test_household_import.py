"""``python -m dashboard import-households``: the national export, read whole, refused whole with rows named,
re-imported without duplicates, imperfect IDs flagged, and no ID readable in the database afterwards."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from dashboard import clock, privacy
from dashboard.errors import ValidationFailed
from dashboard.lifecycle import SYSTEM
from dashboard.services import household_import, households
from dashboard.services.unit_of_work import unit_of_work
from dashboard.vocab import CaseState, HouseholdState
from db.engine import read_session
from db.models import AuditLog, Household, HouseholdMember, HouseholdRisk, HouseholdStep, SupportMeasure
from seed import people
from tests.factories import build_household_world
from tests.household_files import Home, export, home
from tests.test_cli import cli_env, run  # noqa: F401 - the CLI fixture


@pytest.fixture
def hh(engine, world):
    with unit_of_work(engine) as session:
        return build_household_world(session, world)


def sample() -> list[Home]:
    return [
        home("340826101001", 1),
        home("340826101002", 2, category="边缘易致贫户", household_type="一般户", risks=("因灾", "因学"),
             eliminated="是", method="帮扶消除", eliminated_on="202605", income=9800),
        home("340826101003", 3, category="", identified=""),                        # 脱贫户, not monitored
        home("340826101004", 4, category="", identified="", household_type="一般户"),  # skipped
        home("340826201001", 5, township="赛口镇", village="红旗村", category="突发严重困难户", risks=("因意外事故",)),
    ]


def do_import(engine, data: bytes, year: int = 2026, bulk: bool = True):
    with read_session(engine) as session:
        preview = household_import.preview_households(session, SYSTEM, data, filename="监测对象信息.xlsx", year=year)
    if not preview.ok:
        return preview, None
    with unit_of_work(engine) as session:
        return preview, household_import.commit_households(session, SYSTEM, preview, bulk=bulk)


def count(engine, model) -> int:
    with read_session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_import_keeps_monitored_and_exited_households(engine, hh):
    homes = sample()
    preview, summary = do_import(engine, export(homes))
    assert preview.ok and summary.created == 4 and summary.skipped == 1 and summary.members == 12
    with read_session(engine) as session:
        states = dict(session.exec(select(Household.number, Household.state)).all())
        eliminated = session.exec(select(Household).where(Household.number == "340826101002")).one()
    assert states == {"340826101001": HouseholdState.MONITORED, "340826101002": HouseholdState.ELIMINATED,
                      "340826101003": HouseholdState.NOT_MONITORED, "340826201001": HouseholdState.MONITORED}
    assert eliminated.elimination_method == "supported" and str(eliminated.eliminated_on) == "2026-05-01"
    assert eliminated.income_per_capita == 9800 and eliminated.income_year == 2026
    assert count(engine, HouseholdRisk) == 5 and count(engine, SupportMeasure) == 4
    with read_session(engine) as session:
        head = households.find_person(session, homes[0].members[0].id_number)[0]
        assert head.is_head and head.id_masked == privacy.mask_id(homes[0].members[0].id_number)
        assert head.phone_masked == privacy.mask_phone(homes[0].members[0].phone)


def test_imported_ids_are_not_in_the_database_bytes(engine, hh, database_url, tmp_path):
    homes = sample()
    do_import(engine, export(homes))
    url, _ = database_url
    if url.startswith("sqlite"):
        engine.dispose()
        raw = b"".join(path.read_bytes() for path in tmp_path.glob("test.db*"))
    else:
        with engine.connect() as connection:
            raw = "\n".join(connection.execute(text(
                "SELECT row_to_json(m)::text FROM household_member m UNION ALL "
                "SELECT row_to_json(a)::text FROM audit_log a UNION ALL "
                "SELECT row_to_json(s)::text FROM household_step s")).scalars()).encode()
    assert "毛安村".encode() in raw or url.startswith("postgresql")
    for h in homes:
        for p in h.members:
            assert p.id_number.encode() not in raw and p.phone.encode() not in raw


def test_reimport_updates_and_never_duplicates(engine, hh):
    homes = sample()
    do_import(engine, export(homes))
    members_before = count(engine, HouseholdMember)
    _, again = do_import(engine, export(homes))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert count(engine, HouseholdMember) == members_before and count(engine, Household) == 4
    homes[0].income = 7300
    homes[0].members[2].phone = "13900001111"
    _, changed = do_import(engine, export(homes))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 3)
    assert count(engine, HouseholdMember) == members_before and count(engine, HouseholdRisk) == 5
    with read_session(engine) as session:
        last = session.exec(select(AuditLog).where(AuditLog.action == "hh_import").order_by(AuditLog.id.desc())).first()
        member = households.find_person(session, homes[0].members[2].id_number)[0]
        assert privacy.unseal(member.phone_cipher, privacy.Field.PHONE) == "13900001111"
    assert "income_per_capita" in last.new["changed"] and "member" in last.new["changed"]


# --- a re-import that changes where a household stands ------------------------------------------------------------

def household(engine, number: str) -> Household:
    with read_session(engine) as session:
        return session.exec(select(Household).where(Household.number == number)).one()


def restated(engine, number: str) -> tuple[list[str], list[AuditLog]]:
    with read_session(engine) as session:
        household_id = session.exec(select(Household.id).where(Household.number == number)).one()
        steps = session.exec(select(HouseholdStep.note).where(HouseholdStep.household_id == household_id,
                                                              HouseholdStep.action == "hh_import_state")).all()
        entries = session.exec(select(AuditLog).where(AuditLog.action == "hh_import_state",
                                                      AuditLog.entity_id == household_id)).all()
    return list(steps), list(entries)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "orm"])
def test_reimport_makes_a_household_monitored(engine, hh, bulk):
    homes = sample()
    do_import(engine, export(homes), bulk=bulk)
    assert household(engine, "340826101003").state == HouseholdState.NOT_MONITORED
    homes[2].category, homes[2].identified = "边缘易致贫户", "202606"
    _, summary = do_import(engine, export(homes), bulk=bulk)
    assert (summary.updated, summary.unchanged, summary.conflicts) == (1, 3, [])
    now = household(engine, "340826101003")
    assert now.state == HouseholdState.MONITORED and now.category == "marginal"
    assert now.identified_on == dt.date(2026, 6, 1) and now.eliminated_on is None
    steps, entries = restated(engine, "340826101003")
    assert steps == ["not_monitored → monitored: category, identified_on, state"]
    assert [(e.old["state"], e.new["state"], e.new["identified_on"]) for e in entries] == [
        ("not_monitored", "monitored", "2026-06-01")]


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "orm"])
def test_reimport_makes_a_household_eliminated(engine, hh, bulk):
    homes = sample()
    do_import(engine, export(homes), bulk=bulk)
    homes[0].eliminated, homes[0].method, homes[0].eliminated_on = "是", "自然消除", "202606"
    _, summary = do_import(engine, export(homes), bulk=bulk)
    assert (summary.updated, summary.unchanged) == (1, 3)
    now = household(engine, "340826101001")
    assert now.state == HouseholdState.ELIMINATED and now.eliminated_on == dt.date(2026, 6, 1)
    assert now.elimination_method == "natural" and now.identified_on == dt.date(2025, 12, 1)
    steps, entries = restated(engine, "340826101001")
    assert steps == ["monitored → eliminated: eliminated_on, elimination_method, state"] and len(entries) == 1


def test_a_risk_added_by_a_reimport_counts_as_added_since(engine, hh):
    homes = sample()
    do_import(engine, export(homes))
    homes[0].risks = ("因病", "因灾")
    _, summary = do_import(engine, export(homes))
    assert summary.updated == 1
    with read_session(engine) as session:
        target = session.exec(select(Household).where(Household.number == "340826101001")).one()
        added = session.exec(select(HouseholdRisk).where(HouseholdRisk.household_id == target.id,
                                                         HouseholdRisk.kind == "disaster")).one()
        facts = households.elimination_facts(session, target, clock.today())
    assert added.added_on == clock.today() and facts.new_risks == 1


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "orm"])
def test_reimport_keeps_the_state_of_a_household_with_an_open_case_and_reports_it(engine, hh, bulk):
    homes = sample()
    do_import(engine, export(homes), bulk=bulk)
    target = household(engine, "340826101003")
    with unit_of_work(engine) as session:
        households.register_clue(session, hh.actors["gaoshi"], source="cadre_check", received_on=clock.today(),
                                 text="户主住院", household_id=target.id)
    homes[2].category, homes[2].identified = "突发严重困难户", "202606"
    _, summary = do_import(engine, export(homes), bulk=bulk)
    assert [(c.number, c.case_state, c.file_state, c.columns) for c in summary.conflicts] == [
        ("340826101003", CaseState.CLUE, HouseholdState.MONITORED, ("state", "category", "identified_on"))]
    assert "340826101003" in summary.messages("zh")[0] and "340826101003" in summary.messages("en")[0]
    now = household(engine, "340826101003")
    assert now.state == HouseholdState.IDENTIFYING and now.category is None and now.identified_on is None
    assert restated(engine, "340826101003") == ([], [])
    _, again = do_import(engine, export(sample()), bulk=bulk)   # the file as the ledger had it: nothing to report
    assert again.conflicts == []


def test_broken_rows_refuse_the_whole_file_with_their_rows(engine, hh):
    homes = sample()
    homes[0].members[1].id_number = "34082619700101"          # 14 characters: row 5
    homes[1].members[0].relation = "之父"                      # 340826101002 has no 户主: rows 7-9
    homes[4].income = "六千"                                   # not an amount: row 16
    preview, summary = do_import(engine, export(homes))
    assert summary is None and not preview.ok
    assert [(e.row, e.key) for e in preview.parsed.errors] == [
        (5, "error.hh_import_id_length"), (7, "error.hh_import_no_head"), (16, "error.hh_import_amount")]
    messages = preview.messages("zh")
    assert "第5行" in messages[0] and "7、8、9" in messages[1]
    assert count(engine, Household) == 0 and count(engine, HouseholdMember) == 0
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):
        household_import.commit_households(session, SYSTEM, preview)


def test_unknown_places_are_named(engine, hh):
    homes = [home("340826909001", 9, township="凉亭镇", village="新河村")]
    preview, summary = do_import(engine, export(homes))
    assert summary is None and preview.unknown_places == ["凉亭镇新河村"]
    assert "凉亭镇新河村" in preview.messages("zh")[0]


def test_bad_check_digit_and_a_person_in_two_households_are_imported_and_flagged(engine, hh):
    homes = sample()
    homes[0].members[1].id_number = people.wrong_check_digit(homes[0].members[1].id_number)
    homes[4].members.append(homes[0].members[2].__class__(**{**vars(homes[0].members[2]), "relation": "其他"}))
    preview, summary = do_import(engine, export(homes))
    assert preview.ok and summary.flagged_ids == 1 and summary.in_two_households == 1
    with read_session(engine) as session:
        bad = households.find_person(session, homes[0].members[1].id_number)[0]
        twice = households.find_person(session, homes[0].members[2].id_number)
    assert not bad.id_valid and households.FLAG_BAD_CHECK_DIGIT in bad.flags
    assert len(twice) == 2 and all(households.FLAG_TWO_HOUSEHOLDS in m.flags for m in twice)


def test_the_command_line(cli_env, engine, hh, tmp_path, capsys):  # noqa: F811 - the fixture imported above
    good = tmp_path / "（自定义）监测对象信息.xlsx"
    good.write_bytes(export(sample()))
    assert run("import-households", str(good), "--year", "2026") == 0
    assert "新增4户" in capsys.readouterr().out
    broken = sample()
    broken[2].members[0].id_number = "1234"
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(export(broken))
    assert run("import-households", str(bad)) == 1
    err = capsys.readouterr().err
    assert "第10行" in err and "1234" not in err and "未导入" in err


def test_a_backup_reveals_no_id(engine, hh, tmp_path):
    """The backup file (SQLite copy or pg_dump) of an imported ledger holds no ID or phone in clear; without the
    privacy key it reveals neither."""
    import subprocess

    from dashboard.services import backup

    homes = sample()
    do_import(engine, export(homes))
    target = tmp_path / "ledger.backup"
    backup.backup(engine, target)
    raw = target.read_bytes()
    if engine.dialect.name == "postgresql":  # the custom format is compressed: read it back as SQL text
        raw = subprocess.run([backup._tool("pg_restore", engine), "--file=-", str(target)], capture_output=True,
                             check=True).stdout
    assert homes[0].members[0].name.encode() in raw  # the rows are in the backup (names are not secret) …
    for h in homes:
        for p in h.members:
            assert p.id_number.encode() not in raw and p.phone.encode() not in raw
