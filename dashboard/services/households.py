"""Services of the household monitoring ledger (防返贫监测, issue 22): households and members, the
identification procedure (clue → 入户核实 → 民主评议 → 村内公示 → 乡镇初审 → 县级审定), 帮扶措施, and
风险消除 (入户核实 → 民主评议公示 → 县级审核 → 公告).

Every function takes the session of one unit of work and the acting user, asks the household policy
(``lifecycle.enforce_household``) with the facts read here, writes, records a step of the household's
history and the audit log. ID numbers, phones and health are sealed before they reach a row
(``dashboard.privacy``); the audit log never carries them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, or_
from sqlmodel import Session, select

from dashboard import clock, privacy
from dashboard.errors import Phrase, ValidationFailed
from dashboard.lifecycle import (
    HOUSEHOLD_STATE_OF_CASE,
    OPEN_CASE_STATES,
    Action,
    Actor,
    EliminationFacts,
    HouseholdAction,
    HouseholdFacts,
    Refusal,
    check_role,
    elimination_blockers,
    enforce_household,
    household_refusal,
    identified_by,
)
from dashboard.services.common import apply_changes, audit, check_version, code, get_or_404, require_text
from dashboard.settings import Settings, load_settings
from dashboard.text import clean
from dashboard.vocab import (
    CaseKind,
    CaseState,
    ClueSource,
    EliminationMethod,
    HouseholdState,
    HouseholdType,
    MEMBER_ADDITIONS,
    MEMBER_REMOVALS,
    LabourSkill,
    MemberChangeReason,
    MonitorCategory,
    Risk,
    SupportKind,
    UnitKind,
)
from db.models import (
    Household,
    HouseholdCase,
    HouseholdMember,
    HouseholdRisk,
    HouseholdStep,
    IncomeLine,
    MemberChange,
    SupportMeasure,
    Unit,
    Village,
)

GUARANTEES = ("education", "medical", "housing", "water")  # 三保障 and safe water: Household.<name>_ok
NO_WORK = frozenset({LabourSkill.LOST, LabourSkill.NONE})
INCOME_LINE_RANGE = (1000, 100_000)
FLAG_BAD_CHECK_DIGIT = "id_check_digit"     # an 18-character ID that stdnum.cn.ric refuses
FLAG_TWO_HOUSEHOLDS = "in_two_households"   # the same person listed in two households


@dataclass
class MemberInput:
    name: str
    id_number: str = ""
    id_kind: str = "居民身份证"
    relation: str = "户主"
    sex: str = ""
    birth_date: dt.date | None = None
    education: str = ""
    school_status: str = ""
    health: str = ""
    labour_skill: LabourSkill | str | None = None
    phone: str = ""


@dataclass
class HouseholdInput:
    number: str
    village_id: int
    household_type: HouseholdType | str = HouseholdType.ORDINARY
    members: list[MemberInput] = field(default_factory=list)
    risks: list[Risk | str] = field(default_factory=list)
    income_year: int | None = None
    income_per_capita: float | None = None
    education_ok: bool = True
    medical_ok: bool = True
    housing_ok: bool = True
    water_ok: bool = True


# --- personal data -------------------------------------------------------------------------------------

def sealed_values(data: MemberInput, flags: list[str], sealer: privacy.Sealer | None = None) -> dict[str, Any]:
    """A person's ID, phone and health sealed: cipher, keyed hash, masked form, validity, and ``flags`` with the
    bad-check-digit flag set or cleared. One definition for a member written through the ORM (``seal_member``)
    and for the bulk import's Core rows (which pass the one ``Sealer`` they hold)."""
    sealer = sealer or privacy.sealer()
    id_number = privacy.check_id_length(data.id_number)
    valid = privacy.id_check(id_number) if id_number else True
    return {
        "id_cipher": sealer.seal(id_number, privacy.Field.ID), "id_hash": sealer.match_key(id_number),
        "id_masked": privacy.mask_id(id_number), "id_valid": valid,
        "phone_cipher": sealer.seal(data.phone, privacy.Field.PHONE), "phone_masked": privacy.mask_phone(data.phone),
        "health_cipher": sealer.seal(data.health, privacy.Field.HEALTH),
        "flags": [flag for flag in flags if flag != FLAG_BAD_CHECK_DIGIT] + ([] if valid else [FLAG_BAD_CHECK_DIGIT]),
    }


def seal_member(member: HouseholdMember, data: MemberInput) -> None:
    """Put a person's ID, phone and health on ``member`` sealed: cipher, keyed hash, masked form, validity."""
    for key, value in sealed_values(data, member.flags).items():
        setattr(member, key, value)


def member_values(household_id: int, seq: int, data: MemberInput, sealer: privacy.Sealer | None = None) -> dict[str, Any]:
    """The columns of a new member (``member_row`` for the ORM, the bulk import's Core rows)."""
    skill = LabourSkill(data.labour_skill) if data.labour_skill else None
    return {"household_id": household_id, "seq": seq, "name": require_text(data.name, "field.hh_member_name"),
            "id_kind": clean(data.id_kind), "relation": clean(data.relation), "is_head": clean(data.relation) == "户主",
            "sex": clean(data.sex), "birth_date": data.birth_date, "education": clean(data.education),
            "school_status": clean(data.school_status), "labour_skill": skill,
            **sealed_values(data, [], sealer)}


def member_row(household_id: int, seq: int, data: MemberInput) -> HouseholdMember:
    return HouseholdMember(**member_values(household_id, seq, data))


@dataclass(frozen=True)
class Revealed:
    name: str
    id_number: str
    phone: str


def reveal_member(session: Session, actor: Actor, member_id: int) -> Revealed:
    """The full ID and phone of one person, for a role that needs them; the audit log records who looked at
    whom (never the numbers)."""
    member = get_or_404(session, HouseholdMember, member_id)
    household = get_or_404(session, Household, member.household_id)
    enforce_household(actor, HouseholdAction.REVEAL, facts(session, household))
    audit(session, actor, "reveal_member", member, note=f"{household.number} {member.name}")
    return Revealed(name=member.name, id_number=privacy.unseal(member.id_cipher, privacy.Field.ID),
                    phone=privacy.unseal(member.phone_cipher, privacy.Field.PHONE))


def unsealed_health(member: HouseholdMember) -> str:
    """A person's health status, for a read model that has checked ``HouseholdAction.VIEW_HEALTH``."""
    return privacy.unseal(member.health_cipher, privacy.Field.HEALTH)


def find_person(session: Session, id_number: str) -> list[HouseholdMember]:
    """Everyone recorded under this ID (by the keyed hash: no row is decrypted)."""
    key = privacy.match_key(id_number)
    if key is None:
        return []
    return list(session.exec(select(HouseholdMember).where(HouseholdMember.id_hash == key)).all())


# --- facts the policy reads ----------------------------------------------------------------------------

def township_unit_id(session: Session, township: str) -> int | None:
    return session.exec(select(Unit.id).where(Unit.kind == UnitKind.TOWNSHIP.value, Unit.name == township,
                                              Unit.active.is_(True))).first()


def monitoring_unit_ids(session: Session) -> frozenset[int]:
    return frozenset(session.exec(select(Unit.id).where(Unit.monitoring.is_(True), Unit.active.is_(True))).all())


def open_case(session: Session, household_id: int, *, lock: bool = False) -> HouseholdCase | None:
    statement = select(HouseholdCase).where(HouseholdCase.household_id == household_id,
                                            HouseholdCase.state.in_([s.value for s in OPEN_CASE_STATES]))
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def open_cases(session: Session, household_ids: list[int]) -> dict[int, HouseholdCase]:
    """The open case of each of these households that has one (read once for a chunk of an import)."""
    found: dict[int, HouseholdCase] = {}
    for start in range(0, len(household_ids), 1000):
        for case in session.exec(select(HouseholdCase).where(
                HouseholdCase.household_id.in_(household_ids[start:start + 1000]),
                HouseholdCase.state.in_([s.value for s in OPEN_CASE_STATES]))).all():
            found[case.household_id] = case
    return found


def income_line(session: Session, year: int) -> int | None:
    row = session.get(IncomeLine, year)
    return row.yuan if row else None


def measures_in_force(session: Session, household_id: int, today: dt.date) -> list[SupportMeasure]:
    return list(session.exec(select(SupportMeasure).where(
        SupportMeasure.household_id == household_id, *in_force(today))).all())


# --- 风险消除: its conditions in SQL, one definition for the gate and the queue ---------------------------------
# The gate (``elimination_facts`` → ``lifecycle.elimination_blockers``) reads these facts for one household; the
# 风险消除 queue (``elimination_conditions``) filters every monitored household on the same expressions.

def in_force(today: dt.date) -> tuple:
    """A support measure that runs on ``today``."""
    return (SupportMeasure.start_on <= today, or_(SupportMeasure.end_on.is_(None), SupportMeasure.end_on >= today))


def _new_risk() -> tuple:
    """An open risk added after the household was identified."""
    return (HouseholdRisk.removed_on.is_(None), Household.identified_on.is_not(None),
            HouseholdRisk.added_on > Household.identified_on)


def _worker() -> tuple:
    """A member who can work (整户无劳动能力 is a household without one; a skill not recorded counts as able)."""
    return (or_(HouseholdMember.labour_skill.is_(None), HouseholdMember.labour_skill.not_in([s.value for s in NO_WORK])),)


def _count(model, conditions: tuple = ()):
    return (select(func.count()).where(model.household_id == Household.id, *conditions)
            .correlate(Household).scalar_subquery())


def _exists(model, conditions: tuple = ()):
    return exists().where(model.household_id == Household.id, *conditions)


def _income_year(today: dt.date):
    return func.coalesce(Household.income_year, today.year)


def _income_line(today: dt.date):
    return (select(IncomeLine.yuan).where(IncomeLine.year == _income_year(today)).correlate(Household)
            .scalar_subquery())


def elimination_conditions(today: dt.date, months: int,
                           method: EliminationMethod = EliminationMethod.SUPPORTED) -> list:
    """Every 风险消除 condition as a SQL condition over ``Household``, in the order of ``elimination_blockers``."""
    conditions = [
        Household.identified_on.is_not(None), Household.identified_on <= identified_by(today, months),
        _exists(SupportMeasure, in_force(today)),
        _income_line(today).is_not(None), Household.income_per_capita.is_not(None),
        Household.income_per_capita >= _income_line(today),
        *[getattr(Household, f"{name}_ok").is_(True) for name in GUARANTEES],
        ~_exists(HouseholdRisk, _new_risk()),
    ]
    if method is EliminationMethod.SUPPORTED:
        conditions.append(or_(~_exists(HouseholdMember), _exists(HouseholdMember, _worker())))
    return conditions


def elimination_facts(session: Session, household: Household, today: dt.date,
                      method: EliminationMethod = EliminationMethod.SUPPORTED) -> EliminationFacts:
    row = session.execute(select(
        Household.identified_on, _count(SupportMeasure, in_force(today)), Household.income_per_capita,
        _income_line(today), _income_year(today), *[getattr(Household, f"{name}_ok") for name in GUARANTEES],
        _count(HouseholdRisk, _new_risk()), _count(HouseholdMember), _count(HouseholdMember, _worker()),
    ).where(Household.id == household.id)).one()
    identified_on, measures, income, line, year, *rest = row
    guarantees, (new_risks, members, workers) = rest[:len(GUARANTEES)], rest[len(GUARANTEES):]
    return EliminationFacts(
        identified_on=identified_on, measures_in_force=measures, income_per_capita=income, income_line=line,
        income_year=year, failing_guarantees=tuple(name for name, ok in zip(GUARANTEES, guarantees) if not ok),
        new_risks=new_risks, nobody_can_work=members > 0 and workers == 0, method=method)


def facts(session: Session, household: Household, *, case: HouseholdCase | None = None,
          method: EliminationMethod = EliminationMethod.SUPPORTED, settings: Settings | None = None) -> HouseholdFacts:
    settings = settings or load_settings(session)
    today = clock.today()
    case = case or open_case(session, household.id)
    blockers: tuple = ()
    if household.state in (HouseholdState.MONITORED, HouseholdState.ELIMINATING):
        blockers = tuple(elimination_blockers(elimination_facts(session, household, today, method), today,
                                              settings.eliminate_after_months))
    return HouseholdFacts(
        state=HouseholdState(household.state),
        township_unit_id=township_unit_id(session, household.township),
        monitoring_unit_ids=monitoring_unit_ids(session),
        case_state=CaseState(case.state) if case else None,
        verified_by_id=case.verified_by_id if case else None,
        publicity_over=bool(case and case.publicity_end and case.publicity_end < today),
        elimination=blockers)


# --- history ---------------------------------------------------------------------------------------------

def _step(session: Session, actor: Actor, household: Household, action: HouseholdAction | str, on: dt.date,
          case: HouseholdCase | None = None, note: str = "") -> None:
    session.add(HouseholdStep(household_id=household.id, case_id=case.id if case else None, action=str(action),
                              happened_on=on, user_id=actor.id, username=actor.username, note=note))


def _date(value: dt.date | None, field_key: str) -> dt.date:
    if value is None:
        raise ValidationFailed("error.required", field=Phrase(field_key))
    if value > clock.today():
        raise ValidationFailed("error.hh_future_date", field=Phrase(field_key))
    return value


def _not_before(later: dt.date, earlier: dt.date | None, later_key: str, earlier_key: str) -> None:
    if earlier is not None and later < earlier:
        raise ValidationFailed("error.hh_date_order", later=Phrase(later_key), earlier=Phrase(earlier_key))


# The order of a case's steps, in one place: a step is dated no earlier than the step that brought the case to its
# present state (``STATE_DATE``: the case's column holding that date, and its label), and 初审 and 县级审核 fall
# after the end of the 公示 they wait for (the same "over" as ``facts``' ``publicity_over``: the end has passed).
STATE_DATE: dict[CaseState, tuple[str, str]] = {
    CaseState.CLUE: ("received_on", "field.hh_received_on"),
    CaseState.VERIFIED: ("verified_on", "field.hh_visited_on"),
    CaseState.REVIEWED: ("reviewed_on", "field.hh_reviewed_on"),
    CaseState.PUBLICIZED: ("publicity_start", "field.hh_publicity_start"),
    CaseState.TOWNSHIP_APPROVED: ("township_on", "field.hh_township_on"),
    CaseState.ELIM_VERIFIED: ("verified_on", "field.hh_visited_on"),
    CaseState.ELIM_PUBLICIZED: ("publicity_start", "field.hh_publicity_start"),
    CaseState.ELIM_APPROVED: ("county_on", "field.hh_county_on"),
}
AFTER_PUBLICITY = frozenset({HouseholdAction.TOWNSHIP_REVIEW, HouseholdAction.ELIM_REVIEW})
STEP_DATE_FIELD: dict[HouseholdAction, str] = {  # the label of each step's own date
    HouseholdAction.VERIFY: "field.hh_visited_on",
    HouseholdAction.DEMOCRATIC_REVIEW: "field.hh_reviewed_on",
    HouseholdAction.PUBLICIZE: "field.hh_publicity_start",
    HouseholdAction.TOWNSHIP_REVIEW: "field.hh_township_on",
    HouseholdAction.COUNTY_DECIDE: "field.hh_county_on",
    HouseholdAction.REJECT: "field.hh_decided_on",
    HouseholdAction.ELIM_PUBLICIZE: "field.hh_publicity_start",
    HouseholdAction.ELIM_REVIEW: "field.hh_county_on",
    HouseholdAction.ELIM_ANNOUNCE: "field.hh_decided_on",
}


def _step_in_order(case: HouseholdCase, action: HouseholdAction, on: dt.date) -> None:
    """Refuses a step of ``case`` dated before the step it follows (or, for 初审 and 县级审核, not after the 公示)."""
    label = STEP_DATE_FIELD[action]
    if action in AFTER_PUBLICITY and case.publicity_end is not None and on <= case.publicity_end:
        raise ValidationFailed("error.hh_after_publicity", later=Phrase(label), on=on.isoformat(),
                               end=case.publicity_end.isoformat())
    column, earlier_label = STATE_DATE[CaseState(case.state)]
    earlier = getattr(case, column)
    if earlier is not None and on < earlier:
        raise ValidationFailed("error.hh_step_order", later=Phrase(label), on=on.isoformat(),
                               earlier=Phrase(earlier_label), earlier_on=earlier.isoformat())


# --- households --------------------------------------------------------------------------------------------

def new_household(session: Session, data: HouseholdInput) -> Household:
    """A household row and its members and risks (no policy: callers check who may create it)."""
    number = require_text(data.number, "field.hh_number")
    if session.exec(select(Household.id).where(Household.number == number)).first() is not None:
        raise ValidationFailed("error.hh_number_taken", number=number)
    village = get_or_404(session, Village, data.village_id)
    head = next((m for m in data.members if clean(m.relation) == "户主"), data.members[0] if data.members else None)
    household = Household(
        number=number, county=village.county, township=village.township, village_id=village.id,
        household_type=code(HouseholdType, data.household_type, "field.hh_type"),
        head_name=clean(head.name) if head else "", income_year=data.income_year,
        income_per_capita=data.income_per_capita, education_ok=data.education_ok, medical_ok=data.medical_ok,
        housing_ok=data.housing_ok, water_ok=data.water_ok, flags=[])
    session.add(household)
    session.flush()
    for seq, member in enumerate(data.members, start=1):
        session.add(member_row(household.id, seq, member))
    for risk in dict.fromkeys(data.risks):
        session.add(HouseholdRisk(household_id=household.id, kind=code(Risk, risk, "field.hh_risk"),
                                  added_on=clock.today()))
    return household


def _locked_household(session: Session, household_id: int) -> Household:
    return get_or_404(session, Household, household_id, lock=True)


def _check_household_version(session: Session, household: Household, expected_version: int | None) -> None:
    """``check_version`` for a household: its version also counts changes the audit log records on its cases, members
    and risks, so the stale-copy message names who made the household's last step (its history), not whoever its
    own last audit entry names."""
    check_version(session, household, expected_version, history=select(HouseholdStep)
                  .where(HouseholdStep.household_id == household.id).order_by(HouseholdStep.id.desc()))


def _set_household_state(household: Household, state: HouseholdState) -> None:
    household.state = state.value
    household.updated_at = clock.now()
    household.version += 1


# --- identification ----------------------------------------------------------------------------------------

def register_clue(session: Session, actor: Actor, *, source: ClueSource | str, received_on: dt.date, text: str,
                  household_id: int | None = None, new: HouseholdInput | None = None,
                  category: MonitorCategory | str | None = None) -> HouseholdCase:
    """线索: on a household of the ledger (返贫 / 风险消除回退 when it was eliminated) or on a new one. The clock
    starts on ``received_on``: the decision is due ``identify_days`` later."""
    settings = load_settings(session)
    received_on = _date(received_on, "field.hh_received_on")
    text = require_text(text, "field.hh_clue_text")
    source = code(ClueSource, source, "field.hh_clue_source")
    proposed = code(MonitorCategory, category, "field.hh_category") if category else None
    if new is not None:
        village = get_or_404(session, Village, new.village_id)
        probe = Household(number=new.number, township=village.township, village_id=village.id)
        enforce_household(actor, HouseholdAction.RECEIVE_CLUE, HouseholdFacts(
            state=HouseholdState.NOT_MONITORED, township_unit_id=township_unit_id(session, probe.township),
            monitoring_unit_ids=monitoring_unit_ids(session)))
        household = new_household(session, new)
        audit(session, actor, "create_household", household, new={"number": household.number,
                                                                    "village_id": household.village_id})
    else:
        household = _locked_household(session, household_id)
    before = HouseholdState(household.state)
    target = enforce_household(actor, HouseholdAction.RECEIVE_CLUE, facts(session, household, settings=settings))
    if before is HouseholdState.ELIMINATED:   # 返贫: the clue follows the 公告 that eliminated the risk
        _not_before(received_on, household.eliminated_on, "field.hh_received_on", "field.hh_eliminated_on")
    case = HouseholdCase(household_id=household.id, kind=CaseKind.IDENTIFY.value, state=target.value,
                         is_return=before is HouseholdState.ELIMINATED, source=source.value, clue_text=text,
                         received_on=received_on, due_on=received_on + dt.timedelta(days=settings.identify_days),
                         category=proposed.value if proposed else None, created_by_id=actor.id)
    session.add(case)
    _set_household_state(household, HouseholdState.IDENTIFYING)
    session.flush()
    _step(session, actor, household, HouseholdAction.RECEIVE_CLUE, received_on, case, note=text)
    audit(session, actor, HouseholdAction.RECEIVE_CLUE, case,
          new={"household": household.number, "source": source.value, "received_on": received_on.isoformat(),
               "is_return": case.is_return})
    return case


def _advance(session: Session, actor: Actor, case_id: int, action: HouseholdAction, expected_version: int | None,
             on: dt.date, changes: dict[str, Any], note: str = "",
             method: EliminationMethod = EliminationMethod.SUPPORTED) -> HouseholdCase:
    """One step of an open case: lock it, refuse a stale copy, ask the policy, write the step."""
    case = get_or_404(session, HouseholdCase, case_id, lock=True)
    check_version(session, case, expected_version)
    household = _locked_household(session, case.household_id)
    target = enforce_household(actor, action, facts(session, household, case=case, method=method))
    assert target is not None, "every step of an open case moves it"
    _step_in_order(case, action, on)
    old, new = apply_changes(case, {**changes, "state": target.value})
    state = HOUSEHOLD_STATE_OF_CASE[target] or state_before(household, case)
    _set_household_state(household, state)
    _step(session, actor, household, action, on, case, note=note)
    audit(session, actor, action, case, old=old, new=new, note=note)
    return case


def state_before(household: Household, case: HouseholdCase) -> HouseholdState:
    """Where the household stood before ``case`` (where a refused case leaves it; what an import compares with)."""
    if case.kind == CaseKind.ELIMINATE.value:
        return HouseholdState.MONITORED
    return HouseholdState.ELIMINATED if household.eliminated_on else HouseholdState.NOT_MONITORED


def record_visit(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                 visited_on: dt.date, consent_on: dt.date | None, note: str = "") -> HouseholdCase:
    """入户核实, with the household's 承诺授权 (consent to the checks of its data)."""
    visited_on = _date(visited_on, "field.hh_visited_on")
    if consent_on is None:
        raise ValidationFailed("error.hh_no_consent")
    consent_on = _date(consent_on, "field.hh_consent_on")
    return _advance(session, actor, case_id, HouseholdAction.VERIFY, expected_version, visited_on,
                    {"verified_on": visited_on, "consent_on": consent_on, "verified_by_id": actor.id}, clean(note))


def record_review(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                  reviewed_on: dt.date, note: str = "") -> HouseholdCase:
    """民主评议."""
    reviewed_on = _date(reviewed_on, "field.hh_reviewed_on")
    return _advance(session, actor, case_id, HouseholdAction.DEMOCRATIC_REVIEW, expected_version, reviewed_on,
                    {"reviewed_on": reviewed_on}, clean(note))


def _publicity_dates(session: Session, start: dt.date, end: dt.date) -> None:
    """The 公示's own dates (its start after the step before it is ``_step_in_order``'s)."""
    days = load_settings(session).publicity_days
    if start is None or end is None:
        raise ValidationFailed("error.required", field=Phrase("field.hh_publicity"))
    _not_before(end, start, "field.hh_publicity_end", "field.hh_publicity_start")
    if (end - start).days + 1 < days:
        raise ValidationFailed("error.hh_publicity_short", days=days, start=start.isoformat(), end=end.isoformat())


def record_publicity(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                     start: dt.date, end: dt.date) -> HouseholdCase:
    """村内公示: once, at least ``publicity_days`` days (the end may lie ahead; 初审 waits for it)."""
    start = _date(start, "field.hh_publicity_start")
    _publicity_dates(session, start, end)
    return _advance(session, actor, case_id, HouseholdAction.PUBLICIZE, expected_version, start,
                    {"publicity_start": start, "publicity_end": end}, f"{start.isoformat()} – {end.isoformat()}")


def township_review(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                    on: dt.date, category: MonitorCategory | str, note: str = "") -> HouseholdCase:
    """乡镇初审: passes the case to the county with the proposed category."""
    on = _date(on, "field.hh_township_on")
    proposed = code(MonitorCategory, category, "field.hh_category")
    return _advance(session, actor, case_id, HouseholdAction.TOWNSHIP_REVIEW, expected_version, on,
                    {"township_on": on, "township_by_id": actor.id, "category": proposed.value}, clean(note))


def county_decide(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                  on: dt.date, category: MonitorCategory | str) -> HouseholdCase:
    """县级审定: the household is monitored from ``on`` in ``category``."""
    on = _date(on, "field.hh_county_on")
    decided = code(MonitorCategory, category, "field.hh_category")
    case = _advance(session, actor, case_id, HouseholdAction.COUNTY_DECIDE, expected_version, on,
                    {"county_on": on, "county_by_id": actor.id, "decided_on": on, "category": decided.value})
    household = get_or_404(session, Household, case.household_id)
    old, new = apply_changes(household, {"category": decided.value, "identified_on": on, "eliminated_on": None,
                                         "elimination_method": None})
    audit(session, actor, "include_household", household, old=old, new=new)
    return case


def reject(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
           on: dt.date, reason: str) -> HouseholdCase:
    """不予纳入 (or 不予消除), with the reason; the household goes back where it stood."""
    on = _date(on, "field.hh_decided_on")
    reason = require_text(reason, "field.reason")
    return _advance(session, actor, case_id, HouseholdAction.REJECT, expected_version, on,
                    {"decided_on": on, "reason": reason}, reason)


# --- 帮扶措施, income and risks --------------------------------------------------------------------------------

def add_measure(session: Session, actor: Actor, household_id: int, *, kind: SupportKind | str, text: str,
                unit_name: str, start_on: dt.date, end_on: dt.date | None = None) -> SupportMeasure:
    household = _locked_household(session, household_id)
    enforce_household(actor, HouseholdAction.ADD_MEASURE, facts(session, household))
    kind = code(SupportKind, kind, "field.hh_measure_kind")
    text = require_text(text, "field.hh_measure_text")
    if start_on is None:
        raise ValidationFailed("error.required", field=Phrase("field.hh_measure_start"))
    if end_on is not None:
        _not_before(end_on, start_on, "field.hh_measure_end", "field.hh_measure_start")
    measure = SupportMeasure(household_id=household.id, kind=kind.value, text=text, unit_name=clean(unit_name),
                             start_on=start_on, end_on=end_on, created_by_id=actor.id)
    session.add(measure)
    session.flush()
    _step(session, actor, household, HouseholdAction.ADD_MEASURE, start_on, note=f"{kind.value}: {text}")
    audit(session, actor, HouseholdAction.ADD_MEASURE, measure,
          new={"household": household.number, "kind": kind.value, "text": text, "start_on": start_on.isoformat()})
    return measure


def end_measure(session: Session, actor: Actor, measure_id: int, expected_version: int | None, *,
                end_on: dt.date) -> SupportMeasure:
    """A measure's end: a stale copy refused (the measure's version), so an end date another officer has just set
    (one still ahead, which leaves the measure running) is never overwritten silently."""
    measure = get_or_404(session, SupportMeasure, measure_id, lock=True)
    check_version(session, measure, expected_version)
    household = _locked_household(session, measure.household_id)
    enforce_household(actor, HouseholdAction.END_MEASURE, facts(session, household))
    if measure.end_on is not None and measure.end_on <= clock.today():
        raise ValidationFailed("error.hh_measure_ended")
    _not_before(end_on, measure.start_on, "field.hh_measure_end", "field.hh_measure_start")
    old, new = apply_changes(measure, {"end_on": end_on})
    _step(session, actor, household, HouseholdAction.END_MEASURE, end_on, note=measure.text)
    audit(session, actor, HouseholdAction.END_MEASURE, measure, old=old, new=new)
    return measure


@dataclass
class HouseholdUpdate:
    """The figures a township officer updates after a visit (None: unchanged)."""

    income_year: int | None = None
    income_per_capita: float | None = None
    education_ok: bool | None = None
    medical_ok: bool | None = None
    housing_ok: bool | None = None
    water_ok: bool | None = None


def update_household(session: Session, actor: Actor, household_id: int, expected_version: int | None,
                     update: HouseholdUpdate) -> Household:
    household = _locked_household(session, household_id)
    _check_household_version(session, household, expected_version)
    enforce_household(actor, HouseholdAction.EDIT_HOUSEHOLD, facts(session, household))
    changes = {key: value for key, value in vars(update).items() if value is not None}
    if "income_per_capita" in changes and changes["income_per_capita"] < 0:
        raise ValidationFailed("error.hh_negative", field=Phrase("field.hh_income"))
    old, new = apply_changes(household, changes)
    if new:
        household.updated_at = clock.now()
        _step(session, actor, household, HouseholdAction.EDIT_HOUSEHOLD, clock.today(),
              note=", ".join(f"{key}={value}" for key, value in new.items()))
        audit(session, actor, HouseholdAction.EDIT_HOUSEHOLD, household, old=old, new=new)
    return household


def add_risk(session: Session, actor: Actor, household_id: int, *, kind: Risk | str, added_on: dt.date,
             note: str = "") -> HouseholdRisk:
    household = _locked_household(session, household_id)
    enforce_household(actor, HouseholdAction.EDIT_HOUSEHOLD, facts(session, household))
    kind = code(Risk, kind, "field.hh_risk")
    added_on = _date(added_on, "field.hh_risk_added_on")
    risk = HouseholdRisk(household_id=household.id, kind=kind.value, added_on=added_on, note=clean(note))
    session.add(risk)
    session.flush()
    _step(session, actor, household, "hh_add_risk", added_on, note=kind.value)
    audit(session, actor, "hh_add_risk", risk, new={"household": household.number, "kind": kind.value,
                                                    "added_on": added_on.isoformat()})
    return risk


def remove_risk(session: Session, actor: Actor, risk_id: int, expected_version: int | None, *,
                removed_on: dt.date) -> HouseholdRisk:
    """A risk ended on ``removed_on``: a stale copy refused (the household's version: a risk has none, and its
    removal counts one on the household, as a member added does), a risk already removed refused, so a second
    officer never overwrites the first one's date."""
    risk = get_or_404(session, HouseholdRisk, risk_id, lock=True)
    household = _locked_household(session, risk.household_id)
    _check_household_version(session, household, expected_version)
    enforce_household(actor, HouseholdAction.EDIT_HOUSEHOLD, facts(session, household))
    if risk.removed_on is not None:
        raise ValidationFailed("error.hh_risk_removed", on=risk.removed_on.isoformat())
    removed_on = _date(removed_on, "field.hh_risk_removed_on")
    _not_before(removed_on, risk.added_on, "field.hh_risk_removed_on", "field.hh_risk_added_on")
    old, new = apply_changes(risk, {"removed_on": removed_on})
    household.updated_at = clock.now()
    household.version += 1
    _step(session, actor, household, "hh_remove_risk", removed_on, note=risk.kind)
    audit(session, actor, "hh_remove_risk", risk, old=old, new=new)
    return risk


# --- 人口变动: members who join or leave (the bulletin's 自然增加 and 自然减少) ---------------------------------

def note_member_change(session: Session, actor: Actor, household: Household, reason: MemberChangeReason,
                       happened_on: dt.date, name: str) -> MemberChange:
    """Record that a person joined or left ``household`` (by hand, or found by an import)."""
    change = MemberChange(household_id=household.id, reason=reason.value, happened_on=happened_on, name=clean(name)[:60],
                          recorded_by_id=actor.id)
    session.add(change)
    _step(session, actor, household, "hh_member_change", happened_on, note=f"{reason.value} {change.name}")
    return change


def record_member_change(session: Session, actor: Actor, household_id: int, *, reason: MemberChangeReason | str,
                         happened_on: dt.date, new_member: MemberInput | None = None,
                         member_id: int | None = None) -> MemberChange:
    """A person joins the household (出生、婚入、迁入: ``new_member``) or leaves it (死亡、婚出、迁出: ``member_id``)."""
    household = _locked_household(session, household_id)
    enforce_household(actor, HouseholdAction.EDIT_HOUSEHOLD, facts(session, household))
    reason = code(MemberChangeReason, reason, "field.hh_member_change")
    happened_on = _date(happened_on, "field.hh_member_change_on")
    if reason in MEMBER_ADDITIONS:
        if new_member is None:
            raise ValidationFailed("error.required", field=Phrase("field.hh_member_name"))
        seqs = session.exec(select(HouseholdMember.seq).where(HouseholdMember.household_id == household.id)).all()
        member = member_row(household.id, max(seqs, default=0) + 1, new_member)
        session.add(member)
        name = member.name
    else:
        leaving = session.get(HouseholdMember, member_id) if member_id is not None else None
        if leaving is None or leaving.household_id != household.id or reason not in MEMBER_REMOVALS:
            raise ValidationFailed("error.hh_member_not_here")
        if leaving.is_head:
            raise ValidationFailed("error.hh_member_head_leaves")
        name = leaving.name
        session.delete(leaving)
    change = note_member_change(session, actor, household, reason, happened_on, name)
    household.updated_at = clock.now()
    audit(session, actor, "hh_member_change", change, new={"household": household.number, "reason": reason.value,
                                                           "happened_on": happened_on.isoformat()})
    return change


# --- 风险消除 ----------------------------------------------------------------------------------------------------

def start_elimination(session: Session, actor: Actor, household_id: int, *, visited_on: dt.date,
                      method: EliminationMethod | str, note: str = "") -> HouseholdCase:
    """风险消除 入户核实: refused unless every condition holds (``lifecycle.elimination_blockers``)."""
    visited_on = _date(visited_on, "field.hh_visited_on")
    method = code(EliminationMethod, method, "field.hh_elimination_method")
    household = _locked_household(session, household_id)
    target = enforce_household(actor, HouseholdAction.ELIM_VERIFY, facts(session, household, method=method))
    _not_before(visited_on, household.identified_on, "field.hh_visited_on", "hh.identified_on")
    case = HouseholdCase(household_id=household.id, kind=CaseKind.ELIMINATE.value, state=target.value,
                         received_on=visited_on, verified_on=visited_on, verified_by_id=actor.id,
                         clue_text=clean(note), reason=method.value, created_by_id=actor.id,
                         category=household.category)
    session.add(case)
    _set_household_state(household, HouseholdState.ELIMINATING)
    session.flush()
    _step(session, actor, household, HouseholdAction.ELIM_VERIFY, visited_on, case, note=clean(note))
    audit(session, actor, HouseholdAction.ELIM_VERIFY, case,
          new={"household": household.number, "method": method.value, "visited_on": visited_on.isoformat()})
    return case


def record_elimination_publicity(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                                 start: dt.date, end: dt.date) -> HouseholdCase:
    """风险消除 民主评议公示."""
    start = _date(start, "field.hh_publicity_start")
    _publicity_dates(session, start, end)
    return _advance(session, actor, case_id, HouseholdAction.ELIM_PUBLICIZE, expected_version, start,
                    {"reviewed_on": start, "publicity_start": start, "publicity_end": end},
                    f"{start.isoformat()} – {end.isoformat()}")


def _method(case: HouseholdCase) -> EliminationMethod:
    return EliminationMethod(case.reason) if case.reason in set(EliminationMethod) else EliminationMethod.SUPPORTED


def review_elimination(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                       on: dt.date) -> HouseholdCase:
    """风险消除 县级审核: the conditions are checked again (a risk may have been added meanwhile)."""
    on = _date(on, "field.hh_county_on")
    case = get_or_404(session, HouseholdCase, case_id)
    return _advance(session, actor, case_id, HouseholdAction.ELIM_REVIEW, expected_version, on,
                    {"county_on": on, "county_by_id": actor.id}, method=_method(case))


def announce_elimination(session: Session, actor: Actor, case_id: int, expected_version: int | None, *,
                         on: dt.date) -> HouseholdCase:
    """风险消除 公告: the household's risk is eliminated from ``on``; the conditions are checked once more."""
    on = _date(on, "field.hh_decided_on")
    case = get_or_404(session, HouseholdCase, case_id)
    case = _advance(session, actor, case_id, HouseholdAction.ELIM_ANNOUNCE, expected_version, on, {"decided_on": on},
                    method=_method(case))
    household = get_or_404(session, Household, case.household_id)
    old, new = apply_changes(household, {"eliminated_on": on, "elimination_method": _method(case).value})
    audit(session, actor, "eliminate_household", household, old=old, new=new)
    return case


# --- the income line ------------------------------------------------------------------------------------------

def set_income_line(session: Session, actor: Actor, year: int, yuan: int) -> IncomeLine:
    """监测收入标准 of one year (yuan per person per year), set by the administrator."""
    check_role(actor, Action.MANAGE_SETTINGS)
    low, high = INCOME_LINE_RANGE
    if not isinstance(yuan, int) or not low <= yuan <= high:
        raise ValidationFailed("error.hh_income_line", low=low, high=high)
    row = session.get(IncomeLine, year)
    old = {"yuan": row.yuan} if row else None
    if row is None:
        row = IncomeLine(year=year, yuan=yuan, set_by_id=actor.id)
    else:
        row.yuan, row.set_by_id, row.set_at = yuan, actor.id, clock.now()
    session.add(row)
    audit(session, actor, "set_income_line", row, old=old, new={"year": year, "yuan": yuan})
    return row



def income_lines(session: Session) -> list[IncomeLine]:
    """Every year's 监测收入标准, the latest year first (the administration page lists them)."""
    return list(session.exec(select(IncomeLine).order_by(IncomeLine.year.desc())).all())


# --- members entered and edited by hand (the township officer at 入户核实) ----------------------------------------

@dataclass
class MemberUpdate:
    """A member's fields as the household page edits them; None leaves a field as it is. The page shows the ID and
    the phone masked, so ``id_number`` and ``phone`` are typed anew to change them (empty: unchanged)."""

    name: str | None = None
    relation: str | None = None
    sex: str | None = None
    birth_date: dt.date | None = None
    education: str | None = None
    school_status: str | None = None
    labour_skill: LabourSkill | str | None = None   # "" clears it
    health: str | None = None
    id_kind: str | None = None
    id_number: str | None = None
    phone: str | None = None


HEAD = "户主"
SEALED_MARK = "***"   # what the audit log says of a health status that changed (never the status)


def _refuse_second_head(session: Session, household_id: int, relation: str, member_id: int | None = None) -> None:
    if clean(relation) != HEAD:
        return
    statement = select(HouseholdMember.id).where(HouseholdMember.household_id == household_id,
                                                 HouseholdMember.is_head.is_(True))
    if member_id is not None:
        statement = statement.where(HouseholdMember.id != member_id)
    if session.exec(statement).first() is not None:
        raise ValidationFailed("error.hh_two_heads")


def _refuse_same_person(session: Session, household_id: int, id_number: str, member_id: int | None = None) -> None:
    key = privacy.match_key(id_number)
    if key is None:
        return
    statement = select(HouseholdMember.id).where(HouseholdMember.household_id == household_id,
                                                 HouseholdMember.id_hash == key)
    if member_id is not None:
        statement = statement.where(HouseholdMember.id != member_id)
    if session.exec(statement).first() is not None:
        raise ValidationFailed("error.hh_member_twice")


def _flag_two_households(session: Session, member: HouseholdMember) -> None:
    """The import's flag for a person listed in two households, set (or cleared) for a member entered by hand and
    set on the other entries of the same person."""
    others = [] if member.id_hash is None else list(session.exec(select(HouseholdMember).where(
        HouseholdMember.id_hash == member.id_hash, HouseholdMember.household_id != member.household_id)).all())
    for person in [member, *others]:
        wanted = [f for f in person.flags if f != FLAG_TWO_HOUSEHOLDS] + ([FLAG_TWO_HOUSEHOLDS] if others else [])
        if wanted != person.flags:
            person.flags = wanted


def _described(member: HouseholdMember) -> dict[str, Any]:
    """What the audit log says of a new member: no clear ID, phone or health, only the masked forms."""
    return {"name": member.name, "relation": member.relation, "sex": member.sex,
            "birth_date": member.birth_date.isoformat() if member.birth_date else None,
            "labour_skill": member.labour_skill, "education": member.education, "school_status": member.school_status,
            "id_masked": member.id_masked, "phone_masked": member.phone_masked}


def add_member(session: Session, actor: Actor, household_id: int, expected_version: int | None,
               data: MemberInput) -> HouseholdMember:
    """A member entered by hand (a household registered from a clue has only its head): the household's edit action,
    ID checked as the import checks it, sealed, and audited with the masked forms only. Not a 人口变动 (birth,
    marriage, moving: ``record_member_change``), so the bulletin's 自然增加 does not count it."""
    household = _locked_household(session, household_id)
    _check_household_version(session, household, expected_version)
    enforce_household(actor, HouseholdAction.EDIT_HOUSEHOLD, facts(session, household))
    id_number = privacy.check_id_length(data.id_number)
    _refuse_second_head(session, household.id, data.relation)
    _refuse_same_person(session, household.id, id_number)
    seqs = session.exec(select(HouseholdMember.seq).where(HouseholdMember.household_id == household.id)).all()
    member = member_row(household.id, max(seqs, default=0) + 1,
                        MemberInput(**{**vars(data), "id_number": id_number}))
    session.add(member)
    session.flush()
    _flag_two_households(session, member)
    if member.is_head:
        household.head_name = member.name
    household.updated_at = clock.now()
    household.version += 1
    _step(session, actor, household, "hh_add_member", clock.today(), note=member.name)
    audit(session, actor, "hh_add_member", member, new={"household": household.number, **_described(member)})
    return member


def edit_member(session: Session, actor: Actor, member_id: int, expected_version: int | None,
                update: MemberUpdate) -> HouseholdMember:
    """A member's details corrected at 入户核实 (labour skill, health, education, relation …): the household's edit
    action, a stale copy refused (the member's version), the ID checked as the import checks it and sealed; the
    audit log names what changed with the masked ID and phone, and of health only that it changed."""
    member = get_or_404(session, HouseholdMember, member_id, lock=True)
    household = _locked_household(session, member.household_id)
    check_version(session, member, expected_version)
    enforce_household(actor, HouseholdAction.EDIT_HOUSEHOLD, facts(session, household))
    changes: dict[str, Any] = {}
    if update.name is not None:
        changes["name"] = require_text(update.name, "field.hh_member_name")
    for key in ("relation", "sex", "education", "school_status", "id_kind"):
        value = getattr(update, key)
        if value is not None:
            changes[key] = clean(value)
    if update.birth_date is not None:
        changes["birth_date"] = _date(update.birth_date, "hh.col_birth")
    if update.labour_skill is not None:
        changes["labour_skill"] = code(LabourSkill, update.labour_skill, "hh.col_skill").value if update.labour_skill else None
    if "relation" in changes:
        if member.is_head and changes["relation"] != HEAD:
            raise ValidationFailed("error.hh_head_relation")
        _refuse_second_head(session, household.id, changes["relation"], member.id)
        changes["is_head"] = changes["relation"] == HEAD
    old, new = apply_changes(member, changes)
    counted = bool(new)   # apply_changes counted a version
    old.pop("is_head", None), new.pop("is_head", None)
    sealer = privacy.sealer()
    if update.id_number:
        id_number = privacy.check_id_length(update.id_number)
        if sealer.match_key(id_number) != member.id_hash:
            _refuse_same_person(session, household.id, id_number, member.id)
            old["id_masked"] = member.id_masked
            sealed = sealed_values(MemberInput(name=member.name, id_number=id_number), member.flags, sealer)
            for key in ("id_cipher", "id_hash", "id_masked", "id_valid", "flags"):
                setattr(member, key, sealed[key])
            new["id_masked"] = member.id_masked
            _flag_two_households(session, member)
    if update.phone and privacy.normalise(update.phone) != sealer.unseal(member.phone_cipher, privacy.Field.PHONE):
        old["phone_masked"] = member.phone_masked
        member.phone_cipher = sealer.seal(update.phone, privacy.Field.PHONE)
        member.phone_masked = new["phone_masked"] = privacy.mask_phone(update.phone)
    if update.health is not None and update.health.strip() != sealer.unseal(member.health_cipher, privacy.Field.HEALTH):
        member.health_cipher = sealer.seal(update.health, privacy.Field.HEALTH)
        old["health"] = new["health"] = SEALED_MARK
    if not new:
        return member
    if not counted:   # only sealed fields changed
        member.version += 1
    if member.is_head and "name" in new:
        household.head_name = member.name
    household.updated_at = clock.now()
    _step(session, actor, household, "hh_edit_member", clock.today(), note=f"{member.name}: {', '.join(new)}")
    audit(session, actor, "hh_edit_member", member, old=old, new=new, note=household.number)
    return member


# --- 风险消除 by either method: 帮扶消除 or 自然消除 ----------------------------------------------------------------

@dataclass(frozen=True)
class EliminationOption:
    method: EliminationMethod
    refusal: Refusal | None          # None: this actor may start 风险消除 with this method now
    blockers: tuple[Refusal, ...]    # the conditions that do not hold with this method


def elimination_options(session: Session, actor: Actor, household: Household,
                        settings: Settings | None = None) -> list[EliminationOption]:
    """风险消除 入户核实 asked of the policy once per method (``elimination_blockers`` judges each): the household
    page offers the start when either passes, with the methods that pass."""
    settings = settings or load_settings(session)
    options = []
    for method in EliminationMethod:
        method_facts = facts(session, household, method=method, settings=settings)
        options.append(EliminationOption(method, household_refusal(actor, HouseholdAction.ELIM_VERIFY, method_facts),
                                         method_facts.elimination))
    return options


# The method whose conditions every method shares: ``elimination_blockers`` adds one of its own to 帮扶消除 only
# (整户无劳动能力), so a household that may be eliminated by some method is one that meets 自然消除's conditions
# (tests/test_household_forms.py holds this against the policy).
FEWEST_CONDITIONS = EliminationMethod.NATURAL


def eliminable_conditions(today: dt.date, months: int) -> list:
    """The 风险消除 queue's filter: monitored households that may be eliminated by either method today."""
    return elimination_conditions(today, months, FEWEST_CONDITIONS)


def reveal_household(session: Session, actor: Actor, household_id: int) -> list[Revealed]:
    """The full IDs and phones of every member of one household (one click on the household page); each person's
    look is audited as ``reveal_member`` audits it (never the numbers)."""
    household = get_or_404(session, Household, household_id)
    enforce_household(actor, HouseholdAction.REVEAL, facts(session, household))
    members = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household.id)
                           .order_by(HouseholdMember.seq)).all()
    sealer = privacy.sealer()
    for member in members:
        audit(session, actor, "reveal_member", member, note=f"{household.number} {member.name}")
    return [Revealed(name=member.name, id_number=sealer.unseal(member.id_cipher, privacy.Field.ID),
                     phone=sealer.unseal(member.phone_cipher, privacy.Field.PHONE)) for member in members]
