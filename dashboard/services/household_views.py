"""Read models of the household ledger: the list with its filters, one household's page, the 线索 inbox with
its clock, and the 风险消除 queue. Typed dataclasses; ID and phone only masked; health only for roles that act
on the household (``lifecycle.HouseholdAction.VIEW_HEALTH``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import exists, func
from sqlmodel import Session, select

from dashboard import clock, lights
from dashboard.lifecycle import (
    CLOCKED_CASE_STATES,
    Actor,
    HouseholdAction,
    HouseholdFacts,
    Refusal,
    check_household_role,
    household_actions,
)
from dashboard.services import households
from dashboard.services.common import get_or_404
from dashboard.settings import Settings, load_settings
from dashboard.vocab import HouseholdState, Light, Role
from db.models import (
    Household,
    HouseholdCase,
    HouseholdMember,
    HouseholdRisk,
    HouseholdStep,
    SupportMeasure,
    Unit,
    User,
    Village,
)

PAGE_SIZE = 50


@dataclass(frozen=True)
class HouseholdFilter:
    township: str | None = None
    village_id: int | None = None
    category: str | None = None
    risk: str | None = None
    state: str | None = None
    light: str | None = None      # the light of the household's open clue
    number: str | None = None     # 户编号 begins with


@dataclass(frozen=True)
class HouseholdRow:
    id: int
    number: str
    township: str
    village: str
    head_name: str
    household_type: str
    category: str | None
    state: str
    persons: int
    identified_on: dt.date | None
    light: str


def own_township(session: Session, actor: Actor) -> str | None:
    """A 乡镇 officer's township (the name of its unit); None for every other role."""
    if actor.role != Role.TOWNSHIP or actor.unit_id is None:
        return None
    return session.exec(select(Unit.name).where(Unit.id == actor.unit_id)).first()


def _open_clue_light(today: dt.date, settings: Settings):
    """The light of a household's clue on the clock, as a scalar subquery (closed when there is none)."""
    light = (select(lights.clue_light(today, settings))
             .where(HouseholdCase.household_id == Household.id,
                    HouseholdCase.state.in_([s.value for s in CLOCKED_CASE_STATES]))
             .limit(1).scalar_subquery())
    return func.coalesce(light, Light.CLOSED.value)


def _filtered(statement, flt: HouseholdFilter, light_column):
    if flt.township:
        statement = statement.where(Household.township == flt.township)
    if flt.village_id:
        statement = statement.where(Household.village_id == flt.village_id)
    if flt.category:
        statement = statement.where(Household.category == flt.category)
    if flt.state:
        statement = statement.where(Household.state == flt.state)
    if flt.number:
        statement = statement.where(Household.number.startswith(flt.number.strip()))
    if flt.risk:
        statement = statement.where(exists().where(HouseholdRisk.household_id == Household.id,
                                                   HouseholdRisk.kind == flt.risk, HouseholdRisk.removed_on.is_(None)))
    if flt.light:
        clocked = select(HouseholdCase.household_id).where(
            HouseholdCase.state.in_([s.value for s in CLOCKED_CASE_STATES]))
        # a light other than "closed" needs a clue on the clock: the few such households first, then their light
        on_clock = Household.id.not_in(clocked) if flt.light == Light.CLOSED.value else Household.id.in_(clocked)
        statement = statement.where(on_clock, light_column == flt.light)
    return statement


def household_list(session: Session, actor: Actor, flt: HouseholdFilter, *, page: int = 0,
                   page_size: int = PAGE_SIZE) -> tuple[list[HouseholdRow], int]:
    """One page of households matching the filters, and how many match in all."""
    check_household_role(actor, HouseholdAction.VIEW)
    settings = load_settings(session)
    light = _open_clue_light(clock.today(), settings).label("light")
    base = select(Household.id, Household.number, Household.township, Village.name, Household.head_name,
                  Household.household_type, Household.category, Household.state, Household.persons,
                  Household.identified_on,
                  light).join(Village, Village.id == Household.village_id)
    base = _filtered(base, flt, light)
    total = session.exec(_filtered(select(func.count()).select_from(Household), flt, light)).one()
    rows = session.exec(base.order_by(Household.number).offset(page * page_size).limit(page_size)).all()
    return [HouseholdRow(*row) for row in rows], total


@dataclass(frozen=True)
class ClueItem:
    case_id: int
    household_id: int
    number: str
    head_name: str
    township: str
    village: str
    source: str | None
    state: str
    is_return: bool
    received_on: dt.date
    due_on: dt.date
    days_left: int
    light: str
    version: int


def clue_inbox(session: Session, actor: Actor, *, township: str | None = None) -> list[ClueItem]:
    """Every clue on the clock, most urgent first (a township officer sees its own township's)."""
    check_household_role(actor, HouseholdAction.VIEW)
    today = clock.today()
    settings = load_settings(session)
    township = own_township(session, actor) or township
    statement = (select(HouseholdCase.id, Household.id, Household.number, Household.head_name, Household.township,
                        Village.name, HouseholdCase.source, HouseholdCase.state, HouseholdCase.is_return,
                        HouseholdCase.received_on, HouseholdCase.due_on, lights.clue_light(today, settings),
                        HouseholdCase.version)
                 .join(Household, Household.id == HouseholdCase.household_id)
                 .join(Village, Village.id == Household.village_id)
                 .where(HouseholdCase.state.in_([s.value for s in CLOCKED_CASE_STATES])))
    if township:
        statement = statement.where(Household.township == township)
    rows = session.exec(statement.order_by(HouseholdCase.due_on, HouseholdCase.id)).all()
    return [ClueItem(case_id=r[0], household_id=r[1], number=r[2], head_name=r[3], township=r[4], village=r[5],
                     source=r[6], state=r[7], is_return=r[8], received_on=r[9], due_on=r[10],
                     days_left=(r[10] - today).days, light=r[11], version=r[12]) for r in rows]


@dataclass(frozen=True)
class MemberView:
    id: int
    name: str
    relation: str
    sex: str
    birth_date: dt.date | None
    id_masked: str
    id_valid: bool
    phone_masked: str
    education: str
    school_status: str
    labour_skill: str | None
    health: str | None      # None: not shown to this role
    flags: list[str]
    version: int = 1        # the stale-edit check of the member form


@dataclass(frozen=True)
class StepView:
    on: dt.date
    at: dt.datetime
    action: str
    username: str
    note: str


@dataclass
class HouseholdDetail:
    household: Household
    village: str
    members: list[MemberView]
    risks: list[HouseholdRisk]
    measures: list[SupportMeasure]
    cases: list[HouseholdCase]
    steps: list[StepView]
    open_case: HouseholdCase | None
    light: str
    facts: HouseholdFacts
    actions: dict[HouseholdAction, Refusal | None]
    income_line: int | None
    people: dict[int, str] = field(default_factory=dict)   # user id → display name, for who did each step
    elimination_methods: list[str] = field(default_factory=list)   # the 风险消除 methods the start may take now
    elimination_blockers: tuple[Refusal, ...] = ()   # why 风险消除 may not start (the method closest to passing)

    def may(self, action: HouseholdAction) -> bool:
        return self.actions.get(action, Refusal("", {})) is None


def household_detail(session: Session, actor: Actor, household_id: int) -> HouseholdDetail:
    check_household_role(actor, HouseholdAction.VIEW)
    household = get_or_404(session, Household, household_id)
    facts = households.facts(session, household)
    actions = household_actions(actor, facts)
    methods: list[str] = []
    blockers = facts.elimination
    if household.state == HouseholdState.MONITORED:   # 风险消除 asked once per method: 帮扶消除 or 自然消除
        options = households.elimination_options(session, actor, household)
        methods = [option.method.value for option in options if option.refusal is None]
        closest = min(options, key=lambda option: len(option.blockers))
        blockers = closest.blockers
        actions[HouseholdAction.ELIM_VERIFY] = None if methods else closest.refusal
    show_health = actions[HouseholdAction.VIEW_HEALTH] is None
    members = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household.id)
                           .order_by(HouseholdMember.seq)).all()
    views = [MemberView(id=m.id, name=m.name, relation=m.relation, sex=m.sex, birth_date=m.birth_date,
                        id_masked=m.id_masked, id_valid=m.id_valid, phone_masked=m.phone_masked,
                        education=m.education, school_status=m.school_status, labour_skill=m.labour_skill,
                        health=households.unsealed_health(m) if show_health else None, flags=list(m.flags),
                        version=m.version)
             for m in members]
    cases = list(session.exec(select(HouseholdCase).where(HouseholdCase.household_id == household.id)
                              .order_by(HouseholdCase.id)).all())
    open_case = households.open_case(session, household.id)
    today = clock.today()
    light = Light.CLOSED.value
    if open_case is not None:
        light = session.exec(select(lights.clue_light(today, load_settings(session)))
                             .where(HouseholdCase.id == open_case.id)).one()
    steps = session.exec(select(HouseholdStep).where(HouseholdStep.household_id == household.id)
                         .order_by(HouseholdStep.at, HouseholdStep.id)).all()
    user_ids = {c.verified_by_id for c in cases} | {c.township_by_id for c in cases} | {c.county_by_id for c in cases}
    people = {user_id: name for user_id, name in session.exec(
        select(User.id, User.display_name).where(User.id.in_(sorted(user_ids - {None})))).all()}
    return HouseholdDetail(
        household=household, village=session.get(Village, household.village_id).name, members=views,
        risks=list(session.exec(select(HouseholdRisk).where(HouseholdRisk.household_id == household.id)
                                .order_by(HouseholdRisk.added_on, HouseholdRisk.id)).all()),
        measures=list(session.exec(select(SupportMeasure).where(SupportMeasure.household_id == household.id)
                                   .order_by(SupportMeasure.start_on, SupportMeasure.id)).all()),
        cases=cases, steps=[StepView(s.happened_on, s.at, s.action, s.username, s.note) for s in steps],
        open_case=open_case, light=light, facts=facts, actions=actions,
        income_line=households.income_line(session, household.income_year or today.year), people=people,
        elimination_methods=methods, elimination_blockers=blockers)


@dataclass(frozen=True)
class EliminationCandidate:
    household_id: int
    number: str
    head_name: str
    township: str
    village: str
    category: str | None
    identified_on: dt.date | None
    income_per_capita: float | None
    measures: int


QUEUE_LIMIT = 500  # the queue page lists this many (the longest-monitored first) and says how many there are


def _queue_statement(session: Session, actor: Actor, township: str | None, columns) -> object:
    today = clock.today()
    settings = load_settings(session)
    township = own_township(session, actor) or township
    statement = (select(*columns).where(Household.state == HouseholdState.MONITORED.value,
                                        *households.eliminable_conditions(today, settings.eliminate_after_months)))
    return statement.where(Household.township == township) if township else statement


def elimination_queue(session: Session, actor: Actor, *, township: str | None = None,
                      limit: int | None = None) -> list[EliminationCandidate]:
    """Monitored households that meet every 风险消除 condition of either method today (帮扶消除, or 自然消除 when
    nobody can work): one SQL statement built from the conditions the service enforces
    (``households.eliminable_conditions``), the longest-monitored first."""
    check_household_role(actor, HouseholdAction.VIEW)
    measures = (select(func.count()).where(SupportMeasure.household_id == Household.id,
                                           *households.in_force(clock.today()))
                .correlate(Household).scalar_subquery())
    statement = (_queue_statement(session, actor, township, (
        Household.id, Household.number, Household.head_name, Household.township, Village.name, Household.category,
        Household.identified_on, Household.income_per_capita, measures))
        .join(Village, Village.id == Household.village_id).order_by(Household.identified_on, Household.number))
    if limit is not None:
        statement = statement.limit(limit)
    return [EliminationCandidate(*row) for row in session.exec(statement).all()]


def elimination_queue_size(session: Session, actor: Actor, *, township: str | None = None) -> int:
    check_household_role(actor, HouseholdAction.VIEW)
    return session.exec(_queue_statement(session, actor, township, (func.count(),))).one()


@dataclass(frozen=True)
class PublicityRow:
    """One line of a 公示 list: never an ID, a phone, a bank account or health."""

    number: str
    head_name: str
    persons: int
    village: str
    category: str | None
    risks: list[str]
    publicity_start: dt.date | None
    publicity_end: dt.date | None


def publicity_list(session: Session, actor: Actor, village_id: int, *, elimination: bool = False) -> list[PublicityRow]:
    """The households of one village whose 村内公示 (or 风险消除 民主评议公示) is recorded and open."""
    check_household_role(actor, HouseholdAction.VIEW)
    from dashboard.vocab import CaseState

    state = CaseState.ELIM_PUBLICIZED if elimination else CaseState.PUBLICIZED
    rows = session.exec(
        select(Household.id, Household.number, Household.head_name, Household.persons, Village.name, HouseholdCase.category,
               HouseholdCase.publicity_start, HouseholdCase.publicity_end)
        .join(HouseholdCase, HouseholdCase.household_id == Household.id)
        .join(Village, Village.id == Household.village_id)
        .where(Household.village_id == village_id, HouseholdCase.state == state.value)
        .order_by(Household.number)).all()
    risks: dict[int, list[str]] = {}
    ids = [row[0] for row in rows]
    if ids:
        for household_id, kind in session.exec(select(HouseholdRisk.household_id, HouseholdRisk.kind).where(
                HouseholdRisk.household_id.in_(ids), HouseholdRisk.removed_on.is_(None))).all():
            risks.setdefault(household_id, []).append(kind)
    return [PublicityRow(number=r[1], head_name=r[2], persons=r[3], village=r[4], category=r[5],
                         risks=risks.get(r[0], []), publicity_start=r[6], publicity_end=r[7]) for r in rows]


def villages_of(session: Session, actor: Actor, township: str | None = None) -> list[tuple[int, str, str]]:
    """(id, township, name) of the villages the list page and the 公示 lists offer: the villages of the actor's reach
    (a township officer's own only; with ``township``, that township's) from the village table, by index
    (``ix_village_township_name``). It asked before for the villages that have households: an EXISTS over 300,000
    households (630–1,770 ms) for a pick list where a village with no household simply lists none."""
    own = own_township(session, actor)
    if own and township and township != own:
        return []
    statement = select(Village.id, Village.township, Village.name).order_by(Village.township, Village.name)
    if own or township:
        statement = statement.where(Village.township == (own or township))
    return [(int(row[0]), row[1], row[2]) for row in session.execute(statement).all()]


def townships_of(session: Session, actor: Actor) -> list[str]:
    """The townships the list page offers: a township officer's own; else every township of the village table."""
    own = own_township(session, actor)
    if own:
        return [own]
    return list(session.execute(select(Village.township).distinct().order_by(Village.township)).scalars())


def all_villages(session: Session, actor: Actor) -> list[tuple[int, str, str]]:
    """(id, township, name) of every village a clue may be registered in (a township officer's own only)."""
    township = own_township(session, actor)
    statement = select(Village.id, Village.township, Village.name).order_by(Village.township, Village.name)
    if township:
        statement = statement.where(Village.township == township)
    return [(int(row[0]), row[1], row[2]) for row in session.exec(statement).all()]


def household_id_of(session: Session, actor: Actor, number: str) -> int | None:
    """The household with this 户编号, if any."""
    check_household_role(actor, HouseholdAction.VIEW)
    return session.exec(select(Household.id).where(Household.number == number.strip())).first()


CLUE_STEPS = (HouseholdAction.VERIFY, HouseholdAction.DEMOCRATIC_REVIEW, HouseholdAction.PUBLICIZE,
              HouseholdAction.TOWNSHIP_REVIEW, HouseholdAction.COUNTY_DECIDE)


def my_clues(session: Session, actor: Actor) -> list[tuple[ClueItem, HouseholdAction]]:
    """我的待办 of the household ledger: the clues on the clock whose next step this actor may take now."""
    settings = load_settings(session)
    work = []
    for item in clue_inbox(session, actor):
        household = session.get(Household, item.household_id)
        allowed = household_actions(actor, households.facts(session, household, settings=settings))
        step = next((action for action in CLUE_STEPS if allowed[action] is None), None)
        if step is not None:
            work.append((item, step))
    return work
