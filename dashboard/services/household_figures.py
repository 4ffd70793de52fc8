"""The figures of the household ledger, defined once: ``stats --json`` (its ``monitoring`` object), the
overview, meeting mode and snapshots all read them from here.

- households: 监测对象 — households identified for monitoring and still in the ledger as such (监测帮扶中,
  风险消除中, 风险已消除); persons: their members;
- by_category / persons_by_category: those households, and their members, per 监测对象类别;
- identified_this_month / identified_this_year: 新识别, by 县级审定 date (识别监测时间);
- eliminated_this_month / eliminated_this_year: 已消除, by 公告 date (消除监测时间);
- not_eliminated: 未消除 (监测帮扶中 and 风险消除中);
- clues_overdue: clues still undecided after their clock (``lights.clue_overdue``).

They are read from ``household_tally``, a roll-up per township (``HouseholdTally``: rows by state and category, by
month of identification and of elimination, by due day of the clues on the clock), so 300,000 households cost a
read of a few thousand rows, not a scan (measured: the scan was ≈ 470 ms; a covering index with an index-only scan
still ≈ 100 ms, the aggregation of 230,000 rows being most of it). The rows hold no day: "this month" is
``period >= 'YYYY-MM'`` chosen when read, so the figures turn with the calendar without a rebuild.

Kept exact by ``settle``, which the unit of work calls before commit: the townships of the households (and of the
cases) an ORM flush wrote are counted again from the base tables (a few hundred rows each); a statement that
wrote ``household`` or ``household_case`` outside a flush (a bulk Core write) makes it count every township again
(≈ 0.5 s at 300,000) unless the writer named its townships with ``touch``. ``stats --verify`` compares the rows
with the base tables (``verify``); ``stats --repair`` and a restore count everything again (``recount``).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from sqlalchemy import Engine, String, and_, case, cast, delete, event, func, insert, literal, literal_column, or_, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from dashboard import clock
from dashboard.figures import qualifies_for_supervision
from dashboard.lifecycle import CLOCKED_CASE_STATES
from dashboard.vocab import HouseholdState, MonitorCategory, VillageLevel, VillageStatus
from db.models import Household, HouseholdCase, HouseholdMember, HouseholdTally, Village

MONITORING_STATES = (HouseholdState.MONITORED, HouseholdState.ELIMINATING, HouseholdState.ELIMINATED)
NOT_ELIMINATED_STATES = (HouseholdState.MONITORED, HouseholdState.ELIMINATING)


@dataclass(frozen=True)
class MonitoringFigures:
    households: int
    persons: int
    by_category: dict[str, int]
    persons_by_category: dict[str, int]
    identified_this_month: int
    eliminated_this_month: int
    identified_this_year: int
    eliminated_this_year: int
    not_eliminated: int
    clues_overdue: int
    by_township: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _in(states) -> object:
    return Household.state.in_([state.value for state in states])


# --- the tally: what it holds, how it is counted --------------------------------------------------------------

STATE, IDENTIFIED, ELIMINATED, CLUE_DUE = "state", "identified", "eliminated", "clue_due"
IDENTIFIED_YEAR, ELIMINATED_YEAR = "identified_year", "eliminated_year"   # the same by year: a year reads one row
TALLY_COLUMNS = ["township", "kind", "state", "category", "period", "n", "persons"]


def _month(column, length: int = 7) -> Any:
    """``YYYY-MM`` (or ``YYYY``: length 4) of a date column (a date's text is ISO on both databases)."""
    return func.substr(cast(column, String(10)), literal_column("1"), literal_column(str(length)))  # one text


def _selects(townships: list[str] | None) -> list[Any]:
    """The tally's rows from the base tables (all townships, or these), one SELECT per kind, in TALLY_COLUMNS."""
    monitored = _in(MONITORING_STATES)
    where = [Household.township.in_(townships)] if townships is not None else []
    category = func.coalesce(Household.category, "")
    by_state = (select(Household.township, literal(STATE), Household.state, category, literal(""), func.count(),
                       func.coalesce(func.sum(Household.persons), 0))
                .where(monitored, *where).group_by(Household.township, Household.state, category))
    months = []
    for kind, column, length in ((IDENTIFIED, Household.identified_on, 7), (ELIMINATED, Household.eliminated_on, 7),
                                 (IDENTIFIED_YEAR, Household.identified_on, 4),
                                 (ELIMINATED_YEAR, Household.eliminated_on, 4)):
        period = _month(column, length)
        months.append(select(Household.township, literal(kind), literal(""), literal(""), period, func.count(),
                             literal(0))
                      .where(monitored, column.is_not(None), *where).group_by(Household.township, period))
    due = cast(HouseholdCase.due_on, String(10))
    clues = (select(Household.township, literal(CLUE_DUE), literal(""), literal(""), due, func.count(), literal(0))
             .select_from(HouseholdCase).join(Household, Household.id == HouseholdCase.household_id)
             .where(HouseholdCase.state.in_([state.value for state in CLOCKED_CASE_STATES]),
                    HouseholdCase.due_on.is_not(None), *where)
             .group_by(Household.township, due))
    return [by_state, *months, clues]


WHOLE_ABOVE = 200  # townships: more than these are counted as a whole
LOCK_KEY = 22_0021  # PostgreSQL advisory lock of the tally: shared by a township recount, exclusive by a full one


def _lock(session: Session, townships: list[str] | None) -> None:
    """Recounts of the same township follow one another (each sees the other's commit: READ COMMITTED reads anew
    per statement); a full recount waits for every township recount and they for it. SQLite: writers are serial."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if townships is None:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        return
    session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": LOCK_KEY})
    for township in sorted(townships):
        session.execute(text("SELECT pg_advisory_xact_lock(:key, hashtext(:township))"),
                        {"key": LOCK_KEY, "township": township})


def recount(session: Session, townships: Iterable[str] | None = None) -> None:
    """Count the tally's rows of these townships (None: all) again from the base tables, in the caller's
    transaction. What a bulk writer calls, with the townships it wrote, if it does not leave it to ``settle``."""
    names = sorted(set(townships)) if townships is not None else None
    if names == []:
        return
    if names is not None and len(names) > WHOLE_ABOVE:
        names = None   # most of the county: one statement per kind and one lock, not one lock per township
    _lock(session, names)
    table = HouseholdTally.__table__
    for start in range(0, len(names or [None]), 1_000):
        chunk = names[start:start + 1_000] if names is not None else None
        session.execute(delete(table).where(table.c.township.in_(chunk)) if chunk is not None else delete(table))
        for statement in _selects(chunk):
            session.execute(insert(table).from_select(TALLY_COLUMNS, statement))


# --- keeping it exact: what the unit of work calls ---------------------------------------------------------------

TOUCHED = "household_tally_townships"        # session.info: townships written (ORM flushes, ``touch``)
TOUCHED_HOUSEHOLDS = "household_tally_ids"   # session.info: households whose cases were written
TOUCHED_ALL = "household_tally_all"          # session.info: count every township again
NAMED = "household_tally_named"              # session.info: a bulk writer named its townships
FLUSHING = "household_tally_flushing"        # Connection.info: an ORM flush is running on this connection
BULK = "household_tally_bulk"                # Connection.info: household tables written outside a flush
_BULK_WRITE = re.compile(r'^\s*(?:INSERT|UPDATE|DELETE|MERGE|COPY|WITH)\b[\s\S]*?\b"?(household|household_case)"?\b'
                         r'(?!_)', re.I)
_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET ", "SHOW", "EXPLAIN")


def touch(session: Session, townships: Iterable[str]) -> None:
    """A bulk writer names the townships it wrote households or cases of: ``settle`` counts those again (and not
    every township)."""
    session.info.setdefault(TOUCHED, set()).update(townships)
    session.info[NAMED] = True


def touch_all(session: Session) -> None:
    """A bulk load that cannot name its townships (the synthetic generator): ``settle`` counts every one again."""
    session.info[TOUCHED_ALL] = True


def settle(session: Session) -> None:
    """The unit of work's step before commit: the tally rows of what this transaction wrote, counted again."""
    info, connection = session.info, session.connection()
    bulk = bool(connection.info.get(BULK))
    townships: set[str] = set(info.get(TOUCHED, ()))
    ids = sorted(info.get(TOUCHED_HOUSEHOLDS, ()))
    for start in range(0, len(ids), 5_000):
        townships.update(session.execute(select(Household.township).where(
            Household.id.in_(ids[start:start + 5_000])).distinct()).scalars())
    if info.get(TOUCHED_ALL) or (bulk and not info.get(NAMED)):
        recount(session)
    elif townships:
        recount(session, townships)
    for key in (TOUCHED, TOUCHED_HOUSEHOLDS, TOUCHED_ALL, NAMED):
        info.pop(key, None)
    connection.info.pop(BULK, None)


def _bound_connection(session: OrmSession) -> Connection | None:
    bind = session.bind
    return bind if isinstance(bind, Connection) else None


@event.listens_for(OrmSession, "before_flush")
def _flush_begins(session, _context, _instances) -> None:
    connection = _bound_connection(session)
    if connection is not None:
        connection.info[FLUSHING] = True


@event.listens_for(OrmSession, "after_flush")
def _flushed(session, _context) -> None:
    """The townships of the households, and the households of the cases and members, this flush wrote."""
    townships: set[str] = session.info.setdefault(TOUCHED, set())
    households: set[int] = session.info.setdefault(TOUCHED_HOUSEHOLDS, set())
    for record in (*session.new, *session.dirty, *session.deleted):
        if isinstance(record, Household):
            history = inspect_history(record, "township")
            townships.update(name for name in (record.township, *history) if name)
        elif isinstance(record, (HouseholdCase, HouseholdMember)):
            households.update(value for value in (record.household_id, *inspect_history(record, "household_id"))
                              if value is not None)


def inspect_history(record: Any, attribute: str) -> tuple:
    from sqlalchemy import inspect

    return tuple(inspect(record).attrs[attribute].history.deleted or ())


@event.listens_for(OrmSession, "after_flush_postexec")
@event.listens_for(OrmSession, "after_soft_rollback")
def _flush_ends(session, *_args) -> None:
    connection = _bound_connection(session)
    if connection is not None:
        connection.info.pop(FLUSHING, None)


@event.listens_for(Engine, "begin")
def _began(connection: Connection) -> None:
    connection.info.pop(BULK, None)
    connection.info.pop(FLUSHING, None)


@event.listens_for(Engine, "before_cursor_execute")
def _statement(connection: Connection, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    """A write of ``household`` or ``household_case`` that is not an ORM flush (the flush hook's own recount of
    ``persons`` runs inside the flush): a bulk write the tracking above does not see."""
    if connection.info.get(FLUSHING) or statement.lstrip()[:10].upper().startswith(_READS):
        return
    if _BULK_WRITE.match(statement):
        connection.info[BULK] = True


# --- reading ---------------------------------------------------------------------------------------------------

def _tally_statement(today: dt.date) -> Any:
    month, year, day = f"{today:%Y-%m}", f"{today:%Y}", today.isoformat()
    t = HouseholdTally
    states = t.kind == STATE

    def when(condition, value=None) -> Any:
        return func.coalesce(func.sum(case((condition, value if value is not None else t.n), else_=0)), 0)

    columns = [
        when(states).label("households"),
        when(states, t.persons).label("persons"),
        *[when(and_(states, t.category == category.value)).label(category.value) for category in MonitorCategory],
        *[when(and_(states, t.category == category.value), t.persons).label(f"persons_{category.value}")
          for category in MonitorCategory],
        when(and_(t.kind == IDENTIFIED, t.period >= month)).label("identified_this_month"),
        when(and_(t.kind == ELIMINATED, t.period >= month)).label("eliminated_this_month"),
        when(t.kind == IDENTIFIED_YEAR).label("identified_this_year"),
        when(t.kind == ELIMINATED_YEAR).label("eliminated_this_year"),
        when(and_(states, t.state.in_([state.value for state in NOT_ELIMINATED_STATES]))).label("not_eliminated"),
        when(t.kind == CLUE_DUE).label("clues_overdue"),
    ]
    return (select(t.township, *columns).where(or_(
        states, and_(t.kind.in_([IDENTIFIED, ELIMINATED]), t.period >= month),
        and_(t.kind.in_([IDENTIFIED_YEAR, ELIMINATED_YEAR]), t.period >= year),
        and_(t.kind == CLUE_DUE, t.period < day))).group_by(t.township))


FIGURE_KEYS = ("households", "persons", "identified_this_month", "eliminated_this_month", "identified_this_year",
               "eliminated_this_year", "not_eliminated", "clues_overdue")
CATEGORIES = tuple(category.value for category in MonitorCategory)


def monitoring_figures(session: Session, now: dt.datetime | None = None) -> MonitoringFigures:
    """The county's figures (the townships' added up) and each township's, from one grouped read of the tally
    (plain tuples: 1,500 townships through ``Row._mapping`` cost more than the read itself)."""
    today = (now or clock.now()).date()
    total = dict.fromkeys(FIGURE_KEYS, 0)
    total_categories = dict.fromkeys(CATEGORIES, 0)
    total_persons = dict.fromkeys(CATEGORIES, 0)
    by_township = []
    kinds = len(CATEGORIES)
    split = 2 + 2 * kinds
    for township, *values in session.execute(_tally_statement(today)):
        counts = [int(value or 0) for value in values]
        figures = dict(zip(FIGURE_KEYS, counts[:2] + counts[split:]))
        categories = dict(zip(CATEGORIES, counts[2:2 + kinds]))
        persons = dict(zip(CATEGORIES, counts[2 + kinds:split]))
        for key, value in figures.items():
            total[key] += value
        for key, value in categories.items():
            total_categories[key] += value
        for key, value in persons.items():
            total_persons[key] += value
        by_township.append({"township": township, **figures, "by_category": categories, "persons_by_category": persons})
    by_township.sort(key=lambda row: row["township"])
    return MonitoringFigures(**total, by_category=total_categories, persons_by_category=total_persons,
                             by_township=by_township)


# --- checking: ``stats --verify`` --------------------------------------------------------------------------------

def verify(session: Session) -> list[str]:
    """Each tally row that differs from the base tables (township, kind, state, category, period: stored → actual)."""
    def rows(statements) -> dict[tuple, tuple[int, int]]:
        found: dict[tuple, tuple[int, int]] = {}
        for statement in statements:
            for row in session.execute(statement):
                found[tuple(row[:5])] = (int(row[5]), int(row[6]))
        return found

    table = HouseholdTally.__table__
    stored = rows([select(*[table.c[name] for name in TALLY_COLUMNS])])
    actual = rows(_selects(None))
    return [f"household_tally {key}: {stored.get(key)} → {actual.get(key)}"
            for key in sorted(set(stored) | set(actual)) if stored.get(key) != actual.get(key)]


# --- villages: the 挂牌督战 criterion from the ledger ------------------------------------------------------------

@dataclass(frozen=True)
class VillageCheck:
    """A village's figures from the ledger beside its hand-set level. Poor people (剩余贫困人口 in seed 002's
    sense) are the members of its households under monitoring whose risk is not eliminated (监测帮扶中, 风险消除中:
    ``NOT_ELIMINATED_STATES``); 脱贫户 not monitored do not count. The rate is over the village's population."""

    village_id: int
    population: int          # 户籍人口 (0: not known)
    households: int          # households under monitoring, not eliminated
    poor_persons: int
    rate_percent: float | None   # None when the population is not known
    qualifies: bool          # seed 002's criterion on these figures
    supervised: bool         # the hand-set level: 省挂牌督战 or 重点督办, and not 已摘牌

    @property
    def disagrees(self) -> bool:
        return self.qualifies != self.supervised


SUPERVISED_LEVELS = (VillageLevel.PROVINCIAL, VillageLevel.KEY)


def village_checks(session: Session, village_ids: list[int] | None = None) -> dict[int, VillageCheck]:
    """{village id: its check}, for these villages (or all)."""
    persons = (select(func.count()).where(HouseholdMember.household_id == Household.id)
               .correlate(Household).scalar_subquery())
    ledger = (select(Household.village_id, func.count(), func.coalesce(func.sum(persons), 0))
              .where(_in(NOT_ELIMINATED_STATES)).group_by(Household.village_id))
    villages = select(Village.id, Village.population, Village.level, Village.status)
    if village_ids is not None:
        ledger = ledger.where(Household.village_id.in_(village_ids))
        villages = villages.where(Village.id.in_(village_ids))
    counts = {row[0]: (int(row[1]), int(row[2])) for row in session.exec(ledger).all()}
    checks = {}
    for village_id, population, level, status in session.exec(villages).all():
        households, poor = counts.get(village_id, (0, 0))
        rate = poor * 100 / population if population else None
        checks[village_id] = VillageCheck(
            village_id=village_id, population=population, households=households, poor_persons=poor, rate_percent=rate,
            qualifies=qualifies_for_supervision(rate, poor),
            supervised=level in [lv.value for lv in SUPERVISED_LEVELS] and status != VillageStatus.DELISTED.value)
    return checks


def disagreeing_villages(session: Session, checks: dict[int, VillageCheck] | None = None
                         ) -> list[tuple[Village, VillageCheck]]:
    """Every village whose hand-set level disagrees with its figures from the ledger, with the figures."""
    checks = village_checks(session) if checks is None else checks
    wrong = [village_id for village_id, check in checks.items() if check.disagrees]
    if not wrong:
        return []
    villages = session.exec(select(Village).where(Village.id.in_(wrong))
                            .order_by(Village.county, Village.township, Village.name)).all()
    return [(village, checks[village.id]) for village in villages if village.id is not None]
