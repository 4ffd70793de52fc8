"""The figures of the household ledger, defined once: ``stats --json`` (its ``monitoring`` object), the
overview, meeting mode and snapshots all read them from here.

- households: 监测对象 — households identified for monitoring and still in the ledger as such (监测帮扶中,
  风险消除中, 风险已消除); persons: their members;
- by_category: those households per 监测对象类别;
- identified_this_month / identified_this_year: 新识别, by 县级审定 date (识别监测时间);
- eliminated_this_month / eliminated_this_year: 已消除, by 公告 date (消除监测时间);
- not_eliminated: 未消除 (监测帮扶中 and 风险消除中);
- clues_overdue: clues still undecided after their clock (``lights.clue_overdue``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from sqlalchemy import case, func
from sqlmodel import Session, select

from dashboard import clock, lights
from dashboard.figures import qualifies_for_supervision
from dashboard.vocab import HouseholdState, MonitorCategory, VillageLevel, VillageStatus
from db.models import Household, HouseholdCase, HouseholdMember, Village

MONITORING_STATES = (HouseholdState.MONITORED, HouseholdState.ELIMINATING, HouseholdState.ELIMINATED)
NOT_ELIMINATED_STATES = (HouseholdState.MONITORED, HouseholdState.ELIMINATING)


@dataclass(frozen=True)
class MonitoringFigures:
    households: int
    persons: int
    by_category: dict[str, int]
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


def _counts(session: Session, today: dt.date, group_by_township: bool) -> list:
    month = today.replace(day=1)
    year = today.replace(month=1, day=1)
    columns = [
        func.count().label("households"),
        func.coalesce(func.sum(Household.persons), 0).label("persons"),  # members, counted (db/engine.py)
        *[func.sum(case((Household.category == category.value, 1), else_=0)).label(category.value)
          for category in MonitorCategory],
        func.sum(case((Household.identified_on >= month, 1), else_=0)).label("identified_this_month"),
        func.sum(case((Household.eliminated_on >= month, 1), else_=0)).label("eliminated_this_month"),
        func.sum(case((Household.identified_on >= year, 1), else_=0)).label("identified_this_year"),
        func.sum(case((Household.eliminated_on >= year, 1), else_=0)).label("eliminated_this_year"),
        func.sum(case((_in(NOT_ELIMINATED_STATES), 1), else_=0)).label("not_eliminated"),
    ]
    statement = select(*columns).where(_in(MONITORING_STATES))
    if group_by_township:
        statement = select(Household.township, *columns).where(_in(MONITORING_STATES)).group_by(Household.township)
    return session.exec(statement).all()


def _overdue(session: Session, today: dt.date, group_by_township: bool) -> dict[str | None, int]:
    statement = (select(Household.township if group_by_township else None, func.count())
                 .select_from(HouseholdCase).join(Household, Household.id == HouseholdCase.household_id)
                 .where(lights.clue_overdue(today)))
    if group_by_township:
        statement = statement.group_by(Household.township)
    return {row[0]: row[1] for row in session.exec(statement).all()}


def _figures(row, overdue: int) -> dict:
    values = dict(row._mapping)
    values.pop("township", None)
    by_category = {category.value: int(values.pop(category.value) or 0) for category in MonitorCategory}
    return {**{key: int(value or 0) for key, value in values.items()}, "by_category": by_category,
            "clues_overdue": overdue}


def _sum(figures: list[dict]) -> dict:
    """The county's figures: the townships' added up (one scan of the households, not two)."""
    total: dict = {key: 0 for key in _figures(_EmptyRow(), 0)}
    total["by_category"] = {category.value: 0 for category in MonitorCategory}
    for values in figures:
        for key, value in values.items():
            if key == "by_category":
                for category, count in value.items():
                    total["by_category"][category] += count
            else:
                total[key] += value
    return total


def monitoring_figures(session: Session, now: dt.datetime | None = None) -> MonitoringFigures:
    today = (now or clock.now()).date()
    overdue_by_township = _overdue(session, today, True)
    townships = {row.township: _figures(row, overdue_by_township.get(row.township, 0))
                 for row in _counts(session, today, True)}
    for township, overdue in overdue_by_township.items():  # a township whose only households are clues
        townships.setdefault(township, _figures(_EmptyRow(), overdue))
    by_township = [{"township": name, **values} for name, values in sorted(townships.items())]
    return MonitoringFigures(**_sum(list(townships.values())), by_township=by_township)


class _EmptyRow:
    """The counts of a township with no monitored household (only clues)."""

    _mapping = {"households": 0, "persons": 0, **{c.value: 0 for c in MonitorCategory}, "identified_this_month": 0,
                "eliminated_this_month": 0, "identified_this_year": 0, "eliminated_this_year": 0, "not_eliminated": 0}



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
