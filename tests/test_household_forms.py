"""What the household services can do is reachable from the app: the yearly income line (administration page and
``income-line``), the county monitoring unit, removing a risk and ending a measure, entering and editing members,
自然消除 on the page and in the queue, and revealing a household's IDs with one click (AppTest, both databases)."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlmodel import select

from dashboard import cli, clock, privacy
from dashboard.errors import ConflictError, InvalidState, PermissionDenied, ValidationFailed
from dashboard.services import households
from dashboard.services.households import MemberInput, MemberUpdate
from dashboard.services.unit_of_work import unit_of_work
from db.engine import default_engine
from dashboard.lifecycle import HouseholdAction as H
from db.models import AuditLog, Household, HouseholdMember, HouseholdRisk, SupportMeasure
from seed import people
from tests.conftest import TODAY
from tests.apptest_support import page_app, point_app_at, texts
from tests.test_cli import cli_url
from tests.test_household_lifecycle import LATER, MONITORED_FROM, hh, monitored, new_clue, run  # noqa: F401 - the fixture the tests below name
from tests.test_household_pages import household_of


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


# --- 3. a risk removed, a measure ended, a measure with its end --------------------------------------------------

def household_page(actor, household_id: int, lang: str = "zh"):
    app = page_app("pages.household", actor, lang=lang, household_id=household_id).run()
    assert not app.exception, app.exception
    return app


def test_a_risk_added_after_identification_is_removed_on_the_page_and_elimination_opens(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    officer = hh.actors["gaoshi"]
    with clock.frozen(LATER):
        risk = run(engine, households.add_risk, officer, household_id, kind="disaster", added_on=LATER.date())
        app = household_page(officer, household_id)
        assert "纳入监测后新增1项风险尚未消除" in texts(app)
        assert not [b for b in app.button if b.form_id == f"step_{H.ELIM_VERIFY}"]
        app.selectbox(key="rr_risk").set_value(risk.id)
        app = submit(app, "remove_risk")
        assert not app.exception, app.exception
        assert [b for b in app.button if b.form_id == f"step_{H.ELIM_VERIFY}"]  # 风险消除 may start now
    with unit_of_work(engine) as session:
        removed = session.get(HouseholdRisk, risk.id)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "hh_remove_risk")).one()
    assert removed.removed_on == LATER.date() and audit.username == "gaoshi"
    leader = page_app("pages.household", hh.world.actors["leader"], household_id=household_id).run()
    assert not leader.exception and not [b for b in leader.button if b.form_id in ("remove_risk", "end_measure")]


def test_a_measure_is_added_with_its_end_and_another_is_ended_on_the_page(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    officer = hh.actors["gaoshi"]
    with clock.frozen(LATER):
        app = household_page(officer, household_id)
        app.selectbox(key="am_kind").set_value("employment")
        app.text_input(key="am_text").input("公益性岗位：护林员")
        app.text_input(key="am_unit").input("县林业局")
        app.date_input(key="am_end").set_value(LATER.date() + dt.timedelta(days=365))
        app = submit(app, "add_measure")
        assert not app.exception, app.exception
        with unit_of_work(engine) as session:
            measures = session.exec(select(SupportMeasure).where(SupportMeasure.household_id == household_id)
                                    .order_by(SupportMeasure.id)).all()
            first, added = measures[0].id, measures[-1]
        assert (added.text, added.end_on) == ("公益性岗位：护林员", LATER.date() + dt.timedelta(days=365))
        app.selectbox(key="em_measure").set_value(first)
        app = submit(app, "end_measure")
        assert not app.exception, app.exception
    with unit_of_work(engine) as session:
        assert session.get(SupportMeasure, first).end_on == LATER.date()
        audit = session.exec(select(AuditLog).where(AuditLog.action == H.END_MEASURE)).one()
    assert audit.username == "gaoshi"


def test_ending_a_measure_before_it_started_is_refused_with_a_message(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        app = household_page(hh.actors["gaoshi"], household_id)
        app.date_input(key="em_end").set_value(MONITORED_FROM - dt.timedelta(days=30))
        app = submit(app, "end_measure")
    assert not app.exception and "“措施结束日期”不能早于“措施开始日期”" in texts(app)


# --- 4. members entered and edited -------------------------------------------------------------------------------

def generated_id(seed: str, relation: str = "子女") -> tuple[str, dt.date]:
    rng = random.Random(seed)
    born = people.birth(rng, TODAY.date(), 5, 60)
    return people.resident_id(rng, born, female=relation == "配偶"), born


def household_version(engine, household_id: int) -> int:
    return run(engine, lambda s: s.get(Household, household_id).version)


def test_add_member_seals_checks_and_audits_without_the_clear_id(engine, hh, world):  # noqa: F811 - the fixture imported above
    household_id = household_of(engine, new_clue(engine, hh))
    officer = hh.actors["gaoshi"]
    id_number, born = generated_id("add")
    child = MemberInput(name="石小明", relation="子女", sex="男", birth_date=born, id_number=id_number,
                        labour_skill="none", health="健康", education="小学", school_status="在校")
    member = run(engine, households.add_member, officer, household_id, household_version(engine, household_id), child)
    with unit_of_work(engine) as session:
        saved = session.get(HouseholdMember, member.id)
        household = session.get(Household, household_id)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "hh_add_member")).one()
        assert (household.persons, saved.seq, saved.is_head, saved.labour_skill) == (3, 3, False, "none")
        assert privacy.unseal(saved.id_cipher, privacy.Field.ID) == id_number and saved.id_valid
        assert saved.id_masked == privacy.mask_id(id_number) and id_number not in str(audit.new) + audit.note
        assert households.unsealed_health(saved) == "健康" and "健康" not in str(audit.new)
    refusals = [  # (actor, input, expected_version, error)
        (officer, MemberInput(name="甲", relation="子女", id_number=id_number[:15]), None, ValidationFailed),
        (officer, MemberInput(name="乙", relation="户主"), None, ValidationFailed),
        (officer, MemberInput(name="丙", relation="子女", id_number=id_number), None, ValidationFailed),
        (officer, MemberInput(name="丁", relation="子女"), 1, ConflictError),
        (hh.actors["saikou"], MemberInput(name="戊", relation="子女"), None, PermissionDenied),
        (world.actors["leader"], MemberInput(name="己", relation="子女"), None, PermissionDenied),
    ]
    for actor, data, expected, error in refusals:
        with pytest.raises(error):
            run(engine, households.add_member, actor, household_id, expected, data)
    wrong_digit = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")
    flagged = run(engine, households.add_member, officer, household_id, None,
                  MemberInput(name="石小红", relation="子女", id_number=wrong_digit))
    assert households.FLAG_BAD_CHECK_DIGIT in flagged.flags and not flagged.id_valid


def test_edit_member_changes_skill_and_sealed_fields_with_a_version_check(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    officer = hh.actors["gaoshi"]
    with unit_of_work(engine) as session:
        members = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id)
                               .order_by(HouseholdMember.seq)).all()
        head, spouse = [(m.id, m.version) for m in members]
    new_id, _ = generated_id("edit", "配偶")
    with clock.frozen(LATER):
        run(engine, households.edit_member, officer, spouse[0], spouse[1],
            MemberUpdate(labour_skill="lost", health="长期慢性病", id_number=new_id, phone="13912345678"))
        with pytest.raises(ConflictError):   # a stale copy of the spouse
            run(engine, households.edit_member, officer, spouse[0], spouse[1], MemberUpdate(education="初中"))
        with pytest.raises(ValidationFailed):   # the head stays the head
            run(engine, households.edit_member, officer, head[0], head[1], MemberUpdate(relation="配偶"))
        run(engine, households.edit_member, officer, head[0], head[1], MemberUpdate(labour_skill="none"))
        with pytest.raises(InvalidState) as refused:   # nobody can work: not 帮扶消除
            run(engine, households.start_elimination, officer, household_id, visited_on=LATER.date(), method="supported")
    assert refused.value.key == "error.hh_nobody_works"
    with unit_of_work(engine) as session:
        saved = session.get(HouseholdMember, spouse[0])
        assert privacy.unseal(saved.id_cipher, privacy.Field.ID) == new_id and saved.version == spouse[1] + 1
        assert saved.phone_masked == "139****5678" and households.unsealed_health(saved) == "长期慢性病"
        audits = session.exec(select(AuditLog).where(AuditLog.action == "hh_edit_member").order_by(AuditLog.id)).all()
    assert audits[0].new["id_masked"] == privacy.mask_id(new_id) and audits[0].new["health"] == households.SEALED_MARK
    assert audits[0].new["labour_skill"] == "lost"
    text = " ".join(str(a.old) + str(a.new) + a.note for a in audits)
    assert new_id not in text and "13912345678" not in text and "长期慢性病" not in text


def test_members_are_added_and_edited_on_the_household_page(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = household_of(engine, new_clue(engine, hh))
    officer = hh.actors["gaoshi"]
    id_number, born = generated_id("page")
    app = household_page(officer, household_id)
    app.text_input(key="ma_name").input("石小明")
    app.text_input(key="ma_relation").input("子女")
    app.selectbox(key="ma_sex").set_value("男")
    app.date_input(key="ma_birth").set_value(born)
    app.selectbox(key="ma_skill").set_value("none")
    app.text_input(key="ma_id").input(id_number)
    app.text_input(key="ma_health").input("健康")
    app = submit(app, "add_member")
    assert not app.exception, app.exception
    shown = texts(app) + "\n".join(frame.value.to_csv() for frame in app.dataframe)
    assert "石小明" in shown and privacy.mask_id(id_number) in shown and id_number not in shown
    with unit_of_work(engine) as session:
        head = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id,
                                                          HouseholdMember.is_head.is_(True))).one()
    app.selectbox(key="me_member").set_value(head.id).run()
    app.selectbox(key=f"me_{head.id}_skill").set_value("lost")
    app.text_input(key=f"me_{head.id}_education").input("初中")
    app = submit(app, "edit_member")
    assert not app.exception, app.exception
    with unit_of_work(engine) as session:
        saved = session.get(HouseholdMember, head.id)
    assert (saved.labour_skill, saved.education, saved.version) == ("lost", "初中", head.version + 1)
    leader = page_app("pages.household", hh.world.actors["leader"], household_id=household_id).run()
    assert not [b for b in leader.button if b.form_id in ("add_member", "edit_member")]


# --- 5. 自然消除 ---------------------------------------------------------------------------------------------------

def _facts(method, failing: int, nobody_can_work: bool):
    """风险消除 facts with the conditions whose bits are set in ``failing`` not met."""
    from dashboard.lifecycle import EliminationFacts

    def bit(n: int) -> bool:
        return bool(failing >> n & 1)

    return EliminationFacts(
        identified_on=TODAY.date() - dt.timedelta(days=30 if bit(0) else 400), measures_in_force=0 if bit(1) else 1,
        income_per_capita=100 if bit(2) else 9000, income_line=None if bit(3) else 7000, income_year=2026,
        failing_guarantees=("housing",) if bit(4) else (), new_risks=1 if bit(5) else 0,
        nobody_can_work=nobody_can_work, method=method)


def test_natural_elimination_has_no_condition_of_its_own():
    """The queue lists the households meeting 自然消除's conditions as those any method may eliminate
    (``households.FEWEST_CONDITIONS``): that holds while the policy adds conditions to 帮扶消除 only (every
    combination of failing conditions, with and without a member who can work)."""
    from dashboard.lifecycle import elimination_blockers
    from dashboard.vocab import EliminationMethod

    for failing in range(64):
        for nobody_can_work in (False, True):
            blockers = {method: elimination_blockers(_facts(method, failing, nobody_can_work), TODAY.date(), 6)
                        for method in EliminationMethod}
            fewest = blockers.pop(households.FEWEST_CONDITIONS)
            assert all(all(refusal in others for refusal in fewest) for others in blockers.values())


def test_nobody_can_work_is_offered_natural_elimination_only_and_listed_in_the_queue(engine, hh):  # noqa: F811 - the fixture imported above
    from dashboard.vocab import LabourSkill
    from dashboard.services import household_views
    from db.models import HouseholdCase

    household_id = monitored(engine, hh, skills=(LabourSkill.LOST, LabourSkill.NONE))
    able = monitored(engine, hh, number="3408260202")
    officer = hh.actors["gaoshi"]
    with clock.frozen(LATER):
        with unit_of_work(engine) as session:
            queue = household_views.elimination_queue(session, hh.actors["jiance"])
            assert household_views.elimination_queue_size(session, hh.actors["jiance"]) == 2
        assert sorted(c.household_id for c in queue) == sorted([household_id, able])
        listed = page_app("pages.elimination", hh.actors["jiance"]).run()
        assert not listed.exception and "3408260201" in listed.dataframe[0].value.to_csv()
        both = household_page(officer, able)
        assert both.selectbox(key="e_method").options == ["帮扶消除", "自然消除"]
        app = household_page(officer, household_id)
        assert app.selectbox(key="e_method").options == ["自然消除"]
        app = submit(app, f"step_{H.ELIM_VERIFY}")
        assert not app.exception, app.exception
    with unit_of_work(engine) as session:
        case = session.exec(select(HouseholdCase).where(HouseholdCase.household_id == household_id,
                                                        HouseholdCase.kind == "eliminate")).one()
    assert (case.state, case.reason) == ("elim_verified", "natural")


# --- 6. the household's numbers revealed with one click -------------------------------------------------------------

def test_one_click_reveals_every_members_numbers_and_audits_each_look(engine, hh, world):  # noqa: F811 - the fixture imported above
    household_id = household_of(engine, new_clue(engine, hh))
    officer = hh.actors["gaoshi"]
    app = household_page(officer, household_id)
    with unit_of_work(engine) as session:
        members = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id)
                               .order_by(HouseholdMember.seq)).all()
        numbers = [privacy.unseal(m.id_cipher, privacy.Field.ID) for m in members]
        assert not session.exec(select(AuditLog).where(AuditLog.action == "reveal_member")).all()
    assert len(numbers) == 2 and not any(number in texts(app) for number in numbers)
    app = app.button(key="reveal_button").click().run()
    assert not app.exception, app.exception
    assert all(number in texts(app) for number in numbers)
    with unit_of_work(engine) as session:
        looks = session.exec(select(AuditLog).where(AuditLog.action == "reveal_member").order_by(AuditLog.id)).all()
    assert [(a.entity_id, a.username) for a in looks] == [(m.id, "gaoshi") for m in members]
    assert not any(number in str(a.new) + a.note for a in looks for number in numbers)
    leader = page_app("pages.household", world.actors["leader"], household_id=household_id).run()
    assert not leader.exception and "reveal_button" not in [b.key for b in leader.button]
    with pytest.raises(PermissionDenied):
        run(engine, households.reveal_household, world.actors["leader"], household_id)
