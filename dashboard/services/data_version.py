"""The data version: one number every replica can read cheaply, bumped when the data pages show has changed.

The unit of work calls ``bump_if_written`` just before it commits: if the transaction wrote any table a page
reads, the one row of ``data_version`` gets ``version + 1`` and a new random ``token``, in the same
transaction, so the new version becomes visible exactly when the data does (on PostgreSQL and SQLite, from
every replica). A reader reads the version *first* (``read``: one tiny select), then the data: whatever it
builds is at least as new as the version it files it under, so a cache keyed by the version never serves
data older than the last commit it has seen.

What counts as a write is what reaches the database: a statement listener on every engine notes the tables
each connection's INSERT, UPDATE and DELETE statements name (ORM flushes, Core bulk inserts of the importer
and the generator, raw SQL alike) since its transaction began; a statement it cannot read (DDL, ``WITH …``)
counts as a write to everything. Tables no cached page reads (``QUIET_TABLES``: session touches, sign-in
failures, job claims and runs, the outbound queue) do not bump it, so 50 people signing in and being seen
every minute do not empty every replica's caches.

The bump is the transaction's last statement: the row lock it takes on PostgreSQL is held for the commit
only, and every writer takes it last, so it adds no lock-order cycle. Writes outside a unit of work bump it
themselves: a restore (``services/backup.py``) and a roll-up repair from the command line.

One global version, not one per unit: a page view of unchanged data costs one read either way, and
writes are rare next to views (a meeting of 50 people reads; a handful of departments write).
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlmodel import Session

from db.engine import WRITTEN_TABLES, conflict_insert
from db.models import DataVersion

TABLE = DataVersion.__tablename__
QUIET_TABLES = frozenset({
    TABLE,
    "web_session",      # sign-in hand-offs and last-seen touches (an ended session is audited: that bumps)
    "sign_in_failure",  # the throttle's rows
    "job_claim", "job_run", "delivery",  # the worker's bookkeeping and the outbound queue
})
_QUIET_HERE = "dashboard_quiet_tables"  # Session.info key: tables this one transaction writes as bookkeeping
_WRITTEN = WRITTEN_TABLES  # Connection.info key: the tables written since the transaction began (COPY: db.engine.note_written)
_ANY = "*"
_WRITE = re.compile(r'\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+(?:"?\w+"?\.)?"?(\w+)', re.I)
_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET ", "SHOW", "LOCK",
          "EXPLAIN", "ANALYZE", "VACUUM")


@event.listens_for(Engine, "begin")
def _began(connection: Connection) -> None:
    connection.info.pop(_WRITTEN, None)


@event.listens_for(Engine, "before_cursor_execute")
def _statement(connection: Connection, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    head = statement.lstrip()[:10].upper()
    if head.startswith(_READS):
        return
    match = _WRITE.match(statement)
    connection.info.setdefault(_WRITTEN, set()).add(match.group(1).lower() if match else _ANY)


def written_tables(session: Session) -> frozenset[str]:
    """The tables this session's transaction has written so far (``*``: a statement that was not read)."""
    return frozenset(session.connection().info.get(_WRITTEN, ()))


def quiet_here(session: Session, *tables: str) -> None:
    """This transaction writes these tables only in columns no cached page shows (a sign-in's last-seen time and
    its reset of failed attempts; the admin page that shows them reads live), so they do not bump the version.
    Anything else it writes still does."""
    session.info.setdefault(_QUIET_HERE, set()).update(tables)


def bump_if_written(session: Session) -> bool:
    """The unit of work's last step before commit: bump if anything a page reads was written."""
    if written_tables(session) <= QUIET_TABLES | session.info.get(_QUIET_HERE, set()):
        return False
    bump(session)
    return True


def bump(session: Session) -> None:
    """``version + 1`` and a new token; the first write of a database inserts the row (one upsert either way)."""
    statement = conflict_insert(session, DataVersion).values(id=1, version=1, token=secrets.token_hex(8))
    session.execute(statement.on_conflict_do_update(
        index_elements=["id"], set_={"version": DataVersion.version + 1, "token": statement.excluded.token}))


def read(connection: Connection) -> str:
    """The current version as ``"<version>-<token>"`` (one primary-key read; "" before the first write)."""
    row = connection.exec_driver_sql(f"SELECT version, token FROM {TABLE} WHERE id = 1").first()
    return f"{row[0]}-{row[1]}" if row else ""


def current(engine: Engine) -> str:
    with engine.connect() as connection:
        return read(connection)
