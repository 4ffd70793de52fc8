"""数据质量核查: the household ledger's data-quality rules, in one table.

Each rule has an id (fixed: the command line, the page, findings raised from a check and the tests name
it), a severity and a condition that returns the households it hits. Its title lives in the catalogue as
``quality_rule.<id>`` (Chinese and English). Conditions are SQL built from the same settings and
constants the services use (``lifecycle`` for the procedure's states and the months of monitoring,
``lights.days_between`` for day counts); the two that compare calendar months read the few eliminated
households' dates and apply ``lifecycle.add_months``, the same function the 风险消除 gate applies.

``run(session)`` evaluates every rule. ``refresh`` runs them over the whole ledger and stores the result
(``quality_check``, ``quality_count`` per rule and township, ``quality_hit`` per household): nightly by the
worker, on demand by the page's "run now" and by ``python -m dashboard households-check``. The 数据质量 page and the
monthly bulletin read the stored result (``stored``, ``stored_hit_rows``: a few indexed reads instead of every
rule, ≈ 10 s at 300,000 households) and say when it was computed. What decides a write reads live data: a finding
raised from a rule (``checks.raise_finding``) and the closure gate (``still_hit``) run the rule at that moment.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Callable, Iterable

import time

from sqlalchemy import and_, case, delete, exists, extract, func, insert, literal, or_, select, text
from sqlmodel import Session

from dashboard import clock
from dashboard.lifecycle import CLOCKED_CASE_STATES, add_months
from dashboard.lights import days_between
from dashboard.settings import Settings, load_settings
from dashboard.vocab import (NATURAL_ADDITIONS, NATURAL_REMOVALS, CaseKind, EliminationMethod, HouseholdState, LabourSkill,
                             Risk, SupportKind)
from db.engine import conflict_insert
from db.models import (BulletinSnapshot, FindingHousehold, Household, HouseholdCase, HouseholdMember, HouseholdRisk,
                       IncomeLine, MemberChange, QualityCheck, QualityCount, QualityHit, SupportMeasure)


class Severity(StrEnum):
    HIGH = "high"       # 风险消除不规范, 应纳未纳: a household may be left without help
    MEDIUM = "medium"   # 帮扶措施不落实, 识别不精准
    LOW = "low"         # the data itself is wrong (an ID, a duplicate)


# Households whose risk is not eliminated: they must be helped, so measures must match their risks.
OPEN_STATES = (HouseholdState.MONITORED, HouseholdState.ELIMINATING)
# 因病 → 健康帮扶, …: the measures that answer a risk (a risk not listed here is answered by any measure)
ANSWERS: dict[Risk, tuple[SupportKind, ...]] = {
    Risk.ILLNESS: (SupportKind.HEALTH,),
    Risk.SCHOOLING: (SupportKind.EDUCATION,),
    Risk.HOUSING: (SupportKind.HOUSING,),
    Risk.WATER: (SupportKind.WATER,),
    Risk.WORK: (SupportKind.EMPLOYMENT, SupportKind.PUBLIC_JOB),
}
ABLE_SKILLS = (LabourSkill.ORDINARY, LabourSkill.SKILLED)
WORKING_AGE = (16, 59)  # 缺劳动力 is wrong while a member of these ages (inclusive) can work


@dataclass(frozen=True)
class Context:
    today: dt.date
    settings: Settings


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    hits: Callable[[Session, Context], set[int]]   # the ids of the households the rule hits


@dataclass
class RuleResult:
    rule: Rule
    household_ids: list[int]
    numbers: list[str]                              # 户编号, in order

    @property
    def count(self) -> int:
        return len(self.household_ids)


@dataclass
class Report:
    as_of: dt.date
    results: list[RuleResult] = field(default_factory=list)

    def result(self, rule_id: str) -> RuleResult:
        return next(result for result in self.results if result.rule.id == rule_id)


# --- conditions ---------------------------------------------------------------------------------------

def _ids(session: Session, statement) -> set[int]:
    return set(session.execute(statement).scalars())


def measure_in_force(today: dt.date, kinds: Iterable[SupportKind] | None = None):
    """A support measure of the household (of these kinds) that runs on ``today``."""
    condition = and_(SupportMeasure.household_id == Household.id, SupportMeasure.start_on <= today,
                     or_(SupportMeasure.end_on.is_(None), SupportMeasure.end_on >= today))
    if kinds is not None:
        condition = and_(condition, SupportMeasure.kind.in_([kind.value for kind in kinds]))
    return exists().where(condition)


def _open_household():
    return Household.state.in_([state.value for state in OPEN_STATES])


def _eliminated_dates(session: Session) -> list[tuple[int, dt.date, dt.date]]:
    rows = session.execute(select(Household.id, Household.identified_on, Household.eliminated_on).where(
        Household.state == HouseholdState.ELIMINATED.value, Household.identified_on.is_not(None),
        Household.eliminated_on.is_not(None)))
    return [(row[0], row[1], row[2]) for row in rows]


def short_monitoring(session: Session, context: Context) -> set[int]:
    """风险消除 less than ``eliminate_after_months`` after 识别监测时间 (the gate the service applies)."""
    months = context.settings.eliminate_after_months
    return {hid for hid, identified, eliminated in _eliminated_dates(session)
            if eliminated < add_months(identified, months)}


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month


def eliminated_next_month(session: Session, context: Context) -> set[int]:
    """Eliminated in the month of identification or the month after."""
    return {hid for hid, identified, eliminated in _eliminated_dates(session)
            if _month_index(eliminated) - _month_index(identified) <= 1}


def no_measure(session: Session, context: Context) -> set[int]:
    """Monitored for a month or more with no measure in force."""
    month_ago = add_months(context.today, -1)
    return _ids(session, select(Household.id).where(
        _open_household(), Household.identified_on.is_not(None), Household.identified_on <= month_ago,
        ~measure_in_force(context.today)))


def income_below_line(session: Session, context: Context) -> set[int]:
    """帮扶消除 while the per-capita income is below the line of its year (the income's year, else the
    year of elimination)."""
    year = func.coalesce(Household.income_year, extract("year", Household.eliminated_on))
    return _ids(session, select(Household.id).join(IncomeLine, IncomeLine.year == year).where(
        Household.state == HouseholdState.ELIMINATED.value,
        Household.elimination_method == EliminationMethod.SUPPORTED.value,
        Household.income_per_capita.is_not(None), Household.income_per_capita < IncomeLine.yuan))


def eliminated_unsafe(session: Session, context: Context) -> set[int]:
    """Eliminated while the house is unsafe (危房户), safe water is not solved, or a member is not in
    basic medical insurance."""
    return _ids(session, select(Household.id).where(
        Household.state == HouseholdState.ELIMINATED.value,
        or_(Household.housing_ok.is_(False), Household.water_ok.is_(False), Household.medical_ok.is_(False))))


def _risk_open(kind: Risk):
    return exists().where(HouseholdRisk.household_id == Household.id, HouseholdRisk.kind == kind.value,
                          HouseholdRisk.removed_on.is_(None))


def risk_without_measure(session: Session, context: Context) -> set[int]:
    """A risk with no measure in force that answers it (``ANSWERS``)."""
    unanswered = or_(*[and_(_risk_open(risk), ~measure_in_force(context.today, kinds))
                       for risk, kinds in ANSWERS.items()])
    return _ids(session, select(Household.id).where(_open_household(), unanswered))


def _years_before(today: dt.date, years: int) -> dt.date:
    return add_months(today, -12 * years)


def labour_mismatch(session: Session, context: Context) -> set[int]:
    """Risk 缺劳动力 while a member aged 16–59 has 普通劳动力 or 技能劳动力."""
    youngest, oldest = WORKING_AGE
    able = exists().where(
        HouseholdMember.household_id == Household.id,
        HouseholdMember.labour_skill.in_([skill.value for skill in ABLE_SKILLS]),
        HouseholdMember.birth_date <= _years_before(context.today, youngest),
        HouseholdMember.birth_date > _years_before(context.today, oldest + 1))
    return _ids(session, select(Household.id).where(_risk_open(Risk.LABOUR), able))


def invalid_id(session: Session, context: Context) -> set[int]:
    """An 18-character ID whose check digit or birth date is wrong (``privacy.id_check`` at import)."""
    return _ids(session, select(HouseholdMember.household_id).where(HouseholdMember.id_valid.is_(False)))


def duplicate_person(session: Session, context: Context) -> set[int]:
    """One person (by the keyed hash of the ID) in two households."""
    # two households: the smallest and the largest household id of the hash differ (a hash aggregate; a
    # count of distinct ids sorts a million rows)
    shared = (select(HouseholdMember.id_hash).where(HouseholdMember.id_hash.is_not(None))
              .group_by(HouseholdMember.id_hash)
              .having(func.min(HouseholdMember.household_id) != func.max(HouseholdMember.household_id)))
    return _ids(session, select(HouseholdMember.household_id).where(HouseholdMember.id_hash.in_(shared)))


def clue_overdue(session: Session, context: Context) -> set[int]:
    """A clue undecided after ``identify_days``: its clock (``due_on``) has run out."""
    return _ids(session, select(HouseholdCase.household_id).where(
        HouseholdCase.kind == CaseKind.IDENTIFY.value,
        HouseholdCase.state.in_([state.value for state in CLOCKED_CASE_STATES]),
        HouseholdCase.due_on.is_not(None), HouseholdCase.due_on < context.today))


def publicity_days(start, end):
    """The days a 公示 lasts, both ends counted (as the service counts them when it is recorded)."""
    return days_between(end, start) + literal(1)


def publicity_short(session: Session, context: Context) -> set[int]:
    """A 公示 shorter than ``publicity_days``."""
    return _ids(session, select(HouseholdCase.household_id).where(
        HouseholdCase.publicity_start.is_not(None), HouseholdCase.publicity_end.is_not(None),
        publicity_days(HouseholdCase.publicity_start, HouseholdCase.publicity_end)
        < context.settings.publicity_days))


RULES: tuple[Rule, ...] = (
    Rule("short_monitoring", Severity.HIGH, short_monitoring),
    Rule("eliminated_next_month", Severity.HIGH, eliminated_next_month),
    Rule("no_measure", Severity.HIGH, no_measure),
    Rule("income_below_line", Severity.HIGH, income_below_line),
    Rule("eliminated_unsafe", Severity.HIGH, eliminated_unsafe),
    Rule("risk_without_measure", Severity.MEDIUM, risk_without_measure),
    Rule("labour_mismatch", Severity.MEDIUM, labour_mismatch),
    Rule("invalid_id", Severity.LOW, invalid_id),
    Rule("duplicate_person", Severity.LOW, duplicate_person),
    Rule("clue_overdue", Severity.HIGH, clue_overdue),
    Rule("publicity_short", Severity.MEDIUM, publicity_short),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


# --- running -------------------------------------------------------------------------------------------

def _numbers(session: Session, ids: set[int], township: str | None) -> list[tuple[int, str]]:
    if not ids:
        return []
    statement = select(Household.id, Household.number).where(Household.id.in_(sorted(ids)))
    if township:
        statement = statement.where(Household.township == township)
    return sorted(((row[0], row[1]) for row in session.execute(statement)), key=lambda pair: pair[1])


def run(session: Session, *, today: dt.date | None = None, township: str | None = None,
        rules: Iterable[Rule] = RULES) -> Report:
    """Every rule's hits (in one township, or all), as of ``today``."""
    context = Context(today=today or clock.today(), settings=load_settings(session))
    report = Report(as_of=context.today)
    for rule in rules:
        hits = _numbers(session, rule.hits(session, context), township)
        report.results.append(RuleResult(rule, [hid for hid, _ in hits], [number for _, number in hits]))
    return report


def as_json(report: Report, title: Callable[[str], str]) -> dict:
    """The shape ``households-check --json`` prints: rules with id, title, count and 户编号."""
    return {"rules": [{"id": result.rule.id, "title": title(result.rule.id), "severity": result.rule.severity.value,
                       "count": result.count, "households": result.numbers} for result in report.results],
            "as_of": report.as_of.isoformat()}


# --- findings raised from a check ----------------------------------------------------------------------

def still_hit(session: Session, finding_id: int, today: dt.date | None = None) -> list[str]:
    """户编号 of the households a finding raised from a check names that its rule still hits (a finding
    raised by hand names none, and costs one indexed lookup)."""
    named = session.execute(select(FindingHousehold.rule_id, FindingHousehold.household_id)
                            .where(FindingHousehold.finding_id == finding_id)).all()
    if not named:
        return []
    context = Context(today=today or clock.today(), settings=load_settings(session))
    hit: set[int] = set()
    for rule_id in sorted({row[0] for row in named}):
        rule = RULES_BY_ID.get(rule_id)
        if rule is not None:
            ids = {row[1] for row in named if row[0] == rule_id}
            hit |= ids & rule.hits(session, context)
    return [number for _, number in _numbers(session, hit, None)]


# --- read models of the 数据质量 page ---------------------------------------------------------------------

def _townships_of(session: Session, report: Report) -> dict[int, str]:
    ids = sorted({hid for result in report.results for hid in result.household_ids})
    township_of: dict[int, str] = {}
    for start in range(0, len(ids), 5_000):
        chunk = ids[start:start + 5_000]
        rows = session.execute(select(Household.id, Household.township).where(Household.id.in_(chunk))).all()
        township_of.update((row[0], row[1]) for row in rows)
    return township_of


def by_township(session: Session, report: Report, township_of: dict[int, str] | None = None
                ) -> dict[str, dict[str, int]]:
    """{rule id: {township: households hit}} of a report over the whole ledger."""
    township_of = _townships_of(session, report) if township_of is None else township_of
    counts: dict[str, dict[str, int]] = {}
    for result in report.results:
        per = counts.setdefault(result.rule.id, {})
        for hid in result.household_ids:
            per[township_of[hid]] = per.get(township_of[hid], 0) + 1
    return counts


@dataclass(frozen=True)
class HitRow:
    household_id: int
    number: str
    township: str
    village: str
    household_type: str
    state: str


def hit_rows(session: Session, household_ids: list[int], limit: int = 500) -> list[HitRow]:
    """The households a rule hits, as the page lists them (no personal data: the 户编号 and the place)."""
    from db.models import Village

    if not household_ids:
        return []
    rows = session.execute(
        select(Household.id, Household.number, Household.township, Village.name, Household.household_type,
               Household.state).join(Village, Village.id == Household.village_id)
        .where(Household.id.in_(household_ids[:limit])).order_by(Household.number))
    return [HitRow(*row) for row in rows]


def own_township(session: Session, actor) -> str | None:
    """The township a 乡镇 officer works in (its unit's name); None for every other role."""
    from dashboard.vocab import Role
    from db.models import Unit

    if actor.role != Role.TOWNSHIP or actor.unit_id is None:
        return None
    unit = session.get(Unit, actor.unit_id)
    return unit.name if unit else None


# --- the stored check: what the page and the bulletin read ---------------------------------------------------

@dataclass(frozen=True)
class StoredCheck:
    """The last full run of the rules as stored by ``refresh``."""

    as_of: dt.date                          # the day the rules were evaluated for
    computed_at: dt.datetime
    computed_by: str
    seconds: float
    counts: dict[str, dict[str, int]]       # {rule id: {township: households hit}} (townships with hits only)
    # 零变化 as of ``as_of`` (``zero_change_figures``, computed with the rules; [] in a check stored before it was kept)
    zero_change: list[dict] = field(default_factory=list)

    def count(self, rule_id: str, township: str | None = None) -> int:
        per = self.counts.get(rule_id, {})
        return per.get(township, 0) if township is not None else sum(per.values())

    def township_hits(self) -> dict[str, int]:
        """{township: households hit, summed over the rules} (the bulletin's 数据质量问题 column)."""
        total: dict[str, int] = {}
        for per in self.counts.values():
            for township, n in per.items():
                total[township] = total.get(township, 0) + n
        return total


HIT_CHUNK = 5_000   # rows a statement inserts


@dataclass(frozen=True)
class Computed:
    """A full run of the rules, not stored yet (``compute`` in a read session, ``store`` in a unit of work: on
    SQLite a write transaction holds the database's one write lock, so the ten seconds of rules run outside it)."""

    report: Report
    township_of: dict[int, str]
    counts: dict[str, dict[str, int]]
    computed_at: dt.datetime
    seconds: float
    zero_change: list[dict] = field(default_factory=list)   # ``zero_change_figures`` as of the report's day


def compute(session: Session, today: dt.date | None = None) -> Computed:
    computed_at, started = clock.now(), time.perf_counter()
    report = run(session, today=today)
    township_of = _townships_of(session, report)
    counts = by_township(session, report, township_of)
    zero = zero_change_figures(session, report.as_of)   # the one definition, stored beside the rules' hits
    return Computed(report, township_of, counts, computed_at, round(time.perf_counter() - started, 2), zero)


def store(session: Session, actor, computed: Computed) -> StoredCheck:
    """Store a run in place of the last one (the caller's unit of work commits it). The one ``quality_check`` row is
    written first: two stores at once follow one another, never a mix."""
    from dashboard.lifecycle import HouseholdAction, enforce_household

    enforce_household(actor, HouseholdAction.VIEW)
    report, by = computed.report, (getattr(actor, "username", "") or "system")[:60]
    values = {"as_of": report.as_of, "computed_at": computed.computed_at, "computed_by": by,
              "seconds": computed.seconds, "zero_change": computed.zero_change, "summary": summarise(computed.counts)}
    statement = conflict_insert(session, QualityCheck).values(id=1, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))
    session.execute(delete(QualityHit))
    session.execute(delete(QualityCount))
    hits = [{"rule_id": result.rule.id, "household_id": hid, "township": computed.township_of[hid],
             "number": number} for result in report.results for hid, number in zip(result.household_ids, result.numbers)]
    for start in range(0, len(hits), HIT_CHUNK):
        session.execute(insert(QualityHit), hits[start:start + HIT_CHUNK])
    rows = [{"rule_id": rule_id, "township": township, "n": n}
            for rule_id, per in computed.counts.items() for township, n in per.items()]
    for start in range(0, len(rows), HIT_CHUNK):
        session.execute(insert(QualityCount), rows[start:start + HIT_CHUNK])
    return StoredCheck(report.as_of, computed.computed_at, by, computed.seconds, computed.counts, computed.zero_change)


def refresh(session: Session, actor, today: dt.date | None = None) -> StoredCheck:
    """Run every rule over the whole ledger now and store the result, in the caller's transaction."""
    return store(session, actor, compute(session, today))


def refresh_in(engine, actor, today: dt.date | None = None) -> StoredCheck:
    """``refresh`` with the rules run in a read session and only the storing in a unit of work (the nightly pass,
    ``households-check``)."""
    from dashboard.services.unit_of_work import run_in_unit_of_work
    from db.engine import read_session

    with read_session(engine) as session:
        computed = compute(session, today)
    check = run_in_unit_of_work(engine, store, actor, computed)
    analyse_stored(engine)
    return check


def analyse_stored(engine) -> None:
    """After a check is stored: the planner's statistics and (PostgreSQL) the visibility map of the tables it
    replaced, so the page's first read after the night's run lists a rule's first hits from the index by 户编号
    instead of sorting all of them by a plan made for the empty table (18 ms → 5 ms at 300,000 households)."""
    from db.engine import after_bulk_load

    tables = (QualityHit.__tablename__, QualityCount.__tablename__, QualityCheck.__tablename__)
    if engine.dialect.name == "postgresql":
        after_bulk_load(engine, tables)
        return
    with engine.begin() as connection:   # SQLite: these tables only (a bare ANALYZE reads every table)
        for table in tables:
            connection.exec_driver_sql(f'ANALYZE "{table}"')


def may_run_now(actor) -> bool:
    """Who may run the check on demand from the page: whoever may raise a finding from it (and the operator)."""
    from dashboard.lifecycle import Action, may

    return bool(getattr(actor, "operator", False)) or may(actor.role, Action.LOG_FINDING)


def store_run_now(session: Session, actor, computed: Computed) -> StoredCheck:
    """The page's "run now" (computed in a read session first): stored for those ``may_run_now``."""
    from dashboard.lifecycle import Action, check_role

    if not getattr(actor, "operator", False):
        check_role(actor, Action.LOG_FINDING)
    return store(session, actor, computed)


def first_check(session: Session, actor) -> StoredCheck:
    """The stored check, made now if there is none yet (a new database before its first night): any reader of the
    page may make it, as any reader freezes a finished month's bulletin. Stored already: left as it is."""
    current = stored(session)
    return current if current is not None else refresh(session, actor)


def stored(session: Session, township: str | None = None) -> StoredCheck | None:
    """The last stored check (its counts in one township, or all), or None before the first run."""
    check = session.get(QualityCheck, 1)
    if check is None:
        return None
    statement = select(QualityCount.rule_id, QualityCount.township, QualityCount.n)
    if township is not None:
        statement = statement.where(QualityCount.township == township)
    counts: dict[str, dict[str, int]] = {}
    for rule_id, name, n in session.execute(statement):
        counts.setdefault(rule_id, {})[name] = int(n)
    return StoredCheck(check.as_of, check.computed_at, check.computed_by, check.seconds, counts,
                       list(check.zero_change or []))


@dataclass(frozen=True)
class CheckSummary:
    """What the 数据质量 page shows of the stored check in one scope (a township, or all): per rule the households hit
    and, over all townships, the townships it hits most (``stored_summary``: a few rows, where ``stored`` reads a
    count per rule and township, 13,000 rows at 300,000 households)."""

    as_of: dt.date
    computed_at: dt.datetime
    computed_by: str
    seconds: float
    township: str | None                    # the scope
    totals: dict[str, int]                  # {rule id: households hit in the scope} (rules with hits only)
    worst: dict[str, list[tuple[str, int]]]  # {rule id: [(township, hit), …]} most first, then by name (all only)
    zero_change: list[dict] = field(default_factory=list)

    def count(self, rule_id: str) -> int:
        return self.totals.get(rule_id, 0)


WORST = 3   # townships the page names beside each rule


def summarise(counts: dict[str, dict[str, int]], worst: int = WORST) -> dict:
    """Over all townships, per rule: the households hit and the ``worst`` townships it hits most (ties by name), from
    ``{rule id: {township: hit}}``: ``{"totals": {rule id: n}, "worst": {rule id: [[township, n], …]}}``. Stored with
    the check (``quality_check.summary``) so the page's first table is one row's read."""
    return {"totals": {rule_id: sum(per.values()) for rule_id, per in counts.items() if sum(per.values())},
            "worst": {rule_id: [[name, n] for name, n in sorted(per.items(), key=lambda pair: (-pair[1], pair[0]))[:worst]]
                      for rule_id, per in counts.items() if per}}


def stored_summary(session: Session, township: str | None = None) -> CheckSummary | None:
    """The stored check as the page's table shows it: ``StoredCheck.count`` per rule in the scope and, with no
    township, the townships each rule hits most: ``summarise`` of the stored counts, as stored with the check (a
    check stored before the summary was kept: summarised from its counts now)."""
    check = session.get(QualityCheck, 1)
    if check is None:
        return None
    counts = QualityCount.__table__.c
    if township is not None:
        totals = {rule_id: int(n) for rule_id, n in session.execute(
            select(counts.rule_id, counts.n).where(counts.township == township)) if n}
        ranked: dict[str, list[tuple[str, int]]] = {}
    else:
        summary = check.summary
        if not summary:
            full = stored(session)
            summary = summarise(full.counts if full is not None else {})
        totals = {rule_id: int(n) for rule_id, n in summary["totals"].items()}
        ranked = {rule_id: [(name, int(n)) for name, n in pairs] for rule_id, pairs in summary["worst"].items()}
    return CheckSummary(check.as_of, check.computed_at, check.computed_by, check.seconds, township, totals, ranked,
                        list(check.zero_change or []))


def stored_report(session: Session, township: str | None = None) -> Report | None:
    """The stored check as a ``Report`` (every rule, its households by 户编号), as ``households-check`` prints it."""
    check = session.get(QualityCheck, 1)
    if check is None:
        return None
    statement = select(QualityHit.rule_id, QualityHit.household_id, QualityHit.number)
    if township is not None:
        statement = statement.where(QualityHit.township == township)
    found: dict[str, list[tuple[str, int]]] = {}
    for rule_id, household_id, number in session.execute(statement):
        found.setdefault(rule_id, []).append((number, household_id))
    report = Report(as_of=check.as_of)
    for rule in RULES:
        pairs = sorted(found.get(rule.id, []))
        report.results.append(RuleResult(rule, [hid for _, hid in pairs], [number for number, _ in pairs]))
    return report


def stored_hit_rows(session: Session, rule_id: str, township: str | None = None, limit: int = 500) -> list[HitRow]:
    """The households the stored check found for a rule (in one township, or all), by 户编号, as the page lists
    them: their place, type and state as they are now."""
    from db.models import Village

    first = select(QualityHit.household_id, QualityHit.number).where(QualityHit.rule_id == rule_id)
    if township is not None:
        first = first.where(QualityHit.township == township)
    first = first.order_by(QualityHit.number).limit(limit).subquery()  # the first by index, then their places
    statement = (select(Household.id, first.c.number, Household.township, Village.name, Household.household_type,
                        Household.state)
                 .select_from(first).join(Household, Household.id == first.c.household_id)
                 .join(Village, Village.id == Household.village_id).order_by(first.c.number))
    return [HitRow(*row) for row in session.execute(statement)]


# --- 零变化: no new identification and no elimination in a period ------------------------------------------

@dataclass(frozen=True)
class Period:
    kind: str            # "month" or "quarter"
    label: str           # 2026-05, 2026Q1
    start: dt.date
    end: dt.date         # inclusive


def last_month(today: dt.date) -> Period:
    """The last complete month before ``today``."""
    end = today.replace(day=1) - dt.timedelta(days=1)
    return Period("month", f"{end:%Y-%m}", end.replace(day=1), end)


def last_quarter(today: dt.date) -> Period:
    """The last complete quarter before ``today``."""
    first_month = (today.month - 1) // 3 * 3 + 1
    end = today.replace(month=first_month, day=1) - dt.timedelta(days=1)
    start = end.replace(month=(end.month - 1) // 3 * 3 + 1, day=1)
    return Period("quarter", f"{end.year}Q{(end.month - 1) // 3 + 1}", start, end)


@dataclass(frozen=True)
class ZeroChange:
    period: Period
    townships: list[str]      # townships of the ledger with no identification and no elimination in the period
    counties: list[str]       # … and counties


def _in(column, period: Period):
    return func.sum(case((and_(column >= period.start, column <= period.end), 1), else_=0))


PLACES = text("""
WITH RECURSIVE place(county, township) AS (
    SELECT county, township FROM (SELECT county, township FROM household ORDER BY county, township LIMIT 1) AS first
    UNION ALL
    SELECT (SELECT h.county FROM household h WHERE (h.county, h.township) > (p.county, p.township)
            ORDER BY h.county, h.township LIMIT 1),
           (SELECT h.township FROM household h WHERE (h.county, h.township) > (p.county, p.township)
            ORDER BY h.county, h.township LIMIT 1)
    FROM place p WHERE p.county IS NOT NULL)
SELECT county, township FROM place WHERE county IS NOT NULL""")


def ledger_places(session: Session) -> set[tuple[str, str]]:
    """Every (county, township) of the ledger's households: a loose scan of ``ix_household_county_township`` (one
    probe per place, ≈ 1,500) instead of reading 300,000 households."""
    return {(row[0], row[1]) for row in session.execute(PLACES)}


def zero_change(session: Session, period: Period, township: str | None = None,
                places: set[tuple[str, str]] | None = None) -> ZeroChange:
    """零变化 in ``period``: a township (or county) of the ledger where no household was identified
    (识别监测时间) and none eliminated (消除监测时间). The places that changed come from the two dates' indexes;
    ``places`` (``ledger_places``) may be passed when several periods are asked at once."""
    changed: set[tuple[str, str]] = set()
    for column in (Household.identified_on, Household.eliminated_on):   # index-only range scans (migration 0021)
        changed.update((row[0], row[1]) for row in session.execute(
            select(Household.county, Household.township).where(column >= period.start, column <= period.end)
            .distinct()))
    places = ledger_places(session) if places is None else places
    if township:
        places = {place for place in places if place[1] == township}
        changed = {place for place in changed if place[1] == township}

    def quiet(index: int) -> list[str]:
        return sorted({place[index] for place in places if place[index] != ""}
                      - {place[index] for place in changed})

    return ZeroChange(period, quiet(1), quiet(0))


def stored_zero_change(check: StoredCheck | CheckSummary | None, today: dt.date) -> list[dict] | None:
    """零变化 as the stored check computed it (``zero_change_figures`` as of its day), when that day's periods are
    today's (last month, last quarter); None otherwise (no check yet, one stored before 零变化 was kept with it, or
    one from before a month's end): then the reader computes it live."""
    if check is None or not check.zero_change:
        return None
    wanted = [last_month(today).label, last_quarter(today).label]
    return check.zero_change if [figure["period"] for figure in check.zero_change] == wanted else None


def zero_townships(figure: dict, township: str | None = None) -> list[str]:
    """The 零变化 townships of one period of ``zero_change_figures`` (in one township: it, if it is one of them;
    the same answer as ``zero_change(…, township)``: the township is a place of the ledger that did not change)."""
    return list(figure["townships"]) if township is None else [name for name in figure["townships"] if name == township]


# --- 月度监测通报: the monthly bulletin -----------------------------------------------------------------------

BULLETIN_COLUMNS = ("identified", "natural_added", "natural_removed", "eliminated", "not_eliminated", "clues_overdue",
                    "rule_hits")


@dataclass(frozen=True)
class BulletinRow:
    township: str
    identified: int       # 新识别: 识别监测时间 in the month
    natural_added: int    # 自然增加: persons born or married into a household under monitoring, in the month
    natural_removed: int  # 自然减少: persons of a household under monitoring who died or married out, in the month
    eliminated: int       # 已消除: 消除监测时间 in the month
    not_eliminated: int   # 未消除 at the month's end: identified by then, not eliminated by then
    clues_overdue: int    # clues past their clock at the month's end and not decided by then
    rule_hits: int        # households hit by the data-quality rules (as the check stands when it is made)


def month_period(month: str) -> Period:
    """``YYYY-MM`` as a period; refused with a clear message when it is not one."""
    try:
        start = dt.date(int(month[:4]), int(month[5:7]), 1) if len(month) == 7 and month[4] == "-" else None
    except ValueError:
        start = None
    if start is None:
        from dashboard.errors import ValidationFailed
        raise ValidationFailed("error.bulletin_month", month=month)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return Period("month", month, start, end)


def under_monitoring_on(day):
    """The household was under monitoring on ``day`` (a date or a date column): identified by then, not
    eliminated by then. The bulletin's 未消除 (at the month's end) and its 自然增加/减少 (on the change's day)."""
    return and_(Household.identified_on <= day, or_(Household.eliminated_on.is_(None), Household.eliminated_on > day))


def natural_changes(session: Session, period: Period) -> dict[str, tuple[int, int]]:
    """{township: (自然增加, 自然减少)}: persons who joined a household under monitoring by birth or marriage, and
    who left one by death or marriage, on a day of ``period`` (``vocab.NATURAL_ADDITIONS`` / ``NATURAL_REMOVALS``)."""
    def count(reasons) -> object:
        return func.sum(case((MemberChange.reason.in_([reason.value for reason in reasons]), 1), else_=0))

    statement = (select(Household.township, count(NATURAL_ADDITIONS), count(NATURAL_REMOVALS))
                 .join(Household, Household.id == MemberChange.household_id)
                 .where(MemberChange.happened_on >= period.start, MemberChange.happened_on <= period.end,
                        under_monitoring_on(MemberChange.happened_on))
                 .group_by(Household.township))
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in session.execute(statement)}


def bulletin(session: Session, period: Period, today: dt.date | None = None) -> list[BulletinRow]:
    """One row per township of the ledger (and the total last), by the households' own dates, computed now
    (``monthly_bulletin`` is what the page and the document show: these rows, frozen once the month is over)."""
    end = period.end
    not_eliminated = func.sum(case((under_monitoring_on(end), 1), else_=0))
    statement = (select(Household.township, _in(Household.identified_on, period), _in(Household.eliminated_on, period),
                        not_eliminated).group_by(Household.township).order_by(Household.township))
    rows = {row[0]: [int(value or 0) for value in row[1:]] for row in session.execute(statement)}
    overdue = session.execute(
        select(Household.township, func.count()).join(HouseholdCase, HouseholdCase.household_id == Household.id)
        .where(HouseholdCase.kind == CaseKind.IDENTIFY.value, HouseholdCase.due_on.is_not(None),
               HouseholdCase.due_on < end, HouseholdCase.received_on <= end,
               or_(HouseholdCase.decided_on.is_(None), HouseholdCase.decided_on > end))
        .group_by(Household.township)).all()
    overdue_of = {row[0]: int(row[1]) for row in overdue}
    natural = natural_changes(session, period)
    check = stored(session)
    if check is not None:   # the check as it stands: the last stored run (nightly, or run since)
        hits_of = check.township_hits()
    else:
        hits = by_township(session, run(session, today=today))
        hits_of = {township: sum(counts.get(township, 0) for counts in hits.values()) for township in rows}
    result = [BulletinRow(township=township, identified=identified, natural_added=natural.get(township, (0, 0))[0],
                          natural_removed=natural.get(township, (0, 0))[1], eliminated=eliminated,
                          not_eliminated=not_eliminated, clues_overdue=overdue_of.get(township, 0),
                          rule_hits=hits_of.get(township, 0))
              for township, (identified, eliminated, not_eliminated) in sorted(rows.items())]
    return result + [total_row(result)] if result else result


TOTAL = "合计"


def total_row(rows: list[BulletinRow]) -> BulletinRow:
    return BulletinRow(TOTAL, **{name: sum(getattr(row, name) for row in rows) for name in BULLETIN_COLUMNS})


@dataclass(frozen=True)
class Bulletin:
    """The bulletin of one month as the 数据质量 page and ``monitoring-report`` show it."""

    period: Period
    rows: list[BulletinRow]
    frozen_at: dt.datetime | None    # None: the month has not ended yet, the rows are provisional
    as_of: dt.date                   # the day the rows were computed


def frozen_bulletin(session: Session, actor, period: Period) -> Bulletin | None:
    """A month's bulletin as it was frozen, or None before it is (a read: the page asks this first in a read session
    and only then ``monthly_bulletin``, which may freeze it, in a unit of work)."""
    from dashboard.lifecycle import HouseholdAction, enforce_household

    enforce_household(actor, HouseholdAction.VIEW)
    stored = session.get(BulletinSnapshot, period.label)
    if stored is None:
        return None
    return Bulletin(period, [BulletinRow(**row) for row in stored.rows], stored.frozen_at, stored.frozen_at.date())


def monthly_bulletin(session: Session, actor, period: Period, today: dt.date | None = None) -> Bulletin:
    """A month's bulletin: its frozen rows when it has been frozen; otherwise computed, and frozen now when the
    month has ended (the first time it is made after its last day: on the page or from the command line). A
    frozen month never changes again, whatever happens to the ledger later."""
    from sqlalchemy.exc import IntegrityError

    from dashboard.services.common import audit

    frozen = frozen_bulletin(session, actor, period)
    if frozen is not None:
        return frozen
    today = today or clock.today()
    rows = bulletin(session, period, today)
    if period.end >= today:
        return Bulletin(period, rows, None, today)
    stored = BulletinSnapshot(month=period.label, frozen_at=clock.now(), frozen_by_id=actor.id,
                              rows=[asdict(row) for row in rows])
    try:
        with session.begin_nested():
            session.add(stored)
    except IntegrityError:   # frozen by someone else meanwhile: theirs stands
        found = session.get(BulletinSnapshot, period.label, populate_existing=True)
        if found is None:
            raise
        stored = found
    else:
        audit(session, actor, "freeze_bulletin", stored, new={"month": period.label, "townships": len(rows)})
    return Bulletin(period, [BulletinRow(**row) for row in stored.rows], stored.frozen_at, stored.frozen_at.date())


# --- 零变化 where leaders look: the overview, meeting mode and its snapshots ---------------------------------------

def zero_change_figures(session: Session, today: dt.date | None = None) -> list[dict]:
    """零变化 last month and last quarter (``zero_change``), as plain values for the overview, meeting mode and
    the snapshots that freeze them: [{kind, period, start, end, townships, counties}]."""
    today = today or clock.today()
    result = []
    places = ledger_places(session)
    for period in (last_month(today), last_quarter(today)):
        change = zero_change(session, period, places=places)
        result.append({"kind": period.kind, "period": period.label, "start": period.start.isoformat(),
                       "end": period.end.isoformat(), "townships": change.townships, "counties": change.counties})
    return result
