"""Maintained roll-ups: the leadership figures at any scale without scanning the ledger.

``finding_rollup`` keeps what each finding contributes (status, light, flags, dimension keys);
``rollup_count`` keeps the sums per dimension key, status and light. Every transaction that
changes findings applies the differences for those findings before it commits. Lights move
with the calendar, so when the stored date (or the warning settings) differ from today's the
whole table is rebuilt once, before anything reads it.

The figures read from here equal the direct SQL aggregates of ``queries`` (a test keeps them so).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict
from typing import Any, Iterable

from sqlalchemy import Engine, case, delete, event, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from dashboard import clock, warnings
from dashboard.settings import Settings, load_settings
from dashboard.vocab import Status
from db.models import Finding, FindingRollup, RollupCount, RollupMeta

DIMENSIONS = {  # dimension -> the finding_rollup column that keys it ("all": one key for the whole ledger)
    "all": None,
    "unit": FindingRollup.lead_unit_id,
    "source": FindingRollup.source_id,
    "category": FindingRollup.category_id,
    "township": FindingRollup.township,
    "village": FindingRollup.village_id,
}
FLAGS = ("stale", "extended", "repeat", "on_time")
TOUCHED = "rollup_touched_findings"
CHUNK = 5_000  # findings per delta step: keeps the IN lists within every driver's limits
CONTRIBUTION_COLUMNS = ["finding_id", "status", "light", *FLAGS, "lead_unit_id", "source_id", "category_id",
                        "township", "village_id"]
COUNT_COLUMNS = ["dimension", "key", "status", "light", "n", *FLAGS]


def _contribution(now: dt.datetime, settings: Settings) -> list:
    return [
        Finding.id.label("finding_id"),
        Finding.status.label("status"),
        warnings.light(now, settings).label("light"),
        warnings.is_stale(now, settings).label("stale"),
        warnings.is_extended().label("extended"),
        warnings.is_repeat().label("repeat"),
        warnings.closed_on_time().label("on_time"),
        Finding.lead_unit_id, Finding.source_id, Finding.category_id, Finding.township, Finding.village_id,
    ]


def _settings_hash(settings: Settings) -> str:
    return hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:16]


def is_fresh(session: Session, now: dt.datetime | None = None) -> bool:
    now = now or clock.now()
    meta = session.get(RollupMeta, 1)
    return meta is not None and meta.as_of == now.date() and meta.settings_hash == _settings_hash(load_settings(session))


def _grouped(dimension: str, column: Any, finding_ids: list[int] | None = None) -> Any:
    """The sums of contributions per key, status and light of one dimension (of some findings, or all)."""
    key = literal("") if column is None else func.coalesce(func.cast(column, RollupCount.__table__.c.key.type), "")
    grouped = (select(literal(dimension), key, FindingRollup.status, FindingRollup.light, func.count(),
                      *[func.sum(case((getattr(FindingRollup, flag), 1), else_=0)) for flag in FLAGS])
               .group_by(key, FindingRollup.status, FindingRollup.light))
    if column is not None:
        grouped = grouped.where(column.is_not(None))
    if finding_ids is not None:
        grouped = grouped.where(FindingRollup.finding_id.in_(finding_ids))
    return grouped


def rebuild(session: Session, now: dt.datetime | None = None) -> None:
    """Recompute every contribution and every sum (once a day, or after the settings changed)."""
    now = now or clock.now()
    settings = load_settings(session)
    session.execute(delete(RollupCount))
    session.execute(delete(FindingRollup))
    session.execute(FindingRollup.__table__.insert().from_select(CONTRIBUTION_COLUMNS,
                                                                 select(*_contribution(now, settings))))
    for dimension, column in DIMENSIONS.items():
        session.execute(RollupCount.__table__.insert().from_select(COUNT_COLUMNS, _grouped(dimension, column)))
    meta = session.get(RollupMeta, 1) or RollupMeta(id=1)
    meta.as_of, meta.settings_hash, meta.rebuilt_at = now.date(), _settings_hash(settings), now
    session.add(meta)
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA optimize"))  # keep the planner's statistics current (PostgreSQL: autovacuum)


def refresh_if_stale(engine: Engine) -> bool:
    """Called before reading: rebuild in a write transaction if today's figures are not there yet."""
    from db.engine import read_session, write_session

    with read_session(engine) as session:
        if is_fresh(session):
            return False
    with write_session(engine) as session:
        if not is_fresh(session):  # someone else may have rebuilt meanwhile
            rebuild(session)
    return True


def _add_sums(session: Session, finding_ids: list[int], sign: int) -> None:
    """Add (+1) or take away (-1) these findings' current contributions, one upsert batch per dimension."""
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = upsert(RollupCount)
    statement = statement.on_conflict_do_update(
        index_elements=["dimension", "key", "status", "light"],
        set_={name: getattr(RollupCount, name) + getattr(statement.excluded, name) for name in ("n", *FLAGS)})
    for dimension, column in DIMENSIONS.items():
        rows = [dict(zip(COUNT_COLUMNS, (*row[:4], *(sign * int(value or 0) for value in row[4:]))))
                for row in session.execute(_grouped(dimension, column, finding_ids)).all()]
        if rows:
            session.execute(statement, rows)


def refresh(session: Session, finding_ids: Iterable[int], now: dt.datetime | None = None) -> None:
    """Apply the difference these findings now make to the sums: take their old contributions away,
    compute them afresh, add them back; in set operations, so an import of 10,000 findings into a
    ledger of a million costs seconds, not a rebuild."""
    ids = sorted(set(finding_ids))
    if not ids or not is_fresh(session, now):
        return  # not built for today: the next reader rebuilds everything anyway
    now = now or clock.now()
    settings = load_settings(session)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        _add_sums(session, chunk, -1)
        session.execute(delete(FindingRollup).where(FindingRollup.finding_id.in_(chunk)))
        session.execute(FindingRollup.__table__.insert().from_select(
            CONTRIBUTION_COLUMNS, select(*_contribution(now, settings)).where(Finding.id.in_(chunk))))
        _add_sums(session, chunk, +1)
    session.flush()


def touch(session: Session, finding_ids: Iterable[int]) -> None:
    """Findings written with core inserts (imports) must be named so their sums are updated."""
    session.info.setdefault(TOUCHED, set()).update(finding_ids)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    touched = session.info.setdefault(TOUCHED, set())
    for record in (*session.new, *session.dirty):
        if isinstance(record, Finding) and record.id is not None:
            touched.add(record.id)


@event.listens_for(Session, "before_commit")
def _apply(session: Session) -> None:
    touched = session.info.pop(TOUCHED, set())
    if touched:
        session.flush()
        refresh(session, touched)
        session.info.pop(TOUCHED, None)


# --- reading ----------------------------------------------------------------------------------------

def counts(session: Session, dimension: str, keys: list[str] | None = None,
           statuses: list[str] | None = None, lights: list[str] | None = None) -> list[Any]:
    """Plain rows (not ORM objects: a province has thousands of them) of one dimension."""
    table = RollupCount.__table__
    statement = select(table).where(table.c.dimension == dimension, table.c.n != 0)
    if keys is not None:
        statement = statement.where(table.c.key.in_(keys))
    if statuses:
        statement = statement.where(table.c.status.in_(statuses))
    if lights:
        statement = statement.where(table.c.light.in_(lights))
    return list(session.execute(statement).all())


def keys(session: Session, dimension: str) -> list[str]:
    """The keys of a dimension that have findings (for townships: the names findings use)."""
    table = RollupCount.__table__.c
    statement = select(table.key).where(table.dimension == dimension, table.n != 0, table.key != "").distinct()
    return list(session.execute(statement).scalars())


FIGURE_KEYS = ("total", "open", "in_progress", "pending_review", "ongoing", "closed", "cancelled", "overdue",
               "closed_on_time", "extended", "repeats", "stale", "red", "yellow", "green")


def _empty() -> dict[str, int]:
    return {key: 0 for key in FIGURE_KEYS}


def _sums() -> list:
    """Per key, the raw figures as SQL sums over its (status, light) rows."""
    table = RollupCount.__table__.c

    def where(condition) -> Any:
        return func.coalesce(func.sum(case((condition, table.n), else_=0)), 0)

    return [
        func.sum(table.n).label("total"),
        *[where(table.status == status.value).label(status.value) for status in Status],
        where(table.light == "red").label("overdue"),  # red is exactly 'past the deadline in force'
        func.sum(table.on_time).label("closed_on_time"),
        func.sum(table.extended).label("extended"),
        func.sum(table.repeat).label("repeats"),
        func.sum(table.stale).label("stale"),
        *[where(table.light == light).label(light) for light in ("red", "yellow", "green")],
    ]


def grouped(session: Session, dimension: str, keys: list[str] | None = None) -> dict[str, dict[str, int]]:
    """The raw figures (before rates) of every key of a dimension."""
    table = RollupCount.__table__.c
    statement = select(table.key, *_sums()).where(table.dimension == dimension).group_by(table.key)
    if keys is not None:
        statement = statement.where(table.key.in_(keys))
    result = {}
    for row in session.execute(statement).mappings():
        values = {key: int(row[key] or 0) for key in FIGURE_KEYS}
        if values["total"]:
            result[row["key"]] = values
    return result


def totals(session: Session) -> dict[str, int]:
    return grouped(session, "all").get("", _empty())
