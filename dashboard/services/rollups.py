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
import logging
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from sqlalchemy import Engine, case, delete, func, literal, or_, select, text
from sqlmodel import Session

from dashboard import clock, lights
from dashboard.figures import COUNTS
from dashboard.settings import Settings, load_settings
from dashboard.vocab import Status
from db.engine import conflict_insert
from db.models import Finding, FindingRollup, RollupCount, RollupMeta

log = logging.getLogger(__name__)

DIMENSIONS = {  # dimension -> the contribution column that keys it ("all": one key for the whole ledger)
    "all": None,
    "unit": "lead_unit_id",
    "source": "source_id",
    "category": "category_id",
    "township": "township",
    "village": "village_id",
}
FLAGS = ("stale", "extended", "repeat", "on_time")
FLAG_FIGURES = {"stale": "stale", "extended": "extended", "repeat": "repeats", "on_time": "closed_on_time"}
TOUCHED = "rollup_touched_findings"
TOUCHED_ALL = "rollup_touched_everything"
CHUNK = 5_000  # findings per delta step: keeps the IN lists within every driver's limits
CONTRIBUTION_COLUMNS = ["finding_id", "status", "light", *FLAGS, "lead_unit_id", "source_id", "category_id",
                        "township", "village_id"]
COUNT_COLUMNS = ["dimension", "key", "status", "light", "n", *FLAGS]


def _contribution(now: dt.datetime, settings: Settings) -> list:
    return [
        Finding.id.label("finding_id"),
        Finding.status.label("status"),
        lights.light(now, settings).label("light"),
        lights.is_stale(now, settings).label("stale"),
        lights.is_extended().label("extended"),
        lights.is_repeat().label("repeat"),
        lights.closed_on_time().label("on_time"),
        Finding.lead_unit_id, Finding.source_id, Finding.category_id, Finding.township, Finding.village_id,
    ]


def _settings_hash(settings: Settings) -> str:
    return hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:16]


STALE_HASH = ""  # a settings hash no settings have: the roll-ups must be rebuilt before they are read
NEVER = dt.date(1970, 1, 1)


def is_fresh(session: Session, now: dt.datetime | None = None) -> bool:
    now = now or clock.now()
    meta = session.get(RollupMeta, 1)
    return meta is not None and _meta_is_current(meta, now, load_settings(session))


def _lock(session: Session) -> Any:
    """Take the roll-up lock: the meta row, locked for the rest of the transaction (PostgreSQL;
    SQLite's write transactions are serial already). Every rebuild and every delta takes it first,
    so they never interleave: no lost write, no duplicate key, no deadlock on the counter rows.
    Returns the meta row as it is after any transaction that held the lock before us committed."""
    meta = RollupMeta.__table__
    session.execute(conflict_insert(session, meta).values(id=1, as_of=NEVER, settings_hash=STALE_HASH)
                    .on_conflict_do_nothing(index_elements=["id"]))
    return session.execute(select(meta).where(meta.c.id == 1).with_for_update()).one()


def _meta_seen(session: Session) -> Any:
    """The meta row as it is now, without the lock (None before the first build)."""
    meta = RollupMeta.__table__
    return session.execute(select(meta).where(meta.c.id == 1)).first()


def _store_meta(session: Session, **values: Any) -> None:
    meta = RollupMeta.__table__
    session.execute(meta.update().where(meta.c.id == 1).values(**values))
    for record in list(session.identity_map.values()):
        if isinstance(record, RollupMeta):
            session.expire(record)  # the next is_fresh() in this session reads what was just written


def _meta_is_current(meta: Any, now: dt.datetime, settings: Settings) -> bool:
    return meta.as_of == now.date() and meta.settings_hash == _settings_hash(settings)


def _grouped(dimension: str, column_name: str | None, finding_ids: list[int] | None = None,
             source: Any = None) -> Any:
    """The sums of contributions per key, status and light of one dimension (of some findings, or
    all), read from the stored contributions or from any select with the same columns."""
    source = FindingRollup.__table__ if source is None else source
    column = None if column_name is None else source.c[column_name]
    key = literal("") if column is None else func.coalesce(func.cast(column, RollupCount.__table__.c.key.type), "")
    grouped = (select(literal(dimension), key, source.c.status, source.c.light, func.count(),
                      *[func.sum(case((source.c[flag], 1), else_=0)) for flag in FLAGS])
               .group_by(key, source.c.status, source.c.light))
    if column is not None:
        grouped = grouped.where(column.is_not(None))
    if finding_ids is not None:
        grouped = grouped.where(source.c.finding_id.in_(finding_ids))
    return grouped


def _rebuild_locked(session: Session, now: dt.datetime, settings: Settings, checked_drifts: int | None = None) -> None:
    session.execute(delete(RollupCount))
    session.execute(delete(FindingRollup))
    session.execute(FindingRollup.__table__.insert().from_select(CONTRIBUTION_COLUMNS,
                                                                 select(*_contribution(now, settings))))
    for dimension, column in DIMENSIONS.items():
        session.execute(RollupCount.__table__.insert().from_select(COUNT_COLUMNS, _grouped(dimension, column)))
    _store_meta(session, as_of=now.date(), settings_hash=_settings_hash(settings), rebuilt_at=now,
                checked_drifts=checked_drifts)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA optimize"))  # keep the planner's statistics current (PostgreSQL: autovacuum)


def rebuild(session: Session, now: dt.datetime | None = None) -> None:
    """Recompute every contribution and every sum, under the roll-up lock."""
    now = now or clock.now()
    _lock(session)
    _rebuild_locked(session, now, load_settings(session))


def rebuild_if_stale(session: Session, now: dt.datetime | None = None,
                     checked: tuple[tuple, list[Drift] | None] | None = None) -> bool:
    """The day's rebuild (or after the settings changed, or after a write that could not be applied
    as a delta). Before replacing yesterday's sums it checks them against the base tables as of
    their own day and logs any drift it is about to repair. ``checked``: that check, done already in a
    snapshot before the lock (``check_before_the_lock``) — used when the meta row is still as it was then."""
    now = now or clock.now()
    settings = load_settings(session)
    meta = _lock(session)
    if _meta_is_current(meta, now, settings):
        return False  # someone else rebuilt while we waited for the lock
    if checked is not None and checked[0] == tuple(meta):
        drifts = checked[1]
    else:
        drifts = verify_as_built(session, meta, settings)
    for drift in drifts or []:
        log.warning("roll-up drift repaired by the rebuild: %s", drift)
    _rebuild_locked(session, now, settings, None if drifts is None else len(drifts))
    return True


def check_before_the_lock(engine: Engine) -> tuple[tuple, list[Drift] | None]:
    """Yesterday's sums against the base tables, in one read snapshot taken before the rebuild locks anything
    (REPEATABLE READ on PostgreSQL; a read transaction is a snapshot in SQLite's WAL mode): the check is half
    the rebuild's time, and a department's save on the new day waits for whatever the rebuild holds the lock.
    Returns the meta row as checked and the drifts (None: nothing to check)."""
    from db.engine import snapshot_session

    with snapshot_session(engine) as session:
        settings = load_settings(session)
        seen = _meta_seen(session)
        if seen is None:
            return (), None
        return tuple(seen), verify_as_built(session, seen, settings)


def refresh_if_stale(engine: Engine) -> bool:
    """Called before reading: rebuild in a unit of work if today's figures are not there yet."""
    from db.engine import read_session, transaction

    with read_session(engine) as session:
        if is_fresh(session):
            return False
    checked = check_before_the_lock(engine)
    with transaction(engine) as session:
        return rebuild_if_stale(session, checked=checked)


def settle(session: Session, finding_ids: Iterable[int], *, everything: bool = False,
           now: dt.datetime | None = None) -> None:
    """Called by the unit of work just before commit: bring the roll-ups up to date for the
    findings this transaction wrote. When they are today's, apply the deltas; otherwise (another
    day on the clock, changed settings, a bulk write that named no findings) mark them stale, so
    the next reader rebuilds them from the base tables. Either way no figure is left wrong.

    The work is done before the roll-up lock is taken (``_prepare``): the findings' new contributions,
    their old ones, and the net change of every counter row. Under the lock only the counter rows are
    updated (and the few contributions of findings that had one), so a 20,000-row import holds the lock
    for a fraction of a second instead of the seconds it takes to compute its sums, and a save waiting
    behind it waits that long. If a rebuild or a stale mark came in between (the meta row is not as it was
    read), the prepared sums are thrown away and prepared again under the lock, as they were before."""
    ids = sorted(set(finding_ids))
    if not ids and not everything:
        return  # changed settings need nothing here: is_fresh() compares their hash
    now = now or clock.now()
    settings = load_settings(session)
    if everything:
        _lock(session)
        _store_meta(session, settings_hash=STALE_HASH)
        return
    seen = _meta_seen(session)
    if seen is not None and _meta_is_current(seen, now, settings):
        prepared = _prepare(session, ids, now, settings)
        locked = _lock(session)
        if tuple(locked) == tuple(seen):
            _apply_prepared(session, prepared)
            return
        _forget(session, prepared.created)  # rebuilt or marked meanwhile: prepare again, under the lock
    else:
        locked = _lock(session)
    if not _meta_is_current(locked, now, settings):
        _store_meta(session, settings_hash=STALE_HASH)
        return
    _apply_prepared(session, _prepare(session, ids, now, settings))  # e.g. behind the day's rebuild


def _forget(session: Session, finding_ids: list[int]) -> None:
    for start in range(0, len(finding_ids), CHUNK):
        session.execute(delete(FindingRollup).where(FindingRollup.finding_id.in_(finding_ids[start:start + CHUNK])))


@dataclass
class _Prepared:
    """What one transaction changes in the roll-ups, computed before the lock."""

    replaced: list[int]  # findings that had a stored contribution: rewritten under the lock
    created: list[int]  # findings that had none: their contributions are stored already
    fresh: list[dict[str, Any]]  # their new contributions (findings that had none are already stored)
    counts: dict[tuple[str, str, str, str], list[int]]  # (dimension, key, status, light) -> change of (n, *flags)


def _prepare(session: Session, ids: list[int], now: dt.datetime, settings: Settings) -> _Prepared:
    """The new contributions of these findings (as this transaction sees them), their stored ones, and
    the net change per counter row. The existing findings are locked first (PostgreSQL), so no other
    transaction changes one between the two reads; the findings this transaction created are stored
    at once: no one else can know them before it commits.

    A finding with no stored contribution yet (an import's thousands) is stored and counted in SQL
    (``INSERT … SELECT``, then the same grouped sums the rebuild makes, over just those findings): on SQLite
    the whole unit of work holds the one write lock, and reading 20,000 rows into Python to count them and
    sending them back held it for 0.7 s. Runs of consecutive ids (an import's) are asked for as ranges."""
    stored_table = FindingRollup.__table__
    stored: dict[int, Any] = {}
    for where in _among(stored_table.c.finding_id, ids):
        for row in session.execute(select(*[stored_table.c[name] for name in CONTRIBUTION_COLUMNS]).where(where)):
            stored[row[0]] = row
    existing = sorted(stored)
    if existing and session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(existing), CHUNK):  # usually locked already by the write itself
            session.execute(select(Finding.id).where(Finding.id.in_(existing[start:start + CHUNK]))
                            .order_by(Finding.id).with_for_update())
    fresh: dict[int, Any] = {}
    for where in _among(Finding.id, existing):
        for row in session.execute(select(*_contribution(now, settings)).where(where)):
            fresh[row[0]] = row
    counts: dict[tuple[str, str, str, str], list[int]] = {}
    for rows, sign in ((stored.values(), -1), (fresh.values(), +1)):
        for row in rows:
            _count(counts, dict(zip(CONTRIBUTION_COLUMNS, row)), sign)
    created = [finding_id for finding_id in ids if finding_id not in stored]
    for where in _among(Finding.id, created):
        session.execute(stored_table.insert().from_select(CONTRIBUTION_COLUMNS,
                                                          select(*_contribution(now, settings)).where(where)))
    for where in _among(stored_table.c.finding_id, created):
        for dimension, column in DIMENSIONS.items():
            for row in session.execute(_grouped(dimension, column).where(where)):
                values = counts.setdefault((row[0], str(row[1]), row[2], row[3]), [0] * (1 + len(FLAGS)))
                for index, value in enumerate(row[4:]):
                    values[index] += int(value or 0)
    return _Prepared(existing, created, [dict(zip(CONTRIBUTION_COLUMNS, fresh[i])) for i in existing if i in fresh], counts)


RUN = 16  # consecutive ids from this many on are asked for as one range
RANGES = 100  # ranges OR-ed in one condition (SQLite parses a chain of ORs as a tree at most 1,000 deep)


def _among(column: Any, ids: list[int]) -> list[Any]:
    """``column`` among ``ids`` (sorted) as few conditions as keep every statement small: each run of consecutive
    ids as a range (up to ``RANGES`` in one condition), the others as IN lists of ``CHUNK``."""
    runs: list[list[int]] = []
    for finding_id in ids:
        if runs and finding_id == runs[-1][1] + 1:
            runs[-1][1] = finding_id
        else:
            runs.append([finding_id, finding_id])
    ranges = [(first, last) for first, last in runs if last - first + 1 >= RUN]
    singles = [finding_id for first, last in runs if last - first + 1 < RUN for finding_id in range(first, last + 1)]
    conditions = [or_(*[column.between(first, last) for first, last in ranges[start:start + RANGES]])
                  for start in range(0, len(ranges), RANGES)]
    return conditions + [column.in_(singles[start:start + CHUNK]) for start in range(0, len(singles), CHUNK)]


def _count(counts: dict[tuple[str, str, str, str], list[int]], contribution: dict[str, Any], sign: int) -> None:
    """Add (+1) or take away (-1) one contribution in every dimension's counter row it counts in: the same
    keys ``_grouped`` makes in SQL (the key as text, '' for none; a dimension without a key is skipped)."""
    flags = [sign * int(bool(contribution[flag])) for flag in FLAGS]
    for dimension, column in DIMENSIONS.items():
        if column is None:
            key = ""
        elif contribution[column] is None:
            continue
        else:
            key = str(contribution[column])
        values = counts.setdefault((dimension, key, contribution["status"], contribution["light"]),
                                   [0] * (1 + len(FLAGS)))
        values[0] += sign
        for index, flag in enumerate(flags, start=1):
            values[index] += flag


def _apply_prepared(session: Session, prepared: _Prepared) -> None:
    """Under the lock: rewrite the contributions that existed, add the net changes to the counter rows
    (``n = n + change``), in one order (dimension, key, status, light) so that two writers never deadlock."""
    _forget(session, prepared.replaced)
    if prepared.fresh:
        session.execute(FindingRollup.__table__.insert(), prepared.fresh)
    order = {dimension: index for index, dimension in enumerate(DIMENSIONS)}
    rows = [dict(zip(COUNT_COLUMNS, (*key, *values)))
            for key, values in sorted(prepared.counts.items(), key=lambda item: (order[item[0][0]], *item[0][1:]))
            if any(values)]
    if not rows:
        return
    statement = conflict_insert(session, RollupCount)
    statement = statement.on_conflict_do_update(
        index_elements=["dimension", "key", "status", "light"],
        set_={name: getattr(RollupCount, name) + getattr(statement.excluded, name) for name in ("n", *FLAGS)})
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start:start + CHUNK])


def touch(session: Session, finding_ids: Iterable[int]) -> None:
    """Findings written with core inserts or updates (imports) must be named so their sums are updated."""
    session.info.setdefault(TOUCHED, set()).update(finding_ids)


def touch_all(session: Session) -> None:
    """A bulk load that cannot name its findings: the roll-ups are rebuilt before they are next read."""
    session.info[TOUCHED_ALL] = True


def touched_all(session: Session) -> bool:
    return bool(session.info.get(TOUCHED_ALL))


def touched(session: Session) -> set[int]:
    return set(session.info.get(TOUCHED, ()))


# --- checking ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drift:
    """One number the roll-ups hold that the base tables do not support."""

    figure: str
    dimension: str
    key: str
    stored: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.figure}\t{self.dimension}\t{self.key or '-'}\tstored={self.stored}\tactual={self.actual}"


def verify_as_built(session: Session, meta: Any = None, settings: Settings | None = None) -> list[Drift] | None:
    """The stored sums against the base tables as of the day they were built for; None when they cannot be
    checked: never built, marked stale, or built with other settings than today's."""
    settings = settings or load_settings(session)
    meta = meta if meta is not None else session.get(RollupMeta, 1)
    if meta is None or meta.as_of == NEVER or meta.settings_hash != _settings_hash(settings):
        return None
    return verify(session, dt.datetime.combine(meta.as_of, dt.time(12)), settings)


def verify(session: Session, now: dt.datetime | None = None, settings: Settings | None = None) -> list[Drift]:
    """Recompute every contribution and every roll-up row from the base tables, as of ``now``, and
    return each difference: per finding, per counter row, and per leadership figure."""
    now = now or clock.now()
    settings = settings or load_settings(session)
    actual = select(*_contribution(now, settings)).subquery("actual")
    drifts = _contribution_drifts(session, actual)
    for dimension, column in DIMENSIONS.items():
        stored_rows = _count_rows(session.execute(_grouped_stored(dimension)).all())
        actual_rows = _count_rows(session.execute(_grouped(dimension, column, source=actual)).all())
        drifts += _row_drifts(dimension, stored_rows, actual_rows)
        drifts += _figure_drifts(dimension, stored_rows, actual_rows)
    return drifts


def _grouped_stored(dimension: str) -> Any:
    table = RollupCount.__table__.c
    return select(table.dimension, table.key, table.status, table.light, table.n,
                  *[table[flag] for flag in FLAGS]).where(table.dimension == dimension)


def _count_rows(rows: Iterable[Any]) -> dict[tuple[str, str, str], tuple[int, ...]]:
    """(key, status, light) -> (n, *flags), leaving out rows that count nothing."""
    result = {}
    for row in rows:
        values = tuple(int(value or 0) for value in row[4:])
        if any(values):
            result[(str(row[1]), row[2], row[3])] = values
    return result


def _row_drifts(dimension: str, stored: dict, actual: dict) -> list[Drift]:
    drifts = []
    for key, status, light in sorted(set(stored) | set(actual)):
        zero = (0,) * (1 + len(FLAGS))
        mine, real = stored.get((key, status, light), zero), actual.get((key, status, light), zero)
        for name, a, b in zip(("n", *FLAGS), mine, real):
            if a != b:
                drifts.append(Drift(f"{name}[{status}/{light}]", dimension, key, a, b))
    return drifts


def _figure_drifts(dimension: str, stored: dict, actual: dict) -> list[Drift]:
    mine, real = _figures_by_key(stored), _figures_by_key(actual)
    drifts = []
    for key in sorted(set(mine) | set(real)):
        a, b = mine.get(key, _empty()), real.get(key, _empty())
        drifts += [Drift(name, dimension, key, a[name], b[name]) for name in FIGURE_KEYS if a[name] != b[name]]
    return drifts


def _figures_by_key(rows: dict) -> dict[str, dict[str, int]]:
    """The raw figures per key from counter rows (the same sums ``_sums`` makes in SQL)."""
    result: dict[str, dict[str, int]] = {}
    for (key, status, light), (n, *flags) in rows.items():
        values = result.setdefault(key, _empty())
        values["total"] += n
        values[status] = values.get(status, 0) + n
        values["overdue"] += n if light == "red" else 0
        if light in ("red", "yellow", "green"):
            values[light] += n
        for flag, value in zip(FLAGS, flags):
            values[FLAG_FIGURES[flag]] += value
    return result


def _contribution_drifts(session: Session, actual: Any) -> list[Drift]:
    stored = FindingRollup.__table__
    stored_columns = [stored.c[name] for name in CONTRIBUTION_COLUMNS]
    actual_columns = [actual.c[name] for name in CONTRIBUTION_COLUMNS]
    only_stored = session.execute(select(*stored_columns).except_(select(*actual_columns))).all()
    only_actual = session.execute(select(*actual_columns).except_(select(*stored_columns))).all()
    mine = {row[0]: _plain_contribution(row) for row in only_stored}
    real = {row[0]: _plain_contribution(row) for row in only_actual}
    return [Drift("contribution", "finding", str(finding_id), mine.get(finding_id), real.get(finding_id))
            for finding_id in sorted(set(mine) | set(real))]


def _plain_contribution(row: Any) -> dict[str, Any]:
    values = dict(zip(CONTRIBUTION_COLUMNS[1:], row[1:]))
    for flag in FLAGS:
        values[flag] = bool(values[flag])
    return values


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


FIGURE_KEYS = COUNTS  # the raw figures the roll-ups sum are exactly the counts ``Figures`` is built from


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
