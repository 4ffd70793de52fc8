"""Test databases: migrated once per test session, cloned for each test.

Running every migration for every database test cost about 1.5 s a test (SQLite and PostgreSQL alike), most
of the suite's time. Instead, the first test that needs a migrated database of a backend builds a template
with ``db.engine.migrate`` (once per session, and once per pytest-xdist worker), and each test gets a copy:

- SQLite: the template file is copied to the test's own file (``tmp_path / "test.db"``).
- PostgreSQL: the statements the migrations executed on the template schema were captured as they ran; they
  are replayed, in one round trip, into a new schema. The result is the template's schema under another name
  (tests/test_schema.py compares a copy with a database migrated from empty, on both backends).

Creating a PostgreSQL schema's 35 tables and 50 indexes still costs the server 0.3-1 s, so a schema is used
again when its test is done and it is provably as new: its catalogue (tables, columns, defaults, indexes,
constraints, triggers, functions, sequences, storage options, the alembic revision) is compared with the
template's, and only when they are equal are its rows deleted (children before parents) and its sequences set
back to their start, in one transaction; it then goes back to the worker's pool. Any other schema (a test
that altered the schema, renamed or dropped it, an empty one from ``database_url``) is dropped, by a background
thread so that no test waits for a ``DROP``.

A state that many tests start from and that costs more to build than to copy (the demo ledger of seed/demo.py,
test_app's world with two findings) is built once per session, backend and clock by ``copy_prepared`` on a
database like the test's, and each test gets its rows: every table the builder left rows in has its rows
replaced (SQLite: from the attached file; PostgreSQL: ``INSERT … SELECT`` from the built schema, in one round
trip), the sequences the builder moved are set where it left them, and the test gets a data-version token of its
own, the privacy key the builder sealed personal data with, and a copy of what the builder returned.
"""
from __future__ import annotations

import copy
import datetime as dt
import os
import queue
import secrets
import shutil
import threading
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import psycopg
from sqlalchemy import Engine, event, inspect, make_url, text

from db.engine import make_engine, migrate

if TYPE_CHECKING:
    from tests.factories import World


def worker_tag() -> str:
    """``gw0``, ``gw1`` … under pytest-xdist, ``main`` otherwise: names of files and schemas include it."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def new_schema_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def create_schema(admin: Engine, schema: str) -> None:
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))


def drop_schema(admin: Engine, schema: str) -> None:
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database)


class CapturedMigrations:
    """Every statement the migrations ran on one PostgreSQL schema, rendered with its parameters, as one script.

    Recorded after each successful execute: a statement that failed inside a savepoint (pg_trgm where it
    cannot be created) is not replayed, its ``ROLLBACK TO SAVEPOINT`` is."""

    def __init__(self, engine: Engine):
        self.statements: list[str] = []
        self._engine = engine

    def record(self) -> None:
        event.listen(self._engine, "after_cursor_execute", self._after)

    def stop(self) -> None:
        event.remove(self._engine, "after_cursor_execute", self._after)

    def _after(self, _conn, cursor, statement, parameters, _context, executemany) -> None:
        connection = cursor.connection
        rows = parameters if executemany else [parameters]
        for row in rows:
            if row:
                statement_text = psycopg.ClientCursor(connection).mogrify(statement, row)
            else:
                statement_text = statement
            self.statements.append(statement_text.strip().rstrip(";"))

    def script(self) -> str:
        return ";\n".join(self.statements) + ";"


class Templates:
    """The session's migrated templates; ``fill`` makes an empty test database a copy of one."""

    def __init__(self, directory: Path, postgres_url: str):
        self._directory = directory
        self._postgres_url = postgres_url
        self._sqlite_file: Path | None = None
        self._postgres_schema: str | None = None
        self._postgres_script: str | None = None
        self._admin: Engine | None = None
        self._lock = threading.Lock()
        self._dropper: SchemaDropper | None = None
        self._reset: SchemaReset | None = None
        self._pool: list[str] = []
        self._migrated: set[str] = set()
        self._world_lock = threading.Lock()
        self._world_sqlite: tuple[Path, World] | None = None
        self._world_postgres: tuple[str, World] | None = None
        self._prepared_lock = threading.Lock()
        self._prepared: dict[tuple, Prepared] = {}
        self._prepared_schemas: list[str] = []

    # --- SQLite ---------------------------------------------------------------------------------------------
    def sqlite_template(self) -> Path:
        with self._lock:
            if self._sqlite_file is None:
                file = self._directory / f"template-{worker_tag()}.db"
                engine = make_engine(f"sqlite:///{file}")
                migrate(engine)
                with engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                engine.dispose()
                self._sqlite_file = file
            return self._sqlite_file

    def fill_sqlite(self, url: str, template: Path | None = None) -> None:
        """Copy the template (or ``template``) to the test's file (created 0600, as ``make_engine`` would)."""
        target = sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "wb") as out, open(template or self.sqlite_template(), "rb") as source:
            shutil.copyfileobj(source, out)

    # --- the small world of tests/factories.py, built once per backend ---------------------------------------
    def world_sqlite(self, today: dt.datetime) -> tuple[Path, "World"]:
        """A copy of the template with ``build_world`` run on it on ``today``, and the World it returned."""
        with self._world_lock:
            if self._world_sqlite is None:
                file = self._directory / f"world-{worker_tag()}.db"
                url = f"sqlite:///{file}"
                self.fill_sqlite(url)
                engine = make_engine(url)
                try:
                    migrate(engine)  # a no-op at head; the engine fixture starts every engine this way
                    world = build_world_on(engine, today)
                    with engine.connect() as connection:
                        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    engine.dispose()
                self._world_sqlite = (file, world)
            return self._world_sqlite

    def world_postgres(self, today: dt.datetime) -> tuple[str, "World"]:
        """The statements ``build_world`` ran on a fresh copy of the template (captured once, as the
        migrations are), and the World it returned; the schema it ran on goes back to the pool."""
        with self._world_lock:
            if self._world_postgres is None:
                schema = self.migrated_schema()
                engine = make_engine(self._postgres_url, schema=schema)
                captured = CapturedMigrations(engine)
                captured.record()
                try:
                    world = build_world_on(engine, today)
                finally:
                    captured.stop()
                    engine.dispose()
                self.release(schema)
                self._world_postgres = (captured.script(), world)
            return self._world_postgres

    def run_script(self, schema: str, script: str) -> None:
        engine = make_engine(self._postgres_url, schema=schema)
        try:
            run_raw(engine, script)
        finally:
            engine.dispose()

    # --- databases prepared once (the demo ledger, a test file's own world), copied row by row ----------------
    def copy_prepared(self, engine: Engine, name: str, build: Callable[[Engine], Any], *, on_world: bool = False):
        """What ``build(engine)`` would do to the test's database (as the ``engine`` fixture gives it: empty, or
        with the small world when ``on_world``), at the clock as the caller has it (frozen or not), without
        building it again: ``build`` runs once per session, backend, clock and ``name`` on a database like the
        test's, and each test gets that database's rows (each table's rows replaced, sequences where ``build``
        left them), a data-version token of its own, the privacy key ``build`` sealed personal data with (in the
        test's data folder, as ``build`` would have made it there) and a copy of what ``build`` returned."""
        prepared = self.prepared(engine.dialect.name, name, build, on_world)
        found = row_counts(engine, list(prepared.start_counts))
        if found != prepared.start_counts:
            differ = sorted(table for table in found.keys() | prepared.start_counts.keys()
                            if found.get(table) != prepared.start_counts.get(table))
            raise AssertionError(f"{name} is copied only into a database as the engine fixture gives it: {differ}")
        if engine.dialect.name == "sqlite":
            copy_sqlite_rows(engine, prepared)
        else:
            copy_postgres_rows(engine, prepared)
        new_data_version_token(engine)
        if prepared.key.exists():
            install_privacy_key(prepared.key)
        return copy.deepcopy(prepared.result)

    def copy_demo(self, engine: Engine) -> None:
        """``seed_demo(engine)`` on the test's empty database, copied (``copy_prepared``)."""
        self.copy_prepared(engine, "demo", seed_demo_on)

    def prepared(self, backend: str, name: str, build: Callable[[Engine], Any], on_world: bool) -> "Prepared":
        from dashboard import passwords

        key = (backend, name, on_world, build_clock(), passwords.COST)
        with self._prepared_lock:
            found = self._prepared.get(key)
            if found is None:
                found = self._prepared[key] = self._prepare(backend, build, on_world, len(self._prepared))
            return found

    def _prepare(self, backend: str, build: Callable[[Engine], Any], on_world: bool, number: int) -> "Prepared":
        from dashboard import privacy

        from tests.conftest import TODAY  # the day every copy of the small world was built on

        folder = self._directory / f"prepared-{number}"  # its data folder: where a privacy key is made
        folder.mkdir()
        source: Path | str
        if backend == "sqlite":
            source = folder / "prepared.db"
            url = f"sqlite:///{source}"
            self.fill_sqlite(url, self.world_sqlite(TODAY)[0] if on_world else None)
            engine = make_engine(url)
        else:
            source = new_schema_name(f"prep_{worker_tag()}")
            create_schema(self.admin(), source)
            self._prepared_schemas.append(source)
            self.fill_postgres(source)
            if on_world:
                self.run_script(source, self.world_postgres(TODAY)[0])
            engine = make_engine(self._postgres_url, schema=source)
        try:
            migrate(engine)  # a no-op at head; the engine fixture starts every engine this way
            if on_world:
                new_data_version_token(engine)  # as the engine fixture does
                PREBUILT_WORLDS[engine] = copy.deepcopy(
                    (self.world_sqlite(TODAY) if backend == "sqlite" else self.world_postgres(TODAY))[1])
            start, start_sequences = row_counts(engine), sequence_states(engine)
            with data_folder(folder):
                result = build(engine)
            after, after_sequences = row_counts(engine), sequence_states(engine)
            # only the tables with rows before or after, and the sequences build moved, are copied
            tables = [table for table in parents_first(engine) if start[table] or after[table]]
            sequences = [name for name, state in after_sequences.items() if start_sequences.get(name) != state]
            if backend == "sqlite":
                with engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            PREBUILT_WORLDS.pop(engine, None)
            engine.dispose()
        return Prepared(source, folder / privacy.KEY_FILE, start, tables, sequences, result)

    # --- PostgreSQL -----------------------------------------------------------------------------------------
    def admin(self) -> Engine:
        with self._lock:
            if self._admin is None:
                self._admin = make_engine(self._postgres_url)
            return self._admin

    def postgres_script(self) -> str:
        admin = self.admin()
        with self._lock:
            if self._postgres_script is None:
                schema = new_schema_name(f"tmpl_{worker_tag()}")
                create_schema(admin, schema)
                self._postgres_schema = schema
                engine = make_engine(self._postgres_url, schema=schema)
                captured = CapturedMigrations(engine)
                captured.record()
                try:
                    migrate(engine)
                finally:
                    captured.stop()
                    engine.dispose()
                self._postgres_script = captured.script()
                self._reset = SchemaReset.of_template(admin, schema)
            return self._postgres_script

    def template_schema(self) -> str:
        self.postgres_script()
        assert self._postgres_schema is not None
        return self._postgres_schema

    def fill_postgres(self, schema: str) -> None:
        """Replay the captured migrations into ``schema`` (new and empty) in one transaction and one round trip."""
        self.run_script(schema, self.postgres_script())

    def migrated_schema(self) -> str:
        """A schema at the head revision with no rows: one from the pool, or a new copy of the template."""
        self.postgres_script()
        with self._lock:
            schema = self._pool.pop() if self._pool else None
        if schema is None:
            schema = new_schema_name()
            create_schema(self.admin(), schema)
            self.fill_postgres(schema)
        self._migrated.add(schema)
        return schema

    def release(self, schema: str) -> None:
        """After its test: back to the pool when it is provably as new (see the module's docstring), else dropped."""
        self._migrated.discard(schema)
        reset = self._reset
        if reset is not None and reset.restore(self.admin(), schema):
            with self._lock:
                self._pool.append(schema)
            return
        self.drop_later(schema)

    def drop_later(self, schema: str) -> None:
        with self._lock:
            if self._dropper is None:
                self._dropper = SchemaDropper(self._postgres_url)
        self._dropper.put(schema)

    def fill(self, url: str, schema: str | None) -> bool:
        """Make the empty database at ``url`` (and ``schema``) a migrated one. False when it is not empty (a
        fixture wrote there first): the caller then migrates it the ordinary way."""
        if schema is None:
            if sqlite_path(url).exists():
                return False
            self.fill_sqlite(url)
            return True
        if schema in self._migrated:
            return True
        with self.admin().connect() as connection:
            occupied = connection.execute(text(
                "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema)"), {"schema": schema}).scalar()
        if occupied:
            return False
        self.fill_postgres(schema)
        return True

    def fill_world(self, url: str, schema: str | None, today: dt.datetime) -> "World | None":
        """Like ``fill``, then the small world as ``build_world`` on ``today`` leaves it (copied, not built), with
        a data-version token of its own (a cached view is never shared with another test's copy). Returns a copy
        of the World; None when the database is not empty (the caller migrates and builds the ordinary way)."""
        if schema is None:
            if sqlite_path(url).exists():
                return None
            file, world = self.world_sqlite(today)
            self.fill_sqlite(url, file)
        else:
            script, world = self.world_postgres(today)
            if not self.fill(url, schema):
                return None
            self.run_script(schema, script)
        return copy.deepcopy(world)

    def close(self) -> None:
        for schema in self._pool + self._prepared_schemas:
            self.drop_later(schema)
        self._pool.clear()
        self._prepared_schemas.clear()
        if self._dropper is not None:
            self._dropper.close()
        if self._admin is not None:
            if self._postgres_schema is not None:
                drop_schema(self._admin, self._postgres_schema)
            self._admin.dispose()


@dataclass
class Prepared:
    """A database a builder filled (``Templates.copy_prepared``): the SQLite file or the PostgreSQL schema, the
    privacy key it made (if any), the rows per table it started from, the tables to copy (those with rows before
    or after the builder ran, parents first; ``alembic_version`` left out: equal everywhere), on PostgreSQL the
    sequences the builder moved, and what the builder returned."""

    source: Path | str
    key: Path
    start_counts: dict[str, int]
    tables: list[str]
    sequences: list[str]
    result: Any


def seed_demo_on(engine: Engine) -> None:
    from seed.demo import seed_demo

    assert seed_demo(engine) is True


def build_clock() -> tuple[str, dt.date]:
    """The clock a prepared database is built on, as the caller has it: frozen at a moment, or running on today
    (China time)."""
    from dashboard import clock

    frozen = clock._frozen  # noqa: SLF001 - the tests' own view of the one clock
    return ("frozen", frozen) if frozen is not None else ("today", clock.today())


@contextmanager
def data_folder(folder: Path):
    from dashboard import config

    previous = os.environ.get(config.DATA_DIR_ENV)
    os.environ[config.DATA_DIR_ENV] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(config.DATA_DIR_ENV, None)
        else:
            os.environ[config.DATA_DIR_ENV] = previous


def install_privacy_key(key: Path) -> None:
    """A prepared database's privacy key in the current data folder (0600), as its builder would have made it
    there."""
    from dashboard import config, privacy

    target = config.data_dir() / privacy.KEY_FILE
    if target.exists():
        if target.read_bytes() != key.read_bytes():
            raise AssertionError(f"{target} already holds another privacy key: the copied data could not be read")
        return
    shutil.copyfile(key, target)
    target.chmod(0o600)
    privacy._keys_for.cache_clear()  # noqa: SLF001 - keys read for this folder before the key was there


def user_tables(engine: Engine) -> list[str]:
    return sorted(name for name in inspect(engine).get_table_names() if not name.startswith("sqlite_"))


def row_counts(engine: Engine, tables: list[str] | None = None) -> dict[str, int]:
    """Rows per table (every table, or ``tables``), in one query."""
    tables = tables or user_tables(engine)
    query = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM \"{table}\"" for table in tables)
    with engine.connect() as connection:
        return {name: int(count) for name, count in connection.execute(text(query)).all()}


def sequence_states(engine: Engine) -> dict[str, tuple[int, bool]]:
    """PostgreSQL: each sequence's last value and whether it was called; SQLite has none (rowids)."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as connection:
        names = connection.execute(text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")).scalars().all()
        if not names:
            return {}
        query = " UNION ALL ".join(f"SELECT '{name}', last_value, is_called FROM \"{name}\"" for name in names)
        return {name: (int(value), bool(called)) for name, value, called in connection.execute(text(query)).all()}


def parents_first(engine: Engine) -> list[str]:
    """The tables but ``alembic_version``, every table after the tables it references."""
    inspector = inspect(engine)
    tables = [table for table in user_tables(engine) if table != "alembic_version"]
    references = [(table, key["referred_table"]) for table in tables for key in inspector.get_foreign_keys(table)]
    order = children_first(tables, references)
    if order is None:
        raise AssertionError("the tables' references run in a circle: no order to copy them in")
    return order[::-1]


def copy_sqlite_rows(engine: Engine, prepared: Prepared) -> None:
    """Every row of the prepared file into the test's (its rows deleted first), in one transaction."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")  # the prepared rows hold their references already
        cursor.execute("ATTACH DATABASE ? AS prepared", (str(prepared.source),))
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for table in reversed(prepared.tables):
                    cursor.execute(f'DELETE FROM main."{table}"')
                for table in prepared.tables:
                    cursor.execute(f'INSERT INTO main."{table}" SELECT * FROM prepared."{table}"')
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        finally:
            cursor.execute("DETACH DATABASE prepared")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    finally:
        raw.close()


def copy_postgres_rows(engine: Engine, prepared: Prepared) -> None:
    """Every row of the prepared schema into the test's (its rows deleted first) and the sequences where the
    builder left them, in one transaction and one round trip."""
    source = prepared.source
    script = ";\n".join(
        [f'DELETE FROM "{table}"' for table in reversed(prepared.tables)]
        + [f'INSERT INTO "{table}" OVERRIDING SYSTEM VALUE SELECT * FROM "{source}"."{table}"'
           for table in prepared.tables]
        + [f"SELECT setval('\"{name}\"', last_value, is_called) FROM \"{source}\".\"{name}\""
           for name in prepared.sequences]) + ";"
    run_raw(engine, script)


def run_raw(engine: Engine, script: str) -> None:
    """A script of several statements in one round trip and one transaction, on the driver's own connection."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute(script)
        raw.commit()
    finally:
        raw.close()


PREBUILT_WORLDS: "weakref.WeakKeyDictionary[Engine, World]" = weakref.WeakKeyDictionary()


def world_in(engine: Engine) -> "World":
    """The small world in the test's database: the copy the ``engine`` fixture made when the test uses a fixture
    named ``world`` (taken once), else ``build_world`` now. The World is the one ``build_world`` returned."""
    world = PREBUILT_WORLDS.pop(engine, None)
    if world is not None:
        return world
    from dashboard.services.unit_of_work import unit_of_work
    from tests.factories import build_world

    with unit_of_work(engine) as session:
        return build_world(session)


def build_world_on(engine: Engine, today: dt.datetime) -> "World":
    """``tests/factories.build_world`` in one unit of work on ``today`` (the ``world`` fixtures' day), with the
    test suite's cheap password hashing."""
    from dashboard import clock, passwords
    from dashboard.services.unit_of_work import unit_of_work
    from tests.factories import build_world

    cost = passwords.COST
    passwords.COST = passwords.TEST_COST
    try:
        with clock.frozen(today), unit_of_work(engine) as session:
            return build_world(session)
    finally:
        passwords.COST = cost


def new_data_version_token(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE data_version SET token = :token"), {"token": secrets.token_hex(8)})


CATALOGUE = """
SELECT string_agg(item, E'\n' ORDER BY item) FROM (
    SELECT format('relation %s %s %s %s', c.relname, c.relkind, c.reloptions, pg_get_viewdef(c.oid)) AS item
      FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
    UNION ALL
    SELECT format('column %s %s %s %s %s %s', c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = current_schema()::regnamespace
    UNION ALL
    SELECT format('constraint %s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
      FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
     WHERE k.connamespace = current_schema()::regnamespace
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT format('function %s %s %s', p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc))
      FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
    UNION ALL
    SELECT format('type %s %s', t.typname, t.typtype) FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace
    UNION ALL
    SELECT format('sequence %s %s %s %s %s %s', s.sequencename, s.data_type, s.start_value, s.increment_by,
                  s.min_value, s.max_value) FROM pg_sequences s WHERE s.schemaname = current_schema()
    UNION ALL
    SELECT format('extension %s', e.extname) FROM pg_extension e WHERE e.extnamespace = current_schema()::regnamespace
    UNION ALL
    SELECT format('revision %s', v.version_num) FROM alembic_version v
) AS catalogue
"""


def catalogue_of(connection, schema: str) -> str:
    """The schema's catalogue as text, its own name left out (index definitions name their table's schema)."""
    found = connection.execute(text(CATALOGUE)).scalar() or ""
    return found.replace(f'"{schema}".', "").replace(f"{schema}.", "")


class SchemaReset:
    """Puts a used copy of the template back as new, or says it cannot (its catalogue is not the template's)."""

    def __init__(self, catalogue: str, script: str):
        self.catalogue = catalogue
        self.script = script

    @classmethod
    def of_template(cls, admin: Engine, template: str) -> "SchemaReset | None":
        """From the template schema; None (no reuse) when the migrations left rows in any table but the revision's."""
        with admin.begin() as connection:
            connection.execute(text("SELECT set_config('search_path', :schema, true)"), {"schema": template})
            catalogue = catalogue_of(connection, template)
            tables = [row[0] for row in connection.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"))]
            if any(connection.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table}")')).scalar() for table in tables):
                return None
            references = connection.execute(text(
                "SELECT c.relname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_class p ON p.oid = k.confrelid "
                "WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace")).all()
            sequences = connection.execute(text(
                "SELECT sequencename, start_value FROM pg_sequences WHERE schemaname = current_schema()")).all()
        order = children_first(tables, references)
        if order is None:
            deletes = ["TRUNCATE " + ", ".join(f'"{table}"' for table in tables)]
        else:
            deletes = [f'DELETE FROM "{table}"' for table in order]
        restarts = [f"SELECT setval('\"{name}\"', {start}, false)" for name, start in sequences]
        return cls(catalogue, ";\n".join(deletes + restarts) + ";")

    def restore(self, admin: Engine, schema: str) -> bool:
        try:
            with admin.connect() as connection:
                with connection.begin():
                    connection.execute(text("SELECT set_config('search_path', :schema, true)"), {"schema": schema})
                    if catalogue_of(connection, schema) != self.catalogue:
                        return False
                    with connection.connection.cursor() as cursor:  # no parameters: several statements at once
                        cursor.execute(self.script)
                return True
        except Exception:  # noqa: BLE001 - whatever a test did to it, the schema is dropped instead
            return False


def children_first(tables: list[str], references: list[tuple[str, str]]) -> list[str] | None:
    """The tables ordered so that every table comes before the tables it references (a table referencing
    itself is fine: one DELETE removes all its rows); None when references run in a circle."""
    parents = {table: {parent for child, parent in references if child == table and parent != table}
               for table in tables}
    order: list[str] = []
    remaining = set(tables)
    while remaining:
        free = sorted(table for table in remaining
                      if not any(table in parents[other] for other in remaining if other != table))
        if not free:
            return None
        order.extend(free)
        remaining -= set(free)
    return order


class SchemaDropper:
    """Drops PostgreSQL schemas on a thread of its own, in the order they were handed in; ``close`` waits."""

    def __init__(self, url: str):
        self._engine = make_engine(url)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="schema-dropper", daemon=True)
        self._thread.start()

    def put(self, schema: str) -> None:
        self._queue.put(schema)

    def _run(self) -> None:
        while (schema := self._queue.get()) is not None:
            try:
                drop_schema(self._engine, schema)
            except Exception as error:  # noqa: BLE001 - reported when the session ends
                self._errors.append(f"{schema}: {error}")

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
            self._engine.dispose()
        if self._errors:
            raise RuntimeError("schemas left behind: " + "; ".join(self._errors))
