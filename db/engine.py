"""Engines and sessions for the embedded SQLite default and for PostgreSQL.

SQLite: WAL, foreign keys on, a busy timeout, and write transactions opened with
``BEGIN IMMEDIATE`` so that two writers never deadlock upgrading a read lock to a write lock
(the second simply waits for the first). Read transactions stay deferred so readers never
block each other.

PostgreSQL (psycopg 3) when ``DATABASE_URL`` is set; rows edited by the services are locked
with ``SELECT … FOR UPDATE``.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Connection, Engine, Table, create_engine, event, insert, inspect, make_url, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from dashboard import config
from dashboard.text import clean_value

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
_IMMEDIATE = "begin_immediate"
SQLITE_ANALYSIS_LIMIT = 1000  # rows of each index ANALYZE reads after a bulk load (SQLite's approximate statistics)


def make_engine(url: str | None = None, *, schema: str | None = None, echo: bool = False) -> Engine:
    url = config.normalise_url(url) if url else config.database_url()
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo)
    connect_args = {"options": f"-c search_path={schema}"} if schema else {}
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def _private_database_file(url: str) -> None:
    """The database holds password hashes and every evidence file: only its owner may read it.
    The file is created 0600 (SQLite gives its -wal and -shm files the database file's mode), and
    an older, world-readable file with its -wal and -shm is narrowed to 0600."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
        except OSError:  # not ours to change: leave it to the operator
            pass


def _sqlite_engine(url: str, echo: bool) -> Engine:
    _private_database_file(url)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@event.listens_for(OrmSession, "before_flush")
def _clean_text(session, _context, _instances) -> None:
    """Every string the ORM writes loses the characters no document or database can hold (NUL,
    U+FFFE, a vertical tab becomes a line break: see ``dashboard.text``), whichever service wrote it."""
    for record in (*session.new, *session.dirty):
        state = inspect(record)
        keys = state.mapper.column_attrs.keys() if record in session.new else state.committed_state.keys()
        for key in keys:
            value = state.dict.get(key)
            if isinstance(value, (str, dict, list)):
                cleaned = clean_value(value)
                if cleaned != value:
                    setattr(record, key, cleaned)


@event.listens_for(OrmSession, "after_flush")
def _count_persons(session, _context) -> None:
    """``Household.persons`` follows its members: a flush that adds, deletes or moves a member recounts the
    households concerned (one UPDATE), whichever service wrote it."""
    from sqlalchemy import func, select, update
    from sqlalchemy.orm.attributes import set_committed_value

    from db.models import Household, HouseholdMember

    touched: set[int] = set()
    for record in (*session.new, *session.deleted, *session.dirty):
        if isinstance(record, HouseholdMember):
            moved = inspect(record).attrs.household_id.history.deleted
            if record in session.dirty and not moved:
                continue
            touched.update(value for value in (record.household_id, *moved) if value is not None)
    if not touched:
        return
    ids = sorted(touched)
    counted = (select(func.count()).where(HouseholdMember.household_id == Household.id)
               .correlate(Household).scalar_subquery())
    connection = session.connection()
    connection.execute(update(Household).where(Household.id.in_(ids)).values(persons=counted))
    loaded = {key[1][0]: record for key, record in session.identity_map.items() if isinstance(record, Household)}
    if any(household_id in loaded for household_id in ids):
        for household_id, persons in connection.execute(select(Household.id, Household.persons)
                                                         .where(Household.id.in_(ids))):
            if household_id in loaded:
                set_committed_value(loaded[household_id], "persons", persons)


@lru_cache(maxsize=None)
def default_engine() -> Engine:
    """The application's engine for ``config.database_url()`` (one per process)."""
    return make_engine()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def snapshot_session(engine: Engine) -> Iterator[Session]:
    """A read-only session whose every statement sees one snapshot: REPEATABLE READ on PostgreSQL; on SQLite a
    deferred transaction, which in WAL mode reads one snapshot from its first read. Rolled back at the end."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=connection, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One database transaction: commits on success, rolls back on any exception. Writers use
    ``dashboard.services.unit_of_work``, which keeps the derived figures exact; only it and the
    roll-up rebuild open this directly."""
    with engine.connect() as connection:
        connection.execution_options(**{_IMMEDIATE: True})
        with Session(bind=connection, expire_on_commit=False) as session:
            with session.begin():
                yield session


WRITTEN_TABLES = "dashboard_written_tables"  # Connection.info key: tables written since the transaction began


def note_written(connection: Connection, *tables: str) -> None:
    """Record that this transaction wrote ``tables`` where no statement listener sees it (``COPY`` through the
    driver): ``services/data_version.py`` reads the same note before it commits."""
    connection.info.setdefault(WRITTEN_TABLES, set()).update(tables)


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows of one table, in the connection's transaction: PostgreSQL by ``COPY … FROM STDIN`` through the
    connection's own psycopg connection, SQLite by a Core executemany. Every row has the same keys (the columns
    written). JSON columns are sent as their JSON text (``None`` as JSON ``null``, as a Core insert writes it);
    psycopg's dumpers write dates, booleans, bytes (bytea) and None (NULL)."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(row[name]) if name in json_columns else row[name] for name in columns])
    note_written(connection, table.name)


def reserve_ids(connection: Connection, table: Table, count: int) -> list[int] | None:
    """PostgreSQL: ``count`` new ids of ``table`` taken from its id sequence (so rows can be sent by ``COPY`` and
    their ids known); None elsewhere (SQLite: insert with RETURNING)."""
    if connection.dialect.name != "postgresql" or count == 0:
        return None
    return list(connection.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
        {"table": table.name, "count": count}).scalars())


def conflict_insert(session: OrmSession, table):
    """An INSERT of the session's database that takes ON CONFLICT (PostgreSQL and SQLite both have it)."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration's revision, read from the scripts once per process."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def at_head(connection: Connection) -> bool:
    """The database's recorded revision is the newest migration (nothing for ``upgrade`` to do)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (the app and the CLI call this on start). A database already there
    is only read: Alembic would load every migration script to find nothing to do (0.05 s a time, and each page
    test and command starts an engine)."""
    with engine.begin() as connection:
        if not at_head(connection):
            command.upgrade(alembic_config(connection), "head")
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA optimize")  # statistics for the query planner where useful


BULK_TABLES = ("finding", "measure", "progress", "finding_co_unit", "finding_rollup", "rollup_count", "audit_log",
               "extension_request", "closure_review", "escalation", "evidence", "village",
               "household", "household_member", "household_risk", "household_case", "support_measure")


def after_bulk_load(engine: Engine, tables: tuple[str, ...] = BULK_TABLES) -> None:
    """Statistics for the planner and, on PostgreSQL, the visibility map after a bulk load: ``VACUUM (ANALYZE)``.
    Without the visibility map PostgreSQL cannot answer from an index alone (the weekly trend read 34,000 heap
    pages at 1M findings instead of a few index pages). VACUUM runs outside a transaction."""
    if engine.dialect.name != "postgresql":
        # SQLite: ANALYZE holds the one write lock while it reads every index (0.17 s at 40,000 findings, growing
        # with the ledger, and a department's save waits for it); from a sample of each index it takes milliseconds
        with engine.begin() as connection:
            connection.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("PRAGMA analysis_limit=0")  # the pooled connection as it was
        return
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        present = {row[0] for row in connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        for table in tables:
            if table in present:
                connection.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')
