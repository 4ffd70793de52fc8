"""Read side: the leadership figures, roll-ups, trend, lists and the paged ledger.

Everything is a SQL aggregate or a paged query; nothing loads the whole ledger. The light,
overdue, stale and "not cancelled" rules come from ``dashboard.lights``; who may see what from
``dashboard.lifecycle``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import and_, case, func, literal, or_, select, text, true, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from dashboard import clock, lights
from dashboard.figures import Figures
from dashboard.services import rollups
from dashboard.services.household_figures import monitoring_figures
from dashboard.errors import Phrase, PermissionDenied
from dashboard.lifecycle import SCOPES, Action, Actor, Scope, may
from dashboard.settings import Settings, load_settings
from dashboard.vocab import STALE_STATES, Light, Status
from db.models import (
    OPEN_DEADLINE_WHERE,
    Category,
    Evidence,
    Finding,
    FindingCoUnit,
    Progress,
    Source,
    Unit,
    Village,
)


# --- visibility -----------------------------------------------------------------------------------

def involves_unit(unit_id: int) -> ColumnElement[bool]:
    """Findings a unit leads or co-operates on."""
    co_operates = select(FindingCoUnit.finding_id).where(FindingCoUnit.unit_id == unit_id)
    return or_(Finding.lead_unit_id == unit_id, Finding.id.in_(co_operates))  # two index lookups, no scan


def in_scope(actor: Actor, action: Action) -> ColumnElement[bool]:
    """The findings whose unit lets ``actor`` do ``action`` (``lifecycle.SCOPES``, as SQL): work lists
    are built from the same scopes the policy enforces."""
    scope = SCOPES.get(action, Scope.ANY)
    if scope is Scope.ANY:
        return true()
    if actor.unit_id is None:
        return true() if scope is Scope.NOT_OWN else literal(False)
    if scope is Scope.NOT_OWN:  # separation of duties: neither the lead unit nor a co-operating one
        return ~involves_unit(actor.unit_id)
    if scope is Scope.LEAD:
        return Finding.lead_unit_id == actor.unit_id
    return involves_unit(actor.unit_id)


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """Leaders, inspectors and admins see every finding; a department sees its own unit's."""
    if may(actor.role, Action.VIEW_ALL):
        return true()
    if actor.unit_id is None:
        return literal(False)
    return involves_unit(actor.unit_id)


def check_visible(session: Session, actor: Actor, finding_id: int) -> None:
    allowed = session.execute(select(Finding.id).where(Finding.id == finding_id, visible_to(actor))).first()
    if allowed is None:
        raise PermissionDenied("error.unit_denied", action=Phrase("action.view"))


# --- the leadership figures ---------------------------------------------------------------------------

def _count_if(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _figure_columns(now: dt.datetime, settings: Settings) -> list:
    today = now.date()
    light = lights.light(now, settings)
    return [
        func.count().label("total"),
        *[_count_if(Finding.status == status.value).label(status.value) for status in Status],
        _count_if(lights.is_overdue(today)).label("overdue"),
        _count_if(lights.closed_on_time()).label("closed_on_time"),
        _count_if(lights.is_extended()).label("extended"),
        _count_if(lights.is_repeat()).label("repeats"),
        _count_if(lights.is_stale(now, settings)).label("stale"),
        _count_if(light == Light.RED.value).label("red"),
        _count_if(light == Light.YELLOW.value).label("yellow"),
        _count_if(light == Light.GREEN.value).label("green"),
    ]


def _whole_ledger(session: Session, actor: Actor | None, where, now: dt.datetime) -> bool:
    """The maintained roll-ups answer questions about the whole ledger, today."""
    return (where is None and (actor is None or may(actor.role, Action.VIEW_ALL))
            and rollups.is_fresh(session, now))


def figures(session: Session, actor: Actor | None = None, *, now: dt.datetime | None = None,
            where: ColumnElement[bool] | None = None) -> Figures:
    """The SPEC's totals, in one aggregate query (or from the roll-ups for the whole ledger)."""
    now = now or clock.now()
    if _whole_ledger(session, actor, where, now):
        return Figures.from_mapping(rollups.totals(session))
    settings = load_settings(session)
    statement = select(*_figure_columns(now, settings)).select_from(Finding)
    if actor is not None:
        statement = statement.where(visible_to(actor))
    if where is not None:
        statement = statement.where(where)
    return Figures.from_mapping(session.execute(statement).one()._mapping)


ROLLUPS = {
    "unit": (Unit.name, Finding.lead_unit_id, Unit, Unit.id == Finding.lead_unit_id),
    "source": (Source.title, Finding.source_id, Source, Source.id == Finding.source_id),
    "category": (Category.name, Finding.category_id, Category, Category.id == Finding.category_id),
    "village": (Village.name, Finding.village_id, Village, Village.id == Finding.village_id),
}


def rollup(session: Session, by: str, actor: Actor | None = None, *, now: dt.datetime | None = None,
           where: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
    """Figures per lead unit, source, category, village or township; rank 1 is the best completion rate."""
    now = now or clock.now()
    if _whole_ledger(session, actor, where, now):
        return _ranked(_rollup_from_counts(session, by))
    settings = load_settings(session)
    name_col: Any
    key_col: Any
    if by == "township":
        name_col, key_col = Finding.township, Finding.township
        statement = select(name_col.label("name"), *_figure_columns(now, settings)).select_from(Finding)
        statement = statement.where(Finding.township.is_not(None)).group_by(Finding.township)
    else:
        name_col, key_col, table, join_on = ROLLUPS[by]
        statement = (select(key_col.label("id"), name_col.label("name"), *_figure_columns(now, settings))
                     .select_from(Finding).join(table, join_on).group_by(key_col, name_col))
        if by == "village":
            statement = statement.add_columns(Village.township.label("township")).group_by(Village.township)
    if actor is not None:
        statement = statement.where(visible_to(actor))
    if where is not None:
        statement = statement.where(where)
    rows = []
    for record in session.execute(statement).all():
        row = dict(record._mapping)
        for key in row:
            if key not in ("id", "name", "township"):
                row[key] = int(row[key] or 0)
        rows.append(row)
    return _ranked(rows)


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a roll-up: their key (id, name, township), every figure of ``Figures.as_dict`` and a rank."""
    rows = [{**row, **Figures.from_mapping(row).as_dict()} for row in rows]
    rows.sort(key=lambda r: (-r["completion_rate"], r["overdue"], r["name"] or ""))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _rollup_from_counts(session: Session, by: str) -> list[dict[str, Any]]:
    groups = rollups.grouped(session, by)
    if by == "township":
        return [{"name": key, **values} for key, values in groups.items()]
    name_column, _key, table, _join = ROLLUPS[by]
    ids = [int(key) for key in groups]
    columns = [table.id, name_column.label("name")] + ([Village.township] if by == "village" else [])
    names = {row.id: row for row in session.execute(select(*columns).where(table.id.in_(ids))).all()} if ids else {}
    rows = []
    for key, values in groups.items():
        record = names[int(key)]
        row = {"id": record.id, "name": record.name, **values}
        if by == "village":
            row["township"] = record.township
        rows.append(row)
    return rows


def stats(session: Session, now: dt.datetime | None = None) -> dict[str, Any]:
    """What ``python -m dashboard stats --json`` prints and the overview shows."""
    now = now or clock.now()
    result = figures(session, now=now).as_dict()
    result["as_of"] = now.isoformat(timespec="seconds")
    result["by_unit"] = [
        {"unit": row["name"], "total": row["total"], "closed": row["closed"], "overdue": row["overdue"],
         "completion_rate": row["completion_rate"], "red": row["red"], "rank": row["rank"]}
        for row in rollup(session, "unit", now=now)
    ]
    result["monitoring"] = monitoring_figures(session, now).as_dict()  # the household ledger (issue 22)
    return result


# --- trend ----------------------------------------------------------------------------------------------

def weekly_trend(session: Session, actor: Actor | None = None, *, weeks: int = 12,
                 now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """New and closed findings per week, and the open items at the end of each week (burn-down)."""
    now = now or clock.now()
    this_monday = now.date() - dt.timedelta(days=now.weekday())
    first = this_monday - dt.timedelta(weeks=weeks - 1)
    first_dt = dt.datetime.combine(first, dt.time())
    scope = and_(lights.is_effective(), visible_to(actor) if actor else true())

    mondays = [first + dt.timedelta(weeks=index) for index in range(weeks)]

    def per_week(column) -> dict[dt.date, int]:
        # One range count per week walks the (time, status) index only; grouping by a computed week
        # evaluated a date function on every row of the window (300 ms at 1M findings).
        counts = [select(literal(index).label("week"), func.count().label("n"))
                  .where(scope, column >= _midnight(monday), column < _midnight(monday + dt.timedelta(weeks=1)))
                  for index, monday in enumerate(mondays)]
        return {mondays[index]: n for index, n in session.execute(union_all(*counts)).all()}

    new, closed = per_week(Finding.created_at), per_week(Finding.closed_at)
    if _whole_ledger(session, actor, None, now):
        whole = rollups.totals(session)  # open now, walked back through the window's new and closed
        open_before = (whole["total"] - whole["closed"] - whole["cancelled"]
                       - sum(new.values()) + sum(closed.values()))
    else:
        open_before = session.execute(select(func.count()).where(
            scope, Finding.created_at < first_dt,
            or_(Finding.closed_at.is_(None), Finding.closed_at >= first_dt))).scalar_one()
    trend, open_now = [], open_before
    for index in range(weeks):
        monday = first + dt.timedelta(weeks=index)
        open_now += new.get(monday, 0) - closed.get(monday, 0)
        trend.append({"week": monday, "new": new.get(monday, 0), "closed": closed.get(monday, 0), "open": open_now})
    return trend


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


# --- lists -------------------------------------------------------------------------------------------

def _longest_overdue_ids(session: Session, today: dt.date, limit: int) -> list[int]:
    """Walk the partial index of open deadlines from the oldest; SQLite must be told to use it, and it
    uses it only when the query repeats the index's predicate word for word (``OPEN_DEADLINE_WHERE``,
    built from ``DEADLINE_STATES`` like ``lights.is_overdue``)."""
    hint = " INDEXED BY ix_finding_open_deadline" if session.get_bind().dialect.name == "sqlite" else ""
    statement = text(f"SELECT id FROM finding{hint} WHERE {OPEN_DEADLINE_WHERE} AND current_deadline < :today "
                     "ORDER BY current_deadline, id LIMIT :limit")
    return list(session.execute(statement, {"today": today, "limit": limit}).scalars())


@dataclass(frozen=True)
class OverdueItem:
    """One overdue finding on a work list (红榜, 我的待办), longest overdue first."""

    id: int
    serial: str
    description: str
    unit: str
    current_deadline: dt.date
    original_deadline: dt.date | None
    days_overdue: int
    status: Status


def overdue_list(session: Session, actor: Actor | None = None, *, now: dt.datetime | None = None,
                 limit: int = 50) -> list[OverdueItem]:
    """Overdue findings, longest overdue first, with unit and days overdue."""
    today = (now or clock.now()).date()
    days = lights.days_overdue(today)
    statement = (select(Finding.id, Finding.serial, Finding.description, Unit.name.label("unit"),
                        Finding.current_deadline, Finding.original_deadline, days.label("days_overdue"),
                        Finding.status)
                 .join(Unit, Unit.id == Finding.lead_unit_id)
                 .order_by(Finding.current_deadline, Finding.id))
    if actor is None or may(actor.role, Action.VIEW_ALL):
        statement = statement.where(Finding.id.in_(_longest_overdue_ids(session, today, limit)))
    else:
        statement = statement.where(lights.is_overdue(today), visible_to(actor)).limit(limit)
    return [OverdueItem(id=r.id, serial=r.serial, description=r.description, unit=r.unit,
                        current_deadline=r.current_deadline, original_deadline=r.original_deadline,
                        days_overdue=int(r.days_overdue), status=Status(r.status))
            for r in session.execute(statement).all()]


def stale_units(session: Session, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Units with open items and no progress reported on any of them for ``stale_days``."""
    now = now or clock.now()
    settings = load_settings(session)
    last_activity = func.max(lights.last_activity())
    silent_states = [s.value for s in STALE_STATES]
    statement = (select(Unit.id, Unit.name, func.count().label("open_items"), last_activity.label("last_update"))
                 .join(Unit, Unit.id == Finding.lead_unit_id)
                 .where(lights.can_go_stale())
                 .group_by(Unit.id, Unit.name)
                 .having(last_activity < lights.stale_cutoff(now, settings))
                 .order_by(last_activity))
    if rollups.is_fresh(session, now):  # only units whose every open item is stale can qualify
        candidates = [int(key) for key, values in rollups.grouped(session, "unit").items()
                      if sum(values[s] for s in silent_states) and values["stale"] == sum(values[s] for s in silent_states)]
        statement = statement.where(Finding.lead_unit_id.in_(candidates))
    rows = []
    for row in session.execute(statement).all():
        item = dict(row._mapping)
        last = item["last_update"]
        last = last if isinstance(last, dt.datetime) else dt.datetime.fromisoformat(str(last))
        item["last_update"] = last
        item["days_silent"] = (now - last).days
        rows.append(item)
    return rows


def duplicate_evidence(session: Session) -> list[dict[str, Any]]:
    """纸面销号 warning: the same file (SHA-256) offered as proof for more than one finding."""
    shared = (select(Evidence.sha256).group_by(Evidence.sha256)
              .having(func.count(func.distinct(Evidence.finding_id)) > 1).subquery())
    statement = (select(Evidence.sha256, Evidence.filename, Evidence.finding_id, Finding.serial,
                        Evidence.uploaded_at)
                 .join(Finding, Finding.id == Evidence.finding_id)
                 .where(Evidence.sha256.in_(select(shared.c.sha256)))
                 .order_by(Evidence.sha256, Evidence.uploaded_at))
    groups: dict[str, dict[str, Any]] = {}
    for row in session.execute(statement).all():
        group = groups.setdefault(row.sha256, {"sha256": row.sha256, "filename": row.filename, "findings": []})
        if row.serial not in group["findings"]:
            group["findings"].append(row.serial)
    return list(groups.values())


# --- the ledger --------------------------------------------------------------------------------------

@dataclass
class LedgerFilter:
    source_id: int | None = None
    lead_unit_id: int | None = None
    township: str | None = None
    village_id: int | None = None
    category_id: int | None = None
    statuses: Sequence[str] = field(default_factory=tuple)
    lights: Sequence[str] = field(default_factory=tuple)
    overdue_only: bool = False
    keyword: str = ""
    involved_unit_id: int | None = None
    involved_unit_ids: Sequence[int] = field(default_factory=tuple)  # any of these (an API token's units)


SORTABLE = {
    "serial": Finding.id,  # serials are issued in id order; as text "ZG-2026-10000" would sort before "-9999"
    "deadline": Finding.current_deadline,
    "created": Finding.created_at,
    "status": Finding.status,
}


def ledger_conditions(flt: LedgerFilter, now: dt.datetime, settings: Settings) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in ((Finding.source_id, flt.source_id), (Finding.lead_unit_id, flt.lead_unit_id),
                          (Finding.township, flt.township), (Finding.village_id, flt.village_id),
                          (Finding.category_id, flt.category_id)):
        if value not in (None, ""):
            conditions.append(column == value)
    if flt.statuses:
        conditions.append(Finding.status.in_(list(flt.statuses)))
    if flt.lights:
        conditions.append(lights.light(now, settings).in_(list(flt.lights)))
    if flt.overdue_only:
        conditions.append(lights.is_overdue(now.date()))
    if flt.keyword.strip():
        # ILIKE: SQLite's LIKE ignores ASCII case, PostgreSQL's does not; search the same on both
        keyword = flt.keyword.strip()  # % and _ are matched as themselves
        conditions.append(or_(Finding.description.icontains(keyword, autoescape=True),
                              Finding.serial.icontains(keyword, autoescape=True),
                              Finding.responsible_person.icontains(keyword, autoescape=True)))
    if flt.involved_unit_id is not None:
        conditions.append(involves_unit(flt.involved_unit_id))
    if flt.involved_unit_ids:
        conditions.append(or_(*(involves_unit(unit_id) for unit_id in flt.involved_unit_ids)))
    return conditions


def _count_from_rollups(session: Session, actor: Actor, flt: LedgerFilter, now: dt.datetime) -> int | None:
    """The number of matching rows, read from the roll-ups when they can answer: a light filter
    would otherwise compute every finding's light to count them (half a second at 1M findings)."""
    keyed = [(dimension, value) for dimension, value in (
        ("source", flt.source_id), ("unit", flt.lead_unit_id), ("township", flt.township),
        ("village", flt.village_id), ("category", flt.category_id)) if value not in (None, "")]
    if (len(keyed) > 1 or flt.keyword.strip() or flt.involved_unit_id is not None or flt.involved_unit_ids
            or not _whole_ledger(session, actor, None, now)):
        return None
    dimension, key = keyed[0] if keyed else ("all", "")
    lights = list(flt.lights) or None
    if flt.overdue_only:  # overdue is exactly the red light
        lights = [light for light in (lights or [Light.RED.value]) if light == Light.RED.value] or ["none"]
    rows = rollups.counts(session, dimension, keys=[str(key)], statuses=list(flt.statuses) or None, lights=lights)
    return sum(row.n for row in rows)


def ledger_page(session: Session, actor: Actor, flt: LedgerFilter, *, page: int = 1, page_size: int = 50,
                sort: str = "serial", descending: bool = False,
                now: dt.datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of the ledger and the number of rows the filters match."""
    now = now or clock.now()
    settings = load_settings(session)
    conditions = [visible_to(actor), *ledger_conditions(flt, now, settings)]
    total = _count_from_rollups(session, actor, flt, now)
    if total is None:
        total = session.execute(select(func.count()).select_from(Finding).where(*conditions)).scalar_one()
    # A page past the middle is read from the other end, so the last page costs what the first does.
    offset = max(page - 1, 0) * page_size
    if offset >= total:
        return [], total
    from_end = offset > total / 2
    if from_end:
        offset, descending = max(total - offset - page_size, 0), not descending
        page_size = min(page_size, total - max(page - 1, 0) * page_size)
    column = SORTABLE.get(sort, Finding.id)
    order = column.desc() if descending else column.asc()
    if column is Finding.current_deadline:  # SQLite and PostgreSQL put NULLs at opposite ends otherwise
        order = order.nulls_first() if from_end else order.nulls_last()
    tie = Finding.id.desc() if from_end else Finding.id.asc()  # ties in logging order
    # Deferred join: order and cut the ids alone, then build the page's rows (joins, light) for those only.
    page_ids = select(Finding.id).where(*conditions).order_by(order, tie).limit(page_size).offset(offset)
    statement = (
        select(Finding.id, Finding.serial, Source.title.label("source"), Category.name.label("category"),
               Finding.description, Finding.township, Village.name.label("village"), Unit.name.label("lead_unit"),
               Finding.status, lights.light(now, settings).label("light"), Finding.rect_type, Finding.priority,
               Finding.original_deadline, Finding.current_deadline,
               lights.days_overdue(now.date()).label("days_overdue"), Finding.version)
        .join(Source, Source.id == Finding.source_id)
        .join(Category, Category.id == Finding.category_id)
        .join(Unit, Unit.id == Finding.lead_unit_id)
        .outerjoin(Village, Village.id == Finding.village_id)
        .where(Finding.id.in_(page_ids))
        .order_by(order, tie)
    )
    rows = [dict(row._mapping) for row in session.execute(statement).all()]
    return (rows[::-1] if from_end else rows), total


def light_of(session: Session, finding_id: int, now: dt.datetime | None = None) -> str:
    now = now or clock.now()
    settings = load_settings(session)
    return session.execute(select(lights.light(now, settings)).where(Finding.id == finding_id)).scalar_one()


def last_progress(session: Session, finding_id: int) -> Progress | None:
    return session.execute(select(Progress).where(Progress.finding_id == finding_id)
                           .order_by(Progress.reported_at.desc(), Progress.id.desc())).scalars().first()
