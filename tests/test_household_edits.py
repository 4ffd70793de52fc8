"""Two officers on one household: removing a risk and ending a measure refuse a stale copy instead of overwriting
the first officer's date, in the services and from the household page (both databases)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from dashboard import clock
from dashboard.errors import ConflictError, ValidationFailed
from dashboard.lifecycle import HouseholdAction as H
from dashboard.services import households
from dashboard.services.unit_of_work import unit_of_work
from dashboard.i18n import t
from dashboard.vocab import CaseState
from db.models import AuditLog, Household, HouseholdCase, HouseholdMember, HouseholdRisk, SupportMeasure
from tests.apptest_support import page_app, point_app_at, texts
from tests.conftest import TODAY
from tests.test_household_forms import generated_id
from tests.test_household_lifecycle import LATER, hh, monitored, new_clue, run  # noqa: F401 - the fixture the tests below name

DAY = LATER.date()
STALE = "您看到的是旧版本"   # a fragment of error.conflict in Chinese


@pytest.fixture(autouse=True)
def _pages_read_the_test_database(database_url, monkeypatch):
    point_app_at(monkeypatch, database_url)


def household_version(engine, household_id: int) -> int:
    return run(engine, lambda s: s.get(Household, household_id).version)


def audited(engine, action: str) -> list[tuple[str, int]]:
    with unit_of_work(engine) as session:
        return [(e.username, e.entity_id) for e in session.exec(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()]


def first_measure(engine, household_id: int) -> SupportMeasure:
    with unit_of_work(engine) as session:
        return session.exec(select(SupportMeasure).where(SupportMeasure.household_id == household_id)
                            .order_by(SupportMeasure.id)).first()


# --- the services ---------------------------------------------------------------------------------------------

def test_a_risk_removed_from_a_stale_copy_is_refused_and_the_first_date_kept(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        risk = run(engine, households.add_risk, hh.actors["gaoshi"], household_id, kind="disaster", added_on=DAY)
        seen = household_version(engine, household_id)   # both officers opened the household at this version
        run(engine, households.remove_risk, hh.actors["jiance"], risk.id, seen, removed_on=DAY)
        with pytest.raises(ConflictError) as stale:
            run(engine, households.remove_risk, hh.actors["gaoshi"], risk.id, seen, removed_on=DAY - dt.timedelta(days=1))
        with pytest.raises(ValidationFailed) as again:   # no version given (a caller that shows nothing): still refused
            run(engine, households.remove_risk, hh.actors["gaoshi"], risk.id, None, removed_on=DAY - dt.timedelta(days=1))
    # the message names who removed it and when (the household's last step), not the household's last audit entry
    # (gaoshi's update of the income when it was monitored)
    assert stale.value.key == "error.conflict"
    assert stale.value.params == {"by": "jiance", "at": LATER.strftime("%Y-%m-%d %H:%M")}
    assert again.value.key == "error.hh_risk_removed"
    assert again.value.zh == f"该风险已于{DAY.isoformat()}解除。"
    assert again.value.en == f"This risk was already ended on {DAY.isoformat()}."
    assert run(engine, lambda s: s.get(HouseholdRisk, risk.id).removed_on) == DAY
    assert household_version(engine, household_id) == seen + 1   # the removal counts on the household
    assert audited(engine, "hh_remove_risk") == [("jiance", risk.id)]


def test_a_measure_end_set_by_one_officer_is_not_overwritten_by_another(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    measure = first_measure(engine, household_id)
    planned = DAY + dt.timedelta(days=30)   # still running: the old check (already ended) would not have refused
    with clock.frozen(LATER):
        run(engine, households.end_measure, hh.actors["gaoshi"], measure.id, measure.version, end_on=planned)
        with pytest.raises(ConflictError) as stale:
            run(engine, households.end_measure, hh.actors["jiance"], measure.id, measure.version, end_on=DAY)
    assert stale.value.key == "error.conflict" and stale.value.current["end_on"] == planned.isoformat()
    assert first_measure(engine, household_id).end_on == planned
    assert audited(engine, H.END_MEASURE) == [("gaoshi", measure.id)]


# --- the household page ------------------------------------------------------------------------------------------

def page(actor, household_id: int):
    app = page_app("pages.household", actor, household_id=household_id).run()
    assert not app.exception, app.exception
    return app


def submit(app, form_id: str):
    app = next(b for b in app.button if b.form_id == form_id).click().run()
    assert not app.exception, app.exception
    return app


def test_the_page_refuses_removing_a_risk_another_officer_removed_meanwhile(engine, hh):  # noqa: F811 - the fixture imported above
    """Both pages open; the second officer picks the risk the first just removed: refused with the stale-copy
    message, the other open risk untouched (Streamlit would have put it in the vanished choice's place), and a
    second try at the same risk, now from the current copy, is told it is already removed."""
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        first = run(engine, households.add_risk, hh.actors["gaoshi"], household_id, kind="disaster", added_on=DAY)
        other = run(engine, households.add_risk, hh.actors["gaoshi"], household_id, kind="illness", added_on=DAY)
        late = page(hh.actors["gaoshi"], household_id)
        late.selectbox(key="rr_risk").set_value(first.id)
        quick = page(hh.actors["jiance"], household_id)
        quick.selectbox(key="rr_risk").set_value(first.id)
        quick = submit(quick, "remove_risk")
        late = submit(late, "remove_risk")
        assert STALE in texts(late)
        late.selectbox(key="rr_risk").set_value(first.id)   # the form was cleared: the officer picks it again
        late = submit(late, "remove_risk")
        assert f"该风险已于{DAY.isoformat()}解除" in texts(late).replace("\\", "")   # shown as Markdown-escaped text
    with unit_of_work(engine) as session:
        assert session.get(HouseholdRisk, first.id).removed_on == DAY
        assert session.get(HouseholdRisk, other.id).removed_on is None
    assert audited(engine, "hh_remove_risk") == [("jiance", first.id)]


def test_the_page_refuses_ending_a_measure_whose_end_another_officer_just_set(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    measure = first_measure(engine, household_id)
    planned = DAY + dt.timedelta(days=30)
    with clock.frozen(LATER):
        app = page(hh.actors["gaoshi"], household_id)
        app.selectbox(key="em_measure").set_value(measure.id)
        run(engine, households.end_measure, hh.actors["jiance"], measure.id, measure.version, end_on=planned)
        app = submit(app, "end_measure")
        assert STALE in texts(app)
        assert first_measure(engine, household_id).end_on == planned
        app = submit(app, "end_measure")   # seen now: ending it today goes through
        assert not app.error, [e.value for e in app.error]
    assert first_measure(engine, household_id).end_on == DAY
    assert audited(engine, H.END_MEASURE) == [("jiance", measure.id), ("gaoshi", measure.id)]


# --- the other forms of the household page: each saves against the version it was opened with -------------------

def by_label(widgets, key: str):
    return next(w for w in widgets if w.label == t(key, "zh"))


def refused_naming(app, username: str) -> None:
    errors = [str(e.value) for e in app.error]
    assert any(STALE in e and username in e for e in errors), errors


def test_the_page_refuses_a_household_edit_from_a_copy_opened_before_another_officers_edit(engine, hh):  # noqa: F811 - the fixture imported above
    """Both pages open on the household; the first saves a new income and a failed guarantee; the second's save
    (another income) is refused naming the first, nothing of the first's overwritten; then, seen, it goes through,
    and does not write back the guarantee its form showed when opened."""
    household_id = monitored(engine, hh)
    with clock.frozen(LATER):
        late = page(hh.actors["gaoshi"], household_id)
        quick = page(hh.actors["jiance"], household_id)
        by_label(quick.number_input, "field.hh_income").set_value(12000.0)
        by_label(quick.checkbox, "guarantee.medical").uncheck()
        quick = submit(quick, "edit_household")
        assert not quick.error, [e.value for e in quick.error]
        by_label(late.number_input, "field.hh_income").set_value(7000.0)
        late = submit(late, "edit_household")
        refused_naming(late, "jiance")
        with unit_of_work(engine) as session:
            household = session.get(Household, household_id)
            assert (household.income_per_capita, household.medical_ok) == (12000, False)
        assert [name for name, _ in audited(engine, H.EDIT_HOUSEHOLD)][-1:] == ["jiance"]
        edits = len(audited(engine, H.EDIT_HOUSEHOLD))
        by_label(late.number_input, "field.hh_income").set_value(7000.0)   # the officer types it again, and saves
        late = submit(late, "edit_household")
        assert not late.error, [e.value for e in late.error]
    with unit_of_work(engine) as session:   # the retry kept the guarantee the first officer unticked
        household = session.get(Household, household_id)
        assert (household.income_per_capita, household.medical_ok) == (7000, False)
    assert audited(engine, H.EDIT_HOUSEHOLD)[edits - 1:] == [("jiance", household_id), ("gaoshi", household_id)]


def test_the_page_refuses_a_member_edit_from_a_copy_opened_before_another_officers_edit(engine, hh):  # noqa: F811 - the fixture imported above
    household_id = monitored(engine, hh)
    with unit_of_work(engine) as session:
        member = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id)
                              .order_by(HouseholdMember.id)).first()
    education, school = f"me_{member.id}_education", f"me_{member.id}_school"
    status = "已毕业" if member.school_status != "已毕业" else "在读"
    with clock.frozen(LATER):
        late = page(hh.actors["gaoshi"], household_id)
        late.selectbox(key="me_member").set_value(member.id)
        quick = page(hh.actors["jiance"], household_id)
        quick.selectbox(key="me_member").set_value(member.id)
        quick.text_input(key=education).input("高中")
        quick.text_input(key=school).input(status)   # a field the second officer leaves as it was
        quick = submit(quick, "edit_member")
        assert not quick.error, [e.value for e in quick.error]
        late.text_input(key=education).input("初中")
        late = submit(late, "edit_member")
        refused_naming(late, "jiance")
        assert run(engine, lambda s: s.get(HouseholdMember, member.id).education) == "高中"
        assert audited(engine, "hh_edit_member") == [("jiance", member.id)]
        assert late.text_input(key=education).value == "初中"   # what the officer typed is still there,
        shown = [w.value for w in late.text_input if str(w.key).startswith(school)]   # its key is renewed
        assert shown == [status]   # and the field it left shows the other's edit
        late = submit(late, "edit_member")   # seen now: it goes through
        assert not late.error, [e.value for e in late.error]
    with unit_of_work(engine) as session:   # without writing back the school status the form was opened with
        saved = session.get(HouseholdMember, member.id)
        assert (saved.education, saved.school_status) == ("初中", status)
    assert audited(engine, "hh_edit_member") == [("jiance", member.id), ("gaoshi", member.id)]


def test_the_page_refuses_a_rejection_from_a_copy_opened_before_another_officer_recorded_the_visit(engine, hh):  # noqa: F811 - the fixture imported above
    """The township officer has the case open to reject it while the county's officer records the 入户核实 on its own
    page: the rejection, from a copy that never showed the visit, is refused naming who recorded it; the case stays
    verified. Seen, the rejection goes through."""
    case_id = new_clue(engine, hh)
    household_id = run(engine, lambda s: s.get(HouseholdCase, case_id).household_id)
    with clock.frozen(TODAY):
        late = page(hh.actors["gaoshi"], household_id)
        by_label(late.text_area, "field.reason").input("收入高于标准")
        quick = page(hh.actors["jiance"], household_id)
        quick.checkbox(key="v_signed").check()
        quick = submit(quick, f"step_{H.VERIFY}")
        assert not quick.error, [e.value for e in quick.error]
        late = submit(late, "reject")
        refused_naming(late, "jiance")
        assert run(engine, lambda s: s.get(HouseholdCase, case_id).state) == CaseState.VERIFIED
        assert audited(engine, H.VERIFY) == [("jiance", case_id)] and audited(engine, H.REJECT) == []
        late = submit(late, "reject")   # seen now: it goes through
        assert not late.error, [e.value for e in late.error]
    assert run(engine, lambda s: s.get(HouseholdCase, case_id).state) == CaseState.REJECTED
    assert audited(engine, H.REJECT) == [("gaoshi", case_id)]


def test_a_member_added_from_a_stale_copy_is_refused_and_what_was_typed_is_kept(engine, hh):  # noqa: F811 - the fixture imported above
    """The officer fills in a new member while another officer edits the household: refused naming the other, no
    member added, and the form still holds what was typed (it used to be emptied on submit, refused or not: AppTest
    shows that only when it is submitted again, so the retry is what catches it); saved again, it goes through, and
    then the form is empty for the next member."""
    household_id = monitored(engine, hh)
    members_before = run(engine, lambda s: len(s.exec(select(HouseholdMember).where(
        HouseholdMember.household_id == household_id)).all()))
    id_number, born = generated_id("stale-member")
    with clock.frozen(LATER):
        late = page(hh.actors["gaoshi"], household_id)
        late.text_input(key="ma_name").input("石小明")
        late.text_input(key="ma_relation").input("子女")
        late.selectbox(key="ma_sex").set_value("男")
        late.date_input(key="ma_birth").set_value(born)
        late.text_input(key="ma_id").input(id_number)
        quick = page(hh.actors["jiance"], household_id)
        by_label(quick.number_input, "field.hh_income").set_value(12000.0)
        quick = submit(quick, "edit_household")
        late = submit(late, "add_member")
        refused_naming(late, "jiance")
        assert id_number not in texts(late)
        assert [late.text_input(key=k).value for k in ("ma_name", "ma_relation", "ma_id")] == ["石小明", "子女", id_number]
        assert (late.selectbox(key="ma_sex").value, late.date_input(key="ma_birth").value) == ("男", born)
        assert audited(engine, "hh_add_member") == []
        late = submit(late, "add_member")   # seen now: it goes through
        assert not late.error, [e.value for e in late.error]
        assert late.text_input(key="ma_1_name").value == ""   # and the form is empty for the next member
    with unit_of_work(engine) as session:
        added = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household_id)).all()
    assert len(added) == members_before + 1 and "石小明" in [m.name for m in added]
    assert [name for name, _ in audited(engine, "hh_add_member")] == ["gaoshi"]
