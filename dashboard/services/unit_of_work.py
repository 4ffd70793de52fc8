"""The unit of work: the one way to write, which keeps every derived number exact.

Every write (a service called from a page or the CLI, the importer, the demo builder, the
synthetic generator, an admin setting, the day's rebuild) runs inside ``unit_of_work(engine)``.
It records which findings the transaction touched and, just before commit, brings the
maintained roll-ups up to date for exactly those findings (``rollups.settle``), under the
roll-up lock, so two processes writing at once, or a write racing the day's rebuild, never leave
a figure wrong; then the household ledger's tally for the townships it wrote (``household_figures.settle``). Last, it bumps the data version (``data_version``) when the transaction wrote anything a
page reads, so every replica's cached pages show the change at once. Nothing depends on which modules a
process happened to import.

``run_in_unit_of_work`` adds a bounded retry for PostgreSQL's deadlock and serialization
failures: the whole transaction is run again, so a user sees success or a clear message.
"""
from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from dashboard.errors import DomainError
from dashboard.services import data_version, household_figures, rollups
from db.engine import transaction
from db.models import Finding

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 8  # attempts after the first, for deadlocks and serialization failures only
RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
FINDING_TABLE = Finding.__table__.name


class DatabaseBusy(DomainError):
    """The database stayed busy (locked, or kept failing on deadlocks) through every retry."""

    def __init__(self) -> None:
        super().__init__("error.database_busy")


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One write transaction: commits on success (roll-ups settled first), rolls back on any exception."""
    with transaction(engine) as session:
        tracker = _Tracker(session)
        try:
            yield session
            session.flush()
            named = rollups.touched(session)
            everything = rollups.touched_all(session) or (tracker.bulk_writes and not named)
            rollups.settle(session, tracker.finding_ids | named, everything=everything)
            household_figures.settle(session)  # the household ledger's tally, for the townships written
            data_version.bump_if_written(session)  # last: readers' caches see the change at this commit
        finally:
            tracker.remove()


def run_in_unit_of_work(engine: Engine, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(session, *args, **kwargs)`` in its own unit of work, run again (bounded, logged) when
    PostgreSQL aborts it for a deadlock or a serialization failure, or SQLite stays locked."""
    for attempt in range(RETRIES + 1):
        try:
            with unit_of_work(engine) as session:
                return fn(session, *args, **kwargs)
        except DBAPIError as error:
            if not is_retryable(error):
                raise
            if attempt == RETRIES:
                log.warning("transaction given up after %s attempts: %s", attempt + 1, type(error.orig).__name__)
                raise DatabaseBusy() from error
            log.warning("transaction retried (%s/%s) after %s", attempt + 1, RETRIES, type(error.orig).__name__)
            # Jitter, growing: the other side keeps writing back to back, so a short pause meets it mid-transaction
            # again; a longer one lets it finish (16 s in all at the very most, and only under such contention).
            time.sleep(random.uniform(0.05, 0.2) * (2 ** min(attempt, 4)))
    raise AssertionError("unreachable")


def is_retryable(error: DBAPIError) -> bool:
    state = getattr(error.orig, "sqlstate", None)
    if state in RETRY_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


class _Tracker:
    """Collects the ids of findings this session inserts, updates or deletes (instance listeners:
    they belong to this one session and disappear with it)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.finding_ids: set[int] = set()
        self.bulk_writes = False
        event.listen(session, "after_flush", self._after_flush)
        event.listen(session, "do_orm_execute", self._on_execute)

    def _after_flush(self, session: Session, _context) -> None:
        for record in (*session.new, *session.dirty, *session.deleted):
            if isinstance(record, Finding) and record.id is not None:
                self.finding_ids.add(record.id)

    def _on_execute(self, state) -> None:
        """A statement that writes the finding table outside the ORM's unit of work (bulk insert,
        update, delete) must name its findings with ``rollups.touch``; if it does not, the roll-ups
        are marked for a rebuild rather than trusted."""
        if state.is_insert or state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) == FINDING_TABLE:
                self.bulk_writes = True

    def remove(self) -> None:
        event.remove(self.session, "after_flush", self._after_flush)
        event.remove(self.session, "do_orm_execute", self._on_execute)
